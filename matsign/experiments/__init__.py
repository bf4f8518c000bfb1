"""Named experiments: each maps a grid of matrices × methods to a tidy table and figures.

``EXPERIMENTS`` maps a name to an :class:`~matsign.experiments.runner.Experiment`; run one with
:func:`~matsign.experiments.runner.run_experiment` (``matsign run NAME`` on the command line).
The sweep engine is :mod:`matsign.experiments.engine` (one cell's row in
:mod:`~matsign.experiments.measure`, executors in :mod:`~matsign.experiments.executors`, the
resumable results file in :mod:`~matsign.experiments.store`), grids
:mod:`~matsign.experiments.grid`, configs :mod:`~matsign.experiments.config`, matrix sources
:mod:`~matsign.experiments.sources`.
"""

from matsign.experiments import (
    dion2_fraction,
    equilibration,
    error_vs_rank,
    flattening,
    intermediates,
    ns_vs_spectrum,
    precision,
    predict_vs_measure,
    projected_ns,
    quarter_power,
    shards,
)
from matsign.experiments.runner import Experiment, run_experiment

EXPERIMENTS = {
    module.EXPERIMENT.name: module.EXPERIMENT
    for module in (error_vs_rank, ns_vs_spectrum, equilibration, dion2_fraction, precision, intermediates,
                   shards, quarter_power, projected_ns, flattening, predict_vs_measure)
}

__all__ = ["EXPERIMENTS", "Experiment", "run_experiment"]

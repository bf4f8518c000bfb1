"""Named experiments: each maps a grid of matrices × methods to a tidy table and figures.

``EXPERIMENTS`` maps a name to a callable ``run(out_dir, figure_dir, *, quick, progress)`` that
writes its table under ``out_dir`` and its figures under ``figure_dir`` and returns the table.
"""

from matsign.experiments import ns_vs_spectrum

EXPERIMENTS = {
    "ns-vs-spectrum": ns_vs_spectrum,
}

__all__ = ["EXPERIMENTS"]

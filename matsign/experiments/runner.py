"""Running a named experiment: config → checked grid → sweep → table on disk → figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from matsign.experiments.config import default_config, load_config
from matsign.experiments.engine import Extra, sweep
from matsign.experiments.grid import build_cells

__all__ = ["Experiment", "Outputs", "run_experiment"]


@dataclass(frozen=True)
class Experiment:
    """A named experiment: its default config, extra columns and figure.

    Attributes
    ----------
    name : str
        Also the stem of its config (``configs/NAME.toml``), table and figure files.
    description : str
        One line: the question it answers.
    figure : callable
        ``figure(table, stem)`` writes ``stem.png`` and ``stem.pdf`` and returns the PNG path.
    extra : Extra, optional
        Columns computed per cell beyond the engine's metrics.
    """

    name: str
    description: str
    figure: Callable
    extra: Extra | None = None

    @property
    def config(self) -> Path:
        """The default config file."""
        return default_config(self.name)


@dataclass(frozen=True)
class Outputs:
    """What a run wrote: the table (a DataFrame) and the paths of the CSV file and the figure."""

    table: object
    csv: Path
    figure: Path


def run_experiment(
    experiment: Experiment,
    *,
    config=None,
    out_dir="results",
    figure_dir="figures",
    quick: bool = False,
    workers: int = 1,
    scheduler=None,
    backend: str = "numpy",
    device=None,
    progress: bool = True,
    parquet: bool = False,
) -> Outputs:
    """Run ``experiment`` on its default config (or ``config``) and draw its figure.

    The whole grid is checked before any cell runs. Outputs are ``out_dir/NAME.csv`` and
    ``figure_dir/NAME.png`` / ``.pdf`` (``NAME-quick.*`` with ``quick``, so a quick run never
    overwrites the full results). Rerunning resumes: finished cells are read back, not re-run.
    Other arguments as in :func:`~matsign.experiments.engine.sweep`.
    """
    spec = load_config(config if config is not None else experiment.config, quick=quick)
    cells = build_cells(spec, backend=backend, device=device)
    stem = f"{experiment.name}-quick" if quick else experiment.name
    csv = Path(out_dir) / f"{stem}.csv"
    table = sweep(
        cells, csv, workers=workers, scheduler=scheduler, extra=experiment.extra, progress=progress,
        parquet=parquet, desc=experiment.name,
    )
    figure = experiment.figure(table, Path(figure_dir) / stem)
    return Outputs(table, csv, figure)

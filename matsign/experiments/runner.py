"""Running a named experiment: config → checked grid → sweep → table on disk → figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from matsign.experiments.config import default_config, load_config
from matsign.experiments.engine import Extra, sweep
from matsign.experiments.grid import GridError, build_cells, check_size
from matsign.experiments.store import ResultsError, check_directory

__all__ = ["Experiment", "Outputs", "check_figure_separates", "output_stem", "run_experiment"]


@dataclass(frozen=True)
class Experiment:
    """A named experiment: its default config, extra columns, figure and what its analysis needs.

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
    methods : tuple of str
        The only methods its columns and figure are defined for (empty: any method).
    method_params : tuple of str
        Parameters every method of its grid must take (its columns or figure read them).
    source_params : tuple of str
        Parameters every source of its grid must take.
    check_grid : callable, optional
        ``check_grid(cells)`` raises a :class:`~matsign.experiments.grid.GridError` saying what
        else the grid must hold for the figure (e.g. a value on an axis it draws).
    """

    name: str
    description: str
    figure: Callable
    extra: Extra | None = None
    methods: tuple = ()
    method_params: tuple = ()
    source_params: tuple = ()
    check_grid: Callable | None = None

    @property
    def config(self) -> Path:
        """The default config file."""
        return default_config(self.name)

    def check(self, cells) -> None:
        """Raise a :class:`~matsign.experiments.grid.GridError` naming the first method or source
        of ``cells`` this experiment cannot analyse (before any cell runs)."""
        for cell in cells:
            if self.methods and cell.method not in self.methods:
                raise GridError(f"{self.name} analyses only the methods {', '.join(self.methods)}; "
                                f"the grid has {cell.method!r}")
            for owner, name, params, needed in (
                ("method", cell.method, cell.method_params, self.method_params),
                ("source", cell.source, cell.source_params, self.source_params),
            ):
                missing = [p for p in needed if p not in dict(params)]
                if missing:
                    raise GridError(f"{self.name} needs {owner}s with the parameter(s) {', '.join(needed)}; "
                                    f"{owner} {name!r} has no {missing[0]!r}")
        if self.check_grid is not None:
            self.check_grid(cells)


def check_figure_separates(cells, shown, name: str) -> None:
    """Raise a :class:`~matsign.experiments.grid.GridError` if a figure would average cells that
    differ in more than their seed.

    ``shown(cell)`` gives the coordinates (``"method"``, ``"source"``, ``"m"``, ``"n"``,
    ``"input_dtype"`` or a parameter name) that place the cell on one line and x position of the
    figure; cells that agree on those and on the seed must agree on every other coordinate too,
    since the figure draws their mean.

    Examples
    --------
    >>> from matsign.experiments.grid import build_cells
    >>> source = {"family": "log_uniform", "m": 8, "n": [12, 16], "kappa": 10.0}
    >>> cells = build_cells({"seeds": [0], "sources": [source], "methods": [{"name": "newton_schulz"}]})
    >>> check_figure_separates(cells, lambda cell: ("method", "kappa"), "demo")
    Traceback (most recent call last):
    ...
    matsign.experiments.grid.GridError: demo draws one line per method, kappa: its newton_schulz cells at kappa = 10.0, method = 'newton_schulz' take 2 values of n (12, 16), which it would average; give n one value (run another config for the others)
    """
    groups = {}
    for cell in cells:
        coordinates = {"source": cell.source, "m": cell.m, "n": cell.n, "input_dtype": cell.input_dtype,
                       "method": cell.method, **dict(cell.source_params), **dict(cell.method_params)}
        placed = tuple(shown(cell))
        where = tuple((c, coordinates.get(c)) for c in placed)
        groups.setdefault((placed, where, cell.seed), []).append(coordinates)
    for (placed, where, _), members in groups.items():
        for column in sorted(set().union(*members) - set(placed)):
            values = sorted({repr(member.get(column)) for member in members})
            if len(values) > 1:
                at = ", ".join(f"{c} = {v!r}" for c, v in sorted(where))
                methods = ", ".join(sorted({member["method"] for member in members}))
                raise GridError(
                    f"{name} draws one line per {', '.join(placed)}: its {methods} cells at {at} "
                    f"take {len(values)} values of {column} ({', '.join(values)}), which it would average; "
                    f"give {column} one value (run another config for the others)"
                )


@dataclass(frozen=True)
class Outputs:
    """What a run wrote: the table (a DataFrame) and the paths of the CSV file and the figure."""

    table: object
    csv: Path
    figure: Path


def output_stem(experiment: Experiment, config=None, *, quick: bool = False, backend: str = "numpy",
                device=None) -> str:
    """The stem of a run's table and figure files.

    ``NAME`` for the experiment's default config; for another config file ``FILE.toml``,
    ``FILE`` when it begins with ``NAME-``, else ``NAME-FILE`` — so a run on another grid never
    writes over the default run's table or figures. ``-BACKEND`` is appended for a backend other
    than NumPy and ``-DEVICE`` for an explicit device (a cell's identity holds the backend but
    not the device, so each device needs its own file), then ``-quick`` with ``quick``.

    Raises
    ------
    GridError
        For a config file named like the default run's outputs (``NAME-quick.toml``,
        ``NAME-torch….toml``, …), whose files would collide with them.

    Examples
    --------
    >>> from matsign.experiments import EXPERIMENTS
    >>> experiment = EXPERIMENTS["error-vs-rank"]
    >>> output_stem(experiment), output_stem(experiment, quick=True, backend="torch", device="cuda:1")
    ('error-vs-rank', 'error-vs-rank-torch-cuda1-quick')
    >>> output_stem(experiment, "experiments/error-vs-rank-recorded.toml"), output_stem(experiment, "my.toml")
    ('error-vs-rank-recorded', 'error-vs-rank-my')
    """
    stem = experiment.name
    if config is not None and Path(config).resolve() != experiment.config.resolve():
        name = Path(config).stem
        if name.startswith(f"{experiment.name}-"):
            if name[len(experiment.name) + 1:].split("-")[0] in ("quick", "numpy", "torch", "cupy"):
                raise GridError(f"config file {str(config)!r} is named like the default run's outputs "
                                f"({experiment.name}-quick, {experiment.name}-BACKEND); rename it")
            stem = name
        else:
            stem = f"{experiment.name}-{name}"
    if backend != "numpy":
        stem = f"{stem}-{backend}"
    if device is not None:
        stem = f"{stem}-{str(device).replace(':', '')}"
    return f"{stem}-quick" if quick else stem


def _check_outputs(csv: Path, figure: Path) -> None:
    """Raise a :class:`~matsign.experiments.store.ResultsError` if the table ``csv`` or the
    figures ``figure.png``, ``figure.pdf`` cannot be written (before any work)."""
    check_directory(csv.parent, "output directory")
    check_directory(figure.parent, "figure directory")
    for path in (csv, figure.with_name(f"{figure.name}.png"), figure.with_name(f"{figure.name}.pdf")):
        if path.is_dir():
            raise ResultsError(f"{path} is a directory; move it away, or write this run elsewhere")


def run_experiment(
    experiment: Experiment,
    *,
    config=None,
    out_dir=None,
    figure_dir=None,
    quick: bool = False,
    workers: int = 1,
    scheduler=None,
    backend: str = "numpy",
    device=None,
    progress: bool = True,
    parquet: bool = False,
    yes: bool = False,
) -> Outputs:
    """Run ``experiment`` on its default config (or ``config``) and draw its figure.

    Parameters
    ----------
    experiment : Experiment
        The named experiment (its columns, checks and figure).
    config : str or path-like, optional
        A TOML grid to run instead of the experiment's default.
    out_dir : str or path-like, optional
        Directory of ``STEM.csv`` (default ``results``).
    figure_dir : str or path-like, optional
        Directory of ``STEM.png`` and ``STEM.pdf`` (default ``figures``, or ``out_dir`` when
        that is given, so a run written elsewhere keeps its table and figures together).
    quick : bool
        Run the config's ``[quick]`` grid.
    workers, scheduler, progress, parquet
        See :func:`~matsign.experiments.engine.sweep`.
    backend : {"numpy", "torch", "cupy"}
        Array library the methods run on.
    device : str, optional
        Device for torch or cupy.
    yes : bool
        Run a grid of more than :data:`~matsign.experiments.grid.MAX_CELLS` cells, or with a
        matrix too large for the memory available (:func:`~matsign.experiments.grid.check_size`).

    Returns
    -------
    Outputs
        The table (this grid's cells only) and the paths of the CSV file and the figure.

    Notes
    -----
    The output paths are checked first (a file where a directory goes is a
    :class:`~matsign.experiments.store.ResultsError`), then the grid's size (unless ``yes``),
    then the whole grid, before any cell runs,
    including what the experiment's columns and figure need (:meth:`Experiment.check`). ``STEM`` is :func:`output_stem`, so neither a
    quick run, nor a run on another grid, backend or device, overwrites the default run's
    files. Rows of other grids in the same CSV file (e.g. after the config file was edited)
    stay on disk. Rerunning resumes: finished cells are read back, not re-run.
    """
    stem = output_stem(experiment, config, quick=quick, backend=backend, device=device)
    if figure_dir is None:
        figure_dir = "figures" if out_dir is None else out_dir
    csv = Path("results" if out_dir is None else out_dir) / f"{stem}.csv"
    _check_outputs(csv, Path(figure_dir) / stem)
    spec = load_config(config if config is not None else experiment.config, quick=quick)
    check_size(spec, yes=yes)
    cells = build_cells(spec, backend=backend, device=device)
    experiment.check(cells)
    table = sweep(
        cells, csv, workers=workers, scheduler=scheduler, extra=experiment.extra, progress=progress,
        parquet=parquet, desc=experiment.name,
    )
    figure = experiment.figure(table, Path(figure_dir) / stem)
    return Outputs(table, csv, figure)

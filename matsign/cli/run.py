"""``matsign list`` and ``matsign run NAME``: the named experiments."""

from __future__ import annotations

import argparse
import sys

from matsign._backend import check_positive_int, integer_argument


def add_list_arguments(parser) -> None:
    """``matsign list`` takes no arguments."""


def list_command(args) -> int:
    """Print each named experiment with its one-line description."""
    from matsign.experiments import EXPERIMENTS

    width = max(map(len, EXPERIMENTS))
    for name, experiment in EXPERIMENTS.items():
        print(f"{name:{width}s}  {experiment.description}")
    print("\nRun one with `matsign run NAME` (add --quick for a small grid); `matsign run --help` for options.")
    return 0


def _scheduler(text: str) -> str:
    """``--scheduler``: ``local`` or a Dask address, else a usage error."""
    from matsign.experiments.executors import check_scheduler

    try:
        return check_scheduler(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_run_arguments(parser) -> None:
    """Add the arguments of ``matsign run`` to an ``argparse`` parser."""
    parser.add_argument("name", metavar="NAME", help="experiment name (see `matsign list`)")
    parser.add_argument("--config", metavar="FILE",
                        help="TOML grid to run instead of the experiment's default (see experiments/README.md); "
                        "its outputs are named NAME-FILE.* (FILE.* if FILE begins with NAME-), never NAME.*")
    parser.add_argument("--out", metavar="DIR",
                        help="directory of the table NAME.csv (default: results); also of the figures "
                        "unless --figures is given")
    parser.add_argument("--figures", metavar="DIR",
                        help="directory of the figures NAME.png and NAME.pdf (default: figures, or the "
                        "--out directory when --out is given)")
    parser.add_argument("--quick", action="store_true",
                        help="the config's small [quick] grid, written as NAME-quick.* (seconds)")
    parser.add_argument("--workers", metavar="N", type=integer_argument(check_positive_int, "positive integer"), default=1,
                        help="worker processes (default 1: this process); the table does not depend on it")
    parser.add_argument("--scheduler", metavar="ADDR", type=_scheduler,
                        help="run on Dask: 'local' starts a local cluster of N workers, or a scheduler "
                        "address such as tcp://host:8786 (needs the dask extra)")
    parser.add_argument("--backend", choices=("numpy", "torch", "cupy"), default="numpy",
                        help="array library the methods run on (default: numpy); torch and cupy runs are "
                        "written as NAME-BACKEND.*")
    parser.add_argument("--device", metavar="DEV",
                        help="device for torch/cupy, e.g. cuda or cuda:1 (default: the library's default); "
                        "an explicit device adds -DEVICE to the output names (cuda:1 → -cuda1)")
    parser.add_argument("--parquet", action="store_true", help="also write NAME.parquet (needs pyarrow: pip install 'matsign[parquet]')")
    parser.add_argument("--yes", action="store_true",
                        help="run a grid that is refused as too large (over 100000 cells, or a matrix over a "
                        "quarter of the memory available)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run_command(args) -> int:
    """Run a named experiment; print where its table and figure went."""
    from matsign.experiments import EXPERIMENTS, run_experiment

    if args.name not in EXPERIMENTS:
        print(f"matsign: unknown experiment {args.name!r}; choose one of: {', '.join(EXPERIMENTS)} "
              "(`matsign list` describes them)", file=sys.stderr)
        return 2
    outputs = run_experiment(
        EXPERIMENTS[args.name], config=args.config, out_dir=args.out, figure_dir=args.figures,
        quick=args.quick, workers=args.workers, scheduler=args.scheduler, backend=args.backend,
        device=args.device, progress=not args.no_progress, parquet=args.parquet, yes=args.yes,
    )
    print(f"wrote {len(outputs.table)} rows to {outputs.csv} and the figure to "
          f"{outputs.figure} (and .pdf)")
    return 0

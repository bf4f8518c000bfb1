"""Command line: ``matsign list``, ``run NAME``, ``spectra PATH``, ``record``, ``train-compare``.

Also ``python -m matsign``. Each subcommand is a :class:`Subcommand`: a function that adds its
arguments to an ``argparse`` parser and one that executes the parsed arguments and returns the
exit status; both are imported only when that subcommand runs, so a missing optional dependency
of one subcommand does not break the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass

from matsign._backend import check_positive_int, integer_argument

EPILOG = """\
examples:
  matsign list                                   what each experiment measures
  matsign run error-vs-rank                      full grid (about 30 s on 2 CPU cores)
  matsign run ns-vs-spectrum --quick             a small grid in seconds
  matsign run error-vs-rank --workers 2          two processes; same table
  matsign run precision --backend torch          on PyTorch (add --device cuda for a GPU)
  matsign run error-vs-rank --config my.toml --out my-results
                                                 my-results/error-vs-rank-my.{csv,png,pdf}
  matsign spectra matsign/data/recorded          spectra of the bundled gradient dump
  matsign train-compare --quick                  every update rule on a tiny GPT (needs torch)
Interrupted? Run the same command again: finished cells are read back, not re-run.
"""


@dataclass(frozen=True)
class Subcommand:
    """One ``matsign`` subcommand.

    ``add_arguments`` and ``execute`` are ``"module:function"`` strings: ``add_arguments(parser)``
    declares the arguments, ``execute(args)`` runs and returns the exit status.
    """

    name: str
    help: str
    add_arguments: str
    execute: str

    def load(self, which: str):
        module, function = getattr(self, which).split(":")
        return getattr(importlib.import_module(module), function)


# ---------------------------------------------------------------- list and run


def add_list_arguments(parser):
    """``matsign list`` takes no arguments."""


def list_command(args) -> int:
    """Print each named experiment with its one-line description."""
    from matsign.experiments import EXPERIMENTS

    width = max(map(len, EXPERIMENTS))
    for name, experiment in EXPERIMENTS.items():
        print(f"{name:{width}s}  {experiment.description}")
    print("\nRun one with `matsign run NAME` (add --quick for a small grid); `matsign run --help` for options.")
    return 0


def add_run_arguments(parser):
    """Arguments of ``matsign run``."""
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
    parser.add_argument("--scheduler", metavar="ADDR",
                        help="run on Dask: 'local' starts a local cluster of N workers, or a scheduler "
                        "address such as tcp://host:8786 (needs the dask extra)")
    parser.add_argument("--backend", choices=("numpy", "torch", "cupy"), default="numpy",
                        help="array library the methods run on (default: numpy); torch and cupy runs are "
                        "written as NAME-BACKEND.*")
    parser.add_argument("--device", metavar="DEV",
                        help="device for torch/cupy, e.g. cuda or cuda:1 (default: the library's default); "
                        "an explicit device adds -DEVICE to the output names (cuda:1 → -cuda1)")
    parser.add_argument("--parquet", action="store_true", help="also write NAME.parquet (needs pyarrow: pip install 'matsign[parquet]')")
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
        device=args.device, progress=not args.no_progress, parquet=args.parquet,
    )
    print(f"wrote {len(outputs.table)} rows to {outputs.csv} and the figure to "
          f"{outputs.figure} (and .pdf)")
    return 0


#: The subcommands, in the order ``matsign --help`` lists them.
SUBCOMMANDS = (
    Subcommand("list", "list the named experiments", "matsign.cli:add_list_arguments", "matsign.cli:list_command"),
    Subcommand("run", "run a named experiment: a table (CSV) and figures (PNG, PDF)",
               "matsign.cli:add_run_arguments", "matsign.cli:run_command"),
    Subcommand("spectra", "spectral summary of the matrices of a gradient dump",
               "matsign.experiments.spectra:add_spectra_arguments", "matsign.experiments.spectra:spectra_command"),
    Subcommand("record", "train a small model and dump its gradients and momenta",
               "matsign.recorder.command:add_record_arguments", "matsign.recorder.command:record_command"),
    Subcommand("train-compare", "train the recorder's GPT with every update rule: validation loss and time per step",
               "matsign.experiments.train_compare:add_train_compare_arguments",
               "matsign.experiments.train_compare:train_compare_command"),
)


def _parser(chosen: str | None):
    parser = argparse.ArgumentParser(
        prog="matsign",
        description="Matrix-sign experiments: run a named experiment over a grid of test matrices × "
        "methods to get a tidy table (CSV, one row per cell) and its figures.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in SUBCOMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help[0].upper() + command.help[1:] + ".",
                           epilog=EPILOG if command.name == "run" else None,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if command.name == chosen:  # only the chosen subcommand's module is imported
            command.load("add_arguments")(p)
    return parser


def main(argv=None) -> int:
    """Entry point of ``matsign``; returns the exit status (2 for a usage or config error, or a
    file at the output path that is not a results table)."""
    from matsign.experiments.config import ConfigError
    from matsign.experiments.engine import ResultsError
    from matsign.experiments.grid import GridError

    argv = sys.argv[1:] if argv is None else list(argv)
    names = {c.name: c for c in SUBCOMMANDS}
    chosen = next((a for a in argv if not a.startswith("-")), None)
    args = _parser(chosen if chosen in names else None).parse_args(argv)
    try:
        return names[args.command].load("execute")(args)
    except (ConfigError, GridError, ResultsError) as exc:
        print(f"matsign: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        hint = "" if "pip install" in str(exc) else '; install the extras: pip install -e ".[experiments]"'
        print(f"matsign: {exc}{hint}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"matsign: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("matsign: interrupted; run the same command again to resume where it stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

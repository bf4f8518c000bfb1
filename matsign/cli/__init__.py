"""Command line: ``matsign list``, ``run NAME``, ``spectra PATH``, ``advise PATH``,
``zoo-spectra``, ``record``, ``train-compare``.

Also ``python -m matsign``. Every ``argparse`` parser of matsign lives in this package, one module
per subcommand (:mod:`~matsign.cli.run` for ``list`` and ``run``, :mod:`~matsign.cli.spectra`,
:mod:`~matsign.cli.advise`, :mod:`~matsign.cli.record`, :mod:`~matsign.cli.train_compare`); the
experiment and recorder modules hold plain functions with keyword arguments. Each subcommand is a
:class:`Subcommand`: a function that adds its arguments to a parser and one that executes the
parsed arguments and returns the exit status; its module is imported only when that subcommand
runs, so a missing optional dependency of one subcommand does not break the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass

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
  matsign advise matsign/data/recorded --target-alignment 0.85 --verify
                                                 cheapest method per matrix reaching 0.85
  matsign zoo-spectra                            the gradient zoo's spectra side by side
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


#: The subcommands, in the order ``matsign --help`` lists them.
SUBCOMMANDS = (
    Subcommand("list", "list the named experiments", "matsign.cli.run:add_list_arguments",
               "matsign.cli.run:list_command"),
    Subcommand("run", "run a named experiment: a table (CSV) and figures (PNG, PDF)",
               "matsign.cli.run:add_run_arguments", "matsign.cli.run:run_command"),
    Subcommand("spectra", "spectral summary of the matrices of a gradient dump",
               "matsign.cli.spectra:add_spectra_arguments", "matsign.cli.spectra:spectra_command"),
    Subcommand("advise", "per matrix of a dump, the cheapest method predicted to reach a target",
               "matsign.cli.advise:add_advise_arguments", "matsign.cli.advise:advise_command"),
    Subcommand("zoo-spectra", "spectra of the gradient zoo's members (gpt, cnn, moe) in one figure",
               "matsign.cli.spectra:add_zoo_spectra_arguments",
               "matsign.cli.spectra:zoo_spectra_command"),
    Subcommand("record", "train a small model and dump its gradients and momenta",
               "matsign.cli.record:add_record_arguments", "matsign.cli.record:record_command"),
    Subcommand("train-compare", "train the recorder's GPT with every update rule: tuned losses, rank sweeps, time, state",
               "matsign.cli.train_compare:add_train_compare_arguments",
               "matsign.cli.train_compare:train_compare_command"),
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
    from matsign.experiments.grid import GridError
    from matsign.experiments.store import ResultsError

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


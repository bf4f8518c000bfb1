"""Command line: ``matsign list`` and ``matsign run NAME`` (also ``python -m matsign``)."""

from __future__ import annotations

import argparse
import sys


def _parser():
    parser = argparse.ArgumentParser(
        prog="matsign",
        description="Matrix-sign experiments: run a named experiment to get a tidy table (CSV) and figures.",
        epilog="Example: matsign run ns-vs-spectrum --quick",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="list the named experiments")
    run = sub.add_parser("run", help="run a named experiment", description="Run a named experiment.")
    run.add_argument("name", metavar="NAME", help="experiment name (see `matsign list`)")
    run.add_argument("--out", default="results", help="directory for the table (default: results)")
    run.add_argument("--figures", default="figures", help="directory for the figures (default: figures)")
    run.add_argument("--quick", action="store_true", help="a smaller grid that finishes in seconds")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv=None) -> int:
    from matsign.experiments import EXPERIMENTS

    args = _parser().parse_args(argv)
    if args.command == "list":
        for name, module in EXPERIMENTS.items():
            print(f"{name:20s} {module.DESCRIPTION}")
        return 0
    if args.name not in EXPERIMENTS:
        print(f"matsign: unknown experiment {args.name!r}; choose one of: {', '.join(EXPERIMENTS)}", file=sys.stderr)
        return 2
    module = EXPERIMENTS[args.name]
    table = module.run(args.out, args.figures, quick=args.quick, progress=not args.no_progress)
    print(f"wrote {len(table)} rows to {args.out}/{module.NAME}.csv and figures to {args.figures}/{module.NAME}.png/.pdf")
    return 0


if __name__ == "__main__":
    sys.exit(main())

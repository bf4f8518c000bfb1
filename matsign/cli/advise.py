"""``matsign advise PATH``: per matrix of a dump, the cheapest method predicted to reach a target.
"""

from __future__ import annotations

import argparse
import sys

from matsign._backend import check_nonnegative_int, integer_argument
from matsign.cli.spectra import add_dump_arguments
from matsign.experiments.advice import advise_dump, check_target, write_advice
from matsign.experiments.store import ResultsError, check_directory
from matsign.io import DumpError


def _alignment(text: str) -> float:
    try:
        return check_target(target_alignment=float(text))[1]
    except ValueError:
        message = f"target alignment must be a number in (0, 1], got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def _error(text: str) -> float:
    try:
        return check_target(target_error=float(text))[1]
    except ValueError:
        message = f"target error must be a positive number, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def add_advise_arguments(parser) -> None:
    """Add the arguments of ``matsign advise PATH`` to an ``argparse`` parser.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_advise_arguments(parser)
    >>> args = parser.parse_args(["dump", "--target-alignment", "0.9"])
    >>> args.target_alignment, args.reference, args.verify
    (0.9, 'truncated', False)
    """
    parser.add_argument(
        "path", metavar="PATH",
        help="gradient dump, checkpoint or optimizer state (any layout matsign spectra reads)",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-alignment", type=_alignment, metavar="A",
                        help="alignment <G, X>/||G||_* to reach, in (0, 1]")
    target.add_argument("--target-error", type=_error, metavar="E",
                        help="relative error ||X - msign(G)||_F/||msign(G)||_F not to exceed")
    parser.add_argument(
        "--verify", action="store_true",
        help="run the chosen, runner-up and reference methods and add measured values",
    )
    parser.add_argument("--out", default="results/advice",
                        help="directory for advice.csv and the figure (default: results/advice)")
    add_dump_arguments(parser, reference_of="the relative error is")
    count = integer_argument(check_nonnegative_int, "non-negative integer")
    parser.add_argument("--seed", type=count, default=0,
                        help="seed of the random methods when verifying (default: 0)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def advise_command(args) -> int:
    """Run ``matsign advise``: write ``<out>/advice.csv`` and ``<out>/advice.png`` (+ .pdf)."""
    try:
        check_directory(args.out, "--out")
    except ResultsError as exc:
        print(f"matsign advise: {exc}", file=sys.stderr)
        return 2
    try:
        table = advise_dump(
            args.path, target_alignment=args.target_alignment, target_error=args.target_error,
            reference=args.reference, verify=args.verify, kind=args.kind, steps=args.steps,
            seed=args.seed, progress=not args.no_progress, layout=args.layout, names=args.names,
            conv=args.conv,
        )
    except FileNotFoundError as exc:
        print(f"matsign advise: {exc}", file=sys.stderr)
        return 2
    except DumpError as exc:
        print(f"matsign advise: {exc}", file=sys.stderr)
        return 1
    if table.empty:
        print(f"matsign advise: no matrices in {args.path} (kind={args.kind}, steps={args.steps})",
              file=sys.stderr)
        return 1
    chosen = table[table["role"] == "chosen"]
    counts = chosen["method"].value_counts()
    print(f"{len(chosen)} matrices; chosen: " + ", ".join(f"{m} ({c})" for m, c in counts.items())
          + f"; median flop saving vs 5-step Newton–Schulz {chosen['flop_saving'].median():.0%}")
    if args.verify:
        target, value = chosen["target"].iloc[0], chosen["target_value"].iloc[0]
        measured = chosen[f"measured_{target}"]
        met = (measured >= value) if target == "alignment" else (measured <= value)
        print(f"verified: {int(met.sum())} of {len(chosen)} chosen methods reach {target} "
              f"{value:g} as measured")
    zero = int((table["role"] == "zero matrix").sum())
    if zero:
        print(f"{zero} zero matrices (sign 0, alignment undefined): nothing to choose")
    unpredicted = table.loc[table["role"] == "no prediction", "method"].unique()
    if len(unpredicted):
        print(f"no prediction (listed, not chosen): {', '.join(unpredicted)}")
    csv, figures = write_advice(table, args.out)
    print(f"wrote {len(table)} rows to {csv} and {', '.join(map(str, figures))} (+ .pdf)")
    return 0

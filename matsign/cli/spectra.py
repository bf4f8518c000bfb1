"""``matsign spectra PATH``: spectral summary of the matrices of a gradient dump; ``matsign
zoo-spectra``: the same for every member of the gradient zoo, drawn side by side."""

from __future__ import annotations

import sys

from matsign._backend import check_nonnegative_int, check_positive_int, integer_argument
from matsign.experiments.spectra import (
    RANKS,
    REFERENCES,
    analyse_dump,
    analyse_zoo,
    loading_summary,
    write_spectra,
    write_zoo_spectra,
)
from matsign.experiments.store import ResultsError, check_directory
from matsign.io import KINDS, DumpError
from matsign.io.tensors import CONV_LAYOUTS


def add_spectra_arguments(parser) -> None:
    """Add the arguments of ``matsign spectra PATH`` to an ``argparse`` parser.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_spectra_arguments(parser)
    >>> parser.parse_args(["dump", "--ranks", "1", "8", "--steps", "0"]).ranks
    [1, 8]
    >>> parser.parse_args(["dump"]).ranks is None  # the default ranks: RANKS
    True
    """
    parser.add_argument(
        "path", metavar="PATH",
        help="gradient dump, checkpoint or optimizer state: a .safetensors/.npz/.npy/.pt file, a sharded "
        "checkpoint's *.safetensors.index.json, or a directory of them; step, kind and name come from a "
        "manifest.json, else from key and file names (step300, global_step100, .grad, exp_avg_ …)",
    )
    parser.add_argument("--out", default="results", help="directory for spectra.csv (default: results)")
    parser.add_argument("--figures", default="figures", help="directory for the figures (default: figures)")
    parser.add_argument(
        "--ranks", type=integer_argument(check_positive_int, "positive integer"), nargs="+", metavar="R",
        help=f"ranks of the tail-energy columns (default: {' '.join(map(str, RANKS))}, those a matrix has); "
        "NaN for a matrix smaller than the rank; a rank above every matrix's min(m, n) is a usage error",
    )
    add_dump_arguments(parser, reference_of="the ns_error columns are")
    parser.add_argument("--skip-bad", action="store_true", help="skip corrupt files with a warning instead of stopping")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_dump_arguments(parser, *, reference_of: str) -> None:
    """Add the options that choose and read the matrices of a dump, shared by ``matsign spectra``
    and ``matsign advise``: ``--kind``, ``--steps``, ``--layout``, ``--names``, ``--conv`` and
    ``--reference`` (whose help says what ``reference_of`` compares with the exact sign)."""
    parser.add_argument("--kind", choices=("all", *KINDS, "unknown"), default="all",
                        help="which tensors (default: all)")
    parser.add_argument("--steps", type=integer_argument(check_nonnegative_int, "non-negative integer"), nargs="+",
                        metavar="STEP", help="only these steps (default: all)")
    parser.add_argument(
        "--layout", metavar="FILE",
        help="TOML or JSON rules setting kind, step and name where names do not say them: [[rules]] tables with "
        "key and/or file (Python regular expressions matching the whole key / path below PATH; groups "
        "(?P<name>…), (?P<step>…)), kind, step; for each field the first matching rule that sets it wins",
    )
    parser.add_argument(
        "--names", metavar="FILE",
        help="parameter names of an optimizer state dict, in model.named_parameters() order: a .txt file (one a "
        "line), a .json list, or a model state_dict saved with torch.save (.pt); default: the state's index",
    )
    parser.add_argument(
        "--conv", choices=CONV_LAYOUTS, default="out",
        help="how a convolution kernel (out, in, kh, kw) becomes a matrix: out = (out, in·kh·kw) as Muon "
        "flattens it (default), in = (in, out·kh·kw), spatial = one (out, in) matrix per kernel position; "
        "a 3-D tensor (E, m, n) is read as E matrices name[e]",
    )
    parser.add_argument(
        "--reference", choices=REFERENCES, default="truncated",
        help=f"which exact sign {reference_of} against: truncated = the singular "
        "values above the storage precision's noise (what msign keeps; right for 16-bit dumps), "
        "full = every one above float64 rounding (default: truncated)",
    )


def spectra_command(args) -> int:
    """Run ``matsign spectra``: write ``<out>/spectra.csv``, the singular values and the figures."""
    try:
        check_directory(args.out, "--out")
        check_directory(args.figures, "--figures")
    except ResultsError as exc:
        print(f"matsign spectra: {exc}", file=sys.stderr)
        return 2
    try:
        table, sigma = analyse_dump(
            args.path, ranks=RANKS if args.ranks is None else args.ranks, kind=args.kind, steps=args.steps,
            skip_bad=args.skip_bad, progress=not args.no_progress, layout=args.layout, names=args.names,
            conv=args.conv, reference=args.reference,
        )
    except FileNotFoundError as exc:
        print(f"matsign spectra: {exc}", file=sys.stderr)
        return 2
    except DumpError as exc:
        print(f"matsign spectra: {exc} (--skip-bad skips such files)", file=sys.stderr)
        return 1
    if table.empty:
        print(f"matsign spectra: no matrices in {args.path} (kind={args.kind}, steps={args.steps}); "
              f"{loading_summary(table).split('; ', 1)[-1]}", file=sys.stderr)
        return 1
    print(loading_summary(table))
    largest = int(table[["m", "n"]].min(axis=1).max())
    above = [r for r in args.ranks or () if r > largest]
    if above:
        print(f"matsign spectra: --ranks {above[0]} exceeds min(m, n) of every matrix in {args.path} (the "
              f"largest is {largest}); give ranks up to {largest}", file=sys.stderr)
        return 2
    table_csv, values_csv, figures = write_spectra(table, sigma, out_dir=args.out, figure_dir=args.figures)
    print(f"wrote {len(table)} rows to {table_csv}, the last step's singular values to "
          f"{values_csv}, and figures {', '.join(str(p) for p in figures)} (+ .pdf)")
    return 0


def add_zoo_spectra_arguments(parser) -> None:
    """Add the arguments of ``matsign zoo-spectra`` to an ``argparse`` parser."""
    parser.add_argument("--out", default="results",
                        help="directory for zoo-spectra.csv and zoo-spectra-singular-values.csv "
                        "(default: results)")
    parser.add_argument("--figures", default="figures",
                        help="directory for zoo-spectra.png and .pdf (default: figures)")
    parser.add_argument("--kind", choices=("all", *KINDS, "unknown"), default="grad",
                        help="which tensors (default: grad, which every member holds)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def zoo_spectra_command(args) -> int:
    """Run ``matsign zoo-spectra``: the spectra of every zoo member, their tables and one figure."""
    try:
        check_directory(args.out, "--out")
        check_directory(args.figures, "--figures")
    except ResultsError as exc:
        print(f"matsign zoo-spectra: {exc}", file=sys.stderr)
        return 2
    table, sigma = analyse_zoo(kind=args.kind, progress=not args.no_progress)
    for member, rows in table.groupby("member", sort=False):
        rows.attrs["skipped"] = table.attrs["skipped"][member]
        print(f"{member}: {loading_summary(rows)}")
    table_csv, values_csv, figure = write_zoo_spectra(table, sigma, out_dir=args.out,
                                                      figure_dir=args.figures)
    print(f"wrote {len(table)} rows to {table_csv}, the last step's singular values to "
          f"{values_csv}, and the figure {figure} (+ .pdf)")
    return 0

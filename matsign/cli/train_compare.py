"""``matsign train-compare``: train the recorder's GPT with every update rule."""

from __future__ import annotations

import time
from dataclasses import asdict


def add_train_compare_arguments(parser) -> None:
    """Add the arguments of ``matsign train-compare`` to an ``argparse`` parser.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_train_compare_arguments(parser)
    >>> args = parser.parse_args(["--quick"])
    >>> args.quick, args.large, args.device, args.out
    (True, False, 'cpu', 'results')
    """
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a tiny model for a few steps, written as NAME-quick.* (seconds)")
    size.add_argument("--large", action="store_true",
                      help="the larger settings meant for a GPU, written as NAME-large.*")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--out", default="results", help="directory for the table (default: results)")
    parser.add_argument("--figures", default="figures", help="directory for the figures (default: figures)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def train_compare_command(args) -> int:
    """Run the comparison with parsed ``args``; print the settings, the Markdown tables and the time taken."""
    from matsign.experiments import train_compare

    start = time.perf_counter()
    settings = train_compare.LARGE if args.large else (train_compare.QUICK if args.quick else train_compare.DEFAULT)
    table = train_compare.run(args.out, args.figures, quick=args.quick, large=args.large, progress=not args.no_progress,
                              settings=settings, device=args.device)
    print(f"settings: {asdict(settings)}")
    print(train_compare.markdown(table, settings.seeds[0]))
    runs = table.drop_duplicates(list(train_compare.RUN_KEY))
    print(f"{len(runs)} runs, {runs['run_s'].sum():.0f} s of training in all; this call took "
          f"{time.perf_counter() - start:.0f} s")
    return 0

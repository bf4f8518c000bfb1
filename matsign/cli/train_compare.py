"""``matsign train-compare``: train the recorder's GPT with every update rule."""

from __future__ import annotations

import time
from dataclasses import asdict

from matsign._backend import check_positive_int, integer_argument


def add_train_compare_arguments(parser) -> None:
    """Add the arguments of ``matsign train-compare`` to an ``argparse`` parser.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_train_compare_arguments(parser)
    >>> args = parser.parse_args(["--quick", "--workers", "2"])
    >>> args.quick, args.wide, args.large, args.device, args.out, args.workers
    (True, False, False, 'cpu', 'results', 2)
    """
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a tiny model for a few steps, written as NAME-quick.* (seconds)")
    size.add_argument("--wide", action="store_true",
                      help="one block of width 512 (sides > 500: the official low-rank Muon is low-rank), NAME-wide.*")
    size.add_argument("--large", action="store_true",
                      help="the larger settings meant for a GPU, written as NAME-large.*")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--workers", metavar="N", type=integer_argument(check_positive_int, "positive integer"), default=1,
                        help="runs trained side by side in separate processes (default: 1)")
    parser.add_argument("--estimate", action="store_true",
                        help="print the number of runs, tokens and model flops, and train nothing")
    parser.add_argument("--out", default="results", help="directory for the table (default: results)")
    parser.add_argument("--figures", default="figures", help="directory for the figures (default: figures)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def train_compare_command(args) -> int:
    """Run the comparison with parsed ``args``; print the settings, the Markdown tables and the time taken."""
    from matsign.experiments import train_compare

    start = time.perf_counter()
    size = "quick" if args.quick else "wide" if args.wide else "large" if args.large else None
    settings = train_compare.settings_for(size)
    if args.estimate:
        cost = train_compare.estimate(settings)
        print(f"{cost['rules']} rules, about {cost['runs']} runs (one grid extension per rule) of "
              f"{cost['tokens_per_run']:,} tokens; {cost['parameters']:,} parameters; "
              f"{cost['flops']:.3g} flops of model arithmetic in all")
        return 0
    table = train_compare.run(args.out, args.figures, size=size, progress=not args.no_progress,
                              settings=settings, device=args.device, workers=args.workers)
    print(f"settings: {asdict(settings)}")
    print(train_compare.markdown(table, settings.seeds[0]))
    runs = table.drop_duplicates(list(train_compare.RUN_KEY))
    print(f"{len(runs)} runs, {runs['run_s'].sum():.0f} s of training in all; this call took "
          f"{time.perf_counter() - start:.0f} s")
    return 0

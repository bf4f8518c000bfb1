"""The sweep engine on the ``error-vs-rank`` grid: wall time against the methods' own seconds.

Runs the experiment's grid (default config, or ``--quick``) through
:func:`matsign.experiments.engine.sweep` into an empty folder, in a fresh process per run (so
every run pays the same imports and starts with no library loaded), and reports

- ``sweep s`` — wall time of ``sweep`` alone (grid built, cells run, table written and read back;
  no figure);
- ``method s`` — the sum of the table's ``seconds`` column (the method calls alone);
- ``sweep / method`` — the engine's overhead factor (target ≤ 2);
- ``process s`` — wall time of the whole process (imports included).

With ``--baseline DIR`` the same runs are made with another checkout of matsign first on the
path (e.g. the previous release), interleaved with this tree's runs, and the ratio of the
minimum times is printed along with a check that both tables agree in every column except
``seconds``. Threads are as a user's shell has them (no ``*_NUM_THREADS`` set): limiting them
in every cell is the engine's job. Minimum over ``--repeats`` runs.

Usage: ``python benchmarks/sweep.py [--quick] [--workers N] [--repeats 5] [--baseline DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from timing import positive_int

TREE = Path(__file__).resolve().parents[1]

#: Run in a fresh process: ``argv`` = output CSV, quick (0/1), workers; prints the timings.
RUN = """
import json, sys, time
start = time.perf_counter()
from matsign.experiments.config import load_config
from matsign.experiments.engine import sweep
from matsign.experiments.grid import build_cells
from matsign.experiments.error_vs_rank import EXPERIMENT as experiment
imported = time.perf_counter()
cells = build_cells(load_config(experiment.config, quick=sys.argv[2] == "1"))
experiment.check(cells)
table = sweep(cells, sys.argv[1], workers=int(sys.argv[3]), extra=experiment.extra, progress=False)
done = time.perf_counter()
print(json.dumps({"sweep": done - imported, "imports": imported - start, "method": float(table["seconds"].sum()),
                  "cells": len(table)}))
"""


def _run(tree: Path, csv: Path, quick: bool, workers: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["PYTHONPATH"] = str(tree)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", RUN, str(csv), str(int(quick)), str(workers)], env=env,
                            capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    timings = json.loads(result.stdout.strip().splitlines()[-1])
    timings["process"] = time.perf_counter() - start
    return timings


def _same_table(a: Path, b: Path) -> bool:
    """Every column but ``seconds`` equal, exactly (NaN equal to NaN)."""
    left, right = (pd.read_csv(p, dtype=str, keep_default_na=False).drop(columns=["seconds"]) for p in (a, b))
    return list(left.columns) == list(right.columns) and left.equals(right)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the config's [quick] grid")
    parser.add_argument("--workers", type=positive_int, default=1, help="processes of the sweep (default 1)")
    parser.add_argument("--repeats", type=positive_int, default=5, help="runs per tree; the minimum is reported")
    parser.add_argument("--baseline", type=Path, help="another matsign checkout to compare with")
    args = parser.parse_args(argv)
    if args.baseline is not None and not (args.baseline / "matsign" / "__init__.py").is_file():
        parser.error(f"--baseline {args.baseline} is not a matsign checkout (no matsign/__init__.py)")
    trees = {"this tree": TREE, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    runs = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for name, tree in trees.items():  # interleaved
                csv = Path(tmp) / f"{name.replace(' ', '_')}-{repeat}.csv"
                runs[name].append(_run(tree, csv, args.quick, args.workers))
        same = {name: all(_same_table(Path(tmp) / f"this_tree-{r}.csv", Path(tmp) / f"{name.replace(' ', '_')}-{r}.csv")
                          for r in range(args.repeats)) for name in trees}
    print(f"error-vs-rank{' --quick' if args.quick else ''}, {runs['this tree'][0]['cells']} cells, "
          f"workers {args.workers}, min of {args.repeats} interleaved runs\n")
    print("| tree | sweep s | method s | sweep / method | imports s | process s | table = this tree's |")
    print("|---|---|---|---|---|---|---|")
    best = {}
    for name, timings in runs.items():
        best[name] = {k: min(t[k] for t in timings) for k in ("sweep", "method", "imports", "process")}
        b = best[name]
        print(f"| {name} | {b['sweep']:.2f} | {b['method']:.2f} | {b['sweep'] / b['method']:.2f} | "
              f"{b['imports']:.2f} | {b['process']:.2f} | {'yes' if same[name] else 'NO'} |")
    if "baseline" in best:
        print(f"\nbaseline / this tree: sweep {best['baseline']['sweep'] / best['this tree']['sweep']:.2f}×, "
              f"process {best['baseline']['process'] / best['this tree']['process']:.2f}×")


if __name__ == "__main__":
    main()

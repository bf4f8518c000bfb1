"""Reading every tensor of a safetensors file: matsign's reader against ``safetensors.safe_open``.

One file of 8 float32 tensors (square, of each ``--sizes`` side) written by
``safetensors.numpy.save_file``, read in full, side by side and interleaved, ``--repeats`` times
each, the minimum kept:

- ``matsign``: ``load_gradients(file)`` then ``record.load()`` for every record (the header is
  parsed once, then one seek and read per tensor);
- ``matsign, header per tensor``: the same with the header cache emptied before every read — how
  the reader worked before it parsed each file's header once;
- ``safe_open``: ``safe_open(file, framework="numpy")`` then ``get_tensor`` for every key.

The file stays in the page cache, so this times parsing and copying, not the disk.

Usage: ``python benchmarks/io.py [--sizes 64 1024] [--repeats 7]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from matsign.io import formats, load_gradients
from timing import cpu_libraries, positive_int, table

TENSORS = 8


def read_matsign(path):
    return [record.load() for record in load_gradients(path)]


def read_matsign_uncached(path):
    arrays = []
    for record in load_gradients(path):
        formats._HEADERS.clear()
        arrays.append(record.load())
    return arrays


def read_safe_open(path):
    with safe_open(path, framework="numpy") as f:
        return [f.get_tensor(key) for key in f.keys()]


READERS = {"matsign": read_matsign, "matsign, header per tensor": read_matsign_uncached, "safe_open": read_safe_open}


def times(path, repeats):
    """Minimum wall time of each reader, the readers interleaved within every repeat."""
    best = dict.fromkeys(READERS, float("inf"))
    expected = read_safe_open(path)
    for name, read in READERS.items():  # warm-up, and the same values from every reader
        assert all(np.array_equal(a, b) for a, b in zip(read(path), expected, strict=True)), name
    for _ in range(repeats):
        for name, read in READERS.items():
            start = time.perf_counter()
            read(path)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=[64, 1024])
    parser.add_argument("--repeats", type=positive_int, default=7)
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("argument --repeats: at least 5 repeats, the minimum of which is reported")
    print(cpu_libraries()[1] + "\n")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for n in args.sizes:
            path = Path(folder) / f"step-{n}.safetensors"
            rng = np.random.default_rng(0)
            save_file({f"blocks.{i}.w": rng.standard_normal((n, n), dtype=np.float32) for i in range(TENSORS)}, path)
            best = times(path, args.repeats)
            for name, seconds in best.items():
                rows.append((f"{TENSORS} × {n}² float32", name, seconds * 1e3, seconds / best["safe_open"]))
    print(f"Reading all {TENSORS} tensors of one safetensors file, min of {args.repeats} interleaved repeats\n")
    print(table(["file", "reader", "ms", "/ safe_open"], rows, ["{}", "{}", "{:.3f}", "{:.2f}"]))


if __name__ == "__main__":
    main()

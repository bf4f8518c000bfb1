"""Peak memory of reading a dump: every record of it listed and loaded, one after the other.

Each case is read in a fresh Python process (so that nothing the writer or another case
allocated stays in its memory), which reports

- ``largest tensor``: the largest stored tensor, in MiB (the unit a streaming reader holds);
- ``tracemalloc peak``: the peak of Python and NumPy allocations while listing the records and
  calling ``record.load()`` on each in turn, dropping it before the next (NumPy reports its
  buffers to tracemalloc);
- ``resident peak growth``: the resident set's peak while reading (``VmHWM``, the high-water
  mark behind ``ru_maxrss``, reset first through ``/proc/self/clear_refs``, since the imports
  peak higher) minus the resident set before. Linux only.

Both start after a first listing and a first read of one record (the imports the format
needs), and cover listing the records again and loading each.

Cases: the three members of the gradient zoo (every step), and, written into a temporary
folder first, a sharded safetensors checkpoint (two shards and a
``model.safetensors.index.json``) and an AdamW ``optimizer.state_dict()`` saved with
``torch.save``, each holding ``--tensors`` float32 tensors of ``--side``² (by default 8 of
2048², 16 MiB each, 128 MiB a checkpoint). A reader holding the whole file would peak near
``--tensors`` tensors; one that streams, near one.

Usage: ``python benchmarks/io_memory.py [--side 2048] [--tensors 8]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np

from timing import positive_int, table

MIB = 2.0**20


def _resident_peak_bytes() -> int:
    """The resident set's peak since the last :func:`_reset_resident_peak` (Linux: ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def _reset_resident_peak() -> int:
    """Set the resident peak to the resident set now (Linux >= 4.0) and return it."""
    Path("/proc/self/clear_refs").write_text("5")
    return _resident_peak_bytes()


def measure(path) -> tuple[int, int, int, int]:
    """``(records, largest stored tensor, tracemalloc peak, resident peak growth)``, sizes in
    bytes, of reading every record of ``path`` in this process."""
    from matsign.io import load_gradients

    records = list(load_gradients(path))
    largest = max(int(np.prod(r.stored_shape)) * np.dtype(r.dtype).itemsize for r in records)
    records[0].load()  # imports what reading the format needs, outside the measurement
    gc.collect()
    before = _reset_resident_peak()
    tracemalloc.start()
    try:
        count = 0
        for record in load_gradients(path):
            record.load()
            count += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return count, largest, peak, _resident_peak_bytes() - before


def write_sharded(folder: Path, side: int, tensors: int) -> Path:
    """A two-shard safetensors checkpoint with its index; the tensors written one at a time."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    half = tensors // 2
    shards = {"model-00001-of-00002.safetensors": range(half),
              "model-00002-of-00002.safetensors": range(half, tensors)}
    weight_map = {}
    for shard, indices in shards.items():
        shard_tensors = {f"model.layers.{i}.mlp.w.grad":
                         rng.standard_normal((side, side), dtype=np.float32) for i in indices}
        save_file(shard_tensors, folder / shard, metadata={"format": "pt"})
        weight_map.update({f"model.layers.{i}.mlp.w.grad": shard for i in indices})
    index = folder / "model.safetensors.index.json"
    total_size = tensors * side * side * 4
    index.write_text(json.dumps({"metadata": {"total_size": total_size}, "weight_map": weight_map}))
    return index


def write_optimizer_state(folder: Path, side: int, tensors: int) -> Path:
    """``torch.save(optimizer.state_dict())`` of AdamW over ``tensors // 2`` parameters."""
    import torch

    generator = torch.Generator().manual_seed(0)
    state = {i: {"step": torch.tensor(300.0),
                 "exp_avg": torch.randn(side, side, generator=generator),
                 "exp_avg_sq": torch.rand(side, side, generator=generator)}
             for i in range(tensors // 2)}
    groups = [{"lr": 1e-3, "betas": (0.9, 0.999), "params": list(range(tensors // 2))}]
    path = folder / "optimizer_step300.pt"
    torch.save({"state": state, "param_groups": groups}, path)
    return path


def _in_fresh_process(path) -> tuple[int, int, int, int]:
    command = [sys.executable, __file__, "--measure", str(path)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return tuple(int(v) for v in out.split())


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=positive_int, default=2048)
    parser.add_argument("--tensors", type=positive_int, default=8)
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child process: one path
    args = parser.parse_args()
    if args.measure:
        print(*measure(args.measure))
        return
    from matsign.recorder.zoo import ZOO

    cases = {f"zoo {member}": path for member, path in ZOO.items()}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, write in (("sharded", write_sharded), ("optimizer state", write_optimizer_state)):
            target = Path(folder) / name.replace(" ", "_")
            target.mkdir()
            path = write(target, args.side, args.tensors)
            size = sum(f.stat().st_size for f in target.iterdir())
            cases[f"{name}, {args.tensors} × {args.side}² float32, {size / MIB:.0f} MiB"] = path
        for name, path in cases.items():
            count, largest, peak, growth = _in_fresh_process(path)
            rows.append((name, count, largest / MIB, peak / MIB, peak / largest, growth / MIB))
    print("Reading every record of a dump in a fresh process, one record.load() at a time\n")
    header = ["dump", "records", "largest tensor (MiB)", "tracemalloc peak (MiB)", "peak / largest",
              "resident peak growth (MiB)"]
    print(table(header, rows, ["{}", "{}", "{:.3f}", "{:.3f}", "{:.2f}", "{:.1f}"]))


if __name__ == "__main__":
    main()

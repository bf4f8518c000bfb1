"""Reading a dump streams: iterating ``record.load()`` over a file of N equal tensors holds about
one of them at a time, whatever wrote the file (safetensors, a sharded checkpoint, ``np.savez``,
``np.save``, ``torch.save`` of a state dict or of an optimizer state), and the zoo reads the same
way. tracemalloc sees NumPy's buffers (NumPy reports them), so its peak bounds what the loader
holds; a loader that kept the file, or every tensor read so far, would peak near N tensors."""

from __future__ import annotations

import gc
import json
import tracemalloc

import numpy as np
import pytest

from matsign.io import load_gradients
from matsign.recorder.zoo import ZOO

N = 8
SHAPE = (512, 512)  # float64: 2 MiB a tensor, 16 MiB a file


def _tensors():
    return {f"blocks.{i}.mlp.w.grad": np.full(SHAPE, float(i)) for i in range(N)}


def _safetensors(tmp_path, tensors):
    from safetensors.numpy import save_file

    path = tmp_path / "gpt_step300_grad.safetensors"
    save_file(tensors, path)
    return path


def _sharded(tmp_path, tensors):
    from safetensors.numpy import save_file

    keys = list(tensors)
    half = N // 2
    shards = {"model-00001-of-00002.safetensors": keys[:half],
              "model-00002-of-00002.safetensors": keys[half:]}
    for shard, names in shards.items():
        save_file({k: tensors[k] for k in names}, tmp_path / shard, metadata={"format": "pt"})
    index = {"metadata": {"total_size": N * tensors[keys[0]].nbytes},
             "weight_map": {k: shard for shard, names in shards.items() for k in names}}
    path = tmp_path / "model.safetensors.index.json"
    path.write_text(json.dumps(index))
    return path


def _npz(tmp_path, tensors):
    path = tmp_path / "step300.npz"
    np.savez(path, **tensors)
    return path


def _npy(tmp_path, tensors):
    for key, a in tensors.items():
        np.save(tmp_path / f"{key}_step300.npy", a)
    return tmp_path


def _pt(tmp_path, tensors):
    torch = pytest.importorskip("torch")
    path = tmp_path / "grads_step300.pt"
    torch.save({k: torch.from_numpy(a) for k, a in tensors.items()}, path)
    return path


def _optimizer_state(tmp_path, tensors):
    """``torch.save(optimizer.state_dict())`` of AdamW over N/2 parameters: an exp_avg and an
    exp_avg_sq each."""
    torch = pytest.importorskip("torch")
    values = [torch.from_numpy(a) for a in tensors.values()]
    state = {
        i: {"step": torch.tensor(300.0), "exp_avg": values[2 * i], "exp_avg_sq": values[2 * i + 1]}
        for i in range(N // 2)
    }
    path = tmp_path / "optimizer.pt"
    groups = [{"lr": 1e-3, "params": list(range(N // 2))}]
    torch.save({"state": state, "param_groups": groups}, path)
    return path


WRITERS = {"safetensors": _safetensors, "sharded": _sharded, "npz": _npz, "npy": _npy, "pt": _pt,
           "optimizer_state": _optimizer_state}


def _loaded_sums_and_peak(path):
    """Sum of each tensor as iterated, and tracemalloc's peak over listing and loading them all."""
    tracemalloc.start()
    try:
        sums = sorted(float(r.load().sum()) for r in load_gradients(path))
        return sums, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("layout", WRITERS)
def test_iterating_the_records_holds_one_tensor_at_a_time(tmp_path, layout):
    tensors = _tensors()
    path = WRITERS[layout](tmp_path, tensors)
    one = tensors["blocks.0.mlp.w.grad"].nbytes
    del tensors
    sums, peak = _loaded_sums_and_peak(path)
    # Each tensor is full of its index, so the sums say every tensor came back, each once.
    assert sums == [i * float(np.prod(SHAPE)) for i in range(N)]
    assert one <= peak < 2.5 * one, (peak, one)  # N tensors held would be 8 × one


@pytest.mark.parametrize("member", sorted(ZOO))
def test_the_zoo_reads_one_tensor_at_a_time(member):
    """Every matrix of every step of a zoo member: the peak stays under 2.5 stored tensors.

    A kernel or a member of an expert stack is read by reading its stored tensor, so the unit
    is the largest stored tensor, not the largest matrix."""
    if member == "cnn":
        pytest.importorskip("torch")
    root = ZOO[member]
    records = list(load_gradients(root))
    largest = max(int(np.prod(r.stored_shape)) * np.dtype(r.dtype).itemsize for r in records)
    records[0].load()  # the first load imports what reading the format needs, once
    tracemalloc.start()
    try:
        for r in load_gradients(root):
            r.load()
            # torch.load defines an Unpickler class per call (~70 KiB of cyclic garbage after
            # a few files); collecting it leaves what the loader itself holds.
            gc.collect()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(records) >= 20
    assert peak < 2.5 * largest, (peak, largest)

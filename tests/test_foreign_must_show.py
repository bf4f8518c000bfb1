"""``matsign spectra PATH``, through the command-line entry, on each kind of file other tools
write — a nanoGPT-named safetensors file, an AdamW ``optimizer.state_dict()`` named by the model's
``state_dict()``, a sharded checkpoint with its index, an ``np.savez`` archive of an expert stack
and a convolution kernel, and ``np.save`` files named by state, parameter and step — each written
here by the tool that writes it in the wild, each in its own run.

For every input: every row's step, kind, name and matrix shape; every skipped tensor (1-D, 0-D,
integer, bool) counted in the printed summary line; the spectral norm in ``spectra.csv`` against
a float64 SVD of what was written; and each matrix read back bit for bit."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from matsign.cli import main
from matsign.io import load_gradients

pd = pytest.importorskip("pandas")
safetensors_numpy = pytest.importorskip("safetensors.numpy")


def _gpt(tmp_path, rng):
    """A nanoGPT training script's ``p.grad`` of every parameter, saved with safetensors."""
    written = {
        "h.0.c_fc.weight.grad": rng.standard_normal((16, 64)).astype(np.float32),
        "h.0.attn.c_attn.weight.grad": rng.standard_normal((48, 16)).astype(np.float32),
        "h.0.ln_1.weight.grad": rng.standard_normal(16).astype(np.float32),
        "h.0.ln_1.bias.grad": rng.standard_normal(16).astype(np.float32),
        "h.0.attn.bias": np.tril(np.ones((8, 8), dtype=np.uint8)),  # GPT-2's causal mask buffer
        "h.0.attn.pad_mask": np.ones((4, 8), dtype=bool),
        "loss_scale": np.array(1024.0, dtype=np.float32),
    }
    path = tmp_path / "gpt_stdlib_step300_grad.safetensors"
    safetensors_numpy.save_file(written, path)
    rows = {(key.removesuffix(".grad"), "grad"): (300, written[key], written[key].shape)
            for key in ("h.0.c_fc.weight.grad", "h.0.attn.c_attn.weight.grad")}
    skipped = {"vectors": 2, "scalars": 1, "integer tensors": 1, "bool tensors": 1}
    return path, [], rows, skipped, "step from names (2); kind inferred (2)"


def _adamw(tmp_path, rng):
    """``torch.save(optimizer.state_dict())`` of AdamW after one step of a conv + linear model,
    and the model's ``state_dict()`` for the names."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential()
    model.add_module("conv", torch.nn.Conv2d(3, 8, 5))
    model.add_module("flat", torch.nn.Flatten())
    model.add_module("fc", torch.nn.Linear(8 * 5 * 5, 10))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.from_numpy(rng.standard_normal((4, 3, 9, 9)).astype(np.float32))
    model(x).square().mean().backward()
    optimizer.step()
    path = tmp_path / "optimizer.pt"
    torch.save(optimizer.state_dict(), path)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    state = {name: optimizer.state[p] for name, p in model.named_parameters()}
    rows = {}
    for name in ("conv.weight", "fc.weight"):
        for kind, entry in (("momentum", "exp_avg"), ("second_moment", "exp_avg_sq")):
            a = state[name][entry].numpy().copy()
            rows[(name, kind)] = (1, a.reshape(a.shape[0], -1), a.shape)
    # The biases' exp_avg and exp_avg_sq: four vectors.
    return path, ["--names", str(tmp_path / "model.pt")], rows, {"vectors": 4}, \
        "step from optimizer states (4); kind inferred (4)"


def _sharded(tmp_path, rng):
    """Shards written by safetensors and the index as ``save_pretrained`` writes it, in a
    DeepSpeed-style step folder."""
    written = {
        "model.layers.0.mlp.up_proj.weight.grad": rng.standard_normal((24, 8)).astype(np.float32),
        "model.layers.0.input_layernorm.weight.grad": rng.standard_normal(8).astype(np.float32),
        "model.layers.0.mlp.experts_used.grad": np.arange(12, dtype=np.int64).reshape(3, 4),
        "model.layers.1.mlp.up_proj.weight.grad": rng.standard_normal((24, 8)).astype(np.float32),
        "lm_head.weight.grad": rng.standard_normal((32, 8)),
        "grad_norm.grad": np.array(0.5),
    }
    folder = tmp_path / "run" / "global_step500"
    folder.mkdir(parents=True)
    keys = list(written)
    shards = {"model-00001-of-00002.safetensors": keys[:3],
              "model-00002-of-00002.safetensors": keys[3:]}
    for shard, names in shards.items():
        safetensors_numpy.save_file({k: written[k] for k in names}, folder / shard,
                                    metadata={"format": "pt"})
    index = {"metadata": {"total_size": sum(a.nbytes for a in written.values())},
             "weight_map": {k: shard for shard, names in shards.items() for k in names}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    rows = {(key.removesuffix(".grad"), "grad"): (500, written[key], written[key].shape)
            for key in keys if written[key].ndim == 2 and written[key].dtype.kind == "f"}
    skipped = {"vectors": 1, "scalars": 1, "integer tensors": 1}
    return tmp_path / "run", [], rows, skipped, "step from names (3); kind inferred (3)"


def _npz(tmp_path, rng):
    """``np.savez`` of an expert stack (4, 16, 32), a convolution kernel (8, 3, 5, 5) and
    what sits beside them."""
    written = {
        "moe.experts.w1.grad": rng.standard_normal((4, 16, 32)).astype(np.float32),
        "conv1.weight.grad": rng.standard_normal((8, 3, 5, 5)),
        "conv1.bias.grad": rng.standard_normal(8),
        "loss_scale": np.float32(1024.0),
        "tokens_seen.grad": np.arange(10).reshape(2, 5),
        "dropout_mask.grad": rng.standard_normal((3, 3)) > 0,
    }
    path = tmp_path / "cnn_moe_step_000040.npz"
    np.savez(path, **written)
    stack, kernel = written["moe.experts.w1.grad"], written["conv1.weight.grad"]
    rows = {("conv1.weight", "grad"): (40, kernel.reshape(8, 75), kernel.shape)}
    rows.update({(f"moe.experts.w1[{e}]", "grad"): (40, stack[e], stack.shape) for e in range(4)})
    skipped = {"vectors": 1, "scalars": 1, "integer tensors": 1, "bool tensors": 1}
    return path, [], rows, skipped, "step from names (5); kind inferred (5)"


def _npy(tmp_path, rng):
    """``np.save`` of each optimizer state tensor, named by state, parameter and step."""
    rows = {}
    states = (("exp_avg", "momentum", np.float32), ("exp_avg_sq", "second_moment", np.float64))
    for state, kind, dtype in states:
        a = rng.standard_normal((12, 4)).astype(dtype)
        np.save(tmp_path / f"{state}_blocks.3.attn.qkv.weight_step200.npy", a)
        rows[("blocks.3.attn.qkv.weight", kind)] = (200, a, a.shape)
    np.save(tmp_path / "exp_avg_blocks.3.attn.qkv.bias_step200.npy", rng.standard_normal(12))
    return tmp_path, [], rows, {"vectors": 1}, "step from names (2); kind inferred (2)"


INPUTS = {"gpt_safetensors": _gpt, "adamw_state_dict": _adamw, "sharded_index": _sharded,
          "npz_stack_and_kernel": _npz, "npy_state_files": _npy}


def _skipped(summary: str) -> dict[str, int]:
    """``{"vectors": 2, "integer tensors": 1}`` from the summary line's ``skipped: …`` part."""
    counts = {}
    for part in summary.split("; skipped: ")[1].split(", "):
        n, reason = part.split(" ", 1)
        counts[reason if int(n) != 1 else reason + "s"] = int(n)  # "1 vector" → "vectors"
    return counts


def _shape_text(shape) -> str:
    return "x".join(map(str, shape))


@pytest.mark.parametrize("layout", INPUTS)
def test_matsign_spectra_on_a_foreign_input(layout, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    path, options, rows, skipped, provenance = INPUTS[layout](tmp_path / "in",
                                                              np.random.default_rng(0))
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # integer and bool tensors are skipped with a warning
        code = main(["spectra", str(path), "--out", str(out), "--figures",
                     str(tmp_path / "figures"), "--ranks", "1", "--no-progress", *options])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    (summary,) = [line for line in printed.out.splitlines() if " matrices" in line]
    assert summary.startswith(f"{len(rows)} matrices: {provenance}; skipped: "), summary
    assert _skipped(summary) == skipped, summary

    table = pd.read_csv(out / "spectra.csv")
    got = {(r.name, r.kind): (r.step, (r.m, r.n), r.stored_shape) for r in table.itertuples()}
    assert got == {key: (step, matrix.shape, _shape_text(stored))
                   for key, (step, matrix, stored) in rows.items()}
    for r in table.itertuples():
        expected = np.asarray(rows[(r.name, r.kind)][1], dtype=np.float64)
        # Both are float64 SVDs of the same entries: they agree to a few float64 ulps of σ₁.
        sigma1 = np.linalg.svd(expected, compute_uv=False)[0]
        assert r.spectral_norm == pytest.approx(sigma1, rel=1e-12)

    names = options[1] if options else None
    # The listing also holds the 2-D integer and bool tensors the spectra skip.
    records = [r for r in load_gradients(path, names=names)
               if r.dtype not in ("bool", "uint8", "int64")]
    assert sorted((r.name, r.kind) for r in records) == sorted(rows)
    for r in records:
        matrix = rows[(r.name, r.kind)][1]
        assert r.dtype == matrix.dtype.name and r.shape == matrix.shape
        assert r.load().tobytes() == np.ascontiguousarray(matrix).tobytes()  # bit for bit

"""Gradients from other tools: foreign names, optimizer state dicts, sharded checkpoints, kernels
and stacks, layouts — every file written here by the tool that writes it in the wild
(``safetensors.numpy.save_file``, ``torch.save(optimizer.state_dict())``, ``np.savez``/``np.save``),
every value compared bit for bit with what was written."""

from __future__ import annotations

import json
import os
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

from matsign.io import RECORDED_DUMP, DumpError, load_gradients
from matsign.io import formats

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def _rows(path, **kwargs):
    return {r.name: r for r in load_gradients(path, **kwargs)}


def _same_bits(got, expected):
    """Equal dtype, shape and bits (NaN-safe, -0.0 distinct from 0.0)."""
    expected = np.ascontiguousarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()


def _analysed(path, **kwargs):
    """The spectra table (by name) and the summary line ``matsign spectra`` prints for ``path``."""
    pytest.importorskip("pandas")
    from matsign.experiments.spectra import analyse_dump, loading_summary

    table, _ = analyse_dump(path, ranks=(1,), schedules=("muon",), progress=False, **kwargs)
    return table.set_index("name"), loading_summary(table)


# -- names of other tools ------------------------------------------------------------------------


@pytest.fixture
def gpt_file(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "h.0.c_fc.weight.grad": rng.standard_normal((16, 64)).astype(np.float32),
        "h.0.attn.c_attn.weight.grad": rng.standard_normal((16, 48)).astype(np.float32),
        "h.0.ln_1.weight.grad": rng.standard_normal(16).astype(np.float32),
        "h.0.ln_1.bias.grad": rng.standard_normal(16).astype(np.float32),
        "h.0.attn.bias": np.tril(np.ones((8, 8), dtype=np.uint8)),  # GPT-2's causal mask buffer
    }
    path = tmp_path / "gpt_stdlib_step300_grad.safetensors"
    safetensors_numpy.save_file(tensors, path)
    return path, tensors


def test_step_kind_and_name_come_from_file_and_key_names(gpt_file):
    path, tensors = gpt_file
    rows = _rows(path)
    assert set(rows) == {"h.0.c_fc.weight", "h.0.attn.c_attn.weight", "h.0.attn.bias"}
    for name in ("h.0.c_fc.weight", "h.0.attn.c_attn.weight"):
        r = rows[name]
        assert (r.step, r.kind, r.step_from, r.kind_from) == (300, "grad", "inferred", "inferred")
        assert r.key == f"{name}.grad" and r.shape == r.stored_shape == tensors[r.key].shape
        _same_bits(r.load(), tensors[r.key])
    # The mask's key names no kind; the file name does ("_grad").
    assert rows["h.0.attn.bias"].kind == "grad" and rows["h.0.attn.bias"].dtype == "uint8"


def test_spectra_reads_the_foreign_file_and_summarizes_it(gpt_file):
    path, tensors = gpt_file
    with pytest.warns(UserWarning, match=r"'h.0.attn.bias' is uint8, not floating point"):
        table, summary = _analysed(path)
    assert summary == "2 matrices: step from names (2); kind inferred (2); skipped: 2 vectors, 1 integer tensor"
    assert table.loc["h.0.c_fc.weight", ["kind", "step", "m", "n"]].tolist() == ["grad", 300, 16, 64]
    G = tensors["h.0.c_fc.weight.grad"].astype(np.float64)
    s = np.linalg.svd(G, compute_uv=False)
    # A float64 SVD of the same float32 data: σ agree to a few float64 ulps of σ₁.
    assert table.loc["h.0.c_fc.weight", "spectral_norm"] == pytest.approx(s[0], rel=1e-12)


@pytest.mark.parametrize(
    ("file", "key", "expected"),
    [
        ("run.safetensors", "grad_step_000040/blocks.0.w", ("blocks.0.w", "grad", 40)),
        ("checkpoint-000100.npz", "model.layers.0.mlp.w.momentum_buffer", ("model.layers.0.mlp.w", "momentum", 100)),
        ("opt_global_step100.npz", "exp_avg_sq.fc.weight", ("fc.weight", "second_moment", 100)),
        ("muon_state.npz", "blocks.1.attn.qkv.weight.m", ("blocks.1.attn.qkv.weight", "momentum", None)),
        ("step-000007.npz", "gradient/w", ("w", "grad", 7)),
        ("weights.npz", "h.0.c_proj.weight", ("h.0.c_proj.weight", "unknown", None)),
        ("ckpt-250.npz", "w", ("w", "unknown", 250)),
        ("gpt-2.npz", "w.grad", ("w", "grad", None)),  # a model's name, not a step
        ("run-2024.npz", "w.grad", ("w", "grad", None)),
    ],
)
def test_inference_of_step_kind_and_name(tmp_path, file, key, expected):
    a = np.arange(6.0).reshape(2, 3)
    if file.endswith(".npz"):
        np.savez(tmp_path / file, **{key: a})
    else:
        safetensors_numpy.save_file({key: a}, tmp_path / file)
    (r,) = load_gradients(tmp_path)
    assert (r.name, r.kind, r.step) == expected
    assert r.kind_from == ("none" if expected[1] == "unknown" else "inferred")
    assert r.step_from == ("none" if expected[2] is None else "inferred")
    _same_bits(r.load(), a)


def test_npy_files_named_by_state_parameter_and_step(tmp_path):
    rng = np.random.default_rng(1)
    written = {}
    for step in (100, 200):
        a = rng.standard_normal((12, 4)).astype(np.float32)
        np.save(tmp_path / f"exp_avg_blocks.3.attn.qkv.weight_step{step}.npy", a)
        written[step] = a
    np.save(tmp_path / "exp_avg_sq_blocks.3.attn.qkv.weight_step200.npy", np.ones((12, 4)))
    records = sorted(load_gradients(tmp_path), key=lambda r: (r.kind, r.step))
    assert [(r.name, r.kind, r.step, r.shape) for r in records] == [
        ("blocks.3.attn.qkv.weight", "momentum", 100, (12, 4)),
        ("blocks.3.attn.qkv.weight", "momentum", 200, (12, 4)),
        ("blocks.3.attn.qkv.weight", "second_moment", 200, (12, 4)),
    ]
    for r in records[:2]:
        _same_bits(r.load(), written[r.step])
    table, summary = _analysed(tmp_path, kind="momentum")
    assert summary == "2 matrices: step from names (2); kind inferred (2); skipped: nothing"
    assert table["step"].tolist() == [100, 200]


# -- kernels and stacks --------------------------------------------------------------------------


@pytest.fixture
def npz_file(tmp_path):
    rng = np.random.default_rng(2)
    tensors = {
        "moe.experts.w1.grad": rng.standard_normal((4, 16, 32)).astype(np.float32),
        "conv1.weight.grad": rng.standard_normal((8, 3, 5, 5)),
        "conv1.bias.grad": rng.standard_normal(8),
        "loss_scale": np.float32(1024.0),
        "tokens_seen.grad": np.arange(10),
    }
    path = tmp_path / "cnn_moe_step_000040.npz"
    np.savez(path, **tensors)
    return path, tensors


def test_kernels_and_stacks_become_matrices(npz_file):
    path, tensors = npz_file
    listing = load_gradients(path)
    rows = {r.name: r for r in listing}
    assert dict(listing.skipped) == {"vectors": 2, "scalars": 1}
    kernel = tensors["conv1.weight.grad"]
    r = rows["conv1.weight"]
    assert (r.shape, r.stored_shape, r.member, r.conv, r.step, r.kind) == ((8, 75), (8, 3, 5, 5), None, "out", 40, "grad")
    _same_bits(r.load(), kernel.reshape(8, 75))
    stack = tensors["moe.experts.w1.grad"]
    for e in range(4):
        member = rows[f"moe.experts.w1[{e}]"]
        assert (member.shape, member.stored_shape, member.member) == ((16, 32), (4, 16, 32), (e,))
        _same_bits(member.load(), stack[e])
    table, summary = _analysed(path)
    assert summary == "5 matrices: step from names (5); kind inferred (5); skipped: 2 vectors, 1 scalar"
    assert table.loc["conv1.weight", ["m", "n", "stored_shape"]].tolist() == [8, 75, "8x3x5x5"]
    assert table.loc["moe.experts.w1[2]", ["m", "n", "stored_shape"]].tolist() == [16, 32, "4x16x32"]


def test_kernel_conventions(npz_file):
    path, tensors = npz_file
    kernel = tensors["conv1.weight.grad"]
    by_in = _rows(path, conv="in")["conv1.weight"]
    assert by_in.shape == (3, 200)
    _same_bits(by_in.load(), kernel.transpose(1, 0, 2, 3).reshape(3, 200))
    spatial = {n: r for n, r in _rows(path, conv="spatial").items() if n.startswith("conv1")}
    assert len(spatial) == 25
    _same_bits(spatial["conv1.weight[4,1]"].load(), kernel[:, :, 4, 1])
    with pytest.raises(ValueError, match="conv must be one of"):
        load_gradients(path, conv="rows")


# -- optimizer state dicts -----------------------------------------------------------------------


def _model(torch):
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential()
    model.add_module("conv", nn.Conv2d(3, 8, 5))
    model.add_module("bn", nn.BatchNorm2d(8))
    model.add_module("unused", nn.Linear(4, 4))  # no gradient: no optimizer state
    model.add_module("flat", nn.Flatten())
    model.add_module("fc", nn.Linear(8 * 5 * 5, 10))
    return model


def _forward(model, x):
    h = model.bn(model.conv(x))
    return model.fc(model.flat(h))


def _train(torch, model, opt, steps=2):
    x = torch.randn(4, 3, 9, 9, generator=torch.Generator().manual_seed(1))
    for _ in range(steps):
        opt.zero_grad()
        _forward(model, x).square().mean().backward()
        opt.step()


@pytest.fixture
def adamw_state(tmp_path):
    torch = pytest.importorskip("torch")
    model = _model(torch)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    _train(torch, model, opt)
    path = tmp_path / "optimizer.pt"
    torch.save(opt.state_dict(), path)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    names = [name for name, _ in model.named_parameters()]
    states = {name: opt.state[p] for name, p in model.named_parameters() if p in opt.state}
    return path, names, states


def test_adamw_state_dict_with_names_from_the_model_state_dict(adamw_state, tmp_path):
    path, names, states = adamw_state
    listing = load_gradients(path, names=tmp_path / "model.pt")
    rows = {(r.name, r.kind): r for r in listing}
    assert set(rows) == {(n, k) for n in ("conv.weight", "fc.weight") for k in ("momentum", "second_moment")}
    assert dict(listing.skipped) == {"vectors": 8}  # exp_avg and exp_avg_sq of 4 biases and BN scales
    for (name, kind), r in rows.items():
        entry = "exp_avg" if kind == "momentum" else "exp_avg_sq"
        assert (r.step, r.step_from, r.kind_from) == (2, "state", "inferred")
        expected = states[name][entry].numpy()
        assert r.stored_shape == expected.shape
        _same_bits(r.load(), expected.reshape(expected.shape[0], -1))
    assert rows[("conv.weight", "momentum")].shape == (8, 75)
    # The same names as a list, and as a text file, one a line.
    (tmp_path / "names.txt").write_text("\n".join(names) + "\n")
    for given in (names, tmp_path / "names.txt"):
        assert {(r.name, r.kind) for r in load_gradients(path, names=given)} == set(rows)
    table, summary = _analysed(path, names=tmp_path / "model.pt")
    assert summary == "4 matrices: step from optimizer states (4); kind inferred (4); skipped: 8 vectors"
    assert table.loc["conv.weight", ["m", "n", "stored_shape"]].drop_duplicates().values.tolist() == [[8, 75, "8x3x5x5"]]


def test_optimizer_state_rows_without_names_are_the_state_indices(adamw_state):
    path, names, _ = adamw_state
    # named_parameters: conv.weight 0, conv.bias 1, bn.weight 2, bn.bias 3, unused.* 4-5, fc.weight 6.
    assert {r.name for r in load_gradients(path)} == {str(names.index("conv.weight")), str(names.index("fc.weight"))}


def test_names_that_do_not_fit_the_optimizer_are_refused(adamw_state, tmp_path):
    path, names, _ = adamw_state
    with pytest.raises(DumpError, match=r"optimizer\.pt: the optimizer has 8 parameters but names names 7"):
        list(load_gradients(path, names=names[:-1]))
    swapped = [names[6], *names[1:6], names[0], names[7]]
    (tmp_path / "swapped.json").write_text(json.dumps(swapped))
    # A list is taken as given; a model state dict carries shapes, and a wrong order is caught.
    assert {r.name for r in load_gradients(path, names=tmp_path / "swapped.json")} == {"conv.weight", "fc.weight"}
    torch = pytest.importorskip("torch")
    model = torch.load(tmp_path / "model.pt", weights_only=True)
    torch.save({key: model[key] for key in [*swapped[:6], *list(model)[4:7], *swapped[6:]]}, tmp_path / "swapped.pt")
    with pytest.raises(DumpError, match=r"optimizer\.pt: state 'state/0/exp_avg' has shape \(8, 3, 5, 5\) but "
                                        r".*swapped\.pt gives 'fc\.weight' shape \(10, 200\); the names are not"):
        list(load_gradients(path, names=tmp_path / "swapped.pt"))
    with pytest.raises(DumpError, match="is an optimizer state dict; names come from a model's state_dict"):
        load_gradients(path, names=path)


@pytest.mark.parametrize("optimizer", ["sgd", "muon"])
def test_sgd_and_muon_momentum_buffers(tmp_path, optimizer):
    torch = pytest.importorskip("torch")
    model = _model(torch)
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
        names = [name for name, _ in model.named_parameters()]
    else:
        if not hasattr(torch.optim, "Muon"):
            pytest.skip("this torch has no torch.optim.Muon")
        opt = torch.optim.Muon([model.fc.weight], lr=1e-2)  # Muon takes 2-D parameters only
        names = ["fc.weight"]
    _train(torch, model, opt)
    torch.save(opt.state_dict(), tmp_path / f"{optimizer}.pt")
    rows = _rows(tmp_path / f"{optimizer}.pt", names=names)
    assert set(rows) == ({"conv.weight", "fc.weight"} if optimizer == "sgd" else {"fc.weight"})
    for name, r in rows.items():
        expected = opt.state[dict(model.named_parameters())[name]]["momentum_buffer"].numpy()
        assert (r.kind, r.step, r.step_from) == ("momentum", None, "none")
        _same_bits(r.load(), expected.reshape(expected.shape[0], -1))


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"state": [], "param_groups": [{"params": [0]}]}, "'state' is a list, not a dict"),
        ({"state": {}, "param_groups": {"params": [0]}}, "'param_groups' must be a list"),
        ({"state": {3: {"exp_avg": "x"}}, "param_groups": [{"params": [3]}]}, "entry 'exp_avg' is a str"),
        ({"state": {5: {}}, "param_groups": [{"params": [0]}]}, "index 5 is not among"),
        ({"state": {0: {"step": -1.0}}, "param_groups": [{"params": [0]}]}, "'step' is -1.0"),
    ],
)
def test_optimizer_states_of_unexpected_structure_are_refused(tmp_path, state, message):
    torch = pytest.importorskip("torch")
    path = tmp_path / "opt.pt"
    torch.save(state, path)
    with pytest.raises(DumpError, match=rf"opt\.pt: .*{message}"):
        list(load_gradients(path))
    with pytest.warns(UserWarning, match="opt.pt"):
        assert list(load_gradients(tmp_path, skip_bad=True)) == []


# -- sharded checkpoints -------------------------------------------------------------------------


def _sharded(folder: Path, tensors: dict, shards: dict) -> Path:
    """Shards written by safetensors, the index as ``save_pretrained`` writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    weight_map = {}
    for shard, keys in shards.items():
        safetensors_numpy.save_file({k: tensors[k] for k in keys}, folder / shard, metadata={"format": "np"})
        weight_map.update(dict.fromkeys(keys, shard))
    index = {"metadata": {"total_size": sum(a.nbytes for a in tensors.values())}, "weight_map": weight_map}
    path = folder / "model.safetensors.index.json"
    path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return path


@pytest.fixture
def sharded(tmp_path):
    rng = np.random.default_rng(3)
    tensors = {
        "model.layers.0.mlp.up_proj.weight": rng.standard_normal((24, 8)).astype(np.float32),
        "model.layers.0.input_layernorm.weight": np.ones(8, dtype=np.float32),
        "model.layers.1.mlp.up_proj.weight": rng.standard_normal((24, 8)).astype(np.float32),
        "lm_head.weight": rng.standard_normal((32, 8)).astype(np.float32),
    }
    shards = {
        "model-00001-of-00002.safetensors": list(tensors)[:2],
        "model-00002-of-00002.safetensors": list(tensors)[2:],
    }
    return _sharded(tmp_path / "run" / "checkpoint-500", tensors, shards), tensors


def test_a_sharded_checkpoint_is_read_through_its_index_each_tensor_once(sharded):
    index, tensors = sharded
    # Folder names below the path given carry steps: the run's folder does, the index alone does not.
    for path, step in ((index, None), (index.parent.parent, 500)):
        listing = load_gradients(path)
        records = list(listing)
        assert sorted(r.key for r in records) == sorted(k for k, a in tensors.items() if a.ndim == 2)
        assert dict(listing.skipped) == {"vectors": 1}
        for r in records:
            assert (r.step, r.kind, r.name) == (step, "unknown", r.key)
            assert r.path.name == ("model-00001-of-00002.safetensors" if "layers.0" in r.key
                                   else "model-00002-of-00002.safetensors")
            _same_bits(r.load(), tensors[r.key])
    table, summary = _analysed(index.parent.parent, kind="unknown")
    assert summary == "3 matrices: step from names (3); kind unknown (3); skipped: 1 vector"
    assert table.loc["lm_head.weight", ["m", "n", "step"]].tolist() == [32, 8, 500]


@pytest.mark.parametrize(
    ("shard", "message"),
    [
        ("../outside.safetensors", "is not a file name inside the index's folder"),
        ("/tmp/outside.safetensors", "is not a file name inside the index's folder"),
        ("model-00003-of-00002.safetensors", "is missing"),
        ("notes.txt", "is not a .safetensors file"),
    ],
)
def test_bad_shard_names_are_refused_naming_the_index(sharded, shard, message):
    index, _ = sharded
    safetensors_numpy.save_file({"w": np.eye(2)}, index.parent.parent / "outside.safetensors")
    (index.parent / "notes.txt").write_text("x")
    data = json.loads(index.read_text())
    data["weight_map"]["lm_head.weight"] = shard
    index.write_text(json.dumps(data))
    with pytest.raises(DumpError, match=rf"model\.safetensors\.index\.json: shard .*{message}"):
        list(load_gradients(index.parent))
    with pytest.warns(UserWarning, match="index.json"):
        skipped = list(load_gradients(index.parent, skip_bad=True))
    # The index is skipped; its shards are then read as plain files.
    assert len(skipped) == 3


def test_a_link_out_of_the_index_folder_is_refused(sharded, tmp_path):
    index, _ = sharded
    outside = tmp_path / "secret.safetensors"
    safetensors_numpy.save_file({"w": np.eye(2)}, outside)
    (index.parent / "link.safetensors").symlink_to(outside)
    data = json.loads(index.read_text())
    data["weight_map"]["w"] = "link.safetensors"
    index.write_text(json.dumps(data))
    with pytest.raises(DumpError, match="leads outside the index's folder"):
        list(load_gradients(index))


@pytest.mark.parametrize(
    ("text", "message"),
    [("{", "index is not valid JSON"), ('{"weight_map": []}', "index needs a 'weight_map' object"),
     ('{"weight_map": {"w": 3}}', "index needs a 'weight_map' object")],
)
def test_bad_indexes_are_refused(tmp_path, text, message):
    (tmp_path / "model.safetensors.index.json").write_text(text)
    with pytest.raises(DumpError, match=rf"model\.safetensors\.index\.json: {message}"):
        list(load_gradients(tmp_path))


def test_an_index_naming_a_key_its_shard_lacks_is_refused(sharded):
    index, _ = sharded
    data = json.loads(index.read_text())
    data["weight_map"]["ghost.weight"] = "model-00001-of-00002.safetensors"
    index.write_text(json.dumps(data))
    with pytest.raises(DumpError, match=r"index\.json: tensor 'ghost\.weight' is not in its shard"):
        list(load_gradients(index))


# -- layouts -------------------------------------------------------------------------------------


LAYOUT_TOML = r"""
[[rules]]
key = 'opt\.(?P<name>.+)\.v'
kind = "second_moment"

[[rules]]
key = 'opt\.(?P<name>.+)\.mu'
kind = "momentum"

[[rules]]
file = 'run7/.*'
step = 700
"""


def test_a_layout_sets_what_names_do_not_say(tmp_path):
    rng = np.random.default_rng(4)
    tensors = {"opt.fc.weight.v": rng.random((5, 3)), "opt.fc.weight.mu": rng.standard_normal((5, 3)),
               "other.weight": rng.standard_normal((2, 2))}
    (tmp_path / "dump" / "run7").mkdir(parents=True)
    np.savez(tmp_path / "dump" / "run7" / "state.npz", **tensors)
    (tmp_path / "layout.toml").write_text(LAYOUT_TOML)
    (tmp_path / "layout.json").write_text(json.dumps(
        {"rules": [{"key": r"opt\.(?P<name>.+)\.v", "kind": "second_moment"},
                   {"key": r"opt\.(?P<name>.+)\.mu", "kind": "momentum"}, {"file": "run7/.*", "step": 700}]}
    ))
    for layout in ("layout.toml", "layout.json"):
        rows = {(r.name, r.kind): r for r in load_gradients(tmp_path / "dump", layout=tmp_path / layout)}
        assert set(rows) == {("fc.weight", "second_moment"), ("fc.weight", "momentum"), ("other.weight", "unknown")}
        for r in rows.values():
            assert (r.step, r.step_from) == (700, "layout")
            assert r.kind_from == ("none" if r.kind == "unknown" else "layout")
            _same_bits(r.load(), tensors[r.key])
    _, summary = _analysed(tmp_path / "dump", layout=tmp_path / "layout.toml")
    assert summary == "3 matrices: step from the layout (3); kind from the layout (2) / unknown (1); skipped: nothing"


def test_the_manifest_still_wins_over_a_layout(tmp_path):
    from matsign.io import write_manifest, write_step

    write_step(tmp_path, 3, {"grad/w": np.eye(2)})
    write_manifest(tmp_path, {"files": {"step-000003.safetensors": {"kind": "momentum"}}})
    layout = {"rules": [{"key": ".*", "kind": "second_moment", "step": 9}]}
    (r,) = load_gradients(tmp_path, layout=layout)
    assert (r.kind, r.kind_from, r.step, r.step_from) == ("momentum", "manifest", 9, "layout")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.toml", "[[rules]\nkey = 1", "layout file is not valid TOML"),
        ("bad.json", "{", "layout file is not valid JSON"),
        ("bad.json", '{"rules": [{"kind": "grad"}]}', "rule 1 needs a 'key' or 'file' pattern"),
        ("bad.json", '{"rules": [{"key": "(", "kind": "grad"}]}', "'key' is not a regular expression"),
        ("bad.json", '{"rules": [{"key": "w", "kind": "weights"}]}', "kind must be one of"),
        ("bad.json", '{"rules": [{"key": "w", "step": -2}]}', "step must be an integer >= 0"),
        ("bad.json", '{"rules": [{"key": "w", "shape": 2}]}', "unknown fields"),
        ("bad.json", '{"layout": []}', "exactly one entry, 'rules'"),
        ("bad.yaml", "rules: []", "a layout file is .toml or .json"),
    ],
)
def test_bad_layout_files_are_named(tmp_path, name, text, message):
    np.save(tmp_path / "w.npy", np.eye(2))
    (tmp_path / name).write_text(text)
    with pytest.raises(DumpError, match=rf"{name}: .*{message}"):
        load_gradients(tmp_path / "w.npy", layout=tmp_path / name)


# -- the project's own dumps, reading once, memory -----------------------------------------------


def test_the_shipped_dump_reads_as_the_manifest_describes_it():
    manifest = json.loads((RECORDED_DUMP / "manifest.json").read_text())
    records = list(load_gradients(RECORDED_DUMP))
    shapes = {layer["name"]: tuple(layer["shape"]) for layer in manifest["layers"]}
    expected = {(kind, name, step) for kind in manifest["kinds"] for name in shapes for step in manifest["dump_steps"]}
    assert {(r.kind, r.name, r.step) for r in records} == expected
    for r in records:
        assert r.shape == shapes[r.name] and r.dtype == "float32"  # a momentum has its parameter's shape
        assert r.key == f"{r.kind}/{r.name}" and r.path.name == f"step-{r.step:06d}.safetensors"
        assert (r.shape, r.member, r.conv, r.step_from, r.kind_from) == (r.stored_shape, None, None, "inferred", "inferred")


def test_reading_every_tensor_of_a_file_parses_its_header_once(tmp_path, monkeypatch):
    tensors = {f"blocks.{i}.w": np.full((4, 3), i, dtype=np.float32) for i in range(8)}
    safetensors_numpy.save_file(tensors, tmp_path / "step300.safetensors")
    calls = []
    parse = formats._safetensors_header
    monkeypatch.setattr(formats, "_safetensors_header", lambda path, f: calls.append(path) or parse(path, f))
    formats._HEADERS.clear()
    for r in load_gradients(tmp_path):
        _same_bits(r.load(), tensors[r.key])
    assert len(calls) == 1
    # A rewritten file is parsed again: the cache checks the file's identity, not only its name.
    safetensors_numpy.save_file({"blocks.0.w": np.zeros((2, 2), dtype=np.float32)}, tmp_path / "step300.safetensors")
    (r,) = load_gradients(tmp_path)
    _same_bits(r.load(), np.zeros((2, 2), dtype=np.float32))
    assert len(calls) == 2


def test_loading_a_multi_tensor_file_holds_one_tensor_at_a_time(tmp_path):
    """tracemalloc's peak while reading 8 tensors of 2 MiB (a 16 MiB file) one after the other."""
    tensors = {f"blocks.{i}.w": np.full((512, 512), i, dtype=np.float64) for i in range(8)}
    path = tmp_path / "gpt_step300_grad.safetensors"
    safetensors_numpy.save_file(tensors, path)
    one = tensors["blocks.0.w"].nbytes
    assert path.stat().st_size > 7 * one
    del tensors
    tracemalloc.start()
    try:
        sums = [float(r.load().sum()) for r in load_gradients(path)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sums == [i * 512.0 * 512.0 for i in range(8)]
    assert one <= peak < 1.5 * one, (peak, one)  # one tensor and change, not the file's 8


class _Boom:
    """Unpickling this would run a command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_state_dict_is_never_unpickled(tmp_path):
    """A state dict carrying an arbitrary object fails weights_only and is not executed."""
    torch = pytest.importorskip("torch")
    marker = tmp_path / "ran"
    torch.save({"state": {0: {"exp_avg": _Boom(marker)}}, "param_groups": [{"params": [0]}]}, tmp_path / "evil.pt")
    with pytest.raises(DumpError, match="needs pickle beyond weights_only=True; refused"):
        list(load_gradients(tmp_path / "evil.pt"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert list(load_gradients(tmp_path, skip_bad=True)) == []
    assert not marker.exists()


# -- matsign spectra on every layout at once -----------------------------------------------------


def test_matsign_spectra_on_every_layout(gpt_file, npz_file, adamw_state, sharded, tmp_path, capsys):
    """One run over a folder of all the layouts above: rows, steps, kinds, shapes and the summary."""
    pd = pytest.importorskip("pandas")

    from matsign.cli import main

    root = tmp_path / "all"
    root.mkdir()
    for path in (gpt_file[0], npz_file[0], adamw_state[0]):
        path.rename(root / path.name)
    sharded[0].parent.rename(root / "checkpoint-500")
    np.save(root / "exp_avg_blocks.3.attn.qkv.weight_step200.npy", np.ones((12, 4), dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the uint8 mask is skipped with a warning
        code = main(["spectra", str(root), "--out", str(tmp_path / "out"), "--figures", str(tmp_path / "figs"),
                     "--names", str(tmp_path / "model.pt"), "--ranks", "1", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert ("15 matrices: step from optimizer states (4) / from names (11); kind inferred (12) / unknown (3); "
            "skipped: 13 vectors, 1 scalar, 1 integer tensor") in out
    table = pd.read_csv(tmp_path / "out" / "spectra.csv")
    got = {(r.name, r.kind, r.step if not pd.isna(r.step) else None, r.m, r.n) for r in table.itertuples()}
    assert got == {
        ("h.0.c_fc.weight", "grad", 300, 16, 64), ("h.0.attn.c_attn.weight", "grad", 300, 16, 48),
        ("conv1.weight", "grad", 40, 8, 75), *{(f"moe.experts.w1[{e}]", "grad", 40, 16, 32) for e in range(4)},
        ("conv.weight", "momentum", 2, 8, 75), ("conv.weight", "second_moment", 2, 8, 75),
        ("fc.weight", "momentum", 2, 10, 200), ("fc.weight", "second_moment", 2, 10, 200),
        ("model.layers.0.mlp.up_proj.weight", "unknown", 500, 24, 8),
        ("model.layers.1.mlp.up_proj.weight", "unknown", 500, 24, 8), ("lm_head.weight", "unknown", 500, 32, 8),
        ("blocks.3.attn.qkv.weight", "momentum", 200, 12, 4),
    }

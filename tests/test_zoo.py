"""The gradient zoo: the CNN's PyTorch checkpoints, the mixture of experts' sharded safetensors and
the GPT's foreign layout, read back with torch.load / safetensors themselves; the shipped members
regenerate from their documented commands (the first dump to rounding, every byte on one machine)."""

from __future__ import annotations

import argparse
import json
import re

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
safetensors = pytest.importorskip("safetensors")

from safetensors import safe_open  # noqa: E402

from matsign.cli.record import add_record_arguments, record_command  # noqa: E402
from matsign.io import RECORDED_DUMP  # noqa: E402
from matsign.recorder.cnn import CNN_LR, DigitsCNN, record_cnn  # noqa: E402
from matsign.recorder.foreign import INDEX, nanogpt_name, save_sharded  # noqa: E402
from matsign.recorder.model import GPT, GPTConfig  # noqa: E402
from matsign.recorder.moe import MoE, MoEConfig, record_moe  # noqa: E402
from matsign.recorder.recording import derived_seeds, record  # noqa: E402
from matsign.recorder.zoo import RECORDED_WITH, ZOO, ZOO_COMMANDS, ZOO_DIR  # noqa: E402

TINY_GPT = {"width": 32, "depth": 1, "heads": 2, "context": 32, "batch": 4}


def _bits(t):
    """The stored bits of a float32 tensor as int32 (exact comparison)."""
    assert t.dtype == torch.float32
    return t.detach().contiguous().view(torch.int32)


def _same_bits(a, b):
    return a.shape == b.shape and torch.equal(_bits(a), _bits(b))


class GradCapture:
    """An ``after_backward`` hook keeping a copy of every ``p.grad`` at chosen steps."""

    def __init__(self, model_of, steps):
        self.model_of, self.steps, self.grads = model_of, set(steps), {}

    def __call__(self, state):
        if state.step in self.steps:
            self.grads[state.step] = {n: p.grad.clone() for n, p in self.model_of(state).named_parameters()}


# -- cnn: torch.save(optimizer.state_dict()) -----------------------------------------------------


def test_cnn_checkpoints_are_what_adamw_and_torch_save_write(tmp_path):
    capture = GradCapture(lambda s: s.model, (1, 3))
    out = record_cnn(tmp_path, batch=8, steps=3, dump_steps=(3, 1), progress=False, after_backward=capture)
    assert sorted(p.name for p in out.iterdir()) == [
        f"cnn_{what}_step{t:06d}.pt" for what in ("grad", "model", "optimizer") for t in (1, 3)]
    names = [n for n, _ in DigitsCNN().named_parameters()]
    # The oracle of the structure: a state dict AdamW itself writes for a fresh model after one step.
    fresh = DigitsCNN()
    reference = torch.optim.AdamW(fresh.parameters(), lr=CNN_LR)
    for p in fresh.parameters():
        p.grad = torch.ones_like(p)
    reference.step()
    reference = reference.state_dict()
    for t in (1, 3):
        saved = torch.load(out / f"cnn_optimizer_step{t:06d}.pt", weights_only=True)
        weights = torch.load(out / f"cnn_model_step{t:06d}.pt", weights_only=True)
        grads = torch.load(out / f"cnn_grad_step{t:06d}.pt", weights_only=True)
        assert saved["param_groups"] == reference["param_groups"]
        assert list(saved["state"]) == list(reference["state"]) == list(range(len(names)))
        assert list(weights) == list(grads) == names  # the numbers 0, 1, … name these, in this order
        for i, name in enumerate(names):
            state, ref = saved["state"][i], reference["state"][i]
            assert list(state) == list(ref) == ["step", "exp_avg", "exp_avg_sq"]
            assert {k: (v.shape, v.dtype) for k, v in state.items()} == {k: (v.shape, v.dtype) for k, v in ref.items()}
            assert state["step"].item() == t and state["exp_avg"].shape == weights[name].shape
            assert _same_bits(grads[name], capture.grads[t][name])
        assert weights["conv2.weight"].shape == (16, 8, 3, 3)
    # After step 1 AdamW's moments are (1 − β₁)·G₁ and (1 − β₂)·G₁², and the weights moved by
    # −lr·(λ·W₀ + G₁/(|G₁| + ε)) (bias-corrected moments: m̂ = G₁, v̂ = G₁²); rtol 1e-6 covers float32 rounding.
    saved = torch.load(out / "cnn_optimizer_step000001.pt", weights_only=True)
    weights = torch.load(out / "cnn_model_step000001.pt", weights_only=True)
    initial = DigitsCNN(generator=torch.Generator().manual_seed(derived_seeds(0)[0])).state_dict()
    for i, name in enumerate(names):
        g = capture.grads[1][name].double()
        torch.testing.assert_close(saved["state"][i]["exp_avg"].double(), 0.1 * g, rtol=1e-6, atol=0)
        torch.testing.assert_close(saved["state"][i]["exp_avg_sq"].double(), 0.001 * g**2, rtol=1e-5, atol=0)
        w0 = initial[name].double()
        expected = w0 * (1 - CNN_LR * 0.01) - CNN_LR * g / (g.abs() + 1e-8)
        torch.testing.assert_close(weights[name].double(), expected, rtol=1e-6, atol=1e-9)


# -- moe: sharded safetensors with an index ------------------------------------------------------


def test_moe_checkpoint_is_a_sharded_safetensors_checkpoint_of_every_gradient(tmp_path):
    config = MoEConfig(context=8, embedding=4, width=16, hidden=24, depth=2, experts=4, top_k=2)
    capture = GradCapture(lambda s: s.model, (2,))
    out = record_moe(tmp_path, config=config, batch=8, steps=2, dump_steps=(2,), max_shard_bytes=8_000,
                     progress=False, after_backward=capture)
    step = out / "global_step2"
    assert [p.name for p in out.iterdir()] == ["global_step2"]
    index = json.loads((step / INDEX).read_text())
    assert set(index) == {"metadata", "weight_map"}
    shards = sorted(p.name for p in step.glob("*.safetensors"))
    assert len(shards) > 1 and shards == [f"model-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)]
    expected = {f"{n}.grad": g for n, g in capture.grads[2].items()}
    assert set(index["weight_map"]) == set(expected) and set(index["weight_map"].values()) == set(shards)
    assert index["metadata"]["total_size"] == sum(g.numel() * 4 for g in expected.values())
    for shard in shards:
        with safe_open(step / shard, "pt") as f:
            assert f.metadata() == {"format": "pt"}
            assert set(f.keys()) == {k for k, v in index["weight_map"].items() if v == shard}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        size = sum(t.numel() * 4 for t in tensors.values())
        assert size <= 8_000 or len(tensors) == 1
        for key, t in tensors.items():
            assert t.dtype == torch.float32 and _same_bits(t, expected[key]), key
    with safe_open(step / index["weight_map"]["model.layers.1.mlp.experts.w1.grad"], "pt") as f:
        assert f.get_slice("model.layers.1.mlp.experts.w1.grad").get_shape() == [4, 24, 16]


def test_moe_unchosen_experts_get_exactly_zero_gradient():
    model = MoE(MoEConfig(context=8, width=16, hidden=24, experts=4, top_k=1, depth=1),
                generator=torch.Generator().manual_seed(0))
    x = torch.randint(256, (1, 8), generator=torch.Generator().manual_seed(1))
    model(x, x).backward()
    chosen = model.model.layers[0].mlp.router(model.model.layers[0].norm(model.model.in_proj(
        model.model.embed_tokens(x).flatten(1)))).argmax().item()
    grad = model.model.layers[0].mlp.experts.w1.grad
    for e in range(4):
        assert bool((grad[e] == 0).all()) == (e != chosen)


def test_save_sharded_writes_one_file_without_index_when_it_fits(tmp_path):
    save_sharded(tmp_path, {"a": torch.ones(3), "b": torch.zeros(2, 2)}, max_shard_bytes=1000)
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        assert list(f.keys()) == ["a", "b"] and torch.equal(f.get_tensor("b"), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="max_shard_bytes"):
        save_sharded(tmp_path, {}, max_shard_bytes=0)


# -- gpt: the foreign layout, and the default layout unchanged -----------------------------------


def test_gpt_foreign_layout_holds_every_gradient_under_nanogpt_names(tmp_path):
    capture = GradCapture(lambda s: s.model, (1, 3))
    out = record(tmp_path, **TINY_GPT, steps=3, dump_steps=(1, 3), layout="foreign", progress=False,
                 after_backward=capture)
    assert sorted(p.name for p in out.iterdir()) == ["gpt_stdlib_step1_grad.safetensors",
                                                     "gpt_stdlib_step3_grad.safetensors"]
    names = [n for n, _ in GPT(GPTConfig(width=32, depth=1, heads=2, context=32)).named_parameters()]
    expected_keys = {"transformer.wte.weight.grad", "transformer.wpe.weight.grad", "transformer.ln_f.weight.grad",
                     "transformer.ln_f.bias.grad", "lm_head.weight.grad"} | {
        f"transformer.h.0.{m}.grad" for m in ("ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias",
                                              "attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight",
                                              "mlp.c_proj.weight")}
    for t in (1, 3):
        with safe_open(out / f"gpt_stdlib_step{t}_grad.safetensors", "pt") as f:
            assert f.metadata() == {"format": "pt"} and set(f.keys()) == expected_keys
            for name in names:
                assert _same_bits(f.get_tensor(f"{nanogpt_name(name)}.grad"), capture.grads[t][name]), (t, name)
    with safe_open(out / "gpt_stdlib_step3_grad.safetensors", "pt") as f:
        assert f.get_slice("transformer.h.0.attn.c_attn.weight.grad").get_shape() == [96, 32]
    with pytest.raises(ValueError, match="safetensors"):
        record(tmp_path, layout="foreign", format="npz", progress=False)
    with pytest.raises(ValueError, match="layout"):
        record(tmp_path, layout="hf", progress=False)


def test_default_layout_still_records_the_shipped_dump(tmp_path):
    # The shipped dump's first step, recorded again with its manifest's arguments, matches what
    # was shipped before the zoo existed: same files, keys, shapes and dtypes, and values to float32
    # summation order. (Not bit for bit: the dump was recorded on another CPU, whose kernels sum
    # in another order; on this one the code before and after the zoo writes identical bytes.)
    # The tolerance is 1e-6 of each tensor's largest entry: ~20 float32 roundoffs (6e-8), where a
    # changed computation (another batch, initialization or loss) moves entries by O(1) of it.
    manifest = json.loads((RECORDED_DUMP / "manifest.json").read_text())
    model = {k: manifest["model"][k] for k in ("width", "depth", "heads", "context")}
    out = record(tmp_path, **model, batch=manifest["batch"], steps=1, dump_steps=(1,), seed=manifest["seed"],
                 progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "step-000001.safetensors"]
    with safe_open(out / "step-000001.safetensors", "pt") as new, \
            safe_open(RECORDED_DUMP / "step-000001.safetensors", "pt") as old:
        assert set(new.keys()) == set(old.keys()) and len(old.keys()) == 8
        for key in old.keys():
            a, b = new.get_tensor(key), old.get_tensor(key)
            assert a.shape == b.shape and a.dtype == b.dtype == torch.float32
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6 * b.abs().max().item(), msg=key)


def test_command_line_models_and_their_options(tmp_path, capsys):
    parser = add_record_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--model", "cnn", "--out", str(tmp_path), "--steps", "1", "--dump-steps", "1",
                              "--no-progress"])
    assert record_command(args) == 0
    assert len(list(tmp_path.iterdir())) == 3 and str(tmp_path) in capsys.readouterr().out
    for model, option in [("cnn", "--heads"), ("moe", "--layout"), ("gpt", "--experts"), ("cnn", "--width")]:
        value = "foreign" if option == "--layout" else "2"
        assert record_command(parser.parse_args(["--model", model, option, value, "--out", str(tmp_path)])) == 2
        assert f"{option} applies to --model" in capsys.readouterr().err
    bad = parser.parse_args(["--model", "moe", "--experts", "2", "--top-k", "3", "--out", str(tmp_path)])
    assert record_command(bad) == 2 and "top_k" in capsys.readouterr().err


def test_cnn_and_moe_check_their_arguments(tmp_path):
    with pytest.raises(ValueError, match="dump_steps"):
        record_cnn(tmp_path, steps=3, dump_steps=(4,), progress=False)
    with pytest.raises(ValueError, match="lr"):
        record_cnn(tmp_path, lr=-1.0, progress=False)
    with pytest.raises(ValueError, match="batch"):
        record_moe(tmp_path, batch=0, progress=False)
    with pytest.raises(ValueError, match="max_shard_bytes"):
        record_moe(tmp_path, max_shard_bytes=0, progress=False)
    with pytest.raises(ValueError, match="top_k"):
        MoEConfig(experts=2, top_k=3)
    with pytest.raises(ValueError, match="16 bytes per row"):
        MoE(MoEConfig())(torch.zeros(2, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="not a parameter"):
        nanogpt_name("encoder.weight")
    assert list(tmp_path.iterdir()) == []  # nothing written before the arguments are checked


# -- the shipped zoo -----------------------------------------------------------------------------


def test_shipped_zoo_is_small_and_described():
    files = [p for p in ZOO_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 6_000_000
    for member, path in ZOO.items():
        assert (path / "ZOO.md").is_file()
        assert " ".join(ZOO_COMMANDS[member]) in (path / "ZOO.md").read_text(encoding="utf-8")
        assert not list(path.rglob("manifest.json"))


def _contents(path):
    """The tensors of a dump file by key, and everything else in it (an optimizer's param_groups and steps)."""
    if path.suffix == ".safetensors":
        with safe_open(path, "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()
    loaded = torch.load(path, weights_only=True)
    if "state" not in loaded:
        return loaded, None
    tensors = {f"{i}.{k}": v for i, state in loaded["state"].items() for k, v in state.items() if k != "step"}
    steps = {i: state["step"].item() for i, state in loaded["state"].items()}
    return tensors, (loaded["param_groups"], steps)


def _record_member(member, out):
    threads = torch.get_num_threads()
    torch.set_num_threads(RECORDED_WITH["threads"])
    try:
        args = add_record_arguments(argparse.ArgumentParser()).parse_args(
            [*ZOO_COMMANDS[member], "--out", str(out), "--no-progress"])
        assert record_command(args) == 0
    finally:
        torch.set_num_threads(threads)
    return args


def _files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.name != "ZOO.md")


def _first_difference(a: bytes, b: bytes):
    """The first byte offset where ``a`` and ``b`` differ, or None (a short message instead of
    pytest's diff of two large byte strings, which takes hours when truncation is off, as on CI)."""
    if a == b:
        return None
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


@pytest.fixture(scope="module", params=sorted(ZOO))
def regenerated(request, tmp_path_factory):
    """``(member, out, args)``: the member recorded once from its command, shared by the tests below."""
    out = tmp_path_factory.mktemp(f"zoo-{request.param}")
    return request.param, out, _record_member(request.param, out)


def test_shipped_zoo_member_regenerates_from_its_command(regenerated):
    member, out, args = regenerated
    made = _files(out)
    assert _files(ZOO[member]) == made and len(made) >= 3
    first = min(int(s) for s in args.dump_steps)
    for path in made:
        if path.suffix == ".json":
            assert _first_difference((out / path).read_bytes(), (ZOO[member] / path).read_bytes()) is None, path
            continue
        (new, new_rest), (old, old_rest) = _contents(out / path), _contents(ZOO[member] / path)
        assert new_rest == old_rest, path
        assert {k: (v.shape, v.dtype) for k, v in new.items()} == {k: (v.shape, v.dtype) for k, v in old.items()}
        if torch.__version__ != RECORDED_WITH["torch"] or int(re.search(r"step0*(\d+)", str(path)).group(1)) != first:
            # Another PyTorch may initialize differently (2.9's CNN weights differ at step 1), and
            # later dumps drift as training amplifies rounding (by O(1) at the MoE's step 300).
            continue
        # The first dump agrees to float32 summation order on any CPU and thread count. Gradients
        # and AdamW's moments: measured at most 2.2e-6 of a tensor's largest entry (1 vs 2 threads,
        # and an AMX machine against the recording one); another seed or command changes entries by
        # O(1) of it. Weights after AdamW's first step w1 = (1 - lr wd) w0 - lr g/(|g| + eps) move by
        # lr·Δ(g/(|g| + eps)), which rounding changes only where |g| is near eps: measured 2.8e-4 lr
        # (fc1.weight, AMX machine); a wrong seed changes w0 by O(0.1) and the step by O(lr).
        model = path.name.startswith("cnn_model")
        for key, b in old.items():
            atol = 0.05 * CNN_LR if model else 1e-5 * b.abs().max().item()
            torch.testing.assert_close(new[key], b, rtol=0, atol=atol, msg=f"{path} {key}")


def test_zoo_recording_is_deterministic_on_one_machine(regenerated, tmp_path):
    """The same command with the same build and threads writes the same bytes on this machine (the
    shipped files are those bytes only on a CPU that sums as the recording one did)."""
    member, out, _ = regenerated
    _record_member(member, tmp_path)
    assert _files(out) == _files(tmp_path)
    for path in _files(out):
        assert _first_difference((out / path).read_bytes(), (tmp_path / path).read_bytes()) is None, path

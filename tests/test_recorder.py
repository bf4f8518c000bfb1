"""The recorder: text and batches, the GPT and its hidden weights, dumps that reload bit for bit,
the manifest, the command line, and the committed dump recorded with it."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from matsign.io import RECORDED_DUMP, load_gradients  # noqa: E402
from matsign.cli.record import add_record_arguments, record_command  # noqa: E402
from matsign.recorder.data import decode, encode, load_corpus, load_text  # noqa: E402
from matsign.recorder.model import GPT, GPTConfig, hidden_weights  # noqa: E402
from matsign.recorder.recording import record  # noqa: E402
from matsign.recorder.training import evaluate, make_optimizers, momentum_of, train  # noqa: E402

# A model small enough that a step takes milliseconds on one CPU core.
TINY = {"width": 32, "depth": 1, "heads": 2, "context": 32, "batch": 4}


def _bits(t):
    """The stored bits of a torch tensor as a NumPy integer array (exact comparison, NaN-safe)."""
    t = t.detach().cpu().contiguous()
    return t.view(torch.int16 if t.element_size() == 2 else torch.int32).numpy()


def _loaded_bits(array):
    return array.view(np.int16 if array.dtype.itemsize == 2 else np.int32)


class Capture:
    """Hooks that keep a copy of every hidden weight's gradient and momentum at chosen steps."""

    def __init__(self, steps):
        self.steps = set(steps)
        self.grad, self.momentum, self.buffers = {}, {}, {}

    def after_backward(self, state):
        if state.step in self.steps:
            for name, p in hidden_weights(state.model).items():
                self.grad[state.step, name] = p.grad.detach().clone()

    def after_step(self, state):
        if state.step in self.steps:
            for name, p in hidden_weights(state.model).items():
                self.momentum[state.step, name] = momentum_of(state.optimizers, p).clone()
                # the raw optimizer state, read without momentum_of
                opt = next(o for o in state.optimizers if p in o.state)
                key = "momentum_buffer" if isinstance(opt, torch.optim.Muon) else "exp_avg"
                self.buffers[state.step, name] = opt.state[p][key].clone()


# -- text and batches ----------------------------------------------------------------------------


def test_text_is_the_standard_library_documentation():
    from pydoc_data.topics import topics

    text = load_text()
    assert text == load_text()
    assert len(text) == sum(len(v) for v in topics.values())
    assert text.startswith(topics[min(topics)]) and text.endswith(topics[max(topics)])
    tokens = encode(text)
    assert tokens.dtype == torch.int64 and tokens.numel() == len(text.encode("utf-8"))
    assert int(tokens.min()) >= 0 and int(tokens.max()) < 256
    assert decode(tokens) == text
    corpus = load_corpus()
    assert torch.equal(torch.cat([corpus.train, corpus.validation]), tokens)
    assert corpus.validation.numel() == round(0.1 * tokens.numel())


def test_batches_are_seeded_next_token_windows():
    corpus = load_corpus()
    x, y = corpus.get_batch("train", 8, 16, generator=torch.Generator().manual_seed(3))
    x2, y2 = corpus.get_batch("train", 8, 16, generator=torch.Generator().manual_seed(3))
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert x.shape == y.shape == (8, 16)
    assert torch.equal(x[:, 1:], y[:, :-1])
    # every window is a contiguous piece of the training stream
    train_bytes = bytes(corpus.train.to(torch.uint8).tolist())
    for row_x, row_y in zip(x, y):
        assert bytes(row_x.tolist()) + bytes(row_y[-1:].tolist()) in train_bytes
    with pytest.raises(ValueError, match="split"):
        corpus.get_batch("test", 2, 16, generator=torch.Generator())


@pytest.mark.parametrize("fraction, empty", [(1e-7, "validation"), (1 - 1e-9, "training")])
def test_load_corpus_rejects_a_fraction_that_empties_a_split(fraction, empty):
    # 1e-7 of the ~4.7e5 tokens rounds to 0 validation tokens; 1 − 1e-9 rounds to all of them.
    with pytest.raises(ValueError, match=f"validation_fraction.*empty {empty} split"):
        load_corpus(fraction)


# -- model and optimizers ------------------------------------------------------------------------


def test_hidden_weights_are_the_block_matrices():
    config = GPTConfig(width=48, depth=3, heads=4, context=16)
    model = GPT(config)
    hidden = hidden_weights(model)
    w = config.width
    expected = {}
    for i in range(config.depth):
        expected |= {f"blocks.{i}.attn.qkv.weight": (3 * w, w), f"blocks.{i}.attn.out.weight": (w, w),
                     f"blocks.{i}.mlp.up.weight": (4 * w, w), f"blocks.{i}.mlp.down.weight": (w, 4 * w)}
    assert {name: tuple(p.shape) for name, p in hidden.items()} == expected
    others = {name for name, _ in model.named_parameters()} - set(hidden)
    assert others == {"token.weight", "position.weight", "head.weight", "ln_f.weight", "ln_f.bias"} | {
        f"blocks.{i}.{ln}.{p}" for i in range(config.depth) for ln in ("ln1", "ln2") for p in ("weight", "bias")}
    muon, adamw = make_optimizers(model, "muon")
    assert {id(p) for p in muon.param_groups[0]["params"]} == {id(p) for p in hidden.values()}
    in_adamw = {id(p) for p in adamw.param_groups[0]["params"]}
    assert in_adamw == {id(p) for name, p in model.named_parameters() if name in others}


def test_config_and_arguments_are_checked():
    with pytest.raises(ValueError, match="heads"):
        GPTConfig(width=30, heads=4)
    with pytest.raises(ValueError, match="depth"):
        GPTConfig(depth=0)
    with pytest.raises(ValueError, match="dump_steps"):
        record("unused", steps=5, dump_steps=(6,), progress=False)
    with pytest.raises(ValueError, match="npz"):
        record("unused", dtype="bfloat16", format="npz", progress=False)
    with pytest.raises(ValueError, match="optimizer"):
        record("unused", optimizer="sgd", progress=False)
    with pytest.raises(ValueError, match="dtype"):
        record("unused", dtype="float16", progress=False)
    with pytest.raises(ValueError, match="device"):
        record("unused", device="abacus", progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            record("unused", device="cuda", progress=False)


def test_rule_optimizer_checks_its_parameters_and_hyperparameters():
    from matsign.recorder.optimizer import RuleOptimizer
    from matsign.updates import Muon

    w = torch.nn.Parameter(torch.zeros(2, 2))
    bias = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match=r"params\['bias'\].*2-D"):
        RuleOptimizer({"w": w, "bias": bias}, {"w": Muon(), "bias": Muon()}, lr=0.1)
    for lr in (math.inf, math.nan, 0.0):
        with pytest.raises(ValueError, match="lr"):
            RuleOptimizer({"w": w}, {"w": Muon()}, lr=lr)
    for weight_decay in (math.inf, -1.0):
        with pytest.raises(ValueError, match="weight_decay"):
            RuleOptimizer({"w": w}, {"w": Muon()}, lr=0.1, weight_decay=weight_decay)


def test_rule_optimizer_step_with_a_bad_gradient_changes_nothing():
    from matsign.recorder.optimizer import RuleOptimizer
    from matsign.updates import Muon

    a, b = torch.nn.Parameter(torch.ones(2, 2)), torch.nn.Parameter(torch.ones(2, 2))
    opt = RuleOptimizer({"a": a, "b": b}, {"a": Muon(inner="exact"), "b": Muon(inner="exact")}, lr=0.1)
    a.grad = torch.diag(torch.tensor([1.0, 0.0]))
    b.grad = torch.tensor([[math.nan, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="gradient of 'b'"):
        opt.step()
    assert torch.equal(a, torch.ones(2, 2)) and torch.equal(b, torch.ones(2, 2))
    assert opt.step_count == 0 and opt.rules["a"].step_count == 0 and opt.records == []
    # The next step starts from fresh momentum: M = G, so the update is msign(G + μG) = msign(G)
    # (closed form for these diagonal G). Had rule a consumed diag(1, 0), its Nesterov input
    # would have rank 2 and the update would be the identity.
    a.grad = torch.diag(torch.tensor([0.0, 1.0]))
    b.grad = torch.diag(torch.tensor([2.0, -3.0]))
    opt.step()
    assert opt.step_count == 1
    torch.testing.assert_close(a.detach(), torch.ones(2, 2) - 0.1 * torch.diag(torch.tensor([0.0, 1.0])))
    torch.testing.assert_close(b.detach(), torch.ones(2, 2) - 0.1 * torch.diag(torch.tensor([1.0, -1.0])))


def test_rule_optimizer_step_with_a_failing_rule_moves_no_parameter():
    from matsign.recorder.optimizer import RuleOptimizer
    from matsign.updates import Muon, UpdateRule

    class Failing(UpdateRule):
        def _start(self, xp, G):
            pass

        def _advance(self, xp, G):
            raise ValueError("no direction")

    a, b = torch.nn.Parameter(torch.ones(2, 2)), torch.nn.Parameter(torch.ones(2, 2))
    opt = RuleOptimizer({"a": a, "b": b}, {"a": Muon(inner="exact"), "b": Failing()}, lr=0.1)
    a.grad, b.grad = torch.eye(2), torch.eye(2)
    with pytest.raises(ValueError, match="rule of 'b' failed: no direction"):
        opt.step()
    assert torch.equal(a, torch.ones(2, 2)) and torch.equal(b, torch.ones(2, 2))
    assert opt.step_count == 0 and opt.records == []


def test_training_reduces_the_loss():
    # A byte model with small random weights predicts nearly uniformly: loss ≈ ln 256 = 5.55 nats.
    # Thirty Muon steps must beat that by a full nat (learning byte frequencies alone does: the
    # byte entropy of English text is about 3 nats).
    corpus = load_corpus()
    config = GPTConfig(width=32, depth=1, heads=2, context=32)
    model = GPT(config, generator=torch.Generator().manual_seed(0))
    before = evaluate(model, corpus, batch=8, batches=4)
    assert before == pytest.approx(math.log(256), abs=0.05)
    losses = train(model, make_optimizers(model, "muon"), corpus, steps=30, batch=8,
                   generator=torch.Generator().manual_seed(1), progress=False)
    assert len(losses) == 30 and losses[0] == pytest.approx(math.log(256), abs=0.1)
    assert evaluate(model, corpus, batch=8, batches=4) < before - 1.0


# -- dumps ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer,format", [("muon", "safetensors"), ("adamw", "npz"), ("muon", "pt")])
def test_dumps_equal_grad_and_optimizer_state_bit_for_bit(tmp_path, optimizer, format):
    dump_steps = (1, 3, 4)
    capture = Capture(dump_steps)
    out = record(tmp_path, **TINY, steps=4, dump_steps=dump_steps, optimizer=optimizer, format=format,
                 progress=False, after_backward=capture.after_backward, after_step=capture.after_step)
    records = list(load_gradients(out))
    names = list(hidden_weights(GPT(GPTConfig(width=32, depth=1, heads=2, context=32))))
    assert sorted((r.step, r.kind, r.name) for r in records) == sorted(
        (s, k, n) for s in dump_steps for k in ("grad", "momentum") for n in names)
    for r in records:
        stored = r.load()
        assert r.dtype == stored.dtype.name == "float32"
        expected = capture.grad if r.kind == "grad" else capture.momentum
        assert np.array_equal(_loaded_bits(stored), _bits(expected[r.step, r.name])), (r.kind, r.step, r.name)
        if r.kind == "momentum":
            assert torch.equal(capture.buffers[r.step, r.name], capture.momentum[r.step, r.name])
    # The momentum is an average of gradients that starts from zero: after step 1 it is (1 − β)·G₁.
    beta = 0.95 if optimizer == "muon" else 0.9
    for name in names:
        expected = (1 - beta) * capture.grad[1, name]
        torch.testing.assert_close(capture.momentum[1, name], expected, rtol=1e-6, atol=0)


def test_bfloat16_run_dumps_bfloat16(tmp_path):
    capture = Capture((2,))
    out = record(tmp_path, **TINY, steps=2, dump_steps=(2,), dtype="bfloat16", progress=False,
                 after_backward=capture.after_backward, after_step=capture.after_step)
    records = list(load_gradients(out))
    assert len(records) == 8
    for r in records:
        stored = r.load()
        assert r.dtype == stored.dtype.name == "bfloat16"
        expected = capture.grad if r.kind == "grad" else capture.momentum
        assert expected[r.step, r.name].dtype == torch.bfloat16
        assert np.array_equal(_loaded_bits(stored), _bits(expected[r.step, r.name]))
        assert np.isfinite(stored.astype(np.float32)).all()


def test_manifest_describes_the_dump(tmp_path):
    out = record(tmp_path, **TINY, steps=3, dump_steps=(3, 1), optimizer="adamw", lr=1e-3, seed=7,
                 progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    model = GPT(GPTConfig(width=32, depth=1, heads=2, context=32))
    assert {k: manifest["model"][k] for k in ("vocab", "width", "depth", "heads", "context")} == {
        "vocab": 256, "width": 32, "depth": 1, "heads": 2, "context": 32}
    assert manifest["model"]["parameters"] == sum(p.numel() for p in model.parameters())
    assert manifest["layers"] == [{"name": n, "shape": list(p.shape), "dtype": "float32"}
                                  for n, p in hidden_weights(model).items()]
    assert manifest["seed"] == 7 and manifest["steps"] == 3 and manifest["dump_steps"] == [1, 3]
    assert manifest["optimizer"]["name"] == "adamw" and manifest["optimizer"]["lr"] == 1e-3
    assert manifest["format"] == "safetensors" and manifest["dtype"] == "float32"
    assert manifest["versions"]["torch"] == torch.__version__
    assert len(manifest["train_loss"]) == 3
    assert all(math.isfinite(manifest[k]) for k in ("final_train_loss", "final_validation_loss"))
    # the manifest's layers are exactly what the step files hold
    shapes = {(r.kind, r.name): list(r.shape) for r in load_gradients(out) if r.step == 3}
    assert shapes == {(k, layer["name"]): layer["shape"] for k in ("grad", "momentum") for layer in manifest["layers"]}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="PyTorch finds no CUDA device")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_record_on_cuda_at_gpt2_small_width(tmp_path, dtype):
    capture = Capture((2,))
    out = record(tmp_path, width=768, depth=1, heads=12, context=256, batch=2, steps=2, dump_steps=(2,),
                 dtype=dtype, device="cuda", progress=False,
                 after_backward=capture.after_backward, after_step=capture.after_step)
    records = list(load_gradients(out))
    assert {r.shape for r in records} == {(2304, 768), (768, 768), (3072, 768), (768, 3072)}
    for r in records:
        expected = capture.grad if r.kind == "grad" else capture.momentum
        assert expected[r.step, r.name].device.type == "cuda"
        assert np.array_equal(_loaded_bits(r.load()), _bits(expected[r.step, r.name]))


def test_same_seed_same_dump(tmp_path):
    a = record(tmp_path / "a", **TINY, steps=2, dump_steps=(2,), progress=False)
    b = record(tmp_path / "b", **TINY, steps=2, dump_steps=(2,), progress=False)
    c = record(tmp_path / "c", **TINY, steps=2, dump_steps=(2,), seed=1, progress=False)
    for ra, rb, rc in zip(load_gradients(a), load_gradients(b), load_gradients(c)):
        assert np.array_equal(ra.load(), rb.load())
        assert not np.array_equal(ra.load(), rc.load())


def test_command_line(tmp_path, capsys):
    parser = add_record_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--out", str(tmp_path), "--width", "32", "--depth", "1", "--heads", "2",
                              "--context", "32", "--batch", "4", "--steps", "2", "--dump-steps", "1,2",
                              "--format", "pt", "--no-progress"])
    assert record_command(args) == 0
    assert str(tmp_path) in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "step-000001.pt", "step-000002.pt"]
    args = parser.parse_args(["--out", str(tmp_path), "--steps", "2", "--dump-steps", "5", "--no-progress"])
    assert record_command(args) == 2
    assert "dump_steps" in capsys.readouterr().err
    for bad in ("1,x", "0,3"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--dump-steps", bad])


# -- the committed dump --------------------------------------------------------------------------


def test_committed_dump():
    manifest = json.loads((RECORDED_DUMP / "manifest.json").read_text())
    assert sum(p.stat().st_size for p in RECORDED_DUMP.iterdir()) <= 5_000_000
    records = list(load_gradients(RECORDED_DUMP))
    expected = {(s, k, layer["name"]): (tuple(layer["shape"]), layer["dtype"])
                for s in manifest["dump_steps"] for k in manifest["kinds"] for layer in manifest["layers"]}
    assert {(r.step, r.kind, r.name): (r.shape, r.dtype) for r in records} == expected
    config = GPTConfig(**{k: manifest["model"][k] for k in ("vocab", "width", "depth", "heads", "context")})
    assert [layer["name"] for layer in manifest["layers"]] == list(hidden_weights(GPT(config)))
    assert manifest["final_validation_loss"] < math.log(256) - 1.0  # the run learned something
    arrays = {(r.step, r.kind, r.name): r.load() for r in records}
    for (step, kind, name), a in arrays.items():
        assert np.isfinite(a).all() and np.any(a != 0), (step, kind, name)
    # Momentum after step 1 is (1 − β)·G₁ (it starts from zero), so the two kinds are consistent.
    beta = manifest["optimizer"]["momentum"]
    if 1 in manifest["dump_steps"]:
        for layer in manifest["layers"]:
            grad = arrays[1, "grad", layer["name"]].astype(np.float64)
            np.testing.assert_allclose(arrays[1, "momentum", layer["name"]], (1 - beta) * grad, rtol=1e-6)

"""The rule optimizer (against torch.optim.Muon), and the training comparison in its quick form."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
torch = pytest.importorskip("torch")

from matsign.cli.train_compare import add_train_compare_arguments, train_compare_command
from matsign.experiments import train_compare
from matsign.experiments.train_compare import (
    QUICK, comparison, final_losses, lr_factor, run, state_bytes, tuning_grid,
)
from matsign.experiments.train_compare.runs import _columns
from matsign.experiments.train_compare.training import _optimizers, _Schedule
from matsign.recorder.data import load_corpus
from matsign.recorder.model import GPT, GPTConfig, hidden_weights
from matsign.recorder.optimizer import RuleOptimizer, make_rule_optimizers
from matsign.recorder.training import make_optimizers, train
from matsign.updates import Dion, Muon

TINY = GPTConfig(width=32, depth=1, heads=2, context=16)


def _float32_newton_schulz(grad, ns_coefficients, ns_steps, eps):
    """``torch.optim._muon._zeropower_via_newtonschulz`` with float32 in place of bfloat16: the
    same normalization (Frobenius, clamped at ``eps``), the same ``addmm`` steps."""
    a, b, c = ns_coefficients
    tall = grad.size(0) > grad.size(1)
    X = grad.float().T if tall else grad.float()
    X = X / X.norm().clamp(min=eps)
    for _ in range(ns_steps):
        A = X @ X.T
        X = torch.addmm(X, torch.addmm(A, A, A, beta=b, alpha=c), X, beta=a)
    return X.T if tall else X


def _trajectories(lr=0.02, weight_decay=0.1, steps=3):
    """Train one model with torch.optim.Muon (Moonlight's shape factor) and a copy with the Muon
    rule through RuleOptimizer, same batches; both with make_optimizers' AdamW on the rest."""
    corpus = load_corpus()
    reference = GPT(TINY, generator=torch.Generator().manual_seed(0))
    start = {name: p.detach().clone() for name, p in reference.named_parameters()}
    ours = copy.deepcopy(reference)
    muon = torch.optim.Muon(list(hidden_weights(reference).values()), lr=lr, weight_decay=weight_decay,
                            momentum=0.95, nesterov=True, adjust_lr_fn="match_rms_adamw")
    train(reference, (muon, make_optimizers(reference, "muon")[1]), corpus, steps=steps, batch=4,
          generator=torch.Generator().manual_seed(1), progress=False)
    rule = make_rule_optimizers(ours, lambda name, i: Muon(0.95, nesterov=True, schedule="muon", shape="match_rms"),
                                lr=lr, weight_decay=weight_decay)
    train(ours, rule, corpus, steps=steps, batch=4, generator=torch.Generator().manual_seed(1), progress=False)
    mine = {name: p.detach() for name, p in ours.named_parameters()}
    return {name: (float((p.detach() - mine[name]).norm()), float((p.detach() - start[name]).norm()))
            for name, p in reference.named_parameters()}


def test_muon_rule_reproduces_torch_muon_in_float32(monkeypatch):
    # torch.optim.Muon orthogonalizes in bfloat16; with its Newton–Schulz run in float32 instead,
    # everything else is PyTorch's own code: the averaged momentum M = μM + (1−μ)G (a factor
    # 1−μ from the rule's sum form, removed by the normalization), Nesterov by lerp, the lr
    # adjustment 0.2·√max(A, B) and the decoupled weight decay.
    import torch.optim._muon as torch_muon

    if not hasattr(torch_muon, "_zeropower_via_newtonschulz"):
        pytest.skip("this PyTorch's Muon has no _zeropower_via_newtonschulz to run in float32")
    monkeypatch.setattr(torch_muon, "_zeropower_via_newtonschulz", _float32_newton_schulz)
    for name, (gap, moved) in _trajectories().items():
        # Float32 rounding (eps 1.2e-7) of two normalizations that differ in order, amplified by
        # Newton–Schulz (slope ≤ 3.44 per step at small singular values) over three training steps;
        # measured ≤ 4e-6 of the distance travelled.
        assert gap <= 1e-4 * moved, name


def test_muon_rule_tracks_bfloat16_torch_muon():
    # Unpatched, PyTorch's bfloat16 Newton–Schulz (unit roundoff 2⁻⁸ ≈ 3.9e-3 per operation, five
    # Newton–Schulz and three training steps) separates the trajectories by a few percent of the
    # distance travelled (measured ≤ 8 %); heavy-ball momentum in place of Nesterov moves the
    # hidden weights by 27 %, a wrong lr factor by O(1).
    for name, (gap, moved) in _trajectories().items():
        assert gap <= 0.15 * moved, name


def test_rule_optimizer_weight_decay_and_diagnostics():
    w = torch.nn.Parameter(torch.tensor([[3.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    opt = RuleOptimizer({"w": w}, {"w": Muon(0.5, inner="exact")}, lr=0.1, weight_decay=0.2, diagnostics_every=2)
    G = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]])
    expected = w.detach().double().clone()
    buffer = torch.zeros_like(expected)
    for _ in range(3):
        w.grad = G.clone()
        opt.step()
        # W ← (1 − lr·wd) W − lr · msign(G + μM), M ← μM + G, in float64 by SVD.
        buffer = 0.5 * buffer + G.double()
        U, _, Vt = torch.linalg.svd(G.double() + 0.5 * buffer, full_matrices=False)
        expected = (1 - 0.1 * 0.2) * expected - 0.1 * (U @ Vt)
    torch.testing.assert_close(w.detach().double(), expected, rtol=0, atol=1e-6)  # float32 steps
    assert [r["step"] for r in opt.records] == [2]
    assert opt.records[0]["alignment"] == pytest.approx(1.0, abs=1e-6)  # exact sign of its target
    opt.zero_grad()
    assert w.grad is None


def test_rule_optimizer_rejects_bad_arguments():
    w = torch.nn.Parameter(torch.ones(2, 2))
    v = torch.nn.Parameter(torch.ones(2, 2))
    shared = Muon()
    with pytest.raises(ValueError, match="rules"):
        RuleOptimizer({"w": w, "v": v}, {"w": shared}, lr=0.1)
    with pytest.raises(ValueError, match="one rule object per parameter"):
        RuleOptimizer({"w": w, "v": v}, {"w": shared, "v": shared}, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        RuleOptimizer({"w": w}, {"w": Muon()}, lr=0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        RuleOptimizer({"w": w}, {"w": Muon()}, lr=0.1, weight_decay=-1)
    used = Dion(1, rng=0)
    used.step(torch.ones(2, 2))
    with pytest.raises(ValueError, match="fresh"):
        RuleOptimizer({"w": w}, {"w": used}, lr=0.1)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """``--quick``: two learning rates and two seeds, so the tuning and the seed stages both run."""
    out = tmp_path_factory.mktemp("train-compare")
    parser = argparse.ArgumentParser()
    add_train_compare_arguments(parser)
    args = parser.parse_args(["--quick", "--no-progress", "--out", str(out / "results"), "--figures", str(out / "figures")])
    assert train_compare_command(args) == 0
    return out, pd.read_csv(out / "results" / "train-compare-quick.csv")


def test_quick_run_trains_every_rule(quick_run):
    out, table = quick_run
    assert not table["diverged"].any() and table["val_loss"].notna().all()
    first = table[table["step"] == 0].set_index(["rule", "lr", "seed"])["val_loss"]
    last = table[table["step"] == QUICK.steps].set_index(["rule", "lr", "seed"])["val_loss"]
    assert sorted(set(table["rule"])) == sorted(QUICK.rule_names())
    # Near-uniform predictions start at ln 256; four steps of any rule must lower the loss.
    assert np.allclose(first, math.log(256), atol=0.05) and (last < first).all()
    for stem in ("train-compare-quick", "train-compare-quick-lr", "train-compare-quick-rank",
                 "train-compare-quick-time"):
        assert (out / "figures" / f"{stem}.png").stat().st_size > 0
        assert (out / "figures" / f"{stem}.pdf").stat().st_size > 0


def test_quick_run_extends_each_grid_until_the_optimum_is_inside_or_the_extensions_end(quick_run):
    _, table = quick_run
    tuned = table[(table["seed"] == 0) & (table["step"] == QUICK.steps)]
    low, high = min(QUICK.lrs), max(QUICK.lrs)
    for rule, rows in tuned.groupby("rule"):
        tried = sorted(rows["lr"])
        # The starting grid, then halvings below and doublings above it, at most max_extensions each.
        assert set(QUICK.lrs) <= set(tried)
        below, above = [lr for lr in tried if lr < low], [lr for lr in tried if lr > high]
        assert below == [low / 2**k for k in range(len(below), 0, -1)] and len(below) <= QUICK.max_extensions
        assert above == [high * 2**k for k in range(1, len(above) + 1)] and len(above) <= QUICK.max_extensions
        best = rows.sort_values(["val_loss", "lr"])["lr"].iloc[0]
        if best == tried[0]:
            assert len(below) == QUICK.max_extensions, rule
        if best == tried[-1]:
            assert len(above) == QUICK.max_extensions, rule


def test_tuning_grid_follows_the_optimum_of_a_convex_loss():
    # Loss (log2 lr − log2 0.1)²: from {0.01, 0.02} the grid doubles to 0.04, 0.08, 0.16 and
    # stops with the optimum 0.08 inside; with one extension it stops at the edge 0.04.
    def tune(settings):
        scores = {}
        while True:
            grid, pending = tuning_grid(scores, settings)
            if not pending:
                return grid, min(grid, key=scores.get)
            scores.update({lr: (math.log2(lr) - math.log2(0.1)) ** 2 for lr in pending})

    settings = dataclasses.replace(QUICK, lrs=(0.01, 0.02), max_extensions=3)
    assert tune(settings) == ([0.01, 0.02, 0.04, 0.08, 0.16], 0.08)
    assert tune(dataclasses.replace(settings, max_extensions=1)) == ([0.01, 0.02, 0.04], 0.04)
    # A diverged largest rate (inf) makes the optimum interior at once.
    assert tuning_grid({0.01: 2.0, 0.02: 1.0, 0.04: math.inf}, dataclasses.replace(settings, lrs=(0.01, 0.02, 0.04))) \
        == ([0.01, 0.02, 0.04], [])


def test_lr_factor_is_linear_warmup_then_cosine_to_the_final_fraction():
    s = dataclasses.replace(QUICK, steps=200, warmup=20, final_lr=0.1)
    factors = np.array([lr_factor(t, s) for t in range(1, 201)])
    np.testing.assert_allclose(factors[:20], np.arange(1, 21) / 20, rtol=1e-15)
    t = np.arange(21, 201)
    np.testing.assert_allclose(factors[20:], 0.1 + 0.45 * (1 + np.cos(np.pi * (t - 20) / 180)), rtol=1e-14)
    assert factors[-1] == pytest.approx(0.1, abs=1e-15) and (np.diff(factors[19:]) <= 0).all()
    constant = dataclasses.replace(s, warmup=0, final_lr=1.0)
    assert {lr_factor(t, constant) for t in range(1, 201)} == {1.0}


def test_the_schedule_sets_every_optimizer_to_its_peak_times_the_factor():
    s = dataclasses.replace(QUICK, steps=10, warmup=4, final_lr=0.2)
    model = GPT(GPTConfig(width=32, depth=1, heads=2, context=16))
    for rule in ("muon", "adamw"):
        hidden, adamw = _optimizers(model, rule, 0.03, 0, s)
        schedule = _Schedule(hidden, adamw, s)
        for step in (1, 4, 7, 10):
            schedule(_hook_state(step))
            f = lr_factor(step, s)
            assert adamw.param_groups[0]["lr"] == pytest.approx(3e-3 * f, rel=1e-15)
            lr = hidden.param_groups[0]["lr"] if rule == "adamw" else hidden.lr
            assert lr == pytest.approx(0.03 * f, rel=1e-15)


def _hook_state(step):
    """What a training hook sees at ``step`` (the schedule reads only the step)."""
    from matsign.recorder.training import TrainStep

    return TrainStep(step, 0.0, None, ())


def test_state_bytes_counts_what_each_optimizer_keeps():
    # Muon and low-rank Muon keep one float32 momentum per weight; AdamW two moments.
    s = dataclasses.replace(QUICK, fixed_rank=4)
    model = GPT(GPTConfig(width=32, depth=1, heads=2, context=16))
    weights = hidden_weights(model)
    numbers = sum(w.numel() for w in weights.values())
    for rule, expected in (("muon", 4 * numbers), ("lowrank_column", 4 * numbers), ("adamw", 8 * numbers)):
        hidden, _ = _optimizers(model, rule, 0.01, 0, s)
        for w in weights.values():
            w.grad = torch.randn_like(w)
        hidden.step()
        assert state_bytes(hidden) == expected, rule


def test_two_workers_train_the_same_runs_as_one(tmp_path):
    settings = dataclasses.replace(QUICK, lrs=(0.02,), max_extensions=0, seeds=(0, 1), rules=("muon", "dion"))
    serial = run(tmp_path / "one", tmp_path / "figures", size="quick", progress=False, settings=settings)
    parallel = run(tmp_path / "two", tmp_path / "figures", size="quick", progress=False, settings=settings, workers=2)
    key = ["rule", "lr", "seed", "step"]
    a, b = (t.sort_values(key).reset_index(drop=True) for t in (serial, parallel))
    # Each run is single-threaded float32 on the CPU whatever process trains it.
    np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=1e-6)
    assert a[key].equals(b[key])


def test_quick_run_table_has_a_row_per_rule_and_seed(quick_run):
    _, table = quick_run
    final = final_losses(table, QUICK.seeds[0])
    names = QUICK.rule_names()
    assert sorted(zip(final["rule"], final["seed"])) == sorted((r, s) for r in names for s in QUICK.seeds)
    assert (final["step_ms"] > final["rule_ms"]).all() and (final["rule_ms"] > 0).all()
    tuned = table[(table["seed"] == 0) & (table["step"] == QUICK.steps)]
    for row in final.itertuples():  # the selected LR has the lowest tuning loss of its rule
        assert tuned[(tuned["rule"] == row.rule) & (tuned["lr"] == row.lr)]["val_loss"].iloc[0] == \
            tuned[tuned["rule"] == row.rule]["val_loss"].min()
    rows = comparison(table, QUICK.seeds[0])
    assert sorted(rows["rule"]) == sorted(names) and rows["std"].notna().all()
    assert list(rows["rule"][:2]) == ["adamw", "muon"]
    # Each rule's rank is its own (the swept rank, or fixed_rank), not a setting's: one column each.
    columns = _columns(QUICK)
    assert len(set(columns)) == len(columns)
    ranks = rows.set_index("rule")["rank"]
    assert ranks["dion@r8"] == 8 and ranks["lowrank_column"] == QUICK.fixed_rank == 4 and np.isnan(ranks["muon"])


def test_rerun_resumes_and_refuses_other_settings(quick_run):
    out, table = quick_run
    csv = out / "results" / "train-compare-quick.csv"
    again = run(out / "results", out / "figures", size="quick", progress=False)
    assert len(pd.read_csv(csv)) == len(table) and len(again) == len(table)
    with pytest.raises(ValueError, match="other settings"):
        run(out / "results", out / "figures", size="quick", progress=False, settings=dataclasses.replace(QUICK, steps=5))


def test_a_diverging_run_is_recorded_and_never_selected(tmp_path):
    settings = dataclasses.replace(QUICK, lrs=(0.02, 1e30), seeds=(0,), rules=("muon",), max_extensions=0)
    table = run(tmp_path, tmp_path, size="quick", progress=False, settings=settings)
    final = table[table["step"] == settings.steps].set_index("lr")
    assert final.loc[1e30, "diverged"] and math.isnan(final.loc[1e30, "val_loss"])
    assert list(final_losses(table, 0)["lr"]) == [0.02]
    csv = tmp_path / "train-compare-quick.csv"
    written = csv.read_text(encoding="utf-8")
    assert len(run(tmp_path, tmp_path, size="quick", progress=False, settings=settings)) == len(table)
    assert csv.read_text(encoding="utf-8") == written  # a diverged run is complete: kept, not retrained


def _last_run_cut(csv, tmp_path, cut):
    """A copy of ``csv`` as a crash while its last run's rows were appended leaves it:
    ``cut(text, start)`` keeps a prefix, ``start`` the offset of the last run's first line."""
    lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    table = pd.read_csv(csv)
    last = table[list(train_compare.RUN_KEY)].iloc[-1]
    rows = int((table[list(train_compare.RUN_KEY)] == last).all(axis=1).sum())
    start = sum(map(len, lines[: len(lines) - rows]))
    copy = tmp_path / "results" / csv.name
    copy.parent.mkdir()
    copy.write_text(cut("".join(lines), start), encoding="utf-8")
    return copy, tuple(last)


@pytest.mark.parametrize("cut", [
    lambda text, start: text[: text.index("\n", text.index("\n", start) + 1) + 1],  # two whole rows of three
    lambda text, start: text[: text.index("\n", start) + 25],  # a row cut mid-line
], ids=["missing-rows", "cut-line"])
def test_resume_retrains_a_run_a_crash_cut_short(quick_run, tmp_path, cut):
    out, table = quick_run
    csv, (rule, lr, seed) = _last_run_cut(out / "results" / "train-compare-quick.csv", tmp_path, cut)
    again = run(csv.parent, tmp_path / "figures", size="quick", progress=False)
    runs = again[(again["rule"] == rule) & (again["lr"] == lr) & (again["seed"] == seed)]
    before = table[(table["rule"] == rule) & (table["lr"] == lr) & (table["seed"] == seed)]
    assert list(runs["step"]) == list(before["step"]) == [0, 2, 4]  # QUICK: 4 steps, validation every 2
    # The same seed retrains the same run: single-threaded CPU float32, same batches and init.
    np.testing.assert_allclose(runs["val_loss"], before["val_loss"], rtol=1e-6)
    assert len(pd.read_csv(csv)) == len(table) == len(again)


def test_large_has_its_own_files_and_other_settings_are_a_usage_error(quick_run, tmp_path, monkeypatch, capsys):
    from matsign.cli import main

    out, _ = quick_run
    results = tmp_path / "results"
    results.mkdir()
    default = (out / "results" / "train-compare-quick.csv").read_text(encoding="utf-8")
    (results / "train-compare.csv").write_text(default, encoding="utf-8")  # a default-size table
    tiny = dataclasses.replace(QUICK, lrs=(0.02,), seeds=(0,), rules=("muon",), max_extensions=0)
    monkeypatch.setattr(train_compare, "LARGE", tiny)
    argv = ["train-compare", "--large", "--no-progress", "--out", str(results), "--figures", str(tmp_path / "figures")]
    assert main(argv) == 0
    assert (results / "train-compare.csv").read_text(encoding="utf-8") == default
    assert pd.read_csv(results / "train-compare-large.csv")["step"].tolist() == [0, 2, 4]
    assert (tmp_path / "figures" / "train-compare-large.png").stat().st_size > 0
    capsys.readouterr()
    monkeypatch.setattr(train_compare, "LARGE", dataclasses.replace(tiny, width=64))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "other settings (width = [32], now 64)" in err and "Traceback" not in err


def test_estimate_counts_the_runs_and_trains_nothing(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_train_compare_arguments(parser)
    args = parser.parse_args(["--large", "--estimate", "--out", str(tmp_path)])
    assert train_compare_command(args) == 0
    large = train_compare.LARGE
    rules = len(large.rule_names())
    # Every kind (the official low-rank Muon included), the rank kinds once per rank, Dion2 per fraction.
    assert rules == len(train_compare.KINDS) - 5 + 4 * len(large.ranks) + len(large.fractions)
    out = capsys.readouterr().out
    assert f"{rules} rules, about {rules * (len(large.lrs) + len(large.seeds))} runs" in out
    assert list(tmp_path.iterdir()) == []


def test_workers_below_one_is_a_usage_error(capsys):
    parser = argparse.ArgumentParser()
    add_train_compare_arguments(parser)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--workers", "0"])
    assert exit_info.value.code == 2 and "expected a positive integer, got '0'" in capsys.readouterr().err


@pytest.mark.parametrize("device, message", [("foo", "device must be 'cpu', 'cuda' or 'cuda:N', got 'foo'"),
                                             ("cuda:0", "PyTorch finds no CUDA device")])
def test_an_unusable_device_is_a_one_line_usage_error(tmp_path, capsys, device, message):
    from matsign.cli import main

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    argv = ["train-compare", "--quick", "--device", device, "--out", str(tmp_path), "--figures", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and list(tmp_path.iterdir()) == []

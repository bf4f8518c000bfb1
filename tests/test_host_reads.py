"""Reads of array values back to the host: one input check per public call, none per step.

On a GPU every such read (``bool(x)``, ``float(x)``, ``.item()``, a copy to NumPy) waits for
all queued kernels, so a sign computation that reads once per layer of calls, or once per
iteration, cannot keep the device busy. A :class:`torch.overrides.TorchFunctionMode` sees each
read on PyTorch CPU tensors exactly where it would happen on CUDA (the code path is the same),
so the counts below hold for the GPU without one. CuPy runs the same code and reads as often.

The contract: a public sign function reads once, for the NaN/Inf scan of its input
(:func:`matsign._backend.check_matrix`); public functions it calls on arrays computed from
checked inputs are nested in its :func:`matsign._backend.boundary` and skip their scans. An
update rule's step (a boundary) with ``diagnostics=False`` reads twice: its gradient, and its
update (a state that overflowed must not become a silent NaN update); a
:class:`~matsign.recorder.optimizer.RuleOptimizer` step scans each gradient once and the rules
nested in it do not scan them again. Reads that belong to the algorithm (GUM's branch draw,
Cholesky failure checks, convergence tests) are counted apart; diagnostics read their numbers.
Float16 arrays formed by sums and scalings overflow at realistic sizes and are still scanned.
"""

from __future__ import annotations

import traceback

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.overrides import TorchFunctionMode  # noqa: E402

import matsign  # noqa: E402
from matsign._backend import check_matrix, trusted_values, values_trusted  # noqa: E402
from matsign.registry import METHODS, REQUIRED  # noqa: E402
from matsign.updates import UPDATE_RULES  # noqa: E402

#: Tensor methods that move values to the host.
READS = {"__bool__", "__float__", "__int__", "__index__", "item", "tolist", "numpy", "__array__"}

#: Reads that the algorithm itself makes, per call, on the well-conditioned input below.
# GUM: the branch draw decides the shape of the estimate. hybrid: the divergence check of its
# unnormalized Newton–Schulz run (its default single rational step is a QR-form step, no flag).
ALGORITHM_READS = {"gum": 1, "hybrid": 1}

#: Reads that an update rule makes at the first step of a period (GUM draws its branch there).
PERIOD_START_READS = {"gum": 1}

#: Methods whose own reads depend on the data: per Taylor polish step, per QDWH iteration.
DATA_DEPENDENT = {"exact_ns", "qdwh"}


class HostReads(TorchFunctionMode):
    """Counts host reads, and among them those made by the input checks."""

    def __init__(self):
        super().__init__()
        self.total = 0
        self.checks = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in READS:
            self.total += 1
            frames = traceback.extract_stack()
            # A read under a boundary wrapper (checks.py's public_call) is the algorithm's, not a check's.
            checking = [f for f in frames if f.filename.endswith("checks.py") and f.name != "public_call"]
            if checking or any(f.name == "_checked_indices" for f in frames):
                self.checks += 1
        return func(*args, **(kwargs or {}))


def reads(call):
    with HostReads() as counter:
        call()
    return counter.total, counter.checks


@pytest.fixture
def G():
    return torch.as_tensor(np.random.default_rng(0).standard_normal((96, 64)))


def test_the_counter_sees_every_kind_of_read():
    t = torch.ones(2)
    with HostReads() as counter:
        bool(t[0] > 0)
        float(t[0])
        t[0].item()
        t.tolist()
        t.numpy()
        np.asarray(t)
        check_matrix(t[None, :])
    assert (counter.total, counter.checks) == (7, 1)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_method_checks_its_input_once(name, G):
    method = METHODS[name]
    params = {key: 8 for key, default in method.params.items() if default is REQUIRED}
    total, checks = reads(lambda: method(G, rng=0, **params))
    assert checks == 1
    if name not in DATA_DEPENDENT:
        assert total == 1 + ALGORITHM_READS.get(name, 0)


@pytest.mark.parametrize("name", sorted(UPDATE_RULES))
def test_each_update_rule_step_reads_twice(name, G):
    rule_class = UPDATE_RULES[name]
    options = {"rank": 8} if "rank" in rule_class.__init__.__code__.co_varnames else {}
    rule = rule_class(diagnostics=False, **options)
    first = (2 + PERIOD_START_READS.get(name, 0), 2)
    assert [reads(lambda: rule.step(G)) for _ in range(3)] == [first, (2, 2), (2, 2)]


@pytest.mark.parametrize(
    "call",
    [
        lambda G: matsign.newton_schulz(G, "muon", steps=3),
        lambda G: matsign.newton_schulz(G, "muon", steps=12),
        lambda G: matsign.newton_schulz(torch.stack([G] * 4), "polar_express"),
        lambda G: matsign.exact.gram_newton_schulz(G.T, "polar_express", steps=8),
        lambda G: matsign.sketched_msign(G, 8, power_iters=4, rng=0),
        lambda G: matsign.sketched_msign(G, 8, inner="muon", oversample=4, power_iters=2, rng=0),
        lambda G: matsign.sketched_msign(torch.stack([G] * 3), 8, power_iters=1, rng=0),
        lambda G: matsign.sketched_msign(G, 8, range="column", strategy="leverage", rng=0),
        lambda G: matsign.transforms.dion2_msign(G, 0.5, inner="newton_schulz"),
        lambda G: matsign.equilibrate(G, "RC"),
    ],
    ids=["ns3", "ns12", "ns-stack", "gram-ns", "lowrank-q4", "lowrank-inner-ns", "lowrank-stack",
         "column-leverage", "slice-sign", "equilibrate"],
)
def test_reads_do_not_grow_with_steps_sizes_or_layers(call, G):
    assert reads(lambda: call(G)) == (1, 1)


def test_two_inputs_are_checked_once_each(G):
    Q = torch.linalg.qr(G[:, :8])[0]
    assert reads(lambda: matsign.lowrank_msign(G, Q)) == (2, 2)
    # M's scan, then the range and distinctness of the indices in one transfer.
    assert reads(lambda: matsign.transforms.slices_msign(G, 1, torch.tensor([5, 1, 3]))) == (2, 2)


def test_bad_input_is_still_named_through_every_layer(G):
    bad = G.clone()
    bad[3, 4] = float("nan")
    with pytest.raises(ValueError, match="G contains NaN"):
        matsign.sketched_msign(bad, 8, rng=0)
    with pytest.raises(ValueError, match="G contains NaN"):
        METHODS["gum"](bad, rank=8, rng=0)
    rule = matsign.updates.Muon(diagnostics=False)
    rule.step(G)
    with pytest.raises(ValueError, match="G contains NaN"):
        rule.step(bad)
    with pytest.raises(ValueError, match="indices must be distinct"):
        matsign.transforms.slices_msign(G, 0, torch.tensor([2, 2]))


def test_rule_optimizer_reads_twice_per_gradient():
    from matsign.recorder.optimizer import RuleOptimizer

    weights = {"a": torch.nn.Parameter(torch.randn(6, 4)), "b": torch.nn.Parameter(torch.randn(5, 7))}
    optimizer = RuleOptimizer(weights, {name: matsign.updates.Muon() for name in weights}, lr=0.01)
    for p in weights.values():
        p.grad = torch.randn_like(p)
    assert reads(optimizer.step) == (4, 4)  # each gradient once, each update once


def _float16_overflow_cases():
    big = torch.full((4, 3), 3.0e4, dtype=torch.float16)  # finite; sums of two of them are not

    def steps(rule):
        return lambda: [rule.step(big) for _ in range(3)]

    rows = torch.tensor([[1e-3, 0.0, 0.0], [0.0, 1.0, 2.0], [0.5, 0.5, 0.5]], dtype=torch.float16)
    normal = np.clip(np.random.default_rng(0).standard_normal((8, 6)), -4.0, 4.0)
    scaled = torch.as_tensor(normal * 1.5e4).to(torch.float16)  # finite: |entries| ≤ 6e4
    return {
        "muon momentum": steps(matsign.updates.Muon(diagnostics=False)),
        "muon momentum, exact sign": steps(matsign.updates.Muon(inner="exact", diagnostics=False)),
        "low-rank muon momentum": steps(matsign.updates.LowRankMuon(2, diagnostics=False)),
        "dion2 momentum": steps(matsign.updates.Dion2(fraction=0.5, diagnostics=False)),
        # (r + ε)^e with e = −2 scales the row of norm 1e-3 by 1e12
        "muoneq scaled rows": lambda: METHODS["muoneq"](rows, exponent=-2.0),
    }


@pytest.mark.parametrize("case", sorted(_float16_overflow_cases()))
def test_float16_overflow_of_derived_arrays_is_an_error(case):
    """Checked float16 inputs whose momentum, scaling or estimate overflows: the arrays handed
    on are scanned (not trusted), so the overflow is a ValueError, not a NaN update."""
    with pytest.raises(ValueError, match="contains NaN or Inf.*overflowed float16"):
        _float16_overflow_cases()[case]()


def test_gum_estimate_that_overflows_is_an_error_and_the_gum_sign_is_not():
    """PᵀG/(1 − q) or the residual / q past float16's 65504: the estimate itself (public) is a
    ValueError naming the branch; the GUM method, whose sign is scale-free, divides G by a power
    of two first and returns the sign it has at unit scale."""
    from matsign.transforms.projection import galore_projector, gum_estimate

    normal = np.clip(np.random.default_rng(0).standard_normal((8, 6)), -4.0, 4.0)
    scaled = torch.as_tensor(normal * 1.5e4).to(torch.float16)  # finite: |entries| ≤ 6e4
    projector = galore_projector(scaled, 2)
    with pytest.raises(ValueError, match="GUM's estimate of G .* overflows float16"):
        for seed in range(4):
            gum_estimate(scaled, projector, 0.5, rng=seed)
    unit = scaled.to(torch.float32) / 65536.0  # the same float16 values divided by 2^16, exactly
    for seed in range(4):
        sign = METHODS["gum"](scaled, rank=2, q=0.5, rng=seed)
        assert torch.isfinite(sign).all()
        reference = METHODS["gum"](unit.to(torch.float16), rank=2, q=0.5, rng=seed)
        torch.testing.assert_close(sign, reference, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
def test_an_update_that_overflowed_a_wider_dtype_is_an_error(dtype):
    """Wider dtypes are trusted inside the step; entries near their largest value overflow
    the momentum sum, and the check of the update catches it."""
    largest = torch.finfo(getattr(torch, dtype)).max
    big = torch.full((4, 3), largest / 2, dtype=getattr(torch, dtype))
    rule = matsign.updates.Muon(diagnostics=False)
    with pytest.raises(ValueError, match=f"update of Muon is not finite.*finite {dtype} gradients"):
        for _ in range(3):
            rule.step(big)


def test_muoneq_scaling_that_overflows_float32_is_an_error():
    """(r + ε)^e with e = −5 scales a row of norm 1e-5 past float32's range."""
    G = torch.tensor([[1e-5, 0.0, 0.0], [0.0, 1.0, 2.0], [0.5, 0.5, 0.5]])
    rule = matsign.updates.MuonEq("R", exponent=-5.0, diagnostics=False)
    with pytest.raises(ValueError, match="update of MuonEq is not finite"):
        rule.step(G)


def test_float16_state_is_scanned_inside_an_enclosing_trusted_block():
    rule = matsign.updates.Muon(diagnostics=False)
    big = torch.full((4, 3), 3.0e4, dtype=torch.float16)
    with trusted_values(), pytest.raises(ValueError, match="contains NaN or Inf"):
        for _ in range(3):
            rule.step(big)
    assert not values_trusted()


def test_trust_is_scoped_and_undone_by_errors():
    bad = torch.tensor([[1.0, float("inf")]])
    with trusted_values():
        with trusted_values():
            assert values_trusted()
        assert values_trusted()
        check_matrix(bad)  # the scan is skipped here
    assert not values_trusted()
    with pytest.raises(RuntimeError, match="inside"):
        with trusted_values():
            raise RuntimeError("inside")
    assert not values_trusted()
    with pytest.raises(ValueError, match="NaN or Inf"):
        check_matrix(bad)

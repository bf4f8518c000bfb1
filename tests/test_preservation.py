"""Every array-returning public function keeps its input's library, device and dtype.

One sweep over the registered methods, the update rules (update and buffer) and the public
functions of :mod:`matsign.exact`, :mod:`matsign.lowrank`, :mod:`matsign.transforms`,
:mod:`matsign.spectral` and :mod:`matsign.metrics`, on every backend of the fixture, for
float64 and float32 inputs, the 16-bit formats each library stores natively (float16
everywhere, bfloat16 on PyTorch) and, where the docstring says the function takes
``(..., m, n)``, a ``(2, m, n)`` stack. Values are not checked here (the per-module tests
compare them with float64 oracles); what is checked is that a float32 PyTorch input never
comes back as NumPy, float64, or on another device.

Each function's documented dtype rule is one of

- ``"same"``: the input's dtype;
- ``"real"``: the input's dtype, float32 for 16-bit inputs (spectra, metrics, scales);
- ``"int64"``: indices and ranks.

Skipped on purpose (no array result, or no array input):
``converged_newton_schulz_flops``, ``gram_newton_schulz_flops``, ``newton_schulz_flops``,
``qdwh_flops``, ``lowrank_sign_flops`` (Python floats from shapes);
``get_schedule``, ``polar_express_schedule``, ``polar_express_coefficients`` (coefficient
tables); ``check_*``, ``one_of``, ``register_range``, ``slice_count``, ``slice_inner``,
``selection_slots`` (argument checks and bookkeeping on Python values);
``spectral_summary`` and ``singular_value_summary`` (documented to return a dict of Python
floats); ``lowrank_sign``, ``scatter_sign``, ``slice_sign`` (deprecated aliases of
``sketched_msign``, ``slices_msign``, ``dion2_msign``, swept under their new names); the
classes ``Schedule``, ``Projector`` and ``BasisCost`` (the projector's ``P`` is swept through
``galore_projector``; its maps are compared by ``backend.assert_close`` in test_project.py).
``scalar_map`` has its own rule (NumPy σ in float64) and its own test below.
"""

from __future__ import annotations

import numpy as np
import pytest

from matsign import exact, lowrank, metrics, spectral, transforms
from matsign._backend import device, dtype_name, library
from matsign.registry import METHODS, REQUIRED
from matsign.updates import UPDATE_RULES

SHAPE = (12, 8)
RANK = 3

SIXTEEN_BIT = ("float16", "bfloat16")

#: Registered methods that reject a stack with a ValueError (column selection, slices and
#: projectors are defined for one matrix); every other method must take a (2, m, n) stack.
MATRIX_ONLY_METHODS = {"column", "dion2", "galore", "gum"}


def _expected_dtype(rule, dtype):
    if rule == "int64":
        return "int64"
    if rule == "real" and dtype in SIXTEEN_BIT:
        return "float32"
    return dtype


def _projector(G):
    return transforms.galore_projector(G, RANK)


def _gum_estimate(G):
    return transforms.gum_estimate(G, _projector(G), 0.5, rng=0)[0]


def _gum_lift(G):
    projector = _projector(G)
    estimate, branch = transforms.gum_estimate(G, projector, 0.5, rng=0)
    return transforms.gum_lift(estimate, branch, projector)


def _slices(G):
    axis, indices = transforms.select_slices(G, 0.5, rng=0)
    return transforms.slices_msign(G, axis, indices)


#: name -> (call on G, takes stacks, dtype rule). Each call returns an array or a tuple of
#: arrays (None entries allowed, for the factor a mode does not compute).
FUNCTIONS = {
    "exact.msign": (lambda G: exact.msign(G), True, "same"),
    "exact.msign(eigh)": (lambda G: exact.msign(G, method="eigh"), True, "same"),
    "exact.newton_schulz": (lambda G: exact.newton_schulz(G, "polar_express"), True, "same"),
    "exact.gram_newton_schulz": (lambda G: exact.gram_newton_schulz(G, "polar_express"), True, "same"),
    "exact.converged_newton_schulz": (lambda G: exact.converged_newton_schulz(G), True, "same"),
    "exact.qdwh_sign": (lambda G: exact.qdwh_sign(G), True, "same"),
    "lowrank.gaussian_range": (lambda G: lowrank.gaussian_range(G, RANK, rng=0), True, "same"),
    "lowrank.column_range": (lambda G: lowrank.column_range(G, RANK, rng=0), False, "same"),
    "lowrank.select_columns": (lambda G: lowrank.select_columns(G, RANK, rng=0), False, "int64"),
    "lowrank.orthonormalize": (lambda G: lowrank.orthonormalize(G), True, "same"),
    "lowrank.lowrank_msign": (
        lambda G: lowrank.lowrank_msign(G, lowrank.gaussian_range(G, RANK, rng=0)),
        True,
        "same",
    ),
    "lowrank.sketched_msign": (lambda G: lowrank.sketched_msign(G, RANK, rng=0), True, "same"),
    "lowrank.oracle_lowrank_sign": (lambda G: lowrank.oracle_lowrank_sign(G, RANK), True, "same"),
    "transforms.equilibrate": (lambda G: transforms.equilibrate(G, "RC"), True, "same"),
    "transforms.equilibration_factors": (lambda G: transforms.equilibration_factors(G, "RC"), True, "real"),
    "transforms.galore_projector": (lambda G: _projector(G).P, False, "same"),
    "transforms.residual_ratio": (lambda G: transforms.residual_ratio(G, _projector(G)), False, "real"),
    "transforms.gum_estimate": (_gum_estimate, False, "same"),
    "transforms.gum_lift": (_gum_lift, False, "same"),
    "transforms.select_slices": (lambda G: transforms.select_slices(G, 0.5, rng=0)[1], False, "int64"),
    "transforms.slices_msign": (_slices, False, "same"),
    "transforms.dion2_msign": (lambda G: transforms.dion2_msign(G, 0.5, rng=0), False, "same"),
    "spectral.singular_values": (spectral.singular_values, True, "real"),
    "spectral.spectral_norm": (spectral.spectral_norm, True, "real"),
    "spectral.spectral_norm(subspace)": (
        lambda G: spectral.spectral_norm(G, method="subspace", rng=0),
        False,  # the subspace iteration is documented for a single matrix
        "real",
    ),
    "spectral.nuclear_norm": (spectral.nuclear_norm, True, "real"),
    "spectral.stable_rank": (spectral.stable_rank, True, "real"),
    "spectral.nuclear_rank": (spectral.nuclear_rank, True, "real"),
    "spectral.condition_number": (spectral.condition_number, True, "real"),
    "spectral.effective_rank": (spectral.effective_rank, True, "real"),
    "spectral.numerical_rank": (spectral.numerical_rank, True, "int64"),
    "spectral.power_law_exponent": (spectral.power_law_exponent, True, "real"),
    "spectral.tail_energy": (lambda G: spectral.tail_energy(G, RANK), True, "real"),
    "metrics.relative_error": (lambda G: metrics.relative_error(G, 2 * G), True, "real"),
    "metrics.alignment": (lambda G: metrics.alignment(exact.msign(G), G), True, "real"),
    "metrics.orthogonality_error": (lambda G: metrics.orthogonality_error(G), True, "real"),
    "metrics.rank_floor": (lambda G: metrics.rank_floor(G, RANK), True, "real"),
}


DTYPES = ["float64", "float32", "float16", "bfloat16"]


def _inputs(backend, dtype, stacked):
    """Test data in ``dtype`` as a user would hold it (NumPy float16 as itself, not emulated)."""
    if not backend.stores(dtype):
        pytest.skip(f"{backend.lib} has no {dtype} dtype ({dtype} is emulated in float32 storage)")
    data = np.random.default_rng(7).standard_normal(((2,) if stacked else ()) + SHAPE)
    if backend.lib == "numpy" and dtype == "float16":
        return data.astype(np.float16)
    G = backend.asarray(data, dtype=dtype)
    assert dtype_name(G.dtype) == dtype
    return G


def _assert_preserved(backend, result, dtype, what):
    arrays = result if isinstance(result, tuple) else (result,)
    assert any(x is not None for x in arrays), f"{what} returned no array"
    for x in arrays:
        if x is None:
            continue
        assert library(x) == backend.lib, f"{what}: a {library(x)} array for a {backend.lib} input"
        assert device(x) == device(backend.like), f"{what}: result on {device(x)}, input on {device(backend.like)}"
        assert dtype_name(x.dtype) == dtype, f"{what}: dtype {dtype_name(x.dtype)}, expected {dtype}"


@pytest.mark.parametrize("stacked", [False, True], ids=["matrix", "stack"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_public_functions_preserve_library_device_and_dtype(backend, name, dtype, stacked):
    call, takes_stacks, rule = FUNCTIONS[name]
    if stacked and not takes_stacks:
        pytest.skip(f"{name} takes 2-D input only (its docstring)")
    result = call(_inputs(backend, dtype, stacked))
    _assert_preserved(backend, result, _expected_dtype(rule, dtype), name)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_scalar_map_follows_its_documented_rule(backend, dtype):
    """NumPy σ is evaluated in float64 (documented); CuPy/PyTorch σ in its own dtype and device."""
    sigma = backend.asarray(np.linspace(0.0, 1.0, 5), dtype=dtype)
    want = "float64" if backend.lib == "numpy" else dtype
    _assert_preserved(backend, exact.scalar_map(sigma, "polar_express"), want, "exact.scalar_map")


@pytest.mark.parametrize("stacked", [False, True], ids=["matrix", "stack"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(METHODS))
def test_registered_methods_preserve_library_device_and_dtype(backend, name, dtype, stacked):
    method = METHODS[name]
    params = {key: RANK for key, default in method.params.items() if default is REQUIRED}
    if stacked and name in MATRIX_ONLY_METHODS:
        with pytest.raises(ValueError, match="single matrix"):
            method(_inputs(backend, dtype, stacked), rng=0, **params)
        return
    result = method(_inputs(backend, dtype, stacked), rng=0, **params)
    _assert_preserved(backend, result, dtype, f"method {name}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UPDATE_RULES))
def test_update_rules_keep_the_gradient_library_device_and_dtype(backend, name, dtype):
    """Buffers are created from the first gradient (shape, library, device, dtype), and each
    step's update is of that kind too (:mod:`matsign.updates`); two steps, so the second
    reads the state the first wrote."""
    rule_class = UPDATE_RULES[name]
    options = {"rank": RANK} if "rank" in rule_class.__init__.__code__.co_varnames else {}
    rule = rule_class(**options)
    G = _inputs(backend, dtype, False)
    for step in (1, 2):
        out = rule.step(G)
        _assert_preserved(backend, out.update, dtype, f"{name} update, step {step}")
        _assert_preserved(backend, rule.buffer, dtype, f"{name} buffer, step {step}")


def test_the_check_fails_on_a_numpy_result_for_a_torch_input():
    """The sweep can fail: a NumPy result for a torch input, or float64 for float32, is caught."""
    pytest.importorskip("torch")
    from conftest import Backend

    torch_backend = Backend("torch")
    G = _inputs(torch_backend, "float32", False)
    with pytest.raises(AssertionError, match="a numpy array for a torch input"):
        _assert_preserved(torch_backend, np.zeros(3, dtype=np.float32), "float32", "numpy result")
    with pytest.raises(AssertionError, match="dtype float64, expected float32"):
        _assert_preserved(torch_backend, G.double(), "float32", "upcast result")

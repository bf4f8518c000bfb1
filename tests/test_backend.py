"""The backend layer: namespaces, round trips, rng= handling, 16-bit rounding, validation."""

import numpy as np
import pytest

from matsign._backend import (
    namespace,
    all_finite,
    arithmetic,
    check_choice,
    check_unit_interval,
    check_matrix,
    check_precision,
    dtype_name,
    from_numpy,
    generator,
    library,
    placeholder,
    round_to,
    single_threaded,
    standard_normal,
    to_numpy,
    uniform,
    unit_peak_copy,
)
from matsign._backend.dtypes import library_dtype
from matsign._backend.linalg import matmul_add


def test_round_trip_keeps_library_and_dtype(backend):
    a = np.arange(6.0).reshape(2, 3)
    for dtype in ("float64", "float32"):
        backend.assert_close(backend.asarray(a, dtype=dtype), a, rtol=0, dtype=dtype)


def test_assert_close_checks_library_dtype_and_values(backend):
    a = np.arange(4.0)
    backend.assert_close(backend.asarray(a), a, rtol=0)
    with pytest.raises(AssertionError, match="dtype float32, expected float64"):
        backend.assert_close(backend.asarray(a, dtype="float32"), a, rtol=0)
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        backend.assert_close(backend.asarray(a + 1e-9), a, rtol=1e-12)
    other = "numpy" if backend.lib != "numpy" else "torch"
    if other == "torch":
        pytest.importorskip("torch")
    with pytest.raises(AssertionError, match=f"result is a {other} array, expected {backend.lib}"):
        backend.assert_close(from_numpy(a, like=other), a, rtol=0)


def test_assert_close_checks_the_device():
    """A tensor on PyTorch's ``meta`` device (shapes only, no data) is on the wrong device for
    the CPU backend; the check runs before any value is read."""
    torch = pytest.importorskip("torch")
    from conftest import Backend

    with pytest.raises(AssertionError, match="result on meta, input on cpu"):
        Backend("torch").assert_close(torch.empty(4, dtype=torch.float64, device="meta"), np.zeros(4), rtol=0)


def test_same_seed_same_numbers(backend):
    like = backend.asarray(np.zeros(1))
    a = backend.to_numpy(standard_normal(7, (4, 3), like=like))
    c = backend.to_numpy(standard_normal(8, (4, 3), like=like))
    backend.assert_close(standard_normal(7, (4, 3), like=like), a, rtol=0, dtype="float64")
    assert not np.array_equal(a, c)
    draws = uniform(3, (1000,), like=like)
    u = backend.to_numpy(draws)
    backend.assert_close(draws, u, rtol=0, dtype="float64")  # library, device and dtype of like
    assert 0.0 <= u.min() and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.05


def test_generator_is_used_sequentially(backend):
    like = backend.asarray(np.zeros(1))
    g = generator(5, like)
    first = backend.to_numpy(standard_normal(g, (3,), like=like))
    second = backend.to_numpy(standard_normal(g, (3,), like=like))
    assert not np.array_equal(first, second)
    backend.assert_close(standard_normal(5, (3,), like=like), first, rtol=0, dtype="float64")


def test_bad_rng():
    like = np.zeros(1)
    with pytest.raises(ValueError, match="seed"):
        generator(-1, like)
    with pytest.raises(TypeError, match="rng must be"):
        generator("seed", like)
    with pytest.raises(TypeError, match="rng must be"):
        generator(np.random.RandomState(0), like)


def test_bfloat16_rounding_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(100_000) * 10.0 ** rng.uniform(-20, 20, 100_000)).astype(np.float32)
    # Exact ties: values halfway between two bfloat16 numbers must round to even.
    ties = (np.arange(1, 200, dtype=np.uint32) << 16 | 0x8000).view(np.float32) * np.float32(1.0)
    x = np.concatenate([x, ties, -ties])
    expected = torch.tensor(x).to(torch.bfloat16).float().numpy()
    np.testing.assert_array_equal(round_to(x, "bfloat16"), expected)


def test_float16_rounding_matches_numpy():
    x = np.random.default_rng(1).standard_normal(1000).astype(np.float32) * 1e3
    np.testing.assert_array_equal(round_to(x, "float16"), x.astype(np.float16).astype(np.float32))
    assert np.isinf(round_to(np.array([1e5], dtype=np.float32), "float16")[0])  # overflow modelled


def test_arithmetic_emulation_flags():
    assert arithmetic(np.zeros((2, 2)), "bfloat16").emulated
    assert arithmetic(np.zeros((2, 2)), "float16").emulated
    assert not arithmetic(np.zeros((2, 2)), "float32").emulated
    torch = pytest.importorskip("torch")
    assert not arithmetic(torch.zeros(2, 2), "bfloat16").emulated


def test_dtype_names():
    assert dtype_name(np.float32) == "float32"
    assert dtype_name("bf16") == "bfloat16"
    assert check_precision("half") == "float16"
    with pytest.raises(ValueError, match="dtype must be one of"):
        check_precision("int8")
    torch = pytest.importorskip("torch")
    assert dtype_name(torch.bfloat16) == "bfloat16"


def test_from_numpy_rejects_unknown_library():
    with pytest.raises(ValueError, match="like"):
        from_numpy(np.zeros(2), like="jax")


def test_check_matrix_messages():
    with pytest.raises(ValueError, match="M must be a single matrix"):
        check_matrix(np.zeros((2, 2, 2)), "M", batched=False)
    with pytest.raises(ValueError, match=r"M is empty \(shape \(2, 0\)\)"):
        check_matrix(np.zeros((2, 0)), "M")
    with pytest.raises(TypeError, match="M must be a real floating-point array"):
        check_matrix(np.zeros((2, 2), dtype=bool), "M")


ALL_FINITE_CASES = {
    "ordinary": (np.arange(12.0).reshape(3, 4), "float32"),
    "one nan": (np.where(np.eye(3, 4) > 0, np.nan, 1.0), "float32"),
    "one +inf": (np.where(np.eye(3, 4) > 0, np.inf, 1.0), "float64"),
    "+inf and -inf": (np.array([[np.inf, 1.0], [2.0, -np.inf]]), "float32"),
    # finite entries whose sum overflows the reduction: the entrywise scan must decide
    "overflowing sum": (np.full((4, 4), 3.0e38), "float32"),
    "overflowing sum f64": (np.full((3, 5), 1.0e308), "float64"),
    "overflowing sum bf16": (np.full((2, 3), 3.0e38), "bfloat16"),
    # the sum (2.5e8) is past float16's range but runs in float32: no scan needed, still true
    "fp16 sum past fp16 range": (np.full((64, 64), 6.0e4), "float16"),
    "stack with one nan": (np.stack([np.ones((2, 2)), np.array([[1.0, np.nan], [0.0, 0.0]])]), "float32"),
}


@pytest.mark.parametrize("case", sorted(ALL_FINITE_CASES))
def test_all_finite_matches_numpy_entrywise(backend, case):
    a, dtype = ALL_FINITE_CASES[case]
    if dtype == "bfloat16" and backend.lib != "torch":
        pytest.skip("bfloat16 is a PyTorch dtype")
    x = backend.asarray(a, dtype=dtype)
    assert all_finite(x) == bool(np.all(np.isfinite(backend.to_numpy(x))))


def test_placeholder_arrays_and_their_errors():
    assert library(placeholder("numpy")) == "numpy" and placeholder("numpy", "cpu").shape == (0,)
    with pytest.raises(ValueError, match="device 'cuda'"):
        placeholder("numpy", "cuda")
    with pytest.raises(ValueError, match="library must be one of"):
        placeholder("jax")
    torch = pytest.importorskip("torch")
    assert library(placeholder("torch")) == "torch" and placeholder("torch").device == torch.device("cpu")


def test_single_threaded_restores_thread_counts():
    pytest.importorskip("threadpoolctl")
    from threadpoolctl import threadpool_info

    torch = pytest.importorskip("torch")
    before_torch = torch.get_num_threads()
    before = {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()}
    with single_threaded():
        assert torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert torch.get_num_threads() == before_torch
    # Pools loaded meanwhile (run alone, this test is where torch first loads its OpenMP) are
    # not in `before`; every pool that was is back to its count.
    after = {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()}
    assert {path: after[path] for path in before} == before


def test_check_choice_names_the_argument_and_rejects_other_types():
    assert check_choice("svd", ("svd", "eigh"), "method") == "svd"
    for bad in ("qr", 1, None, np.array(["svd"])):
        with pytest.raises(ValueError, match="method must be one of \\('svd', 'eigh'\\)"):
            check_choice(bad, ("svd", "eigh"), "method")


def test_check_unit_interval_is_open_and_names_the_argument():
    assert check_unit_interval(0.25, "q") == 0.25
    for bad in (0, 1.0, -0.5, True, "0.5", None):
        with pytest.raises(ValueError, match=r"q must be a number in \(0, 1\)"):
            check_unit_interval(bad, "q")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
def test_matmul_add_matches_float64_oracle(backend, dtype, batch):
    rng = np.random.default_rng(7)
    C, A, B = (rng.standard_normal((*batch, *shape)) for shape in ((5, 6), (5, 24), (6, 24)))
    expected = -1.5 * C + 0.75 * A @ np.swapaxes(B, -1, -2)
    # The transposed operand is a strided view, as Xᵀ is in X Xᵀ.
    Bt = namespace(backend.like).matrix_transpose(backend.asarray(B, dtype))
    got = matmul_add(-1.5, backend.asarray(C, dtype), 0.75, backend.asarray(A, dtype), Bt)
    # Standard bound for a k-term dot product plus two scaled terms and their rounding to the
    # working dtype: |error| ≤ (k + 3)·u·(|β||C| + |α||A||Bᵀ|), u the dtype's unit roundoff.
    u = np.finfo(dtype).eps / 2
    bound = (24 + 3) * u * (1.5 * np.abs(C) + 0.75 * np.abs(A) @ np.abs(np.swapaxes(B, -1, -2)))
    backend.assert_close(got, expected, rtol=0, atol=float(np.max(bound)), dtype=dtype)
    assert np.all(np.abs(backend.to_numpy(got) - expected) <= bound)  # entrywise


@pytest.mark.parametrize("shapes", [((4, 3, 3), (3, 5), (4, 5, 3)), ((3, 3), (2, 3, 5), (2, 5, 3))])
def test_matmul_add_broadcast_stacks_and_unit_alpha(backend, shapes):
    rng = np.random.default_rng(8)
    C, A, B = (rng.standard_normal(shape) for shape in shapes)
    got = matmul_add(2.0, backend.asarray(C), 1.0, backend.asarray(A), backend.asarray(B))
    backend.assert_close(got, 2.0 * C + A @ B, rtol=0, atol=1e-12)


def test_arithmetic_matmul_add_rounds_emulated_sums():
    """Emulated bfloat16: the product is rounded (as ``matmul`` does) and so is the sum, so the
    result lies on the bfloat16 grid and equals the float64 value to bfloat16 rounding."""
    rng = np.random.default_rng(9)
    C, A, B = (round_to(rng.standard_normal((4, 4)).astype(np.float32), "bfloat16") for _ in range(3))
    ar = arithmetic(C, "bfloat16")
    got = ar.matmul_add(0.5, C, -2.0, A, B)
    np.testing.assert_array_equal(got, round_to(got, "bfloat16"))
    exact = 0.5 * C.astype(np.float64) - 2.0 * A.astype(np.float64) @ B.astype(np.float64)
    # Two roundings (product, then sum) of relative size 2⁻⁸ on values of size ≤ 2·|A||B| + |C|.
    bound = 2 * 2.0**-8 * (2 * np.abs(A) @ np.abs(B) + 0.5 * np.abs(C))
    assert np.all(np.abs(got - exact) <= bound)


def test_bool_is_not_a_seed(backend):
    like = backend.asarray(np.zeros(1))
    for bad in (True, False):
        with pytest.raises(TypeError, match="rng must be None, an int seed"):
            generator(bad, like)


def test_torch_seed_range_names_rng():
    # torch.Generator.manual_seed takes seeds below 2**64; NumPy takes any non-negative int.
    torch = pytest.importorskip("torch")
    like = torch.zeros(1)
    with pytest.raises(ValueError, match="rng seed must be below 2\\*\\*64"):
        generator(2**64, like)
    a = standard_normal(2**64 - 1, (3,), like=like)
    np.testing.assert_array_equal(a.numpy(), standard_normal(2**64 - 1, (3,), like=like).numpy())
    assert standard_normal(2**70, (3,), like=np.zeros(1)).shape == (3,)


def test_to_numpy_returns_numpy_input_as_is_and_widens_torch_16_bit():
    a = np.ones((2, 2), dtype=np.float16)
    assert to_numpy(a) is a
    torch = pytest.importorskip("torch")
    for dtype in (torch.float16, torch.bfloat16):
        assert to_numpy(torch.ones(2, dtype=dtype)).dtype == np.float32


#: The modules of ``_backend`` from the bottom up: each may import only those before it.
BACKEND_LAYERS = ("dtypes", "namespace", "linalg", "precision", "checks", "random", "threads")


def test_backend_modules_import_one_way():
    """No cycle inside ``_backend``: module-level and function-level imports alike go down."""
    import ast
    import pathlib

    import matsign._backend

    root = pathlib.Path(matsign._backend.__file__).parent
    for position, name in enumerate(BACKEND_LAYERS):
        tree = ast.parse((root / f"{name}.py").read_text())
        modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        imported = {m.removeprefix("matsign._backend.") for m in modules if m.startswith("matsign")}
        assert imported <= set(BACKEND_LAYERS[:position]), f"{name} imports {sorted(imported)}"


def test_unit_peak_copy_divides_each_member_by_its_largest_entry(backend):
    # Oracle: x / max|x| per member in float64, rounded once to float32 (relative 2^-24). The
    # members lie beyond float32's range on both sides, where a plain cast gives inf or 0; the
    # last is subnormal in float64 (its reciprocal overflows).
    base = np.random.default_rng(3).standard_normal((4, 5))
    x = np.stack([1e300 * base, 1e-300 * base, -2.0 * np.abs(base), np.zeros_like(base), 1e-310 * base])
    peaks = np.abs(x).max(axis=(-2, -1), keepdims=True)
    expected = x / np.where(peaks > 0, peaks, 1.0)
    result = unit_peak_copy(backend.asarray(x), library_dtype("float32", backend.lib))
    backend.assert_close(result, expected, rtol=2.0**-24, dtype="float32")
    peaks = np.abs(backend.to_numpy(result)).max(axis=(-2, -1))
    assert np.all(peaks[[0, 1, 2, 4]] == 1.0) and peaks[3] == 0  # the peak rounds to 1 in float32

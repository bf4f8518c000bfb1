"""Synthetic matrices: exact spectra on every backend, seeded heavy tails, scale mismatch."""

import numpy as np
import pytest
from scipy import stats

from matsign.synthetic import (
    exponential_decay,
    haar_orthogonal,
    log_uniform,
    low_rank_plus_noise,
    power_law,
    scale_mismatch,
    student_t_matrix,
    with_spectrum,
)


@pytest.mark.parametrize("shape", [(20, 30), (30, 20), (25, 25)])
def test_with_spectrum_has_the_prescribed_singular_values(backend, shape):
    sigma = log_uniform(min(shape), 1e4)
    generated = with_spectrum(sigma, *shape, rng=3, like=backend.like)
    G = backend.to_numpy(generated)
    backend.assert_close(generated, G, rtol=0, dtype="float64")  # like's library, device and dtype
    # float64 throughout: the Haar factors are orthonormal to ~1e-15, so σ is exact to ~1e-13.
    np.testing.assert_allclose(np.linalg.svd(G, compute_uv=False), sigma, rtol=1e-12, atol=1e-14)


def test_with_spectrum_is_seeded_and_casts(backend):
    a = backend.to_numpy(with_spectrum([2.0, 1.0], 5, 7, rng=9, like=backend.like))
    c = backend.to_numpy(with_spectrum([2.0, 1.0], 5, 7, rng=10, like=backend.like))
    backend.assert_close(with_spectrum([2.0, 1.0], 5, 7, rng=9, like=backend.like), a, rtol=0)
    assert not np.allclose(a, c)
    low = with_spectrum([2.0, 1.0], 5, 7, rng=9, like=backend.like, dtype="float32")
    backend.assert_close(low, backend.to_numpy(low), rtol=0, dtype="float32")  # library, device, dtype


def test_spectrum_families_match_their_formulas():
    np.testing.assert_allclose(power_law(4, 2.0), [1, 1 / 4, 1 / 9, 1 / 16])
    np.testing.assert_allclose(exponential_decay(3, 0.5), np.exp([0.0, -0.5, -1.0]))
    s = log_uniform(7, 1e6)
    assert s[0] == 1.0 and s[-1] == pytest.approx(1e-6, rel=1e-12)
    np.testing.assert_allclose(np.diff(np.log10(s)), -1.0)
    np.testing.assert_array_equal(low_rank_plus_noise(5, 2, 0.1), [1, 1, 0.1, 0.1, 0.1])
    with pytest.raises(ValueError, match="kappa"):
        log_uniform(3, 0.5)
    with pytest.raises(ValueError, match="rank"):
        low_rank_plus_noise(3, 4)


def test_student_t_entries_follow_the_t_law_on_every_backend(backend):
    G = backend.to_numpy(student_t_matrix(200, 300, dof=3, rng=5, like=backend.like))
    # Kolmogorov–Smirnov against SciPy's t(3) CDF: 60 000 draws resolve a CDF error of ~0.006;
    # a seeded sample from the right law passes at level 1e-3 (deterministic for this seed).
    assert stats.kstest(G.ravel(), stats.t(df=3).cdf).pvalue > 1e-3
    # Heavy tails: P(|x| > 6) = 2·sf(6) ≈ 0.0093 for t(3) but ≈ 2e-9 for a Gaussian.
    frequency = np.mean(np.abs(G) > 6)
    expected = 2 * stats.t(df=3).sf(6)
    assert abs(frequency - expected) < 5 * np.sqrt(expected / G.size)


def test_student_t_is_seeded_and_checks_dof():
    np.testing.assert_array_equal(student_t_matrix(4, 5, rng=1), student_t_matrix(4, 5, rng=1))
    with pytest.raises(ValueError, match="dof"):
        student_t_matrix(4, 5, dof=0)


def test_scale_mismatch_spans_the_requested_row_and_column_ranges(backend):
    # Flat σ on a wide matrix: U Vᵀ has orthonormal rows, so the row norms are the scales.
    G = backend.to_numpy(scale_mismatch(np.ones(6), 6, 9, row_spread=1e4, rng=2, like=backend.like))
    rows = np.linalg.norm(G, axis=1)
    np.testing.assert_allclose(np.sort(rows), np.logspace(0, 4, 6), rtol=1e-12)
    # Flat σ on a tall matrix: orthonormal columns, so the column norms are the column scales.
    H = backend.to_numpy(scale_mismatch(np.ones(5), 8, 5, row_spread=1.0, col_spread=1e3, rng=2, like=backend.like))
    np.testing.assert_allclose(np.sort(np.linalg.norm(H, axis=0)), np.logspace(0, 3, 5), rtol=1e-12)


def test_scale_mismatch_rejects_a_spread_below_one():
    with pytest.raises(ValueError, match="row_spread"):
        scale_mismatch(np.ones(2), 2, 3, row_spread=0.5)
    with pytest.raises(ValueError, match="col_spread"):
        scale_mismatch(np.ones(2), 2, 3, col_spread=float("inf"))


MATRIX_FAMILIES = {
    "haar_orthogonal": lambda **kw: haar_orthogonal(4, 3, rng=0, **kw),
    "with_spectrum": lambda **kw: with_spectrum([2.0, 1.0], 3, 4, rng=0, **kw),
    "student_t_matrix": lambda **kw: student_t_matrix(3, 4, rng=0, **kw),
    "scale_mismatch": lambda **kw: scale_mismatch([2.0, 1.0], 3, 4, rng=0, **kw),
}


@pytest.mark.parametrize("family", MATRIX_FAMILIES)
@pytest.mark.parametrize("dtype", ["int32", "complex128", "bool", "foo"])
def test_matrix_families_reject_a_dtype_that_is_not_a_working_precision(backend, family, dtype):
    # An integer cast of entries of magnitude < 1 would silently give zeros.
    with pytest.raises(ValueError, match="dtype"):
        MATRIX_FAMILIES[family](like=backend.like, dtype=dtype)


@pytest.mark.parametrize("family", MATRIX_FAMILIES)
def test_matrix_families_take_a_dtype_object(backend, family):
    exact = backend.to_numpy(MATRIX_FAMILIES[family](like=backend.like))
    low = MATRIX_FAMILIES[family](like=backend.like, dtype=np.float32)
    # The float64 matrix rounded once to float32: equal bit for bit.
    backend.assert_close(low, exact.astype(np.float32), rtol=0)


@pytest.mark.parametrize("family", MATRIX_FAMILIES)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_matrix_families_in_16_bit_hold_the_16_bit_values(backend, family, dtype):
    """The float64 matrix rounded once to the 16-bit format, whatever the library stores it in
    (NumPy float16 as itself, bfloat16 on NumPy in float32 on the bfloat16 grid)."""
    from matsign._backend import round_to

    exact = backend.to_numpy(MATRIX_FAMILIES[family](like=backend.like))
    low = MATRIX_FAMILIES[family](like=backend.like, dtype=dtype)
    if backend.lib == "numpy" and dtype == "float16":
        assert low.dtype == np.float16
    values = backend.to_numpy(low).astype(np.float32)
    # Rounding float64 → float32 → 16 bits equals rounding float64 → 16 bits here: no entry lies
    # within float32 spacing of a 16-bit tie (a double rounding would need that).
    expected = round_to(exact.astype(np.float32), dtype) if dtype == "bfloat16" else exact.astype(np.float16)
    np.testing.assert_array_equal(values, np.asarray(expected, dtype=np.float32))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: power_law(3, -1.0), "alpha"),
        (lambda: power_law(3, float("nan")), "alpha"),
        (lambda: exponential_decay(3, -1.0), "rate"),
        (lambda: exponential_decay(3, float("nan")), "rate"),
        (lambda: log_uniform(3, float("inf")), "kappa"),
        (lambda: log_uniform(3, "10"), "kappa"),
        (lambda: low_rank_plus_noise(3, 1, 2.0), "noise"),
        (lambda: low_rank_plus_noise(3, 1, -1.0), "noise"),
        (lambda: low_rank_plus_noise(3, 1, float("nan")), "noise"),
    ],
)
def test_spectrum_families_reject_parameters_outside_their_domain(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_spectrum_families_at_the_edges_of_their_domain():
    np.testing.assert_array_equal(power_law(3, 0), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(exponential_decay(3, 0), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(low_rank_plus_noise(3, 1, 1.0), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(low_rank_plus_noise(3, 1, 0.0), [1.0, 0.0, 0.0])
    # A single value has no condition number: [1.] whatever κ (documented).
    np.testing.assert_array_equal(log_uniform(1, 1e6), [1.0])


# ---------------------------------------------------------------- the families as sweep sources

SOURCES = {
    # name: (parameters, the same matrix from the generators)
    "power_law": ({"alpha": 2.0, "nonzero": 4}, lambda m, n, rng: with_spectrum(power_law(4, 2.0), m, n, rng=rng)),
    "exponential": ({"rate": 0.3}, lambda m, n, rng: with_spectrum(exponential_decay(min(m, n), 0.3), m, n, rng=rng)),
    "log_uniform": ({"kappa": 1e3}, lambda m, n, rng: with_spectrum(log_uniform(min(m, n), 1e3), m, n, rng=rng)),
    "low_rank_noise": ({"signal_rank": 2},
                       lambda m, n, rng: with_spectrum(low_rank_plus_noise(min(m, n), 2, 0.01), m, n, rng=rng)),
    "student_t": ({"dof": 4}, lambda m, n, rng: student_t_matrix(m, n, 4, rng=rng)),
    "scale_mismatch": ({"row_spread": 10.0},
                       lambda m, n, rng: scale_mismatch(log_uniform(min(m, n), 10.0), m, n, row_spread=10.0, rng=rng)),
}


@pytest.mark.parametrize("name", SOURCES)
def test_each_family_is_a_source_of_the_generators_matrix(name):
    from matsign.registry import get_source

    params, expected = SOURCES[name]
    for m, n in ((6, 9), (9, 6)):
        np.testing.assert_array_equal(get_source(name)(m, n, rng=5, **params), expected(m, n, 5))


@pytest.mark.parametrize("name, params, generator_call", [
    ("power_law", {"alpha": -1.0, "nonzero": None}, lambda: power_law(4, -1.0)),
    ("exponential", {"rate": float("nan"), "nonzero": None}, lambda: exponential_decay(4, float("nan"))),
    ("log_uniform", {"kappa": 0.5, "nonzero": None}, lambda: log_uniform(4, 0.5)),
    ("low_rank_noise", {"signal_rank": 2, "noise": 2.0}, lambda: low_rank_plus_noise(4, 2, 2.0)),
    ("student_t", {"dof": 0}, lambda: student_t_matrix(4, 6, dof=0)),
    ("scale_mismatch", {"row_spread": 0.5, "col_spread": 1.0, "kappa": 10.0},
     lambda: scale_mismatch(np.ones(4), 4, 6, row_spread=0.5)),
])
def test_a_source_check_is_its_generators_check(name, params, generator_call):
    from matsign.registry import get_source

    with pytest.raises(ValueError) as by_generator:
        generator_call()
    with pytest.raises(ValueError) as by_source:
        get_source(name).check(4, 6, **params)
    assert str(by_source.value) == str(by_generator.value)


def test_a_source_check_names_its_own_parameters():
    from matsign.registry import get_source

    with pytest.raises(ValueError, match=r"signal_rank must be at most min\(m, n\) = 4"):
        get_source("low_rank_noise").check(4, 6, signal_rank=5, noise=0.1)
    with pytest.raises(ValueError, match=r"nonzero must be at most min\(m, n\) = 4"):
        get_source("power_law").check(4, 6, alpha=1.0, nonzero=5)


def test_source_labels_are_the_figure_titles():
    from matsign.registry import get_source

    titles = {
        "power_law": ({"alpha": 0.5}, r"power law $\sigma_i = i^{-0.5}$"),
        "exponential": ({"rate": 0.05}, r"exponential $\sigma_i = e^{-0.05(i-1)}$"),
        "log_uniform": ({"kappa": 1e4}, r"log-uniform, $\kappa$ = 1e+04"),
        "low_rank_noise": ({"signal_rank": 8.0, "noise": 0.01}, "rank 8 + noise 0.01"),
        "student_t": ({"dof": 3.0}, "Student-t entries, ν = 3"),
        "scale_mismatch": ({"row_spread": 100.0, "col_spread": 1e3}, "row scales ×1e+02, column scales ×1e+03"),
    }
    for name, (row, title) in titles.items():
        assert get_source(name).label({"source": name, **row}) == title
    assert get_source("scale_mismatch").label({"row_spread": 1.0, "col_spread": 1.0}) == "no scale mismatch"


@pytest.mark.parametrize("spectrum, name, value, first", [(power_law, "alpha", 400.0, 7),
                                                          (exponential_decay, "rate", 50.0, 16)])
def test_a_decay_that_underflows_to_zero_is_refused_by_name(spectrum, name, value, first):
    # 7^(−400) ≈ 1e-338 and exp(−50·15) ≈ 1e-326 are below float64's smallest subnormal (5e-324):
    # the values would be 0 and the matrix silently rank-deficient.
    with pytest.raises(ValueError, match=rf"{name} = {value:g} makes σ_{first} and beyond underflow"):
        spectrum(64, value)
    assert spectrum(first - 1, value)[-1] > 0  # the values before it are kept, subnormal or not

"""Adding a method: a range finder declared in one call runs in sketched_msign and in sweeps.

The toy range finder takes ``rank`` consecutive columns of the wide orientation of ``G``,
orthonormalized. It is declared inside the test with :func:`matsign.lowrank.register_range`,
swept by the experiments engine, its errors checked against an oracle computed here, and removed
from both registries afterwards.
"""

import math

import array_api_compat
import numpy as np
import pytest

pytest.importorskip("pandas")
pytest.importorskip("threadpoolctl")

from matsign._backend import check_nonnegative_int  # noqa: E402
from matsign.experiments.engine import sweep  # noqa: E402
from matsign.experiments.grid import GridError, build_cells  # noqa: E402
from matsign.flops import qr  # noqa: E402
from matsign.lowrank import BasisCost, sketched_msign, lowrank_sign_flops, register_range  # noqa: E402
from matsign.lowrank.sign import _RANGES  # noqa: E402
from matsign.registry import _METHODS, get_method, get_source  # noqa: E402

NAME = "first_columns"


def first_columns(G, rank, *, offset=0, rng=None):
    """Orthonormal basis of columns ``offset … offset + rank − 1`` of the wide orientation of G."""
    xp = array_api_compat.array_namespace(G)
    X = G if G.shape[0] <= G.shape[1] else xp.matrix_transpose(G)
    if offset + rank > X.shape[1]:
        raise ValueError(f"offset + rank = {offset + rank} exceeds the {X.shape[1]} columns")
    return xp.linalg.qr(X[:, offset:offset + rank])[0]


def first_columns_flops(m, n, *, rank, offset):
    return BasisCost(flops=qr(min(m, n), rank), rows=min(m, n), width=rank)


@pytest.fixture
def declared():
    method = register_range(
        NAME, first_columns, options={"offset": check_nonnegative_int}, flops=first_columns_flops,
        description="low-rank sign on the span of consecutive columns", label="first columns",
    )
    try:
        yield method
    finally:
        _METHODS.pop(NAME, None)
        _RANGES.pop(NAME, None)


def _oracle(G, rank, offset):
    """``msign(QQᵀX)`` for Q the first columns' basis, in float64 NumPy, oriented back to G."""
    wide = G.shape[0] <= G.shape[1]
    X = G if wide else G.T
    Q = np.linalg.qr(X[:, offset:offset + rank])[0]
    U, _, Vt = np.linalg.svd(Q.T @ X, full_matrices=False)
    S = Q @ U @ Vt
    return S if wide else S.T


def test_the_declared_range_finder_is_a_method_and_a_range(declared):
    assert get_method(NAME) is declared
    assert list(declared.params.items()) == [("rank", declared.params["rank"]), ("offset", 0), ("inner", "exact"),
                                             ("steps", None)]
    assert declared.label({"rank": 4}) == "first columns"
    assert declared.flops(24, 40, rank=4) == qr(24, 4) + lowrank_sign_flops(24, 40, 4, 4, "exact", None)
    G = np.random.default_rng(0).standard_normal((12, 20))
    np.testing.assert_allclose(sketched_msign(G, 3, range=NAME, offset=2), _oracle(G, 3, 2), atol=1e-12)
    with pytest.raises(ValueError, match="offset must be a non-negative integer"):
        sketched_msign(G, 3, range=NAME, offset=-1)


def test_a_sweep_runs_it_against_the_oracle(declared, tmp_path):
    spec = {
        "seeds": [0, 1],
        "sources": [{"family": "log_uniform", "m": 24, "n": 40, "kappa": 100.0},
                    {"family": "power_law", "m": 32, "n": 20}],
        "methods": [{"name": NAME, "rank": [4, 8]}, {"name": NAME, "rank": 4, "offset": 3, "inner": "polar_express"}],
    }
    table = sweep(build_cells(spec), tmp_path / "t.csv", progress=False)
    assert len(table) == 2 * 2 * 3 and set(table["method"]) == {NAME}
    for column in ("error", "spectral_error", "alignment", "orthogonality_error", "flops", "seconds"):
        assert np.all(np.isfinite(table[column].to_numpy(dtype=float))), column
    for row in table.itertuples():
        params = {"alpha": row.alpha} if row.source == "power_law" else {"kappa": row.kappa}
        G = get_source(row.source)(row.m, row.n, rng=row.matrix_seed, **params)
        offset = 0 if math.isnan(row.offset) else int(row.offset)
        X = _oracle(G, int(row.rank), offset)
        U, _, Vt = np.linalg.svd(G, full_matrices=False)
        error = np.linalg.norm(X - U @ Vt) / np.linalg.norm(U @ Vt)
        if row.inner == "exact":
            # Float64 throughout: the same projection and SVD up to roundoff.
            assert row.error == pytest.approx(error, rel=1e-10, abs=1e-12)
        else:
            # Five Polar Express steps leave the small sign within a few percent of exact.
            assert row.error == pytest.approx(error, abs=0.05)


def test_a_bad_option_is_a_grid_error_before_any_work(declared):
    spec = {"seeds": [0], "sources": [{"family": "power_law", "m": 8, "n": 12}],
            "methods": [{"name": NAME, "rank": 2, "offset": -1}]}
    with pytest.raises(GridError, match=rf"methods\[0\] \({NAME}\): offset must be a non-negative integer"):
        build_cells(spec)


def test_nothing_is_left_registered():
    assert NAME not in _METHODS and NAME not in _RANGES


def test_declaration_errors_name_the_problem():
    with pytest.raises(ValueError, match="option 'width' must be a keyword-only parameter of its function"):
        register_range("bad", first_columns, options={"width": check_nonnegative_int}, flops=first_columns_flops,
                       description="")
    with pytest.raises(ValueError, match="named 'gaussian' is already registered"):
        register_range("gaussian", first_columns, options={}, flops=first_columns_flops, description="")
    assert "bad" not in _METHODS and "bad" not in _RANGES


def test_the_readme_example_runs(capsys):
    """The README's "Adding a method" block, run as written, declares a working method."""
    import pathlib
    import re

    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Adding a method"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    try:
        exec(compile(code, "README.md", "exec"), {})
        printed = capsys.readouterr().out
        assert "'offset': 0" in printed and "'rank': REQUIRED" in printed
        G = np.random.default_rng(0).standard_normal((64, 128))
        X = sketched_msign(G, 8, range=NAME, offset=4)
        Q = np.linalg.qr(G[:, 4:12])[0]
        U, _, Vt = np.linalg.svd(Q.T @ G, full_matrices=False)
        np.testing.assert_allclose(X, Q @ U @ Vt, atol=1e-12)  # float64 rounding of two QRs and SVDs
    finally:
        _METHODS.pop(NAME, None)
        _RANGES.pop(NAME, None)

"""What the cells of one matrix share (its reference, its rank-r oracles) changes no value."""

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("threadpoolctl")

from matsign.experiments import measure  # noqa: E402
from matsign.experiments.config import load_config  # noqa: E402
from matsign.experiments.engine import TIMING, sweep  # noqa: E402
from matsign.experiments.error_vs_rank import EXPERIMENT  # noqa: E402
from matsign.experiments.grid import build_cells  # noqa: E402


@pytest.fixture
def cells(monkeypatch):
    """The quick error-vs-rank grid (two matrices), with no context left from an earlier test."""
    monkeypatch.delattr(measure._cache, "context", raising=False)
    cells = build_cells(load_config(EXPERIMENT.config, quick=True))
    EXPERIMENT.check(cells)
    return cells


def _unshared_oracle(self, rank):
    """``U_r V_rᵀ`` formed anew at every call, as before it was kept per rank."""
    r = min(int(rank), self.rho)
    return self._U[:, :r] @ self._Vt[:r, :]


def test_sharing_per_matrix_leaves_the_table_unchanged(tmp_path, cells, monkeypatch):
    shared = sweep(cells, tmp_path / "shared.csv", extra=EXPERIMENT.extra, progress=False)
    # Every cell builds its own matrix, reference and oracles: nothing passes between cells.
    monkeypatch.setattr(measure, "_context", measure._build_context)
    monkeypatch.setattr(measure.Context, "oracle", _unshared_oracle)
    alone = sweep(cells, tmp_path / "alone.csv", extra=EXPERIMENT.extra, progress=False)
    assert shared["oracle_distance"].notna().any()  # the shared oracles were used
    shared, alone = (table.drop(columns=list(TIMING)) for table in (shared, alone))
    pd.testing.assert_frame_equal(shared, alone, check_exact=True)


def test_a_matrix_context_serves_only_its_own_cells(cells):
    first, second = cells[0], next(c for c in cells if c.matrix_id != cells[0].matrix_id)
    rank = 8
    kept = measure._context(first).oracle(rank)
    assert measure._context(first).oracle(rank) is kept  # formed once per matrix and rank
    # The next matrix gets its own context; coming back builds the first one anew, equal bits.
    other = measure._context(second).oracle(rank)
    again = measure._context(first).oracle(rank)
    for cell, oracle in ((first, again), (second, other)):
        fresh = measure._build_context(cell)
        assert np.array_equal(oracle, _unshared_oracle(fresh, rank))
        # The oracle of the cell's own matrix: U_r V_r^T of its float64 matrix. Both spectra have
        # a clear gap σ_8 > σ_9, so U_8 V_8^T is unique and agrees to rounding.
        U, _, Vt = np.linalg.svd(np.asarray(fresh.G64), full_matrices=False)
        np.testing.assert_allclose(oracle, U[:, :rank] @ Vt[:rank], atol=1e-12)
    assert again is not kept
    assert not np.allclose(other, again)

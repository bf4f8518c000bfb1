"""``matsign advise``: the cheapest method predicted to reach a target, checked against runs."""

import math

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

from matsign.cli import main  # noqa: E402
from matsign.experiments.advice import REFERENCE, advise_matrix, candidates, check_target  # noqa: E402
from matsign.io import write_step  # noqa: E402
from matsign.registry import _METHODS, get_method, register  # noqa: E402
from matsign.synthetic import power_law, with_spectrum

SHAPE = (48, 96)


def _matrix(alpha=1.0, seed=0):
    """A 48 × 96 matrix with σ_i = i^(−alpha) between Haar factors, and its σ."""
    s = power_law(SHAPE[0], alpha)
    return with_spectrum(s, *SHAPE, rng=seed), np.sort(s)[::-1]


@pytest.fixture
def dump(tmp_path):
    G, _ = _matrix()
    H, _ = _matrix(alpha=0.5, seed=1)
    tensors = {"grad/a": G.astype(np.float32), "grad/b": H.T.astype(np.float32)}
    write_step(tmp_path / "dump", 3, tensors)
    return tmp_path / "dump"


@pytest.fixture
def unpredicted():
    """A method registered without a prediction (removed afterwards)."""
    name = "doc_scaled_identity"
    register(name, lambda G, *, rng=None: G, description="G itself", flops=lambda m, n: 1.0,
             label="G")
    try:
        yield name
    finally:
        _METHODS.pop(name, None)


def test_cli_writes_the_table_and_meets_the_target(dump, tmp_path):
    out = tmp_path / "out"
    rc = main(["advise", str(dump), "--target-alignment", "0.8", "--verify", "--out", str(out),
               "--no-progress"])
    assert rc == 0
    table = pd.read_csv(out / "advice.csv")
    assert (out / "advice.png").exists() and (out / "advice.pdf").exists()
    for column in ("name", "shape", "role", "method", "predicted_alignment",
                   "predicted_relative_error", "measured_alignment", "measured_relative_error",
                   "flops", "flop_saving", "reference"):
        assert column in table
    assert set(table["reference"]) == {"truncated"}
    for _, rows in table.groupby("name"):
        roles = rows.set_index("role")
        assert roles.loc["reference", "method"] == REFERENCE[0]
        assert roles.loc["reference", "flop_saving"] == 0.0
        if "runner-up" in roles.index:
            assert roles.loc["chosen", "flops"] <= roles.loc["runner-up", "flops"]
        assert roles.loc["chosen", "measured_alignment"] >= 0.8


def test_the_chosen_method_reaches_the_target_on_a_known_spectrum():
    G, s = _matrix()
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    for target in (0.6, 0.8, 0.9, 0.97):
        rows = advise_matrix(s, SHAPE, target=("alignment", target))
        chosen = rows[0]
        assert chosen["role"] == "chosen" and chosen["meets_target"]
        X = np.asarray(get_method(chosen["method"])(G, rng=0, **chosen["params"]), dtype=np.float64)
        # The alignment against the float64 SVD of G: ⟨G, X⟩/Σσ.
        measured = float(np.sum((U * s) @ Vt * X)) / s.sum()
        assert measured >= target, (target, chosen["method"], chosen["params"])
        # Nothing predicted to reach the target is cheaper.
        for name, params in candidates(*SHAPE):
            if name == chosen["method"] and params == chosen["params"]:
                continue
            cheaper = get_method(name).flops(*SHAPE, **params) < chosen["flops"]
            assert not (cheaper and _reaches(s, name, params, target)), (name, params)


def _reaches(s, name, params, target):
    """The selection rule, restated: conservative end ≥ target and no overshoot past 1."""
    import matsign
    from scipy.stats import chi2

    try:
        p = matsign.predict(s, name, shape=SHAPE, reference="storage", **params)
    except ValueError:
        return False
    low = p["alignment_low"]
    if p["kind"] == "monte_carlo":  # the std at its 95% upper confidence limit
        n = p["draws"]
        low = p["alignment"] - 2 * p["alignment_std"] * np.sqrt((n - 1) / chi2.ppf(0.05, n - 1))
    reaches = low >= target and p["alignment_high"] <= 1.0 + 1e-9
    return p["kind"] != "none" and reaches


def test_a_target_error_uses_the_upper_end():
    _, s = _matrix()
    rows = advise_matrix(s, SHAPE, target=("relative_error", 0.3), reference="full")
    chosen = rows[0]
    assert chosen["meets_target"] and chosen["prediction"]["relative_error_high"] <= 0.3


def test_methods_without_a_prediction_are_listed(unpredicted, dump, tmp_path):
    _, s = _matrix()
    rows = advise_matrix(s, SHAPE, target=("alignment", 0.8))
    listed = [r for r in rows if r["method"] == unpredicted]
    assert len(listed) == 1 and listed[0]["role"] == "no prediction"
    assert "no prediction" in listed[0]["prediction"]["note"]
    assert rows[0]["method"] != unpredicted
    rc = main(["advise", str(dump), "--target-alignment", "0.8", "--out", str(tmp_path / "o"),
               "--no-progress"])
    table = pd.read_csv(tmp_path / "o" / "advice.csv")
    assert rc == 0 and set(table.loc[table["method"] == unpredicted, "role"]) == {"no prediction"}


def test_ranks_out_of_reach_are_skipped():
    assert all(p.get("rank", 0) <= 16 for _, p in candidates(16, 300))
    assert not any(name == "gaussian" for name, _ in candidates(4, 300))


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, math.nan])
def test_bad_targets_are_rejected(bad, dump, tmp_path, capsys):
    with pytest.raises(ValueError, match="target alignment"):
        check_target(target_alignment=bad)
    with pytest.raises(SystemExit):
        main(["advise", str(dump), "--target-alignment", str(bad), "--out", str(tmp_path / "o")])
    assert "target alignment must be" in capsys.readouterr().err


def test_bad_invocations_are_rejected(dump, tmp_path, capsys):
    with pytest.raises(ValueError, match="exactly one"):
        check_target(target_alignment=0.5, target_error=0.1)
    with pytest.raises(ValueError, match="target error"):
        check_target(target_error=0.0)
    assert main(["advise", str(tmp_path / "missing"), "--target-alignment", "0.8"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_newton_schulz_step_longer_than_a_sign_is_not_chosen():
    # On a recorded gradient, one Polar Express step predicts an alignment in [0.85, 1] but maps
    # σ up to about 2: a step twice a sign's length. It must not count as reaching 0.85, and
    # every Newton–Schulz row that does has a run whose ‖X‖₂ (float64) is within MAX_STEP_NORM.
    from matsign.experiments.advice import MAX_STEP_NORM
    from matsign.io import RECORDED_DUMP, load_gradients
    from matsign.prediction import predict

    record = next(r for r in load_gradients(RECORDED_DUMP) if r.step == 500 and r.kind == "grad"
                  and r.name == "blocks.0.attn.out.weight")
    G = np.asarray(record.load(), dtype=np.float64)
    s = np.linalg.svd(G, compute_uv=False)
    one_step = {"schedule": "polar_express", "steps": 1}
    p = predict(s, "newton_schulz", shape=G.shape, **one_step)
    assert 0.85 <= p["alignment"] <= 1.0
    assert np.linalg.norm(get_method("newton_schulz")(G, **one_step), 2) > 1.5
    rows = advise_matrix(s, G.shape, target=check_target(target_alignment=0.85))
    for row in rows:
        if row["method"] == "newton_schulz" and row["meets_target"]:
            X = get_method("newton_schulz")(G, **row["params"])
            assert np.linalg.norm(X, 2) <= MAX_STEP_NORM


def test_a_zero_matrix_is_listed_not_advised(tmp_path, capsys):
    G, _ = _matrix()
    write_step(tmp_path / "dump", 1, {"grad/a": G, "grad/zero": np.zeros((8, 12))})
    out = tmp_path / "out"
    rc = main(["advise", str(tmp_path / "dump"), "--target-alignment", "0.8", "--verify", "--out",
               str(out), "--no-progress"])
    assert rc == 0 and "1 zero matrices" in capsys.readouterr().out
    table = pd.read_csv(out / "advice.csv")
    assert table.loc[table["name"] == "zero", "role"].tolist() == ["zero matrix"]
    assert set(table.loc[table["name"] == "a", "role"]) >= {"chosen", "reference"}

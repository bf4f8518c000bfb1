"""Quick runs of every named experiment: table, PNG and PDF, and the claims each figure shows."""

import numpy as np
import pytest

pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

from matsign.experiments import EXPERIMENTS, run_experiment  # noqa: E402
from matsign.experiments.config import load_config  # noqa: E402
from matsign.experiments.grid import GridError, build_cells  # noqa: E402


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """Run an experiment's quick grid once per module; return its outputs."""
    root = tmp_path_factory.mktemp("quick")
    done = {}

    def run(name):
        if name not in done:
            done[name] = run_experiment(EXPERIMENTS[name], out_dir=root / "results", figure_dir=root / "figures",
                                        quick=True, progress=False)
        return done[name]

    return run


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_quick_run_writes_table_and_figures(quick, name):
    outputs = quick(name)
    assert outputs.csv.name == f"{name}-quick.csv" and outputs.csv.exists()
    assert len(outputs.table) == len(build_cells(load_config(EXPERIMENTS[name].config, quick=True)))
    assert outputs.figure.suffix == ".png" and outputs.figure.stat().st_size > 10_000
    assert outputs.figure.with_suffix(".pdf").stat().st_size > 5_000


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_default_configs_are_valid_grids(name):
    cells = build_cells(load_config(EXPERIMENTS[name].config))
    EXPERIMENTS[name].check(cells)
    quick = build_cells(load_config(EXPERIMENTS[name].config, quick=True))
    EXPERIMENTS[name].check(quick)
    assert len(cells) > len(quick)


_SOURCE = '[[sources]]\nfamily = "{family}"\nm = 8\nn = 12\n{extra}\n'
_KAPPA = _SOURCE.format(family="log_uniform", extra="kappa = 10.0")
_POWER = _SOURCE.format(family="power_law", extra="")
_GAUSSIAN = '[[methods]]\nname = "gaussian"\nrank = 4\n'
_NS = '[[methods]]\nname = "newton_schulz"\nsteps = [3, 5]\n'


@pytest.mark.parametrize("name, grid, message", [
    ("error-vs-rank", _POWER + _NS, "error-vs-rank needs methods with the parameter(s) rank; method 'newton_schulz' has no 'rank'"),
    ("ns-vs-spectrum", _KAPPA + _GAUSSIAN, "ns-vs-spectrum analyses only the methods newton_schulz, gram_newton_schulz; the grid has 'gaussian'"),
    ("ns-vs-spectrum", _POWER + _NS,
     "ns-vs-spectrum needs sources with a kappa or recorded matrices; "
     "source 'power_law' has neither"),
    ("ns-vs-spectrum", _SOURCE.format(family="log_uniform", extra="kappa = 10.0\nnonzero = 4") + _NS, "needs a full-rank source (one without nonzero)"),
    ("ns-vs-spectrum", _KAPPA + '[[methods]]\nname = "newton_schulz"\nsteps = 3\n', "needs steps = 5 on its steps axis"),
    ("dion2-fraction", _POWER + _GAUSSIAN, "dion2-fraction needs methods with the parameter(s) fraction, score; method 'gaussian' has no 'fraction'"),
    ("equilibration", _POWER + _GAUSSIAN, "equilibration needs methods with the parameter(s) schedule; method 'gaussian' has no 'schedule'"),
    ("precision", _POWER + _NS, "precision needs sources with the parameter(s) kappa; source 'power_law' has no 'kappa'"),
    # Figures that would average distinct configurations: two shapes, two methods, two inputs.
    ("ns-vs-spectrum", _KAPPA.replace("n = 12", "n = [12, 16]") + _NS,
     "take 2 values of n (12, 16), which it would average"),
    ("ns-vs-spectrum", _KAPPA + _NS + '[[methods]]\nname = "gram_newton_schulz"\nsteps = 5\n',
     "take 2 values of method ('gram_newton_schulz', 'newton_schulz')"),
    ("precision", _KAPPA + _NS, "take 2 values of steps (3, 5)"),
    ("precision", _KAPPA.replace("kappa = 10.0", 'kappa = 10.0\ninput_dtype = ["float64", "float32"]')
     + '[[methods]]\nname = "newton_schulz"\n', "take 2 values of input_dtype"),
])
def test_a_grid_the_experiment_cannot_analyse_fails_before_any_work(tmp_path, name, grid, message):
    config = tmp_path / "grid.toml"
    config.write_text("seeds = [0]\n" + grid)
    with pytest.raises(GridError) as info:
        run_experiment(EXPERIMENTS[name], config=config, out_dir=tmp_path / "out", progress=False)
    assert message in str(info.value)
    assert not (tmp_path / "out").exists()


def test_other_methods_an_experiment_can_analyse_give_its_table_and_figure(tmp_path):
    """error-vs-rank takes any method with a rank; ns-vs-spectrum the Gram form of Newton–Schulz."""
    config = tmp_path / "other.toml"
    config.write_text("seeds = [0]\n" + _POWER + '[[methods]]\nname = "galore"\nrank = [2, 4]\n')
    t = run_experiment(EXPERIMENTS["error-vs-rank"], config=config, out_dir=tmp_path, progress=False).table
    # GaLore's exact inner sign is the oracle U_r V_rᵀ: it attains the rank floor (float64: 1e-12).
    np.testing.assert_allclose(t["error"], t["rank_floor"], atol=1e-12)
    config.write_text("seeds = [0]\n" + _KAPPA + '[[methods]]\nname = "gram_newton_schulz"\nsteps = [3, 5]\n')
    t = run_experiment(EXPERIMENTS["ns-vs-spectrum"], config=config, out_dir=tmp_path, progress=False).table
    # The Gram form is the same polynomial of G: scalar_map predicts it (float64 rounding).
    np.testing.assert_allclose(t["error"], t["predicted_error"], rtol=1e-8)
    assert (tmp_path / "ns-vs-spectrum-other.png").exists()


def test_error_vs_rank_every_method_lies_between_the_oracle_and_its_bound(quick):
    t = quick("error-vs-rank").table
    oracle = t[t["method"] == "oracle"]
    # The oracle U_r V_rᵀ attains the rank floor √((ρ − r)/ρ) exactly (float64 rounding: 1e-12).
    np.testing.assert_allclose(oracle["error"], oracle["rank_floor"], atol=1e-12)
    np.testing.assert_allclose(oracle["alignment"], oracle["oracle_alignment"], atol=1e-12)
    best = oracle.set_index(["source", "seed", "rank"])["error"]
    for _, row in t[t["method"] != "oracle"].iterrows():
        assert row["error"] >= best[(row["source"], row["seed"], row["rank"])] - 1e-12
        assert row["alignment"] <= row["oracle_alignment"] + 1e-12
        if np.isfinite(row["bound"]):  # the deterministic bound holds wherever it applies
            assert row["oracle_distance"] <= row["bound"] + 1e-12
            assert row["error"] <= row["error_bound"] + 1e-12
    # At the gap of the low-rank + noise spectrum the bound applies and power iterations find U_r.
    gap = t[(t["source"] == "low_rank_noise") & (t["rank"] == t["signal_rank"]) & (t["method"] == "gaussian")]
    assert np.isfinite(gap["bound"]).all()
    assert gap.loc[gap["power_iters"] == 2, "oracle_distance"].max() < 1e-6


def test_ns_vs_spectrum_measured_equals_predicted_and_grows_with_kappa(quick):
    t = quick("ns-vs-spectrum").table
    # float64: the scalar map predicts the measured error to rounding; above 1e-8 the relative
    # difference is ~1e-13 (tolerance 1e-10 leaves room for κ = 1e6 conditioning).
    big = t[t["predicted_error"] > 1e-8]
    np.testing.assert_allclose(big["error"], big["predicted_error"], rtol=1e-10)
    full = t[t["nonzero"].isna() & (t["steps"] == 5)].sort_values("kappa")
    for schedule, rows in full.groupby("schedule"):
        error = rows["error"].to_numpy()
        assert error[-1] > 1.5 * error[0]  # κ = 1e6 is much worse than κ = 10 at a fixed budget
        if schedule in ("cubic", "polar_express8"):  # converging schedules: worse at every step of κ
            assert np.all(np.diff(error) > 0)
    # At fixed κ the stable rank rises with the number of nonzero σ, and cubic NS gets worse.
    cubic = t[(t["schedule"] == "cubic") & (t["steps"] == 5) & (t["kappa"] == 1e2)].sort_values("stable_rank")
    assert len(cubic) >= 3 and np.all(np.diff(cubic["error"].to_numpy()) > 0)


def test_precision_errors_order_by_format(quick):
    t = quick("precision").table
    ns = t[(t["method"] == "newton_schulz") & (t["kappa"] == 10.0)].set_index("dtype")["error"]
    # Polar Express (8) converges at κ = 10: float64 reaches rounding, each coarser format stops
    # near its own unit roundoff (float32 2^-24, float16 2^-11, bfloat16 2^-8).
    assert ns["float64"] < 1e-12
    assert ns["float64"] < ns["float32"] < ns["float16"] < ns["bfloat16"]
    assert ns["float32"] < 1e-5 and 1e-4 < ns["bfloat16"] < 0.1
    # TF32 reads product operands with float16's 10-bit mantissa but stores float32.
    assert ns["float32"] < ns["tfloat32"] < ns["bfloat16"]
    exact = t[t["method"] == "exact_eigh"].set_index(["input_dtype", "kappa"])["error"]
    assert exact[("float64", 10.0)] < 1e-12 < exact[("float32", 10.0)] < 1e-5
    # Newton–Schulz to convergence is exact at both κ in float64 (no squared condition number).
    converged = t[t["method"] == "exact_ns"].set_index(["input_dtype", "kappa"])["error"]
    assert converged[("float64", 10.0)] < 1e-12 and converged[("float64", 1e4)] < 1e-11


def test_equilibration_fixes_row_mismatch_and_changes_the_target(quick):
    t = quick("equilibration").table
    plain = t[t["method"] == "newton_schulz"]
    np.testing.assert_array_equal(plain["target_error"], plain["error"])  # no scaling: same target
    t = t.assign(mode=t["mode"].fillna("none"))
    skewed = t[(t["source"] == "scale_mismatch") & (t["row_spread"] == 1e4)].set_index("mode")
    # Rows over 4 decades: 5 Muon steps leave the small rows unorthogonalized; after row scaling
    # the same steps orthogonalize the equilibrated matrix far better…
    assert skewed.loc["R", "target_error"] < 0.5 * skewed.loc["none", "error"]
    # …but towards msign(D_r G), which is not msign(G).
    assert skewed.loc["R", "error"] > skewed.loc["R", "target_error"]
    assert skewed.loc["R", "target_condition_number"] < skewed.loc["none", "target_condition_number"]


def test_dion2_fraction_bounds_and_selection(quick):
    t = quick("dion2-fraction").table
    whole = t[t["fraction"] == 1.0]
    assert (whole["error"] < 1e-12).all()  # every slice selected: the exact sign
    assert (t["error"] >= t["slice_floor"] - 1e-12).all()
    assert (t["alignment"] <= t["oracle_alignment"] + 1e-12).all()
    eighth = t[t["fraction"] == 0.125].set_index("score")["alignment"]
    assert eighth["l1"] > 1.5 * eighth["random"]  # rows differ in scale: the L1 rule finds the big ones


@pytest.mark.parametrize("stem", ["precision-quick", "precision-torch", "precision-cupy-cuda"])
def test_a_config_named_like_the_default_outputs_is_refused(tmp_path, stem):
    config = tmp_path / f"{stem}.toml"
    config.write_text(EXPERIMENTS["precision"].config.read_text())
    with pytest.raises(GridError, match="named like the default run's outputs"):
        run_experiment(EXPERIMENTS["precision"], config=config, out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()

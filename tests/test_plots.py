"""Sweep figures: every plotted value is the mean over seeds of one configuration, never an
average of distinct matrices or method settings, and distinct configurations look distinct."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

from matsign.experiments import dion2_fraction, equilibration, error_vs_rank  # noqa: E402
from matsign.experiments.engine import sweep  # noqa: E402
from matsign.experiments.grid import build_cells  # noqa: E402
from matsign.plots import ERROR_FLOOR  # noqa: E402
from matsign.plots import dion2 as dion2_plots  # noqa: E402
from matsign.plots import equilibration as equilibration_plots  # noqa: E402
from matsign.plots import lowrank as lowrank_plots  # noqa: E402

SEEDS = [0, 1]


def _table(experiment, sources, methods, tmp_path):
    spec = {"seeds": SEEDS, "sources": sources, "methods": methods}
    return sweep(build_cells(spec), tmp_path / "table.csv", extra=experiment.EXPERIMENT.extra, progress=False)


def _figure(module, draw, table, tmp_path, monkeypatch):
    """The matplotlib figure ``draw`` builds (its files are not written)."""
    drawn = []
    monkeypatch.setattr(module, "save", lambda fig, stem: drawn.append(fig) or stem)
    draw(table, tmp_path / "figure")
    return drawn[0]


def _curves(rows, configuration, x, metric):
    """Mean over seeds of ``metric`` against ``x``, per configuration (every other column fixed)."""
    assert set(rows["seed"]) == set(SEEDS)
    return {key: d.groupby(x)[metric].mean() for key, d in rows.groupby(configuration, dropna=False)}


def _match_lines(lines, curves):
    """Each line is exactly one configuration's curve, and each configuration has one line."""
    matched = []
    for line in lines:
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        # Both sides are means of the same two float64 numbers: equal to rounding.
        found = [key for key, curve in curves.items()
                 if np.array_equal(curve.index.to_numpy(float), x) and np.allclose(curve.to_numpy(), y, rtol=1e-12)]
        assert len(found) == 1, (line.get_label(), y, found)
        matched.append(found[0])
    assert sorted(matched, key=repr) == sorted(curves, key=repr)


def test_error_vs_rank_draws_each_spectrum_and_method_variant_apart(tmp_path, monkeypatch):
    # Two spectra that differ only in the number of nonzero σ, two Gaussian variants that differ
    # only in the inner sign (a parameter the label does not name), averaged before per rank.
    table = _table(error_vs_rank, [{"family": "power_law", "m": 16, "n": 24, "nonzero": [6, 12]}],
                   [{"name": "gaussian", "rank": [2, 4], "inner": ["exact", "polar_express"]},
                    {"name": "oracle", "rank": [2, 4]}], tmp_path)
    fig = _figure(lowrank_plots, lowrank_plots.error_vs_rank_figure, table, tmp_path, monkeypatch)
    axes = np.reshape(fig.axes, (3, -1))
    assert axes.shape[1] == 2
    titles = [ax.get_title() for ax in axes[0]]
    assert "nonzero = 6" in titles[0] and "nonzero = 12" in titles[1]
    for ax, nonzero in zip(axes[0], (6, 12)):
        rows = table[table["nonzero"] == nonzero]
        floor, *lines = ax.get_lines()
        # The rank floor √((ρ − r)/ρ) of this spectrum (ρ = nonzero), not of a mix of both.
        np.testing.assert_allclose(floor.get_ydata(), np.sqrt((nonzero - np.array([2, 4])) / nonzero), rtol=1e-12)
        _match_lines(lines, _curves(rows, ["method", "inner"], "rank", "error"))
        labels = [line.get_label() for line in lines]
        assert len(set(labels)) == 3 and any("inner = polar_express" in label for label in labels)


def test_error_vs_rank_without_any_oracle_distance_says_so(tmp_path, monkeypatch):
    # Rank 6 of a rank-4 matrix: σ₆ = σ₇ = 0, no gap, so U_rV_rᵀ is not unique and every
    # distance is NaN; a log axis has nothing to show and must not be requested.
    table = _table(error_vs_rank, [{"family": "power_law", "m": 16, "n": 24, "nonzero": 4}],
                   [{"name": "gaussian", "rank": 6}], tmp_path)
    assert table["oracle_distance"].isna().all()
    fig = _figure(lowrank_plots, lowrank_plots.error_vs_rank_figure, table, tmp_path, monkeypatch)
    middle = np.reshape(fig.axes, (3, -1))[1, 0]
    assert middle.get_yscale() == "linear"
    assert any("no oracle distance" in text.get_text() for text in middle.texts)


def test_error_vs_rank_panels_show_only_ranks_with_data_and_variants_look_distinct(tmp_path, monkeypatch):
    # Signal rank 4 plus a flat noise floor: σ_r > σ_{r+1} only at r = 4, so the oracle distance
    # exists at one of the three ranks; its panel must show that rank alone.
    table = _table(error_vs_rank, [{"family": "low_rank_noise", "m": 16, "n": 24, "signal_rank": 4}],
                   [{"name": "gaussian", "rank": [2, 4, 8], "power_iters": [0, 1]},
                    {"name": "column", "rank": [2, 4, 8], "strategy": ["uniform", "norm"]},
                    {"name": "oracle", "rank": [2, 4, 8]}], tmp_path)
    assert set(table.loc[table["oracle_distance"].notna(), "rank"]) == {4}
    fig = _figure(lowrank_plots, lowrank_plots.error_vs_rank_figure, table, tmp_path, monkeypatch)
    top, middle, bottom = fig.axes
    for ax, ranks in ((top, [2, 4, 8]), (middle, [4]), (bottom, [2, 4, 8])):
        assert list(ax.get_xticks()) == ranks
        for rank in ranks:  # some drawn line has a finite value at every rank the panel shows
            assert any(np.isfinite(np.asarray(line.get_ydata(), float)[np.asarray(line.get_xdata()) == rank]).any()
                       for line in ax.get_lines())
    # Five variants, five (colour, marker) pairs, five horizontal positions at each rank.
    variants = top.get_lines()[1:]
    assert len({(line.get_color(), line.get_marker()) for line in variants}) == len(variants) == 5
    shifts = {round(line.get_transform().transform((4, 0.5))[0], 6) for line in variants}
    assert len(shifts) == 5


def test_dion2_fraction_draws_each_spectrum_apart(tmp_path, monkeypatch):
    table = _table(dion2_fraction, [{"family": "exponential", "m": 16, "n": 24, "rate": [0.01, 1.0]}],
                   [{"name": "dion2", "fraction": [0.25, 0.5], "score": ["l1", "random"]}], tmp_path)
    fig = _figure(dion2_plots, dion2_plots.dion2_fraction_figure, table, tmp_path, monkeypatch)
    axes = np.reshape(fig.axes, (2, -1))
    assert axes.shape[1] == 2
    for ax, rate in zip(axes[0], (0.01, 1.0)):
        rows = table[table["rate"] == rate]
        floor, *lines = ax.get_lines()
        _match_lines([floor], _curves(rows, ["source"], "fraction", "slice_floor"))
        _match_lines(lines, _curves(rows, ["score"], "fraction", "error"))


def test_equilibration_draws_each_matrix_and_exponent_apart(tmp_path, monkeypatch):
    table = _table(equilibration, [{"family": "power_law", "m": 16, "n": 24, "alpha": [0.5, 2.0]}],
                   [{"name": "newton_schulz", "schedule": "muon"},
                    {"name": "muoneq", "mode": "R", "exponent": [-0.5, -0.25], "schedule": "muon"}], tmp_path)
    fig = _figure(equilibration_plots, equilibration_plots.equilibration_figure, table, tmp_path, monkeypatch)
    labels = [t.get_text() for t in fig.axes[2].get_xticklabels()]
    assert len(labels) == 2 and len(set(labels)) == 2
    for ax, metric in zip(fig.axes, ("error", "target_error", "alignment")):
        points = [(line.get_xdata()[0], line.get_ydata()[0], line.get_marker(), line.get_color())
                  for line in ax.get_lines()]
        for x, alpha in enumerate((0.5, 2.0)):
            rows = table[table["alpha"] == alpha]
            means = rows.groupby(["method", "exponent"], dropna=False)[metric].mean()
            if metric != "alignment":
                means = means.clip(lower=ERROR_FLOOR)
            drawn = [p for p in points if round(p[0]) == x]
            # One point per method setting, each its own mean, and no two drawn alike.
            np.testing.assert_allclose(sorted(p[1] for p in drawn), sorted(means), rtol=1e-12)
            assert len({(round(p[0], 6), p[2], p[3]) for p in drawn}) == len(drawn) == 3
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("exponent = -0.25" in label for label in legend)


# ---------------------------------------------------------------- labels come from the declarations

LABELS = [
    # (method, params, the label figures have always shown)
    ("gaussian", {"rank": 8}, "Gaussian sketch (He et al.)"),
    ("gaussian", {"rank": 8, "power_iters": 1, "oversample": 4.0}, "Gaussian sketch + 1 power it (HMT), p = 4"),
    ("gaussian", {"power_iters": 2, "oversample": float("nan")}, "Gaussian sketch + 2 power its (HMT)"),
    ("column", {"strategy": "uniform"}, "uniform columns (Low-rank Muon)"),
    ("column", {"strategy": "norm"}, "norm² sampling"),
    ("column", {"strategy": "l1_topk"}, "L1 top-k (Dion2 score)"),
    ("column", {"strategy": "leverage"}, "leverage scores"),
    ("column", {"strategy": "pivoted_qr"}, "pivoted QR"),
    ("newton_schulz", {"schedule": "cubic"}, "cubic NS"),
    ("newton_schulz", {"schedule": "muon"}, "Muon quintic"),
    ("newton_schulz", {"schedule": "you5"}, "You (5 steps)"),
    ("newton_schulz", {"schedule": "polar_express"}, "Polar Express"),
    ("newton_schulz", {"schedule": "polar_express8"}, "Polar Express (8)"),
    ("newton_schulz", {"schedule": "cans"}, "CANS"),
    ("newton_schulz", {"schedule": "aol4"}, "Turbo-Muon AOL (4)"),
    ("newton_schulz", {"schedule": "deepseek_v4"}, "DeepSeek-V4"),
    ("muoneq", {"mode": "RC"}, "MuonEq-RC"),
    ("dion2", {"score": "l1"}, "Dion2 (l1 score)"),
    ("oracle", {"rank": 4}, r"oracle $U_rV_r^\top$"),
    ("exact_svd", {}, "exact (SVD)"),
    ("exact_eigh", {}, "exact (Gram eigh)"),
    ("exact_ns", {}, "exact (NS to convergence)"),
    ("qdwh", {}, "exact (QDWH)"),
    ("galore", {"rank": 4}, "GaLore projector"),
    ("gum", {"rank": 4}, "GUM"),
    ("gram_newton_schulz", {}, "gram_newton_schulz"),
    ("not_registered", {}, "not_registered"),
]


@pytest.mark.parametrize("method, params, label", LABELS)
def test_method_labels_are_the_registered_ones(method, params, label):
    from matsign.plots import method_label
    from matsign.registry import METHODS

    assert method_label(method, params) == label
    if method in METHODS:
        assert METHODS[method].label(params) == label


def test_schedule_and_source_labels_are_the_registered_ones():
    from matsign import SCHEDULES
    from matsign.plots import matrix_title, schedule_label, source_label
    from matsign.registry import SOURCES, get_method

    for name in SCHEDULES:
        assert schedule_label(name) == get_method("newton_schulz").label({"schedule": name})
    row = {"source": "log_uniform", "kappa": 1e3, "m": 16, "n": 24}
    assert source_label(row) == SOURCES["log_uniform"].label(row) == r"log-uniform, $\kappa$ = 1e+03"
    assert matrix_title(row) == "log-uniform, $\\kappa$ = 1e+03\n16×24"
    assert source_label({"source": "not_registered"}) == "not_registered"

"""`matsign spectra`: spectra of dumped matrices against closed forms of their known σ."""

from __future__ import annotations

import argparse
import time
import weakref

import numpy as np
import pytest

pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

from matsign.exact import SCHEDULES, scalar_map  # noqa: E402
from matsign.cli import main  # noqa: E402
from matsign.cli.spectra import add_spectra_arguments, spectra_command  # noqa: E402
from matsign.experiments.spectra import analyse_dump  # noqa: E402
from matsign.io import DumpError, GradientRecord, write_step  # noqa: E402
from matsign.spectral import spectral_summary  # noqa: E402
from matsign.synthetic import log_uniform, power_law, with_spectrum  # noqa: E402

# Known spectra, with exact zeros in the last one (rank 5 of 12), on tall, wide and square shapes.
SPECTRA = {
    "blocks.0.w": (power_law(12, 1.5), (12, 30)),
    "blocks.1.w": (log_uniform(16, 1e3), (40, 16)),
    "blocks.2.w": (np.concatenate([np.linspace(3.0, 1.0, 5), np.zeros(7)]), (12, 12)),
}


def _closed_forms(sigma, ranks):
    """Every diagnostic straight from the definitions, over the known σ (float64)."""
    s = np.sort(sigma)[::-1]
    nonzero = s[s > 0]
    p = nonzero / nonzero.sum()
    i = np.arange(1, nonzero.size + 1)
    slope = np.polyfit(np.log(i), np.log(nonzero), 1)[0]
    forms = {
        "frobenius_norm": np.sqrt(np.sum(s**2)),
        "spectral_norm": s[0],
        "nuclear_norm": s.sum(),
        "stable_rank": np.sum(s**2) / s[0] ** 2,
        "nuclear_rank": s.sum() ** 2 / np.sum(s**2),
        "numerical_rank": nonzero.size,
        "condition_number": s[0] / nonzero[-1],
        "effective_rank": np.exp(-np.sum(p * np.log(p))),
        "power_law_exponent": -slope,
    }
    for r in ranks:
        if r <= s.size:
            forms[f"tail_energy_r{r}"] = np.sum(s[r:] ** 2) / np.sum(s**2)
    scaled = nonzero / np.sqrt(np.sum(s**2))
    for name in SCHEDULES:
        forms[f"ns_error_{name}"] = np.sqrt(np.sum((scalar_map(scaled, name) - 1.0) ** 2) / nonzero.size)
    return forms


@pytest.fixture
def dump(tmp_path):
    """Steps 0 and 5 of float64 gradients and momenta with the known spectra (step 5 scaled by 2)."""
    for step, scale in ((0, 1.0), (5, 2.0)):
        tensors = {}
        for i, (name, (sigma, (m, n))) in enumerate(SPECTRA.items()):
            tensors[f"grad/{name}"] = with_spectrum(scale * sigma, m, n, rng=10 * step + i)
            tensors[f"momentum/{name}"] = with_spectrum(sigma, n, m, rng=10 * step + i + 100)
        tensors["grad/blocks.0.bias"] = np.ones(4)
        write_step(tmp_path / "dump", step, tensors)
    return tmp_path / "dump"


def test_analysis_matches_closed_forms_of_the_known_spectra(dump):
    ranks = (1, 4, 16)
    table, sigma = analyse_dump(dump, ranks=ranks, progress=False)
    assert len(table) == 2 * 2 * len(SPECTRA)  # steps × kinds × layers; the bias is no matrix
    assert table[["step", "kind"]].drop_duplicates().shape[0] == 4
    for row in table.itertuples(index=False):
        known, (m, n) = SPECTRA[row.name]
        scale = 2.0 if (row.step, row.kind) == (5, "grad") else 1.0
        assert (row.m, row.n) == ((m, n) if row.kind == "grad" else (n, m))
        for column, expected in _closed_forms(scale * known, ranks).items():
            # with_spectrum's float64 factors reproduce σ to ~1e-15·σ₁; κ ≤ 1e3 and the
            # Newton–Schulz polynomials have bounded slope on [0, 1], so 1e-9 covers the rest.
            assert getattr(row, column) == pytest.approx(expected, rel=1e-9, abs=1e-12), (row.name, column)
        if min(m, n) < 16:
            assert np.isnan(row.tail_energy_r16)


def test_singular_values_side_table_keeps_each_layers_last_step(dump):
    _, sigma = analyse_dump(dump, progress=False)
    assert set(sigma["step"]) == {5}
    assert sigma.groupby(["kind", "name"]).ngroups == 2 * len(SPECTRA)
    for (kind, name), d in sigma.groupby(["kind", "name"]):
        known = np.sort(SPECTRA[name][0])[::-1] * (2.0 if kind == "grad" else 1.0)
        assert d["index"].tolist() == list(range(1, known.size + 1))
        np.testing.assert_allclose(d["singular_value"], known, rtol=0, atol=1e-12 * known[0])


def test_kind_and_step_filters(dump):
    table, _ = analyse_dump(dump, kind="momentum", steps=[5], schedules=["muon"], progress=False)
    assert set(table["kind"]) == {"momentum"} and set(table["step"]) == {5}
    assert [c for c in table.columns if c.startswith("ns_error_")] == ["ns_error_muon"]
    with pytest.raises(ValueError, match="kind must be"):
        analyse_dump(dump, kind="weights", progress=False)
    with pytest.raises(ValueError, match="ranks"):
        analyse_dump(dump, ranks=(0,), progress=False)
    with pytest.raises(ValueError, match="steps"):
        analyse_dump(dump, steps=[-1], progress=False)


def test_bfloat16_matrices_are_analysed_as_stored(tmp_path):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    G = with_spectrum(log_uniform(8, 100.0), 8, 24, rng=0).astype(ml_dtypes.bfloat16)
    write_step(tmp_path, 1, {"grad/w": G})
    table, _ = analyse_dump(tmp_path, progress=False)
    s = np.linalg.svd(G.astype(np.float64), compute_uv=False)  # σ of the rounded matrix
    assert table.loc[0, "dtype"] == "bfloat16"
    assert table.loc[0, "stable_rank"] == pytest.approx(np.sum(s**2) / s[0] ** 2, rel=1e-12)
    assert table.loc[0, "condition_number"] == pytest.approx(s[0] / s[-1], rel=1e-10)


def test_nonzero_threshold_follows_the_stored_dtype(tmp_path):
    """Rounding noise of a float32 rank-3 matrix is not rank; the same values stored as float64 are."""
    G32 = with_spectrum([3.0, 2.0, 1.0], 40, 30, rng=1, dtype="float32")
    write_step(tmp_path, 0, {"grad/w32": G32, "grad/w64": G32.astype(np.float64)})
    table, _ = analyse_dump(tmp_path, schedules=["polar_express"], progress=False)
    rows = table.set_index("name")
    assert rows.loc["w32", "numerical_rank"] == spectral_summary(G32)["numerical_rank"] == 3
    assert rows.loc["w64", "numerical_rank"] == 30  # float32 rounding is exact data in float64
    # float32 storage perturbs σ by ~1e-7·σ₁, so κ = 3 holds to 1e-5.
    assert rows.loc["w32", "condition_number"] == pytest.approx(3.0, rel=1e-5)
    assert rows.loc["w64", "condition_number"] > 1e4


def test_non_finite_matrices_are_named_or_skipped(tmp_path):
    write_step(tmp_path, 1, {"grad/w": np.array([[1.0, np.nan], [0.0, 1.0]]), "grad/v": np.eye(2)})
    with pytest.raises(DumpError, match="'grad/w' has non-finite entries"):
        analyse_dump(tmp_path, progress=False)
    with pytest.warns(UserWarning, match="grad/w"):
        table, _ = analyse_dump(tmp_path, skip_bad=True, progress=False)
    assert table["name"].tolist() == ["v"]


def test_hundreds_of_matrices_are_loaded_one_at_a_time(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for step in range(20):
        write_step(tmp_path, step, {f"grad/blocks.{i}.w": rng.standard_normal((6, 4)) for i in range(10)})
    alive, most_alive = [], [0]
    load = GradientRecord.load

    def tracked(record):
        most_alive[0] = max(most_alive[0], sum(ref() is not None for ref in alive))
        a = load(record)
        alive.append(weakref.ref(a))
        return a

    monkeypatch.setattr(GradientRecord, "load", tracked)
    start = time.perf_counter()
    table, sigma = analyse_dump(tmp_path, schedules=["muon"], progress=False)
    elapsed = time.perf_counter() - start
    assert len(table) == 200 and len(alive) == 200
    assert most_alive[0] == 0  # every matrix was dropped before the next one was read
    assert len(sigma) == 10 * 4  # σ of the last step only: 10 layers × min(6, 4)
    assert elapsed < 10.0, elapsed


def _args(*argv):
    parser = argparse.ArgumentParser()
    add_spectra_arguments(parser)
    return parser.parse_args([str(a) for a in argv])


def test_spectra_command_writes_tables_and_figures(dump, tmp_path, capsys):
    out, figures = tmp_path / "results", tmp_path / "figures"
    assert spectra_command(_args(dump, "--out", out, "--figures", figures, "--ranks", 1, 2, "--no-progress")) == 0
    import pandas as pd

    table = pd.read_csv(out / "spectra.csv")
    assert len(table) == 12 and {"tail_energy_r1", "tail_energy_r2", "ns_error_polar_express"} <= set(table.columns)
    assert len(pd.read_csv(out / "spectra-singular-values.csv")) > 0
    for stem in ("spectra-decay", "spectra-stable-rank", "spectra-ns-error"):
        for suffix in (".png", ".pdf"):
            assert (figures / f"{stem}{suffix}").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert str(out / "spectra.csv") in printed and str(figures / "spectra-decay.png") in printed


def test_spectra_command_reports_bad_input(tmp_path, capsys):
    assert spectra_command(_args(tmp_path / "missing", "--no-progress")) == 2
    assert "missing" in capsys.readouterr().err
    write_step(tmp_path / "dump", 0, {"grad/w": np.eye(3)})
    bad = tmp_path / "dump" / "step-000001.safetensors"
    bad.write_bytes(b"garbage")
    out, figures = tmp_path / "out", tmp_path / "figs"
    assert spectra_command(_args(tmp_path / "dump", "--out", out, "--figures", figures, "--no-progress")) == 1
    assert str(bad) in capsys.readouterr().err
    with pytest.warns(UserWarning, match=str(bad)):
        assert spectra_command(_args(tmp_path / "dump", "--out", out, "--figures", figures, "--skip-bad", "--no-progress")) == 0
    bad.unlink()
    assert spectra_command(_args(tmp_path / "dump", "--kind", "momentum", "--no-progress")) == 1
    assert "no matrices" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_spectra_command_names_a_non_finite_matrix_in_one_line(tmp_path, capsys, bad):
    np.save(tmp_path / "w.npy", np.array([[1.0, bad], [0.0, 1.0]]))
    assert main(["spectra", str(tmp_path / "w.npy"), "--out", str(tmp_path / "out"), "--figures", str(tmp_path / "f"),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "w.npy" in err and "non-finite entries" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [["--ranks", "0"], ["--ranks", "4", "-3"], ["--ranks", "x"], ["--steps", "-1"]])
def test_bad_ranks_and_steps_are_usage_errors(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(["spectra", str(tmp_path), *argv])
    assert exit_.value.code == 2
    assert "expected a" in capsys.readouterr().err
    assert _args(tmp_path, "--ranks", 1, "--steps", 0).steps == [0]


def test_spectra_command_draws_a_dump_of_zero_matrices(tmp_path, capsys):
    # No positive singular value or predicted error: the log-scaled panels say so instead.
    write_step(tmp_path / "dump", 1, {"grad/w": np.zeros((4, 6)), "momentum/w": np.zeros((6, 4))})
    figures = tmp_path / "figures"
    assert spectra_command(_args(tmp_path / "dump", "--out", tmp_path / "out", "--figures", figures, "--no-progress")) == 0
    for stem in ("spectra-decay", "spectra-stable-rank", "spectra-ns-error"):
        assert (figures / f"{stem}.png").stat().st_size > 1000


def test_reference_full_counts_the_values_below_the_storage_noise(tmp_path):
    # σ spans 1 … 1e-6: a float32 matrix resolves the values down to ~max(m, n)·eps₃₂ ≈ 5e-6,
    # float64 every one; the full reference's ρ is larger, so its Newton–Schulz error is too.
    s = np.logspace(0, -6, 24)
    G = with_spectrum(s, 24, 40, rng=3)
    write_step(tmp_path, 1, {"grad/w": G.astype(np.float32)})
    truncated, _ = analyse_dump(tmp_path, ranks=(1,), schedules=("muon",), progress=False)
    full, _ = analyse_dump(tmp_path, ranks=(1,), schedules=("muon",), progress=False,
                           reference="full")
    assert truncated["reference"].tolist() == ["truncated"]
    assert full["reference"].tolist() == ["full"]
    sigma = np.linalg.svd(G.astype(np.float32).astype(np.float64), compute_uv=False)
    every = int(np.count_nonzero(sigma > 40 * np.finfo(np.float64).eps * sigma[0]))
    for table, rho in ((truncated, int(truncated["numerical_rank"][0])), (full, every)):
        phi = scalar_map(sigma[:rho] / np.linalg.norm(sigma), "muon")
        expected = np.sqrt(np.mean((phi - 1.0) ** 2))
        assert table["ns_error_muon"][0] == pytest.approx(expected, rel=1e-12)
    assert int(truncated["numerical_rank"][0]) < 24
    with pytest.raises(ValueError, match="reference"):
        analyse_dump(tmp_path, progress=False, reference="storage")

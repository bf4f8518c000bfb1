"""The command line: list, run (quick grids, configs, resume), help, and errors that say what to fix."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from matsign.cli import SUBCOMMANDS, main

ROOT = Path(__file__).resolve().parent.parent


def _run(tmp_path, *args):
    return main(["run", *args, "--no-progress", "--out", str(tmp_path / "r"), "--figures", str(tmp_path / "f")])


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("ns-vs-spectrum", "error-vs-rank", "precision"):
        assert name in out


def test_help_exits_cleanly_and_shows_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "matsign run error-vs-rank" in out and "run the same command again" in out.lower()
    for command in SUBCOMMANDS:
        assert command.name in out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for option in ("--config", "--out", "--quick", "--workers", "--scheduler", "--backend", "--device"):
        assert option in out


def test_unknown_experiment(capsys):
    assert main(["run", "no-such-thing"]) == 2
    assert "unknown experiment 'no-such-thing'" in capsys.readouterr().err


def test_ns_vs_spectrum_quick(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    assert _run(tmp_path, "ns-vs-spectrum", "--quick") == 0
    assert "ns-vs-spectrum-quick.csv" in capsys.readouterr().out
    csv = tmp_path / "r" / "ns-vs-spectrum-quick.csv"
    table = pd.read_csv(csv)
    assert len(table) == 3 * 4 * 8 + 2 * 4  # κ × schedules × steps, then stable ranks × schedules
    assert (tmp_path / "f" / "ns-vs-spectrum-quick.png").stat().st_size > 10_000
    assert (tmp_path / "f" / "ns-vs-spectrum-quick.pdf").exists()
    # The claim the figure shows: scalar_map predicts the measured error. Where the error is
    # above float64 noise (1e-12) they agree to 1e-6 relative.
    big = table[table["predicted_error"] > 1e-12]
    np.testing.assert_allclose(big["error"], big["predicted_error"], rtol=1e-6)


def test_run_with_a_config_file(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    config = ROOT / "experiments" / "error-vs-rank-recorded.toml"
    assert _run(tmp_path, "error-vs-rank", "--config", str(config)) == 0
    # Named after the config (it begins with the experiment's name): never the default run's files.
    table = pd.read_csv(tmp_path / "r" / "error-vs-rank-recorded.csv")
    assert set(table["source"]) == {"recorded", "student_t"}
    assert set(table.loc[table["source"] == "recorded", "kind"]) == {"grad", "momentum"}
    assert (tmp_path / "f" / "error-vs-rank-recorded.png").exists()
    assert not (tmp_path / "r" / "error-vs-rank.csv").exists() and not (tmp_path / "f" / "error-vs-rank.png").exists()


TINY = ('seeds = [0]\n[[sources]]\nfamily = "power_law"\nm = 8\nn = 12\n'
        '[[methods]]\nname = "oracle"\nrank = [2, 4]\n')


def test_another_grid_never_writes_over_the_default_runs_files(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.toml").write_text(TINY)
    # --config alone: results/ and figures/ as usual, under NAME-FILE.
    assert main(["run", "error-vs-rank", "--config", "tiny.toml", "--no-progress"]) == 0
    assert (tmp_path / "results" / "error-vs-rank-tiny.csv").exists()
    assert (tmp_path / "figures" / "error-vs-rank-tiny.png").exists()
    # --out: the figures go with the table.
    assert main(["run", "error-vs-rank", "--config", "tiny.toml", "--out", "mine", "--no-progress"]) == 0
    assert {p.name for p in (tmp_path / "mine").iterdir()} == {
        "error-vs-rank-tiny.csv", "error-vs-rank-tiny.png", "error-vs-rank-tiny.pdf"}
    assert not list(tmp_path.glob("*/error-vs-rank.*"))
    assert "error-vs-rank-tiny.png" in capsys.readouterr().out


def test_a_file_at_the_output_path_that_is_not_a_results_table(tmp_path, capsys):
    (tmp_path / "tiny.toml").write_text(TINY)
    (tmp_path / "r").mkdir()
    foreign = tmp_path / "r" / "error-vs-rank-tiny.csv"
    foreign.write_text("a,b\n1,2\n")
    assert _run(tmp_path, "error-vs-rank", "--config", str(tmp_path / "tiny.toml")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(foreign) in err and "--out" in err
    assert foreign.read_text() == "a,b\n1,2\n"


@pytest.mark.parametrize("text, message", [
    ('seeds = [0]\n[[sources]]\nfamily = "power_law"\nm = 16\nn = 24\n[[methods]]\nname = "gausian"\nrank = 4\n',
     "methods[0]: unknown method 'gausian'"),
    ('seeds = [0]\n[[sources]]\nfamily = "power_law"\nm = 16\nn = 24\n[[methods]]\nname = "gaussian"\nrank = 40\n',
     "rank 40 exceeds min(m, n) = 16"),
    ('seeds = [0]\n[[sources]]\nfamily = "power_law"\nm = 16\nn = 24\n[[methods]]\nname = "gaussian"\nrank = []\n',
     "'rank' is an empty list"),
    ('seeds = [0]\nsource = "x"\n', "unknown key 'source'"),
    ('seeds = [0]\n[[sources]]\nfamily = "power_law"\nm = 16\nn = 24\n[[methods]]\nname = "gaussian"\nrank = 4\n'
     'power_iters = -1\n', "methods[0] (gaussian): power_iters must be a non-negative integer, got -1"),
    ('seeds = [0]\n[[sources]]\nfamily = "power_law"\nm = 16\nn = 24\n[[methods]]\nname = "newton_schulz"\n',
     "error-vs-rank needs methods with the parameter(s) rank"),
    ('seeds = [0]\n[[sweeps]]\nseed = [5]\n[[sweeps.sources]]\nfamily = "power_law"\nm = 16\nn = 24\n'
     '[[sweeps.methods]]\nname = "oracle"\nrank = 4\n', "sweeps[0]: unknown key 'seed'"),
    ("seeds = [0\n", "is not valid TOML"),
])
def test_bad_configs_fail_before_any_work(tmp_path, capsys, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert _run(tmp_path, "error-vs-rank", "--config", str(config)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_usage_errors_say_what_to_fix(tmp_path, capsys):
    config = ROOT / "experiments" / "error-vs-rank-recorded.toml"
    assert _run(tmp_path, "error-vs-rank", "--config", str(config), "--quick") == 2
    assert "has no [quick] table" in capsys.readouterr().err
    assert _run(tmp_path, "error-vs-rank", "--config", str(tmp_path / "missing.toml")) == 2
    assert "not found" in capsys.readouterr().err
    assert _run(tmp_path, "error-vs-rank", "--quick", "--device", "cuda") == 2
    assert "CPU only" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["run", "error-vs-rank", "--workers", "0"])
    assert info.value.code == 2
    assert "expected a positive integer" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_python_dash_m_runs_the_same_command():
    done = subprocess.run([sys.executable, "-m", "matsign", "list"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "error-vs-rank" in done.stdout

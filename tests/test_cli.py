"""The command line and the ns-vs-spectrum experiment (quick grid)."""

import numpy as np
import pytest

from matsign.cli import main


def test_list(capsys):
    assert main(["list"]) == 0
    assert "ns-vs-spectrum" in capsys.readouterr().out


def test_unknown_experiment(capsys):
    assert main(["run", "no-such-thing"]) == 2
    assert "unknown experiment 'no-such-thing'" in capsys.readouterr().err


def test_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "matsign run ns-vs-spectrum" in capsys.readouterr().out


def test_ns_vs_spectrum_quick(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    assert main(["run", "ns-vs-spectrum", "--quick", "--no-progress", "--out", str(tmp_path / "r"),
                 "--figures", str(tmp_path / "f")]) == 0
    table = pd.read_csv(tmp_path / "r" / "ns-vs-spectrum.csv")
    assert len(table) == 3 * 8 * 10  # κ × schedules × steps
    assert (tmp_path / "f" / "ns-vs-spectrum.png").stat().st_size > 10_000
    assert (tmp_path / "f" / "ns-vs-spectrum.pdf").exists()
    # The claim the figure shows: scalar_map predicts the measured error. Where the error is
    # above float64 noise (1e-12) they agree to 1e-6 relative.
    big = table[table["predicted_error"] > 1e-12]
    np.testing.assert_allclose(big["measured_error"], big["predicted_error"], rtol=1e-6)

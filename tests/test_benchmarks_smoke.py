"""The GPU and input-check benchmark scripts run end to end on the CPU (tiny sizes; no timing
is asserted), the GPU input has Haar factors, and every benchmark script refuses a bad argument
before any work."""

import argparse
import csv
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPT = BENCHMARKS / "gpu.py"
sys.path.insert(0, str(BENCHMARKS))

import gpu  # noqa: E402
import timing  # noqa: E402
ROUTINES = {"gemm", "muon_ns", "newton_schulz", "gram_newton_schulz", "sketched_msign", "msign_eigh", "exact_ns",
            "exact_ns_fp64", "qdwh", "svd_polar"}
SHAPES = ("32×32", "16×48", "2×16×24")


def test_gpu_benchmark_runs_on_cpu(tmp_path):
    out = tmp_path / "gpu.csv"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--sizes", "32,16x48,2x16x24", "--repeats", "1", "--csv", str(out)],
        capture_output=True, text=True, check=True, timeout=120,
    )
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["shape"] for r in rows} == set(SHAPES)
    for shape in SHAPES:
        names = [r["routine"].split(" ")[0] for r in rows if r["shape"] == shape]
        assert set(names) == ROUTINES
        assert len(names) == 3 + 1 + 3 + 3 + 6  # GEMM, peer, NS, Gram NS in 3 dtypes; 6 fp32 routines
    for r in rows:
        assert float(r["ms"]) > 0
        if r["routine"] != "gemm":
            assert math.isfinite(float(r["rel. error"])) and math.isfinite(float(r["max error"]))
        if r["routine"] in ("svd_polar", "exact_ns", "exact_ns_fp64", "qdwh"):
            # Exact routes on a float32 input with κ = 1e3: the input's rounding alone moves the
            # sign by up to ≈ κ · eps_fp32 ≈ 1e-4 (relative Frobenius error).
            assert float(r["rel. error"]) < 1e-3
    # The Markdown table has one line per CSV row, and the targets table follows it.
    table_lines = [line for line in result.stdout.splitlines() if line.startswith(tuple(f"| {s} " for s in SHAPES))]
    assert len(table_lines) == len(rows) + 3 * 8  # 8 target lines per shape
    assert "Targets" in result.stdout


def test_check_benchmark_runs_on_cpu():
    result = subprocess.run([sys.executable, str(BENCHMARKS / "checks.py"), "--sizes", "48", "--repeats", "1"],
                            capture_output=True, text=True, check=True, timeout=120)
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 48² ")]
    assert [row.split("|")[2].strip() for row in rows] == ["numpy", "torch"]


@pytest.mark.parametrize("shape", [(24, 40), (40, 24), (2, 16, 24)])
def test_muon_peer_loop_is_the_muon_iteration(shape):
    """The benchmarks' peer loop computes the iteration ``newton_schulz(G, "muon")`` computes:
    same coefficients, normalization and orientation, on NumPy and on torch."""
    from matsign.exact.newton_schulz import newton_schulz

    G = np.random.default_rng(0).standard_normal(shape)
    ours = newton_schulz(G, "muon", steps=5)
    # Float64 throughout; the peer's +1e-7 in the normalization rescales X₀ by 1 − O(1e-7 / ‖G‖_F),
    # which five steps amplify by at most the product of the polynomials' slopes (< 100).
    for peer in (timing.muon_loop(G, 5), timing.muon_loop(torch.from_numpy(G), 5).numpy()):
        np.testing.assert_allclose(peer, ours, rtol=0, atol=1e-6)


def _haar_oracle(A):
    """``Q·diag(sign(diag R))`` of each matrix of ``A``, by NumPy's float64 QR."""
    out = np.empty_like(A)
    for index in np.ndindex(A.shape[:-2]):
        q, r = np.linalg.qr(A[index])
        out[index] = q * np.sign(np.diag(r))
    return out


@pytest.mark.parametrize("batch, m, n", [((), 5, 4), ((2,), 3, 6)])
def test_spectral_matrix_has_haar_factors(batch, m, n):
    """The input is ``U diag(σ) Vᵀ`` with the Haar factors of the same Gaussian draws: the QR
    factors whose ``R`` has a positive diagonal (LAPACK's raw ``Q`` has ``Q[0, 0] < 0`` always)."""
    kappa, k = 100.0, min(m, n)
    G, sign = gpu.spectral_matrix(m, n, kappa, "cpu", batch, seed=3)
    gen = torch.Generator().manual_seed(3)
    A_u = torch.randn(*batch, m, k, generator=gen, dtype=torch.float64).numpy()
    A_v = torch.randn(*batch, n, k, generator=gen, dtype=torch.float64).numpy()
    U, V = _haar_oracle(A_u), _haar_oracle(A_v)
    sigma = kappa ** -np.linspace(0, 1, k)
    # Float64 QR of well-conditioned 6 × 4 Gaussians: the factors agree to ~1e-15 per entry.
    np.testing.assert_allclose(sign.numpy(), U @ np.swapaxes(V, -1, -2), rtol=0, atol=1e-12)
    np.testing.assert_allclose(G.numpy(), (U * sigma) @ np.swapaxes(V, -1, -2), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "parse, text",
    [
        (timing.positive_int, "0"),
        (timing.positive_int, "-3"),
        (timing.positive_int, "1.5"),
        (timing.condition_number, "0"),
        (timing.condition_number, "-1"),
        (timing.condition_number, "inf"),
        (timing.condition_number, "nan"),
        (timing.matrix_shape, "32"),
        (timing.matrix_shape, "0x8"),
        (timing.matrix_shape, "8xa"),
        (gpu.parse_sizes, "1"),  # sketched_msign's rank min(m, n)/2 would be 0
        (gpu.parse_sizes, "8x1"),
        (gpu.parse_sizes, "0x8x8"),
        (gpu.parse_sizes, "2x2x8x8"),
    ],
)
def test_argument_types_refuse_bad_values(parse, text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse(text)


def test_argument_types_accept_good_values():
    assert timing.positive_int("7") == 7
    assert timing.condition_number("1") == 1.0 and timing.condition_number("1e3") == 1e3
    assert timing.matrix_shape("3x5") == (3, 5)
    assert gpu.parse_sizes("2,3x4,5x2x6") == [((), 2, 2), ((), 3, 4), ((5,), 2, 6)]


@pytest.mark.parametrize(
    "script, arguments, option",
    [
        ("gpu.py", ["--device", "cpu", "--sizes", "8", "--repeats", "0"], "--repeats"),
        ("cpu.py", ["--sizes", "16", "--repeats", "0"], "--repeats"),
        ("costs.py", ["--shape", "256", "128"], "--shape"),
        ("gram_ns.py", ["--shapes", "32"], "--shapes"),
        ("checks.py", ["--sizes", "0"], "--sizes"),
        ("predict.py", ["--shape", "100", "4096"], "--shape"),
        ("io_memory.py", ["--side", "0"], "--side"),
    ],
)
def test_scripts_refuse_a_bad_argument_before_any_work(script, arguments, option):
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *arguments],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2  # argparse's usage error
    assert f"error: argument {option}" in result.stderr
    assert result.stdout == ""


def test_predict_benchmark_runs_on_a_small_matrix():
    result = subprocess.run([sys.executable, str(BENCHMARKS / "predict.py"), "--shape", "136", "160", "--repeats", "1"],
                            capture_output=True, text=True, check=True, timeout=300)
    import predict as benchmark  # noqa: E402

    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "%" in line]
    kinds = ("exact", "monte_carlo", "bound")
    predictions = [row for row in rows if row.split("|")[2].strip().split(" ")[0] in kinds]
    assert len(predictions) == len(benchmark.CASES)
    # The floor table: one row per sketches=1 case, its two ratios positive percentages.
    floors = [row for row in rows if row not in predictions]
    assert len(floors) == sum(1 for _, _, sketches in benchmark.CASES if sketches == 1)
    for row in floors:
        one, four = (float(cell.strip().rstrip("%")) for cell in row.split("|")[4:6])
        assert 0 < one and four == pytest.approx(4 * one, rel=0.01, abs=0.01)


def test_io_memory_benchmark_reads_one_tensor_at_a_time():
    """``benchmarks/io_memory.py`` on small checkpoints: every row's tracemalloc peak stays under
    2.5 of its largest stored tensor, and the synthetic checkpoints list all their tensors."""
    command = [sys.executable, str(BENCHMARKS / "io_memory.py"), "--side", "256", "--tensors", "4"]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)
    lines = [line for line in result.stdout.splitlines() if line.startswith("| ")][1:]  # no header
    rows = [line.split("|")[1:-1] for line in lines]
    by_dump = {cells[0].strip(): [float(c) for c in cells[1:]] for cells in rows}
    assert {"zoo gpt", "zoo cnn", "zoo moe"} < set(by_dump) and len(by_dump) == 5
    for dump, (records, largest, _, ratio, _) in by_dump.items():
        # The zoo's cnn: torch.load leaves ~70 KiB of unpickler garbage a file, its tensors 64 KiB.
        assert ratio < (3.5 if dump == "zoo cnn" else 2.5), (dump, ratio)
        if not dump.startswith("zoo"):
            assert records == 4 and largest == 256 * 256 * 4 / 2**20

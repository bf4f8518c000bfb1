"""GPU benchmark: matsign's sign routines against plain GEMMs and the usual peers, in one run.

For each shape, every routine below runs on the same input ``G = U diag(σ) Vᵀ`` (Haar ``U``,
``V`` built in float64 on the device: QR factors of Gaussian matrices with the signs of
``diag R`` moved into ``Q``, as :func:`matsign.synthetic.haar_orthogonal`; ``σ`` log-spaced
from 1 to ``1/κ``), whose exact sign
``U Vᵀ`` is the float64 reference, so no float64 SVD is needed. Each routine is warmed up, then
timed (median of ``--repeats``) with CUDA events (torch or CuPy) on ``--device cuda`` and with
``time.perf_counter`` on ``--device cpu``.

Routines (``lib`` column):

- ``gemm`` (torch, CuPy): ``G @ Gᵀ``-shaped product ``(m × n)(n × m)`` in bf16/fp16/fp32 (and
  fp32 with TF32 tensor cores on CUDA): the rate every product-bound routine is compared with;
- ``muon_ns`` (torch bf16): the 5-step Muon loop as Muon-type optimizers write it (the peer);
- ``newton_schulz`` (torch bf16/fp16/fp32 and ``dtype="tfloat32"`` on CUDA; CuPy fp16/fp32 —
  CuPy's bf16 and TF32 are emulated, so they are left out): :func:`matsign.newton_schulz`;
- ``gram_newton_schulz`` (torch bf16/fp16/fp32): :func:`matsign.exact.gram_newton_schulz`;
- ``sketched_msign`` (torch fp32): :func:`matsign.lowrank.sketched_msign` at rank ``--rank``
  (capped at ``min(m, n)/2``), Gaussian range with the Cholesky-QR normalizer, Newton–Schulz
  inner sign; its error is measured against the *full* sign, so it is large by construction;
- ``msign_eigh`` (torch fp32): :func:`matsign.msign` with ``method="eigh"``;
- ``exact_ns`` (torch and CuPy fp32) and ``exact_ns_fp64`` (torch, float32 in and out, float64
  work): :func:`matsign.exact.converged_newton_schulz`, the exact sign by matrix products alone;
- ``qdwh`` (torch fp32): :func:`matsign.exact.qdwh_sign`, QR- and Cholesky-form Halley steps;
- ``svd_polar`` (torch fp32): ``U Vᵀ`` from ``torch.linalg.svd`` (the exact-sign peer).

Columns: milliseconds, TFLOP/s (flop models of :data:`matsign.registry.METHODS` and
:func:`gram_newton_schulz_flops`; a GEMM counts ``2m²n``), the percentage of the same-dtype
GEMM rate, and the relative Frobenius and max-entry errors against ``U Vᵀ``. A Markdown table
goes to stdout, the same rows to ``--csv``, then a table of the issue's target ratios.

What to run on a GPU machine (H100), and the targets::

    python benchmarks/gpu.py --device cuda --sizes 1024,4096,4096x16384,8192 --csv gpu.csv

- ``newton_schulz`` bf16 / ``muon_ns`` bf16 time ≤ 1.1 at 4096² and 8192²;
- ``newton_schulz`` fp32 at ≥ 90 % of the fp32 GEMM rate (the ``% GEMM`` column);
- ``sketched_msign`` rank 256 at 8192² ≥ 10× faster than ``newton_schulz`` fp32 (and bf16);
- an exact-accuracy sign (rel. error ≤ 1e-5 in fp32) ≥ 5× faster than ``svd_polar`` at 4096²:
  the targets table names the fastest of ``msign_eigh``, ``exact_ns``, ``exact_ns_fp64`` and
  ``qdwh`` whose error is within 1e-5 (``msign_eigh`` squares κ: about κ²·eps_fp32 ≈ 0.1 at κ = 1e3, so
  run ``--kappa 10`` as well).

A size ``BxMxN`` times a stack of ``B`` matrices (batched products; every routine takes stacks).
Matrix dimensions are at least 2 (``sketched_msign`` needs a rank ``min(m, n)/2 ≥ 1``) and
``--kappa`` at least 1; a bad value is a usage error before any work starts.

Smoke test without a GPU: ``python benchmarks/gpu.py --device cpu --sizes 128,256``.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import time

import torch

from matsign._backend.precision import tf32_products
from matsign.exact.converged import converged_newton_schulz
from matsign.exact.gram_newton_schulz import gram_newton_schulz, gram_newton_schulz_flops
from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.qdwh import qdwh_sign
from matsign.exact.sign import msign
from matsign.lowrank.sign import sketched_msign
from matsign.registry import METHODS
from timing import condition_number, dimension, muon_loop, positive_int, table

SCHEDULE = "muon"
#: Candidates for the exact-accuracy target and the accuracy they must reach.
EXACT_ROUTES = ("msign_eigh", "exact_ns", "exact_ns_fp64", "qdwh")
EXACT_ACCURACY = 1e-5
#: Above this warm-up time (seconds) a routine is timed once.
SLOW_S = 2.0
COLUMNS = ("shape", "lib", "routine", "dtype", "ms", "TFLOP/s", "% GEMM", "rel. error", "max error")
#: The smallest matrix dimension: sketched_msign's rank, capped at min(m, n)/2, must be at least 1.
MIN_DIMENSION = 2


def muon_ns(G, steps=5):
    """The Muon bfloat16 Newton–Schulz loop: cast to bfloat16, then :func:`timing.muon_loop`."""
    return muon_loop(G.bfloat16(), steps)


def svd_polar(G):
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    return U @ Vh


def haar_factor(rows, cols, gen, device, batch=()):
    """Haar-distributed ``rows × cols`` matrices with orthonormal columns (a stack of shape
    ``batch``) in float64: ``Q·diag(sign(diag R))`` from the QR factorization of a Gaussian matrix
    (Mezzadri, arXiv math-ph/0609050); the raw ``Q`` of LAPACK's Householder QR is not Haar."""
    Q, R = torch.linalg.qr(torch.randn(*batch, rows, cols, generator=gen, device=device, dtype=torch.float64))
    signs = torch.sign(torch.diagonal(R, dim1=-2, dim2=-1))
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    return Q * signs.unsqueeze(-2)


def spectral_matrix(m, n, kappa, device, batch=(), seed=0):
    """``(G, U Vᵀ)`` in float64 on ``device``: matrices (a stack of shape ``batch``) with Haar
    ``U``, ``V`` and spectrum log-spaced over [1/κ, 1]."""
    gen = torch.Generator(device=device).manual_seed(seed)
    k = min(m, n)
    U = haar_factor(m, k, gen, device, batch)
    V = haar_factor(n, k, gen, device, batch)
    sigma = kappa ** -torch.linspace(0, 1, k, device=device, dtype=torch.float64)
    return (U * sigma) @ V.mT, U @ V.mT


class Timer:
    """Median wall time of a callable, in ms, with CUDA events on GPUs."""

    def __init__(self, device, repeats):
        self.device = device
        self.repeats = repeats

    def _sync(self, lib):
        if self.device == "cpu":
            return
        if lib == "cupy":
            import cupy

            cupy.cuda.Device().synchronize()
        else:
            torch.cuda.synchronize()

    def _once(self, fn, lib):
        if self.device == "cpu":
            start = time.perf_counter()
            fn()
            return (time.perf_counter() - start) * 1e3
        if lib == "cupy":
            import cupy

            start, end = cupy.cuda.Event(), cupy.cuda.Event()
            start.record()
            fn()
            end.record()
            end.synchronize()
            return cupy.cuda.get_elapsed_time(start, end)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)

    def __call__(self, fn, lib):
        self._sync(lib)
        warm = time.perf_counter()
        fn()
        self._sync(lib)
        slow = time.perf_counter() - warm > SLOW_S
        if not slow:
            fn()
        self._sync(lib)
        return statistics.median(self._once(fn, lib) for _ in range(1 if slow else self.repeats))


def routines(m, n, batch, rank, device, with_cupy):
    """``(lib, routine, dtype, function, flops)`` for one shape (a stack of ``batch``); each
    function takes the input already in its library and dtype (``"tfloat32"``: float32 data;
    the GEMM runs inside :func:`tf32_products`, Newton–Schulz with ``dtype="tfloat32"``)."""
    count = math.prod(batch)
    ns_flops = count * METHODS["newton_schulz"].flops(m, n, schedule=SCHEDULE)
    gemm_flops = count * 2.0 * m * m * n
    half_and_single = ("bfloat16", "float16", "float32")
    extra = ("tfloat32",) if device != "cpu" else ()
    out = [("torch", "gemm", dt, _gemm, gemm_flops) for dt in half_and_single + extra]
    out.append(("torch", "muon_ns", "bfloat16", muon_ns, ns_flops))
    out += [("torch", "newton_schulz", dt, _ns, ns_flops) for dt in half_and_single]
    out += [("torch", "newton_schulz", dt, _ns_tf32, ns_flops) for dt in extra]
    gram_flops = count * gram_newton_schulz_flops(m, n, SCHEDULE)
    out += [("torch", "gram_newton_schulz", dt, _gram_ns, gram_flops) for dt in half_and_single]
    r = min(rank, min(m, n) // 2)
    out.append(("torch", f"sketched_msign r={r}", "float32",
                lambda X: sketched_msign(X, r, normalizer="cholesky_qr", inner=SCHEDULE, rng=0),
                count * METHODS["gaussian"].flops(m, n, rank=r, normalizer="cholesky_qr", inner=SCHEDULE)))
    out.append(("torch", "msign_eigh", "float32", lambda X: msign(X, method="eigh"),
                count * METHODS["exact_eigh"].flops(m, n)))
    exact_flops = count * METHODS["exact_ns"].flops(m, n)
    out.append(("torch", "exact_ns", "float32", converged_newton_schulz, exact_flops))
    out.append(("torch", "exact_ns_fp64", "float32", _exact_ns_fp64, exact_flops))
    out.append(("torch", "qdwh", "float32", qdwh_sign, count * METHODS["qdwh"].flops(m, n, dtype="float32")))
    out.append(("torch", "svd_polar", "float32", svd_polar, count * METHODS["exact_svd"].flops(m, n)))
    if with_cupy:
        for dt in ("float16", "float32"):
            out += [("cupy", "gemm", dt, _gemm, gemm_flops), ("cupy", "newton_schulz", dt, _ns, ns_flops)]
        out.append(("cupy", "exact_ns", "float32", converged_newton_schulz, exact_flops))
    return out


def _gemm(X):
    return X @ X.mT if isinstance(X, torch.Tensor) else X @ X.swapaxes(-1, -2)


def _ns(X):
    return newton_schulz(X, SCHEDULE)


def _ns_tf32(X):
    return newton_schulz(X, SCHEDULE, dtype="tfloat32")


def _exact_ns_fp64(X):
    return converged_newton_schulz(X, dtype="float64")


def _gram_ns(X):
    return gram_newton_schulz(X, SCHEDULE)


def prepared(G, lib, dtype):
    """The float64 torch input ``G`` in ``lib`` and ``dtype`` (the cast is not timed)."""
    X = G.to(getattr(torch, "float32" if dtype == "tfloat32" else dtype)).contiguous()
    if lib == "cupy":
        import cupy

        return cupy.from_dlpack(X)
    return X


def errors(X, ref):
    """Relative Frobenius and max-entry errors of ``X`` (torch or CuPy) against ``ref``."""
    X = torch.from_dlpack(X) if not isinstance(X, torch.Tensor) else X
    D = X.to(torch.float64) - ref
    return float(torch.linalg.norm(D) / torch.linalg.norm(ref)), float(D.abs().max())


def run_shape(batch, m, n, args, with_cupy):
    G, ref = spectral_matrix(m, n, args.kappa, args.device, batch)
    timer = Timer(args.device, args.repeats)
    rows = []
    gemm_rate = {}
    for lib, routine, dtype, fn, flops in routines(m, n, batch, args.rank, args.device, with_cupy):
        X0 = prepared(G, lib, dtype)

        def call(fn=fn, X0=X0, tf32_gemm=dtype == "tfloat32" and routine == "gemm"):
            if not tf32_gemm:
                return fn(X0)
            with tf32_products():
                return fn(X0)

        ms = timer(call, lib)
        tflops = flops / (ms * 1e-3) / 1e12
        if routine == "gemm":
            gemm_rate[(lib, dtype)] = tflops
            rel, err = math.nan, math.nan
        else:
            rel, err = errors(call(), ref)
        share = 100 * tflops / gemm_rate[(lib, dtype)] if (lib, dtype) in gemm_rate else math.nan
        shape = "×".join(str(d) for d in (*batch, m, n))
        rows.append((shape, lib, routine, dtype, ms, tflops, share, rel, err))
    return rows


def targets(rows):
    """The issue's target ratios, from the measured rows, one line per shape and target."""
    by = {(r[0], r[1], r[2].split(" ")[0], r[3]): r for r in rows}
    out = []
    for shape in dict.fromkeys(r[0] for r in rows):
        def ms(lib, routine, dtype, shape=shape):
            row = by.get((shape, lib, routine, dtype))
            return row[4] if row else math.nan

        out.append((shape, "newton_schulz bf16 / muon_ns bf16 (≤ 1.1)",
                    ms("torch", "newton_schulz", "bfloat16") / ms("torch", "muon_ns", "bfloat16")))
        out.append((shape, "newton_schulz fp32, % of fp32 GEMM rate (≥ 90)",
                    by[(shape, "torch", "newton_schulz", "float32")][6]))
        out.append((shape, "newton_schulz fp32 / sketched_msign fp32 (≥ 10 at 8192²)",
                    ms("torch", "newton_schulz", "float32") / ms("torch", "sketched_msign", "float32")))
        accurate = [by[(shape, "torch", name, "float32")] for name in EXACT_ROUTES
                    if by[(shape, "torch", name, "float32")][7] <= EXACT_ACCURACY]
        fastest = min(accurate, key=lambda row: row[4]) if accurate else None
        out.append((shape, f"svd_polar / fastest route within {EXACT_ACCURACY:g} "
                    f"({fastest[2] if fastest else 'none'}) (≥ 5 at 4096²)",
                    ms("torch", "svd_polar", "float32") / fastest[4] if fastest else math.nan))
        for name in EXACT_ROUTES:
            out.append((shape, f"{name} fp32 rel. error", by[(shape, "torch", name, "float32")][7]))
    return out


def parse_sizes(text):
    """``"1024,4096x16384,8x512x512"`` → ``[((), 1024, 1024), ((), 4096, 16384), ((8,), 512, 512)]``:
    ``N`` (square), ``MxN``, or ``BxMxN`` (a stack of ``B``)."""
    shapes = []
    for item in text.split(","):
        parts = item.strip().split("x")
        if len(parts) > 3:
            raise argparse.ArgumentTypeError(f"size {item!r} is not N, MxN or BxMxN")
        dims = [dimension(d, item, 1) for d in parts[:-2]] + [dimension(d, item, MIN_DIMENSION) for d in parts[-2:]]
        if len(dims) == 1:
            dims = dims * 2
        shapes.append((tuple(dims[:-2]), dims[-2], dims[-1]))
    return shapes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("1024,4096,4096x16384,8192"),
                        help="comma-separated N (square), MxN or BxMxN shapes, dimensions ≥ 2")
    parser.add_argument("--repeats", type=positive_int, default=10)
    parser.add_argument("--rank", type=positive_int, default=256)
    parser.add_argument("--kappa", type=condition_number, default=1e3)
    parser.add_argument("--csv", default="gpu.csv")
    args = parser.parse_args(argv)
    with_cupy = False
    if args.device == "cuda":
        try:
            import cupy  # noqa: F401

            with_cupy = True
        except ImportError:
            pass
        name = torch.cuda.get_device_name()
    else:
        name = "CPU"
    cupy_version = __import__("cupy").__version__ if with_cupy else "not used"
    print(f"device: {name}, torch {torch.__version__}, CuPy {cupy_version}, κ = {args.kappa:g}, "
          f"schedule {SCHEDULE!r}\n")
    rows = [r for batch, m, n in args.sizes for r in run_shape(batch, m, n, args, with_cupy)]
    print(table(COLUMNS, rows, ["{}", "{}", "{}", "{}", "{:.3f}", "{:.1f}", "{:.0f}", "{:.1e}", "{:.1e}"]))
    with open(args.csv, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    print("\nTargets\n")
    print(table(("shape", "ratio (target)", "measured"), targets(rows), ["{}", "{}", "{:.3g}"]))


if __name__ == "__main__":
    main()

"""CPU benchmark of the Gaussian range finder and the low-rank sign against scikit-learn.

Needs scikit-learn (a benchmark-only dependency, not one of matsign's: ``pip install
scikit-learn``). One BLAS thread (set before NumPy loads).

1. ``sketched_msign(G, k, range="gaussian", power_iters=q, oversample=p)`` with each normalizer
   against the peer ``U, s, Vt = sklearn.utils.extmath.randomized_svd(G, k, n_oversamples=p,
   n_iter=q)`` followed by ``U @ Vt``, on a float64/float32 matrix with power-law spectrum
   (σ_i = i^{-1}): CPU time (the process's, min over interleaved repeats, so that other load on the
   machine counts less than in wall time), the ratio to the peer, the ratio to the floor of both
   (the ``2q + 3`` products of ``G`` with an ``n × (k + p)`` block that each computes), and the
   alignment ``⟨G, X⟩ / ‖G‖_*`` (float64 nuclear norm). For float64 also
   ``sketched_msign(..., sketch_dtype="float32")`` (the products of the sketch in float32, the
   projection and sign in float64), and the mean ± std of the alignment over ``--seeds`` seeds of
   each routine, so that "equal or better alignment" is a statement about the method rather
   than about one seed.
2. Accuracy of the normalizers on ill-conditioned inputs (σ log-spaced over ``[1/κ, 1]``, κ up to
   1e12): ``‖QᵀQ − I‖₂`` in units of eps, and the captured energy ``‖QᵀG‖_F² / Σ_{i≤ℓ} σ_i²`` and the
   alignment of the sign, each as its difference from Householder QR at every step, in eps.
3. Accuracy of the float32 sketch of a float64 matrix on the same spectra: captured energy and
   alignment against the float64 sketch of the same seed, and the orthogonality of the basis.
4. On matrices the project did not make, scikit-learn's centred digits data (1797 × 64, rank
   16, q = 1) and ``make_low_rank_matrix(size, size, effective_rank=64, tail_strength=0.5)``
   (rank 64, q = 2): time and alignment over seeds of the float64 sketch, the float32 sketch and
   the peer.

Usage: ``python benchmarks/lowrank.py [--size 2048] [--rank 64] [--power-iters 2]
[--oversample 0] [--repeats 7] [--seeds 10] [--accuracy-shape 512x256]``; prints Markdown tables.
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402, F401  (loads SciPy's BLAS before threadpoolctl pins it)
from sklearn.utils.extmath import randomized_svd  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from matsign._backend.dtypes import EPS  # noqa: E402
from matsign.lowrank.ranges import gaussian_range  # noqa: E402
from matsign.lowrank.sign import sketched_msign  # noqa: E402
from matsign.synthetic import log_uniform, power_law, with_spectrum  # noqa: E402
from timing import cpu_libraries, matrix_shape, positive_int, table  # noqa: E402

NORMALIZERS = ("auto", "qr", "lu", "cholesky_qr", "none")
MIXED = "sketched_msign(sketch_dtype='float32')"
KAPPAS = (1e2, 1e6, 1e12)


def cpu_times(functions, repeats):
    """Min process CPU time of each function, the calls interleaved ``repeats`` times after a warm-up."""
    for f in functions.values():
        f()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, f in functions.items():
            start = time.process_time()
            f()
            times[name].append(time.process_time() - start)
    return {name: min(t) for name, t in times.items()}


def speed_rows(n, rank, power_iters, oversample, repeats):
    G64 = with_spectrum(power_law(n, 1.0), n, n, rng=0)
    nuclear = float(np.linalg.svd(G64, compute_uv=False).sum())
    width = rank + oversample
    rows = []
    for dtype in ("float64", "float32"):
        G = G64.astype(dtype)
        block = np.random.default_rng(1).standard_normal((n, width)).astype(dtype)
        functions = {f"sketched_msign(normalizer={name!r})": (
            lambda name=name: ours(G, rank, power_iters, oversample, normalizer=name))
            for name in NORMALIZERS}
        if dtype == "float64":
            functions[MIXED] = lambda: ours(G, rank, power_iters, oversample, sketch_dtype="float32")
        functions["sklearn randomized_svd + U @ Vt"] = lambda: peer(G, rank, power_iters, oversample)
        functions["one product G @ block"] = lambda: G @ block
        times = cpu_times(functions, repeats)
        floor = (2 * power_iters + 3) * times.pop("one product G @ block")
        t_peer = times["sklearn randomized_svd + U @ Vt"]
        for name, t in times.items():
            X = (peer(G, rank, power_iters, oversample) if name.startswith("sklearn")
                 else functions[name]()).astype(np.float64)
            rows.append((f"{n}²", dtype, name, t * 1e3, t / t_peer, t / floor, float(np.sum(G64 * X)) / nuclear))
        rows.append((f"{n}²", dtype, f"floor: {2 * power_iters + 3} products", floor * 1e3, floor / t_peer, 1.0,
                     float("nan")))
    return rows


def ours(G, rank, power_iters, oversample, seed=0, **options):
    return sketched_msign(G, rank, power_iters=power_iters, oversample=oversample, rng=seed, **options)


def peer(G, rank, power_iters, oversample, seed=0):
    U, _, Vt = randomized_svd(G, rank, n_oversamples=oversample, n_iter=power_iters, random_state=seed)
    return U @ Vt


def seed_rows(n, rank, power_iters, oversample, seeds):
    """Mean ± std over ``seeds`` seeds of the float64 alignment of each float64 routine."""
    G = with_spectrum(power_law(n, 1.0), n, n, rng=0)
    nuclear = float(np.linalg.svd(G, compute_uv=False).sum())
    routines = {
        "sketched_msign (float64)": lambda seed: ours(G, rank, power_iters, oversample, seed),
        MIXED: lambda seed: ours(G, rank, power_iters, oversample, seed, sketch_dtype="float32"),
        "sklearn randomized_svd + U @ Vt": lambda seed: peer(G, rank, power_iters, oversample, seed),
    }
    rows = []
    for name, routine in routines.items():
        values = [float(np.sum(G * routine(seed))) / nuclear for seed in range(seeds)]
        rows.append((name, seeds, np.mean(values), np.std(values, ddof=1), min(values)))
    return rows


def basis_quality(G, G64, s, rank, oversample, power_iters, **options):
    """``‖QᵀQ − I‖₂`` in units of ``G``'s eps, the captured energy ``‖QᵀG‖_F² / Σ_{i≤ℓ} σ_i²`` and
    the alignment of the sign, of seed 3's sketch of ``G`` (``G64`` in float64, singular values ``s``)."""
    Q = gaussian_range(G, rank, oversample=oversample, power_iters=power_iters, rng=3, **options).astype(np.float64)
    X = ours(G, rank, power_iters, oversample, 3, **options).astype(np.float64)
    orth = np.linalg.norm(Q.T @ Q - np.eye(Q.shape[1]), 2) / EPS[G.dtype.name]
    top = float(np.sum(s[: rank + oversample] ** 2))
    return orth, np.linalg.norm(Q.T @ G64) ** 2 / top, float(np.sum(G64 * X)) / float(np.sum(s))


def mixed_rows(m, n, rank=24, oversample=8, power_iters=2):
    """The float32 sketch of a float64 matrix against the float64 sketch of the same seed."""
    rows = []
    for kappa in KAPPAS:
        s = log_uniform(n, kappa)
        G = with_spectrum(s, m, n, rng=2)
        _, energy64, align64 = basis_quality(G, G, s, rank, oversample, power_iters)
        orth, energy, align = basis_quality(G, G, s, rank, oversample, power_iters, sketch_dtype="float32")
        rows.append((f"{kappa:.0e}", orth, energy64, energy, energy - energy64, align - align64))
    return rows


def peer_matrices(size):
    """scikit-learn's own matrices, float64: ``(name, G, rank, power_iters)``."""
    from sklearn.datasets import load_digits, make_low_rank_matrix

    digits = load_digits().data
    yield "digits 1797 × 64 (centred)", digits - digits.mean(axis=0), 16, 1
    G = make_low_rank_matrix(size, size, effective_rank=64, tail_strength=0.5, random_state=0)
    yield f"make_low_rank_matrix {size}²", G, 64, 2


def peer_matrix_rows(size, repeats, seeds):
    """On :func:`peer_matrices`: CPU ms, ratio to the peer and the alignment mean ± std over
    ``seeds`` seeds of the float64 sketch, the float32 sketch and the peer; the last column is
    the largest difference, seed by seed, between the two sketches' alignments."""
    rows = []
    for name, G, rank, q in peer_matrices(size):
        nuclear = float(np.linalg.svd(G, compute_uv=False).sum())
        routines = {"float64": lambda seed: ours(G, rank, q, 0, seed),
                    "float32 sketch": lambda seed: ours(G, rank, q, 0, seed, sketch_dtype="float32"),
                    "sklearn randomized_svd + U @ Vt": lambda seed: peer(G, rank, q, 0, seed)}
        times = cpu_times({label: (lambda routine=routine: routine(0)) for label, routine in routines.items()}, repeats)
        alignments = {label: np.array([float(np.sum(G * routine(seed))) / nuclear for seed in range(seeds)])
                      for label, routine in routines.items()}
        gap = float(np.max(np.abs(alignments["float32 sketch"] - alignments["float64"])))
        for label in routines:
            values = alignments[label]
            rows.append((name, f"r = {rank}, q = {q}", label, times[label] * 1e3,
                         times[label] / times["sklearn randomized_svd + U @ Vt"], np.mean(values),
                         np.std(values, ddof=1), f"{gap:.1e}" if label == "float32 sketch" else ""))
    return rows


def accuracy_rows(m, n, rank=24, oversample=8, power_iters=2):
    rows = []
    for kappa in KAPPAS:
        s = log_uniform(n, kappa)
        G64 = with_spectrum(s, m, n, rng=2)
        for dtype in ("float64", "float32"):
            G, eps = G64.astype(dtype), EPS[dtype]
            _, energy_qr, align_qr = basis_quality(G, G64, s, rank, oversample, power_iters, normalizer="qr")
            for name in NORMALIZERS:
                orth, energy, align = basis_quality(G, G64, s, rank, oversample, power_iters, normalizer=name)
                rows.append((f"{kappa:.0e}", dtype, name, orth, energy, (energy - energy_qr) / eps,
                             (align - align_qr) / eps))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=positive_int, default=2048)
    parser.add_argument("--rank", type=positive_int, default=64)
    parser.add_argument("--power-iters", type=int, default=2)
    parser.add_argument("--oversample", type=int, default=0)
    parser.add_argument("--repeats", type=positive_int, default=7)
    parser.add_argument("--seeds", type=positive_int, default=10)
    parser.add_argument("--accuracy-shape", type=lambda text: matrix_shape(text, minimum=64), default=(512, 256))
    args = parser.parse_args()
    _, machine = cpu_libraries()
    import sklearn

    print(f"{machine}, scikit-learn {sklearn.__version__}, one BLAS thread\n")
    with threadpool_limits(limits=1):
        rows = speed_rows(args.size, args.rank, args.power_iters, args.oversample, args.repeats)
        print(f"rank {args.rank}, oversample {args.oversample}, power_iters {args.power_iters}: CPU ms (min of "
              f"{args.repeats} interleaved), ratio to scikit-learn, ratio to the product floor, alignment\n")
        print(table(["size", "dtype", "routine", "CPU ms", "/ sklearn", "/ floor", "alignment"], rows,
                    ["{}", "{}", "{}", "{:.1f}", "{:.3f}", "{:.3f}", "{:.6f}"]))
        print(f"\nAlignment of the float64 routines over seeds 0–{args.seeds - 1} (same matrix)\n")
        print(table(["routine", "seeds", "mean alignment", "std", "min"],
                    seed_rows(args.size, args.rank, args.power_iters, args.oversample, args.seeds),
                    ["{}", "{}", "{:.6f}", "{:.6f}", "{:.6f}"]))
        print(f"\nOn scikit-learn's matrices (float64, no oversampling): CPU ms (min of {args.repeats} interleaved), "
              f"ratio to scikit-learn, alignment over seeds 0–{args.seeds - 1}\n")
        print(table(["matrix", "parameters", "routine", "CPU ms", "/ sklearn", "mean alignment", "std",
                     "largest Δ, float32 vs float64 sketch"], peer_matrix_rows(args.size, args.repeats, args.seeds),
                    ["{}", "{}", "{}", "{:.2f}", "{:.3f}", "{:.6f}", "{:.6f}", "{}"]))
        m, n = args.accuracy_shape
        print(f"\nNormalizer accuracy, {m}×{n}, rank 24 + 8, 2 power iterations, against Householder QR at every "
              "step (differences in units of the working eps)\n")
        print(table(["κ", "dtype", "normalizer", "‖QᵀQ − I‖₂ / eps", "captured energy", "Δ energy / eps",
                     "Δ alignment / eps"], accuracy_rows(m, n),
                    ["{}", "{}", "{}", "{:.1f}", "{:.8f}", "{:+.1f}", "{:+.1f}"]))
        print(f"\nThe float32 sketch of a float64 matrix, {m}×{n}, rank 24 + 8, 2 power iterations, against the "
              "float64 sketch of the same seed (auto normalizer)\n")
        print(table(["κ", "‖QᵀQ − I‖₂ / eps₆₄", "energy, float64 sketch", "energy, float32 sketch", "Δ energy",
                     "Δ alignment"], mixed_rows(m, n),
                    ["{}", "{:.1f}", "{:.8f}", "{:.8f}", "{:+.1e}", "{:+.1e}"]))


if __name__ == "__main__":
    main()

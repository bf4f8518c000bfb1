"""What a σ-only prediction costs against running the method, side by side in one run.

For each method and parameters, times ``matsign.predict(σ, method, shape=…, **params)`` and the
method itself on the same ``S × N`` float32 matrix (``σ_i = i^(−1/2)``, a gapless spectrum
between Haar factors), interleaved round by round, and prints the ratio of the best times. The
Gaussian range finder's Monte-Carlo prediction is timed twice: with the default sketches (4 at a
time until the mean is known to 0.0025, with the spread) and with ``sketches=1`` (the value).
The singular values are computed once beforehand (float64 SVD) and not counted: a caller that
predicts for many methods, as ``matsign advise`` does, pays for them once per matrix; their
time is printed beside the table, against Muon's Newton–Schulz.

The last column times the prediction back to back (min of ``--repeats`` calls in a row, its
caches warm, as ``matsign advise`` calls one prediction after another) against the method's
best interleaved time. For each ``sketches=1`` row it also times the floor of one sketch (:func:`sketch_floor`: the
three Gram matrices and the eigendecomposition that any evaluation on ``diag(σ)`` needs) in the
same rounds, and prints it against the method, alone and four times over (the default draws 4
sketches to estimate a spread).

Usage: ``python benchmarks/predict.py [--shape 1024 4096] [--repeats 5] [--threads 1]``; prints
Markdown. BLAS runs on ``--threads`` threads (default one, through threadpoolctl).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from threadpoolctl import threadpool_limits

import matsign
from matsign.synthetic import power_law, with_spectrum
from costs import interleaved_ratios
from timing import positive_int

#: (method, parameters, predict's sketches or None for its default) timed; ranks up to 128.
CASES = [
    ("newton_schulz", {"schedule": "muon"}, None),
    ("newton_schulz", {"schedule": "polar_express"}, None),
    *((("gaussian", params, sketches) for params in (
        {"rank": 32},
        {"rank": 64, "power_iters": 1, "oversample": 4},
        {"rank": 128, "power_iters": 2, "oversample": 8},
        {"rank": 64, "inner": "muon"},
    ) for sketches in (None, 1))),
    ("column", {"rank": 128}, None),
    ("dion2", {"fraction": 0.25}, None),
    ("muoneq", {"mode": "R"}, None),
    ("galore", {"rank": 128}, None),
    ("gum", {"rank": 128}, None),
    ("oracle", {"rank": 128}, None),
]

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", type=positive_int, nargs=2, default=[1024, 4096], metavar=("S", "N"),
                        help="the wide orientation, 136 ≤ S ≤ N (the largest sketch is 128 + 8 wide)")
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--threads", type=positive_int, default=1)
    args = parser.parse_args()
    s, N = args.shape
    if not 136 <= s <= N:
        parser.error(f"argument --shape: need 136 ≤ S ≤ N, got S = {s}, N = {N}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, NumPy {np.__version__}; float32 on {args.threads} thread(s), {s} × {N}, "
          f"σ_i = i^(-1/2), {args.repeats} interleaved rounds\n")
    G = with_spectrum(power_law(s, 0.5), s, N, rng=0).astype(np.float32)
    rows, floors = [], []
    with threadpool_limits(limits=args.threads):
        start = time.perf_counter()
        sigma = np.linalg.svd(G.astype(np.float64), compute_uv=False)
        svd_seconds = time.perf_counter() - start
        for name, params, sketches in CASES:
            method = matsign.get_method(name)
            options = {} if sketches is None else {"sketches": sketches}
            fns = [lambda: method(G, rng=0, **params),
                   lambda: matsign.predict(sigma, name, shape=G.shape, stored_dtype="float32", **options, **params)]
            if sketches == 1:
                fns.append(sketch_floor(s, params["rank"] + params.get("oversample", 0)))
            best, ratios, medians = interleaved_ratios(fns, args.repeats)
            prediction = fns[1]()
            kind = prediction["kind"] + (f" ({prediction['draws']} sketch{'es' * (prediction['draws'] > 1)})"
                                         if prediction["draws"] else "")
            label = ", ".join(f"{k}={v}" for k, v in params.items())
            warm = min(_timed(fns[1]) for _ in range(args.repeats))  # back to back, as advise calls it
            rows.append((f"{name} ({label})", kind, best[0] * 1e3, best[1] * 1e3, ratios[1], medians[1],
                         warm / best[0]))
            if sketches == 1:
                floors.append((f"{name} ({label})", best[0] * 1e3, best[2] * 1e3, ratios[2], 4 * ratios[2]))
        ns = min(_timed(lambda: matsign.newton_schulz(G, "muon")) for _ in range(args.repeats))
    print("| method | prediction | method ms | predict ms | predict / method (best) | (median round) "
          "| back to back / method |")
    print("|---|---|---|---|---|---|---|")
    for label, kind, t_method, t_predict, ratio, median, warm in rows:
        print(f"| {label} | {kind} | {t_method:.1f} | {t_predict:.2f} | {100 * ratio:.2f}% | {100 * median:.2f}% "
              f"| {100 * warm:.2f}% |")
    print("\nThe floor of one sketch, timed in the same rounds: the three float64 Gram matrices of a "
          f"{s} × ℓ block and the ℓ × ℓ eigendecomposition that any evaluation on diag(σ) needs; the default "
          "draws 4 sketches to estimate the spread of one run.\n")
    print("| method | method ms | floor of one sketch ms | one sketch's floor / method | 4 sketches' floor / method |")
    print("|---|---|---|---|---|")
    for label, t_method, t_floor, ratio, four in floors:
        print(f"| {label} | {t_method:.1f} | {t_floor:.2f} | {100 * ratio:.2f}% | {100 * four:.2f}% |")
    print(f"\nσ by a float64 SVD (once per matrix, not in the table): {svd_seconds * 1e3:.0f} ms, "
          f"{svd_seconds / ns:.1f}× Muon's 5-step Newton–Schulz ({ns * 1e3:.0f} ms)")


def sketch_floor(k, width):
    """The work no evaluation of a ``width``-column sketch of ``diag(σ)`` (``k`` rows) avoids:
    three ``k × width`` float64 Gram matrices (``YᵀY``, ``(DY)ᵀDY``, ``ZᵀZ``) and one
    ``width × width`` symmetric eigendecomposition, on blocks formed beforehand."""
    rng = np.random.default_rng(0)
    blocks = [rng.standard_normal((k, width)) for _ in range(3)]
    gram = blocks[0].T @ blocks[0]

    def floor():
        for Y in blocks:
            Y.T @ Y
        np.linalg.eigh(gram)

    return floor


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()

"""The worst-case error of each Newton–Schulz schedule as a scalar sign, by steps and interval.

Usage: ``python scripts/ns_svd_constant.py`` (from the repository root). Prints two markdown
tables of :func:`matsign.exact.uniform_sign_error`, the exact sup over ``σ ∈ [ℓ, 1]`` of
``|φ(σ) − 1|`` (``φ`` the schedule's composed polynomial, pre-scale included): per schedule of
:data:`matsign.exact.SCHEDULES` and step count 1–8 at ``ℓ = 10⁻³``, then at the schedule's own
step count for ``ℓ = 10⁻⁴ … 10⁻¹``. It is the quantity behind the constant by which Muon with
Newton–Schulz trails the SVD polar step in arXiv 2601.19156.
"""

from __future__ import annotations

from matsign.exact import SCHEDULES, get_schedule, uniform_sign_error

STEPS = range(1, 9)
LOWERS = (1e-4, 1e-3, 1e-2, 1e-1)


def main():
    print("sup over σ ∈ [1e-3, 1] of |φ(σ) − 1| by steps")
    print()
    print("| schedule | " + " | ".join(f"{k} steps" for k in STEPS) + " |")
    print("|---|" + "---|" * len(STEPS))
    for name in SCHEDULES:
        cells = [f"{uniform_sign_error(name, k, 1e-3):.2g}" for k in STEPS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    print("sup over σ ∈ [ℓ, 1] of |φ(σ) − 1| at the schedule's own steps")
    print()
    print("| schedule | steps | " + " | ".join(f"ℓ = {lo:g}" for lo in LOWERS) + " |")
    print("|---|---|" + "---|" * len(LOWERS))
    for name in SCHEDULES:
        own = len(get_schedule(name).steps_coefficients())
        cells = [f"{uniform_sign_error(name, None, lo):.2g}" for lo in LOWERS]
        print(f"| {name} | {own} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

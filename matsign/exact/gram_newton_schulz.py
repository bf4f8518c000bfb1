r"""Gram Newton–Schulz: the Newton–Schulz iteration carried on the small Gram matrix.

On the wide orientation (``m ≤ n``) every Newton–Schulz iterate is a polynomial in
``A = X₀X₀ᵀ`` applied to ``X₀``, so the ``m × n`` iterate never has to be formed: only
``m × m`` products run inside the loop, and one ``m × m`` by ``m × n`` product at the end.
"""

from __future__ import annotations

import numbers

from matsign._backend import arithmetic, boundary, check_choice, check_matrix, check_positive_int, device
from matsign.exact.newton_schulz import check_newton_schulz_params, predict_newton_schulz
from matsign.exact.normalization import NORMALIZATIONS, normalized
from matsign.exact.schedules import get_schedule
from matsign.registry import register


@boundary
def gram_newton_schulz(
    G, schedule="muon", *, steps: int | None = None, normalize: str = "frobenius", restarts=(2,), dtype=None
):
    r"""Approximate ``msign(G)`` by Newton–Schulz iterated on the ``m × m`` Gram matrix.

    On the wide orientation (``m ≤ n``), every iterate of :func:`newton_schulz` is
    :math:`X_k = Q_k X_0` with :math:`Q_k` a polynomial in :math:`X_0 X_0^T`, so the iteration
    closes on ``m × m`` matrices [1]_:

    .. math:: Q_0 = I, \quad R_0 = X_0 X_0^T, \qquad
              B_k = b_k R_k + c_k R_k^2, \quad P_k = a_k I + B_k,

    .. math:: Q_{k+1} = a_k Q_k + B_k Q_k, \qquad
              R_{k+1} = P_k R_k P_k = a_k S_k + B_k S_k, \quad S_k = a_k R_k + B_k R_k,

    and :math:`X_K = Q_K X_0`: in exact arithmetic the result of :func:`newton_schulz`.

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack (NumPy, CuPy or PyTorch).
    schedule : str, Schedule or list of (a, b, c)
        See :func:`newton_schulz`.
    steps : int, optional
        See :func:`newton_schulz`.
    normalize : {"frobenius", "spectral", "schatten4", "aol", "none"}
        See :func:`newton_schulz`; ``"schatten4"`` and ``"aol"`` reuse their Gram product as ``R₀``.
    restarts : sequence of int
        Steps ``k ≥ 1`` before which ``X_k = Q_k X₀`` is formed and ``R_k`` recomputed
        (``Q_k ← I``); indices at or beyond the number of steps are ignored. ``()``: none.
    dtype : str or dtype, optional
        Working precision; see :func:`newton_schulz`.

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G``. The zero matrix gives the zero matrix.

    Notes
    -----
    **Cost.** ``2m²n`` for ``R₀`` and ``2m²n`` for ``Q_K X₀``; per quintic step ``2m³`` for
    ``R_k²``, ``2m³`` for ``B_k Q_k`` (none on the first step, where ``Q₁ = P₀``) and ``4m³``
    for ``R_{k+1}`` (none on the last); ``4m²n − 6m³`` per restart
    (:func:`gram_newton_schulz_flops`). Five quintic steps cost ``4m²n + 34m³`` against
    ``20m²n + 10m³`` for the standard iteration: a saving when ``n ≳ 1.5 m`` (0.56× the flops at
    1024 × 4096, 0.30× at 256 × 4096, but 1.27× on a square matrix).

    **Accuracy.** ``R_k`` holds the *squares* of the singular values, so with unit roundoff
    ``u`` directions with ``σ_i/σ_1 ≲ √u`` are perturbed relative to their size, and the
    roundoff in ``Q_k`` and ``R_k`` is not corrected by forming ``X_k``: the two drift apart,
    and the aggressive first steps of Muon-type schedules amplify the drift. Restarts, as in
    Dao AI Lab's stabilized version, repair it. Measured on 64 × 256 inputs with log-uniform
    spectra, max-entry error against float64: without restarts bfloat16 already fails at
    κ = 100 (errors ≥ 1 for ``muon``, ``you5``, ``cans``, ``polar_express``) and float32 is
    20–80× less accurate than :func:`newton_schulz`; with the default restart, the 5-step
    schedules stay within 1–3× (bfloat16) and 1–7× (float32) of it up to κ = 1e4.
    ``polar_express8`` needs ``restarts=(2, 5)`` (within 1.2×); ``deepseek_v4`` still
    overflows in bfloat16 with ``(2, 5, 8)``: use :func:`newton_schulz` there.

    References
    ----------
    .. [1] Dao AI Lab, *Gram Newton–Schulz: A Fast, Hardware-Aware Newton–Schulz Algorithm for
       Muon*, blog post (2026), https://tridao.me/blog/2026/gram-newton-schulz/.
    .. [2] K. Jordan et al., *Muon* (2024).
    .. [3] N. Amsel et al., *The Polar Express*, arXiv 2505.16932.

    Examples
    --------
    >>> import numpy as np
    >>> from matsign.exact.newton_schulz import newton_schulz
    >>> G = np.array([[3.0, 0.0, 1.0], [0.0, 0.5, 0.0]])
    >>> X = gram_newton_schulz(G, "polar_express8")
    >>> np.allclose(X, newton_schulz(G, "polar_express8"), atol=1e-12)
    True
    >>> np.round(X @ X.T, 3)
    array([[1., 0.],
           [0., 1.]])
    """
    xp = check_matrix(G, "G")
    sched, triples, restart_steps = check_gram_newton_schulz_params(
        schedule=schedule, steps=steps, restarts=restarts, dtype=dtype
    )
    check_choice(normalize, NORMALIZATIONS, "normalize")
    ar = arithmetic(G, dtype)
    tall = G.shape[-2] > G.shape[-1]
    X, R = normalized(xp.matrix_transpose(G) if tall else G, normalize, sched.prescale, ar)
    Q = None  # None stands for the identity, so the first step after a (re)start costs no product
    for k, (a, b, c) in enumerate(triples):
        if k in restart_steps:
            X, Q, R = ar.matmul(Q, X), None, None  # X_k = Q_k X₀, then R_k from it
        if R is None:
            R = ar.matmul(X, xp.matrix_transpose(X))  # R_k = X_k X_kᵀ
        B = ar.matmul_add(b, R, c, R, R) if c != 0 else ar.round(b * R)  # B_k = b_k R_k + c_k R_k²
        if Q is None:
            Q = ar.round(B + a * xp.eye(R.shape[-1], dtype=R.dtype, device=device(R)))  # Q_{k+1} = P_k
        else:
            Q = ar.matmul_add(a, Q, 1.0, B, Q)  # Q_{k+1} = a_k Q_k + B_k Q_k
        if k + 1 < len(triples) and k + 1 not in restart_steps:
            S = ar.matmul_add(a, R, 1.0, B, R)  # S_k = R_k P_k
            R = ar.matmul_add(a, S, 1.0, B, S)  # R_{k+1} = P_k S_k
    X = ar.matmul(Q, X)  # X_K = Q_K X₀
    X = xp.matrix_transpose(X) if tall else X
    return xp.astype(X, G.dtype, copy=False)


def check_gram_newton_schulz_params(*, schedule, steps, restarts, dtype):
    """Check the parameters of :func:`gram_newton_schulz` that need no matrix.

    Returns
    -------
    schedule : Schedule
    triples : tuple of (a, b, c)
    restart_steps : frozenset of int
        The indices of ``restarts`` below the number of steps.
    """
    sched, triples = check_newton_schulz_params(schedule=schedule, steps=steps, dtype=dtype)
    return sched, triples, _check_restarts(restarts, len(triples))


def gram_newton_schulz_flops(m: int, n: int, schedule="muon", *, steps: int | None = None, restarts=(2,)) -> float:
    """Flops of :func:`gram_newton_schulz` on one ``m × n`` matrix (general, non-symmetric GEMMs).

    Examples
    --------
    >>> standard = 5 * (4 * 1024**2 * 4096 + 2 * 1024**3)  # newton_schulz, 5 quintic steps
    >>> gram_newton_schulz_flops(1024, 4096, restarts=()) / standard
    0.5555555555555556
    >>> gram_newton_schulz_flops(1024, 4096) / standard  # one restart: + 4m²n − 6m³
    0.6666666666666666
    """
    m, n = check_positive_int(m, "m"), check_positive_int(n, "n")
    s, N = min(m, n), max(m, n)
    triples = get_schedule(schedule).steps_coefficients(steps)
    restart_steps = _check_restarts(restarts, len(triples))
    total = 2 * s * s * N + 2 * s * s * N  # R₀ = X₀X₀ᵀ and the final Q_K X₀
    fresh = True
    for k, (_, _, c) in enumerate(triples):
        if k in restart_steps:
            total += 4 * s * s * N  # X_k = Q_k X₀ and its Gram matrix
            fresh = True
        total += (2 * s**3 if c != 0 else 0) + (0 if fresh else 2 * s**3)
        fresh = False
        if k + 1 < len(triples) and k + 1 not in restart_steps:
            total += 4 * s**3
    return float(total)


def _check_restarts(restarts, steps):
    """The step indices in ``[1, steps)`` of ``restarts``, or a ValueError naming it."""
    try:
        values = tuple(restarts)
    except TypeError:
        raise ValueError(f"restarts must be a sequence of step indices, got {restarts!r}") from None
    for k in values:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"restarts must hold step indices k ≥ 1, got {restarts!r}")
    return frozenset(int(k) for k in values if k < steps)


def _method(G, *, rng=None, schedule="muon", steps=None, restarts=(2,), dtype=None):
    return gram_newton_schulz(G, schedule, steps=steps, restarts=restarts, dtype=dtype)


def _method_flops(m, n, *, schedule, steps, restarts, dtype):
    return gram_newton_schulz_flops(m, n, schedule, steps=steps, restarts=restarts)


def _method_predict(spectrum, *, schedule, steps, restarts, dtype):
    """In exact arithmetic the Gram iteration is Newton–Schulz (restarts only re-form the
    iterate), so its prediction is :func:`predict_newton_schulz`'s."""
    return predict_newton_schulz(spectrum, schedule=schedule, steps=steps, dtype=dtype)


register(
    "gram_newton_schulz", _method,
    description="Newton–Schulz carried on the m×m Gram matrix (fewer flops when n ≳ 1.5·m; "
    "restarts re-form the iterate for low-precision stability)",
    flops=_method_flops, check=check_gram_newton_schulz_params, label="gram_newton_schulz",
    predict=_method_predict,
)

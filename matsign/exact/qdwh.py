r"""QDWH: the QR-based dynamically weighted Halley iteration for the polar factor.

Each step applies the best rational map of type (3, 2) for the interval ``[ℓ_k, 1]`` that holds
the singular values, through a QR factorization while that map is aggressive and through a
Cholesky factorization once the matrix it inverts is well conditioned. Six steps take every
singular value above ``10⁻¹⁶ ‖G‖_F`` to 1 in float64, and the result is backward stable.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from matsign._backend import (
    EPS,
    arithmetic,
    boundary,
    check_matrix,
    check_nonnegative_int,
    check_positive_int,
    check_precision,
    check_real,
    check_unit_interval,
    device,
    library,
    linalg_dtype,
)
from matsign._backend.linalg import cholesky_upper, solve_upper_right
from matsign._backend.precision import library_dtype
from matsign.exact.normalization import identity_residual, normalized
from matsign.prediction import bounded, diagonal_outcome, exact
from matsign.registry import register

#: Working precisions with LAPACK-type QR and Cholesky factorizations.
PRECISIONS = ("float64", "float32")

#: Steps with ``c_k`` above this use the QR form: the Cholesky form inverts ``I + c_k XᵀX``,
#: whose condition number ``≤ 1 + c_k`` must stay small for backward stability.
QR_FORM_ABOVE = 100.0

#: Most steps. From any valid ``ℓ₀ ≥ eps`` the weights need 6 steps in float64 (4 in float32)
#: and the residual test may confirm one step later; if the Gram matrix contradicts the bound
#: ``ℓ_k`` (``lower`` too large), ``ℓ`` restarts once from a verified bound ``≥ eps`` and needs
#: at most as many again: ``2 × (6 + 1) = 14``. Only a ``lower`` given for a singular ``G``
#: (which restarts without end) reaches it.
MAX_ITERATIONS = 14

#: Smallest ``ℓ`` for which :func:`dwh_weights` is accurate (``ℓ⁴`` is still a normal double).
SMALLEST_ELL = 1e-76


@boundary
def qdwh_sign(G, *, lower=None, dtype=None, return_forms: bool = False):
    r"""``msign(G)`` to working accuracy by the QDWH iteration (QR and Cholesky factorizations).

    On the tall orientation (``m ≥ n``), from ``X₀ = G/‖G‖_F`` and a lower bound
    ``ℓ₀ ≤ σ_min(X₀)``, each step takes the dynamical weights ``(a, b, c)`` of
    :func:`dwh_weights` for ``ℓ_k`` and computes the DWH step and the bound it carries [1]_

    .. math:: X_{k+1} = \tfrac{b}{c} X_k + \bigl(a - \tfrac{b}{c}\bigr) X_k (I + c X_k^T X_k)^{-1},
              \qquad ℓ_{k+1} = ℓ_k \frac{a + b ℓ_k^2}{1 + c ℓ_k^2},

    in the **QR form** of [1]_ while ``c > 100``, then in the **Cholesky form** of [3]_ (Notes).

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack (NumPy, CuPy or PyTorch). A stack shares ``ℓ_k`` and
        stops when every member passes the test.
    lower : float, optional
        A lower bound on ``σ_min(G)/σ₁(G)``, in ``(0, 1)``; ``ℓ₀ = lower/√n`` (``n`` the shorter
        side). Default: ``ℓ₀ = eps`` of the working precision.
    dtype : {"float64", "float32"}, optional
        Working precision (default ``G``'s; 16-bit inputs work in float32).
    return_forms : bool
        Also return the form of each step taken, ``"qr"`` or ``"cholesky"``.

    Returns
    -------
    X : array, shape (..., m, n)
        Same library, device and dtype as ``G``.
    forms : list of str
        Only with ``return_forms``.

    Warns
    -----
    RuntimeWarning
        After :data:`MAX_ITERATIONS` steps (a ``lower`` given for a singular ``G``).

    Notes
    -----
    **The two forms.** Every singular value follows ``s ↦ s(a + bs²)/(1 + cs²)``, which maps
    ``[ℓ_k, 1]`` into ``[ℓ_{k+1}, 1]``. QR form: the thin QR factorization
    :math:`\begin{bmatrix}\sqrt c X_k \\ I\end{bmatrix} = \begin{bmatrix}Q_1 \\ Q_2\end{bmatrix} R`
    gives :math:`X_{k+1} = \tfrac bc X_k + \tfrac{1}{\sqrt c}(a - \tfrac bc) Q_1 Q_2^T`.
    Cholesky form: :math:`I + c X_k^T X_k = R^T R` and
    :math:`X_{k+1} = \tfrac bc X_k + (a - \tfrac bc)(X_k R^{-1}) R^{-T}` (two triangular
    solves), backward stable while ``κ(I + c XᵀX) ≤ 1 + c`` is small. A Cholesky breakdown runs
    that step in QR form instead. ``‖G‖_F ≥ σ₁`` is computed after dividing by ``max|G_ij|``.

    **Default ℓ₀ = eps**: a valid bound for every singular value that the working precision
    resolves, at a fixed cost of 2 QR-form and 4 Cholesky-form steps in float64 (2 + 2 in
    float32). The estimate ``ℓ₀ = 1/‖R⁻¹‖_F`` from a QR factorization of ``X₀`` was measured as
    the alternative: it costs about one Cholesky-form step and saves one or two steps in
    float64 for κ ≲ 1e9 but none in float32; NumPy timings ranged from 12% faster to 30% slower.

    **Stopping**, tested after each Cholesky-form step (a QR-form step has ``ℓ_k < 0.05``, hence
    ``ℓ_{k+1} < 0.76``). With ``ℓ₀ = eps`` (the default, or ``lower ≤ eps·√n``): stop when
    ``|1 − ℓ_{k+1}| ≤ 5 eps``; every singular value above ``eps·‖G‖_F`` has then reached 1. With
    ``ℓ₀ = lower/√n > eps``, an unverified claim: stop when also
    :math:`r_k = \lVert X_k^T X_k - I\rVert_F \le 2 (5\,\mathrm{eps})^{1/3}`, the published
    test ``‖X_{k+1} − X_k‖_F ≤ (5 eps)^{1/3}`` [3]_ restated on the Gram matrix the step forms
    anyway (near convergence ``r_k ≈ 2‖X_{k+1} − X_k‖_F``). Unlike the difference of iterates,
    ``r_k ≥ 1 − s²`` also sees a singular value ``s`` still far below ``ℓ_k`` (with one at
    ``10⁻⁸ σ₁`` and ``lower = 0.5``, the published test stops after 4 steps with error 0.12; this
    one converges in 9). If ``r_k > √n (1 − ℓ_k²) + 2 (5 eps)^{1/3}`` the Gram matrix contradicts
    ``ℓ_k``, and ``ℓ_{k+1}`` restarts from the verified bound ``max(eps, (1 − r_k)^{1/2})``
    (valid because the map sends every ``s ∈ [0, 1]`` to at least ``s``): a ``lower`` that is
    too large costs steps, not accuracy.

    **Accuracy.** QDWH is backward stable [2]_, like the SVD route, so its forward error grows
    with κ as the SVD's does. Measured on log-spaced spectra (96 × 96, 160 × 64, 64 × 160),
    relative Frobenius error against the float64 SVD polar factor: 2e-15 at κ = 10, 2e-14 at
    1e3, 1e-11 at 1e6, 7e-9 at 1e9, 6e-6 at 1e12; against a 40-digit reference, 1.7–3.3× the
    float64 SVD's error. Backward error ``‖G − XH‖_F/‖G‖_F`` 3–5 eps, ``‖XᵀX − I‖_F`` at most
    30 eps at every κ. In float32 the error is 1.6–2.3× that of NumPy's float32 SVD polar
    factor (0.1–1.6× that of PyTorch's, on CPU).

    **Zero singular values.** The map sends 0 to 0, but roundoff puts components of size
    ``eps·‖G‖`` into the null directions, which the iteration pushes toward 1: they end
    anywhere in ``[0, 1]`` (measured: 1, 0.92 and 0 for the null directions of a rank-1 6 × 4
    matrix, about 1e-18 for exactly zero rows). QDWH therefore does **not** reproduce the
    truncation of :func:`msign`: on numerically rank-deficient input it agrees with ``msign(G)``
    on the range of ``G`` only. The zero matrix gives the zero matrix.

    **Cost and host reads.** :func:`qdwh_flops` counts the flops. ``ℓ_k`` and the weights are
    host scalars; one flag (Cholesky breakdown) is read per Cholesky-form step, and, with
    ``lower`` given, also ``r_k``; nothing per QR-form step.

    References
    ----------
    .. [1] Y. Nakatsukasa, Z. Bai, F. Gygi, *Optimizing Halley's iteration for computing the
       matrix polar decomposition*, SIAM J. Matrix Anal. Appl. 31 (2010).
    .. [2] Y. Nakatsukasa, N. J. Higham, *Backward stability of iterations for computing the
       polar decomposition*, SIAM J. Matrix Anal. Appl. 33 (2012).
    .. [3] Y. Nakatsukasa, N. J. Higham, *Stable and efficient spectral divide and conquer
       algorithms for the symmetric eigenvalue decomposition and the SVD*, SIAM J. Sci.
       Comput. 35 (2013).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[3.0, 0.0], [4.0, 5.0]])
    >>> X = qdwh_sign(G)
    >>> np.round(np.sqrt(5) * X, 12)  # the polar factor is [[2, -1], [1, 2]] / √5
    array([[ 2., -1.],
           [ 1.,  2.]])
    """
    xp = check_matrix(G, "G")
    if lower is not None:
        lower = check_unit_interval(lower, "lower")
    precision = check_qdwh_params(dtype=linalg_dtype(G) if dtype is None else dtype)
    eps = EPS[precision]
    wide = G.shape[-2] < G.shape[-1]
    Y = xp.astype(xp.matrix_transpose(G) if wide else G, library_dtype(precision, library(G)))
    n = int(Y.shape[-1])
    X, _ = normalized(Y, "frobenius", 1.0, arithmetic(Y))  # X₀ = Y/‖Y‖_F
    identity = xp.eye(n, dtype=X.dtype, device=device(X))
    ell = eps if lower is None else max(eps, lower / math.sqrt(n))
    verify = ell > eps  # a bound above eps is the caller's claim, which r_k checks
    tol, orth_tol = 5 * eps, 2 * (5 * eps) ** (1 / 3)
    residual = math.inf
    forms = []
    for _ in range(MAX_ITERATIONS):
        a, b, c = dwh_weights(ell)
        ell_next = min(1.0, ell * (a + b * ell * ell) / (1 + c * ell * ell))
        if c > QR_FORM_ABOVE:  # then ℓ_k < 0.05 and ℓ_{k+1} < 0.76: no stopping test
            X = _qr_step(xp, X, a, b, c, identity)
            forms.append("qr")
            ell = ell_next
            continue
        P = xp.matrix_transpose(X) @ X
        if verify:
            residual = identity_residual(xp, P, X)  # r_k = ‖X_kᵀX_k − I‖_F
        R = cholesky_upper(c * P + identity)  # I + c X_kᵀX_k = RᵀR
        if R is None:
            X = _qr_step(xp, X, a, b, c, identity)
            forms.append("qr")
        else:
            X = _cholesky_step(xp, X, a, b, c, R)
            forms.append("cholesky")
        if 1 - ell_next <= tol and (not verify or residual <= orth_tol):
            break
        if verify and residual > math.sqrt(n) * (1 - ell * ell) + orth_tol:
            # Every s in [0, 1] maps to at least s, and σ_min(X_k)² ≥ 1 − ‖X_kᵀX_k − I‖_F.
            ell_next = max(eps, math.sqrt(max(0.0, 1 - residual)))
        ell = ell_next
    else:
        warnings.warn(
            f"qdwh_sign stopped after {MAX_ITERATIONS} steps with ‖XᵀX − I‖_F = {residual:.2e} > "
            f"{orth_tol:.2e}: lower={lower!r} exceeds σ_min(G)/σ₁(G) (G may be singular)",
            RuntimeWarning,
            stacklevel=2,
        )
    X = xp.astype(xp.matrix_transpose(X) if wide else X, G.dtype)
    return (X, forms) if return_forms else X


def check_qdwh_params(*, dtype) -> str | None:
    """Check the working precision ``dtype`` of :func:`qdwh_sign`; return its name (None stays None)."""
    if dtype is None:
        return None
    precision = check_precision(dtype)
    if precision not in PRECISIONS:
        raise ValueError(f"dtype must be one of {PRECISIONS} (QDWH needs QR and Cholesky), got {dtype!r}")
    return precision


def dwh_weights(ell: float) -> tuple[float, float, float]:
    r"""The weights ``(a, b, c)`` of the dynamically weighted Halley step for ``[ℓ, 1]``:

    .. math:: d = \Bigl(\frac{4(1-ℓ^2)}{ℓ^4}\Bigr)^{1/3}, \quad
              a = \sqrt{1+d} + \tfrac12\sqrt{8 - 4d + \frac{8(2-ℓ^2)}{ℓ^2\sqrt{1+d}}}, \quad
              b = \tfrac{(a-1)^2}{4}, \quad c = a + b - 1.

    Parameters
    ----------
    ell : float
        The lower end ``ℓ`` of the interval, in ``[SMALLEST_ELL, 1] = [1e-76, 1]``.

    Returns
    -------
    tuple of float
        ``(a, b, c)``; ``ℓ = 1`` gives Halley's ``(3, 1, 3)``.

    Notes
    -----
    ``s ↦ s(a + bs²)/(1 + cs²)`` is the rational map of type (3, 2) that maps ``[ℓ, 1]`` into
    ``[ℓ', 1]`` with the largest ``ℓ'`` [1]_. Computed in Python floats to a relative accuracy of
    about 1e-14; below ``ℓ = 1e-76``, ``ℓ⁴`` leaves the normal doubles and the formula breaks
    down. :func:`qdwh_sign` only needs ``ℓ ≥ eps``.

    References
    ----------
    .. [1] Y. Nakatsukasa, Z. Bai, F. Gygi, *Optimizing Halley's iteration for computing the
       matrix polar decomposition*, SIAM J. Matrix Anal. Appl. 31 (2010).

    Examples
    --------
    >>> dwh_weights(1.0)
    (3.0, 1.0, 3.0)
    """
    ell = check_real(ell, "ell", low=SMALLEST_ELL, high=1)
    ell2 = ell * ell
    d = (4.0 * (1.0 - ell2) / (ell2 * ell2)) ** (1.0 / 3.0)
    root = math.sqrt(1.0 + d)
    a = root + 0.5 * math.sqrt(8.0 - 4.0 * d + 8.0 * (2.0 - ell2) / (ell2 * root))
    b = (a - 1.0) ** 2 / 4.0
    return a, b, a + b - 1.0


def qdwh_flops(m: int, n: int, qr_steps: int, cholesky_steps: int) -> float:
    """Flops of :func:`qdwh_sign` on one ``m × n`` matrix with the given numbers of steps.

    Model (``m ≥ n`` after orienting; Householder QR of a ``p × n`` matrix ``2pn² − 2n³/3``,
    forming its thin ``Q`` as much again; products as general GEMMs; ``O(mn)`` terms omitted):

    - QR-form step: QR of the ``(m + n) × n`` stack with ``Q`` formed (the identity block is not
      exploited), ``4(m + n)n² − 4n³/3``, plus ``Q₁Q₂ᵀ``, ``2mn²``: ``6mn² + 8n³/3``;
    - Cholesky-form step: ``XᵀX`` ``2mn²``, Cholesky ``n³/3``, two triangular solves with ``m``
      right-hand sides ``2mn²``: ``4mn² + n³/3``.

    The default ``lower`` takes 2 + 4 steps in float64 and 2 + 2 in float32.

    Examples
    --------
    >>> n = 1024
    >>> qdwh_flops(n, n, 2, 4) / n**3  # float64: 2 × 8.67 + 4 × 4.33
    34.666666666666664
    >>> qdwh_flops(4 * n, n, 2, 2) / qdwh_flops(n, 4 * n, 2, 2)  # orientation does not matter
    1.0
    """
    m, n = check_positive_int(m, "m"), check_positive_int(n, "n")
    qr_steps = check_nonnegative_int(qr_steps, "qr_steps")
    cholesky_steps = check_nonnegative_int(cholesky_steps, "cholesky_steps")
    s, N = min(m, n), max(m, n)
    qr_step = 6 * N * s**2 + 8 * s**3 / 3
    cholesky_step = 4 * N * s**2 + s**3 / 3
    return float(qr_steps * qr_step + cholesky_steps * cholesky_step)


def dwh_step(xp, X, ell, identity):
    r"""One dynamically weighted Halley step of a tall ``X`` whose singular values lie in
    ``[ℓ, 1]``: ``(X_next, ℓ_next, form)``, without checks (a kernel for composed methods).

    ``X_next`` maps each singular value by ``s ↦ s(a + bs²)/(1 + cs²)`` with the weights of
    :func:`dwh_weights`, in the QR form while ``c > QR_FORM_ABOVE`` and in the Cholesky form
    after (the QR form on a Cholesky breakdown, which reads one flag from the host), as
    :func:`qdwh_sign` does; ``identity`` is the ``n × n`` identity of ``X``'s dtype.
    """
    a, b, c = dwh_weights(ell)
    ell_next = min(1.0, ell * (a + b * ell * ell) / (1 + c * ell * ell))
    if c > QR_FORM_ABOVE:
        return _qr_step(xp, X, a, b, c, identity), ell_next, "qr"
    R = cholesky_upper(c * (xp.matrix_transpose(X) @ X) + identity)
    if R is None:
        return _qr_step(xp, X, a, b, c, identity), ell_next, "qr"
    return _cholesky_step(xp, X, a, b, c, R), ell_next, "cholesky"


def _qr_step(xp, X, a, b, c, identity):
    """``(b/c) X + (a − b/c)/√c · Q₁Q₂ᵀ`` from the thin QR factorization of ``[√c X; I]``."""
    m = X.shape[-2]
    block = xp.broadcast_to(identity, (*X.shape[:-2], *identity.shape))
    Q, _ = xp.linalg.qr(xp.concat([math.sqrt(c) * X, block], axis=-2))
    Q1, Q2 = Q[..., :m, :], Q[..., m:, :]
    return (b / c) * X + ((a - b / c) / math.sqrt(c)) * (Q1 @ xp.matrix_transpose(Q2))


def _cholesky_step(xp, X, a, b, c, R):
    """``(b/c) X + (a − b/c) X R⁻¹R⁻ᵀ`` for ``I + c XᵀX = RᵀR``, by two triangular solves."""
    Y = solve_upper_right(X, R)
    # Y R⁻ᵀ = (Y J)(J Rᵀ J)⁻¹ J with J the order reversal, and J Rᵀ J is upper triangular.
    flipped = solve_upper_right(xp.flip(Y, axis=-1), xp.flip(xp.matrix_transpose(R), axis=(-2, -1)))
    return (b / c) * X + (a - b / c) * xp.flip(flipped, axis=-1)


def _method(G, *, rng=None, dtype=None):
    return qdwh_sign(G, dtype=dtype)


def _method_flops(m, n, *, dtype):
    # The default lower bound ℓ₀ = eps takes 2 QR-form steps, then 4 Cholesky-form steps in
    # float64 and 2 in float32; dtype=None counts as float64, the sweeps' default input.
    return qdwh_flops(m, n, 2, 4 if dtype in (None, "float64") else 2)


def _method_predict(spectrum, *, dtype):
    r"""The scalar trace of :func:`qdwh_sign` with its default ``ℓ₀ = eps`` (exact: σ determines it).

    From :math:`x = \sigma/\|\sigma\|_2`, each step maps :math:`x \mapsto x(a + bx^2)/(1 + cx^2)`
    with the weights of :func:`dwh_weights` for ``ℓ_k`` (QR and Cholesky forms compute the
    same map), and stops where the method does, on ``ℓ`` alone. Rounding is not modelled, except
    that singular values at roundoff level (at most ``√k·eps·‖G‖_F``, exact zeros included)
    come out anywhere in ``[0, 1]``: with such values the prediction is a ``"bound"``.
    """
    precision = spectrum.work if dtype is None else check_precision(dtype)
    eps = EPS[precision]
    s = spectrum.s
    norm = float(np.linalg.norm(s))
    x = s / norm if norm > 0 else np.zeros_like(s)
    ell = eps
    for _ in range(MAX_ITERATIONS):
        a, b, c = dwh_weights(ell)
        ell_next = min(1.0, ell * (a + b * ell * ell) / (1 + c * ell * ell))
        x = x * (a + b * x * x) / (1 + c * x * x)
        if c <= QR_FORM_ABOVE and 1 - ell_next <= 5 * eps:
            break
        ell = ell_next
    # Roundoff puts singular values of about eps·‖G‖_F where G has (numerical) zeros, and the
    # map sends those toward 1: below √k·eps·‖G‖_F a value's fate is only known to be in [0, 1].
    noise = s <= math.sqrt(s.size) * eps * norm
    if not np.any(noise):
        return exact(*diagonal_outcome(spectrum, x), note="exact arithmetic: rounding is not modelled")
    target = (np.arange(s.size) < spectrum.rank).astype(np.float64)
    near, far = np.where(noise, target, x), np.where(noise, 1.0 - target, x)
    (a_near, e_near), (a_far, e_far) = diagonal_outcome(spectrum, near), diagonal_outcome(spectrum, far)
    return bounded((min(a_near, a_far), max(a_near, a_far)), (e_near, e_far),
                   note=f"{int(noise.sum())} singular values at roundoff level (numerical zeros): QDWH maps "
                   "their rounding noise anywhere in [0, 1]")


register(
    "qdwh", _method,
    description="msign(G) by the QR-based dynamically weighted Halley iteration (backward stable; "
    "2 QR-form then Cholesky-form steps; dtype float64 or float32)",
    flops=_method_flops, check=check_qdwh_params, label="exact (QDWH)", predict=_method_predict,
)

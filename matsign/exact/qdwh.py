r"""QDWH: the QR-based dynamically weighted Halley iteration for the polar factor.

Each step applies the best rational map of type (3, 2) for the interval ``[ℓ_k, 1]`` that holds
the singular values, through a QR factorization while that map is aggressive and through a
Cholesky factorization once the matrix it inverts is well conditioned. Six steps take every
singular value above ``10⁻¹⁶ ‖G‖_F`` to 1 in float64, and the result is backward stable.
"""

from __future__ import annotations

import math
import numbers
import warnings

from matsign._backend import (
    boundary,
    EPS,
    arithmetic,
    check_matrix,
    check_nonnegative_int,
    check_positive_int,
    check_precision,
    check_unit_interval,
    device,
    library,
    linalg_dtype,
)
from matsign._backend.linalg import cholesky_upper, solve_upper_right
from matsign._backend.precision import library_dtype
from matsign.exact.newton_schulz import _identity_residual, _normalized

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
def qdwh_sign(G, *, lower=None, dtype=None):
    r"""``msign(G)`` to working accuracy by the QDWH iteration (QR and Cholesky factorizations).

    On the tall orientation (``m ≥ n``; wide inputs are transposed and transposed back), with
    ``X₀ = G/‖G‖_F`` (``‖G‖_F ≥ σ₁``, computed after dividing by ``max|G_ij|`` so that no scale
    under- or overflows) and a lower bound ``ℓ₀ ≤ σ_min(X₀)``, each step uses the dynamic
    weights of :func:`dwh_weights` (``ℓ = ℓ_k``)

    .. math:: d = \Bigl(\frac{4(1-ℓ^2)}{ℓ^4}\Bigr)^{1/3}, \quad
              a = \sqrt{1+d} + \tfrac12\sqrt{8 - 4d + \frac{8(2-ℓ^2)}{ℓ^2\sqrt{1+d}}}, \quad
              b = \tfrac{(a-1)^2}{4}, \quad c = a + b - 1,

    the iteration, and the bound it carries:

    .. math:: X_{k+1} = \tfrac{b}{c} X_k + \bigl(a - \tfrac{b}{c}\bigr) X_k (I + c X_k^T X_k)^{-1},
              \qquad ℓ_{k+1} = ℓ_k \frac{a + b ℓ_k^2}{1 + c ℓ_k^2}.

    Every singular value follows ``s ↦ s(a + bs²)/(1 + cs²)``, which maps ``[ℓ_k, 1]`` into
    ``[ℓ_{k+1}, 1]``. While ``c > 100`` the step runs in **QR form**: the thin QR factorization
    :math:`\begin{bmatrix}\sqrt c X_k \\ I\end{bmatrix} = \begin{bmatrix}Q_1 \\ Q_2\end{bmatrix} R`
    gives :math:`X_{k+1} = \tfrac bc X_k + \tfrac{1}{\sqrt c}(a - \tfrac bc) Q_1 Q_2^T`. Then in
    **Cholesky form**: :math:`I + c X_k^T X_k = R^T R` and
    :math:`X_{k+1} = \tfrac bc X_k + (a - \tfrac bc)(X_k R^{-1}) R^{-T}` (two triangular
    solves). A Cholesky breakdown runs that step in QR form instead.

    **Default ℓ₀ = eps** of the working precision: a valid bound for every singular value that
    the working precision resolves, at a fixed cost of 2 QR-form and 4 Cholesky-form steps in
    float64 (2 + 2 in float32). The guaranteed estimate ``ℓ₀ = 1/‖R⁻¹‖_F`` from a QR
    factorization ``X₀ = QR`` was measured as the alternative: it costs about one Cholesky-form
    step itself and saves one or two steps in float64 for κ ≲ 1e9 (512 × 512: 1 + 4 steps at
    κ = 10 and 1e3, 2 + 3 at 1e6, 2 + 4 at 1e12) but none in float32; NumPy timings ranged from
    12% faster to 30% slower than the default.

    **Stopping.** Tested after each Cholesky-form step (a QR-form step has ``ℓ_k < 0.05``, hence
    ``ℓ_{k+1} < 0.76``):

    - ``ℓ₀ = eps`` (the default, or ``lower ≤ eps·√n``): stop when ``|1 − ℓ_{k+1}| ≤ 5 eps``.
      Every singular value above ``eps·‖G‖_F`` has then reached 1; the others are not resolved
      by the working precision (see *Zero singular values*).
    - ``lower`` given (``ℓ₀ = lower/√n > eps``), an unverified claim: stop when also
      :math:`r_k = \lVert X_k^T X_k - I\rVert_F \le 2 (5\,\mathrm{eps})^{1/3}`. This is the
      published criterion ``‖X_{k+1} − X_k‖_F ≤ (5 eps)^{1/3}`` restated on the Gram matrix the
      step forms anyway (near convergence ``r_k ≈ 2‖X_k − UVᵀ‖_F ≈ 2‖X_{k+1} − X_k‖_F``).
      Unlike the difference of iterates, ``r_k ≥ 1 − s²`` also sees a singular value ``s``
      still far below ``ℓ_k``, which moves by only about ``2s`` per step: with one singular
      value at ``10⁻⁸ σ₁`` and ``lower = 0.5`` (float64), the published test stops after 4 steps
      with relative error 0.12; this one converges in 9. If
      ``r_k > √n (1 − ℓ_k²) + 2 (5 eps)^{1/3}``, the Gram matrix contradicts the bound ``ℓ_k``,
      and ``ℓ_{k+1}`` is replaced by the verified bound ``max(eps, (1 − r_k)^{1/2})`` (valid
      because the map sends every ``s ∈ [0, 1]`` to at least ``s``): a ``lower`` that is too
      large costs extra steps, not accuracy.

    At most :data:`MAX_ITERATIONS` steps run; reaching it (a ``lower`` given for a singular
    ``G``) raises a ``RuntimeWarning``.

    **Accuracy.** QDWH is backward stable (Nakatsukasa & Higham 2012), like the SVD route, so
    its forward error grows with κ as the SVD's does. Measured on log-spaced spectra
    (96 × 96, 160 × 64, 64 × 160), relative Frobenius error against the float64 SVD polar
    factor: 2e-15 at κ = 10, 2e-14 at 1e3, 1e-11 at 1e6, 7e-9 at 1e9, 6e-6 at 1e12 (0.003–0.1
    ``κ·eps`` beyond κ = 10); against a 40-digit reference (24 × 24 and 40 × 16, κ = 1e6 and
    1e12), QDWH's error is 1.7–3.3× the float64 SVD's. The backward error ``‖G − XH‖_F/‖G‖_F``
    (``H`` the symmetric part of ``XᵀG``) is 3–5 eps and ``‖XᵀX − I‖_F`` at most 30 eps at
    every κ. In float32 (κ = 1e3 and 1e6) the error is 1.6–2.3× that of NumPy's float32 SVD
    polar factor (0.1–1.6× that of PyTorch's, on CPU).

    **Zero singular values.** The map sends 0 to 0, so in exact arithmetic QDWH returns
    ``U_r V_rᵀ`` over the nonzero singular values. In floating point, roundoff puts components
    of size ``eps·‖G‖`` into the null directions, and the iteration is built to push every
    singular value above ``eps`` toward 1: those components end as singular values anywhere in
    ``[0, 1]``, set by the roundoff (measured: 1, 0.92 and 0 for the three null directions of a
    rank-1 6 × 4 matrix, 0.001 for a singular value at ``10⁻²⁰ σ₁``, about 1e-18 for exactly
    zero rows). QDWH therefore does **not** reproduce the truncation ``σ ≤ rtol·σ₁ ↦ 0`` of
    :func:`msign`: on numerically rank-deficient input it agrees with ``msign(G)`` on the range
    of ``G`` only. The zero matrix gives the zero matrix.

    **Cost and host round trips.** :func:`qdwh_flops` counts the flops. ``ℓ_k`` and the weights
    are host scalars. Host reads: one flag (Cholesky breakdown) per Cholesky-form step, and,
    with ``lower`` given, also ``r_k``; nothing per QR-form step.

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack (NumPy, CuPy or PyTorch). A stack shares ``ℓ_k`` and
        stops when every member passes the test.
    lower : float, optional
        A lower bound on ``σ_min(G)/σ₁(G)``, in ``(0, 1)``; ``ℓ₀ = lower/√n`` because
        ``σ₁/‖G‖_F ≥ 1/√n`` (``n`` the shorter side). Default: ``ℓ₀ = eps``.
    dtype : {"float64", "float32"}, optional
        Working precision (default ``G``'s; 16-bit inputs work in float32).

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G``.

    References
    ----------
    Y. Nakatsukasa, Z. Bai, F. Gygi, *Optimizing Halley's iteration for computing the matrix
    polar decomposition*, SIAM J. Matrix Anal. Appl. 31 (2010);
    Y. Nakatsukasa, N. J. Higham, *Backward stability of iterations for computing the polar
    decomposition*, SIAM J. Matrix Anal. Appl. 33 (2012);
    Y. Nakatsukasa, N. J. Higham, *Stable and efficient spectral divide and conquer algorithms
    for the symmetric eigenvalue decomposition and the SVD*, SIAM J. Sci. Comput. 35 (2013).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[3.0, 0.0], [4.0, 5.0]])
    >>> X = qdwh_sign(G)
    >>> np.round(np.sqrt(5) * X, 12)  # the polar factor is [[2, -1], [1, 2]] / √5
    array([[ 2., -1.],
           [ 1.,  2.]])
    """
    return _qdwh(G, lower, dtype)[0]


def dwh_weights(ell: float) -> tuple[float, float, float]:
    r"""The weights ``(a, b, c)`` of the dynamically weighted Halley step for ``[ℓ, 1]``.

    ``s ↦ s(a + bs²)/(1 + cs²)`` is the rational map of type (3, 2) that maps ``[ℓ, 1]`` into
    ``[ℓ', 1]`` with the largest ``ℓ'`` (Nakatsukasa, Bai, Gygi 2010); ``ℓ = 1`` gives Halley's
    ``(3, 1, 3)``. Computed in Python floats (double precision), to a relative accuracy of
    about 1e-14, for ``SMALLEST_ELL = 1e-76 ≤ ℓ ≤ 1``: below, ``ℓ⁴`` leaves the normal doubles
    and the formula breaks down. :func:`qdwh_sign` only needs ``ℓ ≥ eps``.

    Examples
    --------
    >>> dwh_weights(1.0)
    (3.0, 1.0, 3.0)
    """
    if isinstance(ell, bool) or not isinstance(ell, numbers.Real) or not SMALLEST_ELL <= ell <= 1:
        raise ValueError(f"ell must be a number in [{SMALLEST_ELL:g}, 1], got {ell!r}")
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


def _qdwh(G, lower, dtype):
    """:func:`qdwh_sign` and the form of each step taken (``"qr"`` or ``"cholesky"``)."""
    xp = check_matrix(G, "G")
    if lower is not None:
        lower = check_unit_interval(lower, "lower")
    precision = check_precision(linalg_dtype(G) if dtype is None else dtype)
    if precision not in PRECISIONS:
        raise ValueError(f"dtype must be one of {PRECISIONS} (QDWH needs QR and Cholesky), got {dtype!r}")
    eps = EPS[precision]
    wide = G.shape[-2] < G.shape[-1]
    Y = xp.astype(xp.matrix_transpose(G) if wide else G, library_dtype(precision, library(G)))
    n = int(Y.shape[-1])
    # X₀ = Y/‖Y‖_F, scaled by the largest entry first so that the norm neither under- nor overflows.
    X, _ = _normalized(xp, Y, "frobenius", 1.0, arithmetic(Y))
    identity = xp.eye(n, dtype=X.dtype, device=device(X))
    ell = eps if lower is None else max(eps, float(lower) / math.sqrt(n))
    # A bound above eps is the caller's claim, which the Gram matrices check (see Stopping).
    verify = ell > eps
    tol, orth_tol = 5 * eps, 2 * (5 * eps) ** (1 / 3)
    residual = math.inf
    forms = []
    for _ in range(MAX_ITERATIONS):
        a, b, c = dwh_weights(ell)
        ell_next = min(1.0, ell * (a + b * ell * ell) / (1 + c * ell * ell))
        if c > QR_FORM_ABOVE:
            # c > 100 means ℓ_k < 0.05, so ℓ_{k+1} < 0.76: no stopping test after this step.
            X = _qr_step(xp, X, a, b, c, identity)
            forms.append("qr")
            ell = ell_next
            continue
        P = xp.matrix_transpose(X) @ X
        if verify:
            residual = _identity_residual(xp, P, X)
        R = cholesky_upper(c * P + identity)
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
            stacklevel=3,
        )
    X = xp.matrix_transpose(X) if wide else X
    return xp.astype(X, G.dtype), forms


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

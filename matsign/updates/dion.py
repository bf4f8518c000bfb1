r"""Dion: amortized power iteration on the momentum with error feedback (a rank-r update)."""

from __future__ import annotations

import math

from matsign._backend import check_choice
from matsign._backend.checks import check_positive_int, check_rank, check_real
from matsign._backend.linalg import cholesky_upper, solve_upper_right
from matsign._backend.namespace import namespace
from matsign._backend.precision import eps_of, linalg_dtype
from matsign._backend.random import generator, standard_normal
from matsign.lowrank.orth import orthonormal_basis
from matsign.spectral import binary_normalized, binary_scale
from matsign.updates.base import UpdateRule, check_momentum

#: How Dion orthonormalizes the left factor ``B Q``.
ORTHONORMALIZERS = ("qr", "cholesky_qr", "randomized_cholesky_qr")

#: How Dion turns ``R = BᵀP`` into the right factor.
RIGHT_FACTORS = ("normalize", "qr")

#: The randomized Cholesky-QR sketch has a multiple of this many rows (as in the official code).
SKETCH_BLOCK = 128


class Dion(UpdateRule):
    r"""Dion: one warm-started power-iteration step per gradient, with error feedback.

    State: the momentum ``M`` (m × n, zero at first) and the right factor ``Q`` (n × r, drawn
    standard normal from ``rng`` at the first step). Per step, with momentum coefficient
    :math:`\mu` (Algorithm 1 of [1]_),

    .. math::

        B = M + G, \qquad P = \operatorname{orth}(B Q), \qquad R = B^T P, \\
        M \leftarrow B - (1 - \mu)\, P R^T, \qquad Q \leftarrow \operatorname{right}(R),
        \qquad \text{update} = s \cdot P Q^T,

    the update using the **new** ``Q``, as the official code does. ``right`` normalizes the
    columns of ``R``, or takes the ``Q`` factor of its QR decomposition (``right="qr"``).

    Parameters
    ----------
    rank : int
        ``r``, ``1 ≤ r ≤ min(m, n)`` (checked at the first step).
    momentum : float, default 0.95
        :math:`\mu`: the fraction of the captured part ``PRᵀ`` kept in ``M``.
    orth : {"qr", "cholesky_qr", "randomized_cholesky_qr"}
        How ``BQ`` is orthonormalized (see Notes).
    right : {"normalize", "qr"}
        Column normalization of ``R`` (the paper), or its QR factor with a nonnegative diagonal.
    power_iters : int, default 1
        Rounds of the power iteration per step.
    oversample : float, default 1.25
        Sketch rows per column of the randomized Cholesky-QR, before rounding up to a multiple
        of 128; at least 1.
    rng : None, int or generator
        Randomness of the initial ``Q`` and of the sketches; the generator is created at the
        first step.
    shape : {"none", "spectral", "match_rms"}
        See :class:`~matsign.updates.Muon`; the official code uses ``"spectral"``.
    diagnostics : bool, default True
        See :class:`~matsign.updates.Muon`; Dion adds ``captured_energy`` and
        ``optimal_energy`` (see Notes).

    Attributes
    ----------
    buffer : array or None
        The momentum ``M`` after error feedback.
    right_factor : array or None
        ``Q`` (n × r), the warm start of the next step.

    Notes
    -----
    Neither ``right`` gives the rank-r polar factor ``P·msign(Rᵀ)`` unless the columns of
    ``R`` are orthogonal, which they become as the power iteration converges to singular
    vectors (Orth-Dion, arXiv 2605.16341, makes the same point). With ``power_iters = k > 1``
    the first ``k − 1`` rounds of ``P = orth(BQ)``, ``Q = right(BᵀP)`` are repeated on the
    same ``B`` before the last one. With ``rank = min(m, n)``, exact orthonormalization,
    distinct singular values and enough rounds, ``P`` converges to the left singular vectors
    of ``B`` (orthogonal iteration), ``R`` to :math:`V\Sigma`, and the update to ``msign(B)``.

    ``orth`` is Householder QR; Cholesky-QR2 (:func:`matsign.lowrank.orthonormalize`); or
    randomized Cholesky-QR (:func:`randomized_cholesky_qr`) [2]_. When ``BQ`` has no more rows
    than columns (``m ≤ r``) all three use Householder QR, as the official code does.

    **Target** of the diagnostics: ``B``. ``captured_energy`` is
    :math:`\|P^T B\|_F^2 / \|B\|_F^2` (from the last round) and ``optimal_energy``
    :math:`\sum_{i \le r} \sigma_i(B)^2 / \sum_i \sigma_i(B)^2`, the largest value any
    rank-r ``P`` can capture (an SVD of ``B``).

    Deliberate departures from the official code (microsoft/dion ``dion_reference.py``,
    ``dion_simple.py``): no transposition of tall matrices (``P`` is always m × r and ``Q``
    n × r); the column normalization divides by the norm itself instead of ``norm + 1e-8``
    (an absolute ε breaks scale invariance), and a column of ``R`` that is exactly zero gives
    a zero column of the update and leaves that column of ``Q`` unchanged, so a zero gradient
    neither produces a step nor kills the warm start; the factorizations run in the
    gradient's dtype (float32 for 16-bit), not always float32.

    References
    ----------
    .. [1] K. Ahn, B. Xu, N. Abreu, J. Langford, *Dion: distributed orthonormalized updates*,
       arXiv 2504.05295.
    .. [2] O. Balabanov, *Randomized Cholesky QR factorizations*, arXiv 2210.09953.

    Examples
    --------
    >>> import numpy as np
    >>> rule = Dion(2, momentum=0.0, power_iters=30, rng=0)
    >>> out = rule.step(np.diag([3.0, 1.0, 0.5]))
    >>> np.round(out.update, 6) + 0.0
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 0., 0.]])
    >>> round(out.diagnostics["captured_energy"], 6), round(out.diagnostics["optimal_energy"], 6)
    (0.97561, 0.97561)
    """

    name = "dion"

    def __init__(
        self,
        rank: int,
        momentum: float = 0.95,
        *,
        orth: str = "qr",
        right: str = "normalize",
        power_iters: int = 1,
        oversample: float = 1.25,
        rng=None,
        shape: str = "none",
        diagnostics: bool = True,
    ):
        super().__init__(shape=shape, diagnostics=diagnostics)
        self.rank = check_positive_int(rank, "rank")
        self.momentum = check_momentum(momentum)
        check_choice(orth, ORTHONORMALIZERS, "orth")
        check_choice(right, RIGHT_FACTORS, "right")
        self.orth, self.right = orth, right
        self.power_iters = check_positive_int(power_iters, "power_iters")
        self.oversample = check_real(oversample, "oversample", low=1)
        self.rng = rng
        self.buffer = None
        self.right_factor = None
        self._generator = None

    def _start(self, xp, G):
        check_rank(self.rank, G.shape)
        self._generator = generator(self.rng, G)
        # Alg. 1 (Ahn et al.), initialization: M₀ = 0 and a standard normal Q₀ (n × r).
        self.buffer = xp.zeros_like(G)
        self.right_factor = standard_normal(self._generator, (int(G.shape[1]), self.rank), like=G)

    def _advance(self, xp, G):
        # The factorizations run in G's LAPACK dtype (float32 for 16-bit gradients).
        work = linalg_dtype(G)
        # Alg. 1: B_t = M_{t−1} + G_t.
        B = xp.astype(self.buffer + G, work, copy=False)
        Q = xp.astype(self.right_factor, work, copy=False)
        # Alg. 1, power iteration from the warm start: P = orth(B Q), R = Bᵀ P, then the next
        # Q = ColumnNormalize(R). Rounds before the last one refine P on the same B.
        for _ in range(self.power_iters):
            P = self._orthonormalize(xp, B @ Q)
            R = xp.matrix_transpose(B) @ P
            direction_factor, Q = self._right(xp, R, Q)
        # Alg. 1, error feedback: M_t = B_t − (1 − μ) P Rᵀ.
        self.buffer = xp.astype(B - (1.0 - self.momentum) * (P @ xp.matrix_transpose(R)), G.dtype, copy=False)
        self.right_factor = xp.astype(Q, G.dtype, copy=False)
        # Alg. 1, the update P Q_tᵀ with the new Q_t (the official code's order).
        direction = xp.astype(P @ xp.matrix_transpose(direction_factor), G.dtype, copy=False)
        extra = self._energies(xp, B, R) if self.diagnostics else {}
        return direction, xp.astype(B, G.dtype, copy=False), extra

    def _energies(self, xp, B, R):
        """``captured_energy`` ‖PᵀB‖²_F/‖B‖²_F (= ‖R‖²_F/‖B‖²_F) and ``optimal_energy``."""
        # Ratios of squares, formed on B, R and σ(B) divided by one power of two near max|B|:
        # no square over- or underflows at any scale of B, and no digit changes.
        scale = binary_scale(xp, xp.max(xp.abs(B)))
        B, R = B / scale, R / scale
        total = float(xp.sum(B * B))
        sigma2 = (xp.linalg.svdvals(B * scale) / scale) ** 2
        return {
            "captured_energy": float(xp.sum(R * R)) / total if total > 0 else math.nan,
            "optimal_energy": float(xp.sum(sigma2[: self.rank])) / total if total > 0 else math.nan,
        }

    def _orthonormalize(self, xp, Y):
        """``P = orth(Y)``, Algorithm 1's Orthogonalize, by ``self.orth`` (see the Notes)."""
        if self.orth == "qr" or int(Y.shape[0]) <= int(Y.shape[1]):
            return xp.linalg.qr(Y)[0]
        # orth(Y) = orth(Y/c): the Cholesky variants form YᵀY, which must not over- or underflow.
        Y = binary_normalized(xp, Y)
        if self.orth == "cholesky_qr":
            return orthonormal_basis(Y, "cholesky_qr")
        return randomized_cholesky_qr(Y, self.oversample, self._generator)

    def _right(self, xp, R, Q_old):
        """``(factor, warm_start)``: the right factor of the update, and the next ``Q``, which
        keeps the old column wherever the new one is degenerate (a zero column of ``R``)."""
        if self.right == "normalize":
            # Each column divided by a power of two near its largest entry before squaring: the
            # norm cannot over- or underflow and R/‖R‖ keeps every digit.
            R = R / binary_scale(xp, xp.max(xp.abs(R), axis=0, keepdims=True))
            norms = xp.sqrt(xp.sum(R * R, axis=0, keepdims=True))
            kept = norms > 0
            factor = R / xp.where(kept, norms, xp.ones_like(norms))
        else:
            Qr, T = xp.linalg.qr(R)
            d = xp.linalg.diagonal(T)[None, :]
            kept = d != 0
            factor = Qr * xp.where(d < 0, -xp.ones_like(d), xp.astype(kept, d.dtype))
        return factor, xp.where(kept, factor, Q_old)


def randomized_cholesky_qr(Y, oversample, g):
    r"""Orthonormal basis ``Y R⁻¹`` of a tall block ``Y`` (p × k, p > k) by randomized Cholesky-QR.

    ``S`` Gaussian with ``ℓ = min(⌈oversample·k/128⌉·128, p)`` rows and entries
    :math:`N(0, 1/\ell)`; ``R₁`` from the QR of ``SY`` (an ``ℓ × k`` problem, so ``Y R₁⁻¹``
    is well conditioned with high probability); then one Cholesky-QR pass ``Y R₂⁻¹`` with
    ``(Y R₁⁻¹)ᵀ(Y R₁⁻¹) = R₂ᵀR₂``.

    Parameters
    ----------
    Y : array, shape (p, k)
        Float32 or float64, ``p > k``.
    oversample : float
        Sketch rows per column, before rounding up to a multiple of 128.
    g : library generator
        Source of the sketch.

    Returns
    -------
    array, shape (p, k)

    Notes
    -----
    Falls back to Householder QR of ``Y`` when ``R₁`` is numerically singular or the
    Cholesky pass breaks down (``Y`` rank deficient); each check reads one scalar to the host.
    The sketch is capped at the ``p`` rows of ``Y``, so small blocks get a sketch no larger
    than themselves.

    References
    ----------
    .. [1] Y. Fan, Y. Guo, T. Lin, *A novel randomized XR-based preconditioned CholeskyQR
       algorithm*, arXiv 2111.11148.
    .. [2] O. Balabanov, *Randomized Cholesky QR factorizations*, arXiv 2210.09953.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.random.default_rng(0).standard_normal((300, 4))
    >>> Q = randomized_cholesky_qr(Y, 1.25, np.random.default_rng(1))
    >>> bool(np.allclose(Q.T @ Q, np.eye(4))), bool(np.allclose(Q @ (Q.T @ Y), Y))
    (True, True)
    """
    xp = namespace(Y)
    p, k = int(Y.shape[0]), int(Y.shape[1])
    rows = min(math.ceil(oversample * k / SKETCH_BLOCK) * SKETCH_BLOCK, p)
    S = standard_normal(g, (rows, p), like=Y) / math.sqrt(rows)
    R1 = xp.linalg.qr(S @ Y)[1]
    d = xp.abs(xp.linalg.diagonal(R1))
    if not bool(xp.min(d) > k * eps_of(Y) * xp.max(d)):
        return xp.linalg.qr(Y)[0]
    Y = solve_upper_right(Y, R1)
    R2 = cholesky_upper(xp.matrix_transpose(Y) @ Y)
    if R2 is None:
        return xp.linalg.qr(Y)[0]
    return solve_upper_right(Y, R2)


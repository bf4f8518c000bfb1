r"""Working precisions on arrays: their epsilon, rounding to 16-bit and TF32 grids, and the
:class:`Arithmetic` that multiplies in a precision, natively or by emulation.

A *working precision* is one of ``"float64"``, ``"float32"``, ``"bfloat16"``, ``"float16"`` and
``"tfloat32"`` (alias ``"tf32"``); names, epsilons and storage dtypes are in
:mod:`matsign._backend.dtypes`. Where a library lacks a format, it is emulated:

=============  ==========================================  =====================================
precision      native                                      emulated
=============  ==========================================  =====================================
float64, 32    everywhere                                  —
bfloat16       PyTorch                                     NumPy, CuPy (no bfloat16 dtype)
float16        PyTorch, CuPy                               NumPy (its product bypasses BLAS)
tfloat32       PyTorch on CUDA, compute capability ≥ 8.0   NumPy, PyTorch CPU, older GPUs, CuPy
=============  ==========================================  =====================================

**Emulated 16-bit formats** store values in float32 and round them (to nearest, ties to even)
to the format's grid on entry, after every matrix product (which accumulates in float32, as
tensor cores do) and after every linear combination a routine stores (``a·X + B·X`` is rounded
once). float16 overflow is modelled: values beyond 65504 become ±inf, as on hardware.

**TF32** (1 sign, 8 exponent and 10 mantissa bits: the top 19 bits of float32) is a format of
matrix *products* only. Values are stored, entered and combined in float32; each product reads
its operands at 10-bit precision and accumulates in float32. Emulated, both operands are rounded
to the TF32 grid; native, TF32 is switched on for the duration of each product
(:func:`tf32_products`).

Notes
-----
Not modelled by the emulation:

- PyTorch forms ``b·A + c·A²`` and ``a·X + B·X`` in the epilogue of one GEMM
  (:func:`matsign._backend.linalg.matmul_add`), rounding once where the emulation rounds the
  product and then the sum;
- the accumulation order and split accumulators of a particular GPU;
- float16's subnormal flushing;
- tensor cores that truncate, rather than round, the low mantissa bits of TF32 operands.

CuPy's only public TF32 switch is the ``CUPY_TF32`` environment variable, read at import, so
CuPy emulates TF32.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np

from matsign._backend.dtypes import EPS, check_precision, dtype_name, library_dtype
from matsign._backend.linalg import matmul_add, matmul_add_into, matmul_into
from matsign._backend.namespace import STRICT, from_numpy, library, namespace, to_numpy

#: Explicit mantissa bits of the formats that are leading bits of float32, rounded on its bit pattern.
MANTISSA_BITS = {"bfloat16": 7, "tfloat32": 10}


def is_emulated(name: str, x) -> bool:
    """Whether precision ``name`` is emulated by rounding for array ``x`` (module docstring).

    Depends on ``x``'s library and, for TF32, on its device.
    """
    lib = library(x)
    if name in ("float64", "float32"):
        return False
    if name == "tfloat32":
        return not _has_tf32_tensor_cores(x)
    return lib != "torch" and (name == "bfloat16" or lib in ("numpy", STRICT))


def _has_tf32_tensor_cores(x) -> bool:
    """Whether ``x`` is a PyTorch tensor on an NVIDIA GPU whose tensor cores compute in TF32."""
    if library(x) != "torch" or not x.is_cuda:
        return False
    import torch

    return torch.version.hip is None and torch.cuda.get_device_capability(x.device) >= (8, 0)


@contextmanager
def tf32_products():
    """Let PyTorch run float32 CUDA matrix products on TF32 tensor cores inside the block only.

    Sets ``torch.backends.cuda.matmul.fp32_precision = "tf32"`` (``allow_tf32 = True`` before
    PyTorch 2.9) and restores the previous value on exit, also when the block raises. The switch
    is process-wide while the block runs.
    """
    import torch

    matmul = torch.backends.cuda.matmul
    if hasattr(torch.backends, "fp32_precision"):
        switch, on = "fp32_precision", "tf32"
    else:
        switch, on = "allow_tf32", True
    previous = getattr(matmul, switch)
    setattr(matmul, switch, on)
    try:
        yield
    finally:
        setattr(matmul, switch, previous)


def round_to(x, name: str):
    """Round the float32 array ``x`` to the grid of format ``name``, kept in float32.

    Parameters
    ----------
    x : array of float32
    name : {"float16", "bfloat16", "tfloat32"}

    Returns
    -------
    array of float32
        Rounded to nearest, ties to even; ±inf and NaN pass through, and values beyond the
        format's largest become ±inf.

    Examples
    --------
    >>> x = np.array([1 + 2.0**-11, 1 + 3 * 2.0**-11, -(1 + 2.0**-12)], dtype=np.float32)
    >>> round_to(x, "tfloat32") - np.array([1, 1, -1], dtype=np.float32)  # ties to even
    array([0.       , 0.0019531, 0.       ], dtype=float32)
    """
    if library(x) == STRICT:  # no bit views in the standard: round a host copy (tests only)
        return from_numpy(round_to(to_numpy(x), name), like=x)
    if name == "float16":
        # Overflow to ±inf is the behaviour being modelled, not an accident to warn about.
        with np.errstate(over="ignore"):
            return x.astype(np.float16).astype(np.float32)
    # The format keeps the top 9 + MANTISSA_BITS bits of float32: add half an ulp minus one
    # (plus the tie-breaking last kept bit) to the bit pattern and clear the dropped bits. The
    # carry rounds up through the exponent, to inf past the largest value.
    dropped = 23 - MANTISSA_BITS[name]
    bits = _int32_view(x)
    kept_lsb = (bits >> dropped) & 1
    rounded = ((bits + ((1 << (dropped - 1)) - 1 + kept_lsb)) & -(1 << dropped)).view(x.dtype)
    xp = namespace(x)
    return xp.where(xp.isnan(x), x, rounded)


def _int32_view(x):
    """The bit patterns of the float32 array ``x`` as int32 (two's complement wraps like uint32)."""
    if library(x) == "torch":
        import torch

        return x.view(torch.int32)
    return x.view(np.int32)


def linalg_dtype(x):
    """Dtype in which LAPACK-style routines (SVD, eigh, QR) run for ``x``: 16-bit floats use float32.

    Examples
    --------
    >>> linalg_dtype(np.ones(2, dtype=np.float16)), linalg_dtype(np.ones(2))
    (dtype('float32'), dtype('float64'))
    """
    name = dtype_name(x.dtype)
    if name in ("bfloat16", "float16"):
        return library_dtype("float32", library(x))
    return x.dtype


def as_linalg_dtype(x):
    """``x`` in its :func:`linalg_dtype`: a float32 copy of 16-bit input, else ``x`` itself.

    Examples
    --------
    >>> x = np.ones(2)
    >>> as_linalg_dtype(x) is x, as_linalg_dtype(x.astype(np.float16)).dtype
    (True, dtype('float32'))
    """
    dt = linalg_dtype(x)
    return x if x.dtype == dt else namespace(x).astype(x, dt)


def unit_peak_copy(x, dtype):
    r"""``x`` divided, member by member, by its largest absolute entry, as a copy in ``dtype``.

    :math:`x / \max_{ij}|x_{ij}|` for each matrix of a stack ``(..., m, n)`` (an all-zero member
    stays zero). For a narrowing cast of a matrix whose scale does not matter (a range, a
    sign): float64 values beyond float32's largest (3.4e38) would become ±inf, and values below
    its smallest normal (1.2e-38) would lose their digits or flush to zero; after the division
    the entries lie in [−1, 1] (to rounding), the largest in magnitude at ±1.

    On NumPy the peak takes two reading passes (max and min, no temporary) and the scaling, by
    the reciprocal (by the peak itself where that is subnormal and its reciprocal overflows),
    is fused with the cast (``out=`` in ``dtype``); elsewhere the array API's ``max(abs(x))``
    and a division.

    Examples
    --------
    >>> x = np.array([[3e300, -6e300], [0.0, 1.5e300]])
    >>> unit_peak_copy(x, np.float32)
    array([[ 0.5 , -1.  ],
           [ 0.  ,  0.25]], dtype=float32)
    """
    if library(x) == "numpy":
        peak = np.maximum(x.max(axis=(-2, -1), keepdims=True), -x.min(axis=(-2, -1), keepdims=True))
        peak = np.where(peak > 0, peak, 1.0)
        with np.errstate(over="ignore"):
            inverse = 1.0 / peak  # a multiply streams faster than a divide, unless 1/peak overflows
        if np.all(np.isfinite(inverse)):
            return np.multiply(x, inverse, out=np.empty(x.shape, dtype), casting="same_kind")
        return np.divide(x, peak, out=np.empty(x.shape, dtype), casting="same_kind")
    xp = namespace(x)
    peak = xp.max(xp.abs(x), axis=(-2, -1), keepdims=True)
    return xp.astype(x / xp.where(peak > 0, peak, xp.ones_like(peak)), dtype)


def eps_of(x) -> float:
    """Machine epsilon of ``x``'s dtype (:data:`matsign._backend.dtypes.EPS`)."""
    return EPS[dtype_name(x.dtype)]


def default_rtol(m: int, n: int, dtype) -> float:
    r"""Threshold :math:`\max(\max(m, n)\,\varepsilon_w,\ \varepsilon_s)` below which singular
    values of an ``m × n`` matrix stored in ``dtype`` count as zero, relative to σ₁.

    :math:`\varepsilon_w` is the epsilon of the dtype the SVD runs in (float64 for float64,
    float32 otherwise), :math:`\varepsilon_s` that of ``dtype`` itself.

    Parameters
    ----------
    m, n : int
        The matrix's shape.
    dtype : str or dtype
        The storage dtype, a working precision.

    Notes
    -----
    ``max(m, n)·ε_w`` is LAPACK's usual numerical-rank threshold, the backward error of the SVD.
    Rounding to the storage dtype (``|E_ij| ≤ u|G_ij|``, ``u = ε_s/2``) typically has
    :math:`\|E\|_2 \approx 2u\|G\|_F/\sqrt{n} \le \varepsilon_s \sigma_1`, which is where the
    zero singular values of a 16-bit matrix come back. That term does not grow with the size:
    ``max(m, n)·ε_s`` would reach 1 for bfloat16 at ``max(m, n) = 128`` and count every singular
    value as zero.

    Examples
    --------
    >>> default_rtol(256, 512, "float32") == 512 * 2.0**-23
    True
    >>> default_rtol(256, 512, "bfloat16") == 2.0**-7  # not 512 · 2⁻⁷ = 4
    True
    """
    storage = check_precision(dtype)
    work = "float64" if storage == "float64" else "float32"
    return max(max(int(m), int(n)) * EPS[work], EPS[storage])


@dataclass(frozen=True)
class Arithmetic:
    """Matrix arithmetic in one working precision for one library, native or emulated.

    Obtain it from :func:`arithmetic`. A routine converts its input with :meth:`enter`, forms
    products with :meth:`matmul` and :meth:`matmul_add`, and passes every other combination it
    stores through :meth:`round`; it then rounds where the module docstring says, whether the
    precision is native or emulated.

    Parameters
    ----------
    name : str
        The working precision (canonical name).
    lib : {"numpy", "torch", "cupy"}
    emulated : bool
        Whether the precision is emulated by rounding (:func:`is_emulated`).

    Examples
    --------
    >>> ar = arithmetic(np.eye(2), "bfloat16")
    >>> X = ar.enter(np.full((2, 2), 1 + 2.0**-9))  # 1 + 2⁻⁹ is below bfloat16's spacing 2⁻⁷
    >>> X.dtype, float(X[0, 0]), float(ar.matmul(X, X)[0, 0])
    (dtype('float32'), 1.0, 2.0)
    """

    name: str
    lib: str
    emulated: bool

    @property
    def storage(self):
        """The dtype that holds values: the precision's own, or float32 when emulated or TF32."""
        return library_dtype(self.name, self.lib)

    def enter(self, x):
        """``x`` converted to :attr:`storage` and rounded to the working grid."""
        xp = namespace(x)
        return self.round(xp.astype(x, self.storage, copy=False))

    def round(self, x):
        """A stored intermediate rounded to the working grid.

        The identity unless a 16-bit format is emulated (TF32 values are stored in float32).
        """
        return round_to(x, self.name) if self.emulated and self.name != "tfloat32" else x

    def operand(self, x):
        """``x`` as a product operand: on the TF32 grid when TF32 is emulated, else ``x`` itself."""
        return round_to(x, "tfloat32") if self.emulated and self.name == "tfloat32" else x

    def matmul(self, a, b):
        """``a @ b`` in the working precision, rounded to the working grid.

        For TF32: the operands on the TF32 grid (tensor cores, or :meth:`operand` when
        emulated), accumulated and returned in float32.
        """
        if self.name == "tfloat32" and not self.emulated:
            with tf32_products():
                return a @ b
        return self.round(self.operand(a) @ self.operand(b))

    def matmul_add(self, beta: float, C, alpha: float, a, b):
        """``β·C + α·(a @ b)`` in the working precision.

        Native precisions run :func:`matsign._backend.linalg.matmul_add` (one fused GEMM on
        PyTorch); emulated ones round the product as :meth:`matmul` does, then the sum.
        """
        if not self.emulated:
            with tf32_products() if self.name == "tfloat32" else nullcontext():
                return matmul_add(beta, C, alpha, a, b)
        product = self.matmul(a, b)
        return self.round(beta * C + (product if alpha == 1 else alpha * product))

    def matmul_into(self, a, b, out):
        """:meth:`matmul` written into the existing buffer ``out`` (C-contiguous, sharing no
        memory with ``a`` or ``b``); returns ``out``. Native precisions allocate nothing
        (:func:`matsign._backend.linalg.matmul_into`)."""
        if not self.emulated:
            with tf32_products() if self.name == "tfloat32" else nullcontext():
                return matmul_into(a, b, out)
        out[...] = self.matmul(a, b)
        return out

    def matmul_add_into(self, beta: float, C, alpha: float, a, b, out):
        """:meth:`matmul_add` written into the existing buffer ``out`` (C-contiguous, sharing no
        memory with ``C``, ``a`` or ``b``), bit for bit; ``C`` may be spent as workspace.
        Returns ``out``. Native precisions allocate nothing
        (:func:`matsign._backend.linalg.matmul_add_into`)."""
        if not self.emulated:
            with tf32_products() if self.name == "tfloat32" else nullcontext():
                return matmul_add_into(beta, C, alpha, a, b, out)
        out[...] = self.matmul_add(beta, C, alpha, a, b)
        return out


def arithmetic(x, dtype=None) -> Arithmetic:
    """The :class:`Arithmetic` for array ``x`` in precision ``dtype`` (default: ``x``'s own).

    Examples
    --------
    >>> ar = arithmetic(np.eye(2), "tf32")
    >>> ar.name, ar.emulated, ar.storage
    ('tfloat32', True, dtype('float32'))
    """
    name = check_precision(x.dtype if dtype is None else dtype, "dtype")
    return Arithmetic(name, library(x), is_emulated(name, x))

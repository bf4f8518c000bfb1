"""Floating-point formats: names, machine epsilon, and the arithmetic of a working precision.

A *working precision* is one of ``"float64"``, ``"float32"``, ``"bfloat16"``, ``"float16"`` or
``"tfloat32"`` (alias ``"tf32"``). PyTorch holds the first four natively, so its arithmetic is the
library's own. NumPy has no bfloat16 and its float16 matrix product bypasses BLAS, and CuPy has no
bfloat16; there the 16-bit formats are **emulated**: values are stored in float32 and rounded
(round to nearest, ties to even) to the 16-bit grid

- on entry (the operands of the first product),
- after every matrix product (its result; the product itself accumulates in float32, as tensor
  cores accumulate in float32), and
- after every linear combination that a routine stores (``a·X + B·X`` is rounded once).

What is not modelled: that PyTorch forms ``b·A + c·A²`` and ``a·X + B·X`` in the epilogue of one
GEMM (:func:`matsign._backend.linalg.matmul_add`), rounding once where the emulation rounds the
product and then the sum, the accumulation order and split-accumulator behaviour of a particular
GPU, and float16's subnormal flushing. Overflow is modelled: float16
values beyond 65504 become ±inf, as on hardware.

**TF32** (TensorFloat-32: 1 sign, 8 exponent and 10 mantissa bits, the top 19 bits of float32)
is a format of matrix *products* only: values are stored in float32, and each product reads its
operands at 10-bit precision and accumulates in float32, as NVIDIA tensor cores do from Ampere
(compute capability 8.0) on. Entry, stored combinations and product results are float32, so
``"tfloat32"`` differs from ``"float32"`` only inside products. On PyTorch CUDA tensors of such
a GPU the products are native: TF32 is switched on (``torch.backends.cuda.matmul.fp32_precision
= "tf32"``, ``allow_tf32`` before PyTorch 2.9) for the duration of each product only and the
previous setting restored (the switch is process-wide while the product runs). Everywhere else
— NumPy, PyTorch on CPU or older GPUs, and CuPy, whose only public TF32 switch is the
``CUPY_TF32`` environment variable read at import — TF32 is emulated: both operands are rounded
to the TF32 grid (round to nearest, ties to even) and multiplied in float32. Not modelled: that
tensor cores may truncate rather than round the operands' low mantissa bits, and the
accumulation order and split accumulators of a particular GPU.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np

from matsign._backend.linalg import matmul_add
from matsign._backend.namespace import library, namespace

PRECISIONS = ("float64", "float32", "bfloat16", "float16", "tfloat32")

#: The working precisions that are also array dtypes (TF32 exists only inside products).
ARRAY_DTYPES = PRECISIONS[:4]

#: Unit roundoff ×2 (spacing of floats just above 1) of each working precision (for tfloat32:
#: of the product operands; stored values have float32's).
EPS = {"float64": 2.0**-52, "float32": 2.0**-23, "bfloat16": 2.0**-7, "float16": 2.0**-10, "tfloat32": 2.0**-10}

#: Explicit mantissa bits of the formats that are leading bits of float32, rounded on its bit pattern.
MANTISSA_BITS = {"bfloat16": 7, "tfloat32": 10}


def dtype_name(dtype) -> str:
    """Canonical name (``"float32"``, ``"bfloat16"``, …) of a dtype object or name.

    Accepts NumPy/CuPy dtypes, PyTorch dtypes and strings; returns the name even for formats
    matsign does not compute in (e.g. ``"int64"``, ``"complex128"``) so callers can report them.

    Examples
    --------
    >>> dtype_name("tf32"), dtype_name(np.float16)
    ('tfloat32', 'float16')
    """
    if isinstance(dtype, str):
        name = dtype
    else:
        name = str(dtype)
        if name.startswith("torch."):
            name = name[len("torch.") :]
        else:
            try:
                name = np.dtype(dtype).name
            except TypeError:
                pass
    aliases = {"half": "float16", "float": "float32", "double": "float64", "bf16": "bfloat16", "tf32": "tfloat32"}
    return aliases.get(name, name)


def check_precision(dtype, argument: str = "dtype") -> str:
    """Validate a working precision given by name or dtype object; return its canonical name."""
    name = dtype_name(dtype)
    if name not in PRECISIONS:
        raise ValueError(f"{argument} must be one of {PRECISIONS}, got {dtype!r}")
    return name


def library_dtype(name: str, lib: str):
    """The dtype object that stores precision ``name`` in library ``lib`` (float32 if emulated).

    TF32 values are stored in float32 in every library.
    """
    if name == "tfloat32":
        name = "float32"
    if lib == "torch":
        import torch

        return getattr(torch, name)
    if name == "bfloat16" or (lib == "numpy" and name == "float16"):
        return np.float32
    return np.dtype(name)


def is_emulated(name: str, x) -> bool:
    """Whether precision ``name`` is emulated by rounding for array ``x`` (see module doc).

    Depends on ``x``'s library and, for TF32, on its device: TF32 is native only on PyTorch
    tensors on a CUDA GPU of compute capability 8.0 or higher.
    """
    lib = library(x)
    if name in ("float64", "float32"):
        return False
    if name == "tfloat32":
        return not _has_tf32_tensor_cores(x)
    return lib != "torch" and (name == "bfloat16" or lib == "numpy")


def _has_tf32_tensor_cores(x) -> bool:
    """Whether ``x`` is a PyTorch tensor on an NVIDIA GPU whose tensor cores compute in TF32."""
    if library(x) != "torch" or not x.is_cuda:
        return False
    import torch

    return torch.version.hip is None and torch.cuda.get_device_capability(x.device) >= (8, 0)


@contextmanager
def tf32_products():
    """Let PyTorch run float32 CUDA matrix products on TF32 tensor cores inside the block only.

    Sets the cuBLAS matmul precision (``torch.backends.cuda.matmul.fp32_precision = "tf32"``;
    ``allow_tf32 = True`` before PyTorch 2.9) and restores the previous value on exit, also
    when the block raises.
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
    """Round the float32 array ``x`` to the grid of format ``name`` (kept in float32).

    ``name`` is ``"float16"``, ``"bfloat16"`` or ``"tfloat32"``; rounding is to nearest, ties to
    even; ±inf and NaN pass through, and values beyond the format's largest become ±inf.

    Examples
    --------
    >>> x = np.array([1 + 2.0**-11, 1 + 3 * 2.0**-11, -(1 + 2.0**-12)], dtype=np.float32)
    >>> round_to(x, "tfloat32") - np.array([1, 1, -1], dtype=np.float32)  # ties to even
    array([0.       , 0.0019531, 0.       ], dtype=float32)
    """
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
    """Dtype in which LAPACK-style routines (SVD, eigh, QR) run for ``x``: 16-bit floats use float32."""
    name = dtype_name(x.dtype)
    if name in ("bfloat16", "float16"):
        return library_dtype("float32", library(x))
    return x.dtype


def eps_of(x) -> float:
    """Machine epsilon of ``x``'s dtype."""
    return EPS[dtype_name(x.dtype)]


def default_rtol(m: int, n: int, dtype) -> float:
    r"""Relative threshold below which singular values of an ``m × n`` matrix stored in ``dtype``
    count as zero: :math:`\max(\max(m, n)\,\varepsilon_w,\ \varepsilon_s)`.

    :math:`\varepsilon_w` is the epsilon of the dtype its SVD runs in (float64 for float64,
    float32 otherwise) — ``max(m, n)·ε_w`` is LAPACK's usual numerical-rank threshold, the
    backward error of the SVD. :math:`\varepsilon_s` is the storage dtype's own: rounding to it
    (``|E_ij| ≤ u|G_ij|``, ``u = ε_s/2``) typically has :math:`\|E\|_2 \approx 2u\|G\|_F/\sqrt{n}
    \le \varepsilon_s \sigma_1`, which is where the zero singular values of a 16-bit matrix come
    back. The storage term does not grow with the size: ``max(m, n)·ε_s`` would reach 1 for
    bfloat16 at ``max(m, n) = 128`` and count every singular value as zero.

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
    """Matrix arithmetic in one working precision for one library (see the module docstring).

    Parameters
    ----------
    name : str
        The working precision.
    lib : str
        ``"numpy"``, ``"torch"`` or ``"cupy"``.
    emulated : bool
        Whether the precision is emulated by rounding (see :func:`is_emulated`).
    """

    name: str
    lib: str
    emulated: bool

    @property
    def storage(self):
        return library_dtype(self.name, self.lib)

    def enter(self, x):
        """``x`` converted to the working precision (rounded to its grid when emulated)."""
        xp = namespace(x)
        return self.round(xp.astype(x, self.storage, copy=False))

    def round(self, x):
        """Round a stored intermediate to the working grid (identity unless a 16-bit format is
        emulated: TF32 values are stored in float32)."""
        return round_to(x, self.name) if self.emulated and self.name != "tfloat32" else x

    def operand(self, x):
        """``x`` as a matrix-product operand: on the TF32 grid when TF32 is emulated, else ``x``."""
        return round_to(x, "tfloat32") if self.emulated and self.name == "tfloat32" else x

    def matmul(self, a, b):
        """``a @ b`` in the working precision, the result rounded to the working grid.

        TF32: products of the operands on the TF32 grid, accumulated and returned in float32
        (native TF32 tensor cores, or :meth:`operand` rounding when emulated).
        """
        if self.name == "tfloat32" and not self.emulated:
            with tf32_products():
                return a @ b
        return self.round(self.operand(a) @ self.operand(b))

    def matmul_add(self, beta: float, C, alpha: float, a, b):
        """``β·C + α·(a @ b)`` in the working precision (see :func:`matsign._backend.linalg.matmul_add`).

        Native precisions run it as one fused product where the library has one (PyTorch);
        emulated ones round the product as :meth:`matmul` does and the sum once more.
        """
        if not self.emulated:
            with tf32_products() if self.name == "tfloat32" else nullcontext():
                return matmul_add(beta, C, alpha, a, b)
        product = self.matmul(a, b)
        return self.round(beta * C + (product if alpha == 1 else alpha * product))


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

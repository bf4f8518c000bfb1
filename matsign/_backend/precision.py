"""Floating-point formats: names, machine epsilon, and the arithmetic of a working precision.

A *working precision* is one of ``"float64"``, ``"float32"``, ``"bfloat16"``, ``"float16"``.
PyTorch holds all four natively, so its arithmetic is the library's own. NumPy has no bfloat16
and its float16 matrix product bypasses BLAS, and CuPy has no bfloat16; there the 16-bit formats
are **emulated**: values are stored in float32 and rounded (round to nearest, ties to even) to
the 16-bit grid

- on entry (the operands of the first product),
- after every matrix product (its result; the product itself accumulates in float32, as tensor
  cores accumulate in float32), and
- after every linear combination that a routine stores (``a·X + B·X`` is rounded once).

What is not modelled: the rounding of each term inside one linear combination (PyTorch rounds
``b·A`` and ``c·A²`` separately before adding), the accumulation order and split-accumulator
behaviour of a particular GPU, and float16's subnormal flushing. Overflow is modelled: float16
values beyond 65504 become ±inf, as on hardware.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matsign._backend.namespace import library, namespace

PRECISIONS = ("float64", "float32", "bfloat16", "float16")

#: Unit roundoff ×2 (spacing of floats just above 1) of each working precision.
EPS = {"float64": 2.0**-52, "float32": 2.0**-23, "bfloat16": 2.0**-7, "float16": 2.0**-10}


def dtype_name(dtype) -> str:
    """Canonical name (``"float32"``, ``"bfloat16"``, …) of a dtype object or name.

    Accepts NumPy/CuPy dtypes, PyTorch dtypes and strings; returns the name even for formats
    matsign does not compute in (e.g. ``"int64"``, ``"complex128"``) so callers can report them.
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
    aliases = {"half": "float16", "float": "float32", "double": "float64", "bf16": "bfloat16"}
    return aliases.get(name, name)


def check_precision(dtype, argument: str = "dtype") -> str:
    """Validate a working precision given by name or dtype object; return its canonical name."""
    name = dtype_name(dtype)
    if name not in PRECISIONS:
        raise ValueError(f"{argument} must be one of {PRECISIONS}, got {dtype!r}")
    return name


def library_dtype(name: str, lib: str):
    """The dtype object that stores precision ``name`` in library ``lib`` (float32 if emulated)."""
    if lib == "torch":
        import torch

        return getattr(torch, name)
    if name == "bfloat16" or (lib == "numpy" and name == "float16"):
        return np.float32
    return np.dtype(name)


def is_emulated(name: str, lib: str) -> bool:
    """Whether precision ``name`` is emulated by rounding in library ``lib`` (see module doc)."""
    if lib == "torch" or name in ("float64", "float32"):
        return False
    return name == "bfloat16" or lib == "numpy"


def round_to(x, name: str):
    """Round the float32 array ``x`` to the grid of the 16-bit format ``name`` (kept in float32)."""
    lib = library(x)
    if name == "float16":
        # Overflow to ±inf is the behaviour being modelled, not an accident to warn about.
        with np.errstate(over="ignore"):
            return x.astype(np.float16).astype(np.float32)
    # bfloat16 is the top 16 bits of float32: add half an ulp (plus the tie-breaking lsb) to
    # the bit pattern and clear the low 16 bits.
    xp = namespace(x)
    bits = x.view(xp.uint32) if lib == "cupy" else x.view(np.uint32)
    lsb = (bits >> 16) & 1
    rounded = (bits + (0x7FFF + lsb)) & 0xFFFF0000
    return rounded.astype(xp.uint32).view(x.dtype)


def linalg_dtype(x):
    """Dtype in which LAPACK-style routines (SVD, eigh, QR) run for ``x``: 16-bit floats use float32."""
    name = dtype_name(x.dtype)
    if name in ("bfloat16", "float16"):
        return library_dtype("float32", library(x))
    return x.dtype


def eps_of(x) -> float:
    """Machine epsilon of ``x``'s dtype."""
    return EPS[dtype_name(x.dtype)]


@dataclass(frozen=True)
class Arithmetic:
    """Matrix arithmetic in one working precision for one library (see the module docstring).

    Parameters
    ----------
    name : str
        The working precision.
    lib : str
        ``"numpy"``, ``"torch"`` or ``"cupy"``.
    """

    name: str
    lib: str

    @property
    def emulated(self) -> bool:
        return is_emulated(self.name, self.lib)

    @property
    def storage(self):
        return library_dtype(self.name, self.lib)

    def enter(self, x):
        """``x`` converted to the working precision (rounded to its grid when emulated)."""
        xp = namespace(x)
        return self.round(xp.astype(x, self.storage, copy=False))

    def round(self, x):
        """Round a stored intermediate to the working grid (identity unless emulated)."""
        return round_to(x, self.name) if self.emulated else x

    def matmul(self, a, b):
        """``a @ b`` with the result rounded to the working grid."""
        return self.round(a @ b)


def arithmetic(x, dtype=None) -> Arithmetic:
    """The :class:`Arithmetic` for array ``x`` in precision ``dtype`` (default: ``x``'s own)."""
    name = check_precision(x.dtype if dtype is None else dtype, "dtype")
    return Arithmetic(name, library(x))

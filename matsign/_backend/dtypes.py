"""Floating-point formats by name: the working precisions, their epsilon, and the dtype object
that stores each in NumPy, PyTorch or CuPy.

The bottom of ``_backend``: it handles names and dtype objects, never arrays, and imports no
other module of the package, so every module may import it.
"""

from __future__ import annotations

import numpy as np

PRECISIONS = ("float64", "float32", "bfloat16", "float16", "tfloat32")

#: The working precisions that are also array dtypes (TF32 exists only inside products).
ARRAY_DTYPES = PRECISIONS[:4]

#: Machine epsilon (the spacing of floats just above 1, twice the unit roundoff) of each working
#: precision; for tfloat32 that of the product operands, stored values having float32's.
EPS = {"float64": 2.0**-52, "float32": 2.0**-23, "bfloat16": 2.0**-7, "float16": 2.0**-10, "tfloat32": 2.0**-10}

_ALIASES = {"half": "float16", "float": "float32", "double": "float64", "bf16": "bfloat16", "tf32": "tfloat32"}


def dtype_name(dtype) -> str:
    """Canonical name (``"float32"``, ``"bfloat16"``, …) of a dtype object or name.

    Parameters
    ----------
    dtype : str, NumPy/CuPy dtype or PyTorch dtype
        Aliases ``"half"``, ``"float"``, ``"double"``, ``"bf16"`` and ``"tf32"`` are accepted.

    Returns
    -------
    str
        The name, also for formats matsign does not compute in (``"int64"``, ``"complex128"``),
        so that callers can report them.

    Examples
    --------
    >>> dtype_name("tf32"), dtype_name(np.float16)
    ('tfloat32', 'float16')
    """
    if isinstance(dtype, str):
        name = dtype
    else:
        name = str(dtype)
        if name.startswith(("torch.", "array_api_strict.")):
            name = name.split(".", 1)[1]
        else:
            try:
                name = np.dtype(dtype).name
            except TypeError:
                pass
    return _ALIASES.get(name, name)


def check_precision(dtype, argument: str = "dtype") -> str:
    """Canonical name of the working precision ``dtype``, else a ``ValueError`` naming ``argument``.

    Examples
    --------
    >>> check_precision("bf16")
    'bfloat16'
    """
    name = dtype_name(dtype)
    if name not in PRECISIONS:
        raise ValueError(f"{argument} must be one of {PRECISIONS}, got {dtype!r}")
    return name


def library_dtype(name: str, lib: str):
    """The dtype object that stores precision ``name`` in library ``lib``.

    Emulated formats are stored in float32: bfloat16 outside PyTorch, float16 in NumPy and
    array-api-strict, and TF32 everywhere (see :mod:`matsign._backend.precision`).

    Examples
    --------
    >>> library_dtype("bfloat16", "numpy"), library_dtype("float16", "cupy")
    (<class 'numpy.float32'>, dtype('float16'))
    """
    if name == "tfloat32":
        name = "float32"
    if lib == "torch":
        import torch

        return getattr(torch, name)
    if lib == "array_api_strict":  # float32 and float64 only: both 16-bit formats are emulated
        import array_api_strict

        return getattr(array_api_strict, "float32" if name in ("bfloat16", "float16") else name)
    if name == "bfloat16" or (lib == "numpy" and name == "float16"):
        return np.float32
    return np.dtype(name)

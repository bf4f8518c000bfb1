"""Which array library an array belongs to, and moving small data between libraries.

Everything numerical in matsign is written against the array API standard through the
namespace returned by :func:`namespace`; the few places that must know the library (random
numbers, bit-level rounding, host transfers of tiny results) ask :func:`library` here.
"""

from __future__ import annotations

import array_api_compat
import numpy as np

from matsign._backend.dtypes import dtype_name, library_dtype

LIBRARIES = ("numpy", "torch", "cupy")

#: The array API's reference namespace: a test backend that accepts the standard only, the
#: closest stand-in for CuPy on a machine without a GPU (it is not a ``--backend`` choice).
STRICT = "array_api_strict"


def library(x) -> str:
    """Name of the library that owns array ``x``: ``"numpy"``, ``"torch"`` or ``"cupy"``.

    Raises
    ------
    TypeError
        If ``x`` is not an array of a supported library.
    """
    if array_api_compat.is_torch_array(x):
        return "torch"
    if array_api_compat.is_cupy_array(x):
        return "cupy"
    if array_api_compat.is_numpy_array(x):
        return "numpy"
    if type(x).__module__.split(".")[0] == STRICT:
        return STRICT
    raise TypeError(
        f"expected a NumPy, CuPy or PyTorch array, got {type(x).__module__}.{type(x).__name__}"
    )


def namespace(*arrays):
    """Array-API namespace shared by ``arrays`` (NumPy, CuPy or PyTorch, via array-api-compat)."""
    for x in arrays:
        library(x)
    return array_api_compat.array_namespace(*arrays)


def device(x):
    """Device of array ``x`` (``"cpu"`` for NumPy), as array-api-compat reports it."""
    return array_api_compat.device(x)


def placeholder(library_name: str, device_name=None):
    """An empty array of ``library_name`` on ``device_name``, to pass as ``like=``.

    Creating it is also the check that the library and the device are usable.

    Parameters
    ----------
    library_name : {"numpy", "torch", "cupy"}
    device_name : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, …; ``None`` is the library's default device.

    Examples
    --------
    >>> placeholder("numpy").shape
    (0,)
    """
    if library_name == "numpy":
        if device_name not in (None, "cpu"):
            raise ValueError(f"NumPy arrays live on the CPU only, got device {device_name!r}")
        return np.empty(0)
    if library_name == "torch":
        import torch

        return torch.empty(0, device=device_name or "cpu")
    if library_name == STRICT:
        import array_api_strict

        return array_api_strict.empty(0)
    if library_name != "cupy":
        raise ValueError(f"library must be one of {LIBRARIES}, got {library_name!r}")
    import cupy

    index = int(str(device_name).rsplit(":", 1)[-1]) if device_name else None
    with cupy.cuda.Device(index):
        return cupy.empty(0)


def to_numpy(x) -> np.ndarray:
    """Array ``x`` as a host NumPy array, for reading only.

    Inside numerical routines only for tiny results (scalars, O(r²) blocks); freely in tests.

    Notes
    -----
    GPU arrays are copied to the host; NumPy input is returned as is and a PyTorch CPU tensor
    shares its memory (no copy). PyTorch's float16 and bfloat16 come back as float32 (NumPy has
    no bfloat16); NumPy float16 stays float16.
    """
    lib = library(x)
    if lib == "torch":
        import torch

        t = x.detach()
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()
        return t.cpu().numpy()
    if lib == "cupy":
        return x.get()
    if lib == STRICT:
        return np.from_dlpack(x)
    return np.asarray(x)


def from_numpy(a, *, like, dtype=None):
    """Array holding the values of NumPy array ``a`` in the library and on the device of ``like``.

    Parameters
    ----------
    a : array_like
    like : array or {"numpy", "torch", "cupy"}
        An array of the target library and device, or a library name (its default device).
    dtype : str, optional
        A working precision such as ``"float32"`` (default: ``a``'s dtype); emulated formats
        are stored as :func:`matsign._backend.dtypes.library_dtype` says.

    Examples
    --------
    >>> from_numpy([1.0, 2.0], like="numpy", dtype="bfloat16").dtype
    dtype('float32')
    """
    a = np.asarray(a)
    if isinstance(like, str):
        if like not in LIBRARIES:
            raise ValueError(f"like must be an array or one of {LIBRARIES}, got {like!r}")
        lib, dev = like, None
    else:
        lib, dev = library(like), device(like)
    name = dtype if dtype is not None else str(a.dtype)
    if lib == "numpy":
        return a.astype(library_dtype(name, "numpy"), copy=True)
    if lib == "torch":
        import torch

        storage = a.astype(np.float32) if name == "bfloat16" else a
        return torch.as_tensor(np.ascontiguousarray(storage), device=dev).to(
            library_dtype(name, "torch")
        )
    if lib == STRICT:
        import array_api_strict

        return array_api_strict.asarray(a.astype(dtype_name(library_dtype(name, STRICT))))
    import cupy

    with cupy.cuda.Device(dev.id if dev is not None else None):
        return cupy.asarray(a.astype(library_dtype(name, "cupy")))

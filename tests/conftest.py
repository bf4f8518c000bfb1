"""One fixture runs every backend test on NumPy, PyTorch (CPU, and CUDA when present), CuPy and
array-api-strict (the array API standard alone: the closest check of the CuPy path without a GPU).

Set ``MATSIGN_TEST_BACKENDS`` (comma-separated, e.g. ``cupy,torch-cuda``) to restrict the list.
Backends whose library is missing, or which find no GPU, are skipped with the reason.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from matsign._backend import device, dtype_name, from_numpy, library, to_numpy

ALL_BACKENDS = ("numpy", "torch", "torch-cuda", "cupy", "array_api_strict")


def _unavailable(name: str) -> str | None:
    """Why backend ``name`` cannot run here, or None if it can."""
    if name == "numpy":
        return None
    if name == "array_api_strict":
        try:
            import array_api_strict  # noqa: F401
        except ImportError:
            return "array-api-strict is not installed"
        return None
    if name.startswith("torch"):
        try:
            import torch
        except ImportError:
            return "PyTorch is not installed"
        if name == "torch-cuda" and not torch.cuda.is_available():
            return "PyTorch finds no CUDA device"
        return None
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy finds no GPU"
    except Exception as exc:  # CuPy raises several kinds of error when no driver is present
        return f"CuPy unavailable: {type(exc).__name__}"
    return None


class Backend:
    """Converts NumPy test data to one library/device and back."""

    def __init__(self, name: str):
        self.name = name
        self.lib = name.split("-")[0]
        if name == "torch":
            import torch

            self.like = torch.empty(0)
        elif name == "torch-cuda":
            import torch

            self.like = torch.empty(0, device="cuda")
        elif name == "cupy":
            import cupy

            self.like = cupy.empty(0)
        elif name == "array_api_strict":
            import array_api_strict

            self.like = array_api_strict.empty(0)
        else:
            self.like = np.empty(0)

    def stores(self, dtype: str) -> bool:
        """Whether this library has a dtype ``dtype`` of its own (else it is emulated in float32
        storage: bfloat16 outside PyTorch, float16 on array-api-strict)."""
        if dtype == "bfloat16":
            return self.lib == "torch"
        return dtype != "float16" or self.lib != "array_api_strict"

    def asarray(self, a, dtype=None):
        """NumPy data ``a`` as an array of this backend (dtype name optional)."""
        return from_numpy(np.asarray(a), like=self.like, dtype=dtype)

    @staticmethod
    def to_numpy(x):
        return to_numpy(x)

    def assert_close(self, actual, expected, *, rtol, atol=0.0, dtype=None):
        """Assert that ``actual`` is an array of this backend, of ``dtype``, close to ``expected``.

        Parameters
        ----------
        actual : array
            Must be of this backend's library and on its device.
        expected : array_like
            NumPy data, usually a float64 oracle; ``actual`` is compared in float64.
        rtol, atol : float
            As in ``numpy.testing.assert_allclose``.
        dtype : str, optional
            The dtype name ``actual`` must have (default: ``expected``'s).
        """
        assert library(actual) == self.lib, f"result is a {library(actual)} array, expected {self.lib}"
        assert device(actual) == device(self.like), f"result on {device(actual)}, input on {device(self.like)}"
        expected = np.asarray(expected)
        want = dtype if dtype is not None else dtype_name(expected.dtype)
        assert dtype_name(actual.dtype) == want, f"result has dtype {dtype_name(actual.dtype)}, expected {want}"
        np.testing.assert_allclose(np.asarray(to_numpy(actual), dtype=np.float64), expected, rtol=rtol, atol=atol)

    def __repr__(self):
        return self.name


def _selected():
    chosen = os.environ.get("MATSIGN_TEST_BACKENDS")
    return tuple(chosen.split(",")) if chosen else ALL_BACKENDS


@pytest.fixture(params=_selected())
def backend(request):
    reason = _unavailable(request.param)
    if reason:
        pytest.skip(reason)
    return Backend(request.param)


@pytest.fixture
def np_rng():
    return np.random.default_rng(20261122)

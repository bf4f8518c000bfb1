"""Random numbers on every backend, with SPEC 7 style ``rng=`` arguments.

``rng`` may be ``None`` (fresh entropy), an ``int`` seed (non-negative; below ``2**64`` for
PyTorch arrays, the range of ``torch.Generator.manual_seed``), or a generator of the array's own
library: ``numpy.random.Generator``, ``torch.Generator`` (on the array's device) or
``cupy.random.Generator``. The same seed on the same backend gives the same numbers; different
backends use different bit generators, so their numbers differ.
"""

from __future__ import annotations

import numbers

import numpy as np

from matsign._backend.dtypes import dtype_name
from matsign._backend.namespace import STRICT, device, from_numpy, library


def generator(rng, like):
    """The generator of ``like``'s library and device to draw from.

    Parameters
    ----------
    rng : None, int or generator
        Fresh entropy, a seed, or a generator of ``like``'s library (module docstring).
    like : array
        An array of the target library and device.

    Raises
    ------
    ValueError
        For a negative seed, a seed of 2**64 or more for PyTorch, or a torch.Generator on
        another device.
    TypeError
        For anything else, booleans included.

    Examples
    --------
    >>> import numpy as np
    >>> float(generator(0, np.empty(0)).random()) == float(np.random.default_rng(0).random())
    True
    """
    lib = library(like)
    # A bool is not a seed: it goes to the generator check, which rejects it.
    if rng is not None and (isinstance(rng, bool) or not isinstance(rng, numbers.Integral)):
        return _check_generator(rng, lib, like)
    seed = None if rng is None else int(rng)
    if seed is not None and seed < 0:
        raise ValueError(f"rng seed must be a non-negative integer, got {seed}")
    if lib in ("numpy", STRICT):  # array-api-strict has no random numbers: NumPy draws them
        return np.random.default_rng(seed)
    if lib == "torch":
        import torch

        if seed is not None and seed >= 2**64:
            raise ValueError(f"rng seed must be below 2**64 for torch arrays, got {seed}")

        g = torch.Generator(device=like.device)
        if seed is None:
            g.seed()
        else:
            g.manual_seed(seed)
        return g
    import cupy

    with cupy.cuda.Device(device(like).id):
        return cupy.random.default_rng(seed)


def _check_generator(rng, lib, like):
    """``rng`` if it is a generator of library ``lib`` (on ``like``'s device), else an error."""
    kind = f"{type(rng).__module__}.{type(rng).__name__}"
    if lib in ("numpy", STRICT) and isinstance(rng, np.random.Generator):
        return rng
    if lib == "torch":
        import torch

        if isinstance(rng, torch.Generator):
            if rng.device.type != like.device.type:
                raise ValueError(
                    f"rng is a torch.Generator on {rng.device}, but the array is on {like.device}"
                )
            return rng
    if lib == "cupy":
        import cupy

        if isinstance(rng, cupy.random.Generator):
            return rng
    raise TypeError(
        f"rng must be None, an int seed, or a {lib} generator for {lib} arrays; got {kind}"
    )


def standard_normal(rng, shape, *, like, dtype=None):
    """Array of i.i.d. N(0, 1) samples, in ``like``'s library, device and dtype (or ``dtype``)."""
    return _draw(rng, shape, like, dtype, normal=True)


def uniform(rng, shape, *, like, dtype=None):
    """Array of i.i.d. U[0, 1) samples, in ``like``'s library, device and dtype (or ``dtype``)."""
    return _draw(rng, shape, like, dtype, normal=False)


def _draw(rng, shape, like, dtype, normal):
    """Samples of N(0, 1) (``normal``) or U[0, 1), drawn in float32 at least, cast to ``dtype``."""
    lib = library(like)
    g = generator(rng, like)
    shape = tuple(int(s) for s in shape)
    target = like.dtype if dtype is None else dtype
    if lib == "torch":
        import torch

        # Draw in float32 at least: torch has no bfloat16 sampler on every device.
        sample_dtype = target if target in (torch.float32, torch.float64) else torch.float32
        draw = torch.randn if normal else torch.rand
        return draw(shape, generator=g, dtype=sample_dtype, device=like.device).to(target)
    sample_dtype = np.float64 if dtype_name(target) == "float64" else np.float32
    out = g.standard_normal(shape, dtype=sample_dtype) if normal else g.random(shape, dtype=sample_dtype)
    if lib == STRICT:
        return from_numpy(out, like=like, dtype=dtype_name(target))
    return out.astype(target, copy=False)


r"""The polar factor from a library's own routine: ``torch.linalg.polar``, where PyTorch has it.

PyTorch's development documentation describes ``torch.linalg.polar(A)`` returning ``(U, H)``
with ``A = UH`` for ``m ≥ n``, computed on CUDA by cuSOLVER's QDWH (``cusolverDnXpolar``,
with nvmath-python and a cuSOLVER runtime ≥ 12.2) and otherwise by an SVD. It first ships in
PyTorch 2.14 (:data:`FIRST_RELEASE`). Releases without it (PyTorch 2.13 among them) get
:data:`VENDOR_POLAR` ``False``: :func:`vendor_polar` raises, and the method ``vendor_polar`` is
not registered, so sweeps over the registry skip it. An older release is recognized from its
package metadata, without importing PyTorch.
"""

from __future__ import annotations

from matsign._backend import boundary, check_matrix, device, from_numpy, library, namespace, to_numpy
from matsign._backend.precision import as_linalg_dtype
from matsign.flops import svd_sign
from matsign.prediction import no_prediction
from matsign.registry import register

__all__ = ["FIRST_RELEASE", "VENDOR_POLAR", "vendor_polar"]


#: The first PyTorch release with ``torch.linalg.polar`` (2.13 has none, 2.14.1 has it).
FIRST_RELEASE = (2, 14)


def _torch_polar():
    """``torch.linalg.polar``, or None where PyTorch is missing or lacks it."""
    try:
        import torch
    except ImportError:
        return None
    return getattr(torch.linalg, "polar", None)


def _release_may_have_polar() -> bool:
    """False where the installed PyTorch is missing or older than :data:`FIRST_RELEASE`, read
    from its package metadata: importing PyTorch takes 0.7 s, most of ``import matsign``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("torch")
    except PackageNotFoundError:
        return False
    numbers = [int(part) for part in release.split("+")[0].split(".")[:2] if part.isdigit()]
    return len(numbers) < 2 or tuple(numbers) >= FIRST_RELEASE


#: Whether the installed PyTorch provides ``torch.linalg.polar``.
VENDOR_POLAR = _release_may_have_polar() and _torch_polar() is not None


@boundary
def vendor_polar(G, *, return_path: bool = False):
    r"""``msign(G) = U`` of the polar decomposition ``G = UH``, by ``torch.linalg.polar``.

    Parameters
    ----------
    G : tensor, shape (..., m, n)
        A real floating PyTorch tensor (any device); a wide ``G`` is factored as ``Gᵀ``, since
        the routine is defined for ``m ≥ n``.
    return_path : bool
        Also return which routine ran: ``"torch.linalg.polar (<device>)"``.

    Returns
    -------
    tensor, shape (..., m, n), or (tensor, str)
        The orthogonal factor, in ``G``'s dtype and on its device.

    Raises
    ------
    RuntimeError
        Where the installed PyTorch has no ``torch.linalg.polar`` (check :data:`VENDOR_POLAR`).
    TypeError
        For an input that is not a PyTorch tensor.

    Notes
    -----
    Which algorithm PyTorch runs inside (cuSOLVER's QDWH or an SVD) is its own choice, by the
    rule in the module docstring; the path names the routine and the device only.
    """
    xp = check_matrix(G, "G")
    polar = _torch_polar()
    if polar is None:
        import torch

        raise RuntimeError(
            f"vendor_polar needs torch.linalg.polar, which PyTorch {torch.__version__} does not "
            "provide; use msign (SVD) or qdwh_sign for an exact polar factor"
        )
    if library(G) != "torch":
        raise TypeError(f"vendor_polar takes a PyTorch tensor, got a {library(G)} array")
    wide = G.shape[-2] < G.shape[-1]
    U, _ = polar(xp.matrix_transpose(G) if wide else G)
    X = xp.matrix_transpose(U) if wide else U
    return (X, f"torch.linalg.polar ({device(G)})") if return_path else X


def _method(G, *, rng=None):
    """The registered method: ``G`` of any library through PyTorch, in float32 for 16-bit input
    (PyTorch's polar takes float32 and float64), the result in ``G``'s library, device and dtype.
    A NumPy, array-API or CuPy ``G`` goes through a host copy."""
    xp, work = namespace(G), as_linalg_dtype(G)
    if library(G) == "torch":
        return xp.astype(vendor_polar(work), G.dtype)
    X = vendor_polar(from_numpy(to_numpy(work), like="torch"))
    return xp.astype(from_numpy(to_numpy(X), like=work), G.dtype)


def _method_predict(spectrum):
    """None: how the vendor routine treats small and zero singular values is not documented."""
    return no_prediction("torch.linalg.polar does not document its treatment of small or zero σ")


if VENDOR_POLAR:
    register(
        "vendor_polar", _method,
        description="msign(G) by torch.linalg.polar (cuSOLVER QDWH on CUDA, else an SVD)",
        flops=svd_sign, label="torch.linalg.polar", predict=_method_predict,
    )

"""Arguments that are not arrays, or arrays of two different libraries, are named in the error."""

import numpy as np
import pytest

from matsign._backend.checks import check_matrix, check_same_library
from matsign.exact.sign import msign
from matsign.lowrank.sign import lowrank_msign
from matsign.metrics import alignment, relative_error
from matsign.transforms.projection import Projector, gum_estimate, gum_lift, residual_ratio
from matsign.transforms.slices import slices_msign


def _other_library(backend, a):
    """NumPy data ``a`` in a library other than the backend's: NumPy, or PyTorch for NumPy."""
    if backend.lib != "numpy":
        return np.asarray(a)
    torch = pytest.importorskip("torch")
    return torch.as_tensor(np.asarray(a))


def _library_name(backend):
    return "torch" if backend.lib == "numpy" else "numpy"


def test_a_list_is_rejected_naming_the_argument():
    listed = [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(TypeError, match="^Q must be a NumPy, CuPy or PyTorch array, got builtins.list$"):
        check_matrix(listed, "Q")
    with pytest.raises(TypeError, match="^G must be a NumPy, CuPy or PyTorch array"):
        msign(listed)
    with pytest.raises(TypeError, match="^Q must be a NumPy, CuPy or PyTorch array"):
        lowrank_msign(np.eye(2), listed)
    with pytest.raises(TypeError, match="^Y must be a NumPy, CuPy or PyTorch array"):
        relative_error(np.eye(2), listed)
    with pytest.raises(TypeError, match="^indices must be a NumPy, CuPy or PyTorch array"):
        slices_msign(np.eye(2), 0, [0])


def test_check_same_library_names_every_argument(backend):
    A = backend.asarray(np.eye(2))
    assert check_same_library(("A", A), ("B", backend.asarray(np.ones((2, 2))))) is not None
    other = _library_name(backend)
    with pytest.raises(TypeError, match=rf"^A \({backend.lib}\) and B \({other}\) must be arrays of the same library"):
        check_same_library(("A", A), ("B", _other_library(backend, np.eye(2))))


def test_lowrank_msign_names_g_and_q(backend):
    G = backend.asarray(np.eye(4, 6))
    Q = _other_library(backend, np.eye(4, 2))
    with pytest.raises(TypeError, match=rf"G \({backend.lib}\) and Q \({_library_name(backend)}\)"):
        lowrank_msign(G, Q)


def test_metrics_name_both_matrices(backend):
    X = backend.asarray(np.eye(3))
    Y = _other_library(backend, np.eye(3))
    with pytest.raises(TypeError, match=rf"X \({backend.lib}\) and Y \({_library_name(backend)}\)"):
        relative_error(X, Y)
    with pytest.raises(TypeError, match=rf"X \({backend.lib}\) and G \({_library_name(backend)}\)"):
        alignment(X, Y)


def test_projector_operations_name_the_matrix_and_p(backend):
    projector = Projector(backend.asarray(np.array([[1.0], [0.0]])), "left")
    G = _other_library(backend, np.array([[1.0, 2.0], [3.0, 4.0]]))
    other = _library_name(backend)
    for call in (projector.down, projector.residual, lambda A: gum_estimate(A, projector, 0.5, rng=0),
                 lambda A: residual_ratio(A, projector)):
        with pytest.raises(TypeError, match=rf"G \({other}\) and P \({backend.lib}\)"):
            call(G)
    with pytest.raises(TypeError, match=rf"X \({other}\) and P \({backend.lib}\)"):
        projector.up(_other_library(backend, np.ones((1, 2))))
    with pytest.raises(TypeError, match=rf"estimate \({other}\) and P \({backend.lib}\)"):
        gum_lift(G, "full_rank", projector)


def test_scatter_sign_names_m_and_indices(backend):
    M = backend.asarray(np.eye(3))
    indices = _other_library(backend, np.array([0, 2]))
    with pytest.raises(TypeError, match=rf"M \({backend.lib}\) and indices \({_library_name(backend)}\)"):
        slices_msign(M, 0, indices)

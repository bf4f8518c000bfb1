"""``vendor_polar`` (``torch.linalg.polar``) against the float64 SVD polar factor, where it
exists."""

import numpy as np
import pytest

from matsign.exact import VENDOR_POLAR, vendor_polar
from matsign.registry import METHODS

torch = pytest.importorskip("torch")
ABSENT = f"torch.linalg.polar is absent from PyTorch {torch.__version__}"


@pytest.mark.skipif(not VENDOR_POLAR, reason=ABSENT)
@pytest.mark.parametrize("shape", [(40, 24), (24, 40), (32, 32)])
def test_vendor_polar_matches_the_svd_polar_factor(shape):
    G = np.random.default_rng(0).standard_normal(shape)
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    X, path = vendor_polar(torch.from_numpy(G), return_path=True)
    assert path.startswith("torch.linalg.polar")
    # A backward-stable polar factor of a float64 Gaussian matrix (κ ≲ 1e2 at these sizes)
    # errs by ≲ κ·n·eps ≈ 1e-12.
    np.testing.assert_allclose(X.numpy(), U @ Vt, rtol=0, atol=1e-11)
    assert "vendor_polar" in METHODS


@pytest.mark.skipif(VENDOR_POLAR, reason="torch.linalg.polar is present")
def test_without_torch_polar_the_method_is_absent_and_the_function_says_why():
    assert "vendor_polar" not in METHODS
    with pytest.raises(RuntimeError, match="torch.linalg.polar"):
        vendor_polar(torch.eye(3, dtype=torch.float64))

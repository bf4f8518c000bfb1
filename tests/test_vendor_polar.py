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


@pytest.mark.skipif(not VENDOR_POLAR, reason=ABSENT)
def test_the_registered_method_takes_any_library_and_16_bit_input():
    G = np.random.default_rng(1).standard_normal((24, 40))
    method = METHODS["vendor_polar"]
    X = method(G)
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    assert isinstance(X, np.ndarray) and X.dtype == np.float64
    np.testing.assert_allclose(X, U @ Vt, rtol=0, atol=1e-11)  # float64 throughout, as above
    G16 = torch.from_numpy(G).to(torch.bfloat16)
    X16 = method(G16)
    assert X16.dtype == torch.bfloat16
    U, _, Vt = np.linalg.svd(G16.double().numpy(), full_matrices=False)
    # The float32 polar factor of the stored bfloat16 G (≈ 1e-6), rounded to bfloat16: entries
    # below 1 in magnitude move by at most 2⁻⁹ ≈ 2e-3.
    np.testing.assert_allclose(X16.double().numpy(), U @ Vt, rtol=0, atol=2.5e-3)


@pytest.mark.skipif(VENDOR_POLAR, reason="torch.linalg.polar is present")
def test_without_torch_polar_the_method_is_absent_and_the_function_says_why():
    assert "vendor_polar" not in METHODS
    with pytest.raises(RuntimeError, match="torch.linalg.polar"):
        vendor_polar(torch.eye(3, dtype=torch.float64))


def test_the_flag_is_what_the_installed_pytorch_has():
    assert VENDOR_POLAR == (getattr(torch.linalg, "polar", None) is not None)


def test_importing_matsign_does_not_import_an_older_pytorch():
    # The release is read from the package metadata; only a PyTorch that may have the routine
    # (≥ FIRST_RELEASE) is imported to look.
    import subprocess
    import sys

    from matsign.exact.vendor import FIRST_RELEASE

    script = "import sys, matsign; print('torch' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    release = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    assert imported.strip() == str(release >= FIRST_RELEASE)

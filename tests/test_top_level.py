"""The narrowed top level: its names, and the old names that still work for one release."""

import warnings

import numpy as np
import pytest

import matsign
from matsign.lowrank import lowrank_sign, sketched_msign
from matsign.transforms import dion2_msign, scatter_sign, select_slices, slice_sign, slices_msign


def test_the_top_level_names_are_the_entry_points_and_resolve():
    assert len(matsign.__all__) == 24
    for name in matsign.__all__:
        assert getattr(matsign, name) is not None


@pytest.mark.parametrize("name", sorted(matsign.MOVED))
def test_a_moved_name_warns_and_is_the_object_of_its_new_module(name):
    with pytest.warns(DeprecationWarning, match=rf"matsign\.{name} moved to {matsign.MOVED[name]}\.{name}"):
        old = getattr(matsign, name)
    module = __import__(matsign.MOVED[name], fromlist=[name])
    assert old is getattr(module, name)


@pytest.mark.parametrize("name", sorted(matsign.RENAMED))
def test_a_renamed_top_level_name_warns_once_and_gives_the_new_function(name):
    module, new = matsign.RENAMED[name]
    with pytest.warns(DeprecationWarning, match=rf"matsign\.{name} was renamed {module}\.{new}") as caught:
        function = getattr(matsign, name)
    assert len(caught) == 1
    assert function is getattr(__import__(module, fromlist=[new]), new)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        matsign.nonsense  # noqa: B018


def test_renamed_functions_warn_and_compute_the_same():
    G = np.random.default_rng(0).standard_normal((6, 9))
    with pytest.warns(DeprecationWarning, match="lowrank_sign was renamed sketched_msign"):
        old = lowrank_sign(G, 3, power_iters=1, rng=0)
    np.testing.assert_array_equal(old, sketched_msign(G, 3, power_iters=1, rng=0))
    with pytest.warns(DeprecationWarning, match="slice_sign was renamed dion2_msign"):
        old = slice_sign(G, 0.5)
    np.testing.assert_array_equal(old, dion2_msign(G, 0.5))
    axis, indices = select_slices(G, 0.5)
    with pytest.warns(DeprecationWarning, match="scatter_sign was renamed slices_msign"):
        old = scatter_sign(G, axis, indices)
    np.testing.assert_array_equal(old, slices_msign(G, axis, indices))


def test_the_new_names_do_not_warn():
    G = np.random.default_rng(1).standard_normal((5, 7))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        matsign.sketched_msign(G, 2, rng=0)
        dion2_msign(G, 0.4)

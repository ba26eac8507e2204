"""Failures that used to be silent or cryptic (issue 18, items 4 to 6)."""

import numpy as np
import pytest
import xarray as xr

from conftest import TINY_TFNO
from opkit import TFNORegressor


def tiny(**kwargs):
    return TFNORegressor(**{**TINY_TFNO, "device": "cpu", "random_state": 0, **kwargs})


def test_zero_target_sample_is_named_at_validation(darcy):
    train, _ = darcy
    u = train.u.copy()
    u[3] = 0.0
    with pytest.raises(ValueError, match=r"y is zero everywhere in sample\(s\) \[3\]"):
        tiny().fit(train.a, u)


def test_zero_target_hints_at_a_2d_numpy_field_read_as_rows():
    field = np.zeros((16, 16), np.float32)
    field[4:8, 4:8] = 1.0
    with pytest.raises(ValueError, match=r"read as 16 samples of 1-D rows.*array\[None\]"):
        tiny().fit(field, field)


def test_predict_on_zero_samples_gives_an_empty_result_with_the_right_dims(darcy):
    train, test = darcy
    est = tiny(max_epochs=1).fit(train.a, train.u)
    empty = est.predict(test.a.isel(sample=slice(0, 0)))
    assert empty.dims == ("sample", "x", "y") and empty.sizes == {"sample": 0, "x": 16, "y": 16}
    ds = est.fit(train[["a"]], train[["u"]]).predict(test[["a"]].isel(sample=slice(0, 0)))
    assert ds["u"].shape == (0, 16, 16)


def test_samples_are_paired_by_coordinate(darcy):
    train, test = darcy
    train = train.assign_coords(sample=np.arange(64) * 10)
    reference = tiny().fit(train.a, train.u).predict(test.a)
    shuffled = train.u.isel(sample=np.random.default_rng(0).permutation(64))
    np.testing.assert_array_equal(tiny().fit(train.a, shuffled).predict(test.a).values, reference.values)
    est = tiny()
    other = train.u.assign_coords(sample=np.arange(64) * 10 + 5)
    with pytest.raises(ValueError, match=r"different 'sample' coordinates: only in X \[0, 10, 20, 30, 40\], only in y \[5, "):
        est.fit(train.a, other)
    assert est.fit(train.a, train.u).score(train.a, shuffled) == pytest.approx(est.score(train.a, train.u))

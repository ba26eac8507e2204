"""Symmetries declared by the data (opkit_symmetries) and the batch augmentation they drive."""

import itertools
import warnings

import numpy as np
import pytest
import torch
import xarray as xr

from opkit import TFNORegressor, load
from opkit._validation import extract_fields
from opkit.data import load_darcy_small
from opkit.symmetry import random_symmetric_copies, resolve_symmetries
from solvers import darcy

SMALL = dict(n_modes=4, hidden_channels=4, n_layers=1, max_epochs=2, batch_size=8, random_state=0)


def fields(n=16, size=(8, 8), attrs=None, x_range=None):
    rng = np.random.default_rng(0)
    x_attrs = {} if x_range is None else {"actual_range": x_range}
    coords = {"x": ("x", np.linspace(0, 1, size[0]), x_attrs), "y": np.linspace(0, 1, size[1])}
    common = {"bc_x": "dirichlet", "bc_y": "dirichlet", **(attrs or {})}
    a = xr.DataArray(rng.random((n, *size)), dims=("sample", "x", "y"), coords=coords, attrs=common)
    return a, (a**2).assign_attrs(common)


def specs(X, y):
    return extract_fields(X, "X")[1], extract_fields(y, "y")[1]


def test_auto_takes_what_both_fields_declare():
    train = load_darcy_small("test")
    assert resolve_symmetries("auto", *specs(train.a, train.u))[0] == ("swap_x_y",)
    X, y = fields(attrs={"opkit_symmetries": "flip_x swap_x_y"})
    names, operations = resolve_symmetries("auto", *specs(X, y.assign_attrs(opkit_symmetries="swap_x_y flip_y")))
    assert names == ("swap_x_y",) and operations == (("swap", 2, 3),)
    assert resolve_symmetries(None, *specs(X, y))[0] == ()
    assert resolve_symmetries(["flip_y"], *specs(X, y)) == (("flip_y",), (("flip", 3),))


@pytest.mark.parametrize(
    "setting,size,match",
    [
        ("flip_q", (8, 8), "unknown symmetry 'flip_q' for grid dims"),
        ("swap_x_y", (8, 6), "needs equal sizes"),
        (3, (8, 8), "symmetries must be"),
    ],
)
def test_bad_symmetries_are_named(setting, size, match):
    X, y = fields(size=size)
    with pytest.raises(ValueError, match=match):
        TFNORegressor(symmetries=setting, **SMALL).fit(X, y)


def test_flip_of_a_grid_that_lost_its_end_point_is_refused():
    # Every other point of a nodal grid of 8: 0 ... 6/7, no longer mirror images about 1/2.
    X, y = fields(size=(8, 8), x_range=[0.0, 1.0], attrs={"opkit_symmetries": "flip_x swap_x_y"})
    X, y = X.isel(x=slice(0, None, 2), y=slice(0, None, 2)), y.isel(x=slice(0, None, 2), y=slice(0, None, 2))
    with pytest.raises(ValueError, match="do not mirror about the centre 0.5"):
        resolve_symmetries("flip_x", *specs(X, y))
    with pytest.warns(UserWarning, match="flip_x.*training without it"):
        assert resolve_symmetries("auto", *specs(X, y))[0] == ("swap_x_y",)
    full_X, full_y = fields(size=(8, 8), x_range=[0.0, 1.0])
    assert resolve_symmetries("flip_x", *specs(full_X, full_y))[0] == ("flip_x",)


def test_random_copies_draw_the_eight_maps_of_the_square_evenly_and_alike_for_x_and_y():
    n = 4000
    base = torch.arange(9.0).reshape(1, 1, 3, 3).expand(n, 1, 3, 3)
    X, y = random_symmetric_copies(base, 10 * base, (("flip", 2), ("flip", 3), ("swap", 2, 3)),
                                   torch.Generator().manual_seed(0))
    torch.testing.assert_close(y, 10 * X)
    images = {}
    for flip_x, flip_y, swap in itertools.product([0, 1], repeat=3):
        image = base[0]
        image = image.flip(1) if flip_x else image
        image = image.flip(2) if flip_y else image
        image = image.transpose(1, 2) if swap else image
        images[tuple(image.flatten().tolist())] = 0
    assert len(images) == 8
    for sample in X:
        images[tuple(sample.flatten().tolist())] += 1  # KeyError if not a map of the square
    counts = np.array(list(images.values()))
    assert counts.sum() == n and counts.min() > 0.8 * n / 8 and counts.max() < 1.2 * n / 8


def test_fit_with_symmetries_is_repeatable_and_saved(tmp_path):
    X, y = fields(attrs={"opkit_symmetries": "flip_x flip_y swap_x_y"})
    first = TFNORegressor(**SMALL).fit(X, y)
    second = TFNORegressor(**SMALL).fit(X, y)
    plain = TFNORegressor(symmetries=None, **SMALL).fit(X, y)
    assert first.symmetries_ == ("flip_x", "flip_y", "swap_x_y") and plain.symmetries_ == ()
    np.testing.assert_array_equal(first.predict(X).values, second.predict(X).values)
    assert not np.allclose(first.predict(X).values, plain.predict(X).values)
    first.save(tmp_path / "m.opkit")
    assert load(tmp_path / "m.opkit").symmetries_ == first.symmetries_


def test_darcy_solver_commutes_with_the_symmetries_it_declares():
    rngs = [np.random.default_rng(s) for s in range(2)]
    params = {**darcy.SOLVER.defaults(), "solver_resolution": 33, "resolution": 33}
    a = darcy.coefficient_field(rngs, 33, params)
    u = darcy.solve(a)
    maps = {"flip_x": lambda f: f[:, ::-1, :], "flip_y": lambda f: f[:, :, ::-1],
            "swap_x_y": lambda f: f.transpose(0, 2, 1)}
    assert set(darcy.SYMMETRIES["opkit_symmetries"].split()) == set(maps)
    for name, transform in maps.items():
        np.testing.assert_allclose(darcy.solve(np.ascontiguousarray(transform(a))), transform(u), rtol=0,
                                   atol=1e-12 * np.abs(u).max(), err_msg=name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the nodal grid with both ends keeps every declared flip
        data = darcy.generate(params, np.arange(2), [np.random.default_rng(s) for s in range(2)])
        data.attrs.update(darcy.global_attrs(params))
        assert resolve_symmetries("auto", *specs(data.a, data.u))[0] == ("flip_x", "flip_y", "swap_x_y")

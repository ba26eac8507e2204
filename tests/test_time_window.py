"""time_window: frames as channels (TFNORegressor) and time_windows() cutting trajectories."""

import numpy as np
import pytest
import xarray as xr
from sklearn.base import clone

from opkit import TFNORegressor, load
from opkit.data import time_windows
from opkit.metrics import relative_error

SMALL = dict(n_modes=8, hidden_channels=16, n_layers=2, max_epochs=15, learning_rate=5e-3, random_state=0)


def heat_trajectories(n=96, n_times=10, nx=32, viscosity=0.01, seed=0):
    """Exact solutions of u_t = nu u_xx on the periodic unit interval: decaying sine modes."""
    rng = np.random.default_rng(seed)
    x = np.arange(nx) / nx
    t = np.arange(n_times) * 0.05
    k = np.arange(1, 6)
    amplitude = rng.normal(size=(n, k.size)) / k
    phase = rng.uniform(0, 2 * np.pi, (n, k.size))
    decay = np.exp(-viscosity * (2 * np.pi * k) ** 2 * t[:, None])
    waves = np.sin(2 * np.pi * k[None, :, None] * x + phase[:, :, None])
    u = np.einsum("sk,tk,skx->stx", amplitude, decay, waves)
    return xr.DataArray(
        u, dims=("sample", "time", "x"), name="u",
        coords={"sample": np.arange(n), "time": ("time", t, {"units": "s"}), "x": ("x", x, {"units": "m"})},
        attrs={"bc_x": "periodic", "units": "m/s"},
    )


@pytest.fixture(scope="module")
def windows():
    X, y = time_windows(heat_trajectories(), 2, 3)
    train = (X.trajectory < 80).values
    return X[train], y[train], X[~train], y[~train]


@pytest.fixture(scope="module")
def fitted(windows):
    X, y, _, _ = windows
    return TFNORegressor(time_window=(2, 3), **SMALL).fit(X, y)


def test_time_windows_layout():
    u = heat_trajectories(n=3, n_times=6, nx=8)
    X, y = time_windows(u, 2, 2, stride=1)
    assert X.dims == ("sample", "time", "x") and X.shape == (9, 2, 8) and y.shape == (9, 2, 8)
    np.testing.assert_allclose(X.time, [0.0, 0.05])
    np.testing.assert_allclose(y.time, [0.1, 0.15])
    np.testing.assert_array_equal(X.trajectory, np.repeat([0, 1, 2], 3))
    np.testing.assert_allclose(X.window_start, np.tile([0.0, 0.05, 0.1], 3))
    # Sample 4 is trajectory 1's second window.
    np.testing.assert_array_equal(X.values[4], u.values[1, 1:3])
    np.testing.assert_array_equal(y.values[4], u.values[1, 3:5])
    assert X.attrs == u.attrs and X.time.attrs == {"units": "s"}
    X2, _ = time_windows(u, 2, 2, stride=2)
    assert X2.sizes["sample"] == 6


def test_time_windows_stay_lazy_in_whole_chunks():
    u = heat_trajectories(n=12, n_times=8, nx=8)
    X, y = time_windows(u.chunk({"sample": 4}), 2, 3)
    X_eager, y_eager = time_windows(u, 2, 3)
    # Nothing computed yet; each chunk of 4 trajectories becomes one chunk of their 4 x 4 windows.
    assert X.chunks[0] == y.chunks[0] == (16, 16, 16)
    xr.testing.assert_identical(X.compute(), X_eager)
    xr.testing.assert_identical(y.compute(), y_eager)


@pytest.mark.parametrize(
    "kwargs,match",
    [(dict(n_in=0, n_out=1), "n_in must be"), (dict(n_in=4, n_out=4), "shorter than one window")],
)
def test_time_windows_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        time_windows(heat_trajectories(n=2, n_times=6, nx=8), **kwargs)
    with pytest.raises(ValueError, match="'time' dim"):
        time_windows(heat_trajectories(n=2, n_times=6, nx=8).isel(time=0), 1, 1)
    uneven = heat_trajectories(n=2, n_times=6, nx=8).assign_coords(time=[0, 1, 2, 4, 5, 6])
    with pytest.raises(ValueError, match="uniformly spaced"):
        time_windows(uneven, 1, 1)


def test_learns_the_heat_equation_forward_in_time(fitted, windows):
    _, _, X_test, y_test = windows
    prediction = fitted.predict(X_test)
    assert prediction.dims == ("sample", "time", "x") and prediction.shape == y_test.shape
    np.testing.assert_allclose(prediction.time, y_test.time)
    assert prediction.attrs["units"] == "m/s" and prediction.time.attrs == {"units": "s"}
    assert fitted.input_spec_.n_channels == 2 and fitted.output_spec_.n_channels == 3
    error = relative_error(prediction, y_test)
    # Persistence (the last input frame repeated) is the baseline a model must beat.
    persistence = X_test.isel(time=[-1, -1, -1]).assign_coords(time=y_test.time)
    baseline = relative_error(persistence, y_test)
    assert error < 0.25 * baseline, (error, baseline)
    assert fitted.score(X_test, y_test) == pytest.approx(1 - error)


def test_output_times_follow_the_input_window(fitted, windows):
    _, _, X_test, y_test = windows
    later = X_test.assign_coords(time=X_test.time + 0.2)
    np.testing.assert_allclose(fitted.predict(later).time, y_test.time + 0.2)


def test_save_load_and_clone(fitted, windows, tmp_path):
    _, _, X_test, _ = windows
    loaded = load(fitted.save(tmp_path / "window.opkit"))
    np.testing.assert_array_equal(loaded.predict(X_test).values, fitted.predict(X_test).values)
    assert clone(fitted).get_params()["time_window"] == (2, 3)


def test_bad_windows_name_the_culprit(fitted, windows):
    X, y, X_test, _ = windows
    with pytest.raises(ValueError, match="expects 3 frame"):
        TFNORegressor(time_window=(2, 3), **SMALL).fit(X, y.isel(time=[0, 1]))
    with pytest.raises(ValueError, match="needs a 'time' dim in X"):
        TFNORegressor(time_window=(2, 3), **SMALL).fit(X.isel(time=0), y)
    with pytest.raises(ValueError, match="NumPy array"):
        TFNORegressor(time_window=(2, 3), **SMALL).fit(X.values, y.values)
    with pytest.raises(ValueError, match="two positive integers"):
        TFNORegressor(time_window=(2, 0), **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="expects 2 frame"):
        fitted.predict(X_test.isel(time=[0]))

"""The estimator core, exercised through TFNORegressor on small Darcy slices."""

import copy
import pickle

import numpy as np
import pytest
import torch
import xarray as xr
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import opkit
from opkit import TFNORegressor, as_samples
from opkit.metrics import relative_error, sobolev_scorer

from conftest import TINY_TFNO


def tiny(**kw):
    return TFNORegressor(**{**TINY_TFNO, "random_state": 0, **kw})


@pytest.fixture(scope="module")
def fitted(darcy):
    train, _ = darcy
    return tiny().fit(train.a, train.u)


# ------------------------------------------------------------------- fit / predict shapes
def test_predict_dataarray_keeps_names_coords_attrs(fitted, darcy):
    _, test = darcy
    pred = fitted.predict(test.a)
    assert isinstance(pred, xr.DataArray)
    assert pred.dims == ("sample", "x", "y")
    assert pred.name == "u"
    assert pred.attrs["long_name"] == test.u.attrs["long_name"]
    np.testing.assert_array_equal(pred.sample.values, test.sample.values)
    np.testing.assert_allclose(pred.x.values, test.x.values)
    assert pred.x.attrs["units"] == "1"
    assert np.isfinite(pred.values).all()


def test_dataset_in_dataset_out(darcy):
    train, test = darcy
    est = tiny(max_epochs=1).fit(train[["a"]], train[["u"]])
    pred = est.predict(test[["a"]])
    assert isinstance(pred, xr.Dataset)
    assert list(pred.data_vars) == ["u"]
    assert pred.attrs["bc_x"] == "dirichlet"
    assert est.output_spec_.bc == {"x": "dirichlet", "y": "dirichlet"}


def test_numpy_in_numpy_out(darcy):
    train, test = darcy
    est = tiny(max_epochs=1).fit(train.a.values, train.u.values)
    pred = est.predict(test.a.values)
    assert isinstance(pred, np.ndarray) and pred.shape == (16, 16, 16)


def test_resolution_invariant_predict_carries_query_coords(fitted, darcy):
    _, test = darcy
    fine = test.a.interp(x=np.arange(32) / 32, y=np.arange(32) / 32, method="nearest",
                         kwargs={"fill_value": "extrapolate"})
    pred = fitted.predict(fine)
    assert pred.shape == (16, 32, 32)
    np.testing.assert_allclose(pred.x.values, np.arange(32) / 32)


def test_time_dim_broadcast_from_input():
    """X (sample, x) maps to y (sample, time, x): X is repeated along time."""
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 16, endpoint=False)
    u0 = rng.normal(size=(24, 16)).astype(np.float32)
    t = np.linspace(0, 1, 5)
    u = u0[:, None, :] * np.exp(-t)[None, :, None]
    X = xr.DataArray(u0, dims=("sample", "x"), coords={"x": x}, name="u0", attrs={"bc_x": "periodic"})
    y = xr.DataArray(u, dims=("sample", "time", "x"), coords={"x": x, "time": t}, name="u",
                     attrs={"bc_x": "periodic"})
    est = tiny(max_epochs=1).fit(X, y)
    pred = est.predict(X)
    assert pred.dims == ("sample", "time", "x")
    np.testing.assert_allclose(pred.time.values, t)


# ------------------------------------------------------------------- scikit-learn contract
def test_not_fitted_error(darcy):
    with pytest.raises(NotFittedError):
        tiny().predict(darcy[1].a)


def test_clone_get_set_params():
    est = tiny(n_modes=6)
    params = est.get_params()
    assert params["n_modes"] == 6 and params["loss"] == "l2"
    twin = clone(est)
    assert twin.get_params() == params and twin is not est
    est.set_params(hidden_channels=12)
    assert est.hidden_channels == 12
    assert not hasattr(est, "model_")  # __init__ stores, fit works


def test_grid_search_on_dataarrays(darcy):
    train, _ = darcy
    search = GridSearchCV(tiny(max_epochs=1), {"n_modes": [2, 4]}, cv=2)
    search.fit(train.a, train.u)
    assert search.best_params_["n_modes"] in (2, 4)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_grid_search_and_cross_val_on_datasets(darcy):
    train, _ = darcy
    X, y = as_samples(train[["a"]]), as_samples(train[["u"]])
    scores = cross_val_score(tiny(max_epochs=1), X, y, cv=2)
    assert scores.shape == (2,) and np.all(scores < 1)
    search = GridSearchCV(tiny(max_epochs=1), {"n_modes": [2, 4]}, cv=2, scoring=sobolev_scorer("h1"))
    search.fit(X, y)
    assert search.best_score_ < 0  # negated error


def test_pipeline(darcy):
    train, test = darcy
    pipe = Pipeline([("scale", FunctionTransformer(lambda a: 3 + 9 * a)), ("op", tiny(max_epochs=1))])
    pipe.fit(train.a, train.u)
    assert pipe.predict(test.a).shape == test.u.shape


def test_score_is_one_minus_relative_l2(fitted, darcy):
    _, test = darcy
    expected = 1 - relative_error(fitted.predict(test.a), test.u, norm="l2")
    assert fitted.score(test.a, test.u) == pytest.approx(expected)


def test_random_state_repeatable_and_global_rng_untouched(darcy):
    train, test = darcy
    torch.manual_seed(123)
    before = torch.random.get_rng_state().clone()
    p1 = tiny(max_epochs=1).fit(train.a, train.u).predict(test.a)
    assert torch.equal(before, torch.random.get_rng_state())
    p2 = tiny(max_epochs=1).fit(train.a, train.u).predict(test.a)
    np.testing.assert_array_equal(p1.values, p2.values)
    p3 = tiny(max_epochs=1, random_state=1).fit(train.a, train.u).predict(test.a)
    assert not np.array_equal(p1.values, p3.values)


def test_training_reduces_loss(fitted):
    history = fitted.history_
    assert len(history["train_loss"]) == fitted.n_epochs_ == 2
    assert history["train_loss"][-1] < history["train_loss"][0]


def test_warm_start_continues(darcy):
    train, _ = darcy
    est = tiny(max_epochs=1, warm_start=True).fit(train.a, train.u)
    weights = copy.deepcopy(est.model_.state_dict())
    est.fit(train.a, train.u)
    assert est.n_epochs_ == 2
    changed = any(not torch.equal(weights[k], v) for k, v in est.model_.state_dict().items() if torch.is_tensor(v))
    assert changed


def test_early_stopping_uses_validation(darcy):
    train, _ = darcy
    est = tiny(max_epochs=3, early_stopping=True, n_iter_no_change=1).fit(train.a, train.u)
    assert all(v is not None for v in est.history_["val_loss"])


def test_checkpoint_resume_gives_same_model(darcy, tmp_path, monkeypatch):
    """Interrupt after epoch 1, fit again: same weights as an uninterrupted fit."""
    import opkit.training as training

    train, test = darcy
    reference = tiny(max_epochs=3).fit(train.a, train.u).predict(test.a)
    path = tmp_path / "state.opkit"
    original = training._save_training_state

    def interrupting(path_, module, optimizer, scheduler, generator, epoch, history, config):
        original(path_, module, optimizer, scheduler, generator, epoch, history, config)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "_save_training_state", interrupting)
    with pytest.raises(KeyboardInterrupt):
        tiny(max_epochs=3, checkpoint_path=str(path)).fit(train.a, train.u)
    monkeypatch.setattr(training, "_save_training_state", original)
    resumed = tiny(max_epochs=3, checkpoint_path=str(path)).fit(train.a, train.u)
    assert resumed.n_epochs_ == 3
    np.testing.assert_allclose(resumed.predict(test.a).values, reference.values, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="other hyperparameters"):
        tiny(max_epochs=3, n_modes=3, checkpoint_path=str(path)).fit(train.a, train.u)


def test_plot_history(fitted):
    import matplotlib

    matplotlib.use("Agg")
    ax = fitted.plot_history()
    assert len(ax.lines) >= 1


@pytest.mark.parametrize("factorization", ["cp", "tt", "dense"])
def test_factorizations_fit(darcy, factorization):
    train, test = darcy
    est = tiny(max_epochs=1, factorization=factorization).fit(train.a, train.u)
    assert np.isfinite(est.predict(test.a).values).all()


def test_multigrid_patching(darcy):
    train, test = darcy
    est = tiny(max_epochs=1, multigrid_levels=1, n_modes=3).fit(train.a, train.u)
    assert est.predict(test.a).shape == test.u.shape
    with pytest.raises(ValueError, match="divisible by 4"):
        tiny(multigrid_levels=2).fit(train.a.isel(x=slice(0, 14)), train.u.isel(x=slice(0, 14)))


# ------------------------------------------------------------------- persistence
def test_save_load_roundtrip(fitted, darcy, tmp_path):
    _, test = darcy
    path = fitted.save(tmp_path / "model.opkit")
    loaded = opkit.load(path)
    assert isinstance(loaded, TFNORegressor)
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_allclose(loaded.predict(test.a).values, fitted.predict(test.a).values, rtol=1e-6)
    assert loaded.history_["train_loss"] == pytest.approx(fitted.history_["train_loss"])


def test_pickle_roundtrip(fitted, darcy):
    _, test = darcy
    clone_ = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(clone_.predict(test.a).values, fitted.predict(test.a).values, rtol=1e-6)


def test_load_refuses_foreign_and_truncated_files(fitted, tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="not a valid opkit checkpoint"):
        opkit.load(foreign)
    good = fitted.save(tmp_path / "model.opkit")
    data = good.read_bytes()
    truncated = tmp_path / "truncated.opkit"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid opkit checkpoint"):
        opkit.load(truncated)
    tampered = tmp_path / "tampered.opkit"
    tampered.write_bytes(data.replace(b"TFNORegressor", b"NotAnEstimatr"))
    with pytest.raises(ValueError, match="unknown estimator class"):
        opkit.load(tampered)
    with pytest.raises(FileNotFoundError):
        opkit.load(tmp_path / "missing.opkit")


# ------------------------------------------------------------------- bad input
def test_missing_sample_dim(darcy):
    train, _ = darcy
    with pytest.raises(ValueError, match="no 'sample' dimension"):
        tiny().fit(train.a.rename(sample="batch"), train.u)


def test_sample_count_mismatch(darcy):
    train, _ = darcy
    with pytest.raises(ValueError, match="different numbers of samples"):
        tiny().fit(train.a, train.u.isel(sample=slice(0, 10)))


@pytest.mark.parametrize("where", ["X", "y"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_named(darcy, where, bad):
    train, _ = darcy
    X, y = train.a.copy(), train.u.copy()
    target = X if where == "X" else y
    target[3, 4, 5] = bad
    with pytest.raises(ValueError, match=rf"{where} contains 1 NaN or infinite value\(s\) in \['{target.name}'\]"):
        tiny().fit(X, y)


def test_non_uniform_coordinate(darcy):
    train, _ = darcy
    x = train.x.values.copy()
    x[-1] = 2.0
    with pytest.raises(ValueError, match="coordinate 'x' is not uniform"):
        tiny().fit(train.a.assign_coords(x=x), train.u.assign_coords(x=x))


def test_dataset_missing_or_extra_variable_at_predict(darcy):
    train, test = darcy
    two = train.assign(b=train.a * 2)
    est = tiny(max_epochs=1).fit(two[["a", "b"]], two[["u"]])
    with pytest.raises(ValueError, match=r"missing variable\(s\) \['b'\]"):
        est.predict(test[["a"]])
    with pytest.raises(ValueError, match=r"unexpected variable\(s\) \['u'\]"):
        est.predict(test.assign(b=test.a)[["a", "b", "u"]])


def test_different_number_of_spatial_dims_at_predict(fitted, darcy):
    _, test = darcy
    with pytest.raises(ValueError, match="1 grid dim"):
        fitted.predict(test.a.isel(y=0))


def test_inputs_are_not_modified(darcy):
    train, _ = darcy
    X, y = train.a.copy(deep=True), train.u.copy(deep=True)
    tiny(max_epochs=1).fit(X, y)
    xr.testing.assert_identical(X, train.a)
    xr.testing.assert_identical(y, train.u)


def test_unknown_cuda_device_is_clear(darcy):
    train, _ = darcy
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="CUDA is not available"):
        tiny(device="cuda").fit(train.a, train.u)


# ------------------------------------------------------------------- lazy (dask-backed) data
def test_fit_predict_from_lazily_opened_file(darcy, tmp_path):
    """A netCDF opened with dask chunks trains and predicts like the in-memory data."""
    import dask.array

    train, test = darcy
    path = tmp_path / "darcy.nc"
    train.to_netcdf(path, engine="h5netcdf")
    with xr.open_dataset(path, engine="h5netcdf", chunks={"sample": 8}) as lazy:
        assert isinstance(lazy.a.data, dask.array.Array)
        from_disk = tiny(max_epochs=1).fit(lazy.a, lazy.u)
        assert isinstance(lazy.a.data, dask.array.Array)  # nothing was loaded into the Dataset
        lazy_pred = from_disk.predict(lazy.a)
    in_memory = tiny(max_epochs=1).fit(train.a, train.u)
    np.testing.assert_allclose(lazy_pred.values, in_memory.predict(train.a).values, rtol=1e-4, atol=1e-5)


def test_lazy_nan_is_reported(darcy, tmp_path):
    train, _ = darcy
    bad = train.copy(deep=True)
    bad.u[5, 2, 2] = np.nan
    path = tmp_path / "bad.nc"
    bad.to_netcdf(path, engine="h5netcdf")
    with xr.open_dataset(path, engine="h5netcdf", chunks={"sample": 8}) as lazy:
        with pytest.raises(ValueError, match=r"y contains 1 NaN"):
            tiny(max_epochs=1).fit(lazy.a, lazy.u)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_score_refuses_non_finite_truth(fitted, darcy, bad):
    # fit and predict refuse NaN/inf; score must not turn them into a number.
    _, test = darcy
    y = test.u.copy()
    y[2, 4, 5] = bad
    with pytest.raises(ValueError, match=r"true \(variable 'u'\) contains 1 NaN or infinite value\(s\), the first at sample"):
        fitted.score(test.a, y)

"""DGNOSolver: label-free fit on solvers.darcy data, predictions on the grid and at points, save/load, bad input."""

from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import opkit
from opkit import DGNOSolver
from opkit.metrics import relative_error
from opkit.physics import DarcyWeak
from solvers import darcy
from solvers._cli import compute_chunk

TINY = dict(max_epochs=50, batch_size=25, encoder_layers=(64,), latent_dim=16, width=32, depth=3, sum_layers=2,
            learning_rate=1e-3,
            random_state=0, device="cpu")


@pytest.fixture(scope="module")
def data():
    params = darcy.SOLVER.resolve(dict(resolution=29, solver_resolution=57, forcing=10.0,
                                       coefficient="lognormal", grf_modes=29))
    ds = compute_chunk(darcy.SOLVER, params, np.arange(60), seed=0)
    return ds.isel(sample=slice(0, 50)), ds.isel(sample=slice(50, 60))


def pde():
    return DarcyWeak(f=10.0, radius=0.02, n_centers=50, n_quadrature=7)


@pytest.fixture(scope="module")
def fitted(data):
    train, _ = data
    return DGNOSolver(pde(), **TINY).fit(train.a)


def test_label_free_fit_reduces_the_error_against_the_solver(data, fitted):
    train, test = data
    untrained = DGNOSolver(pde(), **{**TINY, "max_epochs": 1}).fit(train.a)
    before = relative_error(untrained.predict(test.a), test.u)
    after = relative_error(fitted.predict(test.a), test.u)
    assert after < 0.6 * before, (before, after)
    losses = fitted.history_["train/pde"]
    assert losses[-1] < 0.5 * losses[0]


def test_predict_on_the_grid_and_at_points(data, fitted):
    _, test = data
    grid = fitted.predict(test.a)
    assert grid.dims == ("sample", "x", "y") and grid.shape == (10, 29, 29)
    np.testing.assert_array_equal(grid.x.values, test.x.values)
    assert np.abs(grid.values[:, 0]).max() < 1e-6  # mollifier: u = 0 on the boundary
    pts = xr.Dataset(coords={"x": ("point", test.x.values[[3, 14]]), "y": ("point", test.y.values[[7, 20]])})
    at = fitted.predict(test.a, coords=pts)
    assert at.dims == ("sample", "point") and set(at.coords) >= {"x", "y"}
    np.testing.assert_allclose(at.values[:, 0], grid.values[:, 3, 7], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(at.values[:, 1], grid.values[:, 14, 20], rtol=1e-4, atol=1e-6)
    beta = fitted.transform(test.a)
    assert beta.dims == ("sample", "latent") and beta.shape == (10, 16) and float(abs(beta).max()) <= 1


def test_fit_is_repeatable(data, fitted):
    train, test = data
    again = DGNOSolver(pde(), **TINY).fit(train.a)
    np.testing.assert_array_equal(again.predict(test.a).values, fitted.predict(test.a).values)


def test_save_and_load_keep_the_physics_as_parameters(data, fitted, tmp_path):
    _, test = data
    path = fitted.save(tmp_path / "dgno.opkit")
    loaded = opkit.load(path)
    assert isinstance(loaded.pde, DarcyWeak) and loaded.pde.get_params() == fitted.pde.get_params()
    np.testing.assert_allclose(loaded.predict(test.a).values, fitted.predict(test.a).values, rtol=1e-6, atol=1e-7)


def test_labels_add_a_data_term(data):
    train, test = data
    est = DGNOSolver(None, **TINY).fit(train.a, train.u)
    assert "train/label" in est.history_ and "train/pde" not in est.history_
    assert relative_error(est.predict(test.a), test.u) < 0.99


def test_bad_input_is_named(data, fitted):
    train, test = data
    with pytest.raises(ValueError, match="pde="):
        DGNOSolver(**TINY).fit(train.a)
    with pytest.raises(ValueError, match="outside the domain"):
        fitted.predict(test.a, coords=np.array([[0.5, 1.5]]))
    with pytest.raises(ValueError, match="too small for float32"):
        DGNOSolver(DarcyWeak(radius=1e-6), **TINY).fit(train.a)


def test_solve_inverse_recovers_a_better_than_the_prior_mean(data, fitted):
    train, test = data
    rng = np.random.default_rng(0)
    i, j = rng.integers(1, 28, 100), rng.integers(1, 28, 100)
    sample = test.isel(sample=[0, 1])
    obs = xr.DataArray(sample.u.values[:, i, j], dims=("sample", "obs"),
                       coords={"x": ("obs", test.x.values[i]), "y": ("obs", test.y.values[j])})
    out = fitted.solve_inverse(obs, snr_db=25, n_iter=60, n_samples=3)
    assert out.a_mean.dims == ("sample", "x", "y") and out.beta.shape == (2, 3, 16)
    assert float(out.a_std.mean()) > 0
    assert out.loss.dims == ("iteration",) and len(out.loss) == 60 and float(out.loss[-1]) < float(out.loss[0])
    assert "train/rec" in fitted.history_ and len(fitted.history_["epoch"]) == TINY["max_epochs"]
    error = relative_error(out.a_mean.assign_coords(sample=[0, 1]), sample.a.drop_vars("sample").assign_coords(sample=[0, 1]))
    prior = relative_error(xr.full_like(sample.a, float(train.a.mean())), sample.a)
    assert error < prior, (error, prior)
    # The decoders were frozen: the forward predictions are unchanged.
    np.testing.assert_array_equal(fitted.predict(test.a).values, DGNOSolver(pde(), **TINY).fit(train.a).predict(test.a).values)
    with pytest.raises(ValueError, match="snr_db"):
        fitted.solve_inverse(obs, snr_db=float("inf"))
    with pytest.raises(ValueError, match="outside the domain"):
        fitted.solve_inverse(obs.assign_coords(x=("obs", obs.x.values + 2)))


def test_inverse_transform_decodes_the_latents_of_transform(data, fitted):
    _, test = data
    beta = fitted.transform(test.a)
    decoded = fitted.inverse_transform(beta)
    assert set(decoded.data_vars) == {"a", "u"} and decoded.a.dims == ("sample", "x", "y")
    np.testing.assert_allclose(decoded.u.values, fitted.predict(test.a).values, rtol=1e-5, atol=1e-6)
    # The a-decoder is trained to reconstruct the input: its loss fell (a tiny model, 30 epochs).
    rec = fitted.history_["train/rec"]
    assert rec[-1] < rec[0]
    pts = xr.Dataset(coords={"x": ("point", [0.25, 0.5]), "y": ("point", [0.5, 0.75])})
    at = fitted.inverse_transform(beta.values, coords=pts)
    assert at.u.dims == ("sample", "point") and at.a.shape == (10, 2)
    np.testing.assert_allclose(at.a.values[:, 0], decoded.a.values[:, 7, 14], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="latent=16"):
        fitted.inverse_transform(np.zeros((2, 3)))


@pytest.fixture(scope="module")
def two_phase():
    params = darcy.SOLVER.resolve(dict(resolution=29, solver_resolution=57, forcing=10.0, coefficient="threshold",
                                       a_high=10.0, a_low=5.0, threshold=0.0, grf_modes=29))
    ds = compute_chunk(darcy.SOLVER, params, np.arange(60), seed=1)
    return ds.isel(sample=slice(0, 50)), ds.isel(sample=slice(50, 60))


def test_two_phase_mixed_form_fit_and_relaxed_bernoulli_inverse(two_phase):
    train, test = two_phase
    assert set(np.unique(train.a.values)) == {5.0, 10.0}
    pde2 = DarcyWeak(f=10.0, radius=0.02, n_centers=50, n_quadrature=7, form="mixed", interpolation="nearest")
    kw = {**TINY, "a_likelihood": "bernoulli", "w_rec": 5.0, "batch_size": 10, "learning_rate": 3e-3}
    untrained = DGNOSolver(pde2, **{**kw, "max_epochs": 1}).fit(train.a)
    est = DGNOSolver(pde2, **kw).fit(train.a)
    assert est.model_.s_decoders is not None and float(est.model_.a_shift) == 5.0
    before, after = (relative_error(m.predict(test.a), test.u) for m in (untrained, est))
    assert after < 0.6 * before, (before, after)
    # The a-decoder gives a probability of the high phase: decoded a stays within [5, 10].
    decoded = est.inverse_transform(est.transform(test.a))
    assert 5.0 <= float(decoded.a.min()) and float(decoded.a.max()) <= 10.0
    rng = np.random.default_rng(0)
    i, j = rng.integers(1, 28, 100), rng.integers(1, 28, 100)
    obs = xr.DataArray(test.u.values[:2, i, j], dims=("sample", "obs"),
                       coords={"x": ("obs", test.x.values[i]), "y": ("obs", test.y.values[j])})
    out = est.solve_inverse(obs, snr_db=25, n_iter=40, n_samples=3, n_draws=4)
    assert {"a_mean", "a_prob", "a_std", "u_mean", "beta"} <= set(out.data_vars)
    assert 0.0 <= float(out.a_prob.min()) and float(out.a_prob.max()) <= 1.0 and float(out.a_std.mean()) > 0
    np.testing.assert_allclose(out.a_mean.values, 5.0 + 5.0 * out.a_prob.values, rtol=1e-5)
    truth = test.a.isel(sample=[0, 1]).assign_coords(sample=[0, 1])
    prior = relative_error(xr.full_like(truth, float(train.a.mean())), truth)
    assert relative_error(out.a_mean.assign_coords(sample=[0, 1]), truth) < prior
    with pytest.raises(ValueError, match="temperature"):
        est.solve_inverse(obs, temperature=0.0)
    path = est.save(Path(__import__("tempfile").mkdtemp()) / "two_phase.opkit")
    loaded = opkit.load(path)
    np.testing.assert_allclose(loaded.predict(test.a).values, est.predict(test.a).values, rtol=1e-6, atol=1e-7)


def test_encoder_learns_at_a_tenth_of_the_rate_by_default(fitted):
    groups = fitted._param_groups(fitted.model_, "fit")
    by_name = {g["name"]: g for g in groups}
    assert by_name["encoder"]["lr_scale"] == 0.1 and "lr_scale" not in by_name["decoders"]
    encoder = {id(p) for p in fitted.model_.encoder.parameters()}
    assert {id(p) for p in by_name["encoder"]["params"]} == encoder
    n_all = sum(1 for _ in fitted.model_.parameters())
    assert len(by_name["encoder"]["params"]) + len(by_name["decoders"]["params"]) == n_all
    assert DGNOSolver(encoder_lr_scale=1.0)._param_groups(fitted.model_, "fit") is None
    with pytest.raises(ValueError, match="encoder_lr_scale"):
        DGNOSolver(encoder_lr_scale=0.0)._param_groups(fitted.model_, "fit")

"""The estimator core on shapes other than grid-to-grid: label-free, vector outputs, two stages."""

import numpy as np
import pytest
import torch
import xarray as xr

import opkit
from opkit import OpKit
from opkit.outputs import relative_euclidean_error

from core_toys import ToyPoissonSolver, ToyTwoStageRegressor, ToyVectorRegressor, poisson_data

QUICK = dict(device="cpu", random_state=0)


def _fd_solution(f):
    """The exact solution of the finite-difference problem the residual poses (``A u = f``)."""
    n = f.sizes["x"]
    h = 1.0 / (n + 1)
    A = (np.diag(np.full(n, 2.0)) - np.diag(np.ones(n - 1), 1) - np.diag(np.ones(n - 1), -1)) / h**2
    return np.linalg.solve(A, f.values.T.astype(np.float64)).T


def test_label_free_poisson_fit_falls_to_the_discretisation_error():
    f, _ = poisson_data(64)
    f_test, u_test = poisson_data(16, seed=1)
    untrained = ToyPoissonSolver(max_epochs=0, **QUICK).fit(f)
    est = ToyPoissonSolver(max_epochs=40, learning_rate=2e-2, batch_size=16, scheduler="constant",
                           weight_decay=0.0, **QUICK).fit(f)
    before = relative_euclidean_error(untrained.predict(f_test), u_test)
    after = relative_euclidean_error(est.predict(f_test), u_test)
    fd_error = relative_euclidean_error(_fd_solution(f_test), u_test.values)
    assert before == pytest.approx(1.0)
    # Trained on residuals only, it reaches the finite-difference scheme's own
    # O(h^2) error against the exact solution (and agrees with the FD solve).
    assert after < 1.05 * fd_error < 0.01
    np.testing.assert_allclose(est.predict(f_test).values, _fd_solution(f_test), rtol=0, atol=2e-3 * abs(u_test).max().item())
    # A dict-returning step: every named term is in the history.
    assert est.history_["train/residual"] == pytest.approx(est.history_["train_loss"])
    assert est.history_["train_loss"][-1] < 1e-3 * est.history_["train_loss"][0]
    assert est.score(f_test, u_test) == pytest.approx(1 - opkit.metrics.relative_error(
        est.predict(f_test), u_test, norm="l2", bc={"x": "dirichlet"}))


def test_y_required_flag_read_from_tags():
    f, _ = poisson_data(8)
    assert ToyPoissonSolver().__sklearn_tags__().target_tags.required is False
    assert ToyVectorRegressor().__sklearn_tags__().target_tags.required is True
    ToyPoissonSolver(max_epochs=1, **QUICK).fit(f, None)
    with pytest.raises(ValueError, match="ToyVectorRegressor requires y to be passed"):
        ToyVectorRegressor(max_epochs=1, **QUICK).fit(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="TFNORegressor requires y"):
        opkit.TFNORegressor(max_epochs=1).fit(np.zeros((4, 8, 8)))


def vector_data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 3))
    y = np.stack([X[:, 0] + 0.5 * X[:, 1] ** 2, np.sin(X[:, 2]) - X[:, 0] * X[:, 1]], axis=1) + 2.0
    coords = {"sample": np.arange(n) + 100 * seed}
    return (xr.DataArray(X.astype(np.float32), dims=("sample", "feature"), coords=coords, name="strain"),
            xr.DataArray(y.astype(np.float32), dims=("sample", "component"),
                         coords={**coords, "component": ["a", "b"]}, name="stress", attrs={"units": "MPa"}))


def test_vector_output_predict_and_score_follow_the_declaration():
    X, y = vector_data(96)
    X_test, y_test = vector_data(32, seed=1)
    est = ToyVectorRegressor(max_epochs=40, batch_size=16, learning_rate=1e-2, **QUICK).fit(X, y)
    prediction = est.predict(X_test)
    assert prediction.dims == ("sample", "component")
    assert list(prediction["component"].values) == ["a", "b"]
    assert prediction.name == "stress" and prediction.attrs == {"units": "MPa"}
    np.testing.assert_array_equal(prediction["sample"].values, X_test["sample"].values)
    manual = np.mean(np.linalg.norm(prediction.values - y_test.values, axis=1) / np.linalg.norm(y_test.values, axis=1))
    assert est.score(X_test, y_test) == pytest.approx(1 - manual)
    # Far better than predicting the training mean.
    mean_error = relative_euclidean_error(np.broadcast_to(y.values.mean(0), y_test.shape), y_test.values)
    assert 1 - est.score(X_test, y_test) < 0.3 * mean_error
    # NumPy in, NumPy out, same numbers.
    np_est = ToyVectorRegressor(max_epochs=40, batch_size=16, learning_rate=1e-2, **QUICK).fit(X.values, y.values)
    np.testing.assert_allclose(np_est.predict(X_test.values), prediction.values, rtol=1e-5, atol=1e-6)


def test_vector_estimator_through_opkit_evaluation():
    X, y = vector_data(80)
    ds = xr.Dataset({"strain": X, "stress": y}, attrs={"opkit_inputs": "strain", "opkit_outputs": "stress"})
    kit = OpKit(ToyVectorRegressor(max_epochs=40, batch_size=16, learning_rate=1e-2, **QUICK), test_fraction=0.25,
                random_state=0).fit(ds)
    table = kit.evaluate()
    test = ds.isel(sample=kit.test_samples_)
    assert list(table.columns) == ["relative_l2", "n_samples"]
    assert table.loc["stress", "relative_l2"] == pytest.approx(
        relative_euclidean_error(kit.predict(test)["stress"], test["stress"]))
    mean_error = relative_euclidean_error(
        np.broadcast_to(ds["stress"].values[kit.train_samples_].mean(0), test["stress"].shape), test["stress"].values)
    assert table.loc["stress", "relative_l2"] < 0.5 * mean_error


def test_two_stage_fit_refines_only_the_head_with_lbfgs_in_float64():
    X, y = vector_data(64)
    settings = dict(max_epochs=20, batch_size=16, learning_rate=1e-2, **QUICK)
    first_only = ToyTwoStageRegressor(refine_epochs=0, **settings).fit(X, y)
    est = ToyTwoStageRegressor(refine_epochs=5, **settings).fit(X, y)
    assert set(est.stage_history_) == {"fit", "refine"}
    assert len(est.stage_history_["fit"]["epoch"]) == 20 and len(est.stage_history_["refine"]["epoch"]) == 5
    assert est.n_epochs_ == 25
    assert all(p.dtype == torch.float64 for p in est.model_.parameters())
    # The fit stages of both runs are identical; refine moved the head only.
    for name, value in est.model_.trunk.state_dict().items():
        torch.testing.assert_close(value, first_only.model_.trunk.state_dict()[name], rtol=0, atol=0)
    changed = [not torch.equal(v, first_only.model_.head.state_dict()[k]) for k, v in est.model_.head.state_dict().items()]
    assert all(changed)
    assert all(p.requires_grad for p in est.model_.parameters())  # frozen only during the stage
    refine = est.stage_history_["refine"]["train_loss"]
    assert refine[-1] < refine[0]
    assert est.score(X, y) > first_only.score(X, y)


@pytest.mark.parametrize("make", ["poisson", "vector", "two_stage"])
def test_save_load_roundtrip_with_extra_state(make, tmp_path):
    if make == "poisson":
        X, _ = poisson_data(16)
        est = ToyPoissonSolver(max_epochs=3, **QUICK).fit(X)
    else:
        X, y = vector_data(32)
        cls = ToyVectorRegressor if make == "vector" else ToyTwoStageRegressor
        est = cls(max_epochs=3, **QUICK).fit(X, y)
    loaded = opkit.load(est.save(tmp_path / "toy.opkit"))
    assert type(loaded) is type(est)
    assert loaded.get_params() == est.get_params()
    assert loaded.stage_history_ == est.stage_history_
    assert loaded.n_epochs_ == est.n_epochs_
    assert next(loaded.model_.parameters()).dtype == next(est.model_.parameters()).dtype
    np.testing.assert_array_equal(np.asarray(loaded.predict(X)), np.asarray(est.predict(X)))
    if make != "poisson":
        torch.testing.assert_close(loaded.x_mean_, est.x_mean_)
        assert loaded.output_spec_ == est.output_spec_

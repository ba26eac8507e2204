"""PROSE: trains on solvers.odes trajectories, predicts at query times, decodes equations, saves, refuses bad input."""

import numpy as np
import pytest
import sympy
import torch
import xarray as xr
from sklearn.base import clone

import opkit
from opkit.layers.prose import PROSENetwork
from opkit.models import _symbols as S
from opkit.models.prose import PROSE, prose_windows
from solvers import odes
from solvers._cli import compute_chunk

TINY = dict(d_model=32, n_heads=2, dim_feedforward=64, n_layers=(1, 1, 1, 1, 1), batch_size=16, device="cpu",
            random_state=0, max_length=40)


@pytest.fixture(scope="module")
def data():
    params = odes.SOLVER.resolve(dict(families="lorenz,rossler,thomas", states_per_equation=2, final_time=2.0,
                                      n_times=24, n_input_times=8))
    ds = compute_chunk(odes.SOLVER, params, np.arange(36), seed=1)
    ds.attrs.update(odes.global_attrs(params))
    return prose_windows(ds)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return PROSE(max_epochs=6, **TINY).fit(X, y)


def test_prose_windows_reads_the_generator_split(data):
    X, y = data
    assert X.sizes["time"] == 8 and y.sizes["time"] == 16
    assert float(y.time[0]) > float(X.time[-1])
    assert "equation" in y and "state" in X and "equation" not in X


def test_training_lowers_both_loss_terms(data):
    X, y = data
    model = PROSE(max_epochs=12, learning_rate=3e-3, **TINY).fit(X, y)
    h = model.history_
    assert h["train/data"][-1] < 0.7 * h["train/data"][0]
    assert h["train/tokens"][-1] < 0.7 * h["train/tokens"][0]
    assert len(h["epoch"]) == 12 and model.n_params_ > 0


def test_predict_at_query_times_is_a_series_with_those_times(fitted, data):
    X, y = data
    q = np.array([0.5, 1.1, 1.9, 3.0])
    pred = fitted.predict(X, q)["state"]
    assert pred.dims == ("sample", "time", "component")
    np.testing.assert_array_equal(pred.time.values, q)
    np.testing.assert_array_equal(pred.sample.values, X.sample.values)
    assert pred.shape == (X.sizes["sample"], 4, 3) and np.isfinite(pred.values).all()
    # Query times are decoded independently: one time alone gives the same values.
    alone = fitted.predict(X.state, q[2:3])  # a DataArray in, a DataArray out
    np.testing.assert_allclose(alone.values[:, 0], pred.values[:, 2], rtol=1e-5, atol=1e-5)
    assert fitted.predict(X, y).time.size == y.sizes["time"]
    assert 1.0 - fitted.score(X, y) == pytest.approx(
        opkit.outputs.relative_euclidean_error(fitted.predict(X, y.time.values)["state"], y["state"]))


def test_symbol_decoder_is_causal():
    torch.manual_seed(0)
    vocab = S.SymbolVocabulary(3)
    net = PROSENetwork(3, len(vocab), 32, 2, 64, (1, 1, 1, 1, 1), max_symbols=16).eval()
    data, stats = torch.randn(2, 5, 4), torch.randn(2, 6)
    fused, mask, _ = net.encode(data, stats, torch.tensor([[5, 6, 7], [8, 9, 0]]))
    ids = torch.tensor([[1, 10, 11, 12, 13], [1, 14, 15, 16, 17]])
    changed = ids.clone()
    changed[:, 3:] = 20
    a, b = net.decode_symbols(fused, mask, ids), net.decode_symbols(fused, mask, changed)
    torch.testing.assert_close(a[:, :3], b[:, :3])
    assert not torch.allclose(a[:, 3:], b[:, 3:])


@pytest.mark.slow  # 100 epochs: about 6 s on an idle CPU, minutes on a busy one
def test_one_equation_is_learned_exactly_and_greedy_and_beam_decode_it():
    """Trained on trajectories of one Lorenz system, the decoder writes its equation token for token."""
    params = odes.SOLVER.resolve(dict(families="lorenz", states_per_equation=16, final_time=1.0, n_times=12,
                                      n_input_times=6))
    X, y = prose_windows(compute_chunk(odes.SOLVER, params, np.arange(16), seed=2))
    model = PROSE(max_epochs=100, use_skeleton=False, learning_rate=3e-3, scheduler="constant",
                  **{**TINY, "batch_size": 16}).fit(X, y)
    truth = y["equation_prefix"].values[0]
    assert model.predict_symbolic(X.isel(sample=slice(0, 3)), output="prefix") == [truth] * 3
    assert model.predict_symbolic(X.isel(sample=slice(0, 2)), beam_size=3, output="prefix") == [truth] * 2
    exprs = model.predict_symbolic(X.isel(sample=slice(0, 1)), output="sympy")[0]
    assert all(sympy.simplify(a - b) == 0 for a, b in zip(exprs, odes.parse_equation(y["equation"].values[0])))
    s = model.score_symbolic(X, y)
    assert s["valid_fraction"] == 1.0 and s["expr_rel_err"] < 1e-12


def test_decoded_equations_are_none_or_valid_fields(fitted, data):
    X, y = data
    for text in fitted.predict_symbolic(X.isel(sample=slice(0, 2))):
        assert text is None or len(odes.parse_equation(text)) == 3
    s = fitted.score_symbolic(X.isel(sample=slice(0, 2)), y.isel(sample=slice(0, 2)))
    assert 0.0 <= s["valid_fraction"] <= 1.0 and s["n_samples"] == 2 and s["data_rel_err"] > 0


def test_skeletons_in_X_are_used_and_checked(fitted, data):
    X, y = data
    sk = [" ".join(S.skeleton(e)) for e in y["equation_prefix"].values]
    Xs = X.assign(skeleton=("sample", np.array(sk, dtype=object)))
    with_sk, without = fitted.predict(Xs, [1.0])["state"], fitted.predict(X, [1.0])["state"]
    assert not np.allclose(with_sk.values, without.values)
    bad = X.assign(skeleton=("sample", np.array(["add u_0 foo"] * X.sizes["sample"], dtype=object)))
    with pytest.raises(ValueError, match="'foo' at position 2"):
        fitted.predict(bad, [1.0])


def test_fit_is_repeatable_and_save_load_round_trips(fitted, data, tmp_path):
    X, y = data
    again = clone(fitted).fit(X, y)
    np.testing.assert_array_equal(fitted.predict(X.state, [1.0, 2.0]).values, again.predict(X.state, [1.0, 2.0]).values)
    path = fitted.save(tmp_path / "prose.opkit")
    loaded = opkit.load(path)
    assert loaded.vocab_.tokens == fitted.vocab_.tokens and loaded.time_scale_ == fitted.time_scale_
    np.testing.assert_array_equal(loaded.predict(X.state, [1.0, 2.0]).values, fitted.predict(X.state, [1.0, 2.0]).values)
    assert loaded.predict_symbolic(X.isel(sample=slice(0, 2)), output="prefix") == \
        fitted.predict_symbolic(X.isel(sample=slice(0, 2)), output="prefix")
    assert opkit.ESTIMATORS["PROSE"] is PROSE


def test_infix_and_sympy_printable_equations_train_like_prefix(data):
    X, y = data
    infix_only = y.drop_vars("equation_prefix")
    a = PROSE(max_epochs=1, **TINY).fit(X, infix_only)
    b = PROSE(max_epochs=1, **TINY).fit(X, y)
    assert a.history_["train/tokens"][0] == pytest.approx(b.history_["train/tokens"][0], rel=0.2)


def test_bad_input_is_refused_with_the_culprit_named(fitted, data):
    X, y = data
    four = xr.concat([X.state, X.state.isel(component=[0])], "component").assign_coords(component=np.arange(4))
    with pytest.raises(ValueError, match="4 components, more than the model's d_max=3"):
        fitted.predict(four, [1.0])
    with pytest.raises(ValueError, match="strictly"):
        fitted.predict(X.assign_coords(time=X.time.values[::-1]), [1.0])
    t = X.time.values.copy()
    t[2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        fitted.predict(X.assign_coords(time=t), [1.0])
    with pytest.raises(ValueError, match="before X's observed window"):
        fitted.predict(X, [-0.5, 1.0])
    with pytest.raises(ValueError, match="query_times has 1 NaN"):
        fitted.predict(X, [np.nan])
    with pytest.raises(ValueError, match="output must be one of"):
        fitted.predict_symbolic(X, output="latex")
    wrong = y.drop_vars("equation_prefix").assign(
        equation=("sample", np.array(["exp(u_0) | u_1 | u_2"] * y.sizes["sample"], dtype=object)))
    with pytest.raises(ValueError, match="cannot be written with the PROSE vocabulary"):
        PROSE(max_epochs=1, **TINY).fit(X, wrong)
    with pytest.raises(ValueError, match="'equation'"):
        PROSE(max_epochs=1, **TINY).fit(X, y[["state"]])
    with pytest.raises(ValueError, match="n_layers must give 5"):
        PROSE(n_layers=(1, 1), **{k: v for k, v in TINY.items() if k != "n_layers"}).fit(X, y)


def test_opkit_by_name_and_on_a_whole_generator_file(data):
    params = odes.SOLVER.resolve(dict(families="lorenz,rossler,thomas", states_per_equation=2, final_time=2.0,
                                      n_times=24, n_input_times=8))
    ds = compute_chunk(odes.SOLVER, params, np.arange(20), seed=3)
    ds.attrs.update(odes.global_attrs(params))
    assert isinstance(opkit.OpKit("PROSE")._make_estimator(), PROSE)
    kit = opkit.OpKit(PROSE(max_epochs=2, **TINY), test_fraction=0.25, random_state=0).fit(ds)
    assert kit.estimator_.time_scale_ == pytest.approx(2.0)
    # The window is read from the file: the same as fitting prose_windows' split on all times.
    X, _ = prose_windows(ds)
    np.testing.assert_array_equal(kit.estimator_.predict(ds)["state"].values, kit.estimator_.predict(X, ds.time)["state"].values)
    pred = kit.predict()["state"]
    assert pred.sizes == {"sample": 5, "time": 24, "component": 3}

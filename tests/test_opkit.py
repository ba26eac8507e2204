"""OpKit on whole Datasets: attrs-driven inputs/outputs, split, evaluate, plot."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from opkit import OpKit, TFNORegressor

from conftest import TINY_TFNO


@pytest.fixture(scope="module")
def kit(darcy):
    train, _ = darcy
    return OpKit(estimator=TFNORegressor(**TINY_TFNO), test_fraction=0.25, random_state=0).fit(train)


def test_reads_roles_from_attrs_and_splits(kit, darcy):
    train, _ = darcy
    assert kit.inputs_ == ["a"] and kit.outputs_ == ["u"]
    assert len(kit.test_samples_) == 16 and len(kit.train_samples_) == 48
    assert set(kit.test_samples_).isdisjoint(kit.train_samples_)
    assert kit.estimator_.n_epochs_ == TINY_TFNO["max_epochs"]
    assert kit.estimator_.random_state == 0  # seeded from OpKit when the estimator had none


def test_predict_returns_dataset_with_attrs(kit):
    pred = kit.predict()
    assert isinstance(pred, xr.Dataset) and list(pred.data_vars) == ["u"]
    assert pred.sizes["sample"] == 16
    assert pred.u.attrs["units"] == "1"


def test_evaluate_table(kit, darcy):
    _, test = darcy
    table = kit.evaluate(test)
    assert isinstance(table, pd.DataFrame)
    assert list(table.index) == ["u"]
    assert 0 < table.loc["u", "relative_l2"] < table.loc["u", "relative_h1"] < 10
    assert table.loc["u", "n_samples"] == 16


def test_plot_has_four_panels(kit):
    import matplotlib

    matplotlib.use("Agg")
    fig = kit.plot(sample=1)
    assert len([ax for ax in fig.axes if ax.get_title()]) == 4


def test_estimator_by_name_and_explicit_variables(darcy):
    train, _ = darcy
    ds = train.assign(a2=train.a * 2)
    ds.attrs.pop("opkit_inputs")
    kit = OpKit(estimator="TFNORegressor", inputs="a a2", outputs=["u"], test_fraction=0.0)
    kit.estimator = TFNORegressor(**TINY_TFNO, random_state=1)
    kit.fit(ds)
    assert kit.inputs_ == ["a", "a2"]
    with pytest.raises(ValueError, match="no test samples"):
        kit.evaluate()


def test_unknown_input_variable_named(darcy):
    train, _ = darcy
    with pytest.raises(ValueError, match=r"unknown variable\(s\) \['perm'\].*\['a', 'u'\]"):
        OpKit(inputs=["perm"]).fit(train)


def test_missing_roles_and_unknown_estimator(darcy):
    train, _ = darcy
    bare = train.copy()
    bare.attrs = {}
    with pytest.raises(ValueError, match="no 'opkit_inputs' attribute"):
        OpKit().fit(bare)
    with pytest.raises(ValueError, match="unknown estimator 'FNOXL'"):
        OpKit(estimator="FNOXL").fit(train)
    with pytest.raises(TypeError, match="takes an xarray.Dataset"):
        OpKit().fit(train.a)


def test_predict_needs_inputs_seen_in_fit(kit, darcy):
    _, test = darcy
    with pytest.raises(ValueError, match=r"lacks input variable\(s\) \['a'\]"):
        kit.predict(test[["u"]])


def test_split_variable_decides_the_test_set(darcy):
    train, _ = darcy
    n = train.sizes["sample"]
    flags = np.zeros(n, dtype=np.int8)
    flags[-10:] = 2
    flags[-14:-10] = 1
    attrs = {"flag_values": np.array([0, 1, 2], np.int8), "flag_meanings": "train validation test"}
    ds = train.assign(split=("sample", flags, attrs))
    kit = OpKit(estimator=TFNORegressor(**TINY_TFNO), random_state=0).fit(ds)
    np.testing.assert_array_equal(kit.test_samples_, np.arange(n - 10, n))
    np.testing.assert_array_equal(kit.train_samples_, np.arange(n - 10))
    assert kit.evaluate().loc["u", "n_samples"] == 10
    assert "split" not in kit.predict().data_vars
    # use_split=False ignores it; a split flagging no test sample falls back to test_fraction.
    random = OpKit(estimator=TFNORegressor(**TINY_TFNO), test_fraction=0.25, use_split=False, random_state=0).fit(ds)
    assert len(random.test_samples_) == 16
    no_test = ds.assign(split=("sample", np.zeros(n, np.int8), attrs))
    assert len(OpKit(estimator=TFNORegressor(**TINY_TFNO), test_fraction=0.25).fit(no_test).test_samples_) == 16


def test_split_variable_errors_name_the_problem(darcy):
    train, _ = darcy
    original = train.copy(deep=True)
    n = train.sizes["sample"]
    bad = train.assign(split=("sample", np.zeros(n, np.int8), {"flag_values": [0, 1], "flag_meanings": "train val"}))
    with pytest.raises(ValueError, match="'split' variable has flag_meanings"):
        OpKit(estimator=TFNORegressor(**TINY_TFNO)).fit(bad)
    everything = train.assign(split=("sample", np.full(n, 2, np.int8)))
    with pytest.raises(ValueError, match="flags all 64 samples as test"):
        OpKit(estimator=TFNORegressor(**TINY_TFNO)).fit(everything)
    assert train.identical(original)  # the Dataset given to fit is never modified

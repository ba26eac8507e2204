"""OpKit: fit an operator on a whole xarray Dataset in one call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._validation import SAMPLE_DIM
from .estimator import OpkitEstimator
from .registry import ESTIMATORS, load_builtin

__all__ = ["OpKit"]


def _names(value, attr: str, ds: xr.Dataset, what: str) -> list:
    if value is None:
        value = ds.attrs.get(attr)
        if value is None:
            raise ValueError(
                f"the Dataset has no '{attr}' attribute; pass {what}=[...] naming the "
                f"{what} variables (available: {sorted(map(str, ds.data_vars))})"
            )
    names = value.split() if isinstance(value, str) else [str(v) for v in value]
    unknown = [n for n in names if n not in ds.data_vars]
    if unknown:
        raise ValueError(
            f"{what}={names} names unknown variable(s) {unknown}; the Dataset has "
            f"{sorted(map(str, ds.data_vars))}"
        )
    return names


def _flagged_test_samples(ds):
    """Boolean mask of the samples ``ds["split"]`` flags as test, or None if it flags none.

    The test flag is looked up in the variable's CF ``flag_meanings`` /
    ``flag_values`` (2 when they are absent).
    """
    if "split" not in ds.data_vars:
        return None
    split = ds["split"]
    if split.dims != (SAMPLE_DIM,):
        raise ValueError(f"the Dataset's 'split' variable must have dims ('{SAMPLE_DIM}',), got {split.dims}")
    meanings = str(split.attrs.get("flag_meanings", "train validation test")).split()
    values = np.atleast_1d(split.attrs.get("flag_values", np.arange(len(meanings))))
    if "test" not in meanings or len(values) != len(meanings):
        raise ValueError(
            f"the Dataset's 'split' variable has flag_meanings {meanings!r} and flag_values {list(values)}; "
            "expected a 'test' flag among matching values (or pass use_split=False)"
        )
    flagged = np.asarray(split.values) == values[meanings.index("test")]
    return flagged if flagged.any() else None


class OpKit(BaseEstimator):
    """Fit, evaluate and plot an operator on a whole xarray Dataset.

    ``OpKit().fit(ds)`` reads which variables are inputs and outputs from the
    Dataset's ``opkit_inputs`` / ``opkit_outputs`` attributes (set by every
    opkit solver), holds out a test split, and fits an estimator.

    Parameters
    ----------
    estimator : OperatorEstimator, str or None, default=None
        The estimator to fit (cloned), or the name of an opkit estimator class
        (e.g. ``"TFNORegressor"``); None means ``TFNORegressor()``.
    inputs, outputs : str or list of str, optional
        Variable names overriding the Dataset's attributes (a string may hold
        several space-separated names).
    test_fraction : float, default=0.2
        Share of the samples held out at random; ``predict``/``evaluate``/``plot``
        use them when called without a Dataset. 0 uses every sample for fitting.
        Not used when ``use_split`` applies.
    use_split : bool, default=True
        If the Dataset has a ``split`` variable (``sample``; 0 train,
        1 validation, 2 test, as opkit's solvers write with ``--n-test``) that
        flags at least one test sample, hold out exactly those samples and fit
        on all others, instead of drawing ``test_fraction`` at random.
    random_state : int or None, default=None
        Seeds the split (and the estimator, when its own ``random_state`` is
        None).

    Attributes
    ----------
    estimator_ : OperatorEstimator
        The fitted estimator.
    inputs_, outputs_ : list of str
        The variables used.
    train_samples_, test_samples_ : numpy.ndarray
        Positions along ``sample`` of each split.
    dataset_ : xarray.Dataset
        The Dataset given to ``fit`` (kept by reference, never modified).

    Examples
    --------
    >>> from opkit import OpKit
    >>> from opkit.data import load_darcy_small
    >>> kit = OpKit(test_fraction=0.2, random_state=0)  # doctest: +SKIP
    >>> kit.fit(load_darcy_small("train")).evaluate()   # doctest: +SKIP
    """

    def __init__(self, estimator=None, inputs=None, outputs=None, test_fraction=0.2, use_split=True, random_state=None):
        self.estimator = estimator
        self.inputs = inputs
        self.outputs = outputs
        self.test_fraction = test_fraction
        self.use_split = use_split
        self.random_state = random_state

    def _make_estimator(self) -> OpkitEstimator:
        if self.estimator is None:
            from .models import TFNORegressor

            est = TFNORegressor()
        elif isinstance(self.estimator, str):
            if self.estimator not in ESTIMATORS:
                load_builtin()
            if self.estimator not in ESTIMATORS:
                raise ValueError(f"unknown estimator {self.estimator!r}; choose from {sorted(ESTIMATORS)}")
            est = ESTIMATORS[self.estimator]()
        else:
            est = clone(self.estimator)
        if self.random_state is not None and est.get_params().get("random_state", 0) is None:
            est.set_params(random_state=self.random_state)
        return est

    def fit(self, ds: xr.Dataset):
        """Split ``ds`` by sample and fit the estimator on the training part.

        Parameters
        ----------
        ds : xarray.Dataset
            With a ``sample`` dim and the input/output variables.

        Returns
        -------
        self
        """
        if not isinstance(ds, xr.Dataset):
            raise TypeError(f"OpKit.fit takes an xarray.Dataset, got {type(ds).__name__}")
        if SAMPLE_DIM not in ds.dims:
            raise ValueError(f"the Dataset has no '{SAMPLE_DIM}' dimension; its dims are {tuple(ds.dims)}")
        inputs = _names(self.inputs, "opkit_inputs", ds, "inputs")
        outputs = _names(self.outputs, "opkit_outputs", ds, "outputs")
        n = ds.sizes[SAMPLE_DIM]
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        is_test = _flagged_test_samples(ds) if self.use_split else None
        if is_test is not None:
            if is_test.all():
                raise ValueError(f"the Dataset's 'split' variable flags all {n} samples as test; none is left to fit on")
            self.test_samples_, self.train_samples_ = np.flatnonzero(is_test), np.flatnonzero(~is_test)
        else:
            order = check_random_state(self.random_state).permutation(n)
            n_test = int(round(self.test_fraction * n))
            self.test_samples_ = np.sort(order[:n_test])
            self.train_samples_ = np.sort(order[n_test:])
        train = ds.isel({SAMPLE_DIM: self.train_samples_})
        estimator = self._make_estimator()
        fit_params = estimator._dataset_fit_params(train) if hasattr(estimator, "_dataset_fit_params") else {}
        self.estimator_ = estimator.fit(train[inputs], train[outputs], **fit_params)
        self.inputs_, self.outputs_ = inputs, outputs
        self.dataset_ = ds
        return self

    def _default_ds(self, ds):
        check_is_fitted(self, "estimator_")
        if ds is not None:
            return ds
        if len(self.test_samples_) == 0:
            raise ValueError("test_fraction=0 left no test samples; pass a Dataset")
        return self.dataset_.isel({SAMPLE_DIM: self.test_samples_})

    def predict(self, ds: xr.Dataset | None = None) -> xr.Dataset:
        """Predict the output variables for ``ds`` (default: the held-out samples).

        Parameters
        ----------
        ds : xarray.Dataset, optional
            Must hold the input variables seen in ``fit``.

        Returns
        -------
        xarray.Dataset
            The output variables, with coordinates and attributes.
        """
        ds = self._default_ds(ds)
        missing = [n for n in self.inputs_ if n not in ds.data_vars]
        if missing:
            raise ValueError(f"the Dataset lacks input variable(s) {missing} seen in fit")
        return self.estimator_.predict(ds[self.inputs_])

    def evaluate(self, ds: xr.Dataset | None = None) -> pd.DataFrame:
        """Relative errors per output variable (mean over samples), as the estimator's outputs allow.

        Grid outputs get the relative L2 and H1 norms of the fields (with the
        boundary conditions seen in ``fit``); vector and series outputs the
        relative Euclidean error per sample (:func:`opkit.outputs.relative_euclidean_error`).

        Parameters
        ----------
        ds : xarray.Dataset, optional
            With inputs and outputs (default: the held-out samples).

        Returns
        -------
        pandas.DataFrame
            One row per output variable: columns ``relative_l2`` and (grids)
            ``relative_h1``, plus ``n_samples``.

        Raises
        ------
        TypeError
            The estimator's outputs are symbolic (it scores them itself).
        """
        from .metrics import relative_error
        from .outputs import relative_euclidean_error

        ds = self._default_ds(ds)
        kind = getattr(self.estimator_, "output_kind", "grid")
        if kind not in ("grid", "vector", "series"):
            raise TypeError(f"OpKit.evaluate has no error for {kind!r} outputs; use the estimator's own score")
        prediction = self.predict(ds)
        rows = {}
        for name in self.outputs_:
            truth = ds[name]
            row = {}
            if kind == "grid":
                grid = self.estimator_.output_spec_.grid_dims
                bc = {d: self.estimator_.output_spec_.bc.get(d, "periodic") for d in truth.dims if d in grid and d != "time"}
                row["relative_l2"] = relative_error(prediction[name], truth, norm="l2", bc=bc)
                row["relative_h1"] = relative_error(prediction[name], truth, norm="h1", bc=bc)
            else:
                row["relative_l2"] = relative_euclidean_error(prediction[name], truth)
            row["n_samples"] = int(ds.sizes[SAMPLE_DIM])
            rows[name] = row
        return pd.DataFrame.from_dict(rows, orient="index")

    def plot(self, ds: xr.Dataset | None = None, sample: int = 0, variable: str | None = None):
        """Input, truth, prediction and error of one sample.

        Parameters
        ----------
        ds : xarray.Dataset, optional
            Default: the held-out samples.
        sample : int, default=0
            Position along ``sample``.
        variable : str, optional
            Output variable (default: the first).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .plotting import plot_prediction

        ds = self._default_ds(ds)
        prediction = self.predict(ds)
        variable = variable or self.outputs_[0]
        return plot_prediction(ds[self.inputs_], ds[self.outputs_], prediction, sample=sample, variable=variable)

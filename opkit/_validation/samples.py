"""Datasets and DataArrays seen as sequences of samples, for scikit-learn."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .spec import SAMPLE_DIM


class FieldSamples:
    """A Dataset or DataArray seen as a sequence of samples, for scikit-learn.

    scikit-learn's splitters count samples with ``X.shape[0]`` and index them with
    ``X[indices]``. A DataArray whose first dim is ``sample`` already behaves so;
    an ``xarray.Dataset`` does not (``len(ds)`` is its number of variables). Wrap it
    with :func:`as_samples` to use it in ``GridSearchCV``, ``cross_val_score`` or
    ``train_test_split``; every opkit estimator and metric unwraps it.

    Parameters
    ----------
    data : xarray.Dataset or xarray.DataArray
        Fields with a ``sample`` dimension.
    """

    def __init__(self, data):
        if not isinstance(data, (xr.Dataset, xr.DataArray)):
            raise TypeError(f"FieldSamples wraps an xarray object, got {type(data).__name__}")
        if SAMPLE_DIM not in data.dims:
            raise ValueError(f"data has no '{SAMPLE_DIM}' dimension; its dims are {tuple(data.dims)}")
        self.data = data

    @property
    def shape(self):
        """``(n_samples,)``: what scikit-learn reads to count samples."""
        return (self.data.sizes[SAMPLE_DIM],)

    def __len__(self):
        return self.data.sizes[SAMPLE_DIM]

    def __getitem__(self, index):
        # scikit-learn indexes arrays as ``X[indices, ...]``.
        if isinstance(index, tuple):
            if len(index) != 2 or index[1] is not Ellipsis:
                raise IndexError("FieldSamples is indexed along 'sample' only")
            index = index[0]
        return FieldSamples(self.data.isel({SAMPLE_DIM: np.asarray(index)}))

    def __repr__(self):
        return f"FieldSamples(n_samples={len(self)}, data={type(self.data).__name__})"


def as_samples(data):
    """Wrap an xarray object so that scikit-learn can split it by sample.

    Parameters
    ----------
    data : xarray.Dataset or xarray.DataArray
        Fields with a ``sample`` dimension.

    Returns
    -------
    FieldSamples

    Examples
    --------
    >>> from sklearn.model_selection import cross_val_score
    >>> from opkit import TFNORegressor, as_samples
    >>> from opkit.data import load_darcy_small
    >>> ds = load_darcy_small("test")
    >>> scores = cross_val_score(TFNORegressor(max_epochs=1), as_samples(ds[["a"]]),
    ...                          as_samples(ds[["u"]]), cv=2)  # doctest: +SKIP
    """
    return FieldSamples(data)


def unwrap(data):
    """Return the xarray object inside a :class:`FieldSamples`, else ``data``."""
    return data.data if isinstance(data, FieldSamples) else data

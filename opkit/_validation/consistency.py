"""Fields given to ``predict`` against those seen in ``fit``, and ``X`` against ``y``."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .samples import unwrap
from .spec import SAMPLE_DIM, FieldSpec, _jsonable


def check_consistent(spec: FieldSpec, fitted: FieldSpec, what: str) -> None:
    """Check a field given to ``predict`` against the one seen in ``fit``.

    Raises
    ------
    ValueError
        A different kind of object, different or missing variables, channels
        or grid dims.
    """
    if spec.kind != fitted.kind and "numpy" in (spec.kind, fitted.kind):
        raise ValueError(f"{what} is a {spec.kind} but fit saw a {fitted.kind}")
    if fitted.kind == "dataset" and spec.kind == "dataset" and spec.names != fitted.names:
        missing = [n for n in fitted.names if n not in spec.names]
        extra = [n for n in spec.names if n not in fitted.names]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing variable(s) {missing}")
            if extra:
                parts.append(f"unexpected variable(s) {extra}")
            raise ValueError(f"{what}: {' and '.join(parts)}; fit saw {fitted.names}")
    if spec.n_channels != fitted.n_channels:
        raise ValueError(
            f"{what} has {spec.n_channels} channel(s) but fit saw {fitted.n_channels}"
        )
    if len(spec.grid_dims) != len(fitted.grid_dims):
        raise ValueError(
            f"{what} has {len(spec.grid_dims)} grid dim(s) {spec.grid_dims} but fit saw "
            f"{len(fitted.grid_dims)} {fitted.grid_dims}"
        )
    if set(spec.grid_dims) != set(fitted.grid_dims):
        raise ValueError(f"{what} has grid dims {spec.grid_dims} but fit saw {fitted.grid_dims}")


def reorder_like(array: np.ndarray, spec: FieldSpec, fitted: FieldSpec) -> np.ndarray:
    """Transpose the grid axes of ``array`` (from ``spec``'s order) into ``fitted``'s order."""
    if spec.grid_dims == fitted.grid_dims:
        return array
    perm = [0, 1] + [2 + spec.grid_dims.index(d) for d in fitted.grid_dims]
    return np.ascontiguousarray(array.transpose(perm))


def align_samples(X, y):
    """Pair ``X`` and ``y`` by their ``sample`` coordinates, as xarray would.

    Parameters
    ----------
    X, y : xarray objects, NumPy arrays or FieldSamples

    Returns
    -------
    y
        Unchanged when either lacks a ``sample`` coordinate, when their
        lengths differ (left to the caller's count check) or when both carry
        the same labels in the same order; else reordered to ``X``'s labels.

    Raises
    ------
    ValueError
        The labels differ (naming those only one side has) or repeat.
    """
    X, y = unwrap(X), unwrap(y)
    has = [isinstance(o, (xr.Dataset, xr.DataArray)) and SAMPLE_DIM in o.coords for o in (X, y)]
    if not all(has):
        return y
    x_labels, y_labels = X[SAMPLE_DIM].values, y[SAMPLE_DIM].values
    # Different counts are reported by the caller's sample-count check.
    if len(x_labels) != len(y_labels) or np.array_equal(x_labels, y_labels):
        return y
    only_x = [v for v in x_labels if v not in set(y_labels)]
    only_y = [v for v in y_labels if v not in set(x_labels)]
    if only_x or only_y or len(np.unique(x_labels)) != len(x_labels) or len(np.unique(y_labels)) != len(y_labels):
        raise ValueError(
            f"X and y have different '{SAMPLE_DIM}' coordinates: only in X {_jsonable(only_x[:5])}, "
            f"only in y {_jsonable(only_y[:5])} (or repeated labels); pair them first, e.g. "
            f"xarray.align(X, y, join='inner'), or drop the coordinate to pair by position"
        )
    return y.sel({SAMPLE_DIM: x_labels})

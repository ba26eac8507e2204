"""What an estimator returns: the output kinds, vector data and their error.

An estimator declares its output kind once, on the class
(:attr:`opkit.estimator.OpkitEstimator.output_kind`):

``"grid"``
    Fields on a grid, described by a :class:`~opkit._validation.FieldSpec`
    (TFNO, MgNO, LSM). Scored with the relative L2 norm of the field.
``"vector"``
    A vector per sample, ``(sample, <dim>)`` (EquiNO's stress ``(sample,
    strain)``). Scored with the relative Euclidean error per sample.
``"series"``
    Values at arbitrary times per sample (``(sample, time, component)``, PROSE's
    trajectories). Scored like vectors, over all values of a sample.
``"symbolic"``
    Expressions (PROSE's equations); such an estimator defines its own score.

``predict``/``score`` and :class:`opkit.OpKit`'s evaluation follow the
declaration instead of assuming ``x``/``y``/``z`` grids.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._validation import SAMPLE_DIM, FieldSpec, _jsonable, rebuild_fields, unwrap

__all__ = ["OUTPUT_KINDS", "extract_vectors", "rebuild_vectors", "relative_euclidean_error", "output_error"]

OUTPUT_KINDS = ("grid", "vector", "series", "symbolic")


def extract_vectors(X, what: str = "X", dtype=np.float32):
    """Validate a vector per sample and return ``(array, spec)`` with array ``(sample, n)``.

    Parameters
    ----------
    X : xarray.DataArray, xarray.Dataset or numpy.ndarray
        A DataArray with dims ``(sample, <dim>)`` (any name for the vector dim,
        e.g. ``strain`` or ``component``) or ``(sample,)``; a Dataset holding one
        such variable; or a NumPy array ``(n_samples, n)`` or ``(n_samples,)``.
    what : str, default="X"
        Name used in error messages.
    dtype : numpy dtype, default=numpy.float32

    Returns
    -------
    array : numpy.ndarray
        ``(n_samples, n)``, a copy.
    spec : FieldSpec
        With no grid dims; the vector dim is its ``channel_dim`` and its
        coordinate values the ``channel_labels``.

    Raises
    ------
    ValueError
        No ``sample`` dim, more than one vector dim, or NaN/infinite values.
    TypeError
        Another type of input.
    """
    X = unwrap(X)
    if isinstance(X, xr.Dataset):
        names = [str(n) for n in X.data_vars]
        if len(names) != 1:
            raise ValueError(f"{what} as a Dataset must hold one vector variable; it holds {names}")
        values, spec = extract_vectors(X[names[0]], what, dtype)
        spec.kind, spec.attrs = "dataset", _jsonable(dict(X.attrs))
        return values, spec
    if isinstance(X, xr.DataArray):
        if SAMPLE_DIM not in X.dims:
            raise ValueError(f"{what} has no '{SAMPLE_DIM}' dimension; its dims are {tuple(X.dims)}")
        others = [d for d in X.dims if d != SAMPLE_DIM]
        if len(others) > 1:
            raise ValueError(f"{what} must be (sample, <dim>) for a vector per sample; got dims {tuple(X.dims)}")
        X = X if others else X.expand_dims("component", axis=1)
        dim = others[0] if others else "component"
        values = np.array(X.transpose(SAMPLE_DIM, dim).values, dtype=dtype, copy=True)
        labels = _jsonable(X.coords[dim].values) if dim in X.coords else list(range(X.sizes[dim]))
        name = X.name if X.name is not None else "field"
        spec = FieldSpec(kind="dataarray", names=[str(name)], grid_dims=[], coords={}, sizes={},
                         channel_dim=dim, channel_labels=labels, var_attrs={str(name): _jsonable(dict(X.attrs))},
                         attrs=_jsonable(dict(X.attrs)), dtype=str(X.dtype))
    elif isinstance(X, np.ndarray):
        if X.ndim not in (1, 2):
            raise ValueError(f"{what} as a NumPy array must be (n_samples, n) or (n_samples,); got shape {X.shape}")
        values = np.array(X.reshape(len(X), -1), dtype=dtype, copy=True)
        spec = FieldSpec(kind="numpy", names=["array"], grid_dims=[], coords={}, sizes={},
                         channel_dim="component", channel_labels=list(range(values.shape[1])), dtype=str(X.dtype))
    else:
        raise TypeError(f"{what} must be an xarray DataArray or a NumPy array, got {type(X).__name__}")
    if not np.isfinite(values).all():
        raise ValueError(f"{what} contains {int((~np.isfinite(values)).sum())} NaN or infinite value(s)")
    return values, spec


def rebuild_vectors(array, spec: FieldSpec, sample_coord=None):
    """Turn ``(sample, n)`` values back into the kind of object :func:`extract_vectors` saw.

    Parameters
    ----------
    array : numpy.ndarray
    spec : FieldSpec
        From :func:`extract_vectors`.
    sample_coord : array-like, optional
        Values of the ``sample`` coordinate.

    Returns
    -------
    xarray.DataArray, xarray.Dataset or numpy.ndarray
    """
    if spec.kind == "numpy":
        return np.asarray(array)
    if spec.kind == "dataset":
        name = spec.names[0]
        as_array = FieldSpec(**{**spec.__dict__, "kind": "dataarray"})
        da = rebuild_fields(np.asarray(array), as_array, sample_coord=sample_coord)
        return da.rename(name).to_dataset().assign_attrs(spec.attrs)
    return rebuild_fields(np.asarray(array), spec, sample_coord=sample_coord)


def _per_sample(obj, names=None) -> np.ndarray:
    """``(sample, everything else)`` values of a Dataset (variables ``names`` in order), DataArray or array."""
    obj = unwrap(obj)
    if isinstance(obj, xr.Dataset):
        names = list(names) if names is not None else [str(n) for n in obj.data_vars]
        return np.concatenate([_per_sample(obj[n]) for n in names], axis=1)
    if isinstance(obj, xr.DataArray):
        order = [SAMPLE_DIM] + sorted(str(d) for d in obj.dims if d != SAMPLE_DIM)
        values = np.asarray(obj.transpose(*order).values, dtype=np.float64)
    else:
        values = np.asarray(obj, dtype=np.float64)
    return values.reshape(len(values), -1)


def relative_euclidean_error(prediction, truth) -> float:
    """Mean over samples of ``|prediction - truth| / |truth|`` (Euclidean norms per sample).

    Parameters
    ----------
    prediction, truth : xarray.Dataset, xarray.DataArray or numpy.ndarray
        With ``sample`` first (arrays) or a ``sample`` dim; every other value of
        a sample enters its norm (a Dataset's variables by name).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Different shapes, NaN/inf in ``truth``, or a sample whose truth is zero.
    """
    names = [str(n) for n in unwrap(prediction).data_vars] if isinstance(unwrap(prediction), xr.Dataset) else None
    pred, true = _per_sample(prediction, names), _per_sample(truth, names)
    if pred.shape != true.shape:
        raise ValueError(f"prediction and truth differ in shape per sample: {pred.shape} vs {true.shape}")
    if not np.isfinite(true).all():
        raise ValueError("truth contains NaN or infinite values")
    norms = np.linalg.norm(true, axis=1)
    if (norms == 0).any():
        raise ValueError(f"the truth of sample(s) {np.flatnonzero(norms == 0)[:5].tolist()} is zero: its relative error is undefined")
    return float(np.mean(np.linalg.norm(pred - true, axis=1) / norms))


def output_error(kind: str, prediction, truth, bc=None) -> float:
    """The relative error ``score`` uses for an output kind (``score = 1 - error``).

    Parameters
    ----------
    kind : {"grid", "vector", "series"}
    prediction, truth : as returned by ``predict`` and given as ``y``
    bc : dict, optional
        Boundary conditions of a grid output (for the norm's periodicity).

    Returns
    -------
    float
        Grids: mean relative L2 norm (:func:`opkit.metrics.relative_error`);
        vectors and series: :func:`relative_euclidean_error`.

    Raises
    ------
    TypeError
        ``"symbolic"`` (an estimator with symbolic outputs scores itself) or
        an unknown kind.
    """
    if kind == "grid":
        from .metrics import relative_error

        return relative_error(prediction, truth, norm="l2", bc=bc)
    if kind in ("vector", "series"):
        return relative_euclidean_error(prediction, truth)
    raise TypeError(f"no default error for output kind {kind!r}; the estimator must define its own score")

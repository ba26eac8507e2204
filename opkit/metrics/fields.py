"""Sobolev norms, relative errors and scorers of xarray fields.

:func:`sobolev_norm`, :func:`relative_error` and :func:`sobolev_scorer` read
the spatial dims, grid spacings and boundary conditions from the data and
evaluate the kernel the torch losses (:mod:`opkit.metrics.losses`) use.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import torch
import xarray as xr

from .._validation import unwrap
from ._kernel import BOUNDARY_CONDITIONS, SPATIAL_DIMS, UNIFORM_RTOL, _order_from_norm, _sobolev_squared

__all__ = ["relative_error", "sobolev_norm", "sobolev_scorer"]


# ---------------------------------------------------------------------------
# xarray side
# ---------------------------------------------------------------------------


def _spatial_dims(u, dims):
    """The dims to reduce over: ``dims`` checked against ``u``, or the x/y/z dims ``u`` has."""
    if dims is None:
        found = tuple(d for d in u.dims if d in SPATIAL_DIMS)
        if not found:
            raise ValueError(
                f"no spatial dim among {tuple(u.dims)}: expected some of {SPATIAL_DIMS}, "
                "or pass dims="
            )
        return found
    dims = (dims,) if isinstance(dims, str) else tuple(dims)
    missing = [d for d in dims if d not in u.dims]
    if missing:
        raise ValueError(f"dims {missing} not found among the data's dims {tuple(u.dims)}")
    return dims


def _bc_mapping(bc, dims):
    """``bc`` given as a string, a mapping or a per-dim sequence, as a dict dim -> bc."""
    if bc is None:
        return {}
    if isinstance(bc, str):
        return {d: bc for d in dims}
    if isinstance(bc, Mapping):
        return dict(bc)
    bc = tuple(bc)
    if len(bc) != len(dims):
        raise ValueError(f"bc has {len(bc)} entries for {len(dims)} spatial dims {dims}")
    return dict(zip(dims, bc))


def _resolve_bc(dims, bc, *attr_sources):
    """Boundary condition of each dim: from ``bc``, else ``bc_<dim>`` in the first attrs having it.

    Warns (``UserWarning``) and assumes periodic for dims found nowhere.
    """
    given = _bc_mapping(bc, dims)
    resolved, missing = {}, []
    for d in dims:
        candidates = (given.get(d), *(attrs.get(f"bc_{d}") for attrs in attr_sources))
        value = next((c for c in candidates if c is not None), None)
        if value is None:
            missing.append(d)
            value = "periodic"
        value = str(value).strip().lower()
        if value not in BOUNDARY_CONDITIONS:
            raise ValueError(
                f"boundary condition of dim {d!r} is {value!r}; "
                f"expected one of {BOUNDARY_CONDITIONS}"
            )
        resolved[d] = value
    if missing:
        warnings.warn(
            f"boundary condition missing for dim(s) {', '.join(map(repr, missing))} "
            f"(no bc argument and no {', '.join('bc_' + d for d in missing)} attribute); "
            "assumed periodic",
            UserWarning,
            stacklevel=4,
        )
    return resolved


def _grid_spacing(u, dim, periodic):
    """Uniform step along ``dim`` from its 1-D coordinate, or of the unit interval without one."""
    n = u.sizes[dim]
    if dim not in u.coords:
        return 1.0 / n if periodic else 1.0 / max(n - 1, 1)
    coord = np.asarray(u[dim].values)
    if coord.ndim != 1 or not np.issubdtype(coord.dtype, np.number):
        raise ValueError(f"coordinate of dim {dim!r} must be 1-D and numeric, got {coord.dtype}")
    if n < 2:
        raise ValueError(f"dim {dim!r} has a single point: its grid spacing is undefined")
    coord = coord.astype(np.float64)
    steps = np.diff(coord)
    step = (coord[-1] - coord[0]) / (n - 1)
    # Besides the relative tolerance, allow the round-off of the coordinate's own dtype
    # (a float32 coordinate of 512 points is uniform only to ~1e-5 relative).
    eps = np.finfo(u[dim].dtype).eps if np.issubdtype(u[dim].dtype, np.floating) else 0.0
    round_off = 4 * eps * np.max(np.abs(coord))
    if step == 0 or not np.all(np.abs(steps - step) <= UNIFORM_RTOL * abs(step) + round_off):
        raise ValueError(
            f"coordinate of dim {dim!r} is not uniform (steps from {steps.min():.6g} to "
            f"{steps.max():.6g}); Sobolev norms need a uniform grid"
        )
    return abs(step)


def _require_finite(u, values, kept, what):
    """Refuse NaN or infinite values (as fit and predict do), naming ``what`` and the first bad index."""
    if not np.issubdtype(values.dtype, np.floating) or np.isfinite(values).all():
        return
    bad = ~np.isfinite(values)
    first = np.argwhere(bad)[0]
    where = ", ".join(
        f"{d}={u[d].values[i].item()!r}" if d in u.coords else f"{d} index {i}" for d, i in zip(kept, first)
    )
    name = f" (variable {u.name!r})" if u.name is not None else ""
    raise ValueError(
        f"{what}{name} contains {int(bad.sum())} NaN or infinite value(s), the first at "
        f"{where or 'the only field'}; remove or fill them (e.g. .fillna) before measuring an error."
    )


def _squared_norm(u, s, dims, bc, homogeneous, fallback_attrs=(), what="u"):
    """Squared H^s norm of a DataArray over its spatial dims, other dims kept.

    ``bc`` entries override the ``bc_<dim>`` attributes of ``u``, then of each
    mapping in ``fallback_attrs`` (e.g. the enclosing Dataset's attrs).
    """
    dims = _spatial_dims(u, dims)
    resolved = _resolve_bc(dims, bc, u.attrs, *fallback_attrs)
    periodic = tuple(resolved[d] == "periodic" for d in dims)
    spacings = tuple(_grid_spacing(u, d, p) for d, p in zip(dims, periodic))
    kept = [d for d in u.dims if d not in dims]
    values = np.asarray(u.transpose(*kept, *dims).values)
    if np.iscomplexobj(values) or not (
        np.issubdtype(values.dtype, np.number) or values.dtype == bool
    ):
        raise TypeError(f"Sobolev norms need real numeric data, got dtype {values.dtype}")
    _require_finite(u, values, kept, what)
    # The metric is computed in float64 whatever the storage precision.
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64))
    names = tuple(f"dim {d!r}" for d in dims)
    squared = _sobolev_squared(tensor, s, periodic, spacings, homogeneous, names)
    coords = {name: c for name, c in u.coords.items() if not set(c.dims) & set(dims)}
    return xr.DataArray(squared.numpy(), dims=kept, coords=coords, name=u.name)


def _numpy_as_field(values, template=None):
    """A NumPy array as a DataArray: on ``template``'s dims and coords, or (sample, x[, y[, z]])."""
    values = np.asarray(values)
    if template is not None:
        if values.shape != template.shape:
            raise ValueError(
                f"array of shape {values.shape} does not match the field's dims "
                f"{dict(template.sizes)}"
            )
        return template.copy(data=values)
    if not 2 <= values.ndim <= 1 + len(SPATIAL_DIMS):
        raise ValueError(
            "NumPy fields must have shape (n_samples, *spatial) with 1 to 3 spatial dims, "
            f"got shape {values.shape}"
        )
    return xr.DataArray(values, dims=("sample",) + SPATIAL_DIMS[: values.ndim - 1])


def _aligned(pred, true):
    """``pred`` in ``true``'s dim order, once both are checked for equal dims, sizes, coords."""
    if set(pred.dims) != set(true.dims):
        raise ValueError(f"pred has dims {tuple(pred.dims)} but true has dims {tuple(true.dims)}")
    mismatched = [
        f"{d!r} ({pred.sizes[d]} vs {true.sizes[d]})"
        for d in true.dims
        if pred.sizes[d] != true.sizes[d]
    ]
    if mismatched:
        raise ValueError(f"pred and true differ in size along {', '.join(mismatched)}")
    pred = pred.transpose(*true.dims)
    try:
        pred, true = xr.align(pred, true, join="exact")
    except ValueError as err:
        raise ValueError(f"pred and true have different coordinates: {err}") from None
    return pred, true


def _matching_pair(pred, true):
    """``pred`` and ``true`` as two DataArrays on the same grid, or two Datasets."""
    if isinstance(pred, xr.Dataset) or isinstance(true, xr.Dataset):
        if not (isinstance(pred, xr.Dataset) and isinstance(true, xr.Dataset)):
            raise TypeError("pred and true must both be Datasets when one of them is")
        if set(pred.data_vars) != set(true.data_vars):
            raise ValueError(
                f"pred has variables {sorted(pred.data_vars)} but true has {sorted(true.data_vars)}"
            )
        return pred, true
    if isinstance(true, xr.DataArray):
        pred = pred if isinstance(pred, xr.DataArray) else _numpy_as_field(pred, true)
    elif isinstance(pred, xr.DataArray):
        true = _numpy_as_field(true, pred)
    else:
        pred, true = np.asarray(pred), np.asarray(true)
        if pred.shape != true.shape:
            raise ValueError(f"pred and true differ in shape: {pred.shape} vs {true.shape}")
        pred, true = _numpy_as_field(pred), _numpy_as_field(true)
    return _aligned(pred, true)


def sobolev_norm(u, s=0.0, dims=None, bc=None, homogeneous=False):
    """H^s norm of a field over its spatial dims, one value per index of the other dims.

    Parameters
    ----------
    u : xarray.DataArray or xarray.Dataset or numpy.ndarray
        The field. A Dataset is handled variable by variable. A NumPy array is
        read as ``(n_samples, *spatial)`` on the unit domain.
    s : float or {"l2", "h1", "h-1"}, default 0.0
        Sobolev order. Any real number along periodic dims; an integer
        ``>= 0`` as soon as one reduced dim is non-periodic.
    dims : str or sequence of str, optional
        Dims to reduce over. Default: those of ``("x", "y", "z")`` in ``u``.
    bc : str, dict or sequence, optional
        Boundary condition per dim, each ``"periodic"``, ``"dirichlet"`` or
        ``"neumann"`` (one string for all, a dict dim -> bc, or one per dim in
        ``dims`` order). Dims not given are read from the ``bc_<dim>``
        attribute of the variable, then of the Dataset; if absent they are
        taken periodic with a ``UserWarning`` (NumPy input: periodic, silently).
    homogeneous : bool, default False
        Return the seminorm (weight ``|κ|^{2s}``; the mean is dropped on fully
        periodic grids) instead of the full norm.

    Returns
    -------
    xarray.DataArray or xarray.Dataset or numpy.ndarray
        The norm, with the non-reduced dims and their coordinates (e.g.
        ``sample``, ``time``, ``channel``); a Dataset for a Dataset, an array
        for an array.

    Raises
    ------
    ValueError
        If a dim is missing, a coordinate is not uniform (the dim is named), a
        bc is unknown, a bounded dim has too few points, or ``s`` is negative
        or fractional while a reduced dim is non-periodic (the dim is named).

    Warns
    -----
    UserWarning
        If the boundary condition of a reduced dim is nowhere to be found.

    See Also
    --------
    sobolev_norm_torch : the same norm on tensors, differentiable.

    Notes
    -----
    The grid conventions (periodic nodes exclude the right end point, bounded
    nodes include both) and the normalisation are in the :mod:`opkit.metrics`
    module docstring.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> x = np.arange(32) / 32
    >>> u = xr.DataArray(np.sin(2 * np.pi * x), dims="x", coords={"x": x},
    ...                  attrs={"bc_x": "periodic"})
    >>> round(float(sobolev_norm(u, s=0)) ** 2, 12)  # ∫ sin² over [0, 1)
    0.5
    >>> round(float(sobolev_norm(u, s=1)) ** 2, 6)  # (1 + 4π²) / 2
    20.239209
    """
    s = _order_from_norm(s)
    u = unwrap(u)
    if isinstance(u, xr.Dataset):
        return xr.Dataset(
            {
                name: np.sqrt(_squared_norm(var, s, dims, bc, homogeneous, (u.attrs,)))
                for name, var in u.data_vars.items()
            }
        )
    if isinstance(u, xr.DataArray):
        return np.sqrt(_squared_norm(u, s, dims, bc, homogeneous))
    if isinstance(u, torch.Tensor):
        raise TypeError("use sobolev_norm_torch for torch tensors")
    field = _numpy_as_field(u)
    bc = "periodic" if bc is None else bc
    return np.sqrt(_squared_norm(field, s, dims, bc, homogeneous)).values


def _relative_error_dataarray(pred, true, s, dims, bc, fallback_attrs=()):
    """‖pred − true‖ / ‖true‖ per index of the non-spatial dims of aligned DataArrays."""
    dims = _spatial_dims(true, dims)
    resolved = _resolve_bc(dims, bc, true.attrs, pred.attrs, *fallback_attrs)
    for what, u in (("pred", pred), ("true", true)):
        values = np.asarray(u.transpose(*[d for d in u.dims if d not in dims], *dims).values)
        _require_finite(u, values, [d for d in u.dims if d not in dims], what)
    difference = pred - true
    # Measure both on one grid, whichever of the two carried the coordinates.
    true = true.assign_coords(difference.coords)
    error_sq = _squared_norm(difference, s, dims, resolved, homogeneous=False)
    true_sq = _squared_norm(true, s, dims, resolved, homogeneous=False)
    return np.sqrt(error_sq / true_sq).rename(true.name)


def relative_error(pred, true, norm="l2", dims=None, bc=None, reduce=True):
    """Relative Sobolev error ``‖pred − true‖ / ‖true‖``, per sample or averaged.

    Parameters
    ----------
    pred, true : xarray.DataArray, xarray.Dataset or numpy.ndarray
        Prediction and reference on the same grid. NumPy arrays are
        ``(n_samples, *spatial)`` on the unit domain, or take the dims and
        coordinates of the other argument if that one is a DataArray.
    norm : {"l2", "h1", "h-1"} or float, default "l2"
        The norm: ``"l2"`` (s = 0), ``"h1"`` (s = 1), ``"h-1"`` (s = -1) or
        the order s itself.
    dims : str or sequence of str, optional
        Spatial dims, as in :func:`sobolev_norm`.
    bc : str, dict or sequence, optional
        Boundary conditions, as in :func:`sobolev_norm`; read from the attrs of
        ``true`` first, then ``pred``. Two NumPy arrays default to periodic.
    reduce : bool, default True
        Return the mean over every non-spatial index (and over the variables
        of a Dataset) as a float; otherwise the per-index errors.

    Returns
    -------
    float or xarray.DataArray or xarray.Dataset
        The mean relative error, or one error per index of the non-spatial
        dims (a Dataset of them for Datasets).

    Raises
    ------
    ValueError
        If the two fields differ in dims, sizes, coordinates or variables (the
        message names them), or for any reason :func:`sobolev_norm` raises.

    Notes
    -----
    A reference with zero norm gives an infinite (or NaN) error; NaNs in the
    data propagate to the result.

    Examples
    --------
    >>> import numpy as np
    >>> true = np.random.default_rng(0).normal(size=(3, 16, 16))
    >>> round(relative_error(1.05 * true, true, norm="h1"), 12)
    0.05
    """
    s = _order_from_norm(norm)
    pred, true = unwrap(pred), unwrap(true)
    both_numpy = not isinstance(pred, (xr.DataArray, xr.Dataset)) and not isinstance(
        true, (xr.DataArray, xr.Dataset)
    )
    if both_numpy and bc is None:
        bc = "periodic"
    pred, true = _matching_pair(pred, true)
    if isinstance(true, xr.Dataset):
        errors = xr.Dataset(
            {
                name: _relative_error_dataarray(
                    *_aligned(pred[name], true[name]), s, dims, bc, (true.attrs, pred.attrs)
                )
                for name in true.data_vars
            }
        )
        if reduce:
            return float(np.mean([errors[name].mean() for name in errors.data_vars]))
        return errors
    errors = _relative_error_dataarray(pred, true, s, dims, bc)
    return float(errors.mean()) if reduce else errors


def _relative_error_score(y_true, y_pred, norm="l2", dims=None, bc=None):
    """Score function for :func:`sklearn.metrics.make_scorer` (note the argument order)."""
    return relative_error(y_pred, y_true, norm=norm, dims=dims, bc=bc, reduce=True)


def sobolev_scorer(norm="l2", dims=None, bc=None):
    """A scikit-learn scorer of the mean relative Sobolev error (negated: higher is better).

    Parameters
    ----------
    norm : {"l2", "h1", "h-1"} or float, default "l2"
        The norm, as in :func:`relative_error`.
    dims, bc : optional
        Passed to :func:`relative_error`.

    Returns
    -------
    callable
        A scorer ``scorer(estimator, X, y)`` returning ``-relative_error(
        estimator.predict(X), y, norm)``; ``predict`` may return a DataArray,
        a Dataset or a NumPy array.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> search = GridSearchCV(estimator, param_grid, scoring=sobolev_scorer("h1"))  # doctest: +SKIP
    """
    _order_from_norm(norm)
    from sklearn.metrics import make_scorer

    return make_scorer(
        _relative_error_score, greater_is_better=False, norm=norm, dims=dims, bc=bc
    )

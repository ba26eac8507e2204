"""From an xarray object or NumPy array to a ``(sample, channel, *grid)`` array and its :class:`FieldSpec`."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .checks import _boundary_conditions, _check_uniform, _finite_check
from .lazy import LazyFields, _is_dask
from .samples import unwrap
from .spec import CHANNEL_DIMS, SAMPLE_DIM, FieldSpec, _jsonable

_NUMPY_GRID_DIMS = {1: ("x",), 2: ("x", "y"), 3: ("x", "y", "z")}


def extract_fields(X, what: str = "X", bc=None, lazy=False):
    """Validate a field and return ``(array, spec)`` with array ``(sample, channel, *grid)``.

    Parameters
    ----------
    X : xarray.Dataset, xarray.DataArray, FieldSamples or numpy.ndarray
        Dataset variables become channels in their order; a DataArray with a
        dim from :data:`CHANNEL_DIMS` uses it as channels; a NumPy array
        ``(n_samples, *spatial)`` is one channel on the unit square.
    what : str, default="X"
        Name used in error messages.
    bc : dict, optional
        Boundary conditions overriding the ``bc_<dim>`` attributes.
    lazy : bool, default=False
        Keep dask-backed variables on disk: return a :class:`LazyFields` that
        reads samples only when asked.

    Returns
    -------
    array : numpy.ndarray or LazyFields
        float32 array ``(n_samples, n_channels, *grid)``; never a view that
        could write back into the input.
    spec : FieldSpec

    Raises
    ------
    ValueError
        Missing ``sample`` dim, NaN/inf values, a non-uniform coordinate,
        variables with different dims, or an unknown boundary condition.
    TypeError
        An input of another type.
    """
    X = unwrap(X)
    if isinstance(X, np.ndarray) or (hasattr(X, "__array__") and not isinstance(X, (xr.Dataset, xr.DataArray))):
        return _extract_numpy(np.asarray(X), what)
    if isinstance(X, xr.DataArray):
        return _extract_dataarray(X, what, bc, lazy)
    if isinstance(X, xr.Dataset):
        return _extract_dataset(X, what, bc, lazy)
    raise TypeError(
        f"{what} must be an xarray Dataset or DataArray (or a NumPy array), got {type(X).__name__}"
    )


def _extract_numpy(array: np.ndarray, what: str):
    if array.ndim < 2 or array.ndim > 4:
        raise ValueError(
            f"{what} as a NumPy array must be (n_samples, *spatial) with 1 to 3 spatial "
            f"axes; got shape {array.shape}"
        )
    grid_dims = list(_NUMPY_GRID_DIMS[array.ndim - 1])
    data = np.array(array, dtype=np.float32, copy=True)[:, None]
    _finite_check(data, what, ["array"])
    sizes = dict(zip(grid_dims, array.shape[1:]))
    spec = FieldSpec(
        kind="numpy",
        names=["array"],
        grid_dims=grid_dims,
        coords={d: {"values": None, "attrs": {}} for d in grid_dims},
        sizes=sizes,
        bc={d: "periodic" for d in grid_dims},
        dtype=str(array.dtype),
    )
    return data, spec


def _grid_coords(obj, grid_dims, what):
    coords = {}
    for dim in grid_dims:
        if dim in obj.coords:
            coord = obj.coords[dim]
            values = np.asarray(coord.values)
            _check_uniform(values, dim, what)
            coords[dim] = {"values": _jsonable(values), "attrs": _jsonable(dict(coord.attrs))}
        else:
            coords[dim] = {"values": None, "attrs": {}}
    return coords


def _require_sample(obj, what):
    if SAMPLE_DIM not in obj.dims:
        raise ValueError(
            f"{what} has no '{SAMPLE_DIM}' dimension; its dims are {tuple(obj.dims)}. "
            f"Rename the dimension that indexes independent instances, e.g. "
            f".rename({{'batch': '{SAMPLE_DIM}'}}), or add one with .expand_dims('{SAMPLE_DIM}')."
        )


def _extract_dataarray(da: xr.DataArray, what: str, bc, lazy=False):
    _require_sample(da, what)
    channel_dims = [d for d in da.dims if d in CHANNEL_DIMS]
    if len(channel_dims) > 1:
        raise ValueError(f"{what} has several channel dims {channel_dims}; stack them into one")
    channel_dim = channel_dims[0] if channel_dims else None
    grid_dims = [d for d in da.dims if d not in (SAMPLE_DIM, channel_dim)]
    order = [SAMPLE_DIM] + ([channel_dim] if channel_dim else []) + grid_dims
    labels = None
    if channel_dim is not None:
        labels = (
            _jsonable(da.coords[channel_dim].values)
            if channel_dim in da.coords
            else list(range(da.sizes[channel_dim]))
        )
    name = da.name if da.name is not None else "field"
    channel_names = [name] if labels is None else [str(l) for l in labels]
    if lazy and _is_dask(da):
        ordered = da.transpose(*order).data
        arrays = [ordered] if channel_dim is None else [ordered[:, c] for c in range(ordered.shape[1])]
        values = LazyFields(arrays, what, channel_names)
    else:
        values = np.array(da.transpose(*order).values, dtype=np.float32, copy=True)
        if channel_dim is None:
            values = values[:, None]
        _finite_check(values, what, channel_names)
    spec = FieldSpec(
        kind="dataarray",
        names=[str(name)],
        grid_dims=grid_dims,
        coords=_grid_coords(da, grid_dims, what),
        sizes={d: int(da.sizes[d]) for d in grid_dims},
        channel_dim=channel_dim,
        channel_labels=labels,
        var_attrs={str(name): _jsonable(dict(da.attrs))},
        attrs=_jsonable(dict(da.attrs)),
        bc=_boundary_conditions(da, grid_dims, what, bc),
        dtype=str(da.dtype),
    )
    return values, spec


def _extract_dataset(ds: xr.Dataset, what: str, bc, lazy=False):
    _require_sample(ds, what)
    names = [str(n) for n in ds.data_vars]
    if not names:
        raise ValueError(f"{what} is a Dataset without data variables")
    first = ds[names[0]]
    for name in names:
        var = ds[name]
        if SAMPLE_DIM not in var.dims:
            raise ValueError(
                f"{what}: variable '{name}' has no '{SAMPLE_DIM}' dimension (dims {var.dims}); "
                "select only per-sample fields, e.g. ds[['a', 'b']]"
            )
        if set(var.dims) != set(first.dims):
            raise ValueError(
                f"{what}: variables '{names[0]}' {first.dims} and '{name}' {var.dims} have "
                "different dims; all variables of one Dataset become channels of one grid"
            )
    grid_dims = [d for d in first.dims if d != SAMPLE_DIM]
    order = [SAMPLE_DIM] + grid_dims
    if lazy and any(_is_dask(ds[n]) for n in names):
        values = LazyFields([ds[n].transpose(*order).data for n in names], what, names)
    else:
        values = np.stack(
            [np.asarray(ds[n].transpose(*order).values, dtype=np.float32) for n in names], axis=1
        )
        _finite_check(values, what, names)
    spec = FieldSpec(
        kind="dataset",
        names=names,
        grid_dims=grid_dims,
        coords=_grid_coords(ds, grid_dims, what),
        sizes={d: int(ds.sizes[d]) for d in grid_dims},
        var_attrs={n: _jsonable(dict(ds[n].attrs)) for n in names},
        attrs=_jsonable(dict(ds.attrs)),
        bc=_boundary_conditions(ds, grid_dims, what, bc),
        dtype=str(first.dtype),
    )
    return values, spec

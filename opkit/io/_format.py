"""opkit's netCDF-4 storage layout, defined once for the solvers and :func:`opkit.io.to_netcdf`.

Engine h5netcdf; floating fields (variables with a spatial dim) stored
float32, zlib level 4 with shuffle, in HDF5 chunks of one sample (split along
``time`` above 4 MiB); coordinates without fill value; attribute values
converted to what netCDF can store. Only numpy and json are imported here, so
``solvers`` can use this module without pulling in the estimators.
"""

from __future__ import annotations

import json
import numbers

import numpy as np

__all__ = [
    "ENGINE",
    "MAX_CHUNK_BYTES",
    "SPATIAL_DIMS",
    "attr_value",
    "canonical_json",
    "clean_attrs",
    "is_field",
    "storage_encoding",
    "to_storage",
]

#: xarray engine for every file opkit writes.
ENGINE = "h5netcdf"
#: HDF5 chunks of a field hold one sample, split along time above this size.
MAX_CHUNK_BYTES = 4 * 2**20
#: Dimensions that make a variable a field (stored float32, compressed).
SPATIAL_DIMS = ("x", "y", "z")


def canonical_json(obj):
    """Compact JSON with sorted keys and no NaN: the same text for the same value.

    Parameters
    ----------
    obj : JSON-able object

    Returns
    -------
    str
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def attr_value(value, to_json=canonical_json):
    """A netCDF-storable version of an attribute value (None: drop it).

    Booleans become int8 0/1, numbers and strings stay, numeric sequences
    become arrays, dicts and other sequences become JSON text (``to_json``),
    anything else its ``str``.

    Parameters
    ----------
    value : object
    to_json : callable, optional
        Turns a dict or a list of strings into text.

    Returns
    -------
    object or None
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        # netCDF has no boolean type; 0/1 reads back everywhere.
        return np.int8(bool(value))
    if isinstance(value, (str, numbers.Number, np.generic)):
        return value
    if isinstance(value, dict):
        return to_json(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        return arr if arr.dtype.kind in "iuf" else to_json([str(v) for v in np.ravel(arr)])
    return str(value)


def clean_attrs(attrs, to_json=canonical_json):
    """The storable attributes of ``attrs`` (:func:`attr_value` of each; None dropped).

    Parameters
    ----------
    attrs : dict
    to_json : callable, optional
        See :func:`attr_value`.

    Returns
    -------
    dict
    """
    out = {}
    for key, value in attrs.items():
        v = attr_value(value, to_json)
        if v is not None:
            out[key] = v
    return out


def is_field(var):
    """Whether ``var`` has a spatial dim (x, y or z).

    Parameters
    ----------
    var : xarray.Variable or xarray.DataArray

    Returns
    -------
    bool
    """
    return any(d in SPATIAL_DIMS for d in var.dims)


def to_storage(ds):
    """Cast floating fields (variables with a spatial dim) to float32.

    Coordinates and per-sample scalars keep their dtype. The cast happens once,
    before a part is written, so every route to the final file sees the same
    float32 values.

    Parameters
    ----------
    ds : xarray.Dataset

    Returns
    -------
    xarray.Dataset
    """
    out = ds.copy()
    for name, var in ds.data_vars.items():
        if is_field(var) and np.issubdtype(var.dtype, np.floating) and var.dtype != np.float32:
            out[name] = var.astype(np.float32)
    return out


def storage_encoding(ds):
    """Encoding of a written file: compression and chunking per variable.

    Fields: zlib level 4, shuffle, HDF5 chunks of one sample (split along
    ``time`` so a chunk stays under 4 MiB). Coordinates: no fill value.

    Parameters
    ----------
    ds : xarray.Dataset

    Returns
    -------
    dict
    """
    enc = {}
    for name, var in ds.variables.items():
        if name in ds.coords:
            enc[name] = {"_FillValue": None} if np.issubdtype(var.dtype, np.floating) else {}
            continue
        if "sample" not in var.dims or var.ndim < 2:
            enc[name] = {}
            continue
        chunks = [1 if d == "sample" else n for d, n in zip(var.dims, var.shape)]
        nbytes = var.dtype.itemsize * int(np.prod(chunks))
        if nbytes > MAX_CHUNK_BYTES and "time" in var.dims:
            t = var.dims.index("time")
            pieces = -(-nbytes // MAX_CHUNK_BYTES)
            chunks[t] = max(1, -(-chunks[t] // pieces))
        enc[name] = {"zlib": True, "complevel": 4, "shuffle": True, "chunksizes": tuple(chunks)}
    return enc

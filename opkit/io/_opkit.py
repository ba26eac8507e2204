"""opkit's own netCDF-4 files: what the solvers and :func:`opkit.io.to_netcdf` write.

Reading goes through xarray's h5netcdf engine with dask chunks along
``sample``; xarray keeps the file open until the Dataset is closed. Writing
uses the storage layout of :mod:`opkit.io._format` (engine h5netcdf, floating
fields float32, zlib level 4 with shuffle, HDF5 chunks of one sample) into a
temporary file in the destination folder, fsync'ed and renamed.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import xarray as xr

from ._common import require_kind, samples_per_chunk, SPATIAL
from ._format import ENGINE, clean_attrs, storage_encoding

NAME = "opkit"
DESCRIPTION = "opkit's own netCDF-4 (solver output, opkit.io.to_netcdf): dims sample, time, x, y, z"
DETECTION = "HDF5/netCDF-4 with a netCDF dimension named 'sample'"


def matches(p):
    return p.kind == "hdf5" and "sample" in p.dimension_scales


def read(path, p, chunks=None):
    require_kind(NAME, p, ("hdf5", "mat73"), "an HDF5/netCDF-4 file")
    import h5py

    with h5py.File(path, "r") as f:
        if "sample" not in f:
            raise ValueError(f"{NAME}: {path} has no 'sample' dimension; opkit files are indexed by sample")
        n = f["sample"].shape[0]
        per = 0
        for name, obj in f.items():
            if isinstance(obj, h5py.Dataset) and obj.ndim >= 1 and obj.shape[0] == n and name != "sample":
                per = max(per, obj.dtype.itemsize * int(np.prod(obj.shape[1:])))
    k = samples_per_chunk(n, per, chunks)
    try:
        with warnings.catch_warnings():
            # 1-D per-sample variables are stored in long HDF5 chunks (the
            # unlimited sample dim); splitting those is harmless and expected.
            warnings.filterwarnings("ignore", message="The specified chunks separate the stored chunks")
            ds = xr.open_dataset(path, engine=ENGINE, chunks={"sample": k})
    except Exception as err:
        raise ValueError(f"{NAME}: xarray cannot open {path} as netCDF-4 ({type(err).__name__}: {err})") from None
    previous = ds.attrs.get("source_format")
    if previous and previous != NAME:
        # The file was converted from another format: keep that provenance.
        ds.attrs["original_source_format"] = previous
    ds.attrs["source_format"] = NAME
    return ds


def _readable_json(obj):
    # Attributes of to_netcdf files keep json.dumps' spacing and stringify what JSON lacks.
    return json.dumps(obj, sort_keys=True, default=str)


def _clean_attrs(attrs):
    return clean_attrs(attrs, _readable_json)


def write(ds, path, *, dtype="float32"):
    """See :func:`opkit.io.to_netcdf`."""
    from ..serialization import atomic_path

    if isinstance(ds, xr.DataArray):
        if ds.name is None:
            raise ValueError("to_netcdf: the DataArray has no name; give it one (da.rename('u')) or pass a Dataset")
        ds = ds.to_dataset()
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"to_netcdf writes an xarray Dataset or DataArray, got {type(ds).__name__}")
    out = ds.copy()
    inputs = set(str(ds.attrs.get("opkit_inputs", "")).split())
    outputs = set(str(ds.attrs.get("opkit_outputs", "")).split())
    for name, var in ds.data_vars.items():
        attrs = dict(var.attrs)
        attrs.setdefault("opkit_role", "input" if name in inputs else "output" if name in outputs else "auxiliary")
        field = any(d in SPATIAL for d in var.dims)
        if dtype is not None and field and np.issubdtype(var.dtype, np.floating) and var.dtype != np.dtype(dtype):
            var = var.astype(dtype)
        out[name] = var.copy(deep=False)
        out[name].attrs = _clean_attrs(attrs)
    for name in out.variables:
        # A source file's encoding (its chunks, compression, fill values) must
        # not leak into ours; storage_encoding below is the whole encoding.
        out[name].encoding = {}
    for name in out.coords:
        out[name].attrs = _clean_attrs(out[name].attrs)
    attrs = {"Conventions": "CF-1.10"}
    attrs.update(ds.attrs)
    out.attrs = _clean_attrs(attrs)
    encoding = storage_encoding(out)
    with atomic_path(path, suffix=".nc.tmp") as tmp:
        out.to_netcdf(tmp, engine=ENGINE, encoding=encoding)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    return path

"""The Well's HDF5 schema (Ohana et al., "The Well"; PolymathicAI/the_well).

Reading. Root attributes ``dataset_name``, ``grid_type``, ``n_spatial_dims``,
``n_trajectories``, ``simulation_parameters`` (+ one attribute per parameter);
``dimensions/`` (attribute ``spatial_dims``; datasets ``time`` and one per
spatial dim); ``boundary_conditions/<name>/`` (``associated_dims``,
``bc_type`` ∈ periodic | wall | open); ``scalars/``; ``t0_fields/``,
``t1_fields/``, ``t2_fields/``. A field is stored (n_traj, n_steps,
*spatial[, D[, D]]) with the leading axes that do not vary
(``sample_varying``/``time_varying`` false) and the spatial axes with
``dim_varying`` false left out; the reader maps what is there onto
``sample``, ``time``, the spatial dims and ``component`` (t1) or
``component``, ``component_2`` (t2), labelled by the spatial dim names.

Boundary types become the three values opkit's estimators know: periodic →
``periodic``; wall → ``dirichlet`` (no-slip/no-penetration walls fix the
velocity); open → ``neumann`` (outflow, zero normal gradient). The Well's own
word is kept in ``the_well_bc_<dim>``.

Writing (:func:`write`) is the inverse for opkit-convention Datasets, in
sample-chunked passes so that a lazily opened Dataset is never loaded whole.
The Dataset's global attributes travel in the root attribute ``opkit_attrs``
(JSON) and each variable's attributes on its HDF5 dataset, so reading the
file back gives the same Dataset.
"""

from __future__ import annotations

import json
import warnings

import numpy as np

from ._common import coord, file_token, finish, lazy, missing, require_kind, samples_per_chunk, SPATIAL, variable
from ._detect import decode

NAME = "the-well"
DESCRIPTION = "The Well HDF5 (dimensions/, boundary_conditions/, scalars/, t0_fields/ t1_fields/ t2_fields/)"
DETECTION = "HDF5 with groups 'dimensions' and one of 't0_fields', 't1_fields', 't2_fields'"

_FROM_WELL = {"periodic": "periodic", "wall": "dirichlet", "open": "neumann"}
_TO_WELL = {"periodic": "periodic", "dirichlet": "wall", "neumann": "open"}
_TENSOR_DIMS = {0: (), 1: ("component",), 2: ("component", "component_2")}
_RESERVED_VAR_ATTRS = {"dim_varying", "sample_varying", "time_varying", "symmetric", "antisymmetric", "component_labels", "opkit_dims"}


def matches(p):
    return p.kind == "hdf5" and "dimensions" in p.groups and any(g in p.groups for g in ("t0_fields", "t1_fields", "t2_fields"))


def _flag(obj, name, default):
    value = obj.attrs.get(name, default)
    value = decode(value)
    if isinstance(value, (list, np.ndarray)):
        return [bool(v) for v in value]
    return bool(value)


def _names(value):
    value = decode(value)
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def read(path, p, chunks=None):
    require_kind(NAME, p, ("hdf5", "mat73"), "an HDF5/netCDF-4 file")
    import h5py

    f = h5py.File(path, "r")
    try:
        ds = _read(path, f, chunks)
    except BaseException:
        f.close()
        raise
    ds.set_close(f.close)
    return ds


def _found(f):
    import h5py

    return {f"{k} {tuple(v.shape)}" if isinstance(v, h5py.Dataset) else f"{k}/" for k, v in f.items()}


def _read(path, f, chunks):
    if "dimensions" not in f:
        raise missing(NAME, "group 'dimensions'", _found(f))
    dims_group = f["dimensions"]
    if "spatial_dims" not in dims_group.attrs:
        raise missing(NAME, "attribute 'dimensions/spatial_dims'", {f"dimensions/{k}" for k in dims_group})
    well_dims = _names(dims_group.attrs["spatial_dims"])
    if len(well_dims) > 3:
        raise ValueError(f"{NAME}: {len(well_dims)} spatial dims; opkit handles up to 3")
    # opkit's names by position, so that e.g. (r, theta) still lands on (x, y).
    dims = SPATIAL[: len(well_dims)]
    renamed = dict(zip(well_dims, dims))
    attrs_root = {k: decode(v) for k, v in f.attrs.items()}
    if "time" not in dims_group:
        raise missing(NAME, "dataset 'dimensions/time'", {f"dimensions/{k}" for k in dims_group})
    coords, notes = {}, {}
    for wd, d in renamed.items():
        if wd not in dims_group:
            raise missing(NAME, f"dataset 'dimensions/{wd}'", {f"dimensions/{k}" for k in dims_group})
        c = dims_group[wd]
        if _flag(c, "sample_varying", False) or _flag(c, "time_varying", False) or c.ndim != 1:
            raise ValueError(f"{NAME}: coordinate {wd!r} varies by sample or time; opkit needs one fixed grid")
        coords[d] = coord(d, c[()], long_name=f"{wd} position" if wd != d else None, **({"the_well_name": wd} if wd != d else {}))
    t = dims_group["time"]
    t_values = np.asarray(t[()], dtype=np.float64)
    n_traj = int(attrs_root.get("n_trajectories", 0)) or None
    has_time = t_values.size > 0
    if has_time:
        if t_values.ndim == 2:
            if np.all(t_values == t_values[:1]):
                coords["time"] = coord("time", t_values[0])
            else:
                coords["time"] = coord("time", np.arange(t_values.shape[1], dtype=np.float64), long_name="step index")
                coords["sample_time"] = (("sample", "time"), t_values, {"long_name": "time of each step", "units": "1"})
        else:
            coords["time"] = coord("time", t_values)
    token = file_token(path)
    fields = []
    for order in (0, 1, 2):
        group_name = f"t{order}_fields"
        if group_name not in f:
            continue
        g = f[group_name]
        names = _names(g.attrs["field_names"]) if "field_names" in g.attrs else sorted(g)
        for name in names:
            if name not in g:
                raise missing(NAME, f"field '{group_name}/{name}' listed in field_names", {f"{group_name}/{k}" for k in g})
            fields.append((order, name, g[name]))
    if not fields:
        raise missing(NAME, "any field in t0_fields/t1_fields/t2_fields", _found(f))
    # One chunk size for all fields: from the largest per-trajectory size.
    per = 0
    for _, _, dset in fields:
        if _flag(dset, "sample_varying", True):
            per = max(per, dset.dtype.itemsize * int(np.prod(dset.shape[1:])))
    n = n_traj or next((d.shape[0] for _, _, d in fields if _flag(d, "sample_varying", True)), 1)
    k = samples_per_chunk(n, per, chunks)
    variables = {}
    for order, name, dset in fields:
        var_dims = []
        sample_varying = _flag(dset, "sample_varying", True)
        if sample_varying:
            var_dims.append("sample")
        if _flag(dset, "time_varying", True) and has_time:
            var_dims.append("time")
        varying = _flag(dset, "dim_varying", [True] * len(dims))
        if isinstance(varying, bool):
            varying = [varying] * len(dims)
        var_dims += [d for d, v in zip(dims, varying) if v]
        var_dims += list(_TENSOR_DIMS[order])
        if len(var_dims) != dset.ndim:
            raise ValueError(
                f"{NAME}: field {name!r} has shape {dset.shape}, but its attributes describe dims {tuple(var_dims)}"
            )
        if sample_varying:
            data = lazy(dset, 0, k, token + (name,))
        elif dset.ndim:
            # Shared by every trajectory: one chunk.
            data = lazy(dset, 0, max(dset.shape[0], 1), token + (name,))
        else:
            data = dset[()]
        var_attrs = {key: decode(v) for key, v in dset.attrs.items() if key not in _RESERVED_VAR_ATTRS}
        long_name = var_attrs.pop("long_name", name)
        units = var_attrs.pop("units", "1")
        variables[name] = variable(tuple(var_dims), data, long_name, units=units, **var_attrs)
        if order and "component" not in coords:
            labels = _names(dset.attrs["component_labels"]) if "component_labels" in dset.attrs else list(dims)
            coords["component"] = ("component", np.asarray(labels, dtype=str), {"long_name": "tensor component"})
        if order == 2 and "component_2" not in coords:
            coords["component_2"] = ("component_2", np.asarray(list(dims), dtype=str), {"long_name": "tensor component"})
    if "scalars" in f:
        g = f["scalars"]
        names = _names(g.attrs["field_names"]) if "field_names" in g.attrs else sorted(g)
        for name in names:
            if name not in g or name in variables:
                continue
            dset = g[name]
            var_dims = (["sample"] if _flag(dset, "sample_varying", False) else []) + (
                ["time"] if _flag(dset, "time_varying", False) and has_time else []
            )
            value = dset[()]
            if len(var_dims) != np.ndim(value):
                # A constant stored with a length-1 axis: the Well's own writers do so.
                value = np.asarray(value).reshape(-1)[0] if np.size(value) == 1 and not var_dims else value
            if len(var_dims) != np.ndim(value):
                raise ValueError(f"{NAME}: scalar {name!r} has shape {np.shape(value)}, its attributes describe dims {tuple(var_dims)}")
            var_attrs = {key: decode(v) for key, v in dset.attrs.items() if key not in _RESERVED_VAR_ATTRS}
            long_name = var_attrs.pop("long_name", name)
            units = var_attrs.pop("units", "1")
            variables[name] = variable(tuple(var_dims), value, long_name, units=units, **var_attrs)
    bc, bc_attrs = {}, {}
    if "boundary_conditions" in f:
        for gname, g in f["boundary_conditions"].items():
            kind = str(decode(g.attrs.get("bc_type", ""))).lower()
            for wd in _names(g.attrs.get("associated_dims", [])):
                if wd in renamed and kind in _FROM_WELL:
                    bc[renamed[wd]] = _FROM_WELL[kind]
                    bc_attrs[f"the_well_bc_{renamed[wd]}"] = kind
    stored = attrs_root.get("opkit_attrs")
    if stored:
        # Written by opkit: the Dataset's own attributes replace the Well's
        # bookkeeping, so that a round trip gives the same Dataset.
        restored = json.loads(stored)
        attrs = {key: v for key, v in restored.items() if key not in ("source_format", "source_layout", "source_file")}
        inputs = tuple(restored.get("opkit_inputs", "").split())
        outputs = tuple(restored.get("opkit_outputs", "").split())
        # bc_* come back with the attributes (on the variables that had them).
        ds = finish(variables, coords, fmt=NAME, layout=str(attrs_root.get("grid_type", "cartesian")), path=path,
                    inputs=inputs, outputs=outputs, attrs=attrs)
        for name, coord_attrs in json.loads(attrs_root.get("opkit_coord_attrs", "{}")).items():
            if name in ds.coords:
                ds[name].attrs = coord_attrs
        return ds
    attrs = {}
    params = _names(attrs_root.get("simulation_parameters", []))
    for key in ("dataset_name", "grid_type", "n_spatial_dims", "n_trajectories"):
        if key in attrs_root:
            attrs[key] = attrs_root[key]
    if params:
        attrs["simulation_parameters"] = " ".join(params)
    for key in params:
        if key in attrs_root:
            attrs[key] = attrs_root[key]
    attrs.update(bc_attrs)
    if renamed and any(wd != d for wd, d in renamed.items()):
        notes["dims_note"] = "spatial dims renamed by position: " + ", ".join(f"{wd} -> {d}" for wd, d in renamed.items())
    return finish(variables, coords, fmt=NAME, layout=str(attrs_root.get("grid_type", "cartesian")), path=path,
                  bc=bc or None, attrs=attrs, notes=notes)


# ----------------------------------------------------------------------------- writing


def _json_attr(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (str, int, float, bool, list, tuple, dict)) or value is None:
        return value
    return str(value)


def _h5_attr(value):
    """An attribute value h5py can store."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return _strs(value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def _strs(values):
    """A list of strings as an HDF5 variable-length string array."""
    import h5py

    return np.array([str(v) for v in values], dtype=h5py.string_dtype())


def _field_order(var):
    tensor = [d for d in var.dims if d in ("component", "component_2")]
    return len(tensor)


def write(ds, path, *, dataset_name=None):
    """Write ``ds`` to ``path`` in The Well's schema (see :func:`opkit.io.to_the_well`)."""
    import h5py

    from ..serialization import atomic_path

    import xarray as xr

    if isinstance(ds, xr.DataArray):
        if ds.name is None:
            raise ValueError("to_the_well: the DataArray has no name; give it one (da.rename('u')) or pass a Dataset")
        ds = ds.to_dataset()
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"to_the_well writes an xarray Dataset or DataArray, got {type(ds).__name__}")
    spatial = [d for d in SPATIAL if d in ds.dims]
    if not spatial:
        raise ValueError("to_the_well: the Dataset has no spatial dim (x, y, z); The Well stores fields on grids")
    allowed = {"sample", "time", *spatial, "component", "component_2"}
    fields, scalars = [], []
    for name, var in ds.data_vars.items():
        extra = [d for d in var.dims if d not in allowed]
        if extra:
            raise ValueError(
                f"to_the_well: variable {name!r} has dims {extra} that The Well's schema cannot hold "
                f"(allowed: sample, time, {', '.join(spatial)}, component, component_2); split or drop it first"
            )
        order = _field_order(var)
        for d in ("component", "component_2")[:order]:
            if var.sizes[d] != len(spatial):
                raise ValueError(
                    f"to_the_well: {name!r} has {var.sizes[d]} entries along {d!r}; The Well's tensor fields "
                    f"have one per spatial dim ({len(spatial)})"
                )
        if order == 1 and "component_2" in var.dims:
            raise ValueError(f"to_the_well: {name!r} has 'component_2' without 'component'")
        (fields if any(d in spatial for d in var.dims) else scalars).append(name)
    for name in ds.coords:
        if name not in ds.dims and name not in ("component", "component_2"):
            warnings.warn(f"to_the_well: coordinate {name!r} is not a dim coordinate and is not written", stacklevel=3)
    n = ds.sizes.get("sample", 1)
    attrs = {k: _json_attr(v) for k, v in ds.attrs.items()}
    params = []
    if isinstance(ds.attrs.get("parameters"), str):
        try:
            params = [k for k, v in json.loads(ds.attrs["parameters"]).items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        except ValueError:
            params = []
    if not params:
        skip = {"seed", "chunk_size", "n_samples", "n_trajectories", "n_spatial_dims"}
        params = [k for k, v in ds.attrs.items() if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) and k not in skip]
    with atomic_path(path, suffix=".hdf5.tmp") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["dataset_name"] = dataset_name or str(ds.attrs.get("title", "opkit"))
            f.attrs["grid_type"] = "cartesian"
            f.attrs["n_spatial_dims"] = len(spatial)
            f.attrs["n_trajectories"] = n
            f.attrs["simulation_parameters"] = _strs(params)
            for key in params:
                f.attrs[key] = ds.attrs[key]
            f.attrs["opkit_attrs"] = json.dumps(attrs, sort_keys=True, default=str)
            coord_attrs = {name: {k: _json_attr(v) for k, v in ds[name].attrs.items()} for name in ds.coords if name in ds.dims}
            f.attrs["opkit_coord_attrs"] = json.dumps(coord_attrs, sort_keys=True, default=str)
            dims = f.create_group("dimensions")
            dims.attrs["spatial_dims"] = _strs(spatial)
            if "time" in ds.dims:
                t = dims.create_dataset("time", data=np.asarray(ds["time"].values, dtype=np.float64))
            else:
                # A static data set: an empty time axis says "no time" on reading.
                t = dims.create_dataset("time", data=np.zeros(0))
            t.attrs["sample_varying"] = False
            for d in spatial:
                c = dims.create_dataset(d, data=np.asarray(ds[d].values, dtype=np.float64))
                c.attrs["sample_varying"] = False
                c.attrs["time_varying"] = False
            bcs = f.create_group("boundary_conditions")
            for d in spatial:
                value = ds.attrs.get(f"bc_{d}")
                if value is None:
                    continue
                if value not in _TO_WELL:
                    raise ValueError(f"to_the_well: bc_{d}={value!r} is not periodic, dirichlet or neumann")
                kind = ds.attrs.get(f"the_well_bc_{d}", _TO_WELL[value])
                g = bcs.create_group(f"{d}_{kind}")
                g.attrs["associated_dims"] = _strs([d])
                g.attrs["associated_fields"] = _strs([])
                g.attrs["bc_type"] = kind
                g.attrs["sample_varying"] = False
                g.attrs["time_varying"] = False
                mask = np.zeros(ds.sizes[d], dtype=bool)
                mask[[0, -1]] = True
                g.create_dataset("mask", data=mask)
                g.create_dataset("values", data=np.zeros(0, dtype=np.float32))
            groups = {order: f.create_group(f"t{order}_fields") for order in (0, 1, 2)}
            names = {order: [] for order in (0, 1, 2)}
            for name in fields:
                var = ds[name]
                order = _field_order(var)
                lead = [d for d in ("sample", "time") if d in var.dims]
                space = [d for d in spatial if d in var.dims]
                var = var.transpose(*lead, *space, *("component", "component_2")[:order])
                dtype = np.float32 if var.dtype.kind in "fbiu" else var.dtype
                dset = groups[order].create_dataset(name, shape=var.shape, dtype=dtype)
                if "sample" in var.dims:
                    step = _rows_per_write(var)
                    for start in range(0, n, step):
                        block = var.isel(sample=slice(start, start + step))
                        dset[start : start + block.sizes["sample"]] = np.asarray(block.values, dtype=dtype)
                else:
                    dset[...] = np.asarray(var.values, dtype=dtype)
                dset.attrs["sample_varying"] = "sample" in var.dims
                dset.attrs["time_varying"] = "time" in var.dims
                dset.attrs["dim_varying"] = np.array([d in var.dims for d in spatial])
                if order == 2:
                    dset.attrs["symmetric"] = False
                    dset.attrs["antisymmetric"] = False
                if order and "component" in ds.coords:
                    dset.attrs["component_labels"] = _strs([str(v) for v in ds["component"].values])
                for key, value in var.attrs.items():
                    if key not in _RESERVED_VAR_ATTRS:
                        dset.attrs[key] = _h5_attr(value)
                names[order].append(name)
            for order, g in groups.items():
                g.attrs["field_names"] = _strs(names[order])
            sg = f.create_group("scalars")
            for name in scalars:
                var = ds[name].transpose(*[d for d in ("sample", "time") if d in ds[name].dims])
                dset = sg.create_dataset(name, data=np.asarray(var.values))
                dset.attrs["sample_varying"] = "sample" in var.dims
                dset.attrs["time_varying"] = "time" in var.dims
                for key, value in var.attrs.items():
                    if key not in _RESERVED_VAR_ATTRS:
                        dset.attrs[key] = _h5_attr(value)
            sg.attrs["field_names"] = _strs(scalars)
        _fsync(tmp)
    return path


def _rows_per_write(var):
    per = var.dtype.itemsize * int(np.prod([s for d, s in var.sizes.items() if d != "sample"]))
    return samples_per_chunk(var.sizes["sample"], per)


def _fsync(path):
    import os

    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())

"""Pieces shared by the readers: lazy arrays, coordinates, the final Dataset.

Every reader turns one file into variables with opkit's dim names and hands
them to :func:`finish`, which adds the ``sample`` coordinate, orders dims
(``sample``, ``time``, ``x``, ``y``, ``z``, then the rest), fills the variable
attributes the conventions ask for (``long_name``, ``units``, ``opkit_role``,
``bc_*``) and the global ones (``source_format``, ``opkit_inputs``, ...).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import xarray as xr

#: Order of the known dims in every variable; other dims follow in their own order.
DIM_ORDER = ("sample", "time", "x", "y", "z")
SPATIAL = ("x", "y", "z")
#: Boundary-condition values the estimators accept (see conventions.md).
BC_VALUES = ("periodic", "dirichlet", "neumann")
#: Target size of one dask chunk (all samples of a chunk, largest variable).
CHUNK_BYTES = 32 * 2**20


class Missing(ValueError):
    """A file of a known format lacks a variable, group or attribute."""


def missing(fmt, what, found):
    """Build the error for a missing variable, listing what the file holds."""
    listed = ", ".join(sorted(found)) or "nothing"
    return Missing(f"{fmt}: {what} not found in the file (it holds: {listed})")


def require_kind(fmt, p, kinds, what):
    """Refuse a forced ``format=`` whose reader cannot open this kind of file."""
    if p.kind not in kinds:
        from ._detect import describe

        raise ValueError(f"{fmt}: {p.path} is not {what} (found {describe(p)})")


# ----------------------------------------------------------------------------- chunks


def samples_per_chunk(n_samples, bytes_per_sample, chunks=None):
    """Samples in one dask chunk.

    ``chunks`` (an int) wins; otherwise as many samples as fit in
    :data:`CHUNK_BYTES`, at least one. Training reads whole samples, so chunks
    never split a sample.
    """
    if chunks is not None:
        if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1:
            raise ValueError(f"chunks must be a positive number of samples per chunk, got {chunks!r}")
        return int(min(chunks, max(n_samples, 1)))
    per = max(int(bytes_per_sample), 1)
    return int(max(1, min(max(n_samples, 1), CHUNK_BYTES // per)))


def _token(*parts):
    from dask.base import tokenize

    return tokenize(*parts)


def file_token(path):
    """Identity of a file's current content for dask task names (path, size, mtime)."""
    st = os.stat(path)
    return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def lazy(array, sample_axis, k, token, *, split_axis=None):
    """A dask array over an HDF5 dataset (or any sliceable), chunked by sample.

    Parameters
    ----------
    array : h5py.Dataset or array-like
        Needs ``shape``, ``dtype`` and ``__getitem__`` with tuples of slices.
    sample_axis : int
        Axis holding the samples (the last one for MATLAB v7.3 files).
    k : int
        Samples per chunk.
    token : tuple
        Identifies the file and variable (dask task names).
    split_axis : int, optional
        Axis to chunk one by one (a channel axis that becomes separate
        variables), so that reading one variable never reads the others.
    """
    import dask.array as da

    chunks = list(array.shape)
    chunks[sample_axis] = k
    if split_axis is not None:
        chunks[split_axis] = 1
    # An explicit ``meta`` keeps dask from probing the dataset with a
    # zero-size read when the graph is built: nothing touches the file until
    # the data are used.
    meta = np.empty((0,) * len(array.shape), dtype=array.dtype)
    name = "opkit-io-" + _token(token, tuple(chunks))
    return da.from_array(array, chunks=tuple(chunks), name=name, lock=False, meta=meta)


class GroupStack:
    """Array-like view of one member of per-sample groups, stacked along axis 0.

    ``GroupStack(f, ["0000", "0001"], "data")[i]`` is ``f["0000/data"][...]``
    for i = 0 (PDEBench's per-sample layout, Poseidon's ``Sample_i`` groups).
    :func:`lazy` wraps it in dask, so a chunk of samples reads only its groups.

    Parameters
    ----------
    file : h5py.File
        Open file; must stay open while the view is used.
    groups : sequence of str
        Group names in sample order.
    member : str
        Path of the dataset inside each group.
    """

    def __init__(self, file, groups, member):
        self.file = file
        self.groups = list(groups)
        self.member = member
        first = file[self.groups[0]][member]
        self.inner_shape = tuple(first.shape)
        self.dtype = first.dtype
        self.shape = (len(self.groups),) + self.inner_shape
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        picked = np.arange(len(self.groups))[key[0]]
        rest = key[1:]
        if np.ndim(picked) == 0:
            return self._read(int(picked), rest)
        out = np.empty((len(picked),) + _sliced_shape(self.inner_shape, rest), dtype=self.dtype)
        for j, i in enumerate(picked):
            out[j] = self._read(int(i), rest)
        return out

    def _read(self, i, rest):
        dset = self.file[self.groups[i]][self.member]
        if dset.shape != self.inner_shape:
            raise ValueError(
                f"group {self.groups[i]!r}: {self.member!r} has shape {dset.shape}, "
                f"the first group's has {self.inner_shape}; per-sample groups must agree"
            )
        return dset[rest] if rest else dset[()]


def _sliced_shape(shape, key):
    return tuple(len(range(*k.indices(n))) for k, n in zip(key, shape) if isinstance(k, slice))


# ----------------------------------------------------------------------------- coordinates


def coord(dim, values, long_name=None, units="1", **attrs):
    """A float64 coordinate with ``units``, ``long_name`` and CF ``axis``."""
    axis = {"time": "T", "x": "X", "y": "Y", "z": "Z"}.get(dim)
    meta = {"long_name": long_name or ("time" if dim == "time" else f"{dim} position"), "units": units}
    if axis:
        meta["axis"] = axis
    meta.update(attrs)
    return (dim, np.asarray(values, dtype=np.float64).reshape(-1), meta)


def periodic_grid(n):
    """``x_j = j / n``: the uniform grid of a periodic unit interval."""
    return np.arange(n, dtype=np.float64) / n


def nodal_grid(n):
    """``x_j = j / (n - 1)``: nodes of [0, 1] including both boundaries."""
    return np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)


def normalised_time(n):
    """``n`` equally spaced instants on [0, 1] (``t_k = k / (n - 1)``)."""
    return np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)


def component_coord(labels, long_name="vector component"):
    return ("component", np.asarray(labels, dtype=str), {"long_name": long_name})


def number_from_name(path, key):
    """A number written in a file name after ``key`` (``"V1e-5"`` → 1e-5), or None."""
    match = re.search(rf"(?:^|[_\-]){key}([0-9.]+(?:e-?[0-9]+)?)(?=[_\-.]|$)", Path(path).name, re.IGNORECASE)
    if not match:
        return None
    try:
        return float(match.group(1).rstrip("."))
    except ValueError:
        return None


# ----------------------------------------------------------------------------- the Dataset


def variable(dims, data, long_name, units="1", source_name=None, **attrs):
    """An ``xarray.Variable`` with the attributes every opkit variable carries."""
    meta = {"long_name": long_name, "units": units}
    if source_name is not None:
        meta["source_name"] = source_name
    meta.update(attrs)
    return xr.Variable(dims, data, meta)


def _order(dims):
    known = [d for d in DIM_ORDER if d in dims]
    return tuple(known + [d for d in dims if d not in DIM_ORDER])


def finish(variables, coords, *, fmt, path, layout=None, bc=None, inputs=(), outputs=(), attrs=None, notes=None):
    """Assemble the reader's variables into an opkit-convention Dataset.

    Parameters
    ----------
    variables : dict of str to xarray.Variable
    coords : dict
        Coordinates other than ``sample`` (added here as int64 0..N-1 when a
        variable has a ``sample`` dim).
    fmt, layout : str
        Format name (``source_format``) and sub-layout (``source_layout``).
    path : path-like
        The file read (``source_file`` holds its name).
    bc : dict, optional
        ``{dim: "periodic" | "dirichlet" | "neumann"}`` as the source states it.
    inputs, outputs : sequence of str
        What the source's task maps from and to, when it is known.
    attrs : dict, optional
        Other global attributes (physical parameters read from the file).
    notes : dict, optional
        ``coordinates_note``, ``units_note``, ... explaining assumptions.
    """
    data_vars = {}
    for name, var in variables.items():
        var = var.transpose(*_order(var.dims))
        role = "input" if name in inputs else "output" if name in outputs else "auxiliary"
        var.attrs.setdefault("opkit_role", role)
        if bc and any(d in SPATIAL for d in var.dims):
            for dim, value in bc.items():
                if dim in var.dims:
                    var.attrs[f"bc_{dim}"] = value
        data_vars[name] = var
    # Inputs first, then outputs, then the rest: the order a reader expects.
    rank = {"input": 0, "output": 1}
    data_vars = dict(sorted(data_vars.items(), key=lambda kv: rank.get(kv[1].attrs["opkit_role"], 2)))
    coords = dict(coords)
    n = next((v.sizes["sample"] for v in data_vars.values() if "sample" in v.dims), None)
    if n is not None:
        coords["sample"] = ("sample", np.arange(n, dtype=np.int64), {"long_name": "sample index", "units": "1"})
    # Coordinates in the conventional order, so that reprs read sample, time, x, y, z.
    coords = {k: coords[k] for k in sorted(coords, key=lambda c: (DIM_ORDER.index(c) if c in DIM_ORDER else len(DIM_ORDER)))}
    ds = xr.Dataset(data_vars, coords=coords)
    name = Path(path).name
    meta = {"title": f"{name} (read by opkit.io, format {fmt})", "source_format": fmt}
    if layout:
        meta["source_layout"] = layout
    meta["source_file"] = name
    meta.update(attrs or {})
    for dim, value in (bc or {}).items():
        if value not in BC_VALUES:  # pragma: no cover - a reader bug
            raise AssertionError(f"bc_{dim}={value!r}")
        meta[f"bc_{dim}"] = value
    if inputs:
        meta["opkit_inputs"] = " ".join(inputs)
    if outputs:
        meta["opkit_outputs"] = " ".join(outputs)
    meta.update(notes or {})
    ds.attrs = meta
    return ds

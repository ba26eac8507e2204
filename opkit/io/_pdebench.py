"""PDEBench HDF5 files (Takamoto et al., "PDEBench"; pdebench/PDEBench).

Layouts:

- ``flat``: ``tensor`` (N, Nt, Nx[, Ny[, Nz]]) → ``u`` (sample, time, x, ...),
  ``x-coordinate``…, ``t-coordinate`` with one entry more than ``tensor`` has
  frames (the last one is dropped, as PDEBench's own scripts do); file
  attributes (``beta``, ``Nu``, ``rho``) become global attributes. The 1-D
  advection, Burgers and reaction-diffusion sets are periodic.
- ``darcy``: ``tensor`` (N, 1, Nx, Ny) = u, ``nu`` (N, Nx, Ny) = a, attribute
  ``beta`` → ``a``, ``u`` (sample, x, y); task a → u.
- ``cfd`` (compressible NS): ``density``, ``pressure``, ``Vx``, ``Vy``[, ``Vz``]
  (N, Nt, Nx[, Ny[, Nz]]) → ``rho``, ``p``, ``vx``, ``vy``, ``vz``; the file
  name says ``periodic`` or ``trans`` (transmissive, i.e. zero-gradient:
  ``neumann``); attributes ``eta``, ``zeta``, ``M``.
- ``groups``: one group per sample (``"0000"``, ``"0001"``, …) with ``data``
  (Nt, Nx[, Ny], C) and ``grid/x``, ``grid/y``, ``grid/t``; channels become
  variables where the data set is known from the file name (``diff-react``:
  u, v; ``rdb`` shallow water: h; ``diff-sorp``: u), else a ``channel`` dim.
- ``ns-incompressible``: ``velocity`` (B, T, X, Y, 2), ``particles``
  (B, T, X, Y, 1), ``force`` (B, X, Y, 2), ``t`` (B, T).

Every array is a dask array chunked by sample; the h5py file stays open until
the Dataset is closed (``ds.close()`` or a ``with`` block).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ._common import (
    coord,
    component_coord,
    file_token,
    finish,
    GroupStack,
    lazy,
    missing,
    periodic_grid,
    require_kind,
    samples_per_chunk,
    SPATIAL,
    variable,
)
from ._detect import decode

NAME = "pdebench"
DESCRIPTION = (
    "PDEBench HDF5: flat 'tensor' + coordinates, Darcy 'tensor'/'nu', compressible NS "
    "'density'/'pressure'/'Vx'..., per-sample groups '0000'/data, incompressible NS 'velocity'/'particles'/'force'"
)
DETECTION = (
    "HDF5 with 'tensor'; or 'density' and 'Vx'; or 'velocity' (B, T, X, Y, 2) with 'particles' or 'force'; "
    "or root groups named by digits holding 'data'"
)

_CFD_NAMES = {"density": "rho", "pressure": "p", "Vx": "vx", "Vy": "vy", "Vz": "vz"}
_CFD_LONG = {
    "density": "mass density",
    "pressure": "pressure",
    "Vx": "velocity, x component",
    "Vy": "velocity, y component",
    "Vz": "velocity, z component",
}
#: Channel names of the per-sample-group sets, keyed by a part of the file name.
_GROUP_CHANNELS = {
    "diff-react": (("u", "activator u"), ("v", "inhibitor v")),
    "rdb": (("h", "water depth h"),),
    "diff-sorp": (("u", "concentration u"),),
}


def _digit_groups(p):
    return sorted(g for g in p.groups if "/" not in g and g.isdigit())


def layout_of(p):
    """Which PDEBench layout a probed file is, or None."""
    if p.kind != "hdf5":
        return None
    root = p.root()
    if "tensor" in p.datasets:
        return "darcy" if "nu" in p.datasets else "flat"
    if "density" in p.datasets and "Vx" in p.datasets:
        return "cfd"
    vel = p.shape("velocity")
    if vel is not None and len(vel) == 5 and vel[-1] in (2, 3) and ({"particles", "force"} & root):
        return "ns-incompressible"
    groups = _digit_groups(p)
    if groups and f"{groups[0]}/data" in p.datasets:
        return "groups"
    return None


def matches(p):
    return layout_of(p) is not None


def read(path, p, chunks=None, channel_names=None):
    """Read a PDEBench file (see the module docstring for the layouts).

    ``channel_names`` (per-sample-group layout only) names the channels of
    ``data`` when the file name does not tell them.
    """
    import h5py

    require_kind(NAME, p, ("hdf5", "mat73"), "an HDF5/netCDF-4 file")
    layout = layout_of(p)
    if layout is None:
        raise missing(NAME, "'tensor', 'density'+'Vx', 'velocity'+'particles'/'force' or per-sample groups with 'data'", _found(p))
    f = h5py.File(path, "r")
    try:
        reader = {"flat": _flat, "darcy": _darcy, "cfd": _cfd, "groups": _groups, "ns-incompressible": _ns}[layout]
        kw = {"channel_names": channel_names} if layout == "groups" else {}
        if channel_names is not None and layout != "groups":
            raise TypeError("channel_names applies to PDEBench's per-sample-group layout only")
        ds = reader(path, f, chunks, **kw)
    except BaseException:
        f.close()
        raise
    ds.set_close(f.close)
    return ds


def _found(p):
    return {f"{k} {tuple(v[0])}" for k, v in p.datasets.items() if "/" not in k} | {f"{g}/" for g in p.groups if "/" not in g}


def _found_h5(f):
    import h5py

    return {f"{k} {tuple(v.shape)}" if isinstance(v, h5py.Dataset) else f"{k}/" for k, v in f.items()}


def _file_attrs(f):
    out = {}
    for key, value in f.attrs.items():
        value = decode(value)
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            out[key] = value
    return out


def _read_coord(f, name, n, dim):
    """``x-coordinate`` etc. when present and of the right length, else a uniform grid."""
    if name in f and f[name].shape == (n,):
        return coord(dim, f[name][()]), False
    return coord(dim, periodic_grid(n)), True


def _time(values, n_t, what):
    """PDEBench's time coordinate: one entry more than frames → drop the last."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == n_t + 1:
        return values[:-1], f"{what} has {n_t + 1} entries for {n_t} frames; the last entry was dropped"
    if values.size == n_t:
        return values, None
    raise ValueError(f"{NAME}: {what} has {values.size} entries but the data have {n_t} time frames")


def _k(n, arrays, chunks):
    per = max(a.dtype.itemsize * int(np.prod(a.shape[1:], dtype=np.int64)) for a in arrays)
    return samples_per_chunk(n, per, chunks)


def _flat(path, f, chunks):
    t = f["tensor"]
    if t.ndim < 3:
        raise ValueError(f"{NAME}: 'tensor' must be (N, Nt, Nx[, Ny[, Nz]]), got {t.shape}")
    n, n_t, *space = t.shape
    if len(space) > 3:
        raise ValueError(f"{NAME}: 'tensor' {t.shape} has more than 3 spatial axes")
    dims = SPATIAL[: len(space)]
    coords, guessed = {}, False
    for d, m in zip(dims, space):
        coords[d], g = _read_coord(f, f"{d}-coordinate", m, d)
        guessed |= g
    notes = {}
    if "t-coordinate" in f:
        times, note = _time(f["t-coordinate"][()], n_t, "'t-coordinate'")
        if note:
            notes["time_note"] = note
    else:
        times = np.arange(n_t, dtype=np.float64)
        notes["time_note"] = "the file stores no times; frame indices are used"
    coords["time"] = coord("time", times)
    if guessed:
        notes["coordinates_note"] = "no x-coordinate etc. in the file; uniform periodic grid j/n on [0, 1)"
    k = _k(n, [t], chunks)
    token = file_token(path)
    u = variable(("sample", "time") + dims, lazy(t, 0, k, token + ("tensor",)), "solution u", source_name="tensor")
    # PDEBench's 1-D advection, Burgers and diffusion-reaction sets are periodic.
    bc = {d: "periodic" for d in dims} if len(dims) == 1 else None
    return finish({"u": u}, coords, fmt=NAME, layout="flat", path=path, bc=bc, attrs=_file_attrs(f), notes=notes)


def _darcy(path, f, chunks):
    t, nu = f["tensor"], f["nu"]
    if t.ndim != 4 or t.shape[1] != 1 or nu.shape != (t.shape[0],) + t.shape[2:]:
        raise ValueError(f"{NAME}: Darcy layout needs 'tensor' (N, 1, Nx, Ny) and 'nu' (N, Nx, Ny); got {t.shape} and {nu.shape}")
    n, _, nx, ny = t.shape
    cx, gx = _read_coord(f, "x-coordinate", nx, "x")
    cy, gy = _read_coord(f, "y-coordinate", ny, "y")
    k = _k(n, [t, nu], chunks)
    token = file_token(path)
    # The singleton axis is a channel/time axis of size one: drop it lazily.
    u = lazy(t, 0, k, token + ("tensor",))[:, 0]
    variables = {
        "a": variable(("sample", "x", "y"), lazy(nu, 0, k, token + ("nu",)), "diffusion coefficient a(x)", source_name="nu"),
        "u": variable(("sample", "x", "y"), u, "steady-state solution u(x)", source_name="tensor"),
    }
    notes = {"coordinates_note": "uniform grid j/n on [0, 1)"} if gx or gy else {}
    return finish(
        variables, {"x": cx, "y": cy}, fmt=NAME, layout="darcy", path=path,
        bc={"x": "dirichlet", "y": "dirichlet"}, inputs=("a",), outputs=("u",), attrs=_file_attrs(f), notes=notes,
    )


def _cfd(path, f, chunks):
    present = [name for name in _CFD_NAMES if name in f]
    ref = f["density"]
    if ref.ndim < 3:
        raise ValueError(f"{NAME}: 'density' must be (N, Nt, Nx[, Ny[, Nz]]), got {ref.shape}")
    n, n_t, *space = ref.shape
    dims = SPATIAL[: len(space)]
    needed = ["density", "pressure"] + [f"V{d}" for d in dims]
    for name in needed:
        if name not in f:
            raise missing(f"{NAME} (compressible NS layout)", f"variable {name!r}", _found_h5(f))
    for name in present:
        if f[name].shape != ref.shape:
            raise ValueError(f"{NAME}: {name!r} has shape {f[name].shape}, 'density' has {ref.shape}")
    coords, guessed = {}, False
    for d, m in zip(dims, space):
        coords[d], g = _read_coord(f, f"{d}-coordinate", m, d)
        guessed |= g
    notes = {}
    if "t-coordinate" in f:
        times, note = _time(f["t-coordinate"][()], n_t, "'t-coordinate'")
        if note:
            notes["time_note"] = note
    else:
        times = np.arange(n_t, dtype=np.float64)
        notes["time_note"] = "the file stores no times; frame indices are used"
    coords["time"] = coord("time", times)
    if guessed:
        notes["coordinates_note"] = "no x-coordinate etc. in the file; uniform grid j/n on [0, 1)"
    k = _k(n, [f[name] for name in present], chunks)
    token = file_token(path)
    variables = {
        _CFD_NAMES[name]: variable(
            ("sample", "time") + dims, lazy(f[name], 0, k, token + (name,)), _CFD_LONG[name], source_name=name
        )
        for name in present
    }
    stem = Path(path).name
    bc = None
    if re.search(r"_periodic[_.]", stem):
        bc = {d: "periodic" for d in dims}
    elif re.search(r"_trans[_.]", stem):
        # Transmissive (outflow) boundaries copy the boundary cell: zero gradient.
        bc = {d: "neumann" for d in dims}
        notes["boundary_note"] = "transmissive (outflow) boundaries, recorded as zero-gradient 'neumann'"
    return finish(variables, coords, fmt=NAME, layout="cfd", path=path, bc=bc, attrs=_file_attrs(f), notes=notes)


def _groups(path, f, chunks, channel_names=None):
    groups = sorted(g for g in f if g.isdigit())
    for g in groups:
        if "data" not in f[g]:
            raise missing(f"{NAME} (per-sample groups)", f"dataset '{g}/data'", {f"{g}/{m}" for m in f[g]})
    stack = GroupStack(f, groups, "data")
    inner = stack.inner_shape
    if len(inner) < 3:
        raise ValueError(f"{NAME}: per-sample 'data' must be (Nt, Nx[, Ny[, Nz]], C), got {inner}")
    n_t, *space, n_c = inner
    dims = SPATIAL[: len(space)]
    first = f[groups[0]]
    coords, notes = {}, {}
    guessed = False
    for d, m in zip(dims, space):
        name = f"grid/{d}"
        if name in first and first[name].shape == (m,):
            coords[d] = coord(d, first[name][()])
        else:
            coords[d], guessed = coord(d, periodic_grid(m)), True
    if "grid/t" in first:
        times, note = _time(first["grid/t"][()], n_t, "'grid/t'")
        if note:
            notes["time_note"] = note
    else:
        times = np.arange(n_t, dtype=np.float64)
        notes["time_note"] = "the file stores no times; frame indices are used"
    coords["time"] = coord("time", times)
    if guessed:
        notes["coordinates_note"] = "no grid/x etc. in the file; uniform grid j/n on [0, 1)"
    k = samples_per_chunk(len(groups), stack.dtype.itemsize * int(np.prod(inner)), chunks)
    data = lazy(stack, 0, k, file_token(path) + ("groups/data",), split_axis=stack.ndim - 1)
    names = None
    if channel_names is not None:
        names = [(str(c), str(c)) for c in channel_names]
        if len(names) != n_c:
            raise ValueError(f"{NAME}: channel_names has {len(names)} names for {n_c} channels")
    else:
        for key, known in _GROUP_CHANNELS.items():
            if key in Path(path).name and len(known) == n_c:
                names = list(known)
    dims_full = ("sample", "time") + dims
    if names:
        variables = {
            name: variable(dims_full, data[..., i], long_name, source_name=f"data[..., {i}]")
            for i, (name, long_name) in enumerate(names)
        }
    else:
        variables = {"data": variable(dims_full + ("channel",), data, "solution channels", source_name="data")}
        coords["channel"] = ("channel", np.arange(n_c), {"long_name": "channel index (meaning not in the file)"})
    bc = None
    if "diff-react" in Path(path).name:
        # PDEBench's 2-D diffusion-reaction set has no-flux boundaries.
        bc = {d: "neumann" for d in dims}
    return finish(variables, coords, fmt=NAME, layout="groups", path=path, bc=bc, attrs=_file_attrs(f), notes=notes)


def _ns(path, f, chunks):
    vel = f["velocity"]
    b, n_t, nx, ny, n_c = vel.shape
    token = file_token(path)
    arrays = [vel] + [f[name] for name in ("particles", "force") if name in f]
    k = _k(b, arrays, chunks)
    labels = ["u", "v", "w"][:n_c]
    variables = {
        "velocity": variable(
            ("sample", "time", "x", "y", "component"), lazy(vel, 0, k, token + ("velocity",)), "velocity", source_name="velocity"
        )
    }
    if "particles" in f:
        part = f["particles"]
        if part.shape[:4] != vel.shape[:4]:
            raise ValueError(f"{NAME}: 'particles' {part.shape} does not match 'velocity' {vel.shape}")
        arr = lazy(part, 0, k, token + ("particles",))
        variables["particles"] = variable(
            ("sample", "time", "x", "y"), arr[..., 0] if part.ndim == 5 else arr, "passive particle density", source_name="particles"
        )
    if "force" in f:
        force = f["force"]
        if force.shape != (b, nx, ny, n_c):
            raise ValueError(f"{NAME}: 'force' {force.shape} does not match 'velocity' {vel.shape}")
        variables["force"] = variable(
            ("sample", "x", "y", "component"), lazy(force, 0, k, token + ("force",)), "forcing (per sample)", source_name="force"
        )
    coords = {
        "x": coord("x", periodic_grid(nx)),
        "y": coord("y", periodic_grid(ny)),
        "component": component_coord(labels, "velocity component"),
    }
    notes = {"coordinates_note": "the file stores no grid; uniform grid j/n on [0, 1)"}
    if "t" in f:
        t = np.asarray(f["t"][()], dtype=np.float64)
        t = t.reshape(b, -1) if t.size == b * n_t else t.reshape(-1)
        if t.ndim == 2 and np.all(t == t[:1]):
            t = t[0]
        if t.ndim == 1 and t.size == n_t:
            coords["time"] = coord("time", t)
        else:
            # Times differ between samples: keep them all, index time by frame.
            coords["time"] = coord("time", np.arange(n_t, dtype=np.float64), long_name="frame index")
            coords["sample_time"] = (("sample", "time"), t.reshape(b, n_t), {"long_name": "time of each frame", "units": "1"})
    else:
        coords["time"] = coord("time", np.arange(n_t, dtype=np.float64), long_name="frame index")
    return finish(variables, coords, fmt=NAME, layout="ns-incompressible", path=path, attrs=_file_attrs(f), notes=notes)

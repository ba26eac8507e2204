"""Poseidon's PDEgym files (Herde et al., "Poseidon"; camlab-ethz/poseidon).

The netCDF files are read by variable name through h5py, as Poseidon's own
loaders do (their dimension names are not part of the layout). Which family a
file holds comes from its name (``NS-SL.nc`` → ``NS-SL``) or ``family=``; the
arrays alone decide when neither says.

| variable | shape | variables here |
|---|---|---|
| ``velocity`` (NS-*) | (N, T, C, X, Y) | ``u``, ``v`` (+ ``tracer`` when C = 3) |
| ``solution`` (FNS-KF) | (N, T, 2, X, Y) | ``u``, ``v`` |
| ``data`` (CE-*) | (N, T, 5, X, Y) | ``rho``, ``u``, ``v``, ``p``, ``E`` |
| ``solution`` (CE-RM, GCE-RT) | (N, T, C, X, Y) | ``rho``, ``u``, ``v``, ``p`` (+ as stored) |
| ``solution`` + ``c`` (Wave-*) | (N, T, X, Y), (N, X, Y) | ``u``, ``c`` |
| ``solution`` (ACE) | (N, T, X, Y) | ``u`` |
| ``source`` + ``solution`` (Poisson-Gauss) | (N, X, Y) | ``f`` → ``u`` |
| ``solution`` (SE-AF) | (N, 2, X, Y) | ``a`` (airfoil indicator) → ``rho`` |
| ``Sample_i/{a, bc, u}`` (Helmholtz.h5) | (X, Y), (), (X, Y) | ``a``, ``bc`` → ``u`` |

NS-SL is stored with x and y swapped (Poseidon's loader transposes the last
two axes); the reader swaps them back (``swap_xy=`` overrides). Time-dependent
sets hold equally spaced snapshots on a normalised time t ∈ [0, 1] (Poseidon
divides the snapshot index by the last index). Every array is a dask array
chunked by sample; the h5py file stays open until the Dataset is closed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ._common import (
    coord,
    file_token,
    finish,
    GroupStack,
    lazy,
    missing,
    nodal_grid,
    normalised_time,
    periodic_grid,
    require_kind,
    samples_per_chunk,
    variable,
)

NAME = "pdegym"
DESCRIPTION = (
    "Poseidon/PDEgym netCDF ('velocity', 'data', 'solution', 'source', 'c') and the Helmholtz HDF5 "
    "('Sample_i/{a,bc,u}')"
)
DETECTION = (
    "HDF5/netCDF-4 with 'velocity' or 'data' (N, T, C, X, Y), 'solution' of 3 to 5 axes, 'source' + 'solution', "
    "or groups 'Sample_<i>' holding 'a' and 'u'"
)

FAMILIES = (
    "NS-PwC", "NS-BB", "NS-Gauss", "NS-SL", "NS-SVS", "NS-Sines", "NS-Tracer-PwC", "FNS-KF",
    "CE-RP", "CE-CRP", "CE-KH", "CE-Gauss", "CE-RPUI", "CE-RM", "GCE-RT",
    "Wave-Gauss", "Wave-Layer", "ACE", "Poisson-Gauss", "SE-AF", "Helmholtz",
)
_CHANNELS = {
    "u": "velocity, x component",
    "v": "velocity, y component",
    "tracer": "passive tracer",
    "rho": "density",
    "p": "pressure",
    "E": "total energy",
}


def _sample_groups(names):
    # Poseidon names samples Sample_0, Sample_1, ... (not zero-padded).
    found = [(int(m.group(1)), n) for n in names if (m := re.fullmatch(r"Sample_(\d+)", n))]
    return [n for _, n in sorted(found)]


def layout_of(p):
    """``"netcdf"`` or ``"helmholtz"`` for a probed PDEgym file, else None."""
    if p.kind != "hdf5":
        return None
    for name in ("velocity", "data"):
        shape = p.shape(name)
        if shape is not None and len(shape) == 5:
            return "netcdf"
    sol = p.shape("solution")
    if sol is not None and 3 <= len(sol) <= 5:
        return "netcdf"
    groups = _sample_groups(g for g in p.groups if "/" not in g)
    if groups and f"{groups[0]}/a" in p.datasets and f"{groups[0]}/u" in p.datasets:
        return "helmholtz"
    return None


def matches(p):
    return layout_of(p) is not None


def family_of(path):
    """The PDEgym family named in a file name (longest match), or None."""
    stem = Path(path).name.lower()
    hits = [f for f in FAMILIES if re.search(rf"(^|[^a-z]){re.escape(f.lower())}([^a-z]|$)", stem)]
    return max(hits, key=len) if hits else None


def read(path, p, chunks=None, family=None, swap_xy=None):
    """Read a PDEgym file.

    ``family`` (e.g. ``"NS-SL"``) overrides the name found in the file name;
    ``swap_xy`` overrides the NS-SL axis swap.
    """
    import h5py

    require_kind(NAME, p, ("hdf5", "mat73"), "an HDF5/netCDF-4 file")
    if family is not None and family not in FAMILIES:
        raise ValueError(f"{NAME}: unknown family {family!r}; known: {', '.join(FAMILIES)}")
    family = family or family_of(path)
    f = h5py.File(path, "r")
    try:
        if family == "Helmholtz" or _sample_groups(f):
            ds = _helmholtz(path, f, chunks)
        else:
            ds = _netcdf(path, f, chunks, family, swap_xy)
    except BaseException:
        f.close()
        raise
    ds.set_close(f.close)
    return ds


def _found(f):
    import h5py

    return {f"{k} {tuple(v.shape)}" if isinstance(v, h5py.Dataset) else f"{k}/" for k, v in f.items()}


def _bc(family, dims=("x", "y")):
    if family is None:
        return None
    # Poseidon's NS, FNS-KF, CE and ACE sets live on the periodic unit square;
    # Poisson and Helmholtz have Dirichlet data on the boundary.
    if family.startswith(("NS-", "FNS-", "CE-")) or family == "ACE":
        return {d: "periodic" for d in dims}
    if family in ("Poisson-Gauss", "Helmholtz"):
        return {d: "dirichlet" for d in dims}
    return None


def _grid(n, family):
    bc = _bc(family)
    if bc and bc["x"] == "dirichlet":
        return nodal_grid(n), "the file stores no grid; nodal points j/(n-1) on [0, 1], boundary included (assumed)"
    return periodic_grid(n), "the file stores no grid; uniform grid j/n on [0, 1) (assumed)"


def _channel_names(source, n_c, family):
    if source == "velocity":
        return {2: ["u", "v"], 3: ["u", "v", "tracer"]}.get(n_c)
    if source == "data":
        return {4: ["rho", "u", "v", "p"], 5: ["rho", "u", "v", "p", "E"]}.get(n_c)
    if n_c == 2 and (family in (None, "FNS-KF") or family.startswith("NS-")):
        return ["u", "v"]
    # CE-RM / GCE-RT: Poseidon reads rho, u, v, p from channels 0-3 and the
    # gravitational potential of GCE-RT from channel 5; others stay unnamed.
    names = ["rho", "u", "v", "p"][:n_c] if n_c >= 4 else None
    if names and family == "GCE-RT" and n_c >= 6:
        names = names + [f"channel_{i}" for i in range(4, n_c)]
        names[5] = "g"
    elif names:
        names = names + [f"channel_{i}" for i in range(4, n_c)]
    return names


def _netcdf(path, f, chunks, family, swap_xy):
    token = file_token(path)
    notes = {}
    attrs = {"pdegym_family": family} if family else {}
    if swap_xy is None:
        swap_xy = family == "NS-SL"
    variables, inputs, outputs = {}, (), ()
    main = next((n for n in ("velocity", "data", "solution") if n in f and f[n].ndim == 5), None)
    if main is not None:
        src = f[main]
        n, n_t, n_c, nx, ny = src.shape
        k = samples_per_chunk(n, src.dtype.itemsize * int(np.prod(src.shape[1:])), chunks)
        arr = lazy(src, 0, k, token + (main,), split_axis=2)
        if swap_xy:
            arr = arr.swapaxes(-1, -2)
            nx, ny = ny, nx
        names = _channel_names(main, n_c, family)
        dims = ("sample", "time", "x", "y")
        if names:
            for i, name in enumerate(names):
                long_name = _CHANNELS.get(name, "gravitational potential" if name == "g" else f"channel {name.split('_')[-1]} (undocumented)")
                variables[name] = variable(dims, arr[:, :, i], long_name, source_name=f"{main}[:, :, {i}]")
        else:
            variables[main] = variable(("sample", "time", "channel", "x", "y"), arr, f"{main} (channels as stored)", source_name=main)
        n_times = n_t
    elif "source" in f and "solution" in f:
        src, sol = f["source"], f["solution"]
        if src.ndim != 3 or src.shape != sol.shape:
            raise ValueError(f"{NAME}: Poisson layout needs 'source' and 'solution' of the same (N, X, Y) shape; got {src.shape}, {sol.shape}")
        family = family or "Poisson-Gauss"
        n, nx, ny = sol.shape
        k = samples_per_chunk(n, 2 * sol.dtype.itemsize * nx * ny, chunks)
        variables["f"] = variable(("sample", "x", "y"), lazy(src, 0, k, token + ("source",)), "source term f", source_name="source")
        variables["u"] = variable(("sample", "x", "y"), lazy(sol, 0, k, token + ("solution",)), "solution u", source_name="solution")
        inputs, outputs, n_times = ("f",), ("u",), None
    elif "solution" in f and f["solution"].ndim in (3, 4):
        sol = f["solution"]
        if sol.ndim == 3:
            raise missing(f"{NAME} (Poisson layout)", "variable 'source' next to the 3-axis 'solution'", _found(f))
        n, m, nx, ny = sol.shape
        airfoil = family == "SE-AF" or (family is None and m == 2 and "c" not in f)
        per = sol.dtype.itemsize * int(np.prod(sol.shape[1:]))
        if airfoil:
            family = "SE-AF"
            k = samples_per_chunk(n, per, chunks)
            arr = lazy(sol, 0, k, token + ("solution",), split_axis=1)
            variables["a"] = variable(("sample", "x", "y"), arr[:, 0], "airfoil indicator (1 inside the airfoil)", source_name="solution[:, 0]")
            variables["rho"] = variable(("sample", "x", "y"), arr[:, 1], "density", source_name="solution[:, 1]")
            inputs, outputs, n_times = ("a",), ("rho",), None
        else:
            if "c" in f:
                c = f["c"]
                if c.shape != (n, nx, ny):
                    raise ValueError(f"{NAME}: wave speed 'c' {c.shape} does not match 'solution' {sol.shape}")
                family = family or "Wave"
                k = samples_per_chunk(n, per + c.dtype.itemsize * nx * ny, chunks)
                variables["c"] = variable(("sample", "x", "y"), lazy(c, 0, k, token + ("c",)), "wave speed c(x)", source_name="c")
                notes["boundary_note"] = "absorbing boundaries (not one of periodic/dirichlet/neumann)"
            else:
                k = samples_per_chunk(n, per, chunks)
            variables["u"] = variable(("sample", "time", "x", "y"), lazy(sol, 0, k, token + ("solution",)), "solution u", source_name="solution")
            n_times = m
    else:
        raise missing(NAME, "'velocity', 'data' or 'solution' (or 'Sample_<i>' groups)", _found(f))
    x, note = _grid(nx, family)
    coords = {"x": coord("x", x), "y": coord("y", _grid(ny, family)[0])}
    notes["coordinates_note"] = note
    if n_times is not None:
        coords["time"] = coord("time", normalised_time(n_times))
        notes["time_note"] = "snapshots equally spaced on normalised time [0, 1], as Poseidon's loaders use them"
    if swap_xy:
        notes["axes_note"] = "x and y were swapped on reading (NS-SL is stored transposed)"
    if family == "FNS-KF":
        attrs["forcing"] = "0.1 sin(2 pi (x + y)) (not stored in the file)"
    return finish(
        variables, coords, fmt=NAME, layout="netcdf", path=path, bc=_bc(family),
        inputs=inputs, outputs=outputs, attrs=attrs, notes=notes,
    )


def _helmholtz(path, f, chunks):
    groups = _sample_groups(f)
    if not groups:
        raise missing(f"{NAME} (Helmholtz layout)", "groups 'Sample_<i>'", _found(f))
    first = f[groups[0]]
    for member in ("a", "u", "bc"):
        if member not in first:
            raise missing(f"{NAME} (Helmholtz layout)", f"dataset '{groups[0]}/{member}'", {f"{groups[0]}/{m}" for m in first})
    token = file_token(path)
    stacks = {m: GroupStack(f, groups, m) for m in ("a", "u", "bc")}
    nx, ny = stacks["u"].inner_shape
    per = sum(s.dtype.itemsize * int(np.prod(s.inner_shape)) for s in stacks.values())
    k = samples_per_chunk(len(groups), per, chunks)
    variables = {
        "a": variable(("sample", "x", "y"), lazy(stacks["a"], 0, k, token + ("a",)), "coefficient a(x)", source_name="Sample_i/a"),
        "bc": variable(("sample",), lazy(stacks["bc"], 0, k, token + ("bc",)), "boundary value b (u = b on the boundary)", source_name="Sample_i/bc"),
        "u": variable(("sample", "x", "y"), lazy(stacks["u"], 0, k, token + ("u",)), "solution u", source_name="Sample_i/u"),
    }
    x, note = _grid(nx, "Helmholtz")
    coords = {"x": coord("x", x), "y": coord("y", nodal_grid(ny))}
    return finish(
        variables, coords, fmt=NAME, layout="helmholtz", path=path, bc=_bc("Helmholtz"),
        inputs=("a", "bc"), outputs=("u",), attrs={"pdegym_family": "Helmholtz", "omega": 5 * np.pi / 2},
        notes={"coordinates_note": note},
    )

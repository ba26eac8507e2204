"""FNO MATLAB files (``.mat`` v5 through scipy, v7.3/HDF5 through h5py).

Layouts (Li et al., "Fourier Neural Operator for Parametric PDEs", and the
neuraloperator data pages):

- Darcy ``coeff``, ``sol`` (N, s, s) → ``a``, ``u`` (sample, x, y); zero
  Dirichlet boundary; nodal grid on [0, 1] including the boundary (FNO's
  solver works on nodes, ``h = 1 / (s - 1)``).
- Navier-Stokes ``a`` (N, s, s) = ω₀, ``u`` (N, s, s, T), ``t`` (T) →
  ``w0`` (sample, x, y), ``w`` (sample, time, x, y), the names opkit's
  ``navier_stokes`` solver writes; periodic, ``x_j = j / s``.
- Burgers ``a``, ``u`` (N, s) → ``u0``, ``u`` (sample, x) (``u`` at the final
  time); with ``u`` (N, s, T), ``u`` (sample, time, x); periodic.

MATLAB v7.3 files are HDF5 with a 512-byte user block; MATLAB stores arrays
column-major, so h5py sees every axis reversed and the reader transposes them
back (lazily). v5 files are read whole by scipy (the format has no random
access); v7.3 variables are dask arrays chunked by sample.
"""

from __future__ import annotations

import numpy as np

from ._common import (
    coord,
    file_token,
    finish,
    lazy,
    missing,
    nodal_grid,
    number_from_name,
    periodic_grid,
    require_kind,
    samples_per_chunk,
    variable,
)

NAME = "fno-mat"
DESCRIPTION = "FNO MATLAB files (v5 via scipy.io, v7.3/HDF5 via h5py): a/u/t (Burgers, Navier-Stokes), coeff/sol (Darcy)"
DETECTION = "MATLAB header 'MATLAB 5.0 MAT-file' or 'MATLAB 7.3 MAT-file' (HDF5 after a 512-byte user block)"


def matches(p):
    return p.kind in ("mat5", "mat73")


def read(path, p, chunks=None):
    if p.kind == "mat5":
        arrays, close = _read_v5(path), None
    elif p.kind in ("mat73", "hdf5"):
        arrays, close = _read_v73(path, chunks)
    else:
        require_kind(NAME, p, ("mat5", "mat73", "hdf5"), "a MATLAB file (no 'MATLAB 5.0/7.3 MAT-file' header)")
    try:
        ds = _layout(path, arrays, chunks, p.kind)
    except BaseException:
        if close:
            close()
        raise
    if close:
        ds.set_close(close)
    return ds


def _read_v5(path):
    import scipy.io

    try:
        raw = scipy.io.loadmat(path)
    except Exception as err:  # scipy raises several types on damaged files
        raise ValueError(
            f"{NAME}: {path} has a MATLAB v5 header but scipy cannot read it; it is probably truncated "
            f"or damaged ({type(err).__name__}: {err})"
        ) from None
    return {k: v for k, v in raw.items() if not k.startswith("__") and isinstance(v, np.ndarray) and v.dtype.kind in "biuf"}


class _Reversed:
    """A MATLAB v7.3 variable: an h5py dataset with all axes reversed."""

    def __init__(self, dset, token):
        self.dset = dset
        self.token = token
        self.shape = tuple(reversed(dset.shape))
        self.ndim = len(self.shape)
        self.dtype = dset.dtype

    def dask(self, k):
        # The sample axis is the last one on disk; chunk it there, then reverse.
        return lazy(self.dset, self.dset.ndim - 1, k, self.token).transpose()

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self.dset[()]).transpose()
        return out if dtype is None else out.astype(dtype)


def _read_v73(path, chunks):
    import h5py

    f = h5py.File(path, "r")
    token = file_token(path)
    arrays = {}
    for name, obj in f.items():
        # '#refs#' and '#subsystem#' hold MATLAB objects and strings, not arrays.
        if name.startswith("#") or not isinstance(obj, h5py.Dataset) or obj.dtype.kind not in "biuf":
            continue
        arrays[name] = _Reversed(obj, token + (name,))
    return arrays, f.close


def _per_sample_bytes(arr):
    return arr.dtype.itemsize * int(np.prod(tuple(arr.shape)[1:], dtype=np.int64))


def _small(arr):
    return np.asarray(arr).reshape(-1)


def _layout(path, arrays, chunks, kind):
    found = {f"{k} {tuple(np.shape(v))}" for k, v in arrays.items()}
    version = "7.3" if kind != "mat5" else "5"
    attrs = {"mat_version": version}
    for key in ("visc", "nu", "viscosity"):
        if key in arrays and int(np.prod(arrays[key].shape)) == 1:
            attrs["viscosity"] = float(_small(arrays[key])[0])
    name_visc = number_from_name(path, "V")
    if "viscosity" not in attrs and name_visc is not None:
        attrs["viscosity"] = name_visc
        attrs["viscosity_note"] = "read from the file name"

    lead = arrays.get("sol", arrays.get("u"))
    n = tuple(lead.shape)[0] if lead is not None and len(lead.shape) else 1
    # One chunk size for every variable, from the largest per-sample size, so
    # that the Dataset's variables share their sample chunks.
    per = max((_per_sample_bytes(v) for v in arrays.values() if len(v.shape) and v.shape[0] == n), default=1)
    k = samples_per_chunk(n, per, chunks)

    def take(name):
        arr = arrays[name]
        return arr.dask(k) if isinstance(arr, _Reversed) else arr

    if "coeff" in arrays or "sol" in arrays:
        for need in ("coeff", "sol"):
            if need not in arrays:
                raise missing(NAME + " (Darcy layout)", f"variable {need!r}", found)
        a, u = arrays["coeff"], arrays["sol"]
        if len(a.shape) != 3 or tuple(a.shape) != tuple(u.shape):
            raise ValueError(f"{NAME}: Darcy 'coeff' and 'sol' must both be (N, s, s); got {a.shape} and {u.shape}")
        _, nx, ny = u.shape
        variables = {
            "a": variable(("sample", "x", "y"), take("coeff"), "diffusion coefficient a(x)", source_name="coeff"),
            "u": variable(("sample", "x", "y"), take("sol"), "solution u(x)", source_name="sol"),
        }
        for extra, arr in arrays.items():
            # Darcy files also carry the coefficient at other points (Kcoeff, ...).
            if extra not in ("coeff", "sol") and tuple(arr.shape) == tuple(u.shape):
                variables[extra] = variable(("sample", "x", "y"), take(extra), f"{extra} (as stored)", source_name=extra)
        coords = {"x": coord("x", nodal_grid(nx)), "y": coord("y", nodal_grid(ny))}
        return finish(
            variables, coords, fmt=NAME, layout="darcy", path=path,
            bc={"x": "dirichlet", "y": "dirichlet"}, inputs=("a",), outputs=("u",), attrs=attrs,
            notes={"coordinates_note": "the file stores no grid; nodal points j/(s-1) on [0, 1], boundary included, as FNO's Darcy solver"},
        )

    if "u" not in arrays:
        raise ValueError(
            f"{NAME}: {path} holds no known FNO layout (found: {', '.join(sorted(found)) or 'no numeric arrays'}); "
            "expected 'coeff' and 'sol' (Darcy) or 'a' and/or 'u' (Burgers, Navier-Stokes)"
        )
    u = arrays["u"]
    a = arrays.get("a")
    ushape = tuple(u.shape)
    if a is not None:
        ndim_space = len(a.shape) - 1
        ok = ndim_space in (1, 2) and len(ushape) in (1 + ndim_space, 2 + ndim_space)
        ok = ok and tuple(a.shape)[:1] == ushape[:1] and tuple(a.shape)[1:] == ushape[1 : 1 + ndim_space]
    else:
        # Without 'a' only the unambiguous shapes: (N, s) and (N, s, s, T).
        ndim_space = {2: 1, 4: 2}.get(len(ushape), 0)
        ok = ndim_space > 0
    if not ok:
        raise ValueError(
            f"{NAME}: cannot read 'a' {None if a is None else tuple(a.shape)} and 'u' {ushape} as a known FNO layout "
            "(a (N, s) with u (N, s) or (N, s, T); a (N, s, s) with u (N, s, s, T))"
        )
    has_time = len(ushape) == 2 + ndim_space
    spatial = ("x", "y")[:ndim_space]
    coords = {d: coord(d, periodic_grid(n)) for d, n in zip(spatial, ushape[1 : 1 + ndim_space])}
    notes = {"coordinates_note": "the file stores no grid; periodic grid x_j = j/s on [0, 1)"}
    if has_time:
        n_t = ushape[-1]
        if "t" in arrays and int(np.prod(arrays["t"].shape)) == n_t:
            times = _small(arrays["t"]).astype(np.float64)
        else:
            # FNO records u[..., k] after step k + 1 of unit length.
            times = np.arange(1, n_t + 1, dtype=np.float64)
            notes["time_note"] = "the file stores no times; t_k = k + 1 (FNO records one snapshot per unit time, the first at t = 1)"
        coords["time"] = coord("time", times)
    u_dims = ("sample",) + spatial + (("time",) if has_time else ())
    if ndim_space == 2:
        layout, names = "navier-stokes", ("w0", "w")
        long = ("initial vorticity w(x, 0)", "vorticity w(x, t)")
    else:
        layout, names = "burgers", ("u0", "u")
        long = ("initial velocity u(x, 0)", "velocity u(x, t)" if has_time else "velocity u(x, T)")
    variables = {names[1]: variable(u_dims, take("u"), long[1], source_name="u")}
    inputs = ()
    if a is not None:
        variables[names[0]] = variable(("sample",) + spatial, take("a"), long[0], source_name="a")
        inputs = (names[0],)
    return finish(
        variables, coords, fmt=NAME, layout=layout, path=path,
        bc={d: "periodic" for d in spatial}, inputs=inputs, outputs=(names[1],) if inputs else (),
        attrs=attrs, notes=notes,
    )

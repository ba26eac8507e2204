"""Small files written in the exact layouts of the external data sets (solvers.md §5).

Each writer creates a file with a handful of samples through the library the
source itself uses (scipy.io, h5py, netCDF4, torch.save) and returns the arrays
it wrote, so that tests can compare what opkit.io reads value by value.
"""

from __future__ import annotations

import numpy as np

RNG_SEED = 20240601


def rng(offset=0):
    return np.random.default_rng(RNG_SEED + offset)


# ----------------------------------------------------------------------------- FNO MATLAB

MAT73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."


def write_mat_v5(path, arrays):
    import scipy.io

    scipy.io.savemat(path, arrays)
    return arrays


def write_mat_v73(path, arrays):
    """A MATLAB v7.3 file: 512-byte user block with MATLAB's header, then HDF5.

    MATLAB writes column-major arrays, which HDF5 (row-major) sees with every
    axis reversed; the writer stores ``arr.T`` to reproduce that.
    """
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        for name, arr in arrays.items():
            arr = np.asarray(arr)
            if arr.ndim < 2:
                arr = arr.reshape(1, -1)  # MATLAB has no 1-D arrays
            d = f.create_dataset(name, data=np.ascontiguousarray(arr.T))
            d.attrs["MATLAB_class"] = np.bytes_("double" if arr.dtype == np.float64 else "single")
        f.create_group("#refs#")  # MATLAB's object store: must be ignored
    header = MAT73_HEADER.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as fh:
        fh.write(header.ljust(512, b"\x00"))
    return arrays


def fno_ns(n=3, s=8, t=4):
    r = rng(1)
    return {"a": r.normal(size=(n, s, s)), "u": r.normal(size=(n, s, s, t)), "t": np.arange(1.0, t + 1).reshape(1, t)}


def fno_darcy(n=3, s=9):
    r = rng(2)
    return {"coeff": np.where(r.normal(size=(n, s, s)) > 0, 12.0, 3.0), "sol": r.random((n, s, s))}


def fno_burgers(n=4, s=16):
    r = rng(3)
    return {"a": r.normal(size=(n, s)), "u": r.normal(size=(n, s))}


# ----------------------------------------------------------------------------- PDEBench


def pdebench_flat(path, n=3, nt=5, nx=16):
    import h5py

    r = rng(4)
    tensor = r.normal(size=(n, nt, nx)).astype(np.float32)
    x = ((np.arange(nx) + 0.5) / nx).astype(np.float32)
    t = np.linspace(0, 2, nt + 1).astype(np.float32)  # one entry too many, as PDEBench ships it
    with h5py.File(path, "w") as f:
        f["tensor"] = tensor
        f["x-coordinate"] = x
        f["t-coordinate"] = t
        f.attrs["Nu"] = 0.01
    return {"tensor": tensor, "x": x, "t": t}


def pdebench_darcy(path, n=3, s=8):
    import h5py

    r = rng(5)
    tensor = r.random((n, 1, s, s)).astype(np.float32)
    nu = np.where(r.random((n, s, s)) > 0.5, 1.0, 0.1).astype(np.float32)
    x = ((np.arange(s) + 0.5) / s).astype(np.float32)
    with h5py.File(path, "w") as f:
        f["tensor"] = tensor
        f["nu"] = nu
        f["x-coordinate"] = x
        f["y-coordinate"] = x
        f.attrs["beta"] = 1.0
    return {"tensor": tensor, "nu": nu, "x": x}


def pdebench_cfd(path, n=2, nt=3, nx=8, ny=6, drop=()):
    import h5py

    r = rng(6)
    out = {name: r.random((n, nt, nx, ny)).astype(np.float32) for name in ("density", "pressure", "Vx", "Vy")}
    with h5py.File(path, "w") as f:
        for name, arr in out.items():
            if name not in drop:
                f[name] = arr
        f["x-coordinate"] = np.linspace(0, 1, nx, dtype=np.float32)
        f["y-coordinate"] = np.linspace(0, 1, ny, dtype=np.float32)
        f["t-coordinate"] = np.linspace(0, 1, nt + 1, dtype=np.float32)
        f.attrs.update({"eta": 0.01, "zeta": 0.01, "M": 0.1})
    return out


def pdebench_groups(path, n=3, nt=4, nx=6, ny=5, channels=2):
    import h5py

    r = rng(7)
    data = r.normal(size=(n, nt, nx, ny, channels)).astype(np.float32)
    with h5py.File(path, "w") as f:
        for i in range(n):
            g = f.create_group(f"{i:04d}")
            g["data"] = data[i]
            g["grid/x"] = np.linspace(-1, 1, nx, dtype=np.float32)
            g["grid/y"] = np.linspace(-1, 1, ny, dtype=np.float32)
            g["grid/t"] = np.linspace(0, 5, nt, dtype=np.float32)
    return data


def pdebench_ns(path, b=2, nt=3, nx=6, ny=6):
    import h5py

    r = rng(8)
    out = {
        "velocity": r.normal(size=(b, nt, nx, ny, 2)).astype(np.float32),
        "particles": r.random((b, nt, nx, ny, 1)).astype(np.float32),
        "force": r.normal(size=(b, nx, ny, 2)).astype(np.float32),
        "t": np.tile(np.linspace(0, 0.5, nt, dtype=np.float32), (b, 1)),
    }
    with h5py.File(path, "w") as f:
        for name, arr in out.items():
            f[name] = arr
    return out


# ----------------------------------------------------------------------------- PDEgym


def pdegym_nc(path, **variables):
    """A netCDF-4 file (netCDF4-C) holding each variable with dims of its own.

    PDEgym's dim names are not part of the layout (Poseidon reads by variable
    name with h5py), so the writer names them neutrally.
    """
    import netCDF4

    with netCDF4.Dataset(path, "w") as nc:
        for name, arr in variables.items():
            dims = []
            for i, size in enumerate(arr.shape):
                dim = f"{name}_{i}"
                nc.createDimension(dim, size)
                dims.append(dim)
            v = nc.createVariable(name, arr.dtype, dims)
            v[...] = arr
    return variables


def pdegym_helmholtz(path, n=12, s=8):
    import h5py

    r = rng(9)
    a = r.random((n, s, s))
    u = r.normal(size=(n, s, s))
    bc = r.uniform(0.25, 0.5, size=n)
    with h5py.File(path, "w") as f:
        for i in range(n):
            g = f.create_group(f"Sample_{i}")
            g["a"] = a[i]
            g["u"] = u[i]
            g["bc"] = bc[i]
    return {"a": a, "u": u, "bc": bc}


# ----------------------------------------------------------------------------- The Well


def the_well(path, n=2, nt=3, nx=6, ny=5, drop_time=False):
    """A file in The Well's schema, written by hand from its documentation."""
    import h5py

    r = rng(10)
    out = {
        "density": r.random((n, nt, nx, ny)).astype(np.float32),
        "obstacle": (r.random((nx, ny)) > 0.5).astype(np.float32),  # neither sample- nor time-varying
        "velocity": r.normal(size=(n, nt, nx, ny, 2)).astype(np.float32),
        "stress": r.normal(size=(n, nt, nx, ny, 2, 2)).astype(np.float32),
        "energy": r.random((n, nt)).astype(np.float32),
        "time": np.linspace(0, 1, nt).astype(np.float32),
        "x": np.linspace(0, 1, nx).astype(np.float32),
        "y": np.linspace(0, 2, ny).astype(np.float32),
    }
    strs = lambda *names: np.array(names, dtype=h5py.string_dtype())  # noqa: E731
    with h5py.File(path, "w") as f:
        f.attrs["dataset_name"] = "toy_flow"
        f.attrs["grid_type"] = "cartesian"
        f.attrs["n_spatial_dims"] = 2
        f.attrs["n_trajectories"] = n
        f.attrs["simulation_parameters"] = strs("Re")
        f.attrs["Re"] = 100.0
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = strs("x", "y")
        if not drop_time:
            dims["time"] = out["time"]
            dims["time"].attrs["sample_varying"] = False
        for d in ("x", "y"):
            dims[d] = out[d]
            dims[d].attrs["sample_varying"] = False
            dims[d].attrs["time_varying"] = False
        bcs = f.create_group("boundary_conditions")
        for name, dim, kind, size in (("x_periodic", "x", "periodic", nx), ("y_wall", "y", "wall", ny)):
            g = bcs.create_group(name)
            g.attrs["associated_dims"] = strs(dim)
            g.attrs["associated_fields"] = strs()
            g.attrs["bc_type"] = kind
            g.attrs["sample_varying"] = False
            g.attrs["time_varying"] = False
            mask = np.zeros(size, dtype=bool)
            mask[[0, -1]] = True
            g["mask"] = mask
            g["values"] = np.zeros(0, dtype=np.float32)
        sc = f.create_group("scalars")
        sc.attrs["field_names"] = strs("energy")
        sc["energy"] = out["energy"]
        sc["energy"].attrs["sample_varying"] = True
        sc["energy"].attrs["time_varying"] = True
        for order, names in ((0, ("density", "obstacle")), (1, ("velocity",)), (2, ("stress",))):
            g = f.create_group(f"t{order}_fields")
            g.attrs["field_names"] = strs(*names)
            for name in names:
                g[name] = out[name]
                varying = name != "obstacle"
                g[name].attrs["dim_varying"] = np.array([True, True])
                g[name].attrs["sample_varying"] = varying
                g[name].attrs["time_varying"] = varying
                if order == 2:
                    g[name].attrs["symmetric"] = False
                    g[name].attrs["antisymmetric"] = False
    return out


# ----------------------------------------------------------------------------- torch files


class Exploit:
    """Unpickling this would create ``marker``: the reader must never do it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))

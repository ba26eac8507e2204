"""
Opening data sets from other projects
=====================================

Data for operator learning comes in many layouts: MATLAB files from the FNO
papers, PDEBench's HDF5, Poseidon's PDEgym netCDF, The Well's HDF5 schema and
neuraloperator's ``.pt`` dictionaries. :func:`opkit.io.open_dataset` detects
which one a file holds and returns it in opkit's single convention: an
:class:`xarray.Dataset` with dims ``sample``, ``time``, ``x``, ``y``,
coordinates with units, boundary conditions in ``bc_*`` attributes, and the
operator's inputs and outputs in ``opkit_inputs``/``opkit_outputs`` when the
source says what its task is.

This example writes tiny files in three external layouts (the real ones are
gigabytes), opens them, opens neuraloperator's small Darcy set that ships with
opkit, and writes the result back out as opkit netCDF and as The Well's HDF5.
"""

# %%
import tempfile
from importlib import resources
from pathlib import Path

import h5py
import matplotlib.pyplot as plt
import netCDF4
import numpy as np

import opkit.io

folder = Path(tempfile.mkdtemp())
rng = np.random.default_rng(0)
for name, description in opkit.io.FORMATS.items():
    print(f"{name:9s} {description}")

# %%
# An FNO Navier--Stokes file (MATLAB v7.3)
# ----------------------------------------
# MATLAB v7.3 files are HDF5 behind a 512-byte header, and because MATLAB
# stores arrays column-major, HDF5 sees every axis reversed: FNO's vorticity
# ``u`` of shape (N, 64, 64, T) is stored (T, 64, 64, N). We write such a file
# from smooth random fields; the reader transposes back, names the variables as
# opkit's own Navier--Stokes solver does (``w0`` → ``w``) and reads the
# viscosity from the file name.

n, s, T = 4, 32, 5
x = np.arange(s) / s
k = np.fft.fftfreq(s, d=1 / s)
spectrum = (1 + k[:, None] ** 2 + k[None, :] ** 2) ** -1.5
w0 = np.fft.ifft2(np.fft.fft2(rng.normal(size=(n, s, s))) * spectrum).real * s
decay = np.exp(-0.05 * np.arange(1, T + 1))
w = w0[..., None] * decay  # (N, s, s, T), as FNO stores it

path = folder / "NavierStokes_V1e-3_N4_T5.mat"
with h5py.File(path, "w", userblock_size=512) as f:
    f["a"] = w0.T
    f["u"] = w.T
    f["t"] = np.arange(1.0, T + 1)[None, :].T
with open(path, "r+b") as fh:
    fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116) + bytes(8) + b"\x00\x02IM")

fno = opkit.io.open_dataset(path)
print(fno)

# %%
# Nothing has been read yet: HDF5 and netCDF sources open as dask arrays,
# chunked by sample, and values are read when used.

print(type(fno.w.data).__name__, fno.w.data.chunks)

# %%
# A PDEBench 1-D file
# -------------------
# PDEBench stores a flat ``tensor`` (N, Nt, Nx) with ``x-coordinate`` and a
# ``t-coordinate`` that has one entry more than there are frames; the reader
# drops the extra entry and says so in ``time_note``.

nx, nt = 64, 21
xc = (np.arange(nx) + 0.5) / nx
tc = np.linspace(0, 2, nt + 1)
phase = rng.uniform(0, 2 * np.pi, size=(3, 1, 1))
tensor = np.sin(2 * np.pi * (xc[None, None, :] - 0.4 * tc[None, :nt, None]) + phase) * np.exp(-tc[None, :nt, None])
path = folder / "1D_Advection_Sols_beta0.4.hdf5"
with h5py.File(path, "w") as f:
    f["tensor"] = tensor.astype(np.float32)
    f["x-coordinate"] = xc.astype(np.float32)
    f["t-coordinate"] = tc.astype(np.float32)
    f.attrs["beta"] = 0.4

pdebench = opkit.io.open_dataset(path)
print(pdebench.u.dims, pdebench.sizes["time"], "|", pdebench.attrs["time_note"])

# %%
# A PDEgym compressible-Euler file (netCDF)
# -----------------------------------------
# Poseidon's CE sets hold one array ``data`` (N, 21, 5, 128, 128) whose channels
# are density, velocities, pressure and energy. They become five variables;
# the family (here ``CE-RP``, a four-quadrant Riemann problem on the periodic
# unit square) comes from the file name.

m = 32
xx, yy = np.meshgrid(np.arange(m) / m, np.arange(m) / m, indexing="ij")
quadrant = (xx > 0.5).astype(int) + 2 * (yy > 0.5).astype(int)
states = rng.uniform(0.1, 1.0, size=(2, 4))  # density and pressure per quadrant
data = np.zeros((2, 3, 5, m, m), np.float32)
data[:, :, 0] = states[0][quadrant]
data[:, :, 3] = states[1][quadrant]
data[:, :, 4] = data[:, :, 3] / 0.4
path = folder / "CE-RP.nc"
with netCDF4.Dataset(path, "w") as nc:
    for i, size in enumerate(data.shape):
        nc.createDimension(f"d{i}", size)
    nc.createVariable("data", "f4", tuple(f"d{i}" for i in range(5)))[...] = data

ce = opkit.io.open_dataset(path)
print(list(ce.data_vars), ce.attrs["bc_x"], ce.attrs["pdegym_family"])

# %%
# neuraloperator's Darcy flow
# ---------------------------
# neuraloperator ships its small Darcy set as ``torch.save`` dictionaries. They
# are read with ``weights_only=True``: a file asking to build anything but
# tensors is refused before any of its code could run.

with resources.as_file(resources.files("opkit.data") / "files" / "darcy_test_16.pt") as pt:
    darcy = opkit.io.open_dataset(pt).load()
print(darcy.attrs["opkit_inputs"], "->", darcy.attrs["opkit_outputs"], "| bc_x =", darcy.attrs["bc_x"])

# %%
# The four data sets
# ------------------

fig, axes = plt.subplots(1, 4, figsize=(14, 3.3), constrained_layout=True)
panels = [
    (fno.w.isel(sample=0, time=-1), "FNO .mat: w (t = 5)", "RdBu_r", "y"),
    (pdebench.u.isel(sample=0), "PDEBench: u(t, x)", "RdBu_r", "time"),
    (ce.rho.isel(sample=0, time=0), "PDEgym CE-RP: rho", "viridis", "y"),
    (darcy.u.isel(sample=0), "neuraloperator Darcy: u", "magma", "y"),
]
for ax, (field, title, cmap, vertical) in zip(axes, panels):
    field.plot(ax=ax, x="x", y=vertical, cmap=cmap, add_colorbar=False)
    ax.set_title(title)
fig.suptitle("Four layouts, one convention: dims and coordinates come from opkit.io")

# %%
# Writing for others
# ------------------
# :func:`opkit.io.to_netcdf` writes opkit's own netCDF (atomically: a
# temporary file is renamed once complete) and :func:`opkit.io.to_the_well`
# exports to The Well's HDF5 schema; both open again with
# :func:`~opkit.io.open_dataset`.

opkit.io.to_netcdf(fno, folder / "fno.nc")
opkit.io.to_the_well(fno.astype(np.float32), folder / "fno_well.hdf5")
with opkit.io.open_dataset(folder / "fno.nc") as a, opkit.io.open_dataset(folder / "fno_well.hdf5") as b:
    print(a.attrs["source_format"], b.attrs["source_format"], "same values:", bool((a.w == b.w).all()))
with h5py.File(folder / "fno_well.hdf5") as f:
    print("The Well's groups:", list(f), "| fields:", list(f["t0_fields"]))

"""
Navier--Stokes training data
============================

``python -m solvers.navier_stokes`` writes vorticity trajectories of the 2-D
incompressible Navier--Stokes equations on a periodic square, in the layout
every opkit estimator reads: ``w0(sample, x, y)`` is the operator input,
``w(sample, time, x, y)`` the output. This example generates a few samples of
FNO's ``nu = 1e-3`` set (preset ``fno-ns-v1e-3``, shortened to ``T = 10``),
shows vorticity snapshots and the kinetic energy spectrum, and checks one
sample against a run at four times the resolution.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from solvers import navier_stokes as ns
from solvers._cli import generate_dataset
from solvers._seed import sample_rngs

# %%
# Generate a small dataset
# ------------------------
# The preset fixes the physics (viscosity, FNO's forcing
# ``0.1 (sin 2pi(x+y) + cos 2pi(x+y))``, Gaussian random initial vorticity) and
# the numerics (ETDRK4 pseudo-spectral solve on 64^2 with a CFL time step).
# Any parameter can be overridden; here the final time, to keep the build fast.

out = Path(tempfile.mkdtemp()) / "ns.nc"
generate_dataset(ns.SOLVER, out, n_samples=3, seed=0, preset="fno-ns-v1e-3", t_end=10.0, progress=False)
ds = xr.open_dataset(out)
print(ds)
print("inputs:", ds.attrs["opkit_inputs"], "| outputs:", ds.attrs["opkit_outputs"])
print(ds.attrs["method"])

# %%
# Vorticity snapshots
# -------------------
# The random initial field is sheared by the large-scale forcing and smoothed
# by viscosity: by ``t = 10`` little of the initial small-scale structure is
# left and the flow approaches the forced laminar state, of amplitude
# ``0.1 / (8 pi^2 nu) = 1.27``.

times = [1.0, 3.0, 10.0]
fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), constrained_layout=True)
panels = [("w0 (t = 0)", ds.w0.isel(sample=0))] + [(f"w (t = {t:g})", ds.w.isel(sample=0).sel(time=t)) for t in times]
vmax = max(float(abs(field).max()) for _, field in panels)
for ax, (title, field) in zip(axes, panels):
    im = ax.pcolormesh(ds.x, ds.y, field.T, cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="auto")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
axes[0].set_ylabel("y")
fig.colorbar(im, ax=axes, shrink=0.8, label="vorticity")

# %%
# Energy spectrum
# ---------------
# :func:`solvers.navier_stokes.energy_spectrum` sums
# :math:`\tfrac12|\hat\omega_k|^2/|k|^2` over shells of integer wavenumber.
# The initial spectrum follows the GRF's law, :math:`E(k) \propto k^{-2\alpha-1}
# = k^{-6}` at large ``k``; later the forced mode ``|k| = sqrt 2`` (shell 1)
# dominates and the tail drops by many decades: the 64^2 grid resolves this
# flow.

fig, ax = plt.subplots(figsize=(5, 3.6), constrained_layout=True)
k, E0 = ns.energy_spectrum(ds.w0.values)
ax.loglog(k, E0.mean(0), "k-", label="t = 0")
for t in times:
    k, E = ns.energy_spectrum(ds.w.sel(time=t).values)
    ax.loglog(k, E.mean(0), label=f"t = {t:g}")
ax.set_xlabel("wavenumber |k| (shell)")
ax.set_ylabel("E(k), mean over samples")
ax.set_ylim(1e-20, None)
ax.legend()

# %%
# How accurate is a sample?
# -------------------------
# The same initial field solved on 128^2 with half the Courant number gives a
# reference; the stored 64^2 data agree with it to float32 round-off (the
# benchmark in ``docs/benchmarks.rst`` finds ~1e-7 against 256^2 as well).

params = ns.SOLVER.resolve({"t_end": 10.0})
coef = ns.initial_coefficients(params, sample_rngs(0, [0]))
fine = ns.NavierStokes2D(128, viscosity=1e-3, forcing=ns.fno_forcing(128), cfl=0.25)
ref = fine.solve(fine.from_coefficients(coef), [10.0], n_out=64)["vorticity"][0, 0]
ours = ds.w.isel(sample=0).sel(time=10.0).values
print(f"relative L2 difference at t = 10 (stored float32): {np.linalg.norm(ours - ref) / np.linalg.norm(ref):.1e}")
ds.close()

"""
Compressible Euler training data (Poseidon's CE families)
=========================================================

:mod:`solvers.euler` solves the 2-D compressible Euler equations of an ideal
gas with second-order finite volumes (MUSCL reconstruction, HLLC fluxes,
SSP Runge--Kutta) and writes Poseidon-style trajectories: 21 snapshots of
density, velocity and pressure. Its four presets mirror the CE-RP, CE-Gauss,
CE-KH and CE-RM sets, solved on 256\\ :sup:`2` and stored at 128\\ :sup:`2`;
here each runs for one sample on a 64\\ :sup:`2` grid to keep the
documentation build short. First, the scheme on Sod's shock tube against the
exact Riemann solution.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from solvers import euler
from solvers._cli import generate_dataset

# %%
# Sod's shock tube
# ----------------
# A 1-D problem is a 2-D grid one cell wide. The exact solution comes from
# :func:`solvers.euler.exact_riemann` (Newton's method on the star pressure).
left, right, x0, t = (1.0, 0.0, 1.0), (0.125, 0.0, 0.1), 0.5, 0.2
fig, ax = plt.subplots(figsize=(6, 3.2))
fine = np.linspace(0, 1, 2001)
ax.plot(fine, euler.exact_riemann(left, right, (fine - x0) / t)[0], "k", lw=1, label="exact")
for n, limiter, style in ((100, "none", "C1."), (100, "vanleer", "C0.")):
    x = (np.arange(n) + 0.5) / n
    state = np.where((x < x0)[:, None], np.array(left), np.array(right))
    rho, u, p = (state[:, k].reshape(n, 1) for k in range(3))
    w, _ = euler.solve(rho, u, np.zeros((n, 1)), p, [0.0, t], boundary="outflow", limiter=limiter)
    err = np.abs(w[0, -1, 0, :, 0] - euler.exact_riemann(left, right, (x - x0) / t)[0]).mean()
    ax.plot(x, w[0, -1, 0, :, 0], style, ms=3, label=f"{n} cells, {limiter} (L1 {err:.1e})")
ax.set_xlabel("x")
ax.set_ylabel("density at t = 0.2")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# The four Poseidon families
# --------------------------
# Each preset runs through :func:`solvers._cli.generate_dataset`, which writes
# the same netCDF layout as ``python -m solvers.euler --preset ...``. The file
# declares ``rho0 vx0 vy0 p0`` as the operator's inputs and the trajectories
# ``rho vx vy p`` as its outputs.
folder = Path(tempfile.mkdtemp())
presets = ("pdegym-ce-rp", "pdegym-ce-gauss", "pdegym-ce-kh", "pdegym-ce-rm")
fig, axes = plt.subplots(len(presets), 3, figsize=(8, 10.5))
for row, preset in zip(axes, presets):
    out = folder / f"{preset}.nc"
    generate_dataset(euler.SOLVER, out, n_samples=1, seed=0, preset=preset, progress=False,
                     resolution=64, solver_resolution=64)
    with xr.open_dataset(out) as ds:
        print(f"{preset:16s} {ds.attrs['opkit_inputs']} -> {ds.attrs['opkit_outputs']}, steps {int(ds.n_steps[0])}, "
              f"min rho {float(ds.rho.min()):.3f}, min p {float(ds.p.min()):.3f}")
        lo, hi = float(ds.rho.min()), float(ds.rho.max())  # one colour scale per trajectory
        for ax, k in zip(row, (0, 10, 20)):
            frame = ds.rho.isel(sample=0, time=k)
            ax.pcolormesh(ds.x, ds.y, frame.T, shading="auto", cmap="magma", vmin=lo, vmax=hi)
            ax.set_title(f"{preset[7:].upper()} density, t = {float(ds.time[k]):.2g}", fontsize=9)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
fig.tight_layout()
plt.show()

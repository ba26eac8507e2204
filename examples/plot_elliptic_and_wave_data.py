"""
Elliptic, wave and phase-field training data
============================================

Five more solvers write operator-learning data in opkit's layout: Darcy flow
(FNO's coefficient-to-pressure task), Poseidon's Poisson-Gauss and Helmholtz
problems, acoustic waves in a variable medium (Wave-Gauss, Wave-Layer) and the
Allen--Cahn equation (ACE). Each is ``python -m solvers.<name> --preset ...``
on the command line; here they run from Python through
:func:`solvers._cli.generate_dataset`, one small file each, with the presets'
physics on grids small enough for the documentation build. Every file says
which variables are the operator's inputs and outputs (``opkit_inputs``,
``opkit_outputs``), so ``OpKit().fit(ds)`` needs nothing else.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from solvers import allen_cahn, darcy, helmholtz, poisson, wave
from solvers._cli import generate_dataset

folder = Path(tempfile.mkdtemp())


def make(solver, preset, **overrides):
    """Generate one sample of a preset (with smaller grids) and open the file."""
    out = folder / f"{preset}.nc"
    generate_dataset(solver.SOLVER, out, n_samples=1, seed=0, preset=preset, progress=False, **overrides)
    ds = xr.open_dataset(out)
    print(f"{preset:22s} inputs: {ds.attrs['opkit_inputs']:6s} outputs: {ds.attrs['opkit_outputs']:3s}", dict(ds.sizes))
    return ds


def show(ax, field, title, cmap="viridis", symmetric=False):
    """Image of a (x, y) field with x to the right and y up."""
    vmax = float(abs(field).max()) if symmetric else None
    im = ax.pcolormesh(field.x, field.y, field.T, cmap=cmap, shading="auto",
                       vmin=-vmax if symmetric else None, vmax=vmax)
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    plt.colorbar(im, ax=ax, shrink=0.75)


# %%
# Darcy flow and the two Poseidon elliptic problems
# -------------------------------------------------
# Darcy: FNO's law (a = 12 or 3 from a thresholded Gaussian random field,
# f = 1) solved by 5-point finite differences with harmonic face means; here
# on 121 nodes stored at stride 2 (the presets use 421 or about 250 nodes).
# Poisson-Gauss: sums of Gaussian sources, solved exactly by sine transforms
# and Richardson-extrapolated. Helmholtz: -Lap u - (5 pi/2)^2 a u = 0 with the
# boundary value b; a and the constant field b are the inputs. All three
# grids are nodal with the boundary nodes.

dar = make(darcy, "fno-darcy-r85", solver_resolution=121, resolution=61, grf_modes=121)
poi = make(poisson, "pdegym-poisson-gauss")
hel = make(helmholtz, "pdegym-helmholtz")

fig, axes = plt.subplots(2, 3, figsize=(11, 6.5), constrained_layout=True)
show(axes[0, 0], dar.a[0], "Darcy: coefficient a", cmap="cividis")
show(axes[1, 0], dar.u[0], "Darcy: pressure u")
show(axes[0, 1], poi.f[0], "Poisson-Gauss: source f", cmap="magma")
show(axes[1, 1], poi.u[0], "Poisson-Gauss: solution u")
show(axes[0, 2], hel.a[0], f"Helmholtz: a (b = {float(hel.boundary_value[0]):.3f})", cmap="cividis")
show(axes[1, 2], hel.u[0], "Helmholtz: solution u", cmap="RdBu_r", symmetric=True)

# %%
# The solutions vanish (Darcy, Poisson) or equal b (Helmholtz) on the edges:
print("Darcy u on the boundary:", float(abs(dar.u[0, 0]).max()), "| interior max:", float(dar.u.max()))
print("Helmholtz u on the boundary:", float(hel.u[0, 0, 0]), "= b:", float(hel.boundary_value[0]),
      "| residual of the sparse solve:", float(hel.residual[0]))

# %%
# Waves and phase separation
# --------------------------
# Wave-Gauss: Gaussian bumps spread in a medium whose speed is a background
# plus four Gaussian anomalies, and leave the square through absorbing
# boundaries (leapfrog, fourth-order space). ACE: small random initial data
# separate into the phases +1 and -1 within a few multiples of 1/eps^2, here
# solved on 128^2 instead of the preset's 256^2.

wav = make(wave, "pdegym-wave-gauss", n_times=8, record_interval=0.1)
ace = make(allen_cahn, "pdegym-ace", solver_resolution=128)

fig, axes = plt.subplots(2, 4, figsize=(13, 6.2), constrained_layout=True)
show(axes[0, 0], wav.c[0], "Wave-Gauss: speed c", cmap="cividis")
for ax, t in zip(axes[0, 1:], (0.0, 0.2, 0.4)):
    show(ax, wav.u[0].sel(time=t, method="nearest"), f"u at t = {t:g}", cmap="RdBu_r", symmetric=True)
for ax, k in zip(axes[1], (0, 14, 17, 19)):
    frame = ace.u[0, k]
    show(ax, frame, f"ACE: u at t = {float(frame.time):.2e}", cmap="PuOr", symmetric=True)

# %%
# How much of the wave is left inside the square, and how far ACE has
# separated (share of the square within 0.1 of a pure phase):
energy = (wav.u[0] ** 2).sum(("x", "y"))
print("wave: L2 norm^2 relative to t = 0:", np.round((energy / energy[0]).values, 3))
pure = (abs(ace.u[0]) > 0.9).mean(("x", "y"))
print("ACE: pure-phase share per frame:", np.round(pure.values, 2))
plt.show()

"""
Chaotic ODE trajectories with their equations
=============================================

:mod:`solvers.odes` writes PROSE's data: trajectories of chaotic systems
(Lorenz, Rössler, Thomas, ... twelve 3-D families) together with the vector
field each one solves, as text with the drawn constants. Here two samples of
each of three families, on PROSE's horizon t in [0, 6] but with 97 stored
times instead of 192, so it runs in seconds.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import sympy
import xarray as xr

from solvers import odes
from solvers._cli import generate_dataset

out = Path(tempfile.mkdtemp()) / "odes.nc"
generate_dataset(
    odes.SOLVER, out, n_samples=6, seed=0, progress=False, families="lorenz,rossler,thomas",
    states_per_equation=2, n_times=97, n_input_times=32,
)
ds = xr.open_dataset(out)
print(dict(ds.sizes), "| inputs:", ds.attrs["opkit_inputs"], "| outputs:", ds.attrs["opkit_outputs"])
for k in (0, 2, 4):
    print(f"{str(ds.family.values[k]):8s} {ds.equation.values[k]}")

# %%
# The equation text is the vector field
# -------------------------------------
# ``equation`` parses with sympy (:func:`solvers.odes.parse_equation`);
# ``equation_prefix`` holds the same tree in PROSE's prefix tokens, floats as
# sign, 3-digit mantissa and exponent.
exprs = odes.parse_equation(str(ds.equation.values[0]), 3)
print(exprs)
print(ds.equation_prefix.values[0])
u = [sympy.Symbol(f"u_{i}") for i in range(3)]
slope = np.array(sympy.lambdify(u, exprs, "numpy")(*ds.state.values[0, 40]))
print("f(u) at t = 2.5 from the text:", np.round(slope, 3))

# %%
# Two initial states per equation
# -------------------------------
# Samples 2k and 2k + 1 share the equation; the shaded part of each curve is
# the observed window (``n_input_times``), the rest is what a model predicts.
fig = plt.figure(figsize=(12, 7), constrained_layout=True)
n_in = int(ds.attrs["n_input_times"])
for col, k in enumerate((0, 2, 4)):
    ax = fig.add_subplot(2, 3, col + 1, projection="3d")
    for j, color in ((k, "C0"), (k + 1, "C1")):
        x = ds.state.values[j]
        ax.plot(*x.T, color=color, lw=0.8)
        ax.plot(*x[:n_in].T, color=color, lw=2.5, alpha=0.5)
    ax.set_title(str(ds.family.values[k]), fontsize=10)
    ax = fig.add_subplot(2, 3, col + 4)
    for i in range(3):
        ax.plot(ds.time, ds.state.values[k, :, i], label=f"u_{i}")
    ax.axvspan(0, float(ds.time[n_in - 1]), color="0.9")
    ax.set_xlabel("t")
    ax.legend(fontsize=8)
plt.show()

"""
Multigrid neural operator (MgNO) for Darcy flow
===============================================

:class:`opkit.MgNOOperator` builds every layer's linear operator from a
learned multigrid cycle: 3 x 3 convolutions smooth the residual
``f - A u`` on a hierarchy of grids (16, 8, 4 here), strided convolutions
restrict, transposed convolutions prolong. One cycle sees the whole domain,
at a cost linear in the number of grid points, with few parameters.

This example fits a small MgNO on the embedded 16 x 16 Darcy data, shows
that the boundary conditions recorded in the data choose the convolution
padding, and what happens at another resolution.
"""

# %%
import torch

from opkit.models import MgNOOperator
from opkit.data import load_darcy_small
from opkit.metrics import relative_error
from opkit.plotting import plot_prediction

torch.set_num_threads(2)

train, test = load_darcy_small("both")
print("boundary conditions of u:", {k: v for k, v in train.u.attrs.items() if k.startswith("bc_")})

# %%
# Fit
# ---
# A smaller network than the default (16 channels, 3 layers instead of 24 and
# 4) and a few epochs, so that the example runs in well under a minute.
# Outputs are normalised per grid point (``normalize="pointwise"``, as in
# MgNO's own code), the estimator's default.
est = MgNOOperator(channels=16, n_layers=3, max_epochs=6, random_state=0)
est.fit(train.a, train.u)
print(f"{est.n_params_:,} parameters, {est.levels_for(est.output_spec_)} levels, "
      f"{sum(est.history_['time']) / est.n_epochs_:.1f} s per epoch")
est.plot_history()

# %%
# Test errors
# -----------
prediction = est.predict(test.a)
print(f"relative L2: {relative_error(prediction, test.u, norm='l2'):.4f}")
print(f"relative H1: {relative_error(prediction, test.u, norm='h1'):.4f}")
fig = plot_prediction(test.a, test.u, prediction, sample=0)

# %%
# Boundary conditions select the padding
# --------------------------------------
# ``bc_x = bc_y = "dirichlet"`` gives zero padding in every convolution;
# periodic data would give circular padding and Neumann data reflection.
# ``padding=`` overrides it, per dim if needed.
modes = {m.modes for m in est.model_.core.modules() if hasattr(m, "modes")}
print("padding modes used:", modes)

# %%
# Another resolution
# ------------------
# The 3 x 3 stencils are learned for the grid spacing seen in ``fit``, so MgNO
# is not resolution-invariant and refuses another grid instead of returning a
# poor answer.
from opkit.quickstart import refine_coefficient

try:
    est.predict(refine_coefficient(test.a, 2))
except ValueError as err:
    print("ValueError:", err)

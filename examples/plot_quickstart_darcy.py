"""
Quickstart: a Fourier neural operator for Darcy flow
====================================================

The Darcy problem :math:`-\\nabla\\cdot(a\\nabla u) = 1` with :math:`u = 0` on the
boundary maps a two-phase permeability :math:`a(x)` to a pressure field
:math:`u(x)`. opkit ships 1000 training and 50 test pairs on a 16 x 16 grid
(from the neuraloperator repository). This example fits
:class:`opkit.TFNORegressor` with its defaults, reports relative L2 and H1 test
errors, looks at one prediction, and predicts at twice the training resolution,
which a neural operator can do without retraining.
"""

# %%
import matplotlib.pyplot as plt
import torch

import opkit
from opkit import TFNORegressor
from opkit.data import load_darcy_small
from opkit.metrics import relative_error
from opkit.plotting import plot_prediction
from opkit.quickstart import refine_coefficient

torch.set_num_threads(2)

# %%
# The data
# --------
# Fields are xarray objects with named dims; the Dataset says which variables
# are inputs and outputs, and that the boundaries are Dirichlet.
train, test = load_darcy_small("both")
print(train)

# %%
# Fit
# ---
# Hyperparameters are stored by the constructor and used by ``fit``, exactly
# as in scikit-learn. ``random_state`` makes the fit repeatable.
est = TFNORegressor(random_state=0).fit(train.a, train.u)
print(f"{est.n_params_:,} parameters, {est.n_epochs_} epochs")
est.plot_history()

# %%
# Test errors
# -----------
# Relative errors in the L2 and H1 norms (finite differences on the bounded
# grid, read from the ``bc_x``/``bc_y`` attributes).
prediction = est.predict(test.a)
print(f"relative L2: {relative_error(prediction, test.u, norm='l2'):.4f}")
print(f"relative H1: {relative_error(prediction, test.u, norm='h1'):.4f}")
fig = plot_prediction(test.a, test.u, prediction, sample=0)

# %%
# Zero-shot super-resolution
# --------------------------
# The coefficient is piecewise constant, so refining it is exact; the operator
# then evaluates on the 32 x 32 grid and the output carries the fine
# coordinates.
fine = est.predict(refine_coefficient(test.a, 2))
fig, axes = plt.subplots(1, 2, figsize=(9, 4), constrained_layout=True)
prediction.isel(sample=0).plot.imshow(ax=axes[0], x="x", y="y")
axes[0].set_title("prediction at 16 x 16")
fine.isel(sample=0).plot.imshow(ax=axes[1], x="x", y="y")
axes[1].set_title("prediction at 32 x 32")

# %%
# Save and load
# -------------
# ``save`` writes safetensors weights plus JSON metadata; ``opkit.load`` never
# unpickles anything.
import tempfile
from pathlib import Path

with tempfile.TemporaryDirectory() as folder:
    path = est.save(Path(folder) / "tfno_darcy.opkit")
    again = opkit.load(path)
    print("same predictions after loading:", bool((again.predict(test.a) == prediction).all()))

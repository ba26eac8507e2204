"""
Label-free Darcy operator and an inverse recovery with DGNOSolver
=================================================================

:class:`opkit.DGNOSolver` learns the map from a coefficient ``a(x, y)`` to the
pressure ``u`` of :math:`-\\nabla\\cdot(a\\nabla u) = 10`, ``u = 0`` on the
boundary, from the coefficients alone: a latent ``beta`` encodes ``a`` and two
MultiONet decoders give ``a`` and ``u`` at any point, trained on the weak
residual of :class:`opkit.physics.DarcyWeak`. The solutions of
``solvers.darcy`` only measure the error. The trained decoders then serve as
a prior to recover ``a`` from 100 noisy observations of ``u`` (25 dB), with
the spread of an ensemble as uncertainty.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from opkit import DGNOSolver
from opkit.metrics import relative_error
from opkit.physics import DarcyWeak
from solvers import darcy
from solvers._cli import compute_chunk

params = darcy.SOLVER.resolve(dict(resolution=29, solver_resolution=57, forcing=10.0,
                                   coefficient="lognormal", grf_modes=29))
ds = compute_chunk(darcy.SOLVER, params, np.arange(110), seed=0)
train, test = ds.isel(sample=slice(0, 100)), ds.isel(sample=slice(100, 110))

# %%
# Fit from ``a`` alone (``y=None``).
est = DGNOSolver(DarcyWeak(f=10.0, radius=0.02, n_centers=50, n_quadrature=7), max_epochs=60, batch_size=20,
                 encoder_layers=(128,), latent_dim=16, width=48, depth=3, random_state=0, device="cpu")
est.fit(train.a)
print(f"test relative L2(u): {relative_error(est.predict(test.a), test.u):.3f}")
est.plot_history()

# %%
# Inverse: 100 observations of ``u`` at 25 dB SNR.
rng = np.random.default_rng(1)
i, j = rng.integers(1, 28, 100), rng.integers(1, 28, 100)
obs = xr.DataArray(test.u.values[:1, i, j], dims=("sample", "obs"),
                   coords={"x": ("obs", test.x.values[i]), "y": ("obs", test.y.values[j])})
out = est.solve_inverse(obs, snr_db=25, n_iter=150, n_samples=5)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), constrained_layout=True)
for ax, field, title in zip(axes, (test.a[0], out.a_mean[0], out.a_std[0]), ("true a", "recovered a", "spread")):
    field.plot(ax=ax, x="x", y="y")
    ax.set_title(title)
axes[0].scatter(obs.x, obs.y, s=4, c="k")

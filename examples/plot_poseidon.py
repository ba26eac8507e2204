"""
Fine-tuning a small pretrained scOT on a few trajectories with PoseidonRegressor
================================================================================

:class:`opkit.PoseidonRegressor` is Poseidon's scalable operator transformer
(scOT): a SwinV2 U-Net whose LayerNorms are conditioned on the lead time, so
one network advances a state by any time. Its point is sample efficiency: a
model pretrained on one family of PDEs is fine-tuned with a few trajectories
of another.

The published checkpoints (``camlab-ethz/Poseidon-T`` and larger, CC-BY-NC)
are not bundled and nothing is downloaded here. Instead a *tiny* scOT is
pretrained on exact solutions of the heat equation with slow diffusion, saved
in the published layout (``config.json`` + ``model.safetensors``), read back
with :meth:`~opkit.PoseidonRegressor.from_pretrained` and fine-tuned on four
trajectories of faster diffusion, next to the same network trained from scratch
with the same budget. With a published checkpoint the steps are the same:
``PoseidonRegressor.from_pretrained("path/to/Poseidon-T", variables=...)``.
"""

# %%
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from opkit import PoseidonRegressor


def heat(n, kappa_range, seed, size=16, n_times=5):
    """Exact periodic heat-equation trajectories u_t = kappa Lap u on [0, 1)^2, t in [0, 1]."""
    rng = np.random.default_rng(seed)
    k = np.fft.fftfreq(size, 1 / size)
    lap = -(2 * np.pi) ** 2 * (k[:, None] ** 2 + k[None, :] ** 2)
    t = np.linspace(0, 1, n_times)
    decay = np.exp(-0.7 * np.abs(k[:, None]) - 0.7 * np.abs(k[None, :]))
    coeffs = (rng.normal(size=(n, size, size)) + 1j * rng.normal(size=(n, size, size))) * decay
    kappa = rng.uniform(*kappa_range, size=(n, 1, 1, 1))
    spectra = coeffs[:, None] * np.exp(kappa * lap * t[None, :, None, None])
    u = np.fft.ifft2(spectra).real * size
    grid = np.arange(size) / size
    return xr.Dataset({"u": (("sample", "time", "x", "y"), u)}, coords={"time": t, "x": grid, "y": grid})


config = dict(image_size=16, patch_size=2, embed_dim=12, depths=[1, 1, 1, 1], num_heads=[3, 3, 3, 3],
              window_size=4, skip_connections=[1, 1, 1, 0])
pretrain_data = heat(16, (2e-3, 6e-3), seed=0)
few_shot, test = heat(4, (8e-3, 1.2e-2), seed=1), heat(16, (8e-3, 1.2e-2), seed=2)

# %%
# Pretraining and the checkpoint
# ------------------------------
# ``fit(X)`` on trajectories trains on every pair of snapshots (``all2all``:
# 15 pairs of 5 snapshots, lead time 0 included). ``save_pretrained`` writes
# the Hugging Face layout the published models use.
base = PoseidonRegressor(model_size="tiny", config=config, max_epochs=10, batch_size=16,
                         learning_rate=5e-3, random_state=0, device="cpu").fit(pretrain_data)
folder = base.save_pretrained(tempfile.mkdtemp())
print(sorted(p.name for p in folder.iterdir()), f"{base.n_params_:,} parameters")

# %%
# Fine-tuning against training from scratch
# -----------------------------------------
# ``fit`` on a model from ``from_pretrained`` is the fine-tuning stage: three
# learning-rate groups (backbone, embedding + recovery, time-conditioned
# LayerNorms), as in the published recipe, scaled up for this tiny model.
budget = dict(max_epochs=20, batch_size=8, random_state=0, device="cpu")
tuned = PoseidonRegressor.from_pretrained(folder, variables=("u",), finetune_lr=(1e-3, 5e-3, 5e-3),
                                          learning_rate=5e-3, validation_fraction=0.0, **budget).fit(few_shot)
scratch = PoseidonRegressor(model_size="tiny", config=config, learning_rate=5e-3, **budget).fit(few_shot)

start, end = test.isel(time=0), test.isel(time=-1)
for name, est in (("pretrained + fine-tuned", tuned), ("from scratch", scratch), ("pretrained only", base)):
    print(f"{name:>24}: test relative L1 at t = 1: {1 - est.score(start, end, lead_time=1.0):.3f}")

# %%
# At this toy scale (a 0.4M-parameter network, a few seconds of pretraining)
# the gain of pretraining is modest; ``benchmarks/bench_poseidon.py`` runs the
# larger protocol (Navier--Stokes + Euler pretraining, Allen--Cahn fine-tuning).
#
# Predictions at t = 1
# --------------------
pred_tuned, pred_scratch = tuned.predict(start, 1.0)["u"], scratch.predict(start, 1.0)["u"]
fig, axes = plt.subplots(1, 4, figsize=(11, 2.8), constrained_layout=True)
panels = (start["u"][0], end["u"][0], pred_tuned[0], pred_scratch[0])
titles = ("u(t = 0)", "exact u(t = 1)", "fine-tuned", "from scratch")
vmin, vmax = float(end["u"][0].min()), float(end["u"][0].max())
for ax, field, title in zip(axes, panels, titles):
    ax.imshow(np.asarray(field).T, origin="lower", cmap="RdBu_r", vmin=vmin, vmax=vmax)
    ax.set_title(title)
    ax.set_xticks([]), ax.set_yticks([])
plt.show()

# %%
# Rollout: the same lead time in several steps (``n_steps``), and several lead
# times at once (an array adds a ``lead_time`` dim).
roll = tuned.predict(start, lead_time=[0.25, 0.5, 1.0], n_steps=2)
print(roll["u"].dims, roll["u"].shape)

"""
Sobolev norms of fields
=======================

The Sobolev norm :math:`H^s` weighs every Fourier mode of a field by
:math:`(1 + |\\kappa|^2)^s`: a positive order ``s`` stresses fine scales (for
``s = 1`` it adds the squared gradient to the squared field), a negative one
the coarse scales. This example measures a smooth and a rough field across
``s`` with :func:`opkit.metrics.sobolev_norm`, then shows how the relative
errors in L², H¹ and H⁻¹ of :func:`opkit.metrics.relative_error` judge two
kinds of prediction error: small-scale noise and a large-scale bias.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from opkit.metrics import relative_error, sobolev_norm

# %%
# A smooth and a rough field on the periodic unit square
# ------------------------------------------------------
# Both are random Fourier series whose amplitudes decay like
# :math:`(1 + |k|^2)^{-\alpha/2}`: fast decay (large α) gives a smooth field,
# slow decay a rough one. The grid is periodic, ``x_j = j / n``, and says so in
# its ``bc_x``/``bc_y`` attributes, which the metrics read.

n = 128
x = np.arange(n) / n
rng = np.random.default_rng(0)


def random_field(decay):
    """A real periodic field with spectrum ~ (1 + |k|²)^(-decay/2)."""
    k = np.fft.fftfreq(n, d=1.0 / n)
    k_sq = k[:, None] ** 2 + k[None, :] ** 2
    noise = np.fft.fft2(rng.normal(size=(n, n)))
    return np.fft.ifft2(noise * (1 + k_sq) ** (-decay / 2)).real


fields = xr.DataArray(
    np.stack([random_field(decay=4.0), random_field(decay=1.0)]),
    dims=("field", "x", "y"),
    coords={"field": ["smooth", "rough"], "x": x, "y": x},
    attrs={"bc_x": "periodic", "bc_y": "periodic"},
)
# Scale both to unit L² norm (s = 0 is the integral of u² over the square).
fields = (fields / sobolev_norm(fields, s=0)).assign_attrs(fields.attrs)

# %%
# The norm as a function of the order
# -----------------------------------
# With equal L² norms (s = 0), the two fields part ways as ``s`` grows: the
# rough one carries much more energy at high wavenumbers. For ``s < 0`` the
# order reverses, since the smooth field keeps more of its energy in the
# lowest modes.

orders = np.linspace(-1.0, 2.0, 13)
norms = xr.concat(
    [sobolev_norm(fields, s) for s in orders], dim=xr.DataArray(orders, dims="s", name="s")
)
print(norms.sel(s=[-1.0, 0.0, 1.0, 2.0]).to_pandas().round(2))

# %%
# Relative errors of two perturbed predictions
# --------------------------------------------
# Take the smooth field as the truth and add a perturbation of 5 % of its L²
# norm, either white noise (small scales) or a single slow mode (large scale).
# L² cannot tell them apart; H¹ counts the noise far more than the bias, and
# H⁻¹ the other way round. That is
# why H¹ training losses sharpen the details of predicted fields, and why
# H⁻¹ suits quantities like vorticity whose large scales matter most.

true = fields.sel(field="smooth", drop=True)
white = rng.normal(size=(n, n))
slow = np.outer(np.cos(2 * np.pi * x), np.ones(n))
perturbations = {"small-scale noise": white, "large-scale bias": slow}
errors = {}
for label, perturbation in perturbations.items():
    # Scale the perturbation to 5 % of the truth in L².
    perturbation = true.copy(data=perturbation)
    perturbation = perturbation * 0.05 * sobolev_norm(true) / sobolev_norm(perturbation)
    errors[label] = {
        norm: relative_error(true + perturbation, true, norm=norm) for norm in ("l2", "h1", "h-1")
    }
    print(f"{label:>18}: " + ", ".join(f"{k} {v:.3f}" for k, v in errors[label].items()))

# %%
# The picture
# -----------

fig, axes = plt.subplots(1, 4, figsize=(15, 3.4), constrained_layout=True)
for ax, name in zip(axes[:2], ["smooth", "rough"]):
    ax.imshow(fields.sel(field=name).T, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r")
    ax.set_title(f"{name} field")
    ax.set_xlabel("x")
axes[0].set_ylabel("y")
for name in ["smooth", "rough"]:
    axes[2].semilogy(orders, norms.sel(field=name), marker="o", label=name)
axes[2].set_xlabel("Sobolev order s")
axes[2].set_ylabel(r"$\|u\|_{H^s}$")
axes[2].set_title("norm against order")
axes[2].legend()
width = 0.35
positions = np.arange(3)
for i, (label, by_norm) in enumerate(errors.items()):
    axes[3].bar(positions + (i - 0.5) * width, list(by_norm.values()), width, label=label)
axes[3].set_xticks(positions, ["L²", "H¹", "H⁻¹"])
axes[3].set_yscale("log")
axes[3].set_ylim(top=100)  # room for the legend above the bars
axes[3].set_ylabel("relative error")
axes[3].set_title("5 % perturbation of the smooth field")
axes[3].legend()
plt.show()

"""
Latent Spectral Model (LSM) for Darcy flow
==========================================

:class:`opkit.LSMOperator` is a convolutional U-Net whose feature map at each
of its five scales passes a *neural spectral block*: the map is cut into
patches, each patch is summarised by attention into a few latent tokens, a
learned combination of sine and cosine basis functions acts on the tokens,
and attention projects the result back onto the pixels.

This example fits LSM's tiny configuration (``width=8``) on the embedded
16 x 16 Darcy data for a few epochs, looks at the test errors and at one
prediction, and shows how the grid is padded for the U-Net.
"""

# %%
import torch

from opkit.data import load_darcy_small
from opkit.metrics import relative_error
from opkit.models import LSMOperator
from opkit.plotting import plot_prediction

torch.set_num_threads(2)

train, test = load_darcy_small("both")

# %%
# Fit
# ---
# The default ``width=32`` (4.8 M parameters) is LSM's smallest published
# configuration; ``width=8`` keeps this example under a minute on two cores.
est = LSMOperator(width=8, max_epochs=5, random_state=0)
est.fit(train.a, train.u)
print(f"{est.n_params_:,} parameters, {sum(est.history_['time']) / est.n_epochs_:.1f} s per epoch")
est.plot_history()

# %%
# Test errors
# -----------
prediction = est.predict(test.a)
print(f"relative L2: {relative_error(prediction, test.u, norm='l2'):.4f}")
print(f"relative H1: {relative_error(prediction, test.u, norm='h1'):.4f}")
fig = plot_prediction(test.a, test.u, prediction, sample=0)

# %%
# Patches and padding
# -------------------
# The U-Net halves the grid four times and the spectral blocks cut every
# scale into patches of one size, so the grid is zero-padded at its high end
# to a multiple of ``16 * patch`` and cropped back after the U-Net.
# ``patch_size="auto"`` makes one patch cover the coarsest map: on 16 x 16 the
# patches are single pixels; on LSM's 85 x 85 Darcy grid they are 6 x 6 and
# the grid is padded to 96 x 96.
net = est.model_.core
print("patch size:", net.patch_size, "padded grid:", net.padded_size((16, 16)))
from opkit.layers.latent_spectral import LSMNet, auto_patch_size

print("85 x 85:", auto_patch_size((85, 85)), LSMNet(1, 1, 8, 12, 4, 8, auto_patch_size((85, 85))).padded_size((85, 85)))

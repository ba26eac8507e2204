"""LSMOperator: the Latent Spectral Model as an estimator."""

from __future__ import annotations

from ..base import OperatorEstimator, fitted_attributes_doc, shared_params_doc
from ..estimator import store_params
from ..layers.latent_spectral import LSMNet, auto_patch_size

__all__ = ["LSMOperator"]


class LSMOperator(OperatorEstimator):
    __doc__ = f"""Latent Spectral Model (LSM) for fields on 2-D grids.

    Wu, Hu, Luo, Wang and Long, "Solving High-Dimensional PDEs with Latent
    Spectral Models" (ICML 2023). A five-scale convolutional U-Net (widths
    ``d, 2d, 4d, 8d, 8d``) in which every scale's feature map passes a neural
    spectral block (:class:`opkit.layers.latent_spectral.NeuralSpectralBlock`):
    patches of the map are projected by attention onto ``num_token`` learnable
    latent tokens, a learned combination of ``num_basis`` sine and cosine
    basis functions acts on the tokens, and attention projects them back.
    Grid coordinates are appended to the inputs; the grid is zero-padded to a
    multiple of ``16 * patch_size`` and cropped back, so any grid size works.
    Runs on the CPU and on CUDA.

    Not resolution-invariant: its convolutions, pooling levels and patches
    are tied to the grid spacing of ``fit``, so ``predict`` refuses grids of
    another size with a ``ValueError``.

    The defaults are the smallest published configuration (``width=32``,
    4 tokens, 12 bases, 8 heads: 4,812,801 parameters for one input and one
    output channel, whatever the grid); LSM's Darcy configuration is
    ``width=64`` (19,187,457). ``width=8`` (306,945) is a tiny one for tests.

    Parameters
    ----------
    width : int, default=32
        ``d``, the width of the finest scale; a multiple of ``heads``.
    num_token : int, default=4
        Latent tokens per head and patch.
    num_basis : int, default=12
        Sine (and cosine) basis functions of the latent spectral map.
    heads : int, default=8
        Attention heads of the spectral blocks.
    patch_size : "auto", int or tuple of int, default="auto"
        Patch side per grid dim. ``"auto"`` makes one patch cover the
        coarsest (1/16) map: ``ceil(n / 16)`` for a side of ``n`` (6 for
        Darcy's 85 x 85, padded to 96 x 96).
    norm : {{"batch", "group", "instance", "none"}}, default="batch"
        Normalisation in the U-Net's convolution blocks. ``"batch"`` is
        LSM's choice for steady problems; ``"group"`` does not depend on the
        batch (safer for batches of one or two samples).
    positional_embedding : bool, default=True
        Append the grid coordinates (on [0, 1]) as input channels.
    {shared_params_doc()}
    {fitted_attributes_doc()}
    Examples
    --------
    >>> from opkit.models import LSMOperator
    >>> from opkit.data import load_darcy_small
    >>> train, test = load_darcy_small("both")
    >>> est = LSMOperator(width=8, max_epochs=1, random_state=0).fit(train.a, train.u)
    >>> est.predict(test.a).dims
    ('sample', 'x', 'y')
    """

    resolution_invariant = False

    def __init__(
        self, width=32, num_token=4, num_basis=12, heads=8, patch_size="auto", norm="batch",
        positional_embedding=True,
        # the shared hyperparameters (opkit.base.SHARED_PARAMS), with this model's defaults
        *, loss="l2", max_epochs=20, batch_size=16, learning_rate=1e-3, weight_decay=1e-4, scheduler="onecycle",
        validation_fraction=0.1, early_stopping=False, n_iter_no_change=10, normalize=True, symmetries="auto",
        device="auto", random_state=None, verbose=0, warm_start=False, checkpoint_path=None,
    ):
        store_params(self, locals())

    def _check_grid(self, spec, what):
        if len(spec.grid_dims) != 2:
            raise ValueError(f"LSMOperator needs fields on a 2-D grid; {what} has grid dims {spec.grid_dims}")

    def _patch_size(self, spec) -> tuple:
        sizes = [spec.sizes[d] for d in spec.grid_dims]
        if self.patch_size == "auto":
            return auto_patch_size(sizes, LSMNet.levels)
        patch = (self.patch_size,) * 2 if isinstance(self.patch_size, int) else tuple(self.patch_size)
        if len(patch) != 2 or any(int(p) < 1 for p in patch):
            raise ValueError(f"patch_size must be 'auto', a positive int or two of them, got {self.patch_size!r}")
        return tuple(int(p) for p in patch)

    def _build_network(self, in_channels, out_channels, input_spec, output_spec):
        return LSMNet(
            in_channels,
            out_channels,
            width=int(self.width),
            num_basis=int(self.num_basis),
            num_token=int(self.num_token),
            heads=int(self.heads),
            patch_size=self._patch_size(output_spec),
            norm=self.norm,
            positional_embedding=bool(self.positional_embedding),
        )

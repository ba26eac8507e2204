"""Multigrid domain decomposition (MG-TFNO) around any 2-D network, via neuraloperator."""

from __future__ import annotations

import contextlib
import io

from torch import nn

__all__ = ["MultigridPatched"]


class MultigridPatched(nn.Module):
    """Run ``core`` on multigrid patches of the input and stitch the outputs back.

    ``levels`` levels split a 2-D field into ``2**levels x 2**levels`` patches
    (circularly padded by ``padding_fraction`` of the side); each patch also
    receives ``levels`` context channels, coarser views of the whole field
    centred on it. This is neuraloperator's ``MultigridPatching2D``; the patches
    are always stitched, so the module maps ``(B, C, H, W)`` to ``(B, C_out, H, W)``
    and ``core`` must accept ``C + levels`` input channels.

    Parameters
    ----------
    core : torch.nn.Module
        Network applied to the patches.
    levels : int
        Number of multigrid levels (H and W must be divisible by ``2**levels``).
    padding_fraction : float
        Padding of every patch, as a fraction of the field's side.
    """

    def __init__(self, core: nn.Module, levels: int, padding_fraction: float):
        super().__init__()
        from neuralop.training.patching import MultigridPatching2D

        self.core = core
        # neuraloperator prints its configuration on construction; opkit stays silent.
        with contextlib.redirect_stdout(io.StringIO()):
            # The patcher only needs a model for distributed gradient hooks; give it
            # a placeholder so ``core``'s weights are registered once, here.
            self.patcher = MultigridPatching2D(
                nn.Identity(), levels=levels, padding_fraction=padding_fraction, stitching=True
            )

    def forward(self, x):
        """Patch, apply ``core``, stitch."""
        patches, _ = self.patcher.patch(x, None)
        out, _ = self.patcher.unpatch(self.core(patches), None, evaluation=True)
        return out

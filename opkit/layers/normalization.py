"""Channel-wise normalisation stored inside the network, so it travels with the weights."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ChannelNormalizer", "NormalizedOperator"]


class ChannelNormalizer(nn.Module):
    """Per-channel affine map ``(x - mean) / std`` with statistics kept as buffers.

    Statistics are accumulated in float64 by :meth:`update` over any number of
    batches (a streaming pass), then frozen by :meth:`finalize`. An identity
    normaliser (``enabled=False``) has mean 0 and std 1.

    Parameters
    ----------
    n_channels : int
        Number of channels (axis 1 of the tensors it sees).
    eps : float, default=1e-6
        Floor added to the standard deviation, so constant channels stay finite.
    """

    def __init__(self, n_channels: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(n_channels))
        self.register_buffer("std", torch.ones(n_channels))
        self._count = 0
        self._sum = torch.zeros(n_channels, dtype=torch.float64)
        self._sum_sq = torch.zeros(n_channels, dtype=torch.float64)

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        """Accumulate statistics of a ``(batch, channel, *grid)`` tensor."""
        values = batch.detach().to("cpu", torch.float64).transpose(0, 1).reshape(batch.shape[1], -1)
        self._count += values.shape[1]
        self._sum += values.sum(dim=1)
        self._sum_sq += (values * values).sum(dim=1)

    @torch.no_grad()
    def finalize(self) -> "ChannelNormalizer":
        """Turn the accumulated sums into ``mean`` and ``std`` buffers."""
        if self._count == 0:
            raise RuntimeError("ChannelNormalizer.finalize called before any update")
        mean = self._sum / self._count
        var = (self._sum_sq / self._count - mean * mean).clamp_min(0.0)
        self.mean.copy_(mean.to(self.mean.dtype))
        self.std.copy_((var.sqrt() + self.eps).to(self.std.dtype))
        return self

    def _view(self, t: torch.Tensor, ndim: int) -> torch.Tensor:
        return t.view(1, -1, *([1] * (ndim - 2)))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise: ``(x - mean) / std``."""
        return (x - self._view(self.mean, x.ndim)) / self._view(self.std, x.ndim)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`encode`."""
        return x * self._view(self.std, x.ndim) + self._view(self.mean, x.ndim)


class NormalizedOperator(nn.Module):
    """``decode(core(encode(x)))``: a network that maps physical fields to physical fields.

    Keeping the normalisers inside the module means a loss computed on its
    output is a loss in physical units, and a saved state dict holds the
    statistics next to the weights.

    Parameters
    ----------
    core : torch.nn.Module
        The operator network acting on normalised fields.
    in_channels, out_channels : int
        Channel counts of input and output.
    """

    def __init__(self, core: nn.Module, in_channels: int, out_channels: int):
        super().__init__()
        self.core = core
        self.input_normalizer = ChannelNormalizer(in_channels)
        self.output_normalizer = ChannelNormalizer(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a physical input field to a physical output field."""
        return self.output_normalizer.decode(self.core(self.input_normalizer.encode(x)))

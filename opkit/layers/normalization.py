"""Normalisation stored inside the network, so it travels with the weights.

Two kinds: :class:`ChannelNormalizer` (one mean and std per channel) and
:class:`PointwiseNormalizer` (one per channel and grid point, as the
``UnitGaussianNormalizer`` of the original FNO and MgNO code). The second
removes the mean field (for Darcy flow, the bump every solution shares) and
gives points with no spread, such as Dirichlet boundaries, a scale near zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ChannelNormalizer", "PointwiseNormalizer", "NormalizedOperator", "resample_grid", "make_normalizer"]


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


def resample_grid(field: torch.Tensor, shape: Sequence[int], periodic: Sequence[bool]) -> torch.Tensor:
    """Resample the trailing grid axes of ``field`` to ``shape``.

    Periodic axes are resampled spectrally (Fourier modes truncated or
    zero-padded: exact for band-limited fields, and refining keeps the old
    nodes' values); other axes by linear
    interpolation between nodes that include both ends of the interval, as
    opkit's bounded grids do.

    Parameters
    ----------
    field : torch.Tensor
        ``(..., *grid)``, with ``len(shape)`` grid axes last.
    shape : sequence of int
        The new grid size per axis.
    periodic : sequence of bool
        Whether each grid axis is periodic.

    Returns
    -------
    torch.Tensor
        ``(..., *shape)``.
    """
    n_axes = len(shape)
    for axis, (size, wraps) in enumerate(zip(shape, periodic)):
        dim = field.ndim - n_axes + axis
        old = field.shape[dim]
        if old == size:
            continue
        if wraps:
            spectrum = torch.fft.rfft(field, dim=dim)
            keep = min(old, size) // 2 + 1
            spectrum = spectrum.narrow(dim, 0, keep).clone()
            if size > old and old % 2 == 0:
                # The Nyquist mode of an even grid stands for the pair +-old/2:
                # split it between the two, so the old nodes keep their values.
                spectrum.select(dim, old // 2).mul_(0.5)
            field = torch.fft.irfft(spectrum, n=size, dim=dim) * (size / old)
        else:
            moved = field.movedim(dim, -1)
            flat = moved.reshape(-1, 1, old)
            flat = F.interpolate(flat, size=size, mode="linear", align_corners=True)
            field = flat.reshape(*moved.shape[:-1], size).movedim(-1, dim)
    return field


class PointwiseNormalizer(nn.Module):
    """``(x - mean) / std`` with a mean and std per channel and grid point.

    Statistics are accumulated over samples in float64 (:meth:`update`, any
    number of batches) and frozen by :meth:`finalize`. The std is floored at
    ``eps`` times the largest std of its channel, so a point that never varies
    (a Dirichlet boundary) maps to about zero instead of dividing by zero. On
    another grid than the one seen in :meth:`update`, the statistics are
    resampled with :func:`resample_grid`.

    Parameters
    ----------
    n_channels : int
        Number of channels (axis 1 of the tensors it sees).
    grid_shape : sequence of int
        Grid size of the training data.
    periodic : sequence of bool, optional
        Whether each grid axis is periodic (for resampling; default: none).
    eps : float, default=1e-6
        Relative floor of the std.
    """

    def __init__(self, n_channels: int, grid_shape: Sequence[int], periodic: Sequence[bool] | None = None,
                 eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.grid_shape = tuple(int(n) for n in grid_shape)
        self.periodic = tuple(bool(p) for p in (periodic or [False] * len(self.grid_shape)))
        if len(self.periodic) != len(self.grid_shape):
            raise ValueError(f"periodic has {len(self.periodic)} entries for a grid of {len(self.grid_shape)} dims")
        self.register_buffer("mean", torch.zeros(n_channels, *self.grid_shape))
        self.register_buffer("std", torch.ones(n_channels, *self.grid_shape))
        self._count = 0
        self._sum = torch.zeros(n_channels, *self.grid_shape, dtype=torch.float64)
        self._sum_sq = torch.zeros(n_channels, *self.grid_shape, dtype=torch.float64)

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        """Accumulate statistics of a ``(batch, channel, *grid)`` tensor."""
        if tuple(batch.shape[1:]) != tuple(self._sum.shape):
            raise ValueError(
                f"PointwiseNormalizer expects (batch, {', '.join(map(str, self._sum.shape))}), got {tuple(batch.shape)}"
            )
        values = batch.detach().to("cpu", torch.float64)
        self._count += values.shape[0]
        self._sum += values.sum(dim=0)
        self._sum_sq += (values * values).sum(dim=0)

    @torch.no_grad()
    def finalize(self) -> "PointwiseNormalizer":
        """Turn the accumulated sums into ``mean`` and ``std`` buffers."""
        if self._count == 0:
            raise RuntimeError("PointwiseNormalizer.finalize called before any update")
        mean = self._sum / self._count
        std = (self._sum_sq / self._count - mean * mean).clamp_min(0.0).sqrt()
        largest = std.flatten(1).amax(dim=1).clamp_min(1.0 if self._count < 2 else 0.0)
        floor = self.eps * largest.view(-1, *([1] * len(self.grid_shape)))
        self.mean.copy_(mean.to(self.mean.dtype))
        self.std.copy_((std + floor.clamp_min(1e-12)).to(self.std.dtype))
        return self

    def _stats(self, x: torch.Tensor):
        grid = tuple(x.shape[2:])
        if grid == self.grid_shape:
            return self.mean, self.std
        return resample_grid(self.mean, grid, self.periodic), resample_grid(self.std, grid, self.periodic)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise: ``(x - mean) / std``."""
        mean, std = self._stats(x)
        return (x - mean) / std

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`encode`."""
        mean, std = self._stats(x)
        return x * std + mean


#: The kinds of normalisation :func:`make_normalizer` builds.
NORMALIZATIONS = ("channel", "pointwise")


def make_normalizer(kind, n_channels: int, grid_shape: Sequence[int], periodic: Sequence[bool]) -> nn.Module:
    """A normaliser of the given kind.

    Parameters
    ----------
    kind : bool or {"channel", "pointwise"}
        ``True`` and ``"channel"`` give :class:`ChannelNormalizer`;
        ``"pointwise"`` gives :class:`PointwiseNormalizer`; ``False`` gives an
        identity :class:`ChannelNormalizer` (its statistics are never set).
    n_channels : int
    grid_shape : sequence of int
    periodic : sequence of bool

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    ValueError
        An unknown ``kind``.
    """
    if kind is True or kind is False or kind in (None, "channel"):
        return ChannelNormalizer(n_channels)
    if kind == "pointwise":
        return PointwiseNormalizer(n_channels, grid_shape, periodic)
    raise ValueError(f"normalize must be True, False, 'channel' or 'pointwise', got {kind!r}")


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
    input_normalizer, output_normalizer : torch.nn.Module, optional
        Modules with ``encode``/``decode`` (default: a
        :class:`ChannelNormalizer` for each).
    """

    def __init__(self, core: nn.Module, in_channels: int, out_channels: int,
                 input_normalizer: nn.Module | None = None, output_normalizer: nn.Module | None = None):
        super().__init__()
        self.core = core
        self.input_normalizer = input_normalizer if input_normalizer is not None else ChannelNormalizer(in_channels)
        self.output_normalizer = output_normalizer if output_normalizer is not None else ChannelNormalizer(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a physical input field to a physical output field."""
        return self.output_normalizer.decode(self.core(self.input_normalizer.encode(x)))

"""LSM's building blocks: the neural spectral block and the U-Net around it.

The Latent Spectral Model (Wu, Hu, Luo, Wang and Long, "Solving High-Dimensional
PDEs with Latent Spectral Models", ICML 2023) is a convolutional U-Net whose
feature map at every scale passes a *neural spectral block* before use: the map
is cut into patches, each patch's pixels are summarised by attention into a few
learnable latent tokens, the tokens go through a learned combination of sine and
cosine basis functions (a spectral method in latent space), and attention
projects them back onto the pixels.

Everything here is device-agnostic: constant tensors (the basis frequencies) are
buffers, and the coordinate channels are built on the input's device, so the
network is built on the CPU and moved with ``.to(device)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BatchNorm2d", "make_norm", "DoubleConv", "Down", "Up", "NeuralSpectralBlock", "LSMNet", "auto_patch_size", "NORMS"]

#: Normalisations :func:`make_norm` knows.
NORMS = ("batch", "group", "instance", "none")


class BatchNorm2d(nn.BatchNorm2d):
    """BatchNorm that tolerates a training batch with one value per channel.

    On a 16 x 16 grid the coarsest U-Net map is 1 x 1, so a last mini-batch of
    one sample would make ``nn.BatchNorm2d`` raise in training; such a batch
    is normalised with the running statistics instead (and does not update
    them).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``(B, C, H, W)``."""
        if self.training and x.numel() == x.shape[1]:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)


def make_norm(norm, channels: int) -> nn.Module:
    """A normalisation layer over ``channels`` feature maps.

    Parameters
    ----------
    norm : {"batch", "group", "instance", "none"} or None
        ``"batch"`` is BatchNorm (LSM's choice for steady problems; its running
        statistics are used in ``predict``); ``"group"`` is GroupNorm with
        groups of 8 channels (statistics per sample, so small CPU batches are
        safe);
        ``"instance"`` normalises every channel of every sample over the grid;
        ``"none"``/None is the identity.
    channels : int

    Returns
    -------
    torch.nn.Module
    """
    if norm == "batch":
        return BatchNorm2d(channels)
    if norm == "group":
        # Groups of 8 channels (at least one group): statistics per sample, so
        # a batch of one trains as well as a batch of 64.
        return nn.GroupNorm(max(1, channels // 8), channels)
    if norm == "instance":
        return nn.GroupNorm(channels, channels)
    if norm in (None, "none"):
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


class DoubleConv(nn.Sequential):
    """Two ``3 x 3 conv (no bias) -> norm -> ReLU`` stages.

    Parameters
    ----------
    in_channels, out_channels : int
    mid_channels : int, optional
        Width between the two convolutions (default ``out_channels``).
    norm : str
        See :func:`make_norm`.
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None, norm="batch"):
        mid = mid_channels or out_channels
        super().__init__(
            nn.Conv2d(in_channels, mid, 3, padding=1, bias=False),
            make_norm(norm, mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, 3, padding=1, bias=False),
            make_norm(norm, out_channels),
            nn.ReLU(inplace=True),
        )


class Down(nn.Sequential):
    """Halve the grid (2 x 2 max pooling), then a :class:`DoubleConv`.

    Parameters
    ----------
    in_channels, out_channels : int
    norm : str
    """

    def __init__(self, in_channels: int, out_channels: int, norm="batch"):
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels, norm=norm))


class Up(nn.Module):
    """Double the grid (bilinear), concatenate the skip, then a :class:`DoubleConv`.

    Parameters
    ----------
    in_channels : int
        Channels of the skip and the upsampled map together.
    out_channels : int
    norm : str
    """

    def __init__(self, in_channels: int, out_channels: int, norm="batch"):
        super().__init__()
        self.conv = DoubleConv(in_channels, out_channels, in_channels // 2, norm=norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Upsample ``x`` to ``skip``'s grid, concatenate (skip first), convolve."""
        # The padded grid is a multiple of 16 * patch, so every coarse map is
        # exactly half its skip: upsampling to the skip's size is exact doubling.
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=True)
        return self.conv(torch.cat([skip, x], dim=1))


class NeuralSpectralBlock(nn.Module):
    """Patch-wise attention to latent tokens, a learned sine/cosine map on them, attention back.

    On a feature map ``x`` of shape ``(B, c, H, W)`` (``H``, ``W`` multiples of
    the patch size), for every ``p_h x p_w`` patch and every head:

    1. Encode: learnable tokens ``Z`` (``num_token`` per head) attend to the
       patch's pixels, ``Z <- softmax(Z K^T) V + Z`` with ``K, V`` from a 1 x 1
       convolution of ``x`` (no ``1/sqrt(d)`` scaling, as in LSM).
    2. Latent spectral map, per channel ``c``:
       ``z <- z + sum_k W[c, k] sin(k pi z / N) + W[c, N + k] cos(k pi z / N)``
       for ``k = 0 .. N - 1`` (``N = num_basis``).
    3. Decode: the pixels attend to the tokens, ``x <- softmax(Q Z^T) Z + x``
       with ``Q`` a 1 x 1 convolution of ``x``.

    Parameters
    ----------
    channels : int
        Width ``c``; a multiple of ``heads``.
    num_basis : int
        ``N``, the number of sine (and of cosine) basis functions.
    num_token : int
        Latent tokens per head.
    heads : int
    patch_size : tuple of int
        ``(p_h, p_w)``.
    """

    def __init__(self, channels: int, num_basis: int, num_token: int, heads: int, patch_size):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be a multiple of heads ({heads})")
        self.channels, self.heads, self.num_basis = channels, heads, num_basis
        self.patch_size = tuple(int(p) for p in patch_size)
        head_dim = channels // heads
        # Small positive tokens, so the first softmax is nearly uniform.
        self.tokens = nn.Parameter(torch.rand(heads, num_token, head_dim) / channels)
        self.to_kv = nn.Conv2d(channels, 2 * channels, 1)
        self.to_q = nn.Conv2d(channels, channels, 1)
        # Basis weights start small: the block starts close to a (token-mixing) identity.
        self.weights = nn.Parameter(torch.randn(channels, 2 * num_basis) / (2 * num_basis))
        # A buffer, not a tensor built on a fixed device: it moves with .to(device).
        self.register_buffer("frequencies", math.pi * torch.arange(num_basis, dtype=torch.float32) / num_basis)

    def _patches(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, c, H, W)`` -> ``(B * patches, heads, p_h * p_w, c / heads)``."""
        b, c, h, w = x.shape
        ph, pw = self.patch_size
        x = x.reshape(b, self.heads, c // self.heads, h // ph, ph, w // pw, pw)
        x = x.permute(0, 3, 5, 1, 4, 6, 2)  # b, nh, nw, heads, ph, pw, dh
        return x.reshape(b * (h // ph) * (w // pw), self.heads, ph * pw, c // self.heads)

    def _image(self, x: torch.Tensor, shape) -> torch.Tensor:
        """Inverse of :meth:`_patches`."""
        b, c, h, w = shape
        ph, pw = self.patch_size
        x = x.reshape(b, h // ph, w // pw, self.heads, ph, pw, c // self.heads)
        x = x.permute(0, 3, 6, 1, 4, 2, 5)  # b, heads, dh, nh, ph, nw, pw
        return x.reshape(b, c, h, w)

    def _spectral(self, z: torch.Tensor) -> torch.Tensor:
        """The per-channel sine/cosine map on tokens ``(B', heads, T, dh)``."""
        angles = z.unsqueeze(-1) * self.frequencies  # B', heads, T, dh, N
        basis = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)  # ..., 2N
        weights = self.weights.view(self.heads, 1, self.channels // self.heads, 2 * self.num_basis)
        return z + (basis * weights).sum(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to ``(B, c, H, W)``."""
        shape = x.shape
        ph, pw = self.patch_size
        if shape[-2] % ph or shape[-1] % pw:
            raise ValueError(f"feature map {tuple(shape[-2:])} is not a multiple of the patch size {self.patch_size}")
        # 1 x 1 convolutions are pointwise: apply them before cutting patches.
        k, v = self.to_kv(x).chunk(2, dim=1)
        k, v, q, pixels = self._patches(k), self._patches(v), self._patches(self.to_q(x)), self._patches(x)
        tokens = self.tokens.unsqueeze(0)  # 1, heads, T, dh
        tokens = torch.softmax(tokens @ k.transpose(-1, -2), dim=-1) @ v + tokens
        tokens = self._spectral(tokens)
        pixels = torch.softmax(q @ tokens.transpose(-1, -2), dim=-1) @ tokens + pixels
        return self._image(pixels, shape)


def auto_patch_size(sizes, levels: int = 4):
    """LSM's patch rule: one patch covers the coarsest U-Net map.

    Parameters
    ----------
    sizes : sequence of int
        Grid size per dim.
    levels : int, default=4
        Number of halvings in the U-Net (the coarsest map is ``1 / 2**levels``).

    Returns
    -------
    tuple of int
        ``ceil(n / 2**levels)`` per dim.
    """
    return tuple(max(1, math.ceil(int(n) / 2**levels)) for n in sizes)


class LSMNet(nn.Module):
    """The Latent Spectral Model on 2-D grids.

    Coordinates on [0, 1] are appended to the input channels and lifted by a
    1 x 1 convolution to ``width``; the map is zero-padded at the high end of
    each axis to a multiple of ``16 * patch``; a five-scale U-Net (widths
    ``d, 2d, 4d, 8d, 8d``) runs with a :class:`NeuralSpectralBlock` applied to
    every scale's feature before it is used; the padding is cut off by
    explicit sizes; a pointwise MLP (``d -> 128 -> out``) gives the output.

    Parameters
    ----------
    in_channels, out_channels : int
    width : int
        ``d``.
    num_basis, num_token, heads : int
        See :class:`NeuralSpectralBlock`.
    patch_size : tuple of int
        Patch per grid dim.
    norm : str
        See :func:`make_norm`.
    positional_embedding : bool, default=True
        Append the coordinate channels.
    """

    levels = 4

    def __init__(self, in_channels: int, out_channels: int, width: int, num_basis: int, num_token: int,
                 heads: int, patch_size, norm="batch", positional_embedding: bool = True):
        super().__init__()
        d = width
        self.patch_size = tuple(int(p) for p in patch_size)
        self.positional_embedding = bool(positional_embedding)
        self.lift = nn.Conv2d(in_channels + (2 if positional_embedding else 0), d, 1)
        self.inc = DoubleConv(d, d, norm=norm)
        self.downs = nn.ModuleList(
            [Down(d, 2 * d, norm), Down(2 * d, 4 * d, norm), Down(4 * d, 8 * d, norm), Down(8 * d, 8 * d, norm)]
        )
        self.ups = nn.ModuleList(
            [Up(16 * d, 4 * d, norm), Up(8 * d, 2 * d, norm), Up(4 * d, d, norm), Up(2 * d, d, norm)]
        )
        self.outc = nn.Conv2d(d, d, 1)
        self.spectral = nn.ModuleList(
            NeuralSpectralBlock(w, num_basis, num_token, heads, self.patch_size) for w in (d, 2 * d, 4 * d, 8 * d, 8 * d)
        )
        self.head = nn.Sequential(nn.Conv2d(d, 128, 1), nn.GELU(), nn.Conv2d(128, out_channels, 1))

    def padded_size(self, size):
        """The grid after padding: each side rounded up to a multiple of ``16 * patch``."""
        factor = [2**self.levels * p for p in self.patch_size]
        return tuple(math.ceil(n / f) * f for n, f in zip(size, factor))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, H, W)`` to ``(batch, out_channels, H, W)``."""
        h, w = x.shape[-2:]
        if self.positional_embedding:
            # Built on x's device each call (cheap), so nothing is tied to a device.
            gx = torch.linspace(0, 1, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(x.shape[0], 1, h, w)
            gy = torch.linspace(0, 1, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(x.shape[0], 1, h, w)
            x = torch.cat([x, gx, gy], dim=1)
        x = self.lift(x)
        ph, pw = self.padded_size((h, w))
        x = F.pad(x, (0, pw - w, 0, ph - h))
        features = [self.inc(x)]
        for down in self.downs:
            features.append(down(features[-1]))
        features = [block(f) for block, f in zip(self.spectral, features)]
        x = features[-1]
        for up, skip in zip(self.ups, reversed(features[:-1])):
            x = up(x, skip)
        x = self.outc(x)
        # Crop by explicit sizes: a negative-index slice would be empty when a pad is 0.
        x = x[..., :h, :w]
        return self.head(x)

r"""Space-time spectral layers of the SFNO (:class:`opkit.models.SpectralRefiner`).

Fields are ``(batch, channel, x, y, t)``. Fourier coefficients are taken with
``norm="forward"`` (grid-independent: the mean, not the sum), so a layer
trained on one grid applies to any other, and an inverse transform onto
another number of time levels samples the same trigonometric interpolant.

Weights are stored in a *signed* layout: along ``x`` and ``y`` index ``i``
holds wavenumber ``i - m`` (``-m .. m - 1``, the four corners of FNO's
spectral convolution), along ``t`` the first ``m_t`` ``rfft`` modes. A layer
with more modes therefore contains a smaller one as a centred block
(:func:`enlarge_spectral`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["SpectralConv3d", "SpaceTimeFFN", "OutputSpectral", "evaluate_output", "enlarge_spectral"]


def _signed_index(m, n, device):
    """Positions in an ``n``-point FFT of wavenumbers ``-m .. m-1``."""
    return torch.arange(-m, m, device=device) % n


def _gather(xh, mx, my, mt):
    """Modes ``(-mx..mx-1, -my..my-1, 0..mt-1)`` of ``xh`` (``..., nx, ny, nt//2+1``)."""
    nx, ny = xh.shape[-3], xh.shape[-2]
    ix, iy = _signed_index(mx, nx, xh.device), _signed_index(my, ny, xh.device)
    return xh[..., :mt].index_select(-3, ix).index_select(-2, iy)


def _scatter(coef, nx, ny, nt_half):
    """Inverse of :func:`_gather` into zeros of shape ``(..., nx, ny, nt_half)``."""
    mx, my, mt = coef.shape[-3] // 2, coef.shape[-2] // 2, coef.shape[-1]
    out = coef.new_zeros((*coef.shape[:-3], nx, ny, nt_half))
    ix, iy = _signed_index(mx, nx, coef.device), _signed_index(my, ny, coef.device)
    out[..., ix[:, None], iy[None, :], :mt] = coef
    return out


def _effective(m, n):
    """Modes ``m`` clipped so ``-m..m-1`` fits an ``n``-point grid (Nyquist dropped)."""
    return max(1, min(int(m), (n - 1) // 2 + 1 if n % 2 else n // 2))


class SpectralConv3d(nn.Module):
    """Spectral convolution over ``(x, y, t)`` with a free number of output time levels.

    Parameters
    ----------
    in_channels, out_channels : int
    modes_x, modes_y : int
        Wavenumbers ``-m .. m-1`` kept along ``x`` and ``y`` (FNO's four corners).
    modes_t : int
        ``rfft`` modes kept along ``t``.
    """

    def __init__(self, in_channels, out_channels, modes_x, modes_y, modes_t):
        super().__init__()
        self.modes = (int(modes_x), int(modes_y), int(modes_t))
        scale = 1.0 / (in_channels * out_channels)
        shape = (in_channels, out_channels, 2 * self.modes[0], 2 * self.modes[1], self.modes[2])
        self.weight = nn.Parameter(scale * torch.randn(shape, dtype=torch.cfloat))

    def forward(self, x, out_t=None):
        """``x`` (B, C_in, nx, ny, nt) -> (B, C_out, nx, ny, out_t) (default ``nt``)."""
        nx, ny, nt = x.shape[-3:]
        out_t = nt if out_t is None else int(out_t)
        mx, my = _effective(self.modes[0], nx), _effective(self.modes[1], ny)
        mt = max(1, min(self.modes[2], nt // 2 + 1, out_t // 2 + 1))
        xh = torch.fft.rfftn(x, dim=(-3, -2, -1), norm="forward")
        M = self.modes
        w = self.weight[:, :, M[0] - mx:M[0] + mx, M[1] - my:M[1] + my, :mt]
        coef = torch.einsum("bixyt,ioxyt->boxyt", _gather(xh, mx, my, mt), w)
        full = _scatter(coef, nx, ny, out_t // 2 + 1)
        return torch.fft.irfftn(full, s=(nx, ny, out_t), dim=(-3, -2, -1), norm="forward")


class SpaceTimeFFN(nn.Module):
    """Point-wise two-layer perceptron over channels (``1x1x1`` convolutions), hidden ``expansion * width``."""

    def __init__(self, in_channels, out_channels, expansion=4):
        super().__init__()
        hidden = int(expansion) * in_channels
        self.net = nn.Sequential(nn.Conv3d(in_channels, hidden, 1), nn.GELU(), nn.Conv3d(hidden, out_channels, 1))

    def forward(self, x):
        """``x`` (B, C, nx, ny, nt)."""
        return self.net(x)


def evaluate_output(latent, last, weight, bias, taus, period, bias_scale=0.1, derivative=False):
    r"""The SFNO output operator at arbitrary (latent-unit) times.

    The last input frame is prepended to the one-channel latent, the sequence
    is zero-padded to ``period`` levels, and its space-time modes are
    multiplied by ``weight`` and shifted by ``bias_scale * bias`` (a learned
    source). The result is summed as a Fourier series at the times ``taus``
    (latent steps from the last input frame), so any number of frames, at
    any spacing, comes out of the same coefficients; ``last`` is added back
    as the skip.

    Parameters
    ----------
    latent : torch.Tensor, shape (B, 1, nx, ny, T)
    last : torch.Tensor, shape (B, nx, ny)
    weight, bias : torch.Tensor, complex
        ``(B or 1, 2mx, 2my, mt)`` in the signed layout.
    taus : torch.Tensor, shape (n_times,)
    period : int
        Padded length ``>= T + 1``.
    bias_scale : float, default=0.1
    derivative : bool, default=False
        Return :math:`\partial_\tau` of the series instead (analytic; no skip).

    Returns
    -------
    torch.Tensor, shape (B, n_times, nx, ny)
    """
    nx, ny, T = latent.shape[-3:]
    seq = torch.cat([last[:, None, :, :, None], latent], -1)
    seq = torch.nn.functional.pad(seq, (0, int(period) - (T + 1)))[:, 0]
    M = (weight.shape[-3] // 2, weight.shape[-2] // 2, weight.shape[-1])
    mx, my = _effective(M[0], nx), _effective(M[1], ny)
    mt = min(M[2], int(period) // 2)
    w = weight[..., M[0] - mx:M[0] + mx, M[1] - my:M[1] + my, :mt]
    b = bias[..., M[0] - mx:M[0] + mx, M[1] - my:M[1] + my, :mt]
    vh = torch.fft.rfftn(seq, dim=(-3, -2, -1), norm="forward")
    coef = _gather(vh, mx, my, mt) * w + bias_scale * b
    spatial = torch.fft.ifft2(_scatter(coef, nx, ny, mt), dim=(-3, -2), norm="forward")  # (B, nx, ny, mt)
    kt = torch.arange(mt, device=latent.device, dtype=taus.dtype)
    mult = torch.where(kt == 0, torch.ones_like(kt), 2 * torch.ones_like(kt))
    phase = torch.exp(2j * math.pi * kt[None, :] * taus[:, None] / period)  # (n_times, mt)
    if derivative:
        phase = phase * (2j * math.pi * kt[None, :] / period)
    out = torch.einsum("bxyk,tk->btxy", spatial, (phase * mult).to(spatial.dtype)).real
    return out if derivative else out + last[:, None]


def enlarge_spectral(tensor, modes_x, modes_y, modes_t, gain=1e-6, generator=None):
    """A signed-layout spectral tensor with more modes, the old ones copied, the new ones ``~ gain``.

    Parameters
    ----------
    tensor : torch.Tensor, complex, shape (..., 2mx, 2my, mt)
    modes_x, modes_y, modes_t : int
        New mode counts, at least the old ones.
    gain : float
        Scale of the random new modes.
    generator : torch.Generator, optional

    Returns
    -------
    torch.Tensor
    """
    mx, my, mt = tensor.shape[-3] // 2, tensor.shape[-2] // 2, tensor.shape[-1]
    if modes_x < mx or modes_y < my or modes_t < mt:
        raise ValueError(f"the enlarged layer needs at least the trained modes ({mx}, {my}, {mt}); "
                         f"got ({modes_x}, {modes_y}, {modes_t})")
    shape = (*tensor.shape[:-3], 2 * modes_x, 2 * modes_y, modes_t)
    real = torch.randn(shape, generator=generator, dtype=tensor.real.dtype)
    imag = torch.randn(shape, generator=generator, dtype=tensor.real.dtype)
    out = (gain * torch.complex(real, imag)).to(tensor.device, tensor.dtype)
    out[..., modes_x - mx:modes_x + mx, modes_y - my:modes_y + my, :mt] = tensor
    return out


class OutputSpectral(nn.Module):
    """The output operator's parameters (one channel in, one out): ``weight`` and spectral ``bias``.

    Parameters
    ----------
    modes_x, modes_y, modes_t : int
    bias_scale : float, default=0.1
    """

    def __init__(self, modes_x, modes_y, modes_t, bias_scale=0.1):
        super().__init__()
        shape = (1, 2 * int(modes_x), 2 * int(modes_y), int(modes_t))
        self.weight = nn.Parameter(torch.randn(shape, dtype=torch.cfloat))
        self.bias = nn.Parameter(1e-2 * torch.randn(shape, dtype=torch.cfloat))
        self.bias_scale = float(bias_scale)

    def forward(self, latent, last, taus, period, derivative=False):
        """See :func:`evaluate_output`."""
        return evaluate_output(latent, last, self.weight, self.bias, taus, period, self.bias_scale, derivative)

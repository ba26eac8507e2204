"""MgNO's building blocks: a learned multigrid cycle as a linear operator between fields.

MgNO (He, Liu and Xu, "MgNO: Efficient Parameterization of Linear Operators via
Multigrid", ICLR 2024) replaces the integral operator of a neural-operator layer
by a few sweeps of a multigrid method whose smoothers, restrictions and
prolongations are learnable 3 x 3 (and 4 x 4 transposed) convolutions. One cycle
reaches every grid point (global receptive field) at a cost linear in the
number of points.

Boundary conditions enter through the padding of every convolution, chosen per
grid dim: zeros for Dirichlet, circular for periodic, reflection for Neumann.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "PADDING_FOR_BC",
    "padding_modes",
    "smoothing_schedule",
    "max_levels",
    "bc_pad",
    "BCConv2d",
    "BCProlongation",
    "MultigridCycle",
    "MgNONet",
]

#: Padding mode used for each boundary condition of the data; any other
#: (e.g. ``"none"`` for a time axis) is padded with zeros, as Dirichlet.
PADDING_FOR_BC = {"dirichlet": "zeros", "periodic": "circular", "neumann": "reflect"}
_PADDING_CHOICES = ("zeros", "circular", "reflect")


def padding_modes(padding, grid_dims, bc) -> tuple:
    """Resolve the ``padding`` hyperparameter to one padding mode per grid dim.

    Parameters
    ----------
    padding : "auto", str or mapping
        ``"auto"`` derives the mode from ``bc`` (:data:`PADDING_FOR_BC`); a mode
        name (``"zeros"``, ``"circular"``, ``"reflect"``) applies to every dim;
        a mapping gives a mode (or ``"auto"``) per dim name.
    grid_dims : sequence of str
        The grid dims, in array order.
    bc : mapping
        Boundary condition per grid dim, as in :class:`opkit.FieldSpec`.

    Returns
    -------
    tuple of str
        One of ``"zeros"``, ``"circular"``, ``"reflect"`` per grid dim.

    Raises
    ------
    ValueError
        An unknown mode, or a mapping naming dims the grid lacks.
    """
    if isinstance(padding, Mapping):
        unknown = set(padding) - set(grid_dims)
        if unknown:
            raise ValueError(f"padding names dims {sorted(unknown)} that the grid {list(grid_dims)} lacks")
        per_dim = [padding.get(d, "auto") for d in grid_dims]
    else:
        per_dim = [padding] * len(grid_dims)
    modes = []
    for dim, mode in zip(grid_dims, per_dim):
        if mode == "auto":
            mode = PADDING_FOR_BC.get(bc.get(dim, "periodic"), "zeros")
        if mode not in _PADDING_CHOICES:
            raise ValueError(f"padding for '{dim}' must be 'auto' or one of {_PADDING_CHOICES}, got {mode!r}")
        modes.append(mode)
    return tuple(modes)


def bc_pad(x: torch.Tensor, modes: Sequence[str], width: int = 1) -> torch.Tensor:
    """Pad the last ``len(modes)`` axes of ``x`` by ``width`` on both sides, each in its own mode.

    Parameters
    ----------
    x : torch.Tensor
        ``(batch, channel, *grid)``.
    modes : sequence of {"zeros", "circular", "reflect"}
        Mode per grid axis, in order.
    width : int, default=1

    Returns
    -------
    torch.Tensor
    """
    if len(set(modes)) == 1:
        # One call when all dims agree (the usual case): cheaper than one per axis.
        mode = modes[0]
        return F.pad(x, (width,) * (2 * len(modes)), mode="constant" if mode == "zeros" else mode)
    ndim = len(modes)
    for axis, mode in enumerate(modes):
        # F.pad lists pads from the last axis backwards.
        pads = [0] * (2 * ndim)
        back = ndim - 1 - axis
        pads[2 * back] = pads[2 * back + 1] = width
        x = F.pad(x, pads, mode="constant" if mode == "zeros" else mode)
    return x


class BCConv2d(nn.Conv2d):
    """A 3 x 3 convolution (stride 1 or 2, no bias) padded by one cell per side as the BCs say.

    ``nn.Conv2d`` has one ``padding_mode`` for all axes; a field periodic in
    ``x`` but Dirichlet in ``y`` needs one per axis, so the padding is done
    here and the convolution itself is unpadded. With stride 2 the output has
    ``ceil(n / 2)`` points along an axis of ``n``: coarse point ``i`` sits on
    fine point ``2 i``, for odd and even ``n`` alike.

    Parameters
    ----------
    in_channels, out_channels : int
    modes : tuple of str
        Padding mode per grid axis.
    stride : int, default=1
    """

    def __init__(self, in_channels: int, out_channels: int, modes, stride: int = 1):
        super().__init__(in_channels, out_channels, 3, stride=stride, padding=0, bias=False)
        self.modes = tuple(modes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad, then convolve."""
        return super().forward(bc_pad(x, self.modes, 1))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", modes={self.modes}"


class BCProlongation(nn.ConvTranspose2d):
    """Transposed 4 x 4, stride-2 convolution from a coarse grid to a given fine size.

    The coarse input is padded by one cell in the boundary conditions' modes
    (so a periodic field wraps around instead of seeing zeros), the unpadded
    transposed convolution is applied, and the fine points ``0 .. n - 1`` are
    cut out by explicit offsets. Coarse point ``i`` feeds fine points
    ``2i - 1 .. 2i + 2``. Cutting by size rather than relying on
    ``output_size`` is what makes odd fine grids work: a 4 x 4 kernel with
    padding 1 can only produce ``2m`` or ``2m + 1`` points from ``m``, and an
    odd grid of ``2m - 1`` points restricts to ``m``.

    Parameters
    ----------
    channels : int
    modes : tuple of str
        Padding mode per grid axis.
    """

    def __init__(self, channels: int, modes):
        super().__init__(channels, channels, 4, stride=2, padding=0, bias=False)
        self.modes = tuple(modes)

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """Prolong ``x`` to the fine grid ``size`` (one int per grid axis)."""
        full = super().forward(bc_pad(x, self.modes, 1))
        # Padded coarse point j is coarse i = j - 1; the fine point 2i + k - 1 of
        # kernel tap k is therefore at full index 2j + k = fine + 3.
        h, w = size
        return full[..., 3 : 3 + h, 3 : 3 + w]

    def extra_repr(self) -> str:
        return super().extra_repr() + f", modes={self.modes}"


def max_levels(sizes) -> int:
    """The most levels a grid supports: ``floor(log2(min(sizes))) - 1``, at least 1.

    The coarsest grid then keeps 4 to 7 points per side (4 x 4 for a 16 x 16
    or 64 x 64 grid, 6 x 6 for 85 x 85); on fewer, a 3 x 3 stencil sees
    mostly padding.

    Parameters
    ----------
    sizes : sequence of int

    Returns
    -------
    int
    """
    return max(1, int(math.floor(math.log2(max(2, min(int(n) for n in sizes))))) - 1)


def smoothing_schedule(value, n_levels: int, name: str = "smoothing") -> list:
    """Smoothing steps per level from an int (every level) or a sequence (cut to ``n_levels``).

    Parameters
    ----------
    value : int or sequence of int
    n_levels : int
    name : str
        Hyperparameter name, for error messages.

    Returns
    -------
    list of int

    Raises
    ------
    ValueError
        A sequence shorter than ``n_levels`` or a negative count.
    """
    if isinstance(value, Integral) and not isinstance(value, bool):
        counts = [int(value)] * n_levels
    else:
        counts = [int(v) for v in value]
        if len(counts) < n_levels:
            raise ValueError(f"{name}={tuple(value)!r} gives {len(counts)} counts but {n_levels} levels are used")
        counts = counts[:n_levels]
    if any(c < 0 for c in counts):
        raise ValueError(f"{name} counts must be >= 0, got {counts}")
    return counts


class MultigridCycle(nn.Module):
    """``W_Mg``: a learned multigrid cycle approximately solving ``A u = f``.

    ``f`` (the layer input, ``in_channels``) is the right-hand side, ``u``
    (``channels``) the iterate; every smoothing step is
    ``u <- u + S_i (f - A_i u)`` with its own 3 x 3 convolutions ``A_i``
    (``channels -> in_channels``) and ``S_i`` (``in_channels -> channels``).

    Down the levels: on level 1, ``u = S(f)`` and ``pre[0] - 1`` further steps;
    on level ``l > 1``, ``f_l = R_l f_{l-1}`` and ``u_l = Pi_l u_{l-1}``
    (3 x 3, stride 2), then ``pre[l-1]`` steps. Up again: ``u_l <- u_l +
    P_l u_{l+1}`` (:class:`BCProlongation`), then ``post[l-1]`` steps
    (``post = 0`` everywhere is MgNO's default, a sawtooth cycle that
    smooths only on the way down; a V-cycle otherwise). The output is
    ``u_1``. The map ``f -> u`` is linear.

    Parameters
    ----------
    in_channels : int
        Channels of ``f``.
    channels : int
        Channels of ``u`` (and of the output).
    pre : sequence of int
        Pre-smoothing steps per level (its length is the number of levels);
        the first must be >= 1.
    post : sequence of int
        Post-smoothing steps per level (the coarsest entry is unused).
    modes : tuple of str
        Padding mode per grid axis.
    """

    def __init__(self, in_channels: int, channels: int, pre, post, modes):
        super().__init__()
        pre, post = list(pre), list(post)
        if len(pre) < 1 or pre[0] < 1:
            raise ValueError(f"the finest level needs at least one smoothing step, got pre={pre}")
        self.n_levels = len(pre)
        self.pre, self.post = pre, post
        conv = lambda cin, cout, stride=1: BCConv2d(cin, cout, modes, stride)  # noqa: E731
        # Level 1 starts from u = S(f): one S without an A.
        self.first = conv(in_channels, channels)
        self.pre_A = nn.ModuleList()
        self.pre_S = nn.ModuleList()
        for level, steps in enumerate(pre):
            extra = steps - 1 if level == 0 else steps
            self.pre_A.append(nn.ModuleList(conv(channels, in_channels) for _ in range(extra)))
            self.pre_S.append(nn.ModuleList(conv(in_channels, channels) for _ in range(extra)))
        self.restrict_f = nn.ModuleList(conv(in_channels, in_channels, 2) for _ in range(self.n_levels - 1))
        self.restrict_u = nn.ModuleList(conv(channels, channels, 2) for _ in range(self.n_levels - 1))
        self.prolong = nn.ModuleList(BCProlongation(channels, modes) for _ in range(self.n_levels - 1))
        # Post-smoothing on levels 1 .. J-1 (the coarsest level has no up-sweep).
        self.post_A = nn.ModuleList()
        self.post_S = nn.ModuleList()
        for steps in post[: self.n_levels - 1]:
            self.post_A.append(nn.ModuleList(conv(channels, in_channels) for _ in range(steps)))
            self.post_S.append(nn.ModuleList(conv(in_channels, channels) for _ in range(steps)))

    @staticmethod
    def _smooth(u, f, As, Ss):
        for A, S in zip(As, Ss):
            u = u + S(f - A(u))
        return u

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """Apply the cycle to ``f`` of shape ``(batch, in_channels, H, W)``."""
        u = self._smooth(self.first(f), f, self.pre_A[0], self.pre_S[0])
        fs, us = [f], [u]
        for level in range(1, self.n_levels):
            f = self.restrict_f[level - 1](f)
            u = self.restrict_u[level - 1](u)
            u = self._smooth(u, f, self.pre_A[level], self.pre_S[level])
            fs.append(f)
            us.append(u)
        for level in range(self.n_levels - 2, -1, -1):
            u = us[level] + self.prolong[level](u, us[level].shape[-2:])
            u = self._smooth(u, fs[level], self.post_A[level], self.post_S[level])
        return u


class MgNONet(nn.Module):
    """The MgNO network: ``n_layers`` of ``u <- GELU(W_Mg u + W u + b)``, then a 1 x 1 head.

    There is no lifting: the first layer's multigrid cycle takes the input
    channels as its right-hand side directly. ``W`` is a 1 x 1 convolution
    (with the bias ``b``); the head is a 1 x 1 convolution without bias.

    Parameters
    ----------
    in_channels, out_channels : int
    channels : int
        Width of the hidden layers.
    n_layers : int
        Number of MgNO layers.
    pre, post : sequence of int
        Smoothing steps per level (see :class:`MultigridCycle`).
    modes : tuple of str
        Padding mode per grid axis.
    """

    def __init__(self, in_channels: int, out_channels: int, channels: int, n_layers: int, pre, post, modes):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        widths = [in_channels] + [channels] * n_layers
        self.cycles = nn.ModuleList(MultigridCycle(widths[i], channels, pre, post, modes) for i in range(n_layers))
        self.pointwise = nn.ModuleList(nn.Conv2d(widths[i], channels, 1) for i in range(n_layers))
        self.head = nn.Conv2d(channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, H, W)`` to ``(batch, out_channels, H, W)``."""
        for cycle, pointwise in zip(self.cycles, self.pointwise):
            x = F.gelu(cycle(x) + pointwise(x))
        return self.head(x)

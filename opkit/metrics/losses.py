"""Differentiable Sobolev norms and training losses on torch tensors.

:func:`sobolev_norm_torch`, :class:`SobolevLoss` and :func:`make_loss` (the
loss an estimator's ``loss=`` names) work on ``(batch, channels, *spatial)``
tensors on any device; residual losses belong here too. They share their
kernel with the xarray metrics of :mod:`opkit.metrics.fields`.
"""

from __future__ import annotations

import torch

from ._kernel import _REDUCTIONS, _check_order, _order_from_norm, _sobolev_squared, _working_tensor

__all__ = ["SobolevLoss", "make_loss", "sobolev_norm_torch"]


# ---------------------------------------------------------------------------
# Torch side
# ---------------------------------------------------------------------------


def _torch_layout(u, periodic, lengths):
    """Check a (batch, channels, *spatial) tensor; return periodicity, spacings, axis names."""
    periodic = tuple(bool(p) for p in periodic)
    lengths = tuple(float(length) for length in lengths)
    if len(lengths) != len(periodic):
        raise ValueError(
            f"lengths has {len(lengths)} entries but periodic has {len(periodic)}: "
            "give one of each per spatial dim"
        )
    if u.ndim != 2 + len(periodic):
        raise ValueError(
            f"expected a (batch, channels, *spatial) tensor with {len(periodic)} spatial "
            f"dim(s), got shape {tuple(u.shape)}"
        )
    spatial = u.shape[2:]
    spacings = tuple(
        length / n if is_periodic else length / max(n - 1, 1)
        for n, is_periodic, length in zip(spatial, periodic, lengths)
    )
    names = tuple(f"spatial axis {i} (tensor dim {i + 2})" for i in range(len(periodic)))
    return periodic, spacings, names


def sobolev_norm_torch(u, s=0.0, periodic=(True, True), lengths=(1.0, 1.0), homogeneous=False):
    """Differentiable H^s norm of a batch of fields, one value per batch element.

    Parameters
    ----------
    u : torch.Tensor
        Shape ``(batch, channels, *spatial)`` with ``len(periodic)`` spatial
        dims; float32 or float64, on any device.
    s : float, default 0.0
        Sobolev order. Any real number if every dim is periodic, otherwise an
        integer ``>= 0``.
    periodic : sequence of bool, default (True, True)
        Whether each spatial dim is periodic (spectral, rectangle rule) or
        bounded (finite differences, trapezoid rule, both end points on the grid).
    lengths : sequence of float, default (1.0, 1.0)
        Domain length of each spatial dim: the period ``n h`` if periodic,
        ``(n - 1) h`` otherwise.
    homogeneous : bool, default False
        Use the seminorm (weight ``|κ|^{2s}``) instead of the full norm.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``: ``sqrt(Σ_channels ‖u_c‖²_{H^s})``, same dtype and
        device as ``u``.

    Raises
    ------
    ValueError
        If the shape does not match ``periodic``/``lengths``, or ``s`` is
        negative or fractional while a dim is non-periodic (the message names it).

    Examples
    --------
    >>> import math, torch
    >>> x = torch.arange(64, dtype=torch.float64) / 64
    >>> u = torch.sin(2 * math.pi * x).reshape(1, 1, 64)
    >>> norm = sobolev_norm_torch(u, s=0, periodic=(True,), lengths=(1.0,))
    >>> round(float(norm) ** 2, 12)  # ∫ sin² over [0, 1)
    0.5
    """
    u = _working_tensor(u)
    periodic, spacings, names = _torch_layout(u, periodic, lengths)
    squared = _sobolev_squared(u, s, periodic, spacings, homogeneous, names).sum(dim=1)
    # sqrt has an infinite slope at 0: mask exact zeros so their gradient is 0, not NaN.
    positive = squared > 0
    return torch.where(positive, torch.where(positive, squared, 1.0).sqrt(), 0.0)


class SobolevLoss(torch.nn.Module):
    """Relative (or absolute) H^s error between two batches of fields, as a torch loss.

    Parameters
    ----------
    s : float, default 0
        Sobolev order (0: L², 1: H¹, -1: H⁻¹). Negative or fractional orders
        need every dim periodic.
    periodic : sequence of bool, default (True, True)
        Periodicity of each spatial dim, as in :func:`sobolev_norm_torch`.
    lengths : sequence of float, default (1.0, 1.0)
        Domain length of each spatial dim, as in :func:`sobolev_norm_torch`.
    relative : bool, default True
        Divide each element's error norm by the norm of its target.
    reduction : {"mean", "sum", "none"}, default "mean"
        How the per-element errors combine over the batch.
    homogeneous : bool, default False
        Use the seminorm instead of the full norm.

    Raises
    ------
    ValueError
        At construction, for an unknown ``reduction``, mismatched
        ``periodic``/``lengths``, or an order the non-periodic dims cannot take.

    Notes
    -----
    A target with zero norm gives an infinite relative error; normalise or use
    ``relative=False`` for such data.

    Examples
    --------
    >>> import torch
    >>> loss = SobolevLoss(s=1, periodic=(True, False))
    >>> true = torch.randn(4, 1, 16, 16, dtype=torch.float64)
    >>> round(float(loss(1.1 * true, true)), 12)  # relative error of a 10 % scaling
    0.1
    """

    def __init__(
        self,
        s=0,
        periodic=(True, True),
        lengths=(1.0, 1.0),
        relative=True,
        reduction="mean",
        homogeneous=False,
    ):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        periodic = tuple(bool(p) for p in periodic)
        if len(tuple(lengths)) != len(periodic):
            raise ValueError("periodic and lengths need one entry per spatial dim each")
        names = tuple(f"spatial axis {i}" for i in range(len(periodic)))
        self.s = _check_order(s, periodic, names)
        self.periodic = periodic
        self.lengths = tuple(float(length) for length in lengths)
        self.relative = bool(relative)
        self.reduction = reduction
        self.homogeneous = bool(homogeneous)

    def _norm(self, u):
        return sobolev_norm_torch(u, self.s, self.periodic, self.lengths, self.homogeneous)

    def forward(self, pred, true):
        """Return the (relative) H^s error of ``pred`` against ``true``.

        Parameters
        ----------
        pred, true : torch.Tensor
            Same shape ``(batch, channels, *spatial)``.

        Returns
        -------
        torch.Tensor
            A scalar for ``reduction="mean"``/``"sum"``, shape ``(batch,)`` for ``"none"``.
        """
        if pred.shape != true.shape:
            raise ValueError(
                f"pred and true differ in shape: {tuple(pred.shape)} vs {tuple(true.shape)}"
            )
        error = self._norm(pred - true)
        if self.relative:
            error = error / self._norm(true)
        if self.reduction == "mean":
            return error.mean()
        if self.reduction == "sum":
            return error.sum()
        return error

    def extra_repr(self):
        return (
            f"s={self.s:g}, periodic={self.periodic}, lengths={self.lengths}, "
            f"relative={self.relative}, reduction={self.reduction!r}, "
            f"homogeneous={self.homogeneous}"
        )


def make_loss(name_or_s, periodic=(True, True), lengths=(1.0, 1.0)):
    """Build the relative :class:`SobolevLoss` an estimator's ``loss`` hyperparameter names.

    Parameters
    ----------
    name_or_s : {"l2", "h1", "h-1"} or float
        ``"l2"`` is s = 0, ``"h1"`` s = 1, ``"h-1"`` s = -1; a number is s itself.
    periodic : sequence of bool, default (True, True)
        Periodicity of each spatial dim.
    lengths : sequence of float, default (1.0, 1.0)
        Domain length of each spatial dim.

    Returns
    -------
    SobolevLoss
        With ``relative=True`` and ``reduction="mean"``.

    Raises
    ------
    ValueError
        For an unknown name, or ``"h-1"``/a fractional order with a non-periodic dim.

    Examples
    --------
    >>> make_loss("h1", periodic=(True, False))
    SobolevLoss(s=1, periodic=(True, False), lengths=(1.0, 1.0), relative=True, reduction='mean', homogeneous=False)
    """
    return SobolevLoss(s=_order_from_norm(name_or_s), periodic=periodic, lengths=lengths)

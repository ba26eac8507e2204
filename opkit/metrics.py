"""Sobolev norms, relative errors and Sobolev training losses.

Two faces of one computation:

* the **xarray side** (:func:`sobolev_norm`, :func:`relative_error`,
  :func:`sobolev_scorer`) reads the spatial dims, the grid spacing and the
  boundary conditions from the data;
* the **torch side** (:func:`sobolev_norm_torch`, :class:`SobolevLoss`,
  :func:`make_loss`) is differentiable and runs on any device, for training.

Both call the same kernel, so they agree to round-off on the same data.

Normalisation
-------------
Every norm approximates an integral over the continuous domain ``Ω``, so its
value does not depend on the resolution and ``s = 0`` gives ``∫_Ω |u|² dx``.

* Along a **periodic** dim of ``n`` points and spacing ``h`` the nodes are
  ``x_0 + j h`` for ``j = 0, ..., n-1`` (the end point is *not* repeated) and
  the period is ``L = n h``. Over the periodic dims the norm is spectral,
  ``‖u‖²_{H^s} = |Ω| Σ_k (1 + |κ_k|²)^s |û_k|²`` with ``û = DFT(u) / N``
  (``N`` grid points) and ``κ = 2πk / L``; any real ``s`` is allowed. For
  ``s = 0`` this equals the rectangle rule ``h^d Σ_j |u_j|²`` (Parseval).
* Along a **non-periodic** dim (``"dirichlet"`` or ``"neumann"``; the two are
  treated alike) the nodes *include both end points*, ``x_0 + j h`` for
  ``j = 0, ..., n-1``, so ``L = (n - 1) h``; integrals use the trapezoid rule
  and derivatives second-order finite differences (central inside, one-sided
  at the two ends). Only integer ``s >= 0`` is defined there, through
  ``(1 + |κ|²)^s = Σ_{|α|≤s} C(s,|α|) |α|!/α! κ^{2α}``, i.e.
  ``‖u‖²_{H^s} = Σ_{|α|≤s} C(s,|α|) |α|!/α! ‖∂^α u‖²_{L²}``. In a mixed grid
  the derivatives along periodic dims stay spectral.
* ``homogeneous=True`` gives the seminorm with weight ``|κ|^{2s}``; on a fully
  periodic grid the ``k = 0`` mode is dropped (so ``s <= 0`` is finite). With a
  non-periodic dim there is no zero mode to drop and the seminorm is
  ``Σ_{|α|=s} s!/α! ‖∂^α u‖²`` (the L² norm for ``s = 0``).
* A dim without a coordinate lies on the unit interval: ``h = 1/n`` if
  periodic, ``h = 1/(n-1)`` otherwise. NumPy inputs are treated the same way.

Norms of multi-component data (a ``channel`` dim in torch; any non-spatial dim
you sum over in xarray) combine as the square root of the summed squares.
"""

from __future__ import annotations

import itertools
import math
import numbers
import warnings
from collections.abc import Mapping

import numpy as np
import torch
import xarray as xr
from sklearn.metrics import make_scorer

from ._validation import unwrap

__all__ = [
    "sobolev_norm",
    "relative_error",
    "sobolev_scorer",
    "sobolev_norm_torch",
    "SobolevLoss",
    "make_loss",
]

#: Dims that are spatial unless the caller says otherwise, in this order.
SPATIAL_DIMS = ("x", "y", "z")
BOUNDARY_CONDITIONS = ("periodic", "dirichlet", "neumann")
NAMED_NORMS = {"l2": 0.0, "h1": 1.0, "h-1": -1.0}
#: Relative tolerance on the steps of a coordinate for it to count as uniform.
UNIFORM_RTOL = 1e-6
_REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------
# Order and argument checks shared by both faces
# ---------------------------------------------------------------------------


def _order_from_norm(norm):
    """Return the Sobolev order ``s`` named by ``norm`` ("l2", "h1", "h-1" or a number)."""
    if isinstance(norm, str):
        key = norm.strip().lower()
        if key not in NAMED_NORMS:
            raise ValueError(
                f"unknown norm {norm!r}: expected one of {sorted(NAMED_NORMS)} or a number s"
            )
        return NAMED_NORMS[key]
    if isinstance(norm, numbers.Real) and not isinstance(norm, bool):
        s = float(norm)
        if not math.isfinite(s):
            raise ValueError(f"Sobolev order must be finite, got {norm!r}")
        return s
    raise TypeError(f"norm must be a name or a real number, got {type(norm).__name__}")


def _check_order(s, periodic, names):
    """Raise if order ``s`` cannot be evaluated on the non-periodic dims among ``names``."""
    s = _order_from_norm(s)
    bounded = [name for name, is_periodic in zip(names, periodic) if not is_periodic]
    if bounded and (s < 0 or s != int(s)):
        raise ValueError(
            f"Sobolev order s={s:g} is not available along non-periodic "
            f"{', '.join(bounded)}: negative and fractional orders need periodic data "
            "(finite differences give integer orders s >= 0 only)"
        )
    return s


def _check_sizes(shape, s, periodic, names):
    """Raise if a non-periodic dim has too few points for the finite differences of order ``s``."""
    # One-sided second-order stencils: 3 points for a first derivative, 4 for a second.
    needed = 2 if s == 0 else (3 if s == 1 else 4)
    for n, is_periodic, name in zip(shape, periodic, names):
        if not is_periodic and n < needed:
            raise ValueError(
                f"non-periodic {name} has {n} point(s); order s={s:g} needs at least {needed}"
            )


# ---------------------------------------------------------------------------
# The kernel: squared H^s norm over the trailing axes of a tensor
# ---------------------------------------------------------------------------


def _one_sided(u, axis, coefficients, from_end):
    """Σ_j c_j u_j from the first node (or Σ_j c_j u_{n-1-j} from the last), keeping ``axis``."""
    n = u.shape[axis]
    total = 0
    for j, c in enumerate(coefficients):
        total = total + c * u.narrow(axis, n - 1 - j if from_end else j, 1)
    return total


def _first_derivative(u, axis, h):
    """Second-order ∂u along ``axis``: central inside, three-point one-sided at both ends."""
    n = u.shape[axis]
    inner = u.narrow(axis, 2, n - 2) - u.narrow(axis, 0, n - 2)
    start = _one_sided(u, axis, (-3.0, 4.0, -1.0), from_end=False)
    end = -_one_sided(u, axis, (-3.0, 4.0, -1.0), from_end=True)
    return torch.cat([start, inner, end], dim=axis) / (2.0 * h)


def _second_derivative(u, axis, h):
    """Second-order ∂²u along ``axis``: central inside, four-point one-sided at both ends."""
    n = u.shape[axis]
    inner = u.narrow(axis, 2, n - 2) - 2.0 * u.narrow(axis, 1, n - 2) + u.narrow(axis, 0, n - 2)
    start = _one_sided(u, axis, (2.0, -5.0, 4.0, -1.0), from_end=False)
    end = _one_sided(u, axis, (2.0, -5.0, 4.0, -1.0), from_end=True)
    return torch.cat([start, inner, end], dim=axis) / (h * h)


def _fd_derivative(u, axis, order, h):
    """∂^order u along ``axis``: repeated second-order stencils (∂² first, then ∂ if odd)."""
    for _ in range(order // 2):
        u = _second_derivative(u, axis, h)
    if order % 2:
        u = _first_derivative(u, axis, h)
    return u


def _broadcast_along(vector, axis, ndim):
    """Reshape a 1-D tensor so it broadcasts along ``axis`` of an ``ndim``-d tensor."""
    shape = [1] * ndim
    shape[axis] = vector.numel()
    return vector.reshape(shape)


def _trapezoid_weights(n, h, dtype, device):
    """Trapezoid-rule weights of ``n`` nodes with both end points included."""
    weights = torch.full((n,), h, dtype=dtype, device=device)
    weights[0] = weights[-1] = h / 2
    return weights


def _rfft_grid(shape, axes, spacings, ndim, dtype, device):
    """|κ|² and the mode multiplicity on the ``rfftn`` grid of ``axes``, broadcastable to it.

    ``rfftn`` keeps only the non-negative half of the last axis; every mode
    there except k = 0 and (for even n) the Nyquist mode stands for itself and
    its complex conjugate, hence counts twice.
    """
    kappa_sq = torch.zeros((1,) * ndim, dtype=dtype, device=device)
    for i, axis in enumerate(axes):
        n, h = shape[axis], spacings[axis]
        last = i == len(axes) - 1
        freq = torch.fft.rfftfreq(n, d=h) if last else torch.fft.fftfreq(n, d=h)
        kappa = 2.0 * math.pi * freq.to(dtype=dtype, device=device)
        kappa_sq = kappa_sq + _broadcast_along(kappa * kappa, axis, ndim)
    n_last = shape[axes[-1]]
    multiplicity = torch.full((n_last // 2 + 1,), 2.0, dtype=dtype, device=device)
    multiplicity[0] = 1.0
    if n_last % 2 == 0:
        multiplicity[-1] = 1.0
    return kappa_sq, _broadcast_along(multiplicity, axes[-1], ndim)


def _spectral_weight(kappa_sq, exponent, homogeneous, drop_zero_mode):
    """(1 + |κ|²)^exponent, or |κ|^(2·exponent) (0 where κ = 0 unless exponent is 0)."""
    if not homogeneous:
        weight = (1.0 + kappa_sq) ** exponent
    elif exponent == 0:
        weight = torch.ones_like(kappa_sq)
    else:
        # A positive power vanishes at κ = 0 anyway; a negative one is undefined there.
        nonzero = kappa_sq > 0
        weight = torch.where(nonzero, torch.where(nonzero, kappa_sq, 1.0) ** exponent, 0.0)
    if drop_zero_mode:
        weight = torch.where(kappa_sq > 0, weight, 0.0)
    return weight


def _bounded_terms(n_bounded, s, homogeneous, has_periodic):
    """Multi-indices β over the bounded axes with their coefficients C(s,|β|)·|β|!/β!.

    With no periodic axis a homogeneous seminorm keeps only |β| = s: the lower
    terms carry the factor |κ_periodic|^{2(s-|β|)} = 0.
    """
    if n_bounded == 0:
        return [((), 1.0)]
    order = int(s)
    terms = []
    for beta in itertools.product(range(order + 1), repeat=n_bounded):
        j = sum(beta)
        if j > order or (homogeneous and not has_periodic and j != order):
            continue
        coefficient = math.comb(order, j) * math.factorial(j)
        coefficient /= math.prod(math.factorial(b) for b in beta)
        terms.append((beta, float(coefficient)))
    return terms


def _sobolev_squared(u, s, periodic, spacings, homogeneous, names):
    """Squared H^s norm over the trailing ``len(periodic)`` axes of ``u``, one per leading index.

    ``spacings`` holds the grid step of every trailing axis. See the module
    docstring for nodes, quadrature and normalisation.
    """
    s = _check_order(s, periodic, names)
    n_space = len(periodic)
    lead = u.ndim - n_space
    _check_sizes(u.shape[lead:], s, periodic, names)
    space_axes = list(range(lead, u.ndim))
    steps = dict(zip(space_axes, spacings))
    periodic_axes = [a for a, p in zip(space_axes, periodic) if p]
    bounded_axes = [a for a, p in zip(space_axes, periodic) if not p]
    dtype, device = u.dtype, u.device

    if periodic_axes:
        kappa_sq, multiplicity = _rfft_grid(u.shape, periodic_axes, steps, u.ndim, dtype, device)
        periodic_volume = math.prod(u.shape[a] * steps[a] for a in periodic_axes)
    quadrature = 1.0
    for axis in bounded_axes:
        weights = _trapezoid_weights(u.shape[axis], steps[axis], dtype, device)
        quadrature = quadrature * _broadcast_along(weights, axis, u.ndim)

    total = 0.0
    for beta, coefficient in _bounded_terms(len(bounded_axes), s, homogeneous, bool(periodic_axes)):
        derivative = u
        for axis, order in zip(bounded_axes, beta):
            derivative = _fd_derivative(derivative, axis, order, steps[axis])
        if periodic_axes:
            # Parseval over the periodic axes, node by node along the bounded ones.
            coeffs = torch.fft.rfftn(derivative, dim=periodic_axes, norm="forward")
            power = coeffs.real**2 + coeffs.imag**2
            # Only a fully periodic grid has a zero mode for the seminorm to drop.
            drop_zero_mode = homogeneous and not bounded_axes
            weight = _spectral_weight(kappa_sq, s - sum(beta), homogeneous, drop_zero_mode)
            density = periodic_volume * (multiplicity * weight * power).sum(
                dim=periodic_axes, keepdim=True
            )
        else:
            density = derivative * derivative
        total = total + coefficient * (quadrature * density).sum(dim=space_axes)
    return total


def _working_tensor(u):
    """``u`` as a real floating tensor (half precisions promoted to float32 for the FFT)."""
    if not isinstance(u, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(u).__name__}")
    if u.is_complex():
        raise TypeError("Sobolev norms are defined here for real-valued fields only")
    if u.dtype in (torch.float32, torch.float64):
        return u
    return u.to(torch.float32)


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


# ---------------------------------------------------------------------------
# xarray side
# ---------------------------------------------------------------------------


def _spatial_dims(u, dims):
    """The dims to reduce over: ``dims`` checked against ``u``, or the x/y/z dims ``u`` has."""
    if dims is None:
        found = tuple(d for d in u.dims if d in SPATIAL_DIMS)
        if not found:
            raise ValueError(
                f"no spatial dim among {tuple(u.dims)}: expected some of {SPATIAL_DIMS}, "
                "or pass dims="
            )
        return found
    dims = (dims,) if isinstance(dims, str) else tuple(dims)
    missing = [d for d in dims if d not in u.dims]
    if missing:
        raise ValueError(f"dims {missing} not found among the data's dims {tuple(u.dims)}")
    return dims


def _bc_mapping(bc, dims):
    """``bc`` given as a string, a mapping or a per-dim sequence, as a dict dim -> bc."""
    if bc is None:
        return {}
    if isinstance(bc, str):
        return {d: bc for d in dims}
    if isinstance(bc, Mapping):
        return dict(bc)
    bc = tuple(bc)
    if len(bc) != len(dims):
        raise ValueError(f"bc has {len(bc)} entries for {len(dims)} spatial dims {dims}")
    return dict(zip(dims, bc))


def _resolve_bc(dims, bc, *attr_sources):
    """Boundary condition of each dim: from ``bc``, else ``bc_<dim>`` in the first attrs having it.

    Warns (``UserWarning``) and assumes periodic for dims found nowhere.
    """
    given = _bc_mapping(bc, dims)
    resolved, missing = {}, []
    for d in dims:
        candidates = (given.get(d), *(attrs.get(f"bc_{d}") for attrs in attr_sources))
        value = next((c for c in candidates if c is not None), None)
        if value is None:
            missing.append(d)
            value = "periodic"
        value = str(value).strip().lower()
        if value not in BOUNDARY_CONDITIONS:
            raise ValueError(
                f"boundary condition of dim {d!r} is {value!r}; "
                f"expected one of {BOUNDARY_CONDITIONS}"
            )
        resolved[d] = value
    if missing:
        warnings.warn(
            f"boundary condition missing for dim(s) {', '.join(map(repr, missing))} "
            f"(no bc argument and no {', '.join('bc_' + d for d in missing)} attribute); "
            "assumed periodic",
            UserWarning,
            stacklevel=4,
        )
    return resolved


def _grid_spacing(u, dim, periodic):
    """Uniform step along ``dim`` from its 1-D coordinate, or of the unit interval without one."""
    n = u.sizes[dim]
    if dim not in u.coords:
        return 1.0 / n if periodic else 1.0 / max(n - 1, 1)
    coord = np.asarray(u[dim].values)
    if coord.ndim != 1 or not np.issubdtype(coord.dtype, np.number):
        raise ValueError(f"coordinate of dim {dim!r} must be 1-D and numeric, got {coord.dtype}")
    if n < 2:
        raise ValueError(f"dim {dim!r} has a single point: its grid spacing is undefined")
    coord = coord.astype(np.float64)
    steps = np.diff(coord)
    step = (coord[-1] - coord[0]) / (n - 1)
    # Besides the relative tolerance, allow the round-off of the coordinate's own dtype
    # (a float32 coordinate of 512 points is uniform only to ~1e-5 relative).
    eps = np.finfo(u[dim].dtype).eps if np.issubdtype(u[dim].dtype, np.floating) else 0.0
    round_off = 4 * eps * np.max(np.abs(coord))
    if step == 0 or not np.all(np.abs(steps - step) <= UNIFORM_RTOL * abs(step) + round_off):
        raise ValueError(
            f"coordinate of dim {dim!r} is not uniform (steps from {steps.min():.6g} to "
            f"{steps.max():.6g}); Sobolev norms need a uniform grid"
        )
    return abs(step)


def _squared_norm(u, s, dims, bc, homogeneous, fallback_attrs=()):
    """Squared H^s norm of a DataArray over its spatial dims, other dims kept.

    ``bc`` entries override the ``bc_<dim>`` attributes of ``u``, then of each
    mapping in ``fallback_attrs`` (e.g. the enclosing Dataset's attrs).
    """
    dims = _spatial_dims(u, dims)
    resolved = _resolve_bc(dims, bc, u.attrs, *fallback_attrs)
    periodic = tuple(resolved[d] == "periodic" for d in dims)
    spacings = tuple(_grid_spacing(u, d, p) for d, p in zip(dims, periodic))
    kept = [d for d in u.dims if d not in dims]
    values = np.asarray(u.transpose(*kept, *dims).values)
    if np.iscomplexobj(values) or not (
        np.issubdtype(values.dtype, np.number) or values.dtype == bool
    ):
        raise TypeError(f"Sobolev norms need real numeric data, got dtype {values.dtype}")
    # The metric is computed in float64 whatever the storage precision.
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64))
    names = tuple(f"dim {d!r}" for d in dims)
    squared = _sobolev_squared(tensor, s, periodic, spacings, homogeneous, names)
    coords = {name: c for name, c in u.coords.items() if not set(c.dims) & set(dims)}
    return xr.DataArray(squared.numpy(), dims=kept, coords=coords, name=u.name)


def _numpy_as_field(values, template=None):
    """A NumPy array as a DataArray: on ``template``'s dims and coords, or (sample, x[, y[, z]])."""
    values = np.asarray(values)
    if template is not None:
        if values.shape != template.shape:
            raise ValueError(
                f"array of shape {values.shape} does not match the field's dims "
                f"{dict(template.sizes)}"
            )
        return template.copy(data=values)
    if not 2 <= values.ndim <= 1 + len(SPATIAL_DIMS):
        raise ValueError(
            "NumPy fields must have shape (n_samples, *spatial) with 1 to 3 spatial dims, "
            f"got shape {values.shape}"
        )
    return xr.DataArray(values, dims=("sample",) + SPATIAL_DIMS[: values.ndim - 1])


def _aligned(pred, true):
    """``pred`` in ``true``'s dim order, once both are checked for equal dims, sizes, coords."""
    if set(pred.dims) != set(true.dims):
        raise ValueError(f"pred has dims {tuple(pred.dims)} but true has dims {tuple(true.dims)}")
    mismatched = [
        f"{d!r} ({pred.sizes[d]} vs {true.sizes[d]})"
        for d in true.dims
        if pred.sizes[d] != true.sizes[d]
    ]
    if mismatched:
        raise ValueError(f"pred and true differ in size along {', '.join(mismatched)}")
    pred = pred.transpose(*true.dims)
    try:
        pred, true = xr.align(pred, true, join="exact")
    except ValueError as err:
        raise ValueError(f"pred and true have different coordinates: {err}") from None
    return pred, true


def _matching_pair(pred, true):
    """``pred`` and ``true`` as two DataArrays on the same grid, or two Datasets."""
    if isinstance(pred, xr.Dataset) or isinstance(true, xr.Dataset):
        if not (isinstance(pred, xr.Dataset) and isinstance(true, xr.Dataset)):
            raise TypeError("pred and true must both be Datasets when one of them is")
        if set(pred.data_vars) != set(true.data_vars):
            raise ValueError(
                f"pred has variables {sorted(pred.data_vars)} but true has {sorted(true.data_vars)}"
            )
        return pred, true
    if isinstance(true, xr.DataArray):
        pred = pred if isinstance(pred, xr.DataArray) else _numpy_as_field(pred, true)
    elif isinstance(pred, xr.DataArray):
        true = _numpy_as_field(true, pred)
    else:
        pred, true = np.asarray(pred), np.asarray(true)
        if pred.shape != true.shape:
            raise ValueError(f"pred and true differ in shape: {pred.shape} vs {true.shape}")
        pred, true = _numpy_as_field(pred), _numpy_as_field(true)
    return _aligned(pred, true)


def sobolev_norm(u, s=0.0, dims=None, bc=None, homogeneous=False):
    """H^s norm of a field over its spatial dims, one value per index of the other dims.

    Parameters
    ----------
    u : xarray.DataArray or xarray.Dataset or numpy.ndarray
        The field. A Dataset is handled variable by variable. A NumPy array is
        read as ``(n_samples, *spatial)`` on the unit domain.
    s : float or {"l2", "h1", "h-1"}, default 0.0
        Sobolev order. Any real number along periodic dims; an integer
        ``>= 0`` as soon as one reduced dim is non-periodic.
    dims : str or sequence of str, optional
        Dims to reduce over. Default: those of ``("x", "y", "z")`` in ``u``.
    bc : str, dict or sequence, optional
        Boundary condition per dim, each ``"periodic"``, ``"dirichlet"`` or
        ``"neumann"`` (one string for all, a dict dim -> bc, or one per dim in
        ``dims`` order). Dims not given are read from the ``bc_<dim>``
        attribute of the variable, then of the Dataset; if absent they are
        taken periodic with a ``UserWarning`` (NumPy input: periodic, silently).
    homogeneous : bool, default False
        Return the seminorm (weight ``|κ|^{2s}``; the mean is dropped on fully
        periodic grids) instead of the full norm.

    Returns
    -------
    xarray.DataArray or xarray.Dataset or numpy.ndarray
        The norm, with the non-reduced dims and their coordinates (e.g.
        ``sample``, ``time``, ``channel``); a Dataset for a Dataset, an array
        for an array.

    Raises
    ------
    ValueError
        If a dim is missing, a coordinate is not uniform (the dim is named), a
        bc is unknown, a bounded dim has too few points, or ``s`` is negative
        or fractional while a reduced dim is non-periodic (the dim is named).

    Warns
    -----
    UserWarning
        If the boundary condition of a reduced dim is nowhere to be found.

    See Also
    --------
    sobolev_norm_torch : the same norm on tensors, differentiable.

    Notes
    -----
    The grid conventions (periodic nodes exclude the right end point, bounded
    nodes include both) and the normalisation are in the :mod:`opkit.metrics`
    module docstring.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> x = np.arange(32) / 32
    >>> u = xr.DataArray(np.sin(2 * np.pi * x), dims="x", coords={"x": x},
    ...                  attrs={"bc_x": "periodic"})
    >>> round(float(sobolev_norm(u, s=0)) ** 2, 12)  # ∫ sin² over [0, 1)
    0.5
    >>> round(float(sobolev_norm(u, s=1)) ** 2, 6)  # (1 + 4π²) / 2
    20.239209
    """
    s = _order_from_norm(s)
    u = unwrap(u)
    if isinstance(u, xr.Dataset):
        return xr.Dataset(
            {
                name: np.sqrt(_squared_norm(var, s, dims, bc, homogeneous, (u.attrs,)))
                for name, var in u.data_vars.items()
            }
        )
    if isinstance(u, xr.DataArray):
        return np.sqrt(_squared_norm(u, s, dims, bc, homogeneous))
    if isinstance(u, torch.Tensor):
        raise TypeError("use sobolev_norm_torch for torch tensors")
    field = _numpy_as_field(u)
    bc = "periodic" if bc is None else bc
    return np.sqrt(_squared_norm(field, s, dims, bc, homogeneous)).values


def _relative_error_dataarray(pred, true, s, dims, bc, fallback_attrs=()):
    """‖pred − true‖ / ‖true‖ per index of the non-spatial dims of aligned DataArrays."""
    dims = _spatial_dims(true, dims)
    resolved = _resolve_bc(dims, bc, true.attrs, pred.attrs, *fallback_attrs)
    difference = pred - true
    # Measure both on one grid, whichever of the two carried the coordinates.
    true = true.assign_coords(difference.coords)
    error_sq = _squared_norm(difference, s, dims, resolved, homogeneous=False)
    true_sq = _squared_norm(true, s, dims, resolved, homogeneous=False)
    return np.sqrt(error_sq / true_sq).rename(true.name)


def relative_error(pred, true, norm="l2", dims=None, bc=None, reduce=True):
    """Relative Sobolev error ``‖pred − true‖ / ‖true‖``, per sample or averaged.

    Parameters
    ----------
    pred, true : xarray.DataArray, xarray.Dataset or numpy.ndarray
        Prediction and reference on the same grid. NumPy arrays are
        ``(n_samples, *spatial)`` on the unit domain, or take the dims and
        coordinates of the other argument if that one is a DataArray.
    norm : {"l2", "h1", "h-1"} or float, default "l2"
        The norm: ``"l2"`` (s = 0), ``"h1"`` (s = 1), ``"h-1"`` (s = -1) or
        the order s itself.
    dims : str or sequence of str, optional
        Spatial dims, as in :func:`sobolev_norm`.
    bc : str, dict or sequence, optional
        Boundary conditions, as in :func:`sobolev_norm`; read from the attrs of
        ``true`` first, then ``pred``. Two NumPy arrays default to periodic.
    reduce : bool, default True
        Return the mean over every non-spatial index (and over the variables
        of a Dataset) as a float; otherwise the per-index errors.

    Returns
    -------
    float or xarray.DataArray or xarray.Dataset
        The mean relative error, or one error per index of the non-spatial
        dims (a Dataset of them for Datasets).

    Raises
    ------
    ValueError
        If the two fields differ in dims, sizes, coordinates or variables (the
        message names them), or for any reason :func:`sobolev_norm` raises.

    Notes
    -----
    A reference with zero norm gives an infinite (or NaN) error; NaNs in the
    data propagate to the result.

    Examples
    --------
    >>> import numpy as np
    >>> true = np.random.default_rng(0).normal(size=(3, 16, 16))
    >>> round(relative_error(1.05 * true, true, norm="h1"), 12)
    0.05
    """
    s = _order_from_norm(norm)
    pred, true = unwrap(pred), unwrap(true)
    both_numpy = not isinstance(pred, (xr.DataArray, xr.Dataset)) and not isinstance(
        true, (xr.DataArray, xr.Dataset)
    )
    if both_numpy and bc is None:
        bc = "periodic"
    pred, true = _matching_pair(pred, true)
    if isinstance(true, xr.Dataset):
        errors = xr.Dataset(
            {
                name: _relative_error_dataarray(
                    *_aligned(pred[name], true[name]), s, dims, bc, (true.attrs, pred.attrs)
                )
                for name in true.data_vars
            }
        )
        if reduce:
            return float(np.mean([errors[name].mean() for name in errors.data_vars]))
        return errors
    errors = _relative_error_dataarray(pred, true, s, dims, bc)
    return float(errors.mean()) if reduce else errors


def _relative_error_score(y_true, y_pred, norm="l2", dims=None, bc=None):
    """Score function for :func:`sklearn.metrics.make_scorer` (note the argument order)."""
    return relative_error(y_pred, y_true, norm=norm, dims=dims, bc=bc, reduce=True)


def sobolev_scorer(norm="l2", dims=None, bc=None):
    """A scikit-learn scorer of the mean relative Sobolev error (negated: higher is better).

    Parameters
    ----------
    norm : {"l2", "h1", "h-1"} or float, default "l2"
        The norm, as in :func:`relative_error`.
    dims, bc : optional
        Passed to :func:`relative_error`.

    Returns
    -------
    callable
        A scorer ``scorer(estimator, X, y)`` returning ``-relative_error(
        estimator.predict(X), y, norm)``; ``predict`` may return a DataArray,
        a Dataset or a NumPy array.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> search = GridSearchCV(estimator, param_grid, scoring=sobolev_scorer("h1"))  # doctest: +SKIP
    """
    _order_from_norm(norm)
    return make_scorer(
        _relative_error_score, greater_is_better=False, norm=norm, dims=dims, bc=bc
    )

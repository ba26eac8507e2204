"""The Sobolev-norm kernel shared by the xarray metrics and the torch losses.

One computation on a torch tensor (spectral along periodic dims, finite
differences and the trapezoid rule along the others; the normalisation is
described in :mod:`opkit.metrics`), so that both faces agree to round-off.
"""

from __future__ import annotations

import itertools
import math
import numbers

import torch

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

r"""A posteriori error estimate for 2-D Navier--Stokes trajectories: the :math:`H^{-1}` norm of the residual.

For a vorticity trajectory :math:`w(t, x, y)` on the periodic square :math:`[0, L)^2`,

.. math::

    R(w) = \partial_t w + (u\cdot\nabla) w - \nu\Delta w + \alpha_d w - f,
    \qquad u = (\partial_y\psi, -\partial_x\psi),\quad -\Delta\psi = w,

evaluated pseudo-spectrally, with the advection term projected on the 2/3-rule
square :math:`|k_x|, |k_y| \le \lfloor (n-1)/3 \rfloor` (the Galerkin system
that :mod:`solvers.navier_stokes` integrates). With the grid-independent
Fourier coefficients :math:`\hat R_k = n^{-2}\sum_x R(x) e^{-i\kappa\cdot x}`,
:math:`\kappa = 2\pi k / L`, the norm of order :math:`s` is

.. math::

    \|R\|_{s} = \Big(\frac{1}{T}\sum_{j} |\Omega| \sum_k
        (a + |\kappa|^2)^{s}\, |\hat R_k(t_j)|^2\Big)^{1/2},

so :math:`s = 0` is the root-mean-square in time of :math:`\|R\|_{L^2(\Omega)}`
(Parseval), whatever the grid: values compare across resolutions.

The time derivative is taken *along the trajectory*, by finite differences
of order ``order`` over its frames (central inside, one-sided near the ends;
second order is BDF2 at the last frame). A trajectory that satisfies the
equation therefore gives a residual of the size of the finite-difference
error, :math:`O(\Delta t^{\text{order}})`, and a frozen field
(:math:`\partial_t w = 0`) gives the size of its steady-state defect. It is
never taken by a tiny solver step from each frame (that makes :math:`R\approx 0`
for any field).
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["residual_norm", "ns_residual", "sobolev_norm", "fd_time_derivative", "DEFAULT_ALPHA"]

#: Shift ``a`` of the weight ``(a + |kappa|^2)^s`` (torch-cfd's notebooks: 10^-1.5).
DEFAULT_ALPHA = 10 ** -1.5


def _fd_weights(offsets, order=1):
    """Weights ``c`` with ``sum_i c_i g(x + o_i h) = h^order g^(order)(x) + O(h^{len-order})``."""
    offsets = np.asarray(offsets, dtype=float)
    m = len(offsets)
    A = np.vander(offsets, m, increasing=True).T  # A[p, i] = o_i^p
    rhs = np.zeros(m)
    rhs[order] = math.factorial(order)
    return np.linalg.solve(A, rhs)


def _fd_matrix(n_frames, order):
    """``(T, T)`` matrix of the first derivative on a unit-spaced uniform grid, accuracy ``order``."""
    width = order + 1
    D = np.zeros((n_frames, n_frames))
    half = order // 2
    for j in range(n_frames):
        start = min(max(j - half, 0), n_frames - width)
        offs = np.arange(start, start + width) - j
        D[j, start:start + width] = _fd_weights(offs)
    return D


def fd_time_derivative(w, dt, order=2, dim=1):
    """Finite-difference time derivative of a uniformly sampled trajectory.

    Parameters
    ----------
    w : torch.Tensor
        Frames along ``dim``.
    dt : float
        Frame spacing.
    order : int, default=2
        Order of accuracy (2: central inside, second-order one-sided at the
        ends, i.e. BDF2 ``(3w_j - 4w_{j-1} + w_{j-2}) / (2 dt)`` at the last
        frame; 4: five-point stencils).
    dim : int, default=1
        The time axis.

    Returns
    -------
    torch.Tensor
        Same shape as ``w``.

    Raises
    ------
    ValueError
        Fewer than ``order + 1`` frames, or an order that is not a positive even integer.
    """
    order = int(order)
    if order < 2 or order % 2:
        raise ValueError(f"order must be a positive even integer (2, 4, ...), got {order!r}")
    n = w.shape[dim]
    if n < order + 1:
        raise ValueError(f"the time derivative of order {order} needs at least {order + 1} frames; "
                         f"the trajectory has {n} along its time dim")
    D = torch.as_tensor(_fd_matrix(n, order) / float(dt), dtype=w.dtype, device=w.device)
    return torch.movedim(torch.tensordot(torch.movedim(w, dim, -1), D, dims=([-1], [1])), -1, dim)


def _wavenumbers(n, length, device, dtype):
    k = torch.fft.fftfreq(n, d=1.0 / n, device=device, dtype=dtype)
    kappa = 2 * math.pi * k / length
    return k, kappa


def _laplacian_symbols(n, length, device, dtype):
    """Integer wavenumbers, angular ones, ``|kappa|^2`` and its inverse (0 at the mean) on an n x n grid."""
    k, kappa = _wavenumbers(n, length, device, dtype)
    k2 = kappa[:, None] ** 2 + kappa[None, :] ** 2
    inv = torch.where(k2 > 0, 1.0 / torch.where(k2 > 0, k2, torch.ones_like(k2)), torch.zeros_like(k2))
    return k, kappa, k2, inv


def ns_residual(w, forcing, viscosity, *, length, dt, drag=0.0, order=2, dwdt=None):
    r"""Vorticity-form Navier--Stokes residual of a trajectory, pointwise (differentiable).

    Parameters
    ----------
    w : torch.Tensor, shape (batch, time, n, n)
        Vorticity frames on the periodic grid ``x_j = x_0 + j L / n`` (first
        grid axis ``x``, second ``y``), uniform in time.
    forcing : None, float or torch.Tensor broadcastable to (batch, time, n, n)
        Vorticity forcing ``f``.
    viscosity : float
        :math:`\nu > 0`.
    length : float
        Domain side ``L``.
    dt : float
        Frame spacing (ignored when ``dwdt`` is given).
    drag : float, default=0.0
        Linear drag :math:`\alpha_d`.
    order : int, default=2
        Finite-difference order of :math:`\partial_t w` (:func:`fd_time_derivative`).
    dwdt : torch.Tensor, optional
        :math:`\partial_t w` when known analytically.

    Returns
    -------
    torch.Tensor, shape (batch, time, n, n)
        :math:`\hat R_k` as grid-independent Fourier coefficients
        (``fft2(R) / n**2``), complex.
    """
    n = w.shape[-1]
    if w.shape[-2] != n:
        raise ValueError(f"the residual needs a square grid; got {tuple(w.shape[-2:])}")
    rdtype = w.dtype
    k, kappa, k2, inv = _laplacian_symbols(n, length, w.device, rdtype)
    kx, ky = kappa[:, None], kappa[None, :]
    K = (n - 1) // 3
    mask = ((k.abs()[:, None] <= K) & (k.abs()[None, :] <= K)).to(rdtype)
    wh = torch.fft.fft2(w, norm="forward")
    psih = wh * inv
    ifft = lambda a: torch.fft.ifft2(a, norm="forward").real  # noqa: E731
    u, v = ifft(1j * ky * psih), ifft(-1j * kx * psih)
    wx, wy = ifft(1j * kx * wh), ifft(1j * ky * wh)
    adv = torch.fft.fft2(u * wx + v * wy, norm="forward") * mask
    if dwdt is None:
        dwdt = fd_time_derivative(w, dt, order=order, dim=-3)
    rh = torch.fft.fft2(dwdt, norm="forward") + adv + (float(viscosity) * k2 + float(drag)) * wh
    if forcing is not None:
        f = forcing if torch.is_tensor(forcing) else torch.as_tensor(forcing, dtype=rdtype, device=w.device)
        rh = rh - (torch.fft.fft2(f.to(rdtype), norm="forward") if f.ndim >= 2 else f)
    return rh


def sobolev_norm(rh, length, s=-1.0, alpha=DEFAULT_ALPHA):
    r"""Per-sample norm :math:`(\frac1T\sum_j |\Omega| \sum_k (a + |\kappa|^2)^s |\hat R_k|^2)^{1/2}`.

    Parameters
    ----------
    rh : torch.Tensor, shape (batch, time, n, n), complex
        Grid-independent Fourier coefficients (``fft2(R) / n**2``).
    length : float
        Domain side ``L``.
    s : float, default=-1.0
        Order (-1: :math:`H^{-1}`, 0: :math:`L^2`).
    alpha : float, default=DEFAULT_ALPHA
        The shift ``a``.

    Returns
    -------
    torch.Tensor, shape (batch,)
    """
    n = rh.shape[-1]
    rdtype = rh.real.dtype
    _, kappa = _wavenumbers(n, length, rh.device, rdtype)
    weight = (float(alpha) + kappa[:, None] ** 2 + kappa[None, :] ** 2) ** float(s)
    return torch.sqrt(length**2 * (weight * rh.abs() ** 2).sum((-2, -1)).mean(-1))


def _uniform_axis(values, dim, what):
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(f"{what}: coordinate {dim!r} needs at least 2 values")
    step = np.diff(values)
    if not np.all(step > 0) or np.ptp(step) > 1e-6 * abs(step.mean()) + 1e-12:
        raise ValueError(f"{what}: coordinate {dim!r} must be uniform and increasing (steps from "
                         f"{step.min():.6g} to {step.max():.6g}); resample the trajectory onto uniform frames")
    return float(step.mean())


def _check_periodic(pred, dims, what):
    for key, value in pred.attrs.items():
        if key.startswith("bc_") and str(value).lower() != "periodic":
            raise ValueError(f"{what} has {key}={value!r}: the Navier-Stokes residual is periodic-only "
                             "(pseudo-spectral on a periodic square)")
    for d in dims:
        attrs = pred[d].attrs if d in pred.coords else {}
        bc = attrs.get("bc") or attrs.get("boundary")
        if bc is not None and str(bc).lower() != "periodic":
            raise ValueError(f"{what}: dim {d!r} has boundary {bc!r}, but the residual is periodic-only")


def residual_norm(pred, forcing=None, viscosity=None, s=-1, *, alpha=DEFAULT_ALPHA, drag=0.0, order=2,
                  length=None, time_dim="time", x_dim="x", y_dim="y"):
    r"""Sobolev norm (default :math:`H^{-1}`) of the Navier--Stokes residual of vorticity trajectories.

    A label-free, a posteriori error estimate: it needs no reference
    solution and no fitted model, only the trajectory (see the module
    docstring for the formula and the normalisation).

    Parameters
    ----------
    pred : xarray.DataArray
        Vorticity with dims ``time``, ``x``, ``y`` and optionally ``sample``
        (any order); uniform ``time`` coordinate; uniform, periodic ``x`` and
        ``y`` on a square grid (``bc_*`` attributes, when present, must say
        ``"periodic"``).
    forcing : None, float, array or xarray.DataArray
        Vorticity forcing ``f``: an ``(x, y)`` field on the same grid (a
        DataArray is transposed to ``pred``'s order; an array must be in
        ``pred``'s ``(x, y)`` order), optionally with a ``time`` axis of the
        trajectory's length; None for none.
    viscosity : float
        :math:`\nu > 0`.
    s : float, default=-1
        Order of the norm (-1: :math:`H^{-1}`; 0: :math:`L^2`).
    alpha : float, default=10**-1.5
        Shift of the weight :math:`(a + |\kappa|^2)^s`.
    drag : float, default=0.0
        Linear drag coefficient.
    order : int, default=2
        Accuracy order of the finite-difference :math:`\partial_t w`.
    length : float, optional
        Domain side; default ``n * dx`` from the ``x`` coordinate (1 without one).
    time_dim, x_dim, y_dim : str
        Dim names.

    Returns
    -------
    xarray.DataArray (sample,) or float
        The norm per sample (a float when ``pred`` has no ``sample`` dim).

    Raises
    ------
    ValueError
        Non-periodic boundaries, a non-uniform coordinate, a non-square grid,
        too few frames, a missing or non-positive viscosity, or a forcing whose
        shape does not match the grid.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> x = np.arange(32) / 32
    >>> w = np.sin(2 * np.pi * x)[:, None] * np.ones(32)
    >>> da = xr.DataArray(np.stack([w] * 5), dims=("time", "x", "y"),
    ...                   coords={"time": 0.1 * np.arange(5), "x": x, "y": x})
    >>> float(residual_norm(da, forcing=None, viscosity=1e-2)) > 0   # a decaying mode held frozen
    True
    """
    import xarray as xr

    what = "pred"
    if not isinstance(pred, xr.DataArray):
        raise TypeError(f"pred must be an xarray.DataArray with dims ({time_dim}, {x_dim}, {y_dim}) and "
                        f"optionally sample; got {type(pred).__name__}")
    if viscosity is None:
        raise ValueError("viscosity is required (the kinematic viscosity nu of the flow)")
    try:
        nu = float(viscosity)
    except (TypeError, ValueError):
        raise ValueError(f"viscosity must be one positive number, got {viscosity!r}") from None
    if not (nu > 0 and math.isfinite(nu)):
        raise ValueError(f"viscosity must be > 0, got {viscosity!r}")
    missing = [d for d in (time_dim, x_dim, y_dim) if d not in pred.dims]
    if missing:
        raise ValueError(f"{what} lacks dim(s) {missing}; its dims are {tuple(pred.dims)}")
    extra = [d for d in pred.dims if d not in (time_dim, x_dim, y_dim, "sample")]
    if extra:
        raise ValueError(f"{what} has unexpected dim(s) {extra}: give one vorticity field (sample, time, x, y)")
    _check_periodic(pred, (x_dim, y_dim), what)
    nx, ny = pred.sizes[x_dim], pred.sizes[y_dim]
    if nx != ny:
        raise ValueError(f"{what} must be on a square grid; {x_dim} has {nx} points, {y_dim} {ny}")
    if time_dim not in pred.coords:
        raise ValueError(f"{what} needs a {time_dim!r} coordinate (the frame times) for the time derivative")
    dt = _uniform_axis(pred[time_dim].values, time_dim, what)
    if length is None:
        if x_dim in pred.coords:
            dx = _uniform_axis(pred[x_dim].values, x_dim, what)
            if y_dim in pred.coords:
                dy = _uniform_axis(pred[y_dim].values, y_dim, what)
                if abs(dx - dy) > 1e-6 * dx:
                    raise ValueError(f"{what}: spacing of {x_dim} ({dx:g}) and {y_dim} ({dy:g}) differ")
            length = nx * dx
        else:
            length = 1.0
    has_sample = "sample" in pred.dims
    da = pred if has_sample else pred.expand_dims("sample")
    da = da.transpose("sample", time_dim, x_dim, y_dim)
    w = torch.as_tensor(np.asarray(da.values, dtype=np.float64))
    f = None
    if forcing is not None:
        if isinstance(forcing, xr.DataArray):
            order_dims = [d for d in (time_dim, x_dim, y_dim) if d in forcing.dims]
            if set(forcing.dims) - {time_dim, x_dim, y_dim, "sample"} or x_dim not in forcing.dims or y_dim not in forcing.dims:
                raise ValueError(f"forcing must have dims ({x_dim}, {y_dim}) (optionally {time_dim}); "
                                 f"got {tuple(forcing.dims)}")
            farr = np.asarray(forcing.transpose(*(["sample"] if "sample" in forcing.dims else []), *order_dims).values,
                              dtype=np.float64)
        else:
            farr = np.asarray(forcing, dtype=np.float64)
        if farr.ndim == 0:
            f = torch.as_tensor(float(farr), dtype=torch.float64)
        else:
            T = w.shape[1]
            ok = farr.shape[-2:] == (nx, ny) and farr.ndim in (2, 3) and (farr.ndim == 2 or farr.shape[0] in (1, T))
            if not ok:
                raise ValueError(f"forcing has shape {farr.shape}, but {what}'s grid is ({nx}, {ny}) with "
                                 f"{T} frames: give an ({x_dim}, {y_dim}) field or ({time_dim}, {x_dim}, {y_dim})")
            f = torch.as_tensor(farr)
    rh = ns_residual(w, f, nu, length=float(length), dt=dt, drag=float(drag), order=order)
    values = sobolev_norm(rh, float(length), s=s, alpha=alpha).numpy()
    if not has_sample:
        return float(values[0])
    coords = {"sample": da["sample"].values} if "sample" in da.coords else {}
    return xr.DataArray(values, dims=("sample",), coords=coords, name="residual_norm",
                        attrs={"long_name": f"H^{s} norm of the Navier-Stokes residual"})

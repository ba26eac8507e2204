r"""2-D compressible Euler equations, finite volume (Poseidon's CE-RP, CE-Gauss, CE-KH, CE-RM).

.. math::

    \partial_t U + \partial_x F(U) + \partial_y G(U) = 0, \qquad
    U = (\rho, \rho u, \rho v, E), \qquad E = \frac{p}{\gamma - 1} + \tfrac12\rho(u^2 + v^2),

an ideal gas (``gamma`` = 1.4 by default) on the unit square, periodic
(``boundary = "periodic"``, default) or open (``"outflow"``: zero-gradient
ghost cells, i.e. transmissive). Run ``python -m solvers.euler --help``.

Method
------
Cell-centred finite volumes on the ``solver_resolution`` :math:`^2` grid,
cell centres :math:`x_i = (i + \tfrac12)/N`. MUSCL reconstruction of the
primitive variables :math:`(\rho, u, v, p)` with a slope limiter
(``limiter``: van Leer, default; minmod; monotonised central; ``none``
for the first-order scheme), HLLC fluxes
(Toro, *Riemann Solvers and Numerical Methods for Fluid Dynamics*, §10.4)
with Davis's wave-speed bounds, unsplit in x and y, and an SSP Runge--Kutta
method of order 2 (``stepper = "ssprk2"``, default) or 3. The limited face
values lie between the neighbouring cell values, so reconstruction never
produces a non-positive density or pressure. Second order on smooth flow,
first order at shocks.

Time step: per sample, :math:`dt = \mathrm{cfl} / \max_{cells}\,((|u| + c)/h_x + (|v| + c)/h_y)`,
shortened to land on each snapshot time. Each sample keeps its own step
(no batch minimum), so a sample is bitwise the same whatever batch it is
computed in. The forward-Euler step of the MUSCL scheme is stable up to
``cfl = 0.5`` in this (summed) form, which SSP Runge--Kutta preserves;
larger ``cfl`` is refused. A sample whose density or pressure becomes
non-positive or non-finite stops the run with an error naming the sample
and the time.

Storage: snapshots of the solve grid are averaged over blocks of
``solver_resolution / resolution`` cells in the conserved variables (mass,
momentum and energy of each stored cell are those of the fine cells it
covers), then converted to :math:`\rho, v_x, v_y, p`; pressure is a concave
function of :math:`U`, so averaging keeps it positive.

Initial laws (``initial``)
--------------------------
``riemann`` (CE-RP)
    Four constant quadrants split at (``rp_split_x``, ``rp_split_y``),
    :math:`\rho, p \sim U[0.1, 1]`, :math:`u, v \sim U[-1, 1]` per quadrant,
    drawn in the order lower-left, lower-right, upper-left, upper-right
    (x first), each as :math:`(\rho, u, v, p)`.
``gauss`` (CE-Gauss)
    Constant density and pressure; the velocity of a vorticity made of
    ``n`` ~ U{``gauss_n_min``..``gauss_n_max``} periodic Gaussians
    :math:`(\alpha_i/\sigma_i)\exp(-|x - x_i|^2/(2\sigma_i^2))`,
    :math:`\alpha_i \sim U[-a, a]`, :math:`\sigma_i \sim U[\sigma_{min}, \sigma_{max}]`,
    :math:`x_i \sim U[0, 1]^2` (mean removed; velocity from the stream
    function by FFT). The counts, widths, amplitude and the density are ours:
    the source states only "Gaussians as vorticity"; the pressure, 2.5, is the
    mean its loader subtracts.
``kh`` (CE-KH)
    Kelvin--Helmholtz: density ``kh_density_inner`` and x-velocity
    ``kh_velocity_inner`` in the strip between the interfaces
    :math:`y = 1/4 + \epsilon Y_1(x)` and :math:`y = 3/4 + \epsilon Y_2(x)`,
    the outer values elsewhere, uniform pressure ``kh_pressure``, :math:`v = 0`;
    :math:`Y_j(x) = \sum_{n=1}^{m} a_{jn}\cos(b_{jn} + 2\pi n x)`,
    :math:`a_{jn} \sim U[0, 1]` normalised to sum 1, :math:`b_{jn} \sim U[-\pi, \pi]`,
    :math:`\epsilon` = ``interface_amplitude``, :math:`m` = ``interface_modes``.
``rm`` (CE-RM)
    Richtmyer--Meshkov: pressure ``rm_pressure_inner`` (20) inside the circle
    of radius ``rm_pressure_radius`` (0.1) about the centre, 1 outside;
    density ``rm_density_inner`` (2) inside the perturbed circle
    :math:`r < 1/4 + \epsilon Y(\varphi)` (same series in the polar angle),
    1 outside; at rest.

The fixed values of ``kh`` and ``rm`` are those of the classical tests
(Fjordholm, Käppeli, Mishra, Tadmor 2017); the published CE-RM means
(density 1.196, pressure 1.565) agree with them. Output: ``rho0``, ``vx0``,
``vy0``, ``p0`` (sample, x, y) are the inputs, ``rho``, ``vx``, ``vy``, ``p``
(sample, time, x, y) the outputs (their frame 0 is the input),
``n_steps(sample)`` auxiliary. Presets ``pdegym-ce-rp``, ``pdegym-ce-gauss``,
``pdegym-ce-kh``, ``pdegym-ce-rm``.

:func:`exact_riemann` samples the exact solution of the 1-D Riemann problem
(Newton iteration on the star pressure), against which the scheme is tested.
"""

from __future__ import annotations

import math

import numpy as np

from ._cli import run_cli
from ._grids import DefaultSolveGrid
from ._lazy import lazy_module
from ._spec import BlowUpError, Parameter, SolverSpec

xr = lazy_module("xarray")

__all__ = [
    "CFL_LIMIT",
    "SOLVER",
    "conserved",
    "exact_riemann",
    "generate",
    "global_attrs",
    "hllc_flux",
    "initial_state",
    "primitive",
    "recording_times",
    "riemann_star",
    "solve",
    "validate",
]

PDE = "U_t + F(U)_x + G(U)_y = 0, U = (rho, rho u, rho v, E), E = p/(gamma - 1) + rho |u|^2/2"
#: Largest ``cfl`` accepted: the forward-Euler MUSCL step is stable while
#: ``dt ((|u| + c)/h_x + (|v| + c)/h_y) <= 1/2``.
CFL_LIMIT = 0.5
#: Ghost cells on each side (the MUSCL face states of the edge faces need two).
GHOST = 2
LIMITERS = ("vanleer", "minmod", "mc", "none")
STEPPERS = ("ssprk2", "ssprk3")
INITIAL_LAWS = ("riemann", "gauss", "kh", "rm")
_FAMILY = {"riemann": "CE-RP", "gauss": "CE-Gauss", "kh": "CE-KH", "rm": "CE-RM"}


# ----------------------------------------------------------------------------- state conversions


def conserved(rho, vx, vy, p, gamma=1.4):
    """Conserved variables ``(rho, rho u, rho v, E)`` stacked on a new axis 1.

    Parameters
    ----------
    rho, vx, vy, p : ndarray, shape (B, ...)
        Density, velocity components and pressure.
    gamma : float
        Ratio of specific heats.

    Returns
    -------
    ndarray, shape (B, 4, ...)
    """
    energy = p / (gamma - 1.0) + 0.5 * rho * (vx * vx + vy * vy)
    return np.stack([rho, rho * vx, rho * vy, energy], axis=1)


def primitive(u, gamma=1.4):
    """Density, velocity and pressure of conserved variables.

    Parameters
    ----------
    u : ndarray, shape (B, 4, ...)
        ``(rho, rho u, rho v, E)`` on axis 1.
    gamma : float

    Returns
    -------
    ndarray, shape (B, 4, ...)
        ``(rho, u, v, p)`` on axis 1.
    """
    rho = u[:, 0]
    vx = u[:, 1] / rho
    vy = u[:, 2] / rho
    p = (gamma - 1.0) * (u[:, 3] - 0.5 * (u[:, 1] * vx + u[:, 2] * vy))
    return np.stack([rho, vx, vy, p], axis=1)


# ----------------------------------------------------------------------------- exact Riemann solver


def _pressure_function(p, rho, pk, ck, gamma):
    """Toro's f_K(p) and its derivative: shock branch for p > p_K, rarefaction below."""
    a = 2.0 / ((gamma + 1.0) * rho)
    b = (gamma - 1.0) / (gamma + 1.0) * pk
    if p > pk:
        q = math.sqrt(a / (p + b))
        return (p - pk) * q, q * (1.0 - 0.5 * (p - pk) / (p + b))
    e = (gamma - 1.0) / (2.0 * gamma)
    ratio = p / pk
    return 2.0 * ck / (gamma - 1.0) * (ratio**e - 1.0), ratio ** (-(gamma + 1.0) / (2.0 * gamma)) / (rho * ck)


def riemann_star(left, right, gamma=1.4, tol=1e-14, max_iter=100):
    r"""Star state and wave speeds of the exact 1-D Riemann problem.

    Newton's method on :math:`f_L(p) + f_R(p) + u_R - u_L = 0` (Toro, ch. 4),
    started from the two-rarefaction guess, until the relative change of
    :math:`p^*` is below ``tol``.

    Parameters
    ----------
    left, right : tuple of float
        ``(rho, u, p)`` on each side; densities and pressures positive.
    gamma : float
        Ratio of specific heats, > 1.
    tol : float
        Relative tolerance on :math:`p^*`.
    max_iter : int

    Returns
    -------
    dict
        ``p``, ``u`` (star pressure and velocity), ``rho_left``, ``rho_right``
        (star densities), and ``left_wave``/``right_wave``: ``("shock", speed)``
        or ``("rarefaction", head, tail)``.

    Raises
    ------
    ValueError
        Non-positive density or pressure, ``gamma <= 1``, or data that create
        a vacuum (:math:`u_R - u_L \ge 2(c_L + c_R)/(\gamma - 1)`).
    RuntimeError
        Newton's method did not converge.
    """
    if not gamma > 1:
        raise ValueError(f"gamma must be > 1, got {gamma!r}")
    (rl, ul, pl), (rr, ur, pr) = (tuple(map(float, left)), tuple(map(float, right)))
    for side, (r, p) in (("left", (rl, pl)), ("right", (rr, pr))):
        if not (r > 0 and p > 0):
            raise ValueError(f"{side} state must have positive density and pressure, got rho = {r!r}, p = {p!r}")
    cl, cr = math.sqrt(gamma * pl / rl), math.sqrt(gamma * pr / rr)
    if ur - ul >= 2.0 * (cl + cr) / (gamma - 1.0):
        raise ValueError("the Riemann data create a vacuum (u_R - u_L >= 2 (c_L + c_R)/(gamma - 1))")
    e = (gamma - 1.0) / (2.0 * gamma)
    p = ((cl + cr - 0.5 * (gamma - 1.0) * (ur - ul)) / (cl / pl**e + cr / pr**e)) ** (1.0 / e)
    for _ in range(max_iter):
        fl, dl = _pressure_function(p, rl, pl, cl, gamma)
        fr, dr = _pressure_function(p, rr, pr, cr, gamma)
        new = max(p - (fl + fr + ur - ul) / (dl + dr), 1e-6 * p)
        change = abs(new - p) / (0.5 * (new + p))
        p = new
        if change < tol:
            break
    else:
        raise RuntimeError(f"Newton iteration for p* did not converge in {max_iter} steps")
    fl, _ = _pressure_function(p, rl, pl, cl, gamma)
    fr, _ = _pressure_function(p, rr, pr, cr, gamma)
    u = 0.5 * (ul + ur) + 0.5 * (fr - fl)
    g1 = (gamma - 1.0) / (gamma + 1.0)
    out = {"p": p, "u": u}
    for side, r, uk, pk, ck, sign in (("left", rl, ul, pl, cl, -1.0), ("right", rr, ur, pr, cr, 1.0)):
        if p > pk:
            ratio = p / pk
            rho = r * (ratio + g1) / (g1 * ratio + 1.0)
            speed = uk + sign * ck * math.sqrt((gamma + 1.0) / (2.0 * gamma) * ratio + (gamma - 1.0) / (2.0 * gamma))
            wave = ("shock", speed)
        else:
            rho = r * (p / pk) ** (1.0 / gamma)
            c_star = ck * (p / pk) ** e
            wave = ("rarefaction", uk + sign * ck, u + sign * c_star)
        out[f"rho_{side}"] = rho
        out[f"{side}_wave"] = wave
    return out


def exact_riemann(left, right, xi, gamma=1.4):
    r"""Exact solution of the 1-D Riemann problem at the similarity variable :math:`\xi = (x - x_0)/t`.

    Parameters
    ----------
    left, right : tuple of float
        ``(rho, u, p)`` for :math:`x < x_0` and :math:`x > x_0`.
    xi : array_like
        Points :math:`(x - x_0)/t`.
    gamma : float

    Returns
    -------
    rho, u, p : ndarray
        Same shape as ``xi``.

    Examples
    --------
    >>> rho, u, p = exact_riemann((1.0, 0.0, 1.0), (0.125, 0.0, 0.1), [-2.0, 0.5, 2.0])
    >>> [round(float(v), 5) for v in p]
    [1.0, 0.30313, 0.1]
    """
    xi = np.asarray(xi, dtype=float)
    star = riemann_star(left, right, gamma)
    rho, u, p = np.empty_like(xi), np.empty_like(xi), np.empty_like(xi)
    g1 = (gamma - 1.0) / (gamma + 1.0)
    for side, state, sign in (("left", left, -1.0), ("right", right, 1.0)):
        rk, uk, pk = map(float, state)
        ck = math.sqrt(gamma * pk / rk)
        mine = (xi < star["u"]) if side == "left" else (xi >= star["u"])
        wave = star[f"{side}_wave"]
        # outside: between the wave and the far field; inside the fan for rarefactions.
        if wave[0] == "shock":
            beyond = sign * (xi - wave[1]) > 0
            fan = np.zeros_like(beyond)
        else:
            beyond = sign * (xi - wave[1]) > 0
            fan = ~beyond & (sign * (xi - wave[2]) > 0)
        starred = mine & ~beyond & ~fan
        rho[mine & beyond], u[mine & beyond], p[mine & beyond] = rk, uk, pk
        rho[starred], u[starred], p[starred] = star[f"rho_{side}"], star["u"], star["p"]
        f = mine & fan
        if f.any():
            # Toro (4.56)/(4.63): the fan's self-similar state.
            c = (2.0 / (gamma + 1.0)) * (ck - sign * 0.5 * (gamma - 1.0) * uk) + sign * g1 * xi[f]
            u[f] = 2.0 / (gamma + 1.0) * (-sign * ck + 0.5 * (gamma - 1.0) * uk + xi[f])
            rho[f] = rk * (c / ck) ** (2.0 / (gamma - 1.0))
            p[f] = pk * (c / ck) ** (2.0 * gamma / (gamma - 1.0))
    return rho, u, p


# ----------------------------------------------------------------------------- finite-volume scheme


def hllc_flux(left, right, gamma=1.4):
    """HLLC flux through faces normal to one axis (Toro §10.4, Davis wave speeds).

    Parameters
    ----------
    left, right : sequence of 4 ndarray
        Primitive states ``(rho, u_n, u_t, p)`` on each side of the faces:
        density, normal and tangential velocity, pressure.
    gamma : float

    Returns
    -------
    tuple of 4 ndarray
        Fluxes of mass, normal momentum, tangential momentum and energy.
    """
    rl, ul, vl, pl = left
    rr, ur, vr, pr = right
    cl = np.sqrt(gamma * pl / rl)
    cr = np.sqrt(gamma * pr / rr)
    sl = np.minimum(ul - cl, ur - cr)
    sr = np.maximum(ul + cl, ur + cr)
    dl = rl * (sl - ul)
    dr = rr * (sr - ur)
    sm = (pr - pl + ul * dl - ur * dr) / (dl - dr)
    # One star flux per face, from the side the contact leaves behind:
    # F = F_K + s (U*_K - U_K) with s = min(s_L, 0) (left) or max(s_R, 0)
    # (right), which also gives F_L or F_R for supersonic faces (s = 0).
    pick = sm >= 0.0
    r = np.where(pick, rl, rr)
    u = np.where(pick, ul, ur)
    v = np.where(pick, vl, vr)
    p = np.where(pick, pl, pr)
    sk = np.where(pick, sl, sr)
    dk = np.where(pick, dl, dr)
    coef = np.where(pick, np.minimum(sl, 0.0), np.maximum(sr, 0.0))
    mass = r * u
    energy = p / (gamma - 1.0) + 0.5 * r * (u * u + v * v)
    fac = dk / (sk - sm)
    f0 = mass + coef * (fac - r)
    f1 = mass * u + p + coef * (fac * sm - mass)
    f2 = mass * v + coef * (fac - r) * v
    f3 = u * (energy + p) + coef * (fac * (energy / r + (sm - u) * (sm + p / dk)) - energy)
    return f0, f1, f2, f3


def _limited_slope(a, b, limiter):
    """Limited slope from the backward and forward differences ``a`` and ``b`` (``"none"``: first order)."""
    if limiter == "none":
        return np.zeros_like(a)
    if limiter == "minmod":
        return np.where(a * b > 0.0, np.where(np.abs(a) < np.abs(b), a, b), 0.0)
    if limiter == "mc":
        s = np.minimum(np.minimum(2.0 * np.abs(a), 2.0 * np.abs(b)), 0.5 * np.abs(a + b))
        return np.where(a * b > 0.0, np.copysign(s, a), 0.0)
    ab = a * b
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ab > 0.0, 2.0 * ab / (a + b), 0.0)


def _pad(w, axis, periodic):
    """Two ghost cells on each side of ``axis``: periodic copies or zero-gradient (outflow)."""
    n = w.shape[axis]

    def part(start, stop):
        key = [slice(None)] * w.ndim
        key[axis] = slice(start, stop)
        return w[tuple(key)]

    if periodic:
        pieces = [part(n - GHOST, n), w, part(0, GHOST)]
    else:
        pieces = [part(0, 1)] * GHOST + [w] + [part(n - 1, n)] * GHOST
    return np.concatenate(pieces, axis=axis)


def _face_states(w, axis, periodic, limiter):
    """MUSCL states left and right of the n + 1 faces along ``axis`` (ghosted primitive ``w``)."""
    q = _pad(w, axis, periodic)
    m = q.shape[axis]

    def sl(start, stop):
        key = [slice(None)] * q.ndim
        key[axis] = slice(start, stop)
        return tuple(key)

    d = q[sl(1, m)] - q[sl(0, m - 1)]  # m - 1 differences
    half = 0.5 * _limited_slope(d[sl(0, m - 2)], d[sl(1, m - 1)], limiter)  # cells 1..m-2
    centre = q[sl(1, m - 1)]
    n_cells = m - 2 * GHOST
    west = centre[sl(0, n_cells + 1)] + half[sl(0, n_cells + 1)]  # right edge of cells 1..n+1
    east = centre[sl(1, n_cells + 2)] - half[sl(1, n_cells + 2)]  # left edge of cells 2..n+2
    return west, east


def _rhs(u, gamma, spacing, periodic, limiter, rate=False):
    """-(dF/dx + dG/dy) of conserved ``u`` (B, 4, Nx, Ny); optionally the per-sample wave rate."""
    w = primitive(u, gamma)
    out = np.empty_like(u)
    # x faces: normal velocity is component 1; y faces: component 2.
    for axis, normal, tangential, h in ((2, 1, 2, spacing[0]), (3, 2, 1, spacing[1])):
        west, east = _face_states(w, axis, periodic, limiter)
        order = [0, normal, tangential, 3]
        flux = hllc_flux([west[:, k] for k in order], [east[:, k] for k in order], gamma)
        n = u.shape[axis]
        for k, f in zip(order, flux):
            key_hi = [slice(None)] * 3
            key_lo = [slice(None)] * 3
            key_hi[axis - 1] = slice(1, n + 1)
            key_lo[axis - 1] = slice(0, n)
            div = (f[tuple(key_hi)] - f[tuple(key_lo)]) / h
            if axis == 2:
                out[:, k] = -div
            else:
                out[:, k] -= div
    if not rate:
        return out, None
    with np.errstate(invalid="ignore"):
        c = np.sqrt(gamma * w[:, 3] / w[:, 0])
    lam = (np.abs(w[:, 1]) + c) / spacing[0] + (np.abs(w[:, 2]) + c) / spacing[1]
    b = u.shape[0]
    ok = (w[:, 0].reshape(b, -1).min(axis=1) > 0) & (w[:, 3].reshape(b, -1).min(axis=1) > 0)
    return out, np.where(ok, lam.reshape(b, -1).max(axis=1), np.nan)


def _block_average(u, factor):
    """Average (B, 4, N, N) over factor x factor blocks."""
    if factor == 1:
        return u
    b, k, nx, ny = u.shape
    return u.reshape(b, k, nx // factor, factor, ny // factor, factor).mean(axis=(3, 5))


def solve(rho, vx, vy, p, times, gamma=1.4, cfl=0.4, boundary="periodic", limiter="vanleer", stepper="ssprk2",
          resolution=None, sample_ids=None):
    r"""Integrate the 2-D Euler equations for a batch, recording the primitive state at ``times``.

    A pure function of its arguments. Each sample takes its own CFL step
    (see the module doc), so no sample depends on its batch-mates.

    Parameters
    ----------
    rho, vx, vy, p : array_like, shape (B, Nx, Ny) or (Nx, Ny)
        Initial cell values on the cells of the unit square (first axis x,
        second y), :math:`h_x = 1/N_x`, :math:`h_y = 1/N_y`.
    times : array_like
        Increasing recording times, ``times[0] = 0``.
    gamma : float
        Ratio of specific heats, > 1.
    cfl : float
        Courant number in (0, ``CFL_LIMIT``].
    boundary : {"periodic", "outflow"}
    limiter : {"vanleer", "minmod", "mc"}
    stepper : {"ssprk2", "ssprk3"}
    resolution : int, optional
        Average each snapshot over blocks down to ``resolution`` cells per
        axis (a divisor of ``Nx`` and ``Ny``; default: no averaging).
    sample_ids : sequence of int, optional
        Sample indices named in error messages.

    Returns
    -------
    w : ndarray, shape (B, len(times), 4, nx, ny)
        ``(rho, vx, vy, p)`` at each time (``w[:, 0]`` is the initial state).
    n_steps : ndarray of int, shape (B,)
        Time steps taken.

    Raises
    ------
    ValueError
        ``gamma <= 1``, ``cfl`` outside (0, 0.5], unknown option, mismatched
        shapes, or a non-positive or non-finite initial density or pressure
        (the message names the sample and the variable).
    solvers._spec.BlowUpError
        The density or pressure of a sample became non-positive or non-finite;
        the message names the sample and the time.
    """
    if not (isinstance(gamma, (int, float, np.floating)) and gamma > 1):
        raise ValueError(f"gamma must be > 1 (ratio of specific heats of an ideal gas), got {gamma!r}")
    if not 0 < cfl <= CFL_LIMIT:
        raise ValueError(f"cfl must be in (0, {CFL_LIMIT}] (the MUSCL-HLLC scheme's stability limit), got {cfl!r}")
    for name, value, allowed in (("boundary", boundary, ("periodic", "outflow")), ("limiter", limiter, LIMITERS),
                                 ("stepper", stepper, STEPPERS)):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    fields, given = {}, {}
    for name, value in (("rho", rho), ("vx", vx), ("vy", vy), ("p", p)):
        a = np.asarray(value, dtype=float)
        given[name] = a.shape
        fields[name] = a[None] if a.ndim == 2 else a
    shape = fields["rho"].shape
    for name, a in fields.items():
        if a.ndim != 3 or a.shape != shape:
            raise ValueError(
                f"{name} has shape {given[name]}; expected (Nx, Ny) or (batch, Nx, Ny) like rho, {given['rho']}"
            )
    nb, nx, ny = shape
    ids = list(range(nb)) if sample_ids is None else [int(i) for i in sample_ids]
    for name, label in (("rho", "density"), ("p", "pressure"), ("vx", "x-velocity"), ("vy", "y-velocity")):
        a = fields[name].reshape(nb, -1)
        bad = ~np.isfinite(a).all(axis=1)
        if name in ("rho", "p"):
            bad |= ~(a > 0).all(axis=1)
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(
                f"sample {ids[k]}: the initial {label} {name} must be {'positive and ' if name in ('rho', 'p') else ''}"
                f"finite, min {name} = {np.nanmin(a[k]):.4g}"
            )
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times[0] != 0 or (len(times) > 1 and not (np.diff(times) > 0).all()):
        raise ValueError("times must be increasing and start at 0")
    factor = 1
    if resolution is not None:
        if nx % resolution or ny % resolution:
            raise ValueError(f"resolution ({resolution}) must divide the grid size ({nx} x {ny})")
        factor = nx // resolution
        if ny // resolution != factor:
            raise ValueError("block averaging to resolution needs a square grid")
    periodic = boundary == "periodic"
    spacing = (1.0 / nx, 1.0 / ny)
    u = conserved(fields["rho"], fields["vx"], fields["vy"], fields["p"], gamma)
    out = np.empty((nb, len(times), 4) + _block_average(u[:1], factor).shape[2:])
    out[:, 0] = primitive(_block_average(u, factor), gamma)
    t = np.zeros(nb)
    n_steps = np.zeros(nb, dtype=np.int64)

    def stage(v):
        return _rhs(v, gamma, spacing, periodic, limiter)[0]

    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for j in range(1, len(times)):
            target = times[j]
            while True:
                active = np.flatnonzero(t < target)
                if active.size == 0:
                    break
                ua = u if active.size == nb else u[active]
                k1, lam = _rhs(ua, gamma, spacing, periodic, limiter, rate=True)
                bad = ~np.isfinite(lam)
                if bad.any():
                    k = int(active[np.argmax(bad)])
                    raise BlowUpError(
                        f"euler: sample {ids[k]} lost positivity or finiteness (density or pressure <= 0, or NaN) "
                        f"at t = {t[k]:.6g} after {n_steps[k]} steps"
                    )
                left = target - t[active]
                dt = np.minimum(cfl / lam, left)
                arrive = dt >= left
                d = dt[:, None, None, None]
                u1 = ua + d * k1
                if stepper == "ssprk2":
                    new = 0.5 * ua + 0.5 * (u1 + d * stage(u1))
                else:
                    u2 = 0.75 * ua + 0.25 * (u1 + d * stage(u1))
                    new = ua / 3.0 + (2.0 / 3.0) * (u2 + d * stage(u2))
                if active.size == nb:
                    u = new
                else:
                    u[active] = new
                t[active] = np.where(arrive, target, t[active] + dt)
                n_steps[active] += 1
            out[:, j] = primitive(_block_average(u, factor), gamma)
            w = out[:, j]
            ok = np.isfinite(w).reshape(nb, -1).all(axis=1) & (w[:, 0].reshape(nb, -1).min(axis=1) > 0) \
                & (w[:, 3].reshape(nb, -1).min(axis=1) > 0)
            if not ok.all():
                k = int(np.argmin(ok))
                raise BlowUpError(f"euler: sample {ids[k]} lost positivity or finiteness at t = {target:.6g}")
    return out, n_steps


# ----------------------------------------------------------------------------- random inputs


def _interface_series(rng, params, theta):
    """:math:`\\sum_n a_n \\cos(b_n + n\\theta)`, a ~ U[0, 1] normalised to sum 1, b ~ U[-pi, pi] (a drawn first)."""
    m = params["interface_modes"]
    a = rng.uniform(0.0, 1.0, m)
    a = a / a.sum()
    b = rng.uniform(-np.pi, np.pi, m)
    n = np.arange(1, m + 1)
    theta = np.asarray(theta, dtype=float)
    arg = np.multiply.outer(n, theta) + b.reshape((m,) + (1,) * theta.ndim)
    return np.tensordot(a, np.cos(arg), axes=1)


def _gauss_velocity(rng, params, x):
    """Velocity of a periodic sum of Gaussian vortices on the cell centres ``x`` (count, then per vortex
    amplitude, width, centre)."""
    n = int(rng.integers(params["gauss_n_min"], params["gauss_n_max"] + 1))
    a = params["gauss_amplitude"]
    omega = np.zeros((len(x), len(x)))
    for _ in range(n):
        alpha = rng.uniform(-a, a)
        sigma = rng.uniform(params["gauss_sigma_min"], params["gauss_sigma_max"])
        centre = rng.uniform(0.0, 1.0, 2)
        # nearest periodic image: the vorticity is smooth across the edges
        dx = (x - centre[0] + 0.5) % 1.0 - 0.5
        dy = (x - centre[1] + 0.5) % 1.0 - 0.5
        omega += (alpha / sigma) * np.outer(np.exp(-dx * dx / (2 * sigma**2)), np.exp(-dy * dy / (2 * sigma**2)))
    k = 2 * np.pi * np.fft.fftfreq(len(x), 1.0 / len(x))
    kx, ky = np.meshgrid(k, k, indexing="ij")
    k2 = kx * kx + ky * ky
    k2[0, 0] = 1.0
    psi = np.fft.fft2(omega) / k2  # -Lap psi = omega - mean(omega)
    psi[0, 0] = 0.0
    vx = np.fft.ifft2(1j * ky * psi).real
    vy = np.fft.ifft2(-1j * kx * psi).real
    return vx, vy


def initial_state(rng, params, n):
    """Draw one sample's initial state on the ``n`` x ``n`` cell centres.

    Parameters
    ----------
    rng : numpy.random.Generator
        The sample's generator (draw order: see the module doc).
    params : dict
        Resolved parameters (``initial`` selects the law).
    n : int
        Cells per axis.

    Returns
    -------
    rho, vx, vy, p : ndarray, shape (n, n)
        Indexed ``[i, j]`` = value at ``(x_i, y_j)``, :math:`x_i = (i + 1/2)/n`.
    """
    x = (np.arange(n) + 0.5) / n
    X, Y = np.meshgrid(x, x, indexing="ij")
    law = params["initial"]
    if law == "riemann":
        states = np.empty((4, 4))
        for q in range(4):
            rho = rng.uniform(params["rp_density_min"], params["rp_density_max"])
            vel = rng.uniform(-params["rp_velocity_max"], params["rp_velocity_max"], 2)
            p = rng.uniform(params["rp_pressure_min"], params["rp_pressure_max"])
            states[q] = (rho, vel[0], vel[1], p)
        # quadrant index: x-half + 2 * y-half (lower-left, lower-right, upper-left, upper-right)
        quad = (X >= params["rp_split_x"]).astype(int) + 2 * (Y >= params["rp_split_y"]).astype(int)
        return tuple(states[quad, k] for k in range(4))
    if law == "gauss":
        vx, vy = _gauss_velocity(rng, params, x)
        return np.full((n, n), params["gauss_density"]), vx, vy, np.full((n, n), params["gauss_pressure"])
    eps = params["interface_amplitude"]
    if law == "kh":
        lower = 0.25 + eps * _interface_series(rng, params, 2 * np.pi * x)
        upper = 0.75 + eps * _interface_series(rng, params, 2 * np.pi * x)
        inner = (Y > lower[:, None]) & (Y < upper[:, None])
        rho = np.where(inner, params["kh_density_inner"], params["kh_density_outer"])
        vx = np.where(inner, params["kh_velocity_inner"], params["kh_velocity_outer"])
        return rho, vx, np.zeros((n, n)), np.full((n, n), params["kh_pressure"])
    r = np.hypot(X - 0.5, Y - 0.5)
    phi = np.arctan2(Y - 0.5, X - 0.5)
    edge = params["rm_radius"] + eps * _interface_series(rng, params, phi)
    rho = np.where(r < edge, params["rm_density_inner"], params["rm_density_outer"])
    p = np.where(r < params["rm_pressure_radius"], params["rm_pressure_inner"], params["rm_pressure_outer"])
    return rho, np.zeros((n, n)), np.zeros((n, n)), p


# ----------------------------------------------------------------------------- solver spec


def recording_times(params):
    """Snapshot times ``linspace(0, final_time, n_times)``.

    Parameters
    ----------
    params : dict

    Returns
    -------
    ndarray
    """
    return np.linspace(0.0, params["final_time"], params["n_times"])


def validate(params):
    """Reject parameter sets the solver cannot run, naming the culprit.

    Parameters
    ----------
    params : dict

    Raises
    ------
    ValueError
    """
    res, n = params["resolution"], params["solver_resolution"]
    if res is None or res < 2:
        raise ValueError(f"resolution must be >= 2, got {res!r}")
    if n < 2 or n % res:
        raise ValueError(
            f"solver_resolution ({n}) must be a multiple of resolution ({res}): stored cells average blocks of "
            "solve cells"
        )
    if not params["gamma"] > 1:
        raise ValueError(f"gamma must be > 1 (ratio of specific heats of an ideal gas), got {params['gamma']!r}")
    if not 0 < params["cfl"] <= CFL_LIMIT:
        raise ValueError(f"cfl must be in (0, {CFL_LIMIT}] (the MUSCL-HLLC scheme's stability limit), "
                         f"got {params['cfl']!r}")
    if params["n_times"] < 2:
        raise ValueError(f"n_times must be >= 2 (the initial state and at least one snapshot), got {params['n_times']!r}")
    if not params["final_time"] > 0:
        raise ValueError(f"final_time must be > 0, got {params['final_time']!r}")
    for key in ("rp_density_min", "rp_pressure_min", "gauss_density", "gauss_pressure", "kh_density_inner",
                "kh_density_outer", "kh_pressure", "rm_density_inner", "rm_density_outer", "rm_pressure_inner",
                "rm_pressure_outer", "gauss_sigma_min"):
        if not params[key] > 0:
            raise ValueError(f"{key} must be > 0 (densities, pressures and widths are positive), got {params[key]!r}")
    pairs = [("rp_density_min", "rp_density_max"), ("rp_pressure_min", "rp_pressure_max"),
             ("gauss_n_min", "gauss_n_max"), ("gauss_sigma_min", "gauss_sigma_max")]
    for lo, hi in pairs:
        if not params[lo] <= params[hi]:
            raise ValueError(f"{lo} ({params[lo]!r}) must not exceed {hi} ({params[hi]!r})")
    for key in ("rp_velocity_max", "gauss_amplitude", "interface_amplitude"):
        if params[key] < 0:
            raise ValueError(f"{key} must be >= 0, got {params[key]!r}")
    if params["gauss_n_min"] < 1 or params["interface_modes"] < 1:
        raise ValueError("gauss_n_min and interface_modes must be >= 1")
    for key in ("rp_split_x", "rp_split_y"):
        if not 0 < params[key] < 1:
            raise ValueError(f"{key} must lie in (0, 1), got {params[key]!r}")


def generate(params, indices, rngs):
    """Compute a batch of Euler samples (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict
    indices : ndarray of int
    rngs : list of numpy.random.Generator
        One per sample; each draws its initial state (:func:`initial_state`).

    Returns
    -------
    xarray.Dataset
        ``rho0``, ``vx0``, ``vy0``, ``p0`` (sample, x, y), ``rho``, ``vx``,
        ``vy``, ``p`` (sample, time, x, y) and ``n_steps(sample)``.
    """
    n, res = params["solver_resolution"], params["resolution"]
    w0 = np.empty((len(rngs), 4, n, n))
    for b, rng in enumerate(rngs):
        w0[b] = np.stack(initial_state(rng, params, n))
    times = recording_times(params)
    w, n_steps = solve(
        w0[:, 0], w0[:, 1], w0[:, 2], w0[:, 3], times, gamma=params["gamma"], cfl=params["cfl"],
        boundary=params["boundary"], limiter=params["limiter"], stepper=params["stepper"], resolution=res,
        sample_ids=indices,
    )
    xo = (np.arange(res) + 0.5) / res
    bc = {"bc_x": _bc(params), "bc_y": _bc(params)}
    coords = {
        "time": ("time", times, {"long_name": "time", "units": "1", "axis": "T"}),
        "x": ("x", xo, {"long_name": "x position (cell centre)", "units": "1", "axis": "X"}),
        "y": ("y", xo.copy(), {"long_name": "y position (cell centre)", "units": "1", "axis": "Y"}),
    }
    names = {"rho": "density", "vx": "x-velocity", "vy": "y-velocity", "p": "pressure"}
    data = {}
    for k, (name, label) in enumerate(names.items()):
        data[f"{name}0"] = (("sample", "x", "y"), w[:, 0, k],
                            {"long_name": f"initial {label} (cell average)", "units": "1", "opkit_role": "input", **bc})
    for k, (name, label) in enumerate(names.items()):
        data[name] = (("sample", "time", "x", "y"), w[:, :, k],
                      {"long_name": f"{label} (cell average)", "units": "1", "opkit_role": "output", **bc})
    data["n_steps"] = (("sample",), n_steps, {"long_name": "time steps taken", "units": "1",
                                              "opkit_role": "auxiliary"})
    return xr.Dataset(data, coords=coords)


def _bc(params):
    # Zero-gradient (transmissive) ghost cells are a Neumann condition in opkit's vocabulary.
    return "periodic" if params["boundary"] == "periodic" else "neumann"


def _initial_text(params):
    law = params["initial"]
    if law == "riemann":
        return (
            f"four constant quadrants split at ({params['rp_split_x']:g}, {params['rp_split_y']:g}), rho ~ "
            f"U[{params['rp_density_min']:g}, {params['rp_density_max']:g}], u, v ~ U[-{params['rp_velocity_max']:g}, "
            f"{params['rp_velocity_max']:g}], p ~ U[{params['rp_pressure_min']:g}, {params['rp_pressure_max']:g}]"
        )
    if law == "gauss":
        return (
            f"rho = {params['gauss_density']:g}, p = {params['gauss_pressure']:g}, velocity of the vorticity "
            f"sum_(i=1..n) (a_i/s_i) exp(-|x - x_i|^2/(2 s_i^2)) (periodic images, mean removed), n ~ "
            f"U{{{params['gauss_n_min']}..{params['gauss_n_max']}}}, a_i ~ U[-{params['gauss_amplitude']:g}, "
            f"{params['gauss_amplitude']:g}], s_i ~ U[{params['gauss_sigma_min']:g}, {params['gauss_sigma_max']:g}], "
            "x_i ~ U[0, 1]^2"
        )
    series = (f"Y(t) = sum_(n=1..{params['interface_modes']}) a_n cos(b_n + n t), a ~ U[0, 1] normalised to sum 1, "
              "b ~ U[-pi, pi]")
    eps = params["interface_amplitude"]
    if law == "kh":
        return (
            f"rho = {params['kh_density_inner']:g}, u = {params['kh_velocity_inner']:g} for "
            f"1/4 + {eps:g} Y1(2 pi x) < y < 3/4 + {eps:g} Y2(2 pi x), rho = {params['kh_density_outer']:g}, "
            f"u = {params['kh_velocity_outer']:g} elsewhere; v = 0, p = {params['kh_pressure']:g}; {series}"
        )
    return (
        f"p = {params['rm_pressure_inner']:g} for r < {params['rm_pressure_radius']:g}, "
        f"{params['rm_pressure_outer']:g} elsewhere; rho = {params['rm_density_inner']:g} for "
        f"r < {params['rm_radius']:g} + {eps:g} Y(phi), {params['rm_density_outer']:g} elsewhere; at rest; "
        f"(r, phi) polar about (1/2, 1/2); {series}"
    )


def global_attrs(params):
    """Global attributes of an Euler file (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict

    Returns
    -------
    dict
    """
    n, res = params["solver_resolution"], params["resolution"]
    bnd = "periodic" if params["boundary"] == "periodic" else "open (zero-gradient ghost cells)"
    return {
        "title": f"2-D compressible Euler equations, ideal gas ({_FAMILY[params['initial']]})",
        "pde": PDE,
        "equation": (
            f"d/dt (rho, rho u, rho v, E) + d/dx (rho u, rho u^2 + p, rho u v, u (E + p)) + d/dy (rho v, rho u v, "
            f"rho v^2 + p, v (E + p)) = 0, E = p/({params['gamma']:g} - 1) + rho (u^2 + v^2)/2"
        ),
        "domain": f"(x, y) in [0, 1]^2, {bnd}; t in [0, {params['final_time']:g}]",
        "bc_x": _bc(params),
        "bc_y": _bc(params),
        "opkit_inputs": "rho0 vx0 vy0 p0",
        "opkit_outputs": "rho vx vy p",
        "method": (
            f"cell-centred finite volumes on {n} x {n}, MUSCL reconstruction of (rho, u, v, p) with the "
            f"{params['limiter']} limiter, HLLC flux with Davis wave speeds, unsplit, {params['stepper'].upper()}; "
            f"per-sample dt = {params['cfl']:g} / max((|u| + c)/h_x + (|v| + c)/h_y), shortened to land on "
            "the snapshot times"
        ),
        "initial_condition": _initial_text(params),
        "solver_resolution": n,
        "output_resolution": res,
        "downsampling": (
            f"conserved variables averaged over {n // res} x {n // res} blocks, then converted to rho, u, v, p; "
            f"cell centres x_i = (i + 1/2)/{res}"
        ),
    }


SOLVER = SolverSpec(
    name="euler",
    title="2-D compressible Euler equations, ideal gas (MUSCL-HLLC finite volumes, SSP Runge-Kutta)",
    pde=PDE,
    parameters=(
        Parameter("resolution", 128, "1", "Stored cells per dimension (block averages of the solve grid).", int),
        Parameter(
            "solver_resolution", None, "1",
            "Cells per dimension of the solve grid (a multiple of resolution). Unset: the coarsest multiple of "
            "resolution >= 128 (128 for resolution 128 or 64, 200 for 100).",
            int,
        ),
        Parameter("initial", "riemann", "1", "Initial law: CE-RP, CE-Gauss, CE-KH or CE-RM.", str, INITIAL_LAWS),
        Parameter("gamma", 1.4, "1", "Ratio of specific heats (> 1).", float, plausible=(1.01, 5 / 3)),
        Parameter("final_time", 1.0, "1", "Time of the last snapshot.", float),
        Parameter("n_times", 21, "1", "Snapshots on [0, final_time], the initial state included.", int),
        Parameter("boundary", "periodic", "1", "Periodic square, or open with zero-gradient ghost cells.", str,
                  ("periodic", "outflow")),
        Parameter("limiter", "vanleer", "1", "Slope limiter of the MUSCL reconstruction.", str, LIMITERS),
        Parameter("stepper", "ssprk2", "1", "Strong-stability-preserving Runge-Kutta method.", str, STEPPERS),
        Parameter("cfl", 0.4, "1", "Courant number dt * max((|u| + c)/h_x + (|v| + c)/h_y), in (0, 0.5].", float),
        Parameter("rp_density_min", 0.1, "1", "CE-RP: smallest quadrant density.", float),
        Parameter("rp_density_max", 1.0, "1", "CE-RP: largest quadrant density.", float),
        Parameter("rp_pressure_min", 0.1, "1", "CE-RP: smallest quadrant pressure.", float),
        Parameter("rp_pressure_max", 1.0, "1", "CE-RP: largest quadrant pressure.", float),
        Parameter("rp_velocity_max", 1.0, "1", "CE-RP: quadrant velocities are U[-max, max] per component.", float),
        Parameter("rp_split_x", 0.5, "1", "CE-RP: x of the vertical quadrant boundary.", float),
        Parameter("rp_split_y", 0.5, "1", "CE-RP: y of the horizontal quadrant boundary.", float),
        Parameter("gauss_density", 1.0, "1", "CE-Gauss: uniform initial density.", float),
        Parameter("gauss_pressure", 2.5, "1", "CE-Gauss: uniform initial pressure.", float),
        Parameter("gauss_n_min", 2, "1", "CE-Gauss: fewest vortices.", int),
        Parameter("gauss_n_max", 6, "1", "CE-Gauss: most vortices.", int),
        Parameter("gauss_amplitude", 0.5, "1", "CE-Gauss: vortex strengths a_i ~ U[-a, a] (peak speed about 0.64 a).", float),
        Parameter("gauss_sigma_min", 0.05, "1", "CE-Gauss: smallest vortex width.", float),
        Parameter("gauss_sigma_max", 0.1, "1", "CE-Gauss: largest vortex width.", float),
        Parameter("kh_density_inner", 2.0, "1", "CE-KH: density of the middle strip.", float),
        Parameter("kh_density_outer", 1.0, "1", "CE-KH: density outside the strip.", float),
        Parameter("kh_velocity_inner", -0.5, "1", "CE-KH: x-velocity of the middle strip.", float),
        Parameter("kh_velocity_outer", 0.5, "1", "CE-KH: x-velocity outside the strip.", float),
        Parameter("kh_pressure", 1.0, "1", "CE-KH: uniform initial pressure.", float),
        Parameter("rm_density_inner", 2.0, "1", "CE-RM: density inside the perturbed circle.", float),
        Parameter("rm_density_outer", 1.0, "1", "CE-RM: density outside it.", float),
        Parameter("rm_radius", 0.25, "1", "CE-RM: mean radius of the density interface.", float),
        Parameter("rm_pressure_inner", 20.0, "1", "CE-RM: pressure inside the small circle.", float),
        Parameter("rm_pressure_outer", 1.0, "1", "CE-RM: pressure elsewhere.", float),
        Parameter("rm_pressure_radius", 0.1, "1", "CE-RM: radius of the high-pressure circle.", float),
        Parameter("interface_amplitude", 0.05, "1", "CE-KH, CE-RM: amplitude epsilon of the interface perturbation.", float),
        Parameter("interface_modes", 10, "1", "CE-KH, CE-RM: cosine modes of each interface perturbation.", int),
    ),
    generate=generate,
    global_attrs=global_attrs,
    validate=validate,
    derive=DefaultSolveGrid("periodic", 128),
)


if __name__ == "__main__":
    raise SystemExit(run_cli(SOLVER))

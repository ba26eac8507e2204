r"""2-D acoustic wave equation with a variable speed (Poseidon's Wave-Gauss and Wave-Layer).

.. math:: u_{tt} = c(x)^2\,\Delta u \ \text{on}\ (0, 1)^2, \qquad u(\cdot, 0) = u_0, \quad u_t(\cdot, 0) = 0,

on an open square (``boundary = "absorbing"``, default) or a periodic one.
Run ``python -m solvers.wave --help``.

Inputs
------
:math:`u_0` is a sum of ``n`` ~ U{2..6} unit-amplitude Gaussians
:math:`\exp(-|x - \mu_i|^2/(2\sigma_i^2))`, :math:`\sigma_i \sim U[0.039, 0.156]`,
centres :math:`\mu_i \sim U[1/6, 5/6]^2`, each redrawn (up to 100 times) until it
is at least :math:`2\sigma_i` from the centres before it. The speed is
``speed_scale`` times

``gauss`` (Wave-Gauss)
    :math:`c_0 + \sum_{i=1}^4 v_i \exp(-|x - p_i|^2/(2s_i^2))`,
    :math:`c_0 \sim U[1500, 2500]`, :math:`v_i \sim U[1000, 2500]`,
    :math:`s_i \sim U[1/12, 1/6]`, :math:`p_i` the centre of quadrant ``i``
    plus :math:`U[-0.3125, 0.3125]^2`;
``layer`` (Wave-Layer)
    ``n`` ~ U{3..6} layers stacked in y, of speeds U[2000, 5000], separated by
    the wavy interfaces :math:`y = i/n + \delta_i + \sum_{k=1}^{10} (a_{ik}/k)\sin 2\pi k x`,
    :math:`\delta_i \sim U[-1/(4n), 1/(4n)]`,
    :math:`a_{ik} \sim` ``interface_amplitude`` :math:`\cdot\,U[-1, 1]` (the
    offset and amplitude laws are ours: the source does not state them).

Speeds of 1500-5000 on a unit square over :math:`T = 1` only make sense with a
length or time scale that the source leaves unstated; ``speed_scale = 1e-3``
(speeds in m/s, lengths in km, times in s) is our assumption: a pulse then
crosses the square in 0.2-0.7 time units. Snapshots every
``record_interval`` = 0.05 (15 frames: t = 0..0.7 for Wave-Gauss, 21: t = 0..1
for Wave-Layer), which reconciles "T = 1" with "frame 14 is t = 0.7".

Method
------
Leapfrog in time (second order), central differences in space of order
``space_order`` (4, default, or 2) on the grid :math:`x_j = j h`,
:math:`h = 1/N`. The step is chosen per sample as ``cfl`` times the
leapfrog stability limit (:func:`stability_limit`: :math:`c\,dt/h \le 0.612`
for order 4, :math:`1/\sqrt2` for order 2), rounded down so that snapshots land
on the recording times; a fixed ``dt`` above the limit is refused.

Absorbing boundary: the grid is extended by a buffer of ``absorbing_width``
(domain units) on every side, with :math:`c` continued constant along the
normal; at the buffer's edge two ghost layers follow the first-order
Engquist--Majda condition :math:`u_t = -c\,\partial_n u` (upwinded), and
``sponge_strength`` > 0 adds the damping :math:`s(x)u_t` rising quadratically
across the buffer (centred in time, so the scheme stays explicit). Waves
leave with a few percent reflected (measured against a run on a three times
larger square, ``docs/benchmarks.rst``); long waves (wide pulses) reflect most.
The periodic scheme conserves the discrete energy :func:`discrete_energy`
to round-off.

The stored grid :math:`x_j = j/` ``resolution`` is the solve grid at a stride;
left unset, ``solver_resolution`` is the coarsest multiple of ``resolution``
with at least 128 points (128 for the default 128), so any ``resolution >= 3``
works.

Output: ``u0(sample, x, y)`` and ``c(sample, x, y)`` (the speed in the units
of the PDE, i.e. times ``speed_scale``) are inputs, ``u(sample, time, x, y)``
(``u[:, 0] == u0``) the output; ``n_steps(sample)`` (steps per recording
interval) is auxiliary. Presets ``pdegym-wave-gauss`` and ``pdegym-wave-layer``.
"""

from __future__ import annotations

import math

import numpy as np

from ._cli import run_cli
from ._lazy import lazy_module
from ._grids import DefaultSolveGrid
from ._spec import BlowUpError, Parameter, SolverSpec
from .poisson import gaussian_sum

xr = lazy_module("xarray")

__all__ = [
    "SOLVER",
    "discrete_energy",
    "gauss_speed",
    "generate",
    "global_attrs",
    "initial_bumps",
    "laplacian",
    "layer_speed",
    "recording_times",
    "solve",
    "stability_limit",
    "validate",
]

PDE = "u_tt = c(x)^2 Lap u on (0, 1)^2, u_t(x, 0) = 0"
#: Fewest solve points per dimension when ``solver_resolution`` is unset (Poseidon's grid).
MIN_SOLVER_RESOLUTION = 128
#: Ghost layers around the computational grid (the 4th-order stencil reaches 2 cells).
GHOST = 2
#: Largest eigenvalue of -h^2 * Laplacian (2-D) for each stencil order.
_LAMBDA_MAX = {2: 8.0, 4: 32.0 / 3.0}


# ----------------------------------------------------------------------------- numerics


def stability_limit(space_order=4):
    r"""Leapfrog stability limit of :math:`c\,dt/h` for the 2-D Laplacian of the given order.

    Leapfrog is stable while :math:`(c\,dt)^2\lambda_{max} \le 4`, with
    :math:`\lambda_{max} h^2 = 8` (order 2) or :math:`32/3` (order 4).

    Parameters
    ----------
    space_order : {2, 4}

    Returns
    -------
    float
        :math:`1/\sqrt2 \approx 0.7071` or :math:`\sqrt{3/8} \approx 0.6124`.
    """
    return 2.0 / math.sqrt(_LAMBDA_MAX[int(space_order)])


def laplacian(u, h, space_order=4):
    """Central-difference Laplacian of the interior of a ghosted array.

    Parameters
    ----------
    u : ndarray, shape (B, M + 4, M + 4)
        Values with two ghost layers on every side (filled by the caller).
    h : float
        Grid spacing.
    space_order : {2, 4}
        Order of the stencil: 5-point, or the 9-point cross
        ``(-u[i-2] + 16u[i-1] - 30u[i] + 16u[i+1] - u[i+2])/12`` per axis.

    Returns
    -------
    ndarray, shape (B, M, M)
    """
    g = GHOST
    c = u[:, g:-g, g:-g]
    xm, xp = u[:, g - 1 : -g - 1, g:-g], u[:, g + 1 : u.shape[1] - g + 1, g:-g]
    ym, yp = u[:, g:-g, g - 1 : -g - 1], u[:, g:-g, g + 1 : u.shape[2] - g + 1]
    if space_order == 2:
        return (xm + xp + ym + yp - 4.0 * c) / (h * h)
    xmm, xpp = u[:, : -2 * g, g:-g], u[:, 2 * g :, g:-g]
    ymm, ypp = u[:, g:-g, : -2 * g], u[:, g:-g, 2 * g :]
    return (16.0 * (xm + xp + ym + yp) - (xmm + xpp + ymm + ypp) - 60.0 * c) / (12.0 * h * h)


def _fill_ghosts(u, periodic):
    """Periodic copies, or zeros (the initial level of the absorbing grid), in the ghost layers."""
    g = GHOST
    if periodic:
        u[:, :g] = u[:, -2 * g : -g]
        u[:, -g:] = u[:, g : 2 * g]
        u[:, :, :g] = u[:, :, -2 * g : -g]
        u[:, :, -g:] = u[:, :, g : 2 * g]
    else:
        u[:, :g] = 0.0
        u[:, -g:] = 0.0
        u[:, :, :g] = 0.0
        u[:, :, -g:] = 0.0


def _outflow_ghosts(cur, prev, r):
    """First-order Engquist-Majda ghosts: u_t = -c u_n, upwinded from the previous level.

    ``r`` (B, M + 4, M + 4) holds the Courant number ``c dt / h`` continued
    into the ghost layers; the ghost layers of ``cur`` are advanced from those
    of ``prev`` (one step older) and their inner neighbours.
    """
    g = GHOST
    for k in range(g - 1, -1, -1):  # inner ghost layer first: the outer one leans on it
        j = -1 - k
        cur[:, k] = prev[:, k] + r[:, k] * (prev[:, k + 1] - prev[:, k])
        cur[:, j] = prev[:, j] + r[:, j] * (prev[:, j - 1] - prev[:, j])
        cur[:, :, k] = prev[:, :, k] + r[:, :, k] * (prev[:, :, k + 1] - prev[:, :, k])
        cur[:, :, j] = prev[:, :, j] + r[:, :, j] * (prev[:, :, j - 1] - prev[:, :, j])


def _sponge_profile(n, width, s_max):
    """Damping along one axis of the extended grid: 0 inside, s_max (d/width)^2 in the sponge."""
    i = np.arange(n + 2 * width)
    d = np.maximum(width - i, 0) + np.maximum(i - (width + n - 1), 0)
    return s_max * (d / max(width, 1)) ** 2


def discrete_energy(u_prev, u_next, c, h, dt, space_order=4):
    r"""Energy of the periodic leapfrog scheme between two time levels (conserved to round-off).

    .. math:: E^{n+1/2} = \frac{h^2}{2}\sum \frac{1}{c^2}\Bigl(\frac{u^{n+1} - u^n}{dt}\Bigr)^2
              - \frac{h^2}{2}\sum u^{n+1}\,L_h u^n

    For constant ``c`` and small ``dt`` it tends to
    :math:`\tfrac12\int u_t^2/c^2 + |\nabla u|^2`.

    Parameters
    ----------
    u_prev, u_next : ndarray, shape (B, N, N)
        Consecutive time levels on the periodic grid.
    c : ndarray, shape (B, N, N)
        Speed.
    h, dt : float
    space_order : {2, 4}

    Returns
    -------
    ndarray, shape (B,)
    """
    g = GHOST
    pad = np.pad(u_prev, ((0, 0), (g, g), (g, g)), mode="wrap")
    lap = laplacian(pad, h, space_order)
    kinetic = (((u_next - u_prev) / dt) ** 2 / c**2).sum(axis=(1, 2))
    potential = -(u_next * lap).sum(axis=(1, 2))
    return 0.5 * h * h * (kinetic + potential)


def _advance(u0, c, times, steps, h, space_order, periodic, sponge, v0=None):
    """Leapfrog over the recording intervals, ``steps`` steps each, for one group of samples.

    ``sponge`` is ``(width, s_max)`` with ``s_max`` of shape (B,), or None
    when periodic. Returns the frames (B, len(times), N, N).
    """
    b, n, _ = u0.shape
    g = GHOST
    width = 0 if periodic else int(sponge[0])
    m = n + 2 * width
    cc = np.pad(c, ((0, 0), (width, width), (width, width)), mode="edge") if width else c
    dt = (times[1] - times[0]) / steps
    # u_new = a1 u - a2 u_old + a3 L u; the damping s u_t is centred, (u_new - u_old)/(2 dt).
    if periodic:
        s = np.zeros((1, 1, 1))
        a1, a2 = 2.0, 1.0
        a3 = dt * dt * cc * cc
    else:
        prof = _sponge_profile(n, width, 1.0)
        s = (prof[:, None] + prof[None, :])[None] * np.asarray(sponge[1], dtype=float)[:, None, None]
        half = 0.5 * dt * s
        a1 = 2.0 / (1.0 + half)
        a2 = (1.0 - half) / (1.0 + half)
        a3 = dt * dt * cc * cc / (1.0 + half)
    # Local Courant numbers for the outflow ghosts (c continued constant outwards).
    r_edge = np.pad(cc, ((0, 0), (g, g), (g, g)), mode="edge") * (dt / h) if not periodic else None
    out = np.empty((b, len(times), n, n))
    out[:, 0] = u0
    cur = np.zeros((b, m + 2 * g, m + 2 * g))
    prev = np.zeros_like(cur)
    inner = (slice(None), slice(g + width, g + width + n), slice(g + width, g + width + n))
    core = (slice(None), slice(g, g + m), slice(g, g + m))
    cur[inner] = u0
    # First step by Taylor expansion: u(dt) = u0 + dt v0 + dt^2/2 (c^2 L u0 - s v0).
    _fill_ghosts(cur, periodic)
    first = cur[core] + 0.5 * dt * dt * cc * cc * laplacian(cur, h, space_order)
    if v0 is not None:
        vv = np.zeros((b, m, m))
        vv[:, width : width + n, width : width + n] = v0
        first += dt * vv * (1.0 - 0.5 * dt * s)
    prev[core] = first
    prev, cur = cur, prev
    done = 1
    with np.errstate(over="ignore", invalid="ignore"):
        for j in range(1, len(times)):
            while done < j * steps:
                if periodic:
                    _fill_ghosts(cur, True)
                else:
                    _outflow_ghosts(cur, prev, r_edge)
                # prev is overwritten by the new level, then the roles swap.
                prev[core] = a1 * cur[core] - a2 * prev[core] + a3 * laplacian(cur, h, space_order)
                prev, cur = cur, prev
                done += 1
            out[:, j] = cur[inner]
            finite = np.isfinite(out[:, j]).reshape(b, -1).all(axis=1)
            if not finite.all():
                err = BlowUpError(f"non-finite solution at t = {times[j]:.6g}")
                err.positions = np.flatnonzero(~finite)
                err.time = float(times[j])
                raise err
    return out


def solve(u0, c, times, boundary="absorbing", space_order=4, cfl=0.5, dt=None, absorbing_width=0.25,
          sponge_strength=0.0, v0=None, sample_ids=None):
    r"""Integrate :math:`u_{tt} = c^2\Delta u` by leapfrog for a batch, recording at ``times``.

    A pure function of its arguments. Each sample takes its own step
    ``cfl * stability_limit * h / max c`` (rounded down to divide the
    recording interval), and samples sharing a step advance together, so no
    sample depends on its batch-mates.

    Parameters
    ----------
    u0 : array_like, shape (B, N, N) or (N, N)
        Initial displacement on ``x_j = j/N`` (first axis x, second y).
    c : array_like, same shape as ``u0``
        Wave speed, positive and finite.
    times : array_like
        Equally spaced recording times, ``times[0] = 0``.
    boundary : {"absorbing", "periodic"}
        Open square (buffer zone with first-order Engquist--Majda outflow
        conditions at its edge, optionally damped), or a periodic square.
    space_order : {2, 4}
        Order of the central-difference Laplacian.
    cfl : float
        Fraction of the leapfrog stability limit used by the automatic step.
    dt : float, optional
        Fixed time step (rounded down to divide the recording interval);
        refused above the stability limit.
    absorbing_width : float
        Thickness of the buffer zone on every side, in domain units
        (``boundary="absorbing"``), rounded to whole cells.
    sponge_strength : float
        :math:`s_{max} L_s / c_{max}` of the quadratic damping in the buffer
        (0, default: no damping, outflow conditions only).
    v0 : array_like, optional
        Initial velocity :math:`u_t(\cdot, 0)` (default 0).
    sample_ids : sequence of int, optional
        Sample indices named in error messages.

    Returns
    -------
    u : ndarray, shape (B, len(times), N, N)
        ``u[:, 0] == u0``.
    n_steps : ndarray of int, shape (B,)
        Leapfrog steps per recording interval.

    Raises
    ------
    ValueError
        Mismatched or non-square shapes, a non-positive speed (the message
        names the argument or the sample), or a fixed ``dt`` above the CFL
        limit (the message names the sample and gives the limit).
    solvers._spec.BlowUpError
        Non-finite values; the message names the sample.
    """
    shape_u0, shape_c = np.shape(u0), np.shape(c)
    u0 = np.asarray(u0, dtype=float)
    c = np.asarray(c, dtype=float)
    if u0.ndim == 2:
        u0 = u0[None]
    if c.ndim == 2:
        c = c[None]
    if u0.ndim != 3 or u0.shape[1] != u0.shape[2]:
        raise ValueError(f"u0 must have shape (N, N) or (batch, N, N) on a square grid, got {shape_u0}")
    if c.shape != u0.shape:
        raise ValueError(f"c has shape {shape_c}, expected the shape of u0, {shape_u0}")
    if v0 is not None:
        v0 = np.broadcast_to(np.asarray(v0, dtype=float), u0.shape) if np.ndim(v0) else np.full(u0.shape, float(v0))
    nb, n = u0.shape[0], u0.shape[1]
    ids = list(range(nb)) if sample_ids is None else [int(i) for i in sample_ids]
    if boundary not in ("absorbing", "periodic"):
        raise ValueError(f"boundary must be 'absorbing' or 'periodic', got {boundary!r}")
    if space_order not in _LAMBDA_MAX:
        raise ValueError(f"space_order must be 2 or 4, got {space_order!r}")
    bad = ~(np.isfinite(c) & (c > 0)).reshape(nb, -1).all(axis=1)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"sample {ids[k]}: the speed c must be positive and finite, min c = {np.nanmin(c[k]):.4g}")
    times = np.asarray(times, dtype=float)
    interval = times[1] - times[0]
    if not (times[0] == 0 and interval > 0 and np.allclose(np.diff(times), interval, rtol=1e-9, atol=0)):
        raise ValueError("times must be equally spaced and start at 0")
    h = 1.0 / n
    cmax = c.reshape(nb, -1).max(axis=1)
    limit = stability_limit(space_order) * h / cmax
    if dt is not None and dt > 0:
        over = dt > limit * (1 + 1e-12)
        if over.any():
            k = int(np.argmax(over))
            raise ValueError(
                f"dt = {dt:g} violates the CFL (leapfrog stability) limit dt <= {limit[k]:.4g} of sample {ids[k]} "
                f"(max c = {cmax[k]:.4g}, h = {h:.4g}, space_order {space_order}: c dt/h <= "
                f"{stability_limit(space_order):.4f}; here {dt * cmax[k] / h:.4f}); use a smaller dt or dt = 0"
            )
        target = np.full(nb, float(dt))
    else:
        target = cfl * limit
    n_steps = np.maximum(1, np.ceil(interval / target * (1 - 1e-12))).astype(np.int64)
    u = np.empty((nb, len(times), n, n))
    periodic = boundary == "periodic"
    for steps in np.unique(n_steps):
        group = np.flatnonzero(n_steps == steps)
        # Each sample's damping is scaled by its own max speed: no coupling between samples.
        cells = max(1, int(round(absorbing_width * n)))
        sponge = None if periodic else (cells, sponge_strength * cmax[group] / (cells * h))
        try:
            u[group] = _advance(u0[group], c[group], times, int(steps), h, space_order, periodic, sponge,
                                None if v0 is None else v0[group])
        except BlowUpError as exc:
            k = group[exc.positions[0]]
            raise BlowUpError(
                f"wave: sample {ids[k]} blew up (non-finite values) at t = {exc.time:.6g}, "
                f"dt = {interval / steps:.4g}, max c = {cmax[k]:.4g}"
            ) from None
    return u, n_steps


# ----------------------------------------------------------------------------- random inputs


def initial_bumps(rng, params):
    """Draw one sample's initial Gaussians (order: count, then width and centre of each).

    Each centre is redrawn, up to 100 times, until it is at least twice its
    width away from the centres drawn before it.

    Parameters
    ----------
    rng : numpy.random.Generator
    params : dict

    Returns
    -------
    centres : ndarray, shape (n, 2)
    sigmas : ndarray, shape (n,)
    """
    n = int(rng.integers(params["n_bumps_min"], params["n_bumps_max"] + 1))
    centres, sigmas = np.empty((n, 2)), np.empty(n)
    for i in range(n):
        sigmas[i] = rng.uniform(params["sigma_min"], params["sigma_max"])
        for _ in range(100):
            centres[i] = rng.uniform(params["centre_min"], params["centre_max"], 2)
            if i == 0 or np.min(np.hypot(*(centres[:i] - centres[i]).T)) >= 2.0 * sigmas[i]:
                break
    return centres, sigmas


def gauss_speed(rng, x, params):
    """Wave-Gauss speed (unscaled): background plus four Gaussian anomalies, one per quadrant.

    Parameters
    ----------
    rng : numpy.random.Generator
    x : ndarray
        Grid coordinates (both axes).
    params : dict

    Returns
    -------
    ndarray, shape (len(x), len(x))
    """
    c0 = rng.uniform(params["c0_min"], params["c0_max"])
    v = rng.uniform(params["anomaly_min"], params["anomaly_max"], 4)
    s = rng.uniform(params["anomaly_sigma_min"], params["anomaly_sigma_max"], 4)
    quadrants = np.array([[0.25, 0.25], [0.25, 0.75], [0.75, 0.25], [0.75, 0.75]])
    shift = params["anomaly_shift"]
    p = quadrants + rng.uniform(-shift, shift, (4, 2))
    return c0 + gaussian_sum(x, p, s, v)


def layer_speed(rng, x, params):
    """Wave-Layer speed (unscaled): layers stacked in y with wavy interfaces.

    Parameters
    ----------
    rng : numpy.random.Generator
    x : ndarray
        Grid coordinates (both axes).
    params : dict

    Returns
    -------
    ndarray, shape (len(x), len(x))
        Indexed ``[i, j]`` = speed at ``(x[i], x[j])``.
    """
    n = int(rng.integers(params["n_layers_min"], params["n_layers_max"] + 1))
    speeds = rng.uniform(params["layer_speed_min"], params["layer_speed_max"], n)
    offsets = rng.uniform(-0.25 / n, 0.25 / n, n - 1)
    k = np.arange(1, params["interface_modes"] + 1)
    amps = params["interface_amplitude"] * rng.uniform(-1.0, 1.0, (n - 1, len(k)))
    # interfaces[i, a] = height of interface i + 1 above x[a].
    interfaces = (np.arange(1, n) / n + offsets)[:, None] + (amps / k) @ np.sin(2 * np.pi * np.outer(k, x))
    layer = (x[None, None, :] >= interfaces[:, :, None]).sum(axis=0)
    return speeds[layer]


# ----------------------------------------------------------------------------- solver spec


def recording_times(params):
    """Snapshot times ``k * record_interval`` for ``k`` from 0 to ``n_times - 1``.

    Parameters
    ----------
    params : dict

    Returns
    -------
    ndarray
    """
    return params["record_interval"] * np.arange(params["n_times"])


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
    if res is None or res < 3:
        raise ValueError(f"resolution must be >= 3, got {res!r}")
    if n is None or n < 4 or n % res:
        raise ValueError(
            f"solver_resolution ({n}) must be a multiple of resolution ({res}): the stored grid x_j = j/{res} "
            "is the solve grid taken at a stride"
        )
    if params["n_times"] < 2:
        raise ValueError(f"n_times must be >= 2 (the initial state and at least one snapshot), got {params['n_times']!r}")
    for key in ("record_interval", "speed_scale"):
        if not params[key] > 0:
            raise ValueError(f"{key} must be > 0, got {params[key]!r}")
    if not 0 < params["cfl"] <= 1:
        raise ValueError(f"cfl must be in (0, 1] (a fraction of the leapfrog stability limit), got {params['cfl']!r}")
    if params["dt"] < 0:
        raise ValueError(f"dt must be >= 0 (0 = automatic), got {params['dt']!r}")
    if params["boundary"] == "absorbing" and not params["absorbing_width"] * n >= 1:
        raise ValueError(f"absorbing_width must cover at least one cell (>= 1/solver_resolution), got "
                         f"{params['absorbing_width']!r}")
    if params["sponge_strength"] < 0:
        raise ValueError(f"sponge_strength must be >= 0, got {params['sponge_strength']!r}")
    pairs = [("n_bumps_min", "n_bumps_max"), ("sigma_min", "sigma_max"), ("centre_min", "centre_max"),
             ("c0_min", "c0_max"), ("anomaly_min", "anomaly_max"), ("anomaly_sigma_min", "anomaly_sigma_max"),
             ("n_layers_min", "n_layers_max"), ("layer_speed_min", "layer_speed_max")]
    for lo, hi in pairs:
        if not params[lo] <= params[hi]:
            raise ValueError(f"{lo} ({params[lo]!r}) must not exceed {hi} ({params[hi]!r})")
    if params["n_bumps_min"] < 1 or params["n_layers_min"] < 1 or not params["sigma_min"] > 0:
        raise ValueError("n_bumps_min and n_layers_min must be >= 1 and sigma_min > 0")
    low = params["c0_min"] if params["speed"] == "gauss" else params["layer_speed_min"]
    if not low > 0:
        raise ValueError(f"speeds must be positive: the {params['speed']!r} law allows {low!r}")


def generate(params, indices, rngs):
    """Compute a batch of wave samples (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict
    indices : ndarray of int
    rngs : list of numpy.random.Generator
        One per sample; each draws its initial bumps, then its speed.

    Returns
    -------
    xarray.Dataset
        ``u0``, ``c`` (sample, x, y), ``u(sample, time, x, y)``, ``n_steps(sample)``.
    """
    n, res = params["solver_resolution"], params["resolution"]
    s = n // res
    x = np.arange(n) / n
    u0, c = np.empty((len(rngs), n, n)), np.empty((len(rngs), n, n))
    law = gauss_speed if params["speed"] == "gauss" else layer_speed
    for b, rng in enumerate(rngs):
        centres, sigmas = initial_bumps(rng, params)
        u0[b] = gaussian_sum(x, centres, sigmas, np.ones(len(sigmas)))
        c[b] = params["speed_scale"] * law(rng, x, params)
    times = recording_times(params)
    u, n_steps = solve(
        u0, c, times, boundary=params["boundary"], space_order=params["space_order"], cfl=params["cfl"],
        dt=params["dt"] or None, absorbing_width=params["absorbing_width"],
        sponge_strength=params["sponge_strength"], sample_ids=indices,
    )
    xo = np.arange(res) / res
    bc = {"bc_x": _bc(params), "bc_y": _bc(params)}
    coords = {
        "time": ("time", times, {"long_name": "time", "units": "1", "axis": "T"}),
        "x": ("x", xo, {"long_name": "x position", "units": "1", "axis": "X"}),
        "y": ("y", xo.copy(), {"long_name": "y position", "units": "1", "axis": "Y"}),
    }
    data = {
        "u0": (("sample", "x", "y"), u0[:, ::s, ::s], {"long_name": "initial displacement u(x, 0)", "units": "1",
                                                       "opkit_role": "input", **bc}),
        "c": (("sample", "x", "y"), c[:, ::s, ::s], {"long_name": "wave speed c (times speed_scale)", "units": "1",
                                                     "opkit_role": "input", **bc}),
        "u": (("sample", "time", "x", "y"), u[:, :, ::s, ::s], {"long_name": "displacement u(x, t)", "units": "1",
                                                                "opkit_role": "output", **bc}),
        "n_steps": (("sample",), n_steps, {"long_name": "leapfrog steps per recording interval", "units": "1",
                                           "opkit_role": "auxiliary"}),
    }
    return xr.Dataset(data, coords=coords)


def _bc(params):
    # An open (absorbing) square has no periodic or Dirichlet structure; opkit's
    # conventions know periodic | dirichlet | neumann, and "neumann" (no
    # wrap-around, no forced zero) is the closest description of the window.
    return "periodic" if params["boundary"] == "periodic" else "neumann"


def global_attrs(params):
    """Global attributes of a wave file (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict

    Returns
    -------
    dict
    """
    n, res = params["solver_resolution"], params["resolution"]
    if params["speed"] == "gauss":
        speed = (
            f"c = {params['speed_scale']:g} (c0 + sum_(i=1..4) v_i exp(-|x - p_i|^2/(2 s_i^2))), c0 ~ "
            f"U[{params['c0_min']:g}, {params['c0_max']:g}], v_i ~ U[{params['anomaly_min']:g}, {params['anomaly_max']:g}], "
            f"s_i ~ U[{params['anomaly_sigma_min']:g}, {params['anomaly_sigma_max']:g}], p_i = quadrant centre + "
            f"U[-{params['anomaly_shift']:g}, {params['anomaly_shift']:g}]^2"
        )
    else:
        speed = (
            f"c = {params['speed_scale']:g} * speed of the layer, {params['n_layers_min']}-{params['n_layers_max']} layers "
            f"stacked in y, speeds U[{params['layer_speed_min']:g}, {params['layer_speed_max']:g}], interfaces "
            f"y = i/n + U[-1/(4n), 1/(4n)] + sum_(k<={params['interface_modes']}) (a_k/k) sin(2 pi k x), "
            f"a_k ~ {params['interface_amplitude']:g} U[-1, 1]"
        )
    if params["boundary"] == "periodic":
        bnd = "periodic square"
    else:
        bnd = (
            f"open square: buffer of {params['absorbing_width']:g} on every side, first-order Engquist-Majda "
            f"outflow at its edge, damping strength {params['sponge_strength']:g}"
        )
    return {
        "title": f"2-D acoustic wave equation, variable speed ({'Wave-Gauss' if params['speed'] == 'gauss' else 'Wave-Layer'})",
        "pde": PDE,
        "equation": "u_tt = c(x)^2 Lap u, u(x, 0) = u0, u_t(x, 0) = 0",
        "domain": f"(x, y) in [0, 1)^2, {bnd}; t in [0, {recording_times(params)[-1]:g}]",
        "bc_x": _bc(params),
        "bc_y": _bc(params),
        "opkit_inputs": "u0 c",
        "opkit_outputs": "u",
        "method": (
            f"leapfrog (second order) with order-{params['space_order']} central differences on {n} x {n} "
            f"(h = 1/{n}); dt per sample = record_interval / ceil(record_interval / (cfl * limit)), limit = "
            f"{stability_limit(params['space_order']):.4f} h / max c; {bnd}"
        ),
        "initial_condition": (
            f"sum of {params['n_bumps_min']}-{params['n_bumps_max']} Gaussians of amplitude 1, sigma ~ "
            f"U[{params['sigma_min']:g}, {params['sigma_max']:g}], centres ~ U[{params['centre_min']:.4g}, "
            f"{params['centre_max']:.4g}]^2 kept 2 sigma apart"
        ),
        "speed_description": speed,
        "solver_resolution": n,
        "output_resolution": res,
        "downsampling": f"stride {n // res} of the solve grid; x_j = j/{res}",
    }


SOLVER = SolverSpec(
    name="wave",
    title="2-D acoustic wave equation u_tt = c^2 Lap u with variable speed (leapfrog, absorbing or periodic)",
    pde=PDE,
    parameters=(
        Parameter("resolution", 128, "1", "Stored points per dimension (>= 3), x_j = j/resolution: the solve grid at a stride.", int),
        Parameter(
            "solver_resolution", None, "1",
            "Points per dimension of the solve grid (a multiple of resolution). Unset: the coarsest multiple of "
            "resolution >= 128 (128 for resolution 128, 130 for 65).",
            int,
        ),
        Parameter("speed", "gauss", "1", "Law of the speed: Wave-Gauss or Wave-Layer.", str, ("gauss", "layer")),
        Parameter("speed_scale", 1e-3, "1", "Factor applied to the speeds (1500-5000) to make them units of the square per unit time.", float, plausible=(1e-5, 0.1)),
        Parameter("n_times", 15, "1", "Snapshots, the initial state included.", int),
        Parameter("record_interval", 0.05, "1", "Time between snapshots.", float, plausible=(1e-4, 1.0)),
        Parameter("boundary", "absorbing", "1", "Open square with outflow conditions, or periodic.", str, ("absorbing", "periodic")),
        Parameter("absorbing_width", 0.25, "1", "Buffer around the square (domain units) for the absorbing boundary.", float),
        Parameter("sponge_strength", 0.0, "1", "Damping s_max * width / max c in the buffer (0: none).", float),
        Parameter("space_order", 4, "1", "Order of the central-difference Laplacian.", int, (2, 4)),
        Parameter("cfl", 0.5, "1", "Fraction of the leapfrog stability limit used by the automatic step, (0, 1].", float),
        Parameter("dt", 0.0, "1", "Fixed time step (0: automatic); refused above the stability limit.", float),
        Parameter("n_bumps_min", 2, "1", "Fewest initial Gaussians.", int),
        Parameter("n_bumps_max", 6, "1", "Most initial Gaussians.", int),
        Parameter("sigma_min", 0.039, "1", "Smallest width of an initial Gaussian.", float),
        Parameter("sigma_max", 0.156, "1", "Largest width of an initial Gaussian.", float),
        Parameter("centre_min", 1.0 / 6.0, "1", "Initial centres are uniform on [centre_min, centre_max]^2.", float),
        Parameter("centre_max", 5.0 / 6.0, "1", "See centre_min.", float),
        Parameter("c0_min", 1500.0, "1", "Wave-Gauss: smallest background speed.", float),
        Parameter("c0_max", 2500.0, "1", "Wave-Gauss: largest background speed.", float),
        Parameter("anomaly_min", 1000.0, "1", "Wave-Gauss: smallest anomaly amplitude.", float),
        Parameter("anomaly_max", 2500.0, "1", "Wave-Gauss: largest anomaly amplitude.", float),
        Parameter("anomaly_sigma_min", 1.0 / 12.0, "1", "Wave-Gauss: smallest anomaly width.", float),
        Parameter("anomaly_sigma_max", 1.0 / 6.0, "1", "Wave-Gauss: largest anomaly width.", float),
        Parameter("anomaly_shift", 0.3125, "1", "Wave-Gauss: anomaly centres move up to this far from their quadrant's centre.", float),
        Parameter("n_layers_min", 3, "1", "Wave-Layer: fewest layers.", int),
        Parameter("n_layers_max", 6, "1", "Wave-Layer: most layers.", int),
        Parameter("layer_speed_min", 2000.0, "1", "Wave-Layer: smallest layer speed.", float),
        Parameter("layer_speed_max", 5000.0, "1", "Wave-Layer: largest layer speed.", float),
        Parameter("interface_amplitude", 0.02, "1", "Wave-Layer: scale of the interface sine coefficients a_k.", float),
        Parameter("interface_modes", 10, "1", "Wave-Layer: sine modes of each interface.", int),
    ),
    generate=generate,
    global_attrs=global_attrs,
    validate=validate,
    derive=DefaultSolveGrid("periodic", MIN_SOLVER_RESOLUTION),
)


if __name__ == "__main__":
    raise SystemExit(run_cli(SOLVER))

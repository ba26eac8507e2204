r"""2-D incompressible Navier--Stokes in vorticity form on a periodic square.

.. math::

    \partial_t\omega + u\cdot\nabla\omega = \nu\Delta\omega - \alpha\omega + f,
    \qquad -\Delta\psi = \omega,\qquad u = (\partial_y\psi, -\partial_x\psi),

on :math:`[0, L)^2` with periodic boundaries. ``python -m solvers.navier_stokes``
writes vorticity snapshots ``(sample, time, x, y)`` with the initial (or
post-warm-up) field as the operator input, velocity on request.

Method
------
Fourier pseudo-spectral on ``rfft2`` grids, batched over samples. The state is
the array of Fourier coefficients :math:`\hat\omega_k` (``rfft2(w) / n**2``)
restricted to the 2/3-rule square :math:`|k_x|, |k_y| \le K = \lfloor (n-1)/3
\rfloor` (``K = 21`` at ``n = 64``, 85 at 256): the nonlinear term is
projected on the same square, so the
quadratic product is alias-free and the scheme is the Galerkin truncation of
the PDE. Only that square is stored, rows :math:`k_x = 0..K, -K..-1` and
columns :math:`k_y = 0..K` (4/9 of the ``rfft2`` layout; the transforms skip
the zero columns, :mod:`solvers._fft`), so the element-wise work on spectra
is cut by more than half. The 2/3 square is FNO's rectangular mask for even
``n``.

Steppers (``stepper=``):

``etdrk4`` (default)
    Exponential time differencing RK4 (Cox & Matthews; coefficients by contour
    integral, :mod:`solvers._etd`): the linear part :math:`-\nu|k|^2 - \alpha`
    is integrated exactly, the explicit part is
    :math:`-P(u\cdot\nabla\omega) + \hat f`; 4 evaluations (20 real FFTs) per
    step, fourth order.
``rk4cn``
    Carpenter--Kennedy low-storage 5-stage RK4 for the explicit part with
    Crank--Nicolson for the linear part (the jax-cfd / torch-cfd scheme);
    second order in general, close to fourth while :math:`\nu|k|^2 dt \ll 1`.
``fno-cn-euler``
    The update of FNO's ``ns_2d.py``: Crank--Nicolson diffusion, forward Euler
    advection and forcing, mask on the nonlinear term only, state not projected;
    first order, fixed ``dt``. Kept for exact reproduction and as the baseline
    of the benchmark.

Time step: for each recording interval :math:`\Delta` every sample picks
``n = ceil(Delta / dt_cfl)`` substeps from its *own* maximum speed,
:math:`dt_{cfl} = \mathrm{cfl}\cdot h/\max|u|` (rounded up to a ladder of 8
values per octave so that samples share coefficient sets), so snapshots land
exactly on the recording times and no sample depends on its batch-mates.
Samples advance together in cache-sized blocks sorted by ``n`` (``etdrk4``
without time-dependent forcing: one block may mix several ``n``, each sample
with its own coefficients, a sample leaving the block once it has taken its
steps; otherwise the samples of one ``n`` share a block), spread over
``threads`` worker threads (each with single-threaded FFT plans, so the
thread count never changes a result). After each interval the CFL number is
checked with the final speed and the interval is redone with more substeps if
it exceeded the scheme's limit. A fixed ``dt`` is accepted when it divides the
interval and respects the CFL limit.

Outputs are stored on a coarser grid by spectral truncation (modes
``|k| < m/2``), sampled at ``x_j = j L / m``.
"""

from __future__ import annotations

import math

import numpy as np

from . import _fft
from ._cli import run_cli
from ._lazy import lazy_module
from ._ns_fields import (
    energy_spectrum,
    filtered_velocity_vorticity,
    fno_forcing,
    grf_vorticity,
    kolmogorov_forcing,
    mcwilliams_vorticity,
    taylor_green_vorticity,
)
from ._ns_spectral import _physical, dealias_cutoff, grid_points, spectral_resample
from ._ns_stepper import CFL_LIMITS, STEPPERS, NavierStokes2D
from ._spec import BlowUpError, Parameter, SolverSpec

xr = lazy_module("xarray")

__all__ = [
    "NavierStokes2D",
    "STEPPERS",
    "CFL_LIMITS",
    "fno_forcing",
    "kolmogorov_forcing",
    "grf_vorticity",
    "mcwilliams_vorticity",
    "filtered_velocity_vorticity",
    "spectral_resample",
    "energy_spectrum",
    "taylor_green_vorticity",
]


# --------------------------------------------------------------------------
# Data generation glue (solvers._spec contract)
# --------------------------------------------------------------------------

PDE = "w_t + u . grad(w) = nu Lap(w) - alpha w + f,  -Lap(psi) = w,  u = (psi_y, -psi_x)"
#: Boundary conditions of the file and of every field in it.
BC = {"bc_x": "periodic", "bc_y": "periodic"}
#: Fewest solve points per dimension when ``solver_resolution`` is unset.
MIN_SOLVER_RESOLUTION = 128
FORCINGS = ("fno", "kolmogorov", "none")
INITIAL_CONDITIONS = ("grf", "mcwilliams", "filtered_velocity")


def recording_times(params):
    """Recording times ``t_start + k * record_interval`` for ``k`` from 1 to ``n``.

    Parameters
    ----------
    params : dict
        Needs ``t_start``, ``t_end``, ``record_interval``.

    Returns
    -------
    ndarray
    """
    t0, t1, dtr = params["t_start"], params["t_end"], params["record_interval"]
    n = int(round((t1 - t0) / dtr))
    return t0 + dtr * np.arange(1, n + 1)


def _forcing_field(params, n):
    kind = params["forcing"]
    if kind == "fno":
        return fno_forcing(n, params["length"], params["forcing_amplitude"])
    if kind == "kolmogorov":
        return kolmogorov_forcing(n, params["length"], params["forcing_amplitude"], params["forcing_wavenumber"])
    return None


def initial_coefficients(params, rngs):
    """Draw the initial vorticity of each sample as master-grid coefficients.

    Parameters
    ----------
    params : dict
        Resolved parameters (``initial_condition``, its parameters,
        ``ic_resolution``, ``length``).
    rngs : list of numpy.random.Generator
        One per sample.

    Returns
    -------
    ndarray, shape (B, M, M//2 + 1), complex
        ``rfft2(w0)/M**2`` on the master grid ``M = ic_resolution``.
    """
    m, L = params["ic_resolution"], params["length"]
    kind = params["initial_condition"]
    if kind == "grf":
        return grf_vorticity(rngs, m, params["grf_alpha"], params["grf_tau"], params["grf_sigma"], L, master=m)
    if kind == "mcwilliams":
        return mcwilliams_vorticity(rngs, m, params["peak_wavenumber"], L, master=m)
    return filtered_velocity_vorticity(rngs, m, params["peak_wavenumber"], params["max_velocity"], L, master=m)


def make_solver(params):
    """The :class:`NavierStokes2D` configured by a parameter dict."""
    n = params["solver_resolution"]
    return NavierStokes2D(
        n,
        length=params["length"],
        viscosity=params["viscosity"],
        drag=params["drag"],
        forcing=_forcing_field(params, n),
        stepper=params["stepper"],
        cfl=params["cfl"],
        dt=params["dt"] if params["dt"] else None,
        max_dt=params["max_dt"] if params["max_dt"] else None,
        backend=params["backend"],
        threads=params["threads"],
        dtype=params["dtype"],
    )


def _describe(params):
    keys = (
        "viscosity", "drag", "forcing", "initial_condition", "stepper", "cfl", "dt",
        "solver_resolution", "resolution", "t_start", "t_end", "record_interval",
    )
    return ", ".join(f"{k}={params[k]}" for k in keys)


def _derive(params):
    """The solve grid of a run that leaves ``solver_resolution`` unset (see :class:`solvers._grids.DefaultSolveGrid`).

    The coarsest even ``resolution * s >= MIN_SOLVER_RESOLUTION`` whose stride ``s`` is a product of
    2, 3 and 5, so that the stored points are solve points.
    """
    from ._grids import DefaultSolveGrid  # here: the module's head holds the numerics

    return DefaultSolveGrid("periodic", MIN_SOLVER_RESOLUTION, even=True, smooth=True)(params)


def validate(params):
    """Reject parameter sets the solver cannot run, naming the culprit.

    Parameters
    ----------
    params : dict

    Raises
    ------
    ValueError
    """
    nu = params["viscosity"]
    if not nu > 0:
        raise ValueError(f"viscosity must be > 0, got {nu!r}")
    if params["drag"] < 0:
        raise ValueError(f"drag must be >= 0, got {params['drag']!r}")
    if not params["length"] > 0:
        raise ValueError(f"length must be > 0, got {params['length']!r}")
    res, sres, mres = params["resolution"], params["solver_resolution"], params["ic_resolution"]
    if res is None or res < 3:
        raise ValueError(f"resolution must be >= 3, got {res!r}")
    for key, val, low in (("solver_resolution", sres, 8), ("ic_resolution", mres, 8)):
        if val is None or val < low or val % 2:
            raise ValueError(f"{key} must be an even number >= {low}, got {val!r}")
    if res > sres:
        raise ValueError(
            f"resolution ({res}) must not exceed solver_resolution ({sres}): the stored grid is a spectral "
            "truncation of the solver grid"
        )
    t0, t1, dtr = params["t_start"], params["t_end"], params["record_interval"]
    if t0 < 0:
        raise ValueError(f"t_start must be >= 0, got {t0!r}")
    if not dtr > 0:
        raise ValueError(f"record_interval must be > 0, got {dtr!r}")
    if not t1 > t0:
        raise ValueError(f"t_end ({t1!r}) must be > t_start ({t0!r})")
    k = (t1 - t0) / dtr
    if abs(k - round(k)) > 1e-6 * max(1.0, k):
        raise ValueError(f"record_interval ({dtr!r}) must divide t_end - t_start ({t1 - t0!r})")
    stepper = params["stepper"]
    limit = CFL_LIMITS[stepper]
    if not 0 < params["cfl"] <= limit:
        raise ValueError(f"cfl must be in (0, {limit}] for stepper {stepper!r}, got {params['cfl']!r}")
    dt = params["dt"]
    if dt is not None and dt != 0:
        if dt < 0:
            raise ValueError(f"dt must be > 0 (or 0/unset for the adaptive step), got {dt!r}")
        for name, span in (("record_interval", dtr), ("t_start", t0)):
            if span > 0:
                r = span / dt
                if abs(r - round(r)) > 1e-6 * max(1.0, r):
                    raise ValueError(f"fixed dt ({dt!r}) must divide {name} ({span!r}) so snapshots land on time")
    if params["max_dt"] is not None and params["max_dt"] < 0:
        raise ValueError(f"max_dt must be >= 0 (0 = no cap), got {params['max_dt']!r}")
    if params["threads"] < 1:
        raise ValueError(f"threads must be >= 1, got {params['threads']!r}")
    if params["initial_condition"] == "grf" and not (params["grf_alpha"] > 1 and params["grf_tau"] >= 0):
        raise ValueError("grf_alpha must be > 1 (finite-variance 2-D field) and grf_tau >= 0")
    if params["initial_condition"] != "grf" and not params["peak_wavenumber"] > 0:
        raise ValueError(f"peak_wavenumber must be > 0, got {params['peak_wavenumber']!r}")
    if params["forcing"] == "kolmogorov" and params["forcing_wavenumber"] < 1:
        raise ValueError(f"forcing_wavenumber must be >= 1, got {params['forcing_wavenumber']!r}")
    _fft.resolve_backend(params["backend"])


def generate(params, indices, rngs):
    """Compute a batch of samples (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict
        Resolved parameters.
    indices : ndarray of int
        Global sample indices (for messages).
    rngs : list of numpy.random.Generator
        One per sample; each draws its initial condition only.

    Returns
    -------
    xarray.Dataset
        ``w0(sample, x, y)`` (input: vorticity at ``t_start``), ``w(sample, time,
        x, y)`` (output), ``velocity(sample, time, x, y, component)`` when
        ``velocity`` is set, ``forcing(x, y)`` when forced, ``n_steps(sample)``.

    Raises
    ------
    ValueError
        A fixed ``dt`` above the CFL limit (the message gives ``dt_max``).
    solvers._spec.BlowUpError
        Non-finite solution; the message names the sample index and parameters.
    """
    n, m, L = params["solver_resolution"], params["resolution"], params["length"]
    coef = initial_coefficients(params, rngs)
    op = make_solver(params)
    describe = _describe(params)
    try:
        state = op.from_coefficients(coef)
        t0 = params["t_start"]
        if t0 > 0:
            # Warm-up in intervals of record_interval (the CFL step is re-chosen
            # per interval), then the post-warm-up field is the input.
            k = int(math.ceil(t0 / params["record_interval"] - 1e-9))
            marks = np.linspace(0.0, t0, k + 1)[1:]
            warm = op.solve(state, marks, t0=0.0, n_out=8, sample_ids=indices, describe=describe)
            state, steps = warm["state"], warm["steps"]
            w0 = op.vorticity(state, m)
        else:
            w0 = _physical(coef, m)
            steps = np.zeros(len(indices), dtype=np.int64)
        times = recording_times(params)
        res = op.solve(
            state, times, t0=t0, n_out=m, velocity=bool(params["velocity"]), sample_ids=indices, describe=describe
        )
        steps = steps + res["steps"]
    finally:
        op.close()
    x = grid_points(m, L)
    axis = {"long_name": "position", "units": "1"}
    coords = {
        "time": ("time", times, {"long_name": "time", "units": "1", "axis": "T"}),
        "x": ("x", x, dict(axis, axis="X", long_name="x position")),
        "y": ("y", x.copy(), dict(axis, axis="Y", long_name="y position")),
    }
    data = {
        "w0": (
            ("sample", "x", "y"),
            w0,
            {"long_name": f"vorticity at t = {params['t_start']:g}", "units": "1", "opkit_role": "input", **BC},
        ),
        "w": (
            ("sample", "time", "x", "y"), res["vorticity"],
            {"long_name": "vorticity", "units": "1", "opkit_role": "output", **BC},
        ),
    }
    if params["velocity"]:
        coords["component"] = ("component", np.array(["u", "v"]), {"long_name": "velocity component"})
        data["velocity"] = (
            ("sample", "time", "x", "y", "component"),
            np.moveaxis(res["velocity"], 2, -1),
            {"long_name": "velocity (u, v) = (psi_y, -psi_x)", "units": "1", "opkit_role": "output", **BC},
        )
    data["n_steps"] = (
        ("sample",),
        steps.astype(np.int64),
        {"long_name": "time steps taken (all intervals, warm-up included)", "units": "1", "opkit_role": "auxiliary"},
    )
    return xr.Dataset(data, coords=coords)


def global_attrs(params):
    """Global attributes of a Navier--Stokes file (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict

    Returns
    -------
    dict
    """
    n, m, L = params["solver_resolution"], params["resolution"], params["length"]
    nu, drag = params["viscosity"], params["drag"]
    kind = params["forcing"]
    if kind == "fno":
        ftxt = f"{params['forcing_amplitude']:g} (sin 2pi(x+y)/L + cos 2pi(x+y)/L)"
    elif kind == "kolmogorov":
        k = params["forcing_wavenumber"]
        ftxt = f"curl of ({params['forcing_amplitude']:g} sin(2pi {k} y/L), 0)"
    else:
        ftxt = "0"
    ic = params["initial_condition"]
    if ic == "grf":
        sig = params["grf_sigma"]
        ictxt = (
            f"Gaussian random field, covariance sigma^2 (-Lap + {params['grf_tau']:g}^2)^(-{params['grf_alpha']:g}), "
            f"sigma = {'sqrt(2) tau^(alpha-1) (FNO)' if sig is None else format(sig, 'g')}"
        )
    elif ic == "mcwilliams":
        ictxt = (
            f"McWilliams (1984): psi_k ~ noise / (|k| (1 + (|k|/{params['peak_wavenumber']:g})^4)), "
            "mean |u|^2 = 1/2, w = -Lap psi"
        )
    else:
        ictxt = (
            f"curl of a divergence-free velocity with log-normal spectrum peaked at k = {params['peak_wavenumber']:g}, "
            f"max speed {params['max_velocity']:g}"
        )
    stepper = params["stepper"]
    method = {
        "etdrk4": "ETDRK4 (Cox-Matthews, Kassam-Trefethen contour coefficients), linear part -nu|k|^2 - alpha exact",
        "rk4cn": "Carpenter-Kennedy low-storage RK4 explicit / Crank-Nicolson implicit",
        "fno-cn-euler": "FNO ns_2d.py update: Crank-Nicolson diffusion, forward Euler advection and forcing",
    }[stepper]
    dt = params["dt"]
    step = (
        f"fixed dt = {dt:g}"
        if dt
        else f"per-sample adaptive dt = record_interval / n, n = ceil(record_interval max|u| / ({params['cfl']:g} h)) "
        "rounded up to {8..15}*2^e"
    )
    outputs = "w velocity" if params["velocity"] else "w"
    attrs = {
        "title": "2-D incompressible Navier-Stokes (vorticity form), periodic square",
        "pde": PDE,
        "equation": f"w_t + u.grad(w) = {nu:g} Lap(w) - {drag:g} w + f,  f = {ftxt}",
        "domain": f"(x, y) in [0, {L:g})^2 periodic; t in [{params['t_start']:g}, {params['t_end']:g}]",
        **BC,
        "opkit_inputs": "w0",
        "opkit_outputs": outputs,
        "method": (
            f"Fourier pseudo-spectral on {n}^2, 2/3-rule Galerkin truncation |kx|,|ky| <= {dealias_cutoff(n)}; "
            f"{method}; {step}"
        ),
        "initial_condition_description": ictxt + f"; drawn on {params['ic_resolution']}^2 and truncated",
        "forcing_description": ftxt,
        "solver_resolution": n,
        "output_resolution": m,
        "downsampling": (
            f"spectral truncation to |kx|,|ky| < {m / 2:g} (Nyquist dropped); points x_j = j*{L:g}/{m}"
        ),
    }
    attrs.update(_fft.backend_info(params["backend"], params["threads"]))
    return attrs


SOLVER = SolverSpec(
    name="navier_stokes",
    title="2-D incompressible Navier-Stokes in vorticity form on a periodic square (pseudo-spectral)",
    pde=PDE,
    parameters=(
        Parameter(
            "resolution", 64, "1",
            "Stored grid points per dimension (>= 3, <= solver_resolution), x_j = j L / resolution: the solve "
            "grid's modes |k| < resolution/2.",
            int,
        ),
        Parameter(
            "solver_resolution", None, "1",
            "Grid points per dimension of the spectral solve (even, >= 8). Unset: the coarsest even multiple "
            f"resolution * s >= {MIN_SOLVER_RESOLUTION} with s a product of 2, 3 and 5 (128 for resolution 64, 200 "
            "for 100, 256 for 256).",
            int,
        ),
        Parameter("length", 1.0, "1", "Side L of the periodic square [0, L)^2.", float, plausible=(1e-2, 1e2)),
        Parameter("viscosity", 1e-3, "1", "Kinematic viscosity nu (> 0).", float, plausible=(1e-6, 1.0)),
        Parameter("drag", 0.0, "1", "Linear drag alpha (>= 0).", float, plausible=(0.0, 10.0)),
        Parameter("forcing", "fno", "1", "Vorticity forcing.", str, FORCINGS),
        Parameter(
            "forcing_amplitude", 0.1, "1",
            "Amplitude: a in FNO's a(sin 2pi(x+y) + cos 2pi(x+y)); chi in Kolmogorov's velocity force chi sin(k y).",
            float,
            plausible=(-100.0, 100.0),
        ),
        Parameter("forcing_wavenumber", 4, "1", "Kolmogorov forcing periods across the box.", int),
        Parameter("initial_condition", "grf", "1", "Law of the initial vorticity.", str, INITIAL_CONDITIONS),
        Parameter("grf_alpha", 2.5, "1", "GRF exponent alpha of sigma^2 (-Lap + tau^2)^(-alpha).", float),
        Parameter("grf_tau", 7.0, "1", "GRF inverse length scale tau.", float),
        Parameter("grf_sigma", None, "1", "GRF amplitude sigma (unset: FNO's sqrt(2) tau^(alpha-1)).", float),
        Parameter("peak_wavenumber", 4.0, "1", "Spectral peak (units of 2pi/L) of mcwilliams / filtered_velocity.", float),
        Parameter("max_velocity", 5.0, "1", "Maximum speed of the filtered_velocity initial condition.", float, plausible=(0.0, 100.0)),
        Parameter("ic_resolution", 256, "1", "Master grid of the initial-condition draw (same field at every resolution).", int),
        Parameter("t_start", 0.0, "1", "Warm-up time; the field at t_start is the stored input w0.", float),
        Parameter("t_end", 50.0, "1", "Final time.", float),
        Parameter("record_interval", 1.0, "1", "Time between snapshots (first at t_start + record_interval).", float),
        Parameter("stepper", "etdrk4", "1", "Time integrator.", str, STEPPERS),
        Parameter("cfl", 0.5, "1", "Courant number dt max|u|/h of the adaptive step.", float),
        Parameter("dt", 0.0, "1", "Fixed time step (0: adaptive). Refused above the CFL limit.", float),
        Parameter("max_dt", 0.0, "1", "Cap on the adaptive time step (0: none).", float),
        Parameter("velocity", False, "1", "Also store the velocity (u, v).", bool),
        Parameter("backend", "auto", "1", "FFT backend (auto: pyfftw if installed, else scipy).", str, ("auto",) + _fft.BACKENDS),
        Parameter("threads", 1, "1", "Threads per process (sub-batches run in parallel; results do not depend on it).", int),
        Parameter("dtype", "float64", "1", "Working precision (files store float32).", str, ("float64", "float32")),
    ),
    generate=generate,
    global_attrs=global_attrs,
    validate=validate,
    derive=_derive,
)


if __name__ == "__main__":
    raise SystemExit(run_cli(SOLVER))

r"""1-D viscous Burgers equation on a periodic interval.

.. math:: u_t + (u^2/2)_x = \nu u_{xx}, \qquad x \in [0, L)\ \text{periodic},\ t \in [0, T],

with Gaussian-random-field initial conditions
:math:`u_0 \sim N(0, \sigma^2(-\Delta + \tau^2)^{-\gamma})` (mean zero), as in
the FNO paper's Burgers data. Run ``python -m solvers.burgers --help``.

Schemes (parameter ``scheme``)
------------------------------
``etdrk4`` (default)
    Fourier pseudo-spectral in space (``scipy.fft``), the nonlinear term
    :math:`-(ik/2)\,\widehat{u^2}` dealiased by the 2/3 rule (modes
    :math:`|k| < N/3` of :math:`u` are squared and the same modes of the
    product kept), the stiff diffusion integrated exactly by ETDRK4
    (Cox--Matthews scheme, Kassam--Trefethen contour coefficients from
    :mod:`solvers._etd`). Fourth order in time for smooth data. Rough GRF data
    make the first steps lose order (an initial layer in the high modes), so
    the very first step is split geometrically into
    :math:`\Delta t/2^K, \Delta t/2^K, \Delta t/2^{K-1}, \dots, \Delta t/2`
    (:math:`K = 4`): at 100 steps on FNO's data this cuts the error from
    7e-7 to 6e-8. The step is chosen per sample from its own
    :math:`\max|u_0|` (viscous Burgers obeys a maximum principle, so it bounds
    the speed for all time) as ``min(max_dt, cfl * limit)``, where ``limit``
    is the exact linear-stability (CFL) limit of ETDRK4 on the retained modes
    for advection at speed :math:`\max|u_0|` (it tends to
    :math:`1.35\,h/\max|u_0|` without viscosity and to about
    :math:`4.8\,\nu/\max|u_0|^2` when diffusion damps the fast modes); then
    rounded down so snapshots fall exactly on the recording times. Samples
    that share a step advance together; none depends on its batch-mates.
``cole-hopf``
    Exact in time: with :math:`F = \int_0^x u_0`,
    :math:`\phi_0 = \exp(-(F - \min F)/(2\nu))` solves the heat equation,
    :math:`\hat\phi_k(t) = \hat\phi_k(0) e^{-\nu(2\pi k/L)^2 t}` and
    :math:`u = -2\nu\phi_x/\phi` spectrally; a nonzero mean is handled by a
    Galilean shift. Round-off grows like :math:`e^R`,
    :math:`R = (\max F - \min F)/(2\nu)`, so samples with :math:`R > 30` are
    refused. Used as the reference in the tests (ETDRK4 agrees to < 1e-9
    relative on the FNO preset).

Presets: ``fno-burgers`` (FNO paper: ``nu = 0.1``, 8192 points solved, 1024
stored, :math:`u_0 \mapsto u(\cdot, 1)`) and ``neuralop-burgers-small`` (the
16-point, 17-time-level ``nu = 0.01`` set shipped with neuraloperator).

Output: ``u0(sample, x)`` (input) and ``u(sample, x)`` at ``T`` when
``n_times = 1``, else ``u(sample, time, x)`` at ``n_times`` equally spaced
times on ``[0, T]`` (``u[:, 0] == u0``), plus the step ``time_step(sample)``
used by ETDRK4. The stored grid is ``x_j = j L / resolution``, the solver grid taken
at stride ``solver_resolution / resolution``. Any ``resolution >= 3`` works:
left unset, ``solver_resolution`` is the coarsest even multiple of it with at
least 8192 points (8192 for the default 1024); set explicitly (the presets
do), it is used as given.
"""

from __future__ import annotations

import math

import numpy as np

from ._cli import run_cli
from ._grf import periodic_grf
from ._lazy import lazy_module
from ._grids import DefaultSolveGrid
from ._spec import BlowUpError, Parameter, SolverSpec

xr = lazy_module("xarray")
scipy = lazy_module("scipy")  # its submodules load on attribute access

__all__ = [
    "SOLVER",
    "closed_form_solution",
    "cole_hopf_amplification",
    "cole_hopf_solve",
    "burgers_nonlinear",
    "etdrk4_solve",
    "etdrk4_step",
    "generate",
    "global_attrs",
    "stability_limit",
    "time_levels",
    "validate",
]

PDE = "u_t + (u^2/2)_x = nu u_xx on [0, L) periodic"
#: Boundary condition of the file and of every field in it.
BC = {"bc_x": "periodic"}
#: Fewest solve points when ``solver_resolution`` is unset (FNO's grid).
MIN_SOLVER_RESOLUTION = 8192
#: Levels of the geometric split of the first ETDRK4 step.
GRADED_START = 4
#: Largest Cole-Hopf amplification exponent R accepted.
R_MAX = 30.0


def _etd():
    # Imported lazily: solvers/_etd.py is shared with the Navier-Stokes solver.
    from ._etd import etdrk4_coefficients

    return etdrk4_coefficients


def _fft(u):
    return scipy.fft.rfft(u, axis=-1, workers=1)


def _ifft(v, n):
    return scipy.fft.irfft(v, n=n, axis=-1, workers=1)


def _wavenumbers(n, length):
    """Integer rfft frequencies and angular wavenumbers 2 pi k / L."""
    k = np.arange(n // 2 + 1)
    return k, (2.0 * np.pi / length) * k


def _dealias(n):
    # Products of modes |k| < n/3 reach |k| < 2n/3 and alias onto |k| > n/3,
    # where they are discarded: the kept modes are exact.
    return np.arange(n // 2 + 1) < n / 3.0


# ----------------------------------------------------------------------------- exact solutions


def closed_form_solution(x, t, nu, k=2.0 * np.pi, a=2.0, b=1.0):
    r"""Exact Burgers solution from :math:`\phi = A + B e^{-\nu k^2 t}\cos kx`.

    .. math:: u = \frac{2\nu k B e^{-\nu k^2 t}\sin kx}{A + B e^{-\nu k^2 t}\cos kx}

    (Cole--Hopf with a heat-equation solution :math:`\phi`; needs
    :math:`A > |B|`). Used to measure the order of the time stepper.

    Parameters
    ----------
    x : array_like
        Positions.
    t : float
        Time.
    nu : float
        Viscosity.
    k, a, b : float, optional
        Wavenumber (default :math:`2\pi`, period 1) and the constants A, B.

    Returns
    -------
    ndarray
    """
    x = np.asarray(x, dtype=float)
    decay = b * math.exp(-nu * k * k * t)
    return 2.0 * nu * k * decay * np.sin(k * x) / (a + decay * np.cos(k * x))


def _antiderivative(u0, length):
    """Mean, and F = int_0^x (u0 - mean) sampled on the grid (spectrally)."""
    n = u0.shape[-1]
    _, kk = _wavenumbers(n, length)
    uh = _fft(u0)
    mean = uh[..., 0].real / n
    fh = np.zeros_like(uh)
    fh[..., 1:] = uh[..., 1:] / (1j * kk[1:])
    if n % 2 == 0:
        # The Nyquist mode of a real grid function is a cosine; its integral,
        # a sine, vanishes on the grid.
        fh[..., -1] = 0.0
    return mean, _ifft(fh, n)


def cole_hopf_amplification(u0, nu, length=1.0):
    r"""Round-off amplification exponent :math:`R = (\max F - \min F)/(2\nu)`.

    Parameters
    ----------
    u0 : ndarray, shape (..., N)
        Initial conditions on the grid ``x_j = j L / N``.
    nu : float
        Viscosity.
    length : float, optional
        Period L.

    Returns
    -------
    ndarray, shape (...)
    """
    _, f = _antiderivative(np.asarray(u0, dtype=float), length)
    return (f.max(axis=-1) - f.min(axis=-1)) / (2.0 * nu)


def cole_hopf_solve(u0, nu, times, length=1.0, r_max=R_MAX):
    r"""Exact-in-time Burgers solution by the Cole--Hopf transform.

    Parameters
    ----------
    u0 : ndarray, shape (B, N)
        Initial conditions on ``x_j = j L / N`` (any mean).
    nu : float
        Viscosity (> 0).
    times : array_like
        Output times (>= 0); ``t = 0`` returns ``u0`` itself.
    length : float, optional
        Period L.
    r_max : float, optional
        Largest accepted :math:`R` (:func:`cole_hopf_amplification`).

    Returns
    -------
    ndarray, shape (B, len(times), N)

    Raises
    ------
    ValueError
        If a sample has :math:`R > r_{max}`; the message gives its position in
        the batch and R.
    """
    u0 = np.atleast_2d(np.asarray(u0, dtype=float))
    n = u0.shape[-1]
    _, kk = _wavenumbers(n, length)
    mean, f = _antiderivative(u0, length)
    r = (f.max(axis=-1) - f.min(axis=-1)) / (2.0 * nu)
    if np.any(r > r_max):
        b = int(np.argmax(r > r_max))
        raise ValueError(
            f"Cole-Hopf needs R = (max F - min F)/(2 viscosity) <= {r_max:g} (round-off grows like e^R); "
            f"batch position {b} has R = {r[b]:.4g}; use scheme etdrk4"
        )
    phi_hat = _fft(np.exp(-(f - f.min(axis=-1, keepdims=True)) / (2.0 * nu)))
    out = np.empty((u0.shape[0], len(times), n))
    for j, t in enumerate(times):
        if t == 0:
            out[:, j] = u0
            continue
        ph = phi_hat * np.exp(-nu * kk**2 * t)
        w = -2.0 * nu * _ifft(1j * kk * ph, n) / _ifft(ph, n)
        # Galilean shift: u(x, t) = mean + w(x - mean t, t), a phase in Fourier space.
        wh = _fft(w) * np.exp(-1j * kk * (mean[:, None] * t))
        out[:, j] = mean[:, None] + _ifft(wh, n)
    return out


# ----------------------------------------------------------------------------- ETDRK4


def _amplification(lin, mu, coeffs):
    """ETDRK4 amplification factor for v' = lin v + mu v (mu explicit)."""
    e, e2, q, f1, f2, f3 = coeffs
    a = e2 + q * mu
    b = e2 + q * mu * a
    c = e2 * a + q * mu * (2.0 * b - 1.0)
    return e + mu * (f1 + 2.0 * f2 * (a + b) + f3 * c)


def stability_limit(nu, speed, n, length=1.0):
    r"""Largest stable ETDRK4 step (the CFL limit) for Burgers on ``n`` points.

    Linear stability of the scheme, as used by :func:`etdrk4_solve`, for
    :math:`v' = -\nu k^2 v - i U k v` on every dealiased mode :math:`|k| < n/3`
    (diffusion exact, advection at speed :math:`U` explicit); for Burgers
    :math:`U = \max|u_0|` bounds the speed for all time. Found by bisection on
    :math:`\max_k |R(\Delta t)| \le 1` to 1e-3 relative.

    Parameters
    ----------
    nu : float
        Viscosity (> 0).
    speed : float
        Advection speed :math:`U \ge 0`.
    n : int
        Grid points.
    length : float, optional
        Period L.

    Returns
    -------
    float
        The limit; ``inf`` when ``speed == 0`` (pure diffusion is integrated
        exactly).
    """
    if speed <= 0:
        return math.inf
    k, kk = _wavenumbers(n, length)
    kk = kk[_dealias(n) & (k > 0)]
    lin = -nu * kk**2
    mu = -1j * speed * kk
    coef = _etd()

    def stable(dt):
        return np.max(np.abs(_amplification(lin, mu, coef(lin, dt)))) <= 1.0 + 1e-12

    # Bracket around the two asymptotes (1.35 h/U inviscid, ~4.8 nu/U^2 when
    # diffusion damps the fast modes), then bisect geometrically.
    guess = max(1.35 * length / n / speed, 4.8 * nu / speed**2)
    lo, hi = guess / 1.5, guess * 1.5
    while not stable(lo):
        lo, hi = lo / 2.0, lo
    while stable(hi):
        lo, hi = hi, 2.0 * hi
        if hi > 1e6:
            return math.inf
    while hi / lo > 1.0 + 1e-3:
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if stable(mid) else (lo, mid)
    return lo


def _step_sizes(interval, n_substeps, graded):
    """Step sizes covering one recording interval (graded split of the first)."""
    dt = interval / n_substeps
    if graded <= 0:
        return [dt] * n_substeps
    first = [dt / 2**graded] + [dt / 2**j for j in range(graded, 0, -1)]
    return first + [dt] * (n_substeps - 1)


def etdrk4_solve(u0, nu, times, n_substeps, length=1.0, graded_start=GRADED_START):
    r"""Integrate Burgers with ETDRK4, Fourier pseudo-spectral and 2/3 dealiasing.

    A pure function of its arguments, vectorised over the batch: every sample
    is advanced with the same steps and comes out bitwise the same alone or
    in a batch.

    Parameters
    ----------
    u0 : ndarray, shape (B, N)
        Initial conditions on ``x_j = j L / N`` (N even).
    nu : float
        Viscosity (> 0).
    times : array_like
        Increasing output times, ``times[0]`` the initial time.
    n_substeps : int
        Steps per recording interval (``dt = interval / n_substeps``).
    length : float, optional
        Period L.
    graded_start : int, optional
        K: the first step of the run is split into steps
        ``dt/2^K, dt/2^K, dt/2^(K-1), ..., dt/2`` (0 disables).

    Returns
    -------
    ndarray, shape (B, len(times), N)
        ``out[:, 0]`` is ``u0`` itself.

    Raises
    ------
    BlowUpError
        If a sample becomes non-finite; ``err.positions`` holds the batch
        positions and ``err.time`` the recording time where it was seen.
    """
    u0 = np.atleast_2d(np.asarray(u0, dtype=float))
    n = u0.shape[-1]
    times = np.asarray(times, dtype=float)
    _, kk = _wavenumbers(n, length)
    lin = -nu * kk**2
    nonlinear = burgers_nonlinear(n, length)
    coef = _etd()
    cache = {}
    out = np.empty((u0.shape[0], len(times), n))
    out[:, 0] = u0
    v = _fft(u0)
    # An unstable run overflows; it is reported as a BlowUpError instead.
    with np.errstate(over="ignore", invalid="ignore"):
        for j in range(1, len(times)):
            for h in _step_sizes(times[j] - times[j - 1], int(n_substeps), graded_start if j == 1 else 0):
                if h not in cache:
                    cache[h] = coef(lin, h)
                v = etdrk4_step(v, cache[h], nonlinear)
            out[:, j] = _ifft(v, n)
            finite = np.isfinite(out[:, j]).all(axis=-1)
            if not finite.all():
                err = BlowUpError(
                    f"non-finite solution at t = {times[j]:.6g}, batch positions {np.flatnonzero(~finite).tolist()}"
                )
                err.positions = np.flatnonzero(~finite)
                err.time = float(times[j])
                raise err
    return out


def burgers_nonlinear(n, length=1.0):
    r"""The dealiased Burgers nonlinearity :math:`-\widehat{(u^2/2)_x}` on rfft coefficients.

    Parameters
    ----------
    n : int
        Grid points.
    length : float, optional
        Period L.

    Returns
    -------
    callable
        ``N(v)`` for ``v`` of shape ``(..., n//2 + 1)``: the modes
        :math:`|k| < n/3` of ``v`` are squared on the grid and the same modes
        of :math:`-(ik/2)\widehat{u^2}` returned (2/3 rule).
    """
    _, kk = _wavenumbers(n, length)
    mask = _dealias(n)
    g = np.where(mask, -0.5j * kk, 0.0)

    def nonlinear(v):
        u = _ifft(v * mask, n)
        return g * _fft(u * u)

    return nonlinear


def etdrk4_step(v, coeffs, nonlinear):
    """One ETDRK4 step (Cox--Matthews) of ``v' = L v + N(v)`` with diagonal ``L``.

    Parameters
    ----------
    v : ndarray
        State (Fourier coefficients).
    coeffs : tuple
        ``(E, E2, Q, f1, f2, f3)`` from :func:`solvers._etd.etdrk4_coefficients`
        for ``L`` and the step.
    nonlinear : callable
        ``N(v)``, autonomous.

    Returns
    -------
    ndarray
        The state one step later (a new array).
    """
    e, e2, q, f1, f2, f3 = coeffs
    nv = nonlinear(v)
    a = e2 * v + q * nv
    na = nonlinear(a)
    b = e2 * v + q * na
    nb = nonlinear(b)
    c = e2 * a + q * (2.0 * nb - nv)
    nc = nonlinear(c)
    return e * v + f1 * nv + 2.0 * f2 * (na + nb) + f3 * nc


# ----------------------------------------------------------------------------- solver spec


def time_levels(params):
    """Recording times ``[0, T]`` (``n_times = 1``) or ``linspace(0, T, n_times)``.

    Parameters
    ----------
    params : dict

    Returns
    -------
    ndarray
    """
    n = int(params["n_times"])
    return np.linspace(0.0, float(params["final_time"]), max(n, 2))


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
        raise ValueError(f"viscosity must be > 0 (Burgers needs diffusion here), got {nu!r}")
    for key in ("length", "final_time", "max_dt"):
        if not params[key] > 0:
            raise ValueError(f"{key} must be > 0, got {params[key]!r}")
    if params["dt"] < 0:
        raise ValueError(f"dt must be >= 0 (0 = automatic), got {params['dt']!r}")
    if not 0 < params["cfl"] <= 1:
        raise ValueError(f"cfl must be in (0, 1], got {params['cfl']!r}")
    if params["n_times"] < 1:
        raise ValueError(f"n_times must be >= 1, got {params['n_times']!r}")
    res, sres, gres = params["resolution"], params["solver_resolution"], params["grf_resolution"]
    if res is None or res < 3:
        raise ValueError(f"resolution must be >= 3, got {res!r}")
    if sres is None or sres < 16 or sres % 2:
        raise ValueError(f"solver_resolution must be an even number >= 16, got {sres!r}")
    if sres % res:
        raise ValueError(
            f"solver_resolution ({sres}) must be a multiple of resolution ({res}): "
            "the stored grid is the solver grid taken at a stride"
        )
    if gres < 2 or gres % 2:
        raise ValueError(f"grf_resolution must be an even number >= 2, got {gres!r}")
    if params["grf_sigma"] < 0 or params["grf_tau"] < 0:
        raise ValueError("grf_sigma and grf_tau must be >= 0")
    if not params["grf_gamma"] > 0.5:
        raise ValueError(f"grf_gamma must be > 0.5 for a 1-D field of finite variance, got {params['grf_gamma']!r}")


def _describe(params):
    keys = ("viscosity", "solver_resolution", "resolution", "dt", "max_dt", "final_time", "scheme")
    return ", ".join(f"{k}={params[k]}" for k in keys)


def _check_resolved(u0, params, indices):
    """Refuse samples whose shock width ``nu / max|u0|`` is below 2h."""
    n, nu = params["solver_resolution"], params["viscosity"]
    h = params["length"] / n
    amax = np.abs(u0).max(axis=-1)
    with np.errstate(divide="ignore"):
        width = np.where(amax > 0, nu / amax, np.inf)
    bad = np.flatnonzero(~(width >= 2 * h))
    if bad.size:
        b = bad[0]
        need = 2 * math.ceil(params["length"] * amax[b] / nu)
        raise ValueError(
            f"sample {int(indices[b])}: shock width viscosity/max|u0| = {width[b]:.3g} is below 2h = {2 * h:.3g} "
            f"(solver_resolution {n}, max|u0| = {amax[b]:.3g}); use solver_resolution >= {need} or a larger "
            "viscosity (a finite-volume code is needed for near-inviscid Burgers)"
        )
    return amax


def _substeps(params, amax, indices, interval):
    """Per-sample ETDRK4 steps per recording interval, and the resulting dt."""
    n, nu, length = params["solver_resolution"], params["viscosity"], params["length"]
    fixed = params["dt"]
    n_sub = np.empty(len(amax), dtype=np.int64)
    for b, speed in enumerate(amax):
        limit = stability_limit(nu, float(speed), n, length)
        if fixed > 0:
            if fixed > limit:
                h = length / n
                raise ValueError(
                    f"dt = {fixed:g} violates the CFL (stability) limit dt <= {limit:.4g} of sample {int(indices[b])} "
                    f"(ETDRK4 on {n} points, advection speed max|u0| = {speed:.4g}, viscosity {nu:g}; "
                    f"dt*max|u0|/h = {fixed * speed / h:.3g}); use a smaller dt, or dt = 0 for automatic steps"
                )
            target = fixed
        else:
            target = min(params["max_dt"], params["cfl"] * limit)
        # Round the step down so that recording times are hit exactly.
        n_sub[b] = max(1, math.ceil(interval / target * (1.0 - 1e-12)))
    return n_sub


def generate(params, indices, rngs):
    """Compute a batch of Burgers samples (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict
        Resolved parameters.
    indices : ndarray of int
        Sample indices (used in messages).
    rngs : list of numpy.random.Generator
        One per sample; each draws its initial condition only.

    Returns
    -------
    xarray.Dataset
        ``u0(sample, x)``, ``u(sample, x)`` or ``u(sample, time, x)``, and
        ``time_step(sample)`` for ETDRK4.

    Raises
    ------
    ValueError
        Under-resolved shock, dt above the CFL limit, Cole-Hopf with R > 30;
        the message names the sample index.
    BlowUpError
        Non-finite solution; the message names the sample index and parameters.
    """
    n, res, length = params["solver_resolution"], params["resolution"], params["length"]
    nu = params["viscosity"]
    u0 = periodic_grf(
        rngs,
        (n,),
        alpha=params["grf_gamma"],
        tau=params["grf_tau"],
        sigma=params["grf_sigma"],
        length=length,
        master_shape=(params["grf_resolution"],),
    )
    times = time_levels(params)
    amax = _check_resolved(u0, params, indices)
    data = {}
    if params["scheme"] == "cole-hopf":
        r = cole_hopf_amplification(u0, nu, length)
        if np.any(r > R_MAX):
            b = int(np.argmax(r > R_MAX))
            raise ValueError(
                f"sample {int(indices[b])}: Cole-Hopf needs R = (max F - min F)/(2 viscosity) <= {R_MAX:g} "
                f"(round-off grows like e^R), got R = {r[b]:.4g}; use scheme etdrk4"
            )
        u = cole_hopf_solve(u0, nu, times, length)
    else:
        n_sub = _substeps(params, amax, indices, times[1] - times[0])
        u = np.empty((len(indices), len(times), n))
        for steps in np.unique(n_sub):
            group = np.flatnonzero(n_sub == steps)
            try:
                u[group] = etdrk4_solve(u0[group], nu, times, int(steps), length)
            except BlowUpError as exc:
                b = group[exc.positions[0]]
                raise BlowUpError(
                    f"burgers: sample {int(indices[b])} blew up (non-finite values) at t = {exc.time:.6g}, "
                    f"dt = {(times[1] - times[0]) / steps:.4g}, max|u0| = {amax[b]:.4g}; {_describe(params)}"
                ) from None
        dt = (times[1] - times[0]) / n_sub
        data["time_step"] = (
            ("sample",), dt, {"long_name": "ETDRK4 time step used", "units": "1", "opkit_role": "auxiliary"}
        )
    stride = n // res
    x = np.arange(res) * (length / res)
    coords = {"x": ("x", x, {"long_name": "position", "units": "1", "axis": "X"})}
    data["u0"] = (
        ("sample", "x"),
        u0[:, ::stride],
        {"long_name": "initial velocity u(x, 0)", "units": "1", "opkit_role": "input", **BC},
    )
    if params["n_times"] == 1:
        data["u"] = (
            ("sample", "x"),
            u[:, -1, ::stride],
            {"long_name": f"velocity u(x, t = {params['final_time']:g})", "units": "1", "opkit_role": "output", **BC},
        )
    else:
        coords["time"] = ("time", times, {"long_name": "time", "units": "1", "axis": "T"})
        data["u"] = (
            ("sample", "time", "x"),
            u[:, :, ::stride],
            {"long_name": "velocity u(x, t)", "units": "1", "opkit_role": "output", **BC},
        )
    order = [k for k in ("u0", "u", "time_step") if k in data]
    return xr.Dataset({k: data[k] for k in order}, coords=coords)


def global_attrs(params):
    """Global attributes of a Burgers file (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict

    Returns
    -------
    dict
    """
    nu, length, n, res = params["viscosity"], params["length"], params["solver_resolution"], params["resolution"]
    if params["scheme"] == "cole-hopf":
        method = "Cole-Hopf transform, exact in time; heat equation solved spectrally (FFT)"
    else:
        method = (
            "Fourier pseudo-spectral, 2/3-rule dealiasing of (u^2)_x, ETDRK4 (Cox-Matthews; "
            "Kassam-Trefethen contour coefficients), first step split geometrically (K = "
            f"{GRADED_START}); dt per sample = min(max_dt, cfl * ETDRK4 stability limit at max|u0|)"
        )
    return {
        "title": "1-D viscous Burgers equation, periodic, GRF initial conditions",
        "pde": PDE,
        "equation": f"u_t + (u^2/2)_x = {nu:g} u_xx",
        "domain": f"x in [0, {length:g}) periodic; t in [0, {params['final_time']:g}]",
        **BC,
        "opkit_inputs": "u0",
        "opkit_outputs": "u",
        "method": method,
        "solver_resolution": n,
        "output_resolution": res,
        "downsampling": f"stride {n // res} of the solver grid; x_j = j*{length:g}/{res}",
        "initial_condition": (
            f"Gaussian random field N(0, {params['grf_sigma']:g}^2 (-Laplacian + {params['grf_tau']:g}^2)^"
            f"(-{params['grf_gamma']:g})), mean zero, drawn on {params['grf_resolution']} points and truncated "
            "to the solver grid"
        ),
        "fft_backend": "scipy.fft",
        "threads": 1,
    }


SOLVER = SolverSpec(
    name="burgers",
    title="1-D viscous Burgers equation on a periodic interval (Fourier pseudo-spectral ETDRK4 or Cole-Hopf)",
    pde=PDE,
    parameters=(
        Parameter("resolution", 1024, "1", "Stored grid points (>= 3), x_j = j L / resolution: the solve grid at a stride.", int),
        Parameter("viscosity", 0.1, "1", "Viscosity nu (> 0), in units of L^2/T.", float, plausible=(1e-5, 10.0)),
        Parameter("length", 1.0, "1", "Period L of the domain [0, L).", float, plausible=(1e-2, 1e2)),
        Parameter("final_time", 1.0, "1", "Final time T.", float, plausible=(1e-6, 1e3)),
        Parameter(
            "n_times", 1, "1",
            "Stored time levels: 1 stores u(x, T) only, as u(sample, x); n >= 2 stores n equally spaced "
            "times on [0, T] (both ends) as u(sample, time, x).",
            int,
        ),
        Parameter(
            "solver_resolution", None, "1",
            "Grid points of the spectral solve (even, a multiple of resolution). Unset: the coarsest even multiple "
            "resolution * s >= 8192 with s a product of 2, 3 and 5 (8192 for resolution 1024, 9000 for 1000).",
            int,
        ),
        Parameter("scheme", "etdrk4", "1", "Time integration: ETDRK4 pseudo-spectral, or the exact Cole-Hopf transform (needs R <= 30).", str, ("etdrk4", "cole-hopf")),
        Parameter(
            "dt", 0.0, "1",
            "Fixed ETDRK4 time step, rounded down to divide the recording interval; refused above the CFL "
            "(stability) limit. 0 chooses it per sample.",
            float,
        ),
        Parameter("max_dt", 1e-3, "1", "Largest automatic ETDRK4 step (accuracy cap).", float),
        Parameter("cfl", 0.5, "1", "Fraction of the ETDRK4 stability limit used by automatic steps (0, 1].", float),
        Parameter("grf_sigma", 25.0, "1", "Amplitude sigma of the initial GRF, covariance sigma^2 (-Laplacian + tau^2)^(-gamma).", float, plausible=(0.0, 1e4)),
        Parameter("grf_tau", 5.0, "1", "Inverse length scale tau of the initial GRF.", float),
        Parameter("grf_gamma", 2.0, "1", "Exponent gamma of the initial GRF (> 0.5).", float),
        Parameter(
            "grf_resolution", 8192, "1",
            "Master grid of the GRF draw: a seed gives the same u0 at every solver_resolution.",
            int,
        ),
    ),
    generate=generate,
    global_attrs=global_attrs,
    validate=validate,
    derive=DefaultSolveGrid("periodic", MIN_SOLVER_RESOLUTION, even=True, smooth=True),
)


if __name__ == "__main__":
    raise SystemExit(run_cli(SOLVER))

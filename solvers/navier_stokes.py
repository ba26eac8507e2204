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
Samples with the same ``n`` advance together, in cache-sized blocks spread
over ``threads`` worker threads (each with single-threaded FFT plans, so the
thread count never changes a result). After each interval the CFL number is
checked with the final speed and the interval is redone with more substeps if
it exceeded the scheme's limit. A fixed ``dt`` is accepted when it divides the
interval and respects the CFL limit.

Outputs are stored on a coarser grid by spectral truncation (modes
``|k| < m/2``), sampled at ``x_j = j L / m``.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np

from . import _fft
from ._cli import run_cli
from ._etd import etdrk4_coefficients, phi_functions
from ._lazy import lazy_module
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

STEPPERS = ("etdrk4", "rk4cn", "fno-cn-euler")

#: Largest Courant number :math:`\Delta t \max|u| / h` each stepper accepts.
#: RK4-type explicit parts are stable up to :math:`|\lambda \Delta t| \approx 2.8`
#: on the imaginary axis, i.e. about :math:`0.95 h/\max|u|` with the 2/3 rule;
#: 0.9 keeps a margin. Forward Euler has no imaginary-axis stability and FNO's
#: step is about :math:`0.03 h/\max|u|`: 0.25 is a guard.
CFL_LIMITS = {"etdrk4": 0.9, "rk4cn": 0.9, "fno-cn-euler": 0.25}

# Carpenter & Kennedy (1994), 2N-storage RK4(5), exact rational coefficients.
_CK_A = tuple(
    float(Fraction(p, q))
    for p, q in [
        (0, 1),
        (-567301805773, 1357537059087),
        (-2404267990393, 2016746695238),
        (-3550918686646, 2091501179385),
        (-1275806237668, 842570457699),
    ]
)
_CK_B = tuple(
    float(Fraction(p, q))
    for p, q in [
        (1432997174477, 9575080441755),
        (5161836677717, 13612068292357),
        (1720146321549, 2090206949498),
        (3134564353537, 4481467310338),
        (2277821191437, 14882151754819),
    ]
)


def _ck_stage_times():
    # Stage k evaluates at t + c_k dt; the 2N-storage register h carries the
    # weight tau_k = A_k tau_{k-1} + 1, and c_{k+1} = c_k + B_k tau_k.
    c, tau = [0.0], 0.0
    for a, b in zip(_CK_A, _CK_B):
        tau = a * tau + 1.0
        c.append(c[-1] + b * tau)
    c[-1] = 1.0  # 0.99999999999... by construction
    return tuple(c)


_CK_C = _ck_stage_times()


# --------------------------------------------------------------------------
# Wavenumbers, forcing and initial conditions
# --------------------------------------------------------------------------


def dealias_cutoff(n):
    """Largest kept integer wavenumber of the 2/3 rule, ``(n - 1) // 3``.

    With ``|k| <= K`` and ``3K < n`` the product of two kept fields aliases only
    onto modes outside the square, so the truncation is exact.

    Parameters
    ----------
    n : int
        Grid points per dimension.

    Returns
    -------
    int
    """
    return (int(n) - 1) // 3


def _int_wavenumbers(n, ncols=None):
    """Integer wavenumbers (rows ``kx`` in FFT order, columns ``ky >= 0``)."""
    kx = np.fft.fftfreq(n, 1.0 / n)
    ky = np.arange(n // 2 + 1 if ncols is None else ncols, dtype=float)
    return kx[:, None], ky[None, :]


def _forward_coefficients(w, backend="auto", threads=1):
    """Fourier coefficients ``rfft2(w) / n**2`` of real fields ``(..., n, n)``."""
    n = w.shape[-1]
    return _fft.rfft2(np.asarray(w, dtype=float), backend=backend, threads=threads) / (n * n)


def spectral_resample(coef, n_out):
    """Truncate or zero-pad Fourier coefficients to another square grid.

    Parameters
    ----------
    coef : ndarray
        Coefficients ``(..., n, ncols)`` in ``rfft2`` layout normalised as
        ``rfft2(w)/n**2`` (``ncols <= n//2 + 1``; missing columns are zero).
    n_out : int
        Target grid size (even).

    Returns
    -------
    ndarray
        ``(..., n_out, n_out//2 + 1)`` coefficients holding the modes with
        ``|kx|, |ky| < min(n, n_out)/2``; the Nyquist modes of the coarser grid
        are dropped (a real field cannot carry the sine half of them), so the
        physical field is the L2 projection onto the coarse grid's modes.
    """
    coef = np.asarray(coef)
    n = coef.shape[-2]
    ncols = coef.shape[-1]
    kk = min(n, n_out) // 2 - 1 + (min(n, n_out) % 2)  # largest kept |k|
    kc = min(kk + 1, ncols)
    out = np.zeros(coef.shape[:-2] + (n_out, n_out // 2 + 1), dtype=np.result_type(coef.dtype, np.complex64))
    out[..., : kk + 1, :kc] = coef[..., : kk + 1, :kc]
    if kk > 0:
        out[..., n_out - kk :, :kc] = coef[..., n - kk :, :kc]
    return out


def _physical(coef, n_out, backend="auto", threads=1):
    """Real fields on an ``n_out`` grid from coefficients (any layout, see above)."""
    c = spectral_resample(coef, n_out)
    return _fft.irfft2(c * (n_out * n_out), (n_out, n_out), backend=backend, threads=threads)


def grid_points(n, length=1.0):
    """Grid coordinates ``x_j = j L / n`` for ``j`` from 0 to ``n - 1`` (FNO's grid)."""
    return np.arange(n) * (float(length) / n)


def fno_forcing(n, length=1.0, amplitude=0.1):
    """FNO's vorticity forcing ``a (sin 2pi(x+y)/L + cos 2pi(x+y)/L)``.

    Parameters
    ----------
    n : int
        Grid size.
    length : float
        Domain side ``L`` (FNO: 1).
    amplitude : float
        ``a`` (FNO: 0.1).

    Returns
    -------
    ndarray, shape (n, n)
    """
    x = grid_points(n, length)
    s = 2 * np.pi * (x[:, None] + x[None, :]) / length
    return amplitude * (np.sin(s) + np.cos(s))


def kolmogorov_forcing(n, length=2 * np.pi, amplitude=1.0, wavenumber=4):
    """Vorticity of the Kolmogorov body force ``(chi sin(2 pi m y / L), 0)``.

    Parameters
    ----------
    n : int
        Grid size.
    length : float
        Domain side ``L`` (torch-cfd: 2 pi, where the force is ``sin(4y)``).
    amplitude : float
        ``chi``.
    wavenumber : int
        ``m`` (number of periods across the box).

    Returns
    -------
    ndarray, shape (n, n)
        ``-chi k cos(k y)`` with ``k = 2 pi m / L``, constant in ``x``.
    """
    y = grid_points(n, length)
    k = 2 * np.pi * wavenumber / length
    return np.broadcast_to(-amplitude * k * np.cos(k * y)[None, :], (n, n)).copy()


def taylor_green_vorticity(n, t=0.0, viscosity=0.0, length=1.0, wavenumber=1, amplitude=1.0):
    """Taylor--Green vortex ``2 A k cos(k x) cos(k y) exp(-2 nu k^2 t)``, ``k = 2 pi m / L``.

    An exact solution of the unforced equation (its advection vanishes).

    Parameters
    ----------
    n : int
        Grid size.
    t : float
        Time.
    viscosity : float
        ``nu``.
    length : float
        Domain side.
    wavenumber : int
        ``m``.
    amplitude : float
        ``A``.

    Returns
    -------
    ndarray, shape (n, n)
    """
    x = grid_points(n, length)
    k = 2 * np.pi * wavenumber / length
    return (
        2 * amplitude * k * np.cos(k * x)[:, None] * np.cos(k * x)[None, :] * np.exp(-2 * viscosity * k * k * t)
    )


def _master_noise_coefficients(rng, m):
    """Coefficients of real white noise on an ``m x m`` grid (rfft layout)."""
    return np.fft.rfft2(rng.standard_normal((m, m))) / (m * m)


def grf_vorticity(rngs, n, alpha=2.5, tau=7.0, sigma=None, length=1.0, master=256):
    """FNO's Gaussian random field initial vorticity, as coefficients.

    Drawn with :func:`solvers._grf.periodic_grf` on the ``master`` grid and
    truncated, so a seed gives the same function at every resolution.

    Parameters
    ----------
    rngs : sequence of numpy.random.Generator
        One per sample.
    n : int
        Target grid size.
    alpha, tau, sigma, length
        GRF parameters (FNO: 2.5, 7, default sigma, 1).
    master : int
        Grid of the draw.

    Returns
    -------
    ndarray, shape (len(rngs), n, n//2 + 1), complex
    """
    from ._grf import periodic_grf

    w = periodic_grf(rngs, (master, master), alpha, tau, sigma=sigma, length=length)
    return spectral_resample(_forward_coefficients(w), n)


def _abs_wavenumber(m, length):
    kx, ky = _int_wavenumbers(m)
    return (2 * np.pi / length) * np.sqrt(kx**2 + ky**2)


def mcwilliams_vorticity(rngs, n, peak_wavenumber=4.0, length=2 * np.pi, master=256):
    """McWilliams (1984) decaying-turbulence initial vorticity, as coefficients.

    White noise filtered to a streamfunction with
    ``psi_k ~ [|k| (1 + (|k|/k0)^4)]^(-1)`` (``|k|`` in units of
    ``2 pi / L``; the energy spectrum peaks near ``k0``), normalised to
    ``mean(|u|^2) = 1/2`` (torch-cfd's "unit kinetic energy",
    ``2 sum |k psi_k|^2 = 1``), then ``omega = -Delta psi``.

    Parameters
    ----------
    rngs : sequence of numpy.random.Generator
        One per sample (each draws ``master**2`` normals).
    n : int
        Target grid size.
    peak_wavenumber : float
        ``k0``.
    length : float
        Domain side.
    master : int
        Grid of the draw.

    Returns
    -------
    ndarray, shape (len(rngs), n, n//2 + 1), complex
    """
    kmag = _abs_wavenumber(master, length)
    kunit = kmag * length / (2 * np.pi)
    with np.errstate(divide="ignore"):
        filt = np.where(kunit > 0, 1.0 / (kunit * (1.0 + (kunit / peak_wavenumber) ** 4)), 0.0)
    weight = np.full(kmag.shape[1], 2.0)
    weight[0] = 1.0
    if master % 2 == 0:
        weight[-1] = 1.0
    out = []
    for rng in rngs:
        psi = _master_noise_coefficients(rng, master) * filt
        usq = np.sum(weight * (kmag**2) * np.abs(psi) ** 2)  # mean |u|^2
        psi *= np.sqrt(0.5 / usq)
        out.append(spectral_resample((kmag**2) * psi, n))
    return np.stack(out)


def filtered_velocity_vorticity(rngs, n, peak_wavenumber=4.0, max_velocity=5.0, length=2 * np.pi, master=256):
    """Vorticity of a random divergence-free velocity (jax-cfd / torch-cfd style).

    Each velocity component is white noise filtered by a log-normal spectral
    density peaked at ``peak_wavenumber`` (log-variance 0.25, divided by ``|k|``
    for the shell area), projected onto divergence-free fields, scaled to
    ``max|u| = max_velocity`` on the master grid, and its curl taken.

    Parameters
    ----------
    rngs : sequence of numpy.random.Generator
        One per sample (each draws ``2 * master**2`` normals).
    n : int
        Target grid size.
    peak_wavenumber : float
        Peak wavenumber (units of ``2 pi / L``).
    max_velocity : float
        Maximum speed after scaling.
    length : float
        Domain side.
    master : int
        Grid of the draw.

    Returns
    -------
    ndarray, shape (len(rngs), n, n//2 + 1), complex
    """
    kxi, kyi = _int_wavenumbers(master)
    kunit = np.sqrt(kxi**2 + kyi**2)
    var = 0.25
    mean = math.log(peak_wavenumber) + var
    with np.errstate(divide="ignore", invalid="ignore"):
        logk = np.log(np.where(kunit > 0, kunit, 1.0))
        dens = np.exp(-((mean - logk) ** 2) / (2 * var) - logk) / np.where(kunit > 0, kunit, 1.0)
    dens = np.where(kunit > 0, dens, 0.0)
    kx = (2 * np.pi / length) * kxi
    ky = (2 * np.pi / length) * kyi
    k2 = kx**2 + ky**2
    k2s = np.where(k2 > 0, k2, 1.0)
    out = []
    for rng in rngs:
        u = _master_noise_coefficients(rng, master) * dens
        v = _master_noise_coefficients(rng, master) * dens
        div = (kx * u + ky * v) / k2s  # Leray projection
        u = u - kx * div
        v = v - ky * div
        m2 = master * master
        uu = np.fft.irfft2(u * m2, (master, master))
        vv = np.fft.irfft2(v * m2, (master, master))
        scale = max_velocity / np.sqrt(uu**2 + vv**2).max()
        w = 1j * (kx * v - ky * u) * scale
        out.append(spectral_resample(w, n))
    return np.stack(out)


def energy_spectrum(w, length=1.0):
    """Shell-summed kinetic energy spectrum of vorticity fields.

    Parameters
    ----------
    w : array_like
        Vorticity ``(..., n, n)``.
    length : float
        Domain side.

    Returns
    -------
    k : ndarray
        Integer shell wavenumbers ``1 .. n//2``.
    E : ndarray
        ``(..., n//2)``: :math:`E(k) = \\sum_{k-1/2 \\le |k'| < k+1/2} \\tfrac12
        |\\hat\\omega_{k'}|^2/|k'|^2` (physical ``|k'|``), so that
        ``E.sum(-1)`` is about the mean kinetic energy ``mean(|u|^2)/2``.
    """
    w = np.asarray(w, dtype=float)
    n = w.shape[-1]
    c = np.fft.rfft2(w) / (n * n)
    kxi, kyi = _int_wavenumbers(n)
    kunit = np.sqrt(kxi**2 + kyi**2)
    k2 = (2 * np.pi / length) ** 2 * kunit**2
    weight = np.full(c.shape[-1], 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        dens = np.where(k2 > 0, 0.5 * weight * np.abs(c) ** 2 / np.where(k2 > 0, k2, 1.0), 0.0)
    shell = np.rint(kunit).astype(int)
    kmax = n // 2
    flat = dens.reshape(dens.shape[:-2] + (-1,))
    idx = shell.ravel()
    E = np.zeros(dens.shape[:-2] + (kmax + 1,))
    for s in range(1, kmax + 1):
        E[..., s] = flat[..., idx == s].sum(-1)
    return np.arange(1, kmax + 1), E[..., 1:]


# --------------------------------------------------------------------------
# The solver
# --------------------------------------------------------------------------


def _quantise_steps(n):
    """Round a substep count up to the ladder {8..15} * 2^e (<= 12.5 % extra)."""
    n = max(1, int(n))
    if n <= 16:
        return n
    e = n.bit_length() - 4
    m = -(-n // (1 << e))  # ceil
    return m << e


class _Workspace:
    """Buffers and planned FFTs for one sub-batch size (one per thread)."""

    def __init__(self, op, batch):
        n, nc, nr = op.n, op.ncols, op.nrows
        kw = dict(dtype=op.real_dtype, backend=op.backend, threads=1, planner=op.planner)
        self.batch = batch
        self.inv = _fft.InverseRFFT2(4 * batch, n, nc, **kw)
        self.X4 = self.inv.input.reshape(4, batch, n, nc)
        self.Y4 = self.inv.output.reshape(4, batch, n, n)
        # The product u*w_x + v*w_y is formed in place in u's slot of the
        # inverse output and transformed from there: one real buffer less in
        # cache.
        self.fwd = _fft.ForwardRFFT2(batch, n, nc, input=self.Y4[0], **kw)
        shape = (batch, nr, nc)
        cd = op.complex_dtype
        self.tmp = np.empty(shape, cd)
        self.e2v = np.empty(shape, cd)
        self.a = np.empty(shape, cd)
        self.acc = np.empty(shape, cd)
        self.qfv = np.empty(shape, cd)
        self.N = [np.empty(shape, cd) for _ in range(3)]
        self.mult4 = op._mult4
        self.split = op._split
        self.tail = n - (nr - op._split)  # FFT row of the first trailing state row
        self.compact = nr < n
        self.F = np.empty(shape, cd) if self.compact else None

    def advection(self, s, out=None):
        """Unnormalised FFT of ``u . grad(omega)`` for the state ``s`` (b, nrows, ncols).

        Returns ``out`` if given, else a buffer in the state layout that the
        next call overwrites.
        """
        X4, m4, k = self.X4, self.mult4, self.split
        # Spectra of (u, v, w_x, w_y) written straight into the inverse FFT's
        # input; its rows between the two blocks stay zero (never written, and
        # preserved by the transform).
        np.multiply(s[None, :, :k], m4[:, :, :k], out=X4[:, :, :k])
        if self.compact:
            np.multiply(s[None, :, k:], m4[:, :, k:], out=X4[:, :, self.tail :])
        self.inv.execute()
        Y = self.Y4
        # u*w_x + v*w_y, in place in Y[0], the forward transform's input.
        np.multiply(Y[0], Y[2], out=Y[0])
        np.multiply(Y[1], Y[3], out=Y[1])
        np.add(Y[0], Y[1], out=Y[0])
        F = self.fwd.execute()
        if not self.compact:
            if out is None:
                return F
            np.copyto(out, F)
            return out
        out = self.F if out is None else out
        np.copyto(out[:, :k], F[:, :k])
        np.copyto(out[:, k:], F[:, self.tail :])
        return out


class NavierStokes2D:
    r"""Batched pseudo-spectral solver of 2-D vorticity dynamics on a periodic square.

    Parameters
    ----------
    n : int
        Solver grid points per dimension (even, >= 8).
    length : float
        Domain side ``L``.
    viscosity : float
        Kinematic viscosity ``nu >= 0`` (0 gives the inviscid Galerkin system).
    drag : float
        Linear drag ``alpha >= 0``.
    forcing : None, array_like or callable
        Vorticity forcing ``f``: ``None``; an ``(n, n)`` field constant in time;
        or ``forcing(t) -> (n, n)`` array (evaluated at every stage; slower).
    stepper : {"etdrk4", "rk4cn", "fno-cn-euler"}
        Time integrator (see the module docstring).
    cfl : float
        Courant number ``dt max|u| / h`` of the adaptive step (default 0.5).
    dt : float or None
        Fixed time step instead of the adaptive one. Must divide every interval
        and satisfy ``dt <= CFL_LIMITS[stepper] * h / max|u|``.
    max_dt : float or None
        Cap on the adaptive step (the CFL step alone is unbounded for a fluid
        at rest: accuracy then rests on the scheme, exact for ``etdrk4`` while
        the advection vanishes).
    backend : str
        FFT backend (:func:`solvers._fft.resolve_backend`).
    threads : int
        Worker threads; each owns a single-threaded FFT plan and works on its
        own sub-batches, so results do not depend on the thread count.
    dtype : {"float64", "float32"}
        Working precision.
    block_size : int or None
        Samples per sub-batch (``None``: chosen from ``n`` to keep the working
        set cache-sized).
    planner : {"estimate", "measure", "patient"}
        FFTW planner effort (``estimate`` gives reproducible bits).

    Attributes
    ----------
    K : int
        Largest kept wavenumber (2/3 rule), ``(n - 1) // 3``.
    nrows, ncols : int
        Shape of one sample's state: ``2K + 1`` rows (``kx = 0..K, -K..-1``) by
        ``K + 1`` columns; ``n`` by ``n//2 + 1`` for ``fno-cn-euler``.
    h : float
        Grid spacing ``L / n``.
    linear : ndarray
        Diagonal linear operator ``-nu |k|^2 - alpha`` on the state layout.
    last_steps, last_speed : ndarray
        Substeps taken and final ``max|u|`` per sample in the last
        :meth:`advance`.

    Examples
    --------
    >>> op = NavierStokes2D(64, viscosity=1e-3, forcing=fno_forcing(64))
    >>> s0 = op.to_state(taylor_green_vorticity(64)[None])
    >>> out = op.solve(s0, [0.5, 1.0], n_out=32)
    >>> out["vorticity"].shape
    (1, 2, 32, 32)
    """

    def __init__(
        self,
        n,
        length=1.0,
        viscosity=1e-3,
        drag=0.0,
        forcing=None,
        stepper="etdrk4",
        cfl=0.5,
        dt=None,
        max_dt=None,
        backend="auto",
        threads=1,
        dtype="float64",
        block_size=None,
        planner="estimate",
    ):
        n = int(n)
        if n < 8 or n % 2:
            raise ValueError(f"solver resolution must be even and >= 8, got {n}")
        if stepper not in STEPPERS:
            raise ValueError(f"unknown stepper {stepper!r}; choose one of {', '.join(STEPPERS)}")
        if not (viscosity >= 0 and math.isfinite(viscosity)):
            raise ValueError(f"viscosity must be >= 0, got {viscosity!r}")
        if not (drag >= 0 and math.isfinite(drag)):
            raise ValueError(f"drag must be >= 0, got {drag!r}")
        if not (length > 0 and math.isfinite(length)):
            raise ValueError(f"length must be > 0, got {length!r}")
        if not (cfl > 0):
            raise ValueError(f"cfl must be > 0, got {cfl!r}")
        if dt is not None and not (dt > 0 and math.isfinite(dt)):
            raise ValueError(f"dt must be > 0, got {dt!r}")
        if max_dt is not None and not (max_dt > 0):
            raise ValueError(f"max_dt must be > 0, got {max_dt!r}")
        self.n = n
        self.length = float(length)
        self.h = self.length / n
        self.viscosity = float(viscosity)
        self.drag = float(drag)
        self.stepper = stepper
        self.cfl = float(cfl)
        self.cfl_limit = CFL_LIMITS[stepper]
        self.dt = None if dt is None else float(dt)
        self.max_dt = None if max_dt is None else float(max_dt)
        self.backend = _fft.resolve_backend(backend)
        self.threads = max(1, int(threads))
        self.real_dtype = np.dtype(dtype)
        self.complex_dtype = np.dtype(np.complex64 if self.real_dtype == np.float32 else np.complex128)
        self.planner = planner
        if block_size is None:
            # ~2 MiB of float64 per real field block: the four inverse outputs
            # and the product stay in cache between passes.
            block_size = max(1, min(64, (1 << 17) // (n * n)))
        self.block_size = int(block_size)

        self.fno_layout = stepper == "fno-cn-euler"
        self.K = dealias_cutoff(n)
        if self.fno_layout:
            # FNO's update works on the whole half spectrum.
            self.ncols = n // 2 + 1
            self._rows = np.arange(n)
        else:
            # Only the 2/3 square is ever non-zero: keep its rows
            # kx = 0..K, -K..-1 (FFT order) and columns ky = 0..K.
            self.ncols = self.K + 1
            self._rows = np.r_[0 : self.K + 1, n - self.K : n]
        self.nrows = len(self._rows)
        # Leading rows of the state sit at the top of the FFT layout, the
        # others at its bottom (rows n - (nrows - split) .. n - 1).
        self._split = self.K + 1 if not self.fno_layout else n
        kxi, kyi = _int_wavenumbers(n, self.ncols)
        kxi = kxi[self._rows]
        if self.fno_layout:
            # FNO's wavenumber arrays put the Nyquist index at -n/2 on both axes
            # and use the mask |k| <= (2/3)(n/2) on the nonlinear term only.
            kxi = np.where(kxi == n // 2, -n // 2, kxi)
            kyi = np.where(kyi == n // 2, -n // 2, kyi)
            kcut = 2.0 / 3.0 * (n // 2)
            self._nl_mask = ((np.abs(kxi) <= kcut) & (np.abs(kyi) <= kcut)).astype(float)
        else:
            self._nl_mask = np.ones((self.nrows, self.ncols))
        kx = (2 * np.pi / self.length) * kxi
        ky = (2 * np.pi / self.length) * kyi
        lam = kx**2 + ky**2
        self._kx, self._ky, self._lam = kx, ky, lam
        lam_safe = np.where(lam > 0, lam, 1.0)
        self._inv_lam = np.where(lam > 0, 1.0 / lam_safe, 0.0)
        # Multipliers from coefficients to (u, v, w_x, w_y); the inverse FFT is
        # unnormalised, which is exactly what coefficients need.
        full = np.zeros((self.nrows, self.ncols))
        kx, ky = kx + full, ky + full
        m4 = np.stack([1j * ky * self._inv_lam, -1j * kx * self._inv_lam, 1j * kx, 1j * ky])
        self._mult4 = np.ascontiguousarray(m4[:, None]).astype(self.complex_dtype)
        self.linear = -self.viscosity * lam - self.drag  # diagonal linear operator

        self._forcing_fn = None
        self._forcing_hat = None
        if callable(forcing):
            self._forcing_fn = forcing
        elif forcing is not None:
            f = np.asarray(forcing, dtype=float)
            if f.shape != (n, n):
                raise ValueError(f"forcing must have shape {(n, n)}, got {f.shape}")
            self._forcing_hat = self._project(_forward_coefficients(f)[None])[0]
        self._coef_cache = {}
        self._coef_lock = threading.Lock()
        self._local = threading.local()
        self._pool = None

    # ---------------------------------------------------------------- helpers
    def _project(self, coef):
        """Coefficients ``(B, m, m//2+1)`` (any ``m``) -> state ``(B, nrows, ncols)``."""
        coef = np.asarray(coef)
        if coef.shape[-2] != self.n:
            coef = spectral_resample(coef, self.n)
        out = np.zeros(coef.shape[:-2] + (self.nrows, self.ncols), self.complex_dtype)
        nc = min(self.ncols, coef.shape[-1])
        out[..., :nc] = coef[..., self._rows, :nc]
        return out

    def expand(self, state):
        """State ``(B, nrows, ncols)`` -> coefficients ``(B, n, n//2+1)`` (``rfft2(w)/n**2``)."""
        state = np.asarray(state)
        out = np.zeros(state.shape[:-2] + (self.n, self.n // 2 + 1), np.complex128)
        out[..., self._rows, : self.ncols] = state
        return out

    def _forcing_at(self, t):
        if self._forcing_fn is not None:
            f = np.asarray(self._forcing_fn(t), dtype=float)
            return self._project(_forward_coefficients(f)[None])[0]
        return self._forcing_hat

    def to_state(self, w):
        """State (masked Fourier coefficients) of physical vorticity fields.

        Parameters
        ----------
        w : array_like
            ``(B, m, m)`` vorticity on any even grid ``m`` (resampled spectrally).

        Returns
        -------
        ndarray, shape (B, nrows, ncols), complex
            Coefficients ``rfft2(w)/n**2`` on the kept rows (``kx = 0..K,
            -K..-1``) and columns (``ky = 0..K``) of the 2/3 square (the whole
            half spectrum for ``fno-cn-euler``).
        """
        w = np.asarray(w, dtype=float)
        if w.ndim == 2:
            w = w[None]
        return self._project(_forward_coefficients(w, self.backend, self.threads))

    def from_coefficients(self, coef):
        """State from ``rfft2(w)/m**2`` coefficients on any grid ``(B, m, m//2+1)``."""
        return self._project(np.asarray(coef))

    def vorticity(self, state, n_out=None):
        """Physical vorticity ``(B, n_out, n_out)`` (spectral truncation / padding)."""
        n_out = self.n if n_out is None else int(n_out)
        return _physical(self.expand(state), n_out, self.backend, self.threads)

    def velocity(self, state, n_out=None):
        """Physical velocity ``(B, 2, n_out, n_out)`` with components ``(u, v)``."""
        n_out = self.n if n_out is None else int(n_out)
        s = np.asarray(state, dtype=np.complex128)
        psi = s * self._inv_lam
        u = _physical(self.expand(1j * self._ky * psi), n_out, self.backend, self.threads)
        v = _physical(self.expand(-1j * self._kx * psi), n_out, self.backend, self.threads)
        return np.stack([u, v], axis=1)

    def max_speed(self, state):
        """Largest speed ``max |u|`` on the solver grid, per sample ``(B,)``."""
        vel = self.velocity(state)
        return np.sqrt(vel[:, 0] ** 2 + vel[:, 1] ** 2).reshape(len(vel), -1).max(-1)

    def _weights(self):
        w = np.full(self.ncols, 2.0)
        w[0] = 1.0
        if self.ncols == self.n // 2 + 1:
            w[-1] = 1.0
        return w

    def energy(self, state):
        r"""Mean kinetic energy :math:`\tfrac12\overline{|u|^2} = \tfrac12\sum|\hat\omega_k|^2/|k|^2`."""
        s = np.asarray(state)
        return 0.5 * np.sum(self._weights() * np.abs(s) ** 2 * self._inv_lam, axis=(-2, -1))

    def enstrophy(self, state):
        r"""Mean enstrophy :math:`\tfrac12\overline{\omega^2} = \tfrac12\sum|\hat\omega_k|^2`."""
        s = np.asarray(state)
        return 0.5 * np.sum(self._weights() * np.abs(s) ** 2, axis=(-2, -1))

    # ----------------------------------------------------------- coefficients
    def _coefficients(self, dt):
        key = float(dt)
        with self._coef_lock:
            c = self._coef_cache.get(key)
        if c is not None:
            return c
        cd = self.complex_dtype
        n2 = float(self.n) ** 2
        nl = -self._nl_mask / n2  # N = -mask * FFT(u.grad w) / n^2 + f
        fh = self._forcing_hat
        if self.stepper == "etdrk4":
            E, E2, Q, f1, f2, f3 = etdrk4_coefficients(self.linear, dt)
            c = {
                "E": E.astype(cd),
                "E2": E2.astype(cd),
                "Qn": (Q * nl).astype(cd),
                "Qn2": (2 * Q * nl).astype(cd),
                "F1": (f1 * nl).astype(cd),
                "F2": (2 * f2 * nl).astype(cd),
                "F3": (f3 * nl).astype(cd),
                "Q": Q,
                "f1": f1,
                "f2": f2,
                "f3": f3,
            }
            if fh is not None:
                # Constant forcing: its ETDRK4 contributions are Q f in each
                # stage and phi_1(L dt) dt f = (f1 + 4 f2 + f3) f in the update.
                phi1 = phi_functions(self.linear * dt)[0] * dt
                c["Qf"] = (Q * fh).astype(cd)
                c["Ff"] = (phi1 * fh).astype(cd)
        elif self.stepper == "rk4cn":
            stages = []
            for k in range(5):
                mu = 0.5 * dt * (_CK_C[k + 1] - _CK_C[k])
                den = 1.0 - mu * self.linear
                stages.append(
                    (
                        ((1.0 + mu * self.linear) / den).astype(cd),
                        (_CK_B[k] * dt / den).astype(cd),
                    )
                )
            c = {"stages": stages, "nl": nl.astype(cd)}
        else:
            den = 1.0 + 0.5 * dt * (self.viscosity * self._lam + self.drag)
            c = {
                "A": ((1.0 - 0.5 * dt * (self.viscosity * self._lam + self.drag)) / den).astype(cd),
                "B": (dt * nl / den).astype(cd),
                "D": dt / den,
            }
            if fh is not None:
                c["C"] = (dt * fh / den).astype(cd)
        with self._coef_lock:
            if len(self._coef_cache) > 32:
                self._coef_cache.clear()
            self._coef_cache[key] = c
        return c

    # ----------------------------------------------------------------- steps
    def _workspace(self, batch):
        cache = getattr(self._local, "ws", None)
        if cache is None:
            cache = self._local.ws = {}
        ws = cache.get(batch)
        if ws is None:
            ws = cache[batch] = _Workspace(self, batch)
        return ws

    def _steps_block(self, s, nsteps, dt, t0):
        """Advance one sub-batch ``s`` (b, n, ncols) in place by ``nsteps`` steps."""
        ws = self._workspace(s.shape[0])
        c = self._coefficients(dt)
        step = {"etdrk4": self._etdrk4, "rk4cn": self._rk4cn, "fno-cn-euler": self._cn_euler}[self.stepper]
        # A blow-up is reported by advance() with the sample index; the
        # floating-point warnings on the way there would only be noise.
        with np.errstate(over="ignore", invalid="ignore"):
            for i in range(nsteps):
                step(ws, s, c, t0 + i * dt, dt)
        return s

    def _etdrk4(self, ws, v, c, t, dt):
        # One Cox-Matthews step (formulas in solvers._etd), arranged for the
        # fewest passes over the arrays: N(v), N(a) and N(b) are kept in their
        # own buffers (the copy out of the FFT layout is needed anyway) so the
        # final combination needs F2*(N(a) + N(b)) once. Qn = -Q*mask/n^2 etc.
        # fold the FFT normalisation and the sign of the advection in.
        b = v.shape[0]
        tmp, e2v, a, acc, qfv = ws.tmp[:b], ws.e2v[:b], ws.a[:b], ws.acc[:b], ws.qfv[:b]
        Nv, Na, Nb = ws.N[0][:b], ws.N[1][:b], ws.N[2][:b]
        timedep = self._forcing_fn is not None
        const_f = "Qf" in c
        if timedep:
            f0, fh, f1_ = self._forcing_at(t), self._forcing_at(t + dt / 2), self._forcing_at(t + dt)
        ws.advection(v, out=Nv)
        np.multiply(v, c["E2"], out=e2v)
        if const_f:
            e2v += c["Qf"]  # every stage sees Q f; fold it in once
        np.multiply(Nv, c["Qn"], out=qfv)
        np.add(e2v, qfv, out=a)  # a = E2 v + Q N(v)
        if timedep:
            a += c["Q"] * f0
        ws.advection(a, out=Na)
        np.multiply(Na, c["Qn"], out=tmp)
        e2v += tmp  # e2v now holds b = E2 v + Q N(a)
        if timedep:
            e2v += c["Q"] * fh
        ws.advection(e2v, out=Nb)
        # c = E2 a + Q (2 N(b) - N(v))
        np.multiply(a, c["E2"], out=a)
        np.multiply(Nb, c["Qn2"], out=tmp)
        a += tmp
        a -= qfv
        if const_f:
            a += c["Qf"]
        elif timedep:
            a += c["Q"] * (2 * fh - f0)
        Nc = ws.advection(a)
        # v <- E v + f1 N(v) + 2 f2 (N(a) + N(b)) + f3 N(c)
        v *= c["E"]
        np.multiply(Nv, c["F1"], out=acc)
        v += acc
        Na += Nb
        Na *= c["F2"]
        v += Na
        np.multiply(Nc, c["F3"], out=acc)
        v += acc
        if const_f:
            v += c["Ff"]
        elif timedep:
            v += c["f1"] * f0 + 4 * c["f2"] * fh + c["f3"] * f1_

    def _rk4cn(self, ws, u, c, t, dt):
        b = u.shape[0]
        h, tmp = ws.acc[:b], ws.tmp[:b]
        nl = c["nl"]
        for k, (A, B) in enumerate(c["stages"]):
            F = ws.advection(u)
            if k == 0:
                np.multiply(F, nl, out=h)
            else:
                h *= _CK_A[k]
                np.multiply(F, nl, out=tmp)
                h += tmp
            f = self._forcing_at(t + _CK_C[k] * dt)
            if f is not None:
                h += f
            # u <- (u + gamma dt h + mu L u) / (1 - mu L)
            u *= A
            np.multiply(h, B, out=tmp)
            u += tmp

    def _cn_euler(self, ws, w, c, t, dt):
        b = w.shape[0]
        tmp = ws.tmp[:b]
        F = ws.advection(w)
        w *= c["A"]
        np.multiply(F, c["B"], out=tmp)
        w += tmp
        if "C" in c:
            w += c["C"]
        elif self._forcing_fn is not None:
            w += (c["D"] * self._forcing_at(t)).astype(self.complex_dtype)

    def _block(self, count):
        """Samples per block for ``count`` samples: cache-sized, and small
        enough to give every worker thread a block."""
        return max(1, min(self.block_size, -(-count // self.threads)))

    def _run_blocks(self, jobs):
        """Run ``(block, nsteps, dt, t0)`` jobs, in parallel over threads."""
        if self.threads == 1 or len(jobs) == 1:
            for job in jobs:
                self._steps_block(*job)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="opkit-ns")
        for fut in [self._pool.submit(self._steps_block, *job) for job in jobs]:
            fut.result()

    def close(self):
        """Shut the worker threads down (also done at garbage collection)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    #: Nonlinear-term evaluations (each 4 inverse + 1 forward real FFT) per step.
    EVALUATIONS = {"etdrk4": 4, "rk4cn": 5, "fno-cn-euler": 1}

    def _transforms_block(self, s, nsteps):
        ws = self._workspace(s.shape[0])
        for _ in range(nsteps * self.EVALUATIONS[self.stepper]):
            ws.inv.execute()
            ws.fwd.execute()
        return s

    def transforms_only(self, state, nsteps=1):
        """Run only the FFTs that :meth:`step` would run (for benchmarks).

        Same blocks, workspaces, plans and threads as :meth:`step`, none of
        the element-wise work: timing both gives the FFT share of a step.

        Parameters
        ----------
        state : ndarray
            ``(B, n, ncols)``; only its length matters.
        nsteps : int
            Number of steps whose transforms are run.
        """
        bs = self._block(len(state))
        blocks = [np.empty((len(state[i : i + bs]),) + (0,)) for i in range(0, len(state), bs)]
        if self.threads == 1 or len(blocks) == 1:
            for blk in blocks:
                self._transforms_block(blk, int(nsteps))
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="opkit-ns")
        for fut in [self._pool.submit(self._transforms_block, blk, int(nsteps)) for blk in blocks]:
            fut.result()

    def step(self, state, dt, nsteps=1, t0=0.0):
        """Advance every sample by ``nsteps`` fixed steps of ``dt`` (no CFL check).

        Parameters
        ----------
        state : ndarray
            ``(B, n, ncols)`` state; not modified.
        dt : float
            Time step.
        nsteps : int
            Number of steps.
        t0 : float
            Start time (used by time-dependent forcing).

        Returns
        -------
        ndarray
            New state.
        """
        s = np.array(state, dtype=self.complex_dtype, copy=True)
        bs = self._block(len(s))
        blocks = [s[i : i + bs] for i in range(0, len(s), bs)]
        self._run_blocks([(blk, int(nsteps), float(dt), float(t0)) for blk in blocks])
        return s

    def substeps(self, speed, interval):
        """Substep count per sample for an interval (adaptive or fixed ``dt``).

        Parameters
        ----------
        speed : ndarray
            ``max|u|`` per sample.
        interval : float
            Interval length.

        Returns
        -------
        ndarray of int
        """
        speed = np.asarray(speed, dtype=float)
        if self.dt is not None:
            n = round(interval / self.dt)
            if n < 1 or abs(n * self.dt - interval) > 1e-9 * interval:
                raise ValueError(f"fixed dt={self.dt:g} does not divide the interval {interval:g}")
            return np.full(speed.shape, n, dtype=int)
        with np.errstate(divide="ignore"):
            dt_cfl = np.where(speed > 0, self.cfl * self.h / np.where(speed > 0, speed, 1.0), np.inf)
        if self.max_dt is not None:
            dt_cfl = np.minimum(dt_cfl, self.max_dt)
        n = np.ceil(interval / dt_cfl - 1e-12).astype(np.int64)
        return np.array([_quantise_steps(k) for k in np.maximum(n, 1)], dtype=int)

    def advance(self, state, t0, t1, sample_ids=None, describe=None, speed=None):
        """Advance each sample from ``t0`` to ``t1`` with its own CFL-based step.

        Parameters
        ----------
        state : ndarray
            ``(B, nrows, ncols)``; not modified.
        t0, t1 : float
            Interval.
        sample_ids : sequence of int, optional
            Global sample indices, for error messages.
        describe : str, optional
            Parameter summary for error messages.
        speed : ndarray, optional
            ``max|u|`` of ``state`` per sample if already known (as left in
            ``last_speed`` by the previous call); computed otherwise.

        Returns
        -------
        ndarray
            New state. ``last_steps`` and ``last_speed`` then hold the substeps
            taken and the final ``max|u|`` of every sample.

        Raises
        ------
        ValueError
            A fixed ``dt`` above the CFL limit (the message gives ``dt_max``).
        solvers._spec.BlowUpError
            A sample turned non-finite even with a much smaller step.
        """
        interval = float(t1) - float(t0)
        s_in = np.asarray(state, dtype=self.complex_dtype)
        B = len(s_in)
        ids = np.arange(B) if sample_ids is None else np.asarray(sample_ids)
        speed = self.max_speed(s_in) if speed is None else np.asarray(speed, dtype=float)
        nsub = self.substeps(speed, interval)
        if self.dt is not None:
            self._check_fixed_dt(speed, ids, t0, describe)
        out = np.empty_like(s_in)
        end_speed = np.zeros(B)
        todo = np.arange(B)
        for _attempt in range(6):
            jobs = []
            work = np.array(s_in[todo], copy=True)
            # Samples with the same substep count share coefficients and move
            # as sub-batches; each sample's arithmetic is the same whatever
            # its group, so no result depends on its batch-mates.
            order = np.argsort(nsub[todo], kind="stable")
            todo, work = todo[order], work[order]
            for level in np.unique(nsub[todo]):
                pos = np.flatnonzero(nsub[todo] == level)
                bs = self._block(len(pos))
                for i in range(pos[0], pos[-1] + 1, bs):
                    j = min(i + bs, pos[-1] + 1)
                    jobs.append((work[i:j], int(level), interval / level, float(t0)))
            self._run_blocks(jobs)
            out[todo] = work
            finite = np.isfinite(work.view(self.real_dtype)).reshape(len(work), -1).all(-1)
            if finite.any():
                end_speed[todo[finite]] = self.max_speed(work[finite])
            ok = finite.copy()
            if self.dt is None:
                # Courant number reached at the end of the interval.
                ok &= end_speed[todo] * (interval / nsub[todo]) / self.h <= self.cfl_limit
            bad = todo[~ok]
            if not len(bad):
                self.last_steps = nsub
                self.last_speed = end_speed
                return out
            if self.dt is not None:
                break
            need = self.substeps(np.maximum(speed[bad], np.where(np.isfinite(end_speed[bad]), end_speed[bad], 0)), interval)
            nsub[bad] = np.maximum(need, nsub[bad] * 2)
            todo = bad
        self._raise_blowup(ids[bad], t0, t1, describe)

    def _check_fixed_dt(self, speed, ids, t, describe):
        with np.errstate(divide="ignore"):
            dt_max = np.where(speed > 0, self.cfl_limit * self.h / np.where(speed > 0, speed, 1), np.inf)
        viol = np.nonzero(self.dt > dt_max)[0]
        if len(viol):
            i = viol[np.argmin(dt_max[viol])]
            raise ValueError(
                f"fixed dt={self.dt:g} violates the CFL limit of stepper {self.stepper!r}: "
                f"dt_max = {self.cfl_limit:g} * h / max|u| = {dt_max[i]:.4g} for sample {int(ids[i])} "
                f"at t={t:g} (h={self.h:.4g}, max|u|={speed[i]:.4g}); use dt <= {dt_max[i]:.4g} "
                f"or the adaptive step (dt unset)" + (f" [{describe}]" if describe else "")
            )

    def _raise_blowup(self, bad_ids, t0, t1, describe):
        ids = ", ".join(str(int(i)) for i in bad_ids)
        raise BlowUpError(
            f"Navier-Stokes solution became non-finite (NaN/inf) for sample(s) {ids} between t={t0:g} and "
            f"t={t1:g}: stepper={self.stepper}, n={self.n}, viscosity={self.viscosity:g}, drag={self.drag:g}, "
            f"cfl={self.cfl:g}, dt={self.dt if self.dt is not None else 'adaptive'}"
            + (f"; parameters: {describe}" if describe else "")
        )

    def solve(self, state, times, t0=0.0, n_out=None, velocity=False, sample_ids=None, describe=None):
        """Integrate and record snapshots.

        Parameters
        ----------
        state : ndarray
            Initial state ``(B, n, ncols)`` at time ``t0``.
        times : sequence of float
            Increasing recording times ``> t0``.
        t0 : float
            Initial time.
        n_out : int, optional
            Output grid (spectral truncation); default the solver grid.
        velocity : bool
            Also return velocities.
        sample_ids, describe
            For error messages (see :meth:`advance`).

        Returns
        -------
        dict
            ``"vorticity"``: ``(B, T, n_out, n_out)`` float64; ``"velocity"``:
            ``(B, T, 2, n_out, n_out)`` when asked; ``"state"``: final state;
            ``"steps"``: time steps taken per sample.
        """
        times = [float(t) for t in times]
        if any(b <= a for a, b in zip([t0] + times[:-1], times)):
            raise ValueError(f"recording times must increase from t0={t0}: {times}")
        n_out = self.n if n_out is None else int(n_out)
        B = len(state)
        w = np.empty((B, len(times), n_out, n_out))
        vel = np.empty((B, len(times), 2, n_out, n_out)) if velocity else None
        s, t = np.asarray(state, dtype=self.complex_dtype), float(t0)
        steps = np.zeros(B, dtype=np.int64)
        speed = None
        for j, t1 in enumerate(times):
            s = self.advance(s, t, t1, sample_ids=sample_ids, describe=describe, speed=speed)
            steps += self.last_steps
            speed = self.last_speed
            t = t1
            w[:, j] = self.vorticity(s, n_out)
            if velocity:
                vel[:, j] = self.velocity(s, n_out)
        out = {"vorticity": w, "state": s, "steps": steps}
        if velocity:
            out["velocity"] = vel
        return out


# --------------------------------------------------------------------------
# Data generation glue (solvers._spec contract)
# --------------------------------------------------------------------------

PDE = "w_t + u . grad(w) = nu Lap(w) - alpha w + f,  -Lap(psi) = w,  u = (psi_y, -psi_x)"
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
    for key, val, low in (("resolution", res, 8), ("solver_resolution", sres, 8), ("ic_resolution", mres, 8)):
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
            {"long_name": f"vorticity at t = {params['t_start']:g}", "units": "1", "opkit_role": "input"},
        ),
        "w": (("sample", "time", "x", "y"), res["vorticity"], {"long_name": "vorticity", "units": "1", "opkit_role": "output"}),
    }
    if params["velocity"]:
        coords["component"] = ("component", np.array(["u", "v"]), {"long_name": "velocity component"})
        data["velocity"] = (
            ("sample", "time", "x", "y", "component"),
            np.moveaxis(res["velocity"], 2, -1),
            {"long_name": "velocity (u, v) = (psi_y, -psi_x)", "units": "1", "opkit_role": "output"},
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
        "bc_x": "periodic",
        "bc_y": "periodic",
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
            f"spectral truncation to |kx|,|ky| < {m // 2} (Nyquist dropped); points x_j = j*{L:g}/{m}"
        ),
    }
    attrs.update(_fft.backend_info(params["backend"], params["threads"]))
    return attrs


SOLVER = SolverSpec(
    name="navier_stokes",
    title="2-D incompressible Navier-Stokes in vorticity form on a periodic square (pseudo-spectral)",
    pde=PDE,
    parameters=(
        Parameter("resolution", 64, "1", "Stored grid points per dimension (even, >= 8, <= solver_resolution).", int),
        Parameter("solver_resolution", 128, "1", "Grid points per dimension of the spectral solve (even).", int),
        Parameter("length", 1.0, "1", "Side L of the periodic square [0, L)^2.", float),
        Parameter("viscosity", 1e-3, "1", "Kinematic viscosity nu (> 0).", float),
        Parameter("drag", 0.0, "1", "Linear drag alpha (>= 0).", float),
        Parameter("forcing", "fno", "1", "Vorticity forcing.", str, FORCINGS),
        Parameter(
            "forcing_amplitude", 0.1, "1",
            "Amplitude: a in FNO's a(sin 2pi(x+y) + cos 2pi(x+y)); chi in Kolmogorov's velocity force chi sin(k y).",
            float,
        ),
        Parameter("forcing_wavenumber", 4, "1", "Kolmogorov forcing periods across the box.", int),
        Parameter("initial_condition", "grf", "1", "Law of the initial vorticity.", str, INITIAL_CONDITIONS),
        Parameter("grf_alpha", 2.5, "1", "GRF exponent alpha of sigma^2 (-Lap + tau^2)^(-alpha).", float),
        Parameter("grf_tau", 7.0, "1", "GRF inverse length scale tau.", float),
        Parameter("grf_sigma", None, "1", "GRF amplitude sigma (unset: FNO's sqrt(2) tau^(alpha-1)).", float),
        Parameter("peak_wavenumber", 4.0, "1", "Spectral peak (units of 2pi/L) of mcwilliams / filtered_velocity.", float),
        Parameter("max_velocity", 5.0, "1", "Maximum speed of the filtered_velocity initial condition.", float),
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
)


if __name__ == "__main__":
    raise SystemExit(run_cli(SOLVER))

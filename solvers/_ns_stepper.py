"""Time steppers of :mod:`solvers.navier_stokes`: the batched solver class.

:class:`NavierStokes2D` holds the state (Fourier coefficients on the 2/3-rule
square), the per-``dt`` coefficient sets of each stepper, the per-thread FFT
workspaces and the adaptive CFL step; the module docstring of
:mod:`solvers.navier_stokes` describes the method.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np

from . import _fft
from ._etd import etdrk4_coefficients, phi_functions
from ._ns_spectral import _forward_coefficients, _int_wavenumbers, _physical, dealias_cutoff, spectral_resample
from ._spec import BlowUpError

STEPPERS = ("etdrk4", "rk4cn", "fno-cn-euler")

#: Largest Courant number :math:`\Delta t \max|u| / h` each stepper accepts
#: (the adaptive step redoes an interval whose final Courant number exceeds it).
#: Linear analysis gives a floor, not the limit: a uniform diagonal flow has
#: advection eigenvalues up to :math:`\sqrt2\,2\pi K/n \approx 2.92` times the
#: Courant number at ``n = 64`` (2.96 as ``n`` grows), and the imaginary-axis
#: stability radius is :math:`2\sqrt2` for ETDRK4 (RK4's polynomial while the
#: linear part is small) and 3.34 for the Carpenter--Kennedy RK4(5) of
#: ``rk4cn``, i.e. 0.97 and 1.15. Measured on the presets' flows (adaptive
#: step, no redo): ETDRK4 stays stable to 1.7 on ``fno-ns-v1e-3`` (64^2) and to
#: 1.2 but not 1.4 on ``kolmogorov`` (256^2, float32 and float64); rk4cn to 1.4
#: on both. The caps sit between the linear floor and those measurements; the
#: end-of-interval check catches the rest. Forward Euler has no imaginary-axis
#: stability and FNO's step is about :math:`0.03 h/\max|u|`: 0.25 is a guard.
CFL_LIMITS = {"etdrk4": 1.3, "rk4cn": 1.5, "fno-cn-euler": 0.25}

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

        ``b`` may be smaller than the workspace's batch (the samples of a
        block that still have steps to take). Returns ``out`` if given, else a
        buffer in the state layout that the next call overwrites.
        """
        b = s.shape[0]
        X4, m4, k = self.X4[:, :b], self.mult4, self.split
        # Spectra of (u, v, w_x, w_y) written straight into the inverse FFT's
        # input; its rows between the two blocks stay zero (never written, and
        # preserved by the transform).
        np.multiply(s[None, :, :k], m4[:, :, :k], out=X4[:, :, :k])
        if self.compact:
            np.multiply(s[None, :, k:], m4[:, :, k:], out=X4[:, :, self.tail :])
        # Inverse transforms, u*w_x + v*w_y in place in Y[0] (the forward
        # transform's input), forward transform.
        F = self._inverse_then(b, self.Y4[:, :b])
        if not self.compact:
            if out is None:
                return F
            np.copyto(out, F)
            return out
        out = self.F[:b] if out is None else out
        np.copyto(out[:, :k], F[:, :k])
        np.copyto(out[:, k:], F[:, self.tail :])
        return out

    def _inverse_then(self, b, Y):
        """Transforms of the first ``b`` samples of the buffers (rows past
        ``b`` are left alone); plans of a fixed size (pyFFTW, torch, numpy)
        transform the whole buffer, whose rows past ``b`` hold stale values
        nobody reads."""
        if b == self.batch or self.inv._pp is None or self.fwd._pp is None:
            self.inv.execute()
            self._product(Y)
            F = self.fwd.execute()
            return F if b == self.batch else F[:b]
        pp, n, nc = self.inv._pp, self.inv.n, self.inv.ncols
        mid = self.inv._mid.reshape(4, self.batch, n, -1)
        pp.c2c(self.X4[:, :b], axes=(2,), forward=False, inorm=0, out=mid[:, :b, :, :nc], nthreads=1)
        pp.c2r(mid[:, :b], axes=(3,), lastsize=n, forward=False, inorm=0, out=Y, nthreads=1)
        self._product(Y)
        half = self.fwd._half[:b]
        pp.r2c(Y[0], axes=(2,), forward=True, inorm=0, out=half, nthreads=1)
        pp.c2c(half[:, :, :nc], axes=(1,), forward=True, inorm=0, out=self.fwd.output[:b], nthreads=1)
        return self.fwd.output[:b]

    @staticmethod
    def _product(Y):
        np.multiply(Y[0], Y[2], out=Y[0])
        np.multiply(Y[1], Y[3], out=Y[1])
        np.add(Y[0], Y[1], out=Y[0])


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
        Samples per sub-batch (``None``: chosen from ``n`` and ``dtype`` to keep the working
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
            # 512 KiB for the four inverse outputs (half the 1 MiB L2 of the
            # machine it was measured on), so they stay in cache between the
            # passes: per sample and step, float32 at 64^2 costs 190 us in
            # blocks of 8 against 215 in blocks of 32, float64 290 us in
            # blocks of 4 against 474 in blocks of 32, float32 at 256^2
            # 3.1 ms alone against 3.5 ms in pairs (process time, loaded
            # 2-core EPYC).
            block_size = max(1, min(64, (1 << 17) // (n * n * self.real_dtype.itemsize)))
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
        """Largest speed ``max |u|`` on the solver grid, per sample ``(B,)``.

        The same values as from :meth:`velocity` (the same products and
        transforms), with both components in one transform call and no
        intermediate resampled copies.
        """
        s = np.asarray(state, dtype=np.complex128)
        n = self.n
        psi = s * self._inv_lam
        spec = np.zeros((len(s), 2, n, n // 2 + 1), np.complex128)
        spec[:, 0, self._rows, : self.ncols] = 1j * self._ky * psi
        spec[:, 1, self._rows, : self.ncols] = -1j * self._kx * psi
        if self.ncols == n // 2 + 1:
            # what spectral_resample drops on the solver grid: the Nyquist modes
            spec[:, :, n // 2, :] = 0
            spec[:, :, :, n // 2] = 0
        spec *= n * n
        vel = _fft.irfft2(spec, (n, n), backend=self.backend, threads=self.threads)
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

    #: Coefficients of ``etdrk4`` that a block of samples with different
    #: steps stacks per sample (constant or no forcing).
    _STACKED = ("E", "E2", "Qn", "Qn2", "F1", "F2", "F3", "Qf", "Ff")

    def _mixed_ok(self):
        """Whether samples with different step counts may share a block."""
        return self.stepper == "etdrk4" and self._forcing_fn is None

    def _steps_mixed(self, s, levels, interval, t0):
        """Advance a block ``s`` whose sample ``i`` takes ``levels[i]`` steps
        of ``interval / levels[i]`` (``levels`` non-increasing).

        Every sample is stepped with its own coefficients (stacked along the
        batch axis); after step ``j`` only the leading samples with
        ``levels > j`` go on, so the active ones are always a prefix of the
        block. A sample sees exactly the arithmetic of a block of its own
        level: the same coefficient values, element-wise operations and
        per-sample transforms.
        """
        levels = np.asarray(levels)
        if levels[0] == levels[-1]:
            return self._steps_block(s, int(levels[0]), interval / int(levels[0]), t0)
        ws = self._workspace(s.shape[0])
        sets = {int(m): self._coefficients(interval / int(m)) for m in np.unique(levels)}
        keys = [k for k in self._STACKED if k in sets[int(levels[0])]]
        full = {k: np.stack([sets[int(m)][k] for m in levels]) for k in keys}
        counts = [(int(m), int(np.count_nonzero(levels >= m))) for m in np.unique(levels)]
        with np.errstate(over="ignore", invalid="ignore"):
            start = 0
            for stop, b in counts:
                # Steps start..stop-1 are taken by the b leading samples
                # (t only feeds time-dependent forcing, absent here).
                c = {k: v[:b] for k, v in full.items()}
                v = s[:b]
                for _ in range(start, stop):
                    self._etdrk4(ws, v, c, t0, None)
                start = stop
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

    def _run_blocks(self, jobs, runner=None):
        """Run ``runner(*job)`` for every job (default :meth:`_steps_block`,
        jobs ``(block, nsteps, dt, t0)``), in parallel over threads."""
        runner = self._steps_block if runner is None else runner
        if self.threads == 1 or len(jobs) == 1:
            for job in jobs:
                runner(*job)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="opkit-ns")
        for fut in [self._pool.submit(runner, *job) for job in jobs]:
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
        n = np.ceil(np.minimum(interval / dt_cfl, 2.0**40) - 1e-12).astype(np.int64)
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
            # Each sample's arithmetic is the same whatever its block (its
            # own step, coefficients and transforms), so no result depends on
            # its batch-mates.
            if self._mixed_ok():
                # Cache-sized blocks of the samples sorted by decreasing step
                # count, whatever their levels: each sample runs with its own
                # coefficients, and one that has reached its count drops out
                # (see _steps_mixed).
                order = np.argsort(-nsub[todo], kind="stable")
                todo, work = todo[order], work[order]
                bs = self._block(len(todo))
                for i in range(0, len(todo), bs):
                    jobs.append((work[i : i + bs], nsub[todo[i : i + bs]], interval, float(t0)))
                runner = self._steps_mixed
            else:
                order = np.argsort(nsub[todo], kind="stable")
                todo, work = todo[order], work[order]
                for level in np.unique(nsub[todo]):
                    pos = np.flatnonzero(nsub[todo] == level)
                    bs = self._block(len(pos))
                    for i in range(pos[0], pos[-1] + 1, bs):
                        j = min(i + bs, pos[-1] + 1)
                        jobs.append((work[i:j], int(level), interval / level, float(t0)))
                runner = self._steps_block
            self._run_blocks(jobs, runner)
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
            # At least twice the steps; at most eight times per attempt, so a
            # sample whose speed exploded (finite but huge) ends in a
            # BlowUpError after a few attempts instead of an endless interval.
            nsub[bad] = np.minimum(np.maximum(need, nsub[bad] * 2), nsub[bad] * 8)
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

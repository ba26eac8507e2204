r"""2-D Allen--Cahn equation on a periodic square (Poseidon's ACE).

.. math:: u_t = \Delta u - \varepsilon^2 u(u^2 - 1) \ \text{on}\ [0, 1)^2\ \text{periodic},

with :math:`\varepsilon = 220` and the random sine series

.. math:: u_0 = \frac{1}{K^2}\sum_{i,j=1}^{K} a_{ij}(i^2 + j^2)^{-r}\sin(\pi i x)\sin(\pi j y),

:math:`K \sim U\{16, \dots, 32\}`, :math:`r \sim U[0.7, 1]`,
:math:`a_{ij} \sim U[-1, 1]`; 20 snapshots on :math:`[0, T]`,
:math:`T = 2\cdot10^{-4}`. Run ``python -m solvers.allen_cahn --help``.
Odd-:math:`i` modes are not periodic on the unit square (their slope jumps
across the boundary), and the interface width :math:`\sqrt2/\varepsilon =
0.0064` is below the stored grid's spacing :math:`1/128`: both are properties
of the published set, kept on purpose.

Method
------
Fourier pseudo-spectral in space, ETDRK4 in time (Cox--Matthews scheme,
Kassam--Trefethen contour coefficients from :mod:`solvers._etd`) with the
stabilised splitting

.. math:: u_t = \underbrace{(\Delta - \kappa)u}_{\text{exact}}
          + \underbrace{\varepsilon^2(u - u^3) + \kappa u}_{\text{explicit}},
          \qquad \kappa = \texttt{stabilization}\cdot\varepsilon^2 .

With the default ``stabilization = 2`` the explicit part's derivative
:math:`\varepsilon^2(3 - 3u^2)` vanishes in the pure phases :math:`u = \pm1`,
where the unsplit form (linear part :math:`\Delta + \varepsilon^2`, explicit
:math:`-\varepsilon^2u^3`) is stiff (:math:`-3\varepsilon^2`). The cube
can be dealiased by zero-padding to twice the grid (``dealias``), the exact
rule for a cubic; on the ACE data at 256² this changes the result by about
1e-6 relative (5e-5 at most, against 3e-4 from the 512² solve) and costs 5-10
times more, so it is off by default. The solve
grid is stored at a stride (point values: no Gibbs ringing is added by the
output); left unset, ``solver_resolution`` is the coarsest even multiple of
``resolution`` with at least 256 points (256 for the default 128), so any
``resolution >= 3`` works. The time step divides the recording
interval and is at most ``max_dt``.

Output: ``u0(sample, x, y)`` (input), ``u(sample, time, x, y)`` (output,
``u[:, 0] == u0``), plus ``n_modes`` and ``decay_exponent`` (:math:`K`, :math:`r`)
per sample. Preset ``pdegym-ace``.
"""

from __future__ import annotations

import math

import numpy as np

from ._cli import run_cli
from ._etd import etdrk4_coefficients
from ._grids import DefaultSolveGrid
from ._lazy import lazy_module
from ._spec import BlowUpError, Parameter, SolverSpec
from .burgers import etdrk4_step

xr = lazy_module("xarray")
scipy = lazy_module("scipy")  # its submodules load on attribute access

__all__ = [
    "SOLVER",
    "AllenCahn",
    "free_energy",
    "generate",
    "global_attrs",
    "sine_series",
    "solve",
    "tanh_profile",
    "validate",
]

PDE = "u_t = Lap u - eps^2 u (u^2 - 1) on [0, 1)^2 periodic"
#: Fewest solve points per dimension when ``solver_resolution`` is unset (twice Poseidon's 128).
MIN_SOLVER_RESOLUTION = 256


def tanh_profile(x, epsilon, x0):
    r"""The stationary interface :math:`\tanh(\varepsilon(x - x_0)/\sqrt2)` of the 1-D equation.

    Parameters
    ----------
    x : array_like
    epsilon : float
    x0 : float
        Interface position.

    Returns
    -------
    ndarray
    """
    return np.tanh(epsilon * (np.asarray(x, dtype=float) - x0) / math.sqrt(2.0))


class AllenCahn:
    r"""ETDRK4 pseudo-spectral integrator of the Allen--Cahn equation on ``[0, L)^2``.

    Parameters
    ----------
    n : int
        Grid points per dimension (even).
    epsilon : float
        :math:`\varepsilon` (> 0).
    stabilization : float, optional
        :math:`\kappa/\varepsilon^2` moved from the explicit to the exact part (default 2).
    dealias : bool, optional
        Evaluate the cube on a grid twice as fine (default True).
    length : float, optional
        Period :math:`L` (default 1).
    """

    def __init__(self, n, epsilon, stabilization=2.0, dealias=True, length=1.0):
        self.n, self.eps2, self.length = int(n), float(epsilon) ** 2, float(length)
        self.kappa = float(stabilization) * self.eps2
        self.dealias = bool(dealias)
        kx = 2.0 * np.pi / self.length * np.fft.fftfreq(self.n, 1.0 / self.n)
        ky = 2.0 * np.pi / self.length * np.arange(self.n // 2 + 1)
        self.linear = -(kx[:, None] ** 2 + ky[None, :] ** 2) - self.kappa
        self._coeffs = {}

    def forward(self, u):
        """Real 2-D FFT over the last two axes."""
        return scipy.fft.rfft2(u, axes=(-2, -1), workers=1)

    def inverse(self, v):
        """Inverse of :meth:`forward`."""
        return scipy.fft.irfft2(v, s=(self.n, self.n), axes=(-2, -1), workers=1)

    def _cube(self, v):
        """Spectrum of u^3 from the spectrum of u; on the doubled grid when dealiasing."""
        if not self.dealias:
            u = self.inverse(v)
            return self.forward(u * u * u)
        n, m = self.n, 2 * self.n
        pad = np.zeros(v.shape[:-2] + (m, m // 2 + 1), dtype=complex)
        h = n // 2
        # Copy the modes |kx| < n/2 (the Nyquist row is dropped: it has no
        # partner on the fine grid) and ky <= n/2 - 1 into the fine spectrum.
        pad[..., :h, :h] = v[..., :h, :h]
        pad[..., -h + 1 :, :h] = v[..., -h + 1 :, :h]
        u = scipy.fft.irfft2(pad, s=(m, m), axes=(-2, -1), workers=1) * 4.0
        w = scipy.fft.rfft2(u * u * u, axes=(-2, -1), workers=1) / 4.0
        out = np.zeros_like(v)
        out[..., :h, :h] = w[..., :h, :h]
        out[..., -h + 1 :, :h] = w[..., -h + 1 :, :h]
        return out

    def nonlinear(self, v):
        r"""Explicit part :math:`\varepsilon^2(u - u^3) + \kappa u` in spectral space."""
        return (self.eps2 + self.kappa) * v - self.eps2 * self._cube(v)

    def step(self, v, dt):
        """One ETDRK4 step of size ``dt`` (coefficients cached per step size).

        Parameters
        ----------
        v : ndarray
            Spectrum (rfft2) of the state, any leading batch shape.
        dt : float

        Returns
        -------
        ndarray
        """
        if dt not in self._coeffs:
            self._coeffs[dt] = etdrk4_coefficients(self.linear, dt)
        return etdrk4_step(v, self._coeffs[dt], self.nonlinear)


def solve(u0, times, epsilon=220.0, n_substeps=None, max_dt=None, stabilization=2.0, dealias=True, length=1.0,
          sample_ids=None):
    r"""Integrate the Allen--Cahn equation for a batch, recording at ``times``.

    A pure function: the same steps for every sample, so each comes out the
    same alone or in a batch.

    Parameters
    ----------
    u0 : array_like, shape (N, N) or (B, N, N)
        Initial states on ``x_j = j L / N`` (N even).
    times : array_like
        Equally spaced recording times starting at 0.
    epsilon : float, optional
        :math:`\varepsilon` (default 220).
    n_substeps : int, optional
        Steps per recording interval; default ``ceil(interval / max_dt)``.
    max_dt : float, optional
        Largest step (default :math:`0.05/\varepsilon^2`).
    stabilization, dealias, length
        See :class:`AllenCahn`.
    sample_ids : sequence of int, optional
        Sample indices named in error messages.

    Returns
    -------
    ndarray, shape (B, len(times), N, N)
        ``out[:, 0]`` is ``u0``.

    Raises
    ------
    ValueError
        Wrong shape, odd N or non-finite ``u0`` (the message names the
        argument or the sample), bad ``times``.
    solvers._spec.BlowUpError
        Non-finite values; the message names the sample and the time.
    """
    shape = np.shape(u0)
    u0 = np.asarray(u0, dtype=float)
    if u0.ndim == 2:
        u0 = u0[None]
    if u0.ndim != 3 or u0.shape[1] != u0.shape[2] or u0.shape[1] % 2 or u0.shape[1] < 4:
        raise ValueError(f"u0 must have shape (N, N) or (batch, N, N) with N even and >= 4, got {shape}")
    nb, n = u0.shape[0], u0.shape[1]
    ids = list(range(nb)) if sample_ids is None else [int(i) for i in sample_ids]
    bad = ~np.isfinite(u0).reshape(nb, -1).all(axis=1)
    if bad.any():
        raise ValueError(f"sample {ids[int(np.argmax(bad))]}: u0 has non-finite values")
    times = np.asarray(times, dtype=float)
    interval = times[1] - times[0] if len(times) > 1 else 0.0
    if not (times[0] == 0 and interval > 0 and np.allclose(np.diff(times), interval, rtol=1e-9, atol=0)):
        raise ValueError("times must be equally spaced, increasing and start at 0")
    if n_substeps is None:
        max_dt = 0.05 / epsilon**2 if max_dt is None else max_dt
        n_substeps = max(1, math.ceil(interval / max_dt * (1 - 1e-12)))
    dt = interval / int(n_substeps)
    model = AllenCahn(n, epsilon, stabilization, dealias, length)
    out = np.empty((nb, len(times), n, n))
    out[:, 0] = u0
    v = model.forward(u0)
    with np.errstate(over="ignore", invalid="ignore"):
        for j in range(1, len(times)):
            for _ in range(int(n_substeps)):
                v = model.step(v, dt)
            out[:, j] = model.inverse(v)
            finite = np.isfinite(out[:, j]).reshape(nb, -1).all(axis=1)
            if not finite.all():
                k = int(np.argmax(~finite))
                raise BlowUpError(
                    f"allen_cahn: sample {ids[k]} blew up (non-finite values) at t = {times[j]:.6g}, dt = {dt:.4g}, "
                    f"epsilon = {epsilon:g}"
                )
    return out


def free_energy(u, epsilon, length=1.0):
    r"""Ginzburg--Landau free energy :math:`\int \tfrac12|\nabla u|^2 + \tfrac{\varepsilon^2}{4}(u^2 - 1)^2`.

    Gradients spectrally; non-increasing along exact solutions.

    Parameters
    ----------
    u : ndarray, shape (..., N, N)
    epsilon : float
    length : float, optional

    Returns
    -------
    ndarray, shape (...)
    """
    n = u.shape[-1]
    kx = 2 * np.pi / length * np.fft.fftfreq(n, 1.0 / n)
    ky = 2 * np.pi / length * np.arange(n // 2 + 1)
    v = scipy.fft.rfft2(u, axes=(-2, -1), workers=1)
    ux = scipy.fft.irfft2(1j * kx[:, None] * v, s=(n, n), axes=(-2, -1), workers=1)
    uy = scipy.fft.irfft2(1j * ky[None, :] * v, s=(n, n), axes=(-2, -1), workers=1)
    density = 0.5 * (ux**2 + uy**2) + 0.25 * epsilon**2 * (u**2 - 1) ** 2
    return density.mean(axis=(-2, -1)) * length**2


def sine_series(rng, x, params):
    """One sample's initial state on the grid ``x`` (draws K, then r, then the K x K coefficients).

    Parameters
    ----------
    rng : numpy.random.Generator
    x : ndarray
        Grid coordinates (both axes).
    params : dict
        ``modes_min``, ``modes_max``, ``decay_min``, ``decay_max``.

    Returns
    -------
    u0 : ndarray, shape (len(x), len(x))
    k : int
    r : float
    """
    k = int(rng.integers(params["modes_min"], params["modes_max"] + 1))
    r = float(rng.uniform(params["decay_min"], params["decay_max"]))
    a = rng.uniform(-1.0, 1.0, (k, k))
    i = np.arange(1, k + 1)
    weights = a * (i[:, None] ** 2 + i[None, :] ** 2) ** (-r) / k**2
    basis = np.sin(np.pi * np.outer(i, x))
    return basis.T @ weights @ basis, k, r


def recording_times(params):
    """``linspace(0, final_time, n_times)``.

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
    if res is None or res < 3:
        raise ValueError(f"resolution must be >= 3, got {res!r}")
    if n is None or n % 2 or n % res:
        raise ValueError(
            f"solver_resolution ({n}) must be an even multiple of resolution ({res}): the stored grid x_j = j/{res} "
            "is the solve grid taken at a stride"
        )
    for key in ("epsilon", "final_time", "max_dt"):
        if not params[key] > 0:
            raise ValueError(f"{key} must be > 0, got {params[key]!r}")
    if params["n_times"] < 2:
        raise ValueError(f"n_times must be >= 2, got {params['n_times']!r}")
    if params["stabilization"] < 0:
        raise ValueError(f"stabilization must be >= 0, got {params['stabilization']!r}")
    if not 1 <= params["modes_min"] <= params["modes_max"]:
        raise ValueError(f"need 1 <= modes_min <= modes_max, got {params['modes_min']!r}, {params['modes_max']!r}")
    if not params["decay_min"] <= params["decay_max"]:
        raise ValueError(f"decay_min ({params['decay_min']!r}) must not exceed decay_max ({params['decay_max']!r})")


def generate(params, indices, rngs):
    """Compute a batch of Allen--Cahn samples (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict
    indices : ndarray of int
    rngs : list of numpy.random.Generator

    Returns
    -------
    xarray.Dataset
        ``u0(sample, x, y)``, ``u(sample, time, x, y)``, ``n_modes(sample)``,
        ``decay_exponent(sample)``.
    """
    n, res = params["solver_resolution"], params["resolution"]
    s = n // res
    x = np.arange(n) / n
    draws = [sine_series(rng, x, params) for rng in rngs]
    u0 = np.stack([d[0] for d in draws])
    times = recording_times(params)
    u = solve(u0, times, params["epsilon"], max_dt=params["max_dt"], stabilization=params["stabilization"],
              dealias=params["dealias"], sample_ids=indices)
    xo = np.arange(res) / res
    bc = {"bc_x": "periodic", "bc_y": "periodic"}
    coords = {
        "time": ("time", times, {"long_name": "time", "units": "1", "axis": "T"}),
        "x": ("x", xo, {"long_name": "x position", "units": "1", "axis": "X"}),
        "y": ("y", xo.copy(), {"long_name": "y position", "units": "1", "axis": "Y"}),
    }
    data = {
        "u0": (("sample", "x", "y"), u0[:, ::s, ::s], {"long_name": "initial state u(x, 0)", "units": "1",
                                                       "opkit_role": "input", **bc}),
        "u": (("sample", "time", "x", "y"), u[:, :, ::s, ::s], {"long_name": "phase field u(x, t)", "units": "1",
                                                                "opkit_role": "output", **bc}),
        "n_modes": (("sample",), np.array([d[1] for d in draws], dtype=np.int64),
                    {"long_name": "sine modes K per dimension of u0", "units": "1", "opkit_role": "auxiliary"}),
        "decay_exponent": (("sample",), np.array([d[2] for d in draws]),
                           {"long_name": "decay exponent r of u0's coefficients", "units": "1",
                            "opkit_role": "auxiliary"}),
    }
    return xr.Dataset(data, coords=coords)


def global_attrs(params):
    """Global attributes of an Allen--Cahn file (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict

    Returns
    -------
    dict
    """
    n, res = params["solver_resolution"], params["resolution"]
    interval = params["final_time"] / (params["n_times"] - 1)
    steps = max(1, math.ceil(interval / params["max_dt"] * (1 - 1e-12)))
    return {
        "title": "2-D Allen-Cahn equation on a periodic square, random sine-series initial data (ACE)",
        "pde": PDE,
        "equation": f"u_t = Lap u - {params['epsilon']:g}^2 u (u^2 - 1)",
        "domain": f"(x, y) in [0, 1)^2 periodic; t in [0, {params['final_time']:g}]",
        "bc_x": "periodic",
        "bc_y": "periodic",
        "opkit_inputs": "u0",
        "opkit_outputs": "u",
        "method": (
            f"Fourier pseudo-spectral on {n} x {n}, ETDRK4 (Cox-Matthews, Kassam-Trefethen coefficients) with linear "
            f"part Lap - {params['stabilization']:g} eps^2 exact and eps^2 (u - u^3) + {params['stabilization']:g} eps^2 u "
            f"explicit, cube {'dealiased by 2x zero-padding' if params['dealias'] else 'not dealiased'}; "
            f"dt = {interval / steps:.6g} ({steps} steps per recording interval)"
        ),
        "initial_condition": (
            f"u0 = K^-2 sum_(i,j=1..K) a_ij (i^2 + j^2)^(-r) sin(pi i x) sin(pi j y), K ~ U{{{params['modes_min']}.."
            f"{params['modes_max']}}}, r ~ U[{params['decay_min']:g}, {params['decay_max']:g}], a_ij ~ U[-1, 1]"
        ),
        "solver_resolution": n,
        "output_resolution": res,
        "downsampling": f"stride {n // res} of the solve grid (point values); x_j = j/{res}",
    }


SOLVER = SolverSpec(
    name="allen_cahn",
    title="2-D Allen-Cahn equation u_t = Lap u - eps^2 u(u^2 - 1), periodic (pseudo-spectral ETDRK4)",
    pde=PDE,
    parameters=(
        Parameter("resolution", 128, "1", "Stored points per dimension (>= 3), x_j = j/resolution: the solve grid at a stride.", int),
        Parameter(
            "solver_resolution", None, "1",
            "Points per dimension of the spectral solve (an even multiple of resolution). Unset: the coarsest even "
            "multiple resolution * s >= 256 with s a product of 2, 3 and 5 (256 for resolution 128, 270 for 45).",
            int,
        ),
        Parameter("epsilon", 220.0, "1", "epsilon in the reaction term eps^2 u (u^2 - 1).", float, plausible=(1.0, 2000.0)),
        Parameter("final_time", 2e-4, "1", "Final time T.", float),
        Parameter("n_times", 20, "1", "Snapshots on [0, T], both ends included.", int),
        Parameter("max_dt", 2e-6, "1", "Largest ETDRK4 step; the step divides the recording interval.", float),
        Parameter("stabilization", 2.0, "1", "kappa / eps^2: part of the reaction integrated exactly with the Laplacian.", float),
        Parameter("dealias", False, "1", "Evaluate the cube on a grid twice as fine (exact dealiasing of a cubic; 5-10x slower).", bool),
        Parameter("modes_min", 16, "1", "Fewest sine modes K per dimension of u0.", int),
        Parameter("modes_max", 32, "1", "Most sine modes K per dimension of u0.", int),
        Parameter("decay_min", 0.7, "1", "Smallest decay exponent r.", float),
        Parameter("decay_max", 1.0, "1", "Largest decay exponent r.", float),
    ),
    generate=generate,
    global_attrs=global_attrs,
    validate=validate,
    derive=DefaultSolveGrid("periodic", MIN_SOLVER_RESOLUTION, even=True, smooth=True),
)


if __name__ == "__main__":
    raise SystemExit(run_cli(SOLVER))

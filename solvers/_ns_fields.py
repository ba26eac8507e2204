"""Forcings, initial conditions and diagnostics of :mod:`solvers.navier_stokes`.

Initial vorticity is returned as coefficients ``rfft2(w) / n**2`` drawn on a
master grid and truncated (:func:`solvers._ns_spectral.spectral_resample`), so
a seed defines the same function at every resolution.
"""

from __future__ import annotations

import math

import numpy as np

from ._ns_spectral import _forward_coefficients, _int_wavenumbers, grid_points, spectral_resample


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

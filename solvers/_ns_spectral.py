"""Wavenumbers, spectral resampling and grids of :mod:`solvers.navier_stokes`.

Coefficients are ``rfft2(w) / n**2`` throughout (the normalisation the
solver's state uses), on the ``rfft2`` layout or a column-truncated part of it.
"""

from __future__ import annotations

import numpy as np

from . import _fft


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

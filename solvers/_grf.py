r"""Gaussian random fields for random initial conditions and coefficients.

Two samplers, both batched (one ``numpy.random.Generator`` per sample, so each
sample depends only on its own seed) and both returning float64 arrays of shape
``(len(rngs), *shape)``:

:func:`periodic_grf`
    Mean-zero field on the periodic box :math:`[0, L)^d`, :math:`d = 1, 2, 3`,
    with covariance operator :math:`\sigma^2(-\Delta + \tau^2)^{-\alpha}`. With
    :math:`u(x) = \sum_k \hat u_k e^{2\pi i k\cdot x/L}` (so
    :math:`\hat u = \mathrm{FFT}(u)/N^d` on the grid) the coefficients are
    independent with

    .. math:: E|\hat u_k|^2 = \frac{\sigma^2}{L^d}\,
              \bigl(4\pi^2|k|^2/L^2 + \tau^2\bigr)^{-\alpha},
              \qquad \hat u_0 = 0.

    This is the parametrisation of the FNO data generators. Their 2-D
    ``GaussianRF`` scales complex white noise by
    :math:`\sqrt2\,\tau^{\alpha-1}(4\pi^2|k|^2+\tau^2)^{-\alpha/2}` and keeps the
    real part, which is the formula above with :math:`\sigma = \sqrt2\,\tau^{\alpha-1}`:
    that is the default (``sigma=None``), so ``periodic_grf(rngs, (256, 256),
    alpha=2.5, tau=7)`` draws FNO's Navier--Stokes initial vorticity. Their 1-D
    Burgers sampler (``GRF1.m``, a sine/cosine series with per-mode standard
    deviation :math:`\sqrt2\,\sigma((2\pi k)^2 + \tau^2)^{-\gamma/2}`) differs only
    in constants: it is ``sigma=25, tau=5, alpha=gamma=2``, i.e.
    :math:`N(0, 625(-\Delta + 25)^{-2})`.

:func:`neumann_grf`
    Mean-zero field on the box :math:`[0, L]^d` with covariance
    :math:`\sigma^2(-\Delta_N + \tau^2)^{-\alpha}` for the Neumann Laplacian,
    expanded in the orthonormal cosines and evaluated on the cell-centred grid
    :math:`x_j = (j + 1/2)L/N` by an inverse DCT (``scipy.fft.idctn``). FNO's
    Darcy coefficients threshold such a field (``alpha=2, tau=3``); their
    normalisation differs by constant factors, which thresholding ignores.

Resolution-independent draws: with ``master_shape`` the white noise is drawn
for every mode of a fixed master grid and the modes that the requested grid
holds are kept (zero-padded where it is finer). A seed then defines the same
function at every resolution: the draw at ``N`` is the draw at the master
size with its Fourier (or cosine) modes above ``N/2`` (``N``) removed. On a
periodic grid the Nyquist mode of an even ``N`` is real (a cosine), so it is
the one mode that differs from the master draw.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._lazy import lazy_module

scipy = lazy_module("scipy")  # its submodules load on attribute access

__all__ = ["neumann_grf", "neumann_spectrum", "periodic_grf", "periodic_spectrum"]


def _as_shape(shape):
    if isinstance(shape, numbers.Integral):
        shape = (int(shape),)
    shape = tuple(int(n) for n in shape)
    if not 1 <= len(shape) <= 3:
        raise ValueError(f"shape must have 1, 2 or 3 dimensions, got {shape}")
    if any(n < 1 for n in shape):
        raise ValueError(f"shape entries must be >= 1, got {shape}")
    return shape


def _as_lengths(length, ndim):
    lengths = np.broadcast_to(np.asarray(length, dtype=float), (ndim,)).copy()
    if not np.all(np.isfinite(lengths) & (lengths > 0)):
        raise ValueError(f"length must be positive and finite, got {length!r}")
    return lengths


def _check_params(alpha, tau, sigma):
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be positive, got {alpha!r}")
    if not (np.isfinite(tau) and tau >= 0):
        raise ValueError(f"tau must be non-negative, got {tau!r}")
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be non-negative, got {sigma!r}")


def _master(master_shape, shape):
    if master_shape is None:
        return shape
    master = _as_shape(master_shape)
    if len(master) != len(shape):
        raise ValueError(f"master_shape {master} and shape {shape} differ in dimension")
    return master


def periodic_spectrum(shape, alpha, tau, sigma=None, length=1.0):
    r"""Expected :math:`|\hat u_k|^2` of :func:`periodic_grf` on an FFT grid.

    Parameters
    ----------
    shape : int or tuple of int
        Grid points per dimension (1 to 3 dimensions).
    alpha, tau, sigma, length
        As in :func:`periodic_grf`.

    Returns
    -------
    ndarray
        Array of ``shape`` in ``numpy.fft`` order: :math:`\sigma^2 L^{-d}
        (4\pi^2|k|^2/L^2 + \tau^2)^{-\alpha}`, zero at :math:`k = 0`.
    """
    shape = _as_shape(shape)
    lengths = _as_lengths(length, len(shape))
    if sigma is None:
        sigma = np.sqrt(2.0) * tau ** (alpha - 1.0)
    _check_params(alpha, tau, sigma)
    k2 = np.zeros(shape)
    for ax, (n, ell) in enumerate(zip(shape, lengths)):
        kk = (2.0 * np.pi / ell) * np.fft.fftfreq(n, 1.0 / n)
        k2 = k2 + (kk**2).reshape([-1 if a == ax else 1 for a in range(len(shape))])
    with np.errstate(divide="ignore"):
        spec = sigma**2 / np.prod(lengths) * (k2 + tau**2) ** (-alpha)
    spec.flat[0] = 0.0
    return spec


def periodic_grf(rngs, shape, alpha, tau, sigma=None, length=1.0, master_shape=None):
    r"""Batch of periodic Gaussian random fields (FNO's parametrisation).

    Covariance :math:`\sigma^2(-\Delta + \tau^2)^{-\alpha}` on :math:`[0, L)^d`,
    zero mean mode; see the module docstring for the formula and for how it
    maps onto the FNO generators.

    Parameters
    ----------
    rngs : sequence of numpy.random.Generator
        One generator per sample; sample ``b`` uses only ``rngs[b]``, drawing
        ``2 * prod(master_shape)`` standard normals (real and imaginary parts of
        complex white noise on the master grid, in FFT index order).
    shape : int or tuple of int
        Grid points per dimension, 1 to 3 dimensions; the grid is
        ``x_j = j L / N``.
    alpha : float
        Exponent :math:`\alpha > 0` of the covariance (smoothness: the field is
        in :math:`H^s` for :math:`s < \alpha - d/2`).
    tau : float
        Inverse length scale :math:`\tau \ge 0`.
    sigma : float, optional
        Amplitude :math:`\sigma`. Default :math:`\sqrt2\,\tau^{\alpha-1}`, which
        reproduces FNO's 2-D ``GaussianRF``.
    length : float or tuple of float, optional
        Period :math:`L` per dimension (default 1).
    master_shape : int or tuple of int, optional
        Grid on which the white noise is drawn (default ``shape``). Fix it (e.g.
        to the finest grid of a study) to get the same function at every
        ``shape``.

    Returns
    -------
    ndarray, shape (len(rngs), *shape), float64

    Examples
    --------
    >>> from solvers._seed import sample_rngs
    >>> w0 = periodic_grf(sample_rngs(0, range(4)), (64, 64), alpha=2.5, tau=7.0)
    >>> w0.shape
    (4, 64, 64)
    """
    shape = _as_shape(shape)
    master = _master(master_shape, shape)
    spec = periodic_spectrum(shape, alpha, tau, sigma, length)
    npts = int(np.prod(shape))
    # Complex noise with unit-variance real and imaginary parts has E|c|^2 = 2;
    # taking the real part of the inverse FFT halves it (the mode and its
    # conjugate partner are averaged), so sqrt(spec) gives E|u_k|^2 = spec.
    # Self-conjugate modes (Nyquist) keep Re(c), whose variance is spec too.
    amp = np.sqrt(spec) * npts
    # Integer frequencies of the target grid and where they live in the master
    # grid's FFT layout; modes the master grid lacks stay zero.
    take, keep = [], []
    for n, m in zip(shape, master):
        f = np.fft.fftfreq(n, 1.0 / n).astype(int)
        inside = (f >= -(m // 2)) & (f < m - m // 2)
        take.append(np.where(inside, f % m, 0))
        keep.append(inside)
    index = np.ix_(*take)
    mask = np.ones(shape, dtype=bool)
    for ax, k in enumerate(keep):
        mask &= k.reshape([-1 if a == ax else 1 for a in range(len(shape))])
    amp = amp * mask
    out = np.empty((len(rngs),) + shape)
    axes = tuple(range(len(shape)))
    for b, rng in enumerate(rngs):
        noise = rng.standard_normal((2,) + master)
        coef = (noise[0] + 1j * noise[1])[index] * amp
        out[b] = scipy.fft.ifftn(coef, axes=axes, workers=1).real
    return out


def _dct_weights(n, ell):
    # Orthonormal Neumann eigenfunctions are 1/sqrt(L) (k = 0) and
    # sqrt(2/L) cos(pi k x / L); idct(type 2, norm="forward") evaluates
    # X_0 + 2 sum_k X_k cos(pi k (j + 1/2) / N), hence these weights.
    w = np.full(n, 1.0 / np.sqrt(2.0 * ell))
    w[0] = 1.0 / np.sqrt(ell)
    return w


def neumann_spectrum(shape, alpha, tau, sigma=None, length=1.0):
    r"""Variance of each cosine coefficient of :func:`neumann_grf`.

    Parameters
    ----------
    shape : int or tuple of int
        Grid points per dimension.
    alpha, tau, sigma, length
        As in :func:`neumann_grf`.

    Returns
    -------
    ndarray
        Array of ``shape`` indexed by ``k >= 0``: the variance of the DCT-II
        coefficient ``scipy.fft.dctn(u, type=2, norm="forward")[k]``, i.e.
        :math:`\sigma^2(\pi^2|k/L|^2 + \tau^2)^{-\alpha}\prod_i w_{k_i}^2` with
        :math:`w_0 = L^{-1/2}`, :math:`w_k = (2L)^{-1/2}`; zero at ``k = 0``.
    """
    shape = _as_shape(shape)
    lengths = _as_lengths(length, len(shape))
    if sigma is None:
        sigma = tau ** (alpha - 1.0)
    _check_params(alpha, tau, sigma)
    lam = np.zeros(shape)
    weight = np.ones(shape)
    for ax, (n, ell) in enumerate(zip(shape, lengths)):
        r = [-1 if a == ax else 1 for a in range(len(shape))]
        lam = lam + ((np.pi / ell) * np.arange(n)).reshape(r) ** 2
        weight = weight * _dct_weights(n, ell).reshape(r) ** 2
    with np.errstate(divide="ignore"):
        spec = sigma**2 * (lam + tau**2) ** (-alpha) * weight
    spec.flat[0] = 0.0
    return spec


def neumann_grf(rngs, shape, alpha, tau, sigma=None, length=1.0, master_shape=None):
    r"""Batch of Gaussian random fields with Neumann boundary conditions.

    Covariance :math:`\sigma^2(-\Delta_N + \tau^2)^{-\alpha}` on
    :math:`[0, L]^d`: :math:`u = \sum_{k \ge 0} a_k \prod_i \phi_{k_i}(x_i)` with
    orthonormal cosines :math:`\phi_k`, independent
    :math:`a_k \sim N(0, \sigma^2(\pi^2|k/L|^2 + \tau^2)^{-\alpha})` and
    :math:`a_0 = 0`, evaluated on the cell-centred grid
    :math:`x_j = (j + 1/2)L/N` with ``scipy.fft.idctn``.

    Parameters
    ----------
    rngs : sequence of numpy.random.Generator
        One generator per sample; each draws ``prod(master_shape)`` standard
        normals (one per cosine mode of the master grid, C order).
    shape : int or tuple of int
        Cells per dimension, 1 to 3 dimensions.
    alpha : float
        Exponent :math:`\alpha > 0` (FNO Darcy: 2).
    tau : float
        Inverse length scale :math:`\tau \ge 0` (FNO Darcy: 3).
    sigma : float, optional
        Amplitude; default :math:`\tau^{\alpha-1}` (FNO's Darcy scaling up to
        constant factors).
    length : float or tuple of float, optional
        Box side :math:`L` per dimension (default 1).
    master_shape : int or tuple of int, optional
        Grid of the noise draw (default ``shape``); cosine modes ``k < N`` are
        kept, so a seed gives the same function at every resolution.

    Returns
    -------
    ndarray, shape (len(rngs), *shape), float64
    """
    shape = _as_shape(shape)
    master = _master(master_shape, shape)
    lengths = _as_lengths(length, len(shape))
    spec = neumann_spectrum(shape, alpha, tau, sigma, lengths)
    amp = np.sqrt(spec)
    common = tuple(slice(0, min(n, m)) for n, m in zip(shape, master))
    axes = tuple(range(len(shape)))
    out = np.empty((len(rngs),) + shape)
    for b, rng in enumerate(rngs):
        noise = rng.standard_normal(master)
        coef = np.zeros(shape)
        coef[common] = noise[common]
        out[b] = scipy.fft.idctn(coef * amp, type=2, norm="forward", axes=axes, workers=1)
    return out

"""ETDRK4 coefficients for diagonal linear operators.

Exponential time differencing with a fourth-order Runge--Kutta scheme (Cox &
Matthews, "Exponential time differencing for stiff systems", 2002) integrates

.. math:: \\frac{dv}{dt} = L v + N(v, t)

with the linear part ``L`` (diagonal, e.g. a Fourier multiplier) treated exactly.
Its coefficients are combinations of the functions
``phi_k(z) = (e^z - sum_{j<k} z^j/j!) / z^k`` evaluated at ``z = L*dt``, whose
direct formulas cancel catastrophically for small ``|z|``. Kassam & Trefethen
("Fourth-order time-stepping for stiff PDEs", SIAM J. Sci. Comput. 26, 2005)
evaluate them as the mean of the same formulas over points on a circle in the
complex plane centred at ``z`` (Cauchy's integral formula with the trapezoidal
rule, which converges geometrically for these entire functions).

This module uses that contour mean where cancellation matters (``|z| < 2``, on
a circle of radius 4 so that every node stays at distance >= 2 from the origin)
and the closed formulas elsewhere, where they are already accurate to a few
ulps; the result is accurate to ~1e-15 relative for every ``z`` with
``Re z`` below the exponential's overflow.
"""

from __future__ import annotations

import numpy as np

__all__ = ["etdrk4_coefficients", "phi_functions"]

# |z| below this uses the contour mean; above it the closed formulas lose at most
# ~10*eps*6/|z|^3 relative, i.e. ~1e-15 at the cut.
_CUT = 2.0
# Contour radius: nodes satisfy |z + r| >= _RADIUS - _CUT = 2, so the closed
# formulas evaluated on the nodes are themselves free of cancellation.
_RADIUS = 4.0


def _closed_forms(z):
    """Closed formulas of the ETDRK4 weights (divided by ``dt``) at ``z``."""
    ez = np.exp(z)
    ez2 = np.exp(z / 2)
    z3 = z**3
    q = (ez2 - 1.0) / z
    f1 = (-4.0 - z + ez * (4.0 - 3.0 * z + z * z)) / z3
    f2 = (2.0 + z + ez * (z - 2.0)) / z3
    f3 = (-4.0 - 3.0 * z - z * z + ez * (4.0 - z)) / z3
    return q, f1, f2, f3


def etdrk4_coefficients(linear, dt, n_contour=32):
    """Coefficients of the ETDRK4 scheme for a diagonal linear operator.

    Parameters
    ----------
    linear : array_like
        Diagonal of the linear operator ``L`` (any shape; real or complex), e.g.
        ``-nu*|k|**2 - alpha`` on a Fourier grid.
    dt : float
        Time step (> 0).
    n_contour : int, optional
        Number of nodes of the contour mean used for ``|L*dt| < 2`` (default 32;
        16 already gives ~1e-15 there).

    Returns
    -------
    E, E2, Q, f1, f2, f3 : ndarray
        Arrays of the shape of ``linear``; real when ``linear`` is real, complex
        otherwise. With ``z = L*dt``:
        ``E = exp(z)``, ``E2 = exp(z/2)``, ``Q = dt*(exp(z/2) - 1)/z``,
        ``f1 = dt*(-4 - z + e^z (4 - 3z + z^2))/z^3``,
        ``f2 = dt*(2 + z + e^z (z - 2))/z^3``,
        ``f3 = dt*(-4 - 3z - z^2 + e^z (4 - z))/z^3``,
        each taking its limit at ``z = 0`` (``Q -> dt/2``, ``f1 -> dt/6``,
        ``f2 -> dt/6``, ``f3 -> dt/6``).

    Notes
    -----
    One ETDRK4 step from ``v`` at time ``t`` (Cox & Matthews) reads::

        Nv = N(v, t)
        a  = E2*v + Q*Nv;           Na = N(a, t + dt/2)
        b  = E2*v + Q*Na;           Nb = N(b, t + dt/2)
        c  = E2*a + Q*(2*Nb - Nv);  Nc = N(c, t + dt)
        v_new = E*v + f1*Nv + 2*f2*(Na + Nb) + f3*Nc

    It is exact for ``N`` constant in time and fourth order in general. For a
    constant ``N`` the weights satisfy ``f1 + 4*f2 + f3 = (E - 1)/L`` to
    round-off, so steady forcing is integrated exactly.

    Examples
    --------
    >>> import numpy as np
    >>> E, E2, Q, f1, f2, f3 = etdrk4_coefficients(np.array([-1e-12, -1.0, -1e4]), 0.1)
    >>> np.allclose(f1 + 4 * f2 + f3, 0.1 * np.array([1.0, (1 - np.exp(-0.1)) / 0.1, 1e-3]))
    True
    """
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive finite number, got {dt!r}")
    n_contour = int(n_contour)
    if n_contour < 4:
        raise ValueError(f"n_contour must be >= 4, got {n_contour}")
    lin = np.asarray(linear)
    is_complex = np.iscomplexobj(lin)
    z = (lin * dt).astype(np.complex128 if is_complex else np.float64)

    E = np.exp(z)
    E2 = np.exp(z / 2)
    Q = np.empty_like(z)
    f1 = np.empty_like(z)
    f2 = np.empty_like(z)
    f3 = np.empty_like(z)

    small = np.abs(z) < _CUT
    big = ~small
    if big.any():
        zb = z[big]
        with np.errstate(over="ignore", invalid="ignore"):
            q, a1, a2, a3 = _closed_forms(zb)
        Q[big], f1[big], f2[big], f3[big] = q, a1, a2, a3
    if small.any():
        zs = z[small].astype(np.complex128)
        # Nodes offset by half a step so that real z never sits on a node's
        # real axis crossing; any offset works since nodes are far from 0.
        theta = 2.0 * np.pi * (np.arange(n_contour) + 0.5) / n_contour
        nodes = _RADIUS * np.exp(1j * theta)
        acc = [np.zeros_like(zs) for _ in range(4)]
        # Loop over the few contour nodes (not grid points) to bound memory at
        # a handful of arrays of the operator's size.
        for r in nodes:
            vals = _closed_forms(zs + r)
            for a, v in zip(acc, vals):
                a += v
        vals = [a / n_contour for a in acc]
        if not is_complex:
            # The functions are real on the real axis: drop the O(eps)
            # imaginary round-off of the symmetric contour.
            vals = [v.real for v in vals]
        Q[small], f1[small], f2[small], f3[small] = vals
    return E, E2, Q * dt, f1 * dt, f2 * dt, f3 * dt


def phi_functions(z, n_contour=32):
    """The functions ``phi_1, phi_2, phi_3`` at ``z``, evaluated stably.

    ``phi_1(z) = (e^z - 1)/z``, ``phi_2(z) = (e^z - 1 - z)/z^2``,
    ``phi_3(z) = (e^z - 1 - z - z^2/2)/z^3`` (limits 1, 1/2, 1/6 at 0), used by
    exponential integrators other than ETDRK4.

    Parameters
    ----------
    z : array_like
        Arguments (real or complex, any shape).
    n_contour : int, optional
        Number of contour nodes for ``|z| < 2``.

    Returns
    -------
    phi1, phi2, phi3 : ndarray
        Same shape as ``z``; real for real input.
    """
    zz = np.asarray(z)
    is_complex = np.iscomplexobj(zz)
    zc = zz.astype(np.complex128 if is_complex else np.float64)

    def closed(w):
        ew = np.exp(w)
        p1 = (ew - 1.0) / w
        p2 = (ew - 1.0 - w) / w**2
        p3 = (ew - 1.0 - w - w * w / 2) / w**3
        return p1, p2, p3

    out = [np.empty_like(zc) for _ in range(3)]
    small = np.abs(zc) < _CUT
    if (~small).any():
        with np.errstate(over="ignore", invalid="ignore"):
            vals = closed(zc[~small])
        for o, v in zip(out, vals):
            o[~small] = v
    if small.any():
        zs = zc[small].astype(np.complex128)
        theta = 2.0 * np.pi * (np.arange(int(n_contour)) + 0.5) / int(n_contour)
        acc = [np.zeros_like(zs) for _ in range(3)]
        for r in _RADIUS * np.exp(1j * theta):
            for a, v in zip(acc, closed(zs + r)):
                a += v
        for o, a in zip(out, acc):
            v = a / int(n_contour)
            o[small] = v if is_complex else v.real
    return tuple(out)

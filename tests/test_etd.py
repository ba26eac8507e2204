"""Tests of the ETDRK4 coefficients in :mod:`solvers._etd`."""

import numpy as np
import pytest

from solvers._etd import etdrk4_coefficients, phi_functions


def _direct(z, dt):
    ez = np.exp(z)
    return (
        dt * (np.exp(z / 2) - 1) / z,
        dt * (-4 - z + ez * (4 - 3 * z + z * z)) / z**3,
        dt * (2 + z + ez * (z - 2)) / z**3,
        dt * (-4 - 3 * z - z * z + ez * (4 - z)) / z**3,
    )


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_matches_direct_formulas_at_large_argument(dtype):
    # Away from 0 the closed formulas are accurate, so they are the reference.
    lin = -np.logspace(0.5, 5, 40).astype(dtype)
    if dtype is np.complex128:
        lin = lin + 1j * np.linspace(-50, 50, 40)
    dt = 0.7
    E, E2, Q, f1, f2, f3 = etdrk4_coefficients(lin, dt)
    for got, ref in zip((Q, f1, f2, f3), _direct(lin * dt, dt)):
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(E, np.exp(lin * dt), rtol=1e-15)
    np.testing.assert_allclose(E2, np.exp(lin * dt / 2), rtol=1e-15)
    assert E.dtype == np.dtype(dtype)


def test_small_argument_limits_and_taylor():
    dt = 0.3
    z = np.array([0.0, 1e-14, -1e-8, 1e-4, -0.5])
    E, E2, Q, f1, f2, f3 = etdrk4_coefficients(z / dt, dt)
    # Taylor series to high order (|z| <= 0.5: terms below 1e-17 after 12).
    from math import factorial

    def series(coeffs):
        return sum(c * z**k for k, c in enumerate(coeffs))

    # phi_k(z) = sum_j z^j/(j+k)!; Q = phi_1(z/2)/2, f1 = phi_1 - 3phi_2 + 4phi_3,
    # f2 = phi_2 - 2phi_3, f3 = -phi_2 + 4phi_3.
    def phi(k):
        return np.array([1 / factorial(j + k) for j in range(30)])

    p1, p2, p3 = phi(1), phi(2), phi(3)
    np.testing.assert_allclose(Q, dt * series(p1 * 0.5 ** np.arange(30)) / 2, rtol=1e-14)
    np.testing.assert_allclose(f1, dt * series(p1 - 3 * p2 + 4 * p3), rtol=1e-13)
    np.testing.assert_allclose(f2, dt * series(p2 - 2 * p3), rtol=1e-13)
    np.testing.assert_allclose(f3, dt * series(-p2 + 4 * p3), rtol=1e-13)
    assert np.all(np.isfinite(f1))


def _etdrk4_step(v, t, dt, coef, N):
    E, E2, Q, f1, f2, f3 = coef
    Nv = N(v, t)
    a = E2 * v + Q * Nv
    Na = N(a, t + dt / 2)
    b = E2 * v + Q * Na
    Nb = N(b, t + dt / 2)
    c = E2 * a + Q * (2 * Nb - Nv)
    Nc = N(c, t + dt)
    return E * v + f1 * Nv + 2 * f2 * (Na + Nb) + f3 * Nc


def test_exact_for_linear_ode_with_constant_forcing():
    lam = np.array([-1e-9, -0.3, -2.0, -40.0, -1e4, -2.0 + 5j, 0.5j])
    g = np.array([1.0, -2.0, 0.5, 3.0, 1.0, 1j, 2.0])
    dt, n = 0.05, 40
    coef = etdrk4_coefficients(lam, dt)
    v = np.ones_like(lam)
    for i in range(n):
        v = _etdrk4_step(v, i * dt, dt, coef, lambda v, t: g)
    T = n * dt
    exact = np.exp(lam * T) + g * phi_functions(lam * T)[0] * T
    np.testing.assert_allclose(v, exact, rtol=1e-12, atol=1e-14)


def test_fourth_order_on_time_dependent_forcing():
    lam = np.array([-1.0, -5.0, -30.0])

    def N(v, t):
        return np.cos(3 * t) + 0.0 * v

    def run(dt):
        coef = etdrk4_coefficients(lam, dt)
        v = np.zeros_like(lam)
        n = int(round(1.0 / dt))
        for i in range(n):
            v = _etdrk4_step(v, i * dt, dt, coef, N)
        return v

    # exact: v' = lam v + cos 3t, v(0) = 0
    T = 1.0
    exact = (-lam * np.cos(3 * T) + 3 * np.sin(3 * T) + lam * np.exp(lam * T)) / (9 + lam**2)
    e1 = np.abs(run(0.1) - exact).max()
    e2 = np.abs(run(0.05) - exact).max()
    assert np.log2(e1 / e2) > 3.7


def test_phi_functions_small_and_large():
    z = np.array([0.0, 1e-10, -1.0, -100.0, 3.0])
    p1, p2, p3 = phi_functions(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = np.expm1(z) / z
    np.testing.assert_allclose(p1[1:], d1[1:], rtol=1e-14)
    assert p1[0] == pytest.approx(1.0) and p2[0] == pytest.approx(0.5)
    assert p3[0] == pytest.approx(1 / 6)
    np.testing.assert_allclose(p3[3], (np.exp(-100) - 1 + 100 - 5000) / -1e6, rtol=1e-14)


def test_bad_dt():
    with pytest.raises(ValueError, match="dt"):
        etdrk4_coefficients(np.ones(3), 0.0)

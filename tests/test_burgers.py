"""``solvers.burgers``: accuracy against exact solutions, physics, bad input, CLI."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from solvers import burgers
from solvers._cli import compute_chunk, load_preset
from solvers._grf import periodic_grf
from solvers._seed import sample_rngs
from solvers._spec import BlowUpError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT.parent / "shared" / "data" / "neuralop" / "burgers_train_16.pt"


def resolve(**overrides):
    return burgers.SOLVER.resolve(overrides)


def rel_l2(a, b):
    return np.linalg.norm(a - b, axis=-1) / np.linalg.norm(b, axis=-1)


# ----------------------------------------------------------------------------- exact solutions


def test_closed_form_fourth_order_and_exact_cole_hopf():
    # phi = 2 + exp(-nu k^2 t) cos kx, k = 2 pi, nu = 0.1 (solvers.md 2.2, test 1).
    n, nu = 64, 0.1
    x = np.arange(n) / n
    u0 = burgers.closed_form_solution(x, 0.0, nu)[None]
    exact = burgers.closed_form_solution(x, 1.0, nu)
    errors = [rel_l2(burgers.etdrk4_solve(u0, nu, [0.0, 1.0], m)[0, -1], exact) for m in (160, 320, 640)]
    orders = np.log2(np.array(errors[:-1]) / errors[1:])
    assert orders.min() >= 3.8, (errors, orders)  # measured 3.89, 3.93
    fine = burgers.etdrk4_solve(u0, nu, [0.0, 1.0], 10_000)[0, -1]  # dt = 1e-4
    assert np.abs(fine - exact).max() / np.abs(exact).max() < 1e-10  # measured 4.9e-13
    ch = burgers.cole_hopf_solve(u0, nu, [0.0, 0.5, 1.0])[0]
    assert np.array_equal(ch[0], u0[0])
    for t, u in zip((0.5, 1.0), ch[1:]):
        ref = burgers.closed_form_solution(x, t, nu)
        assert np.abs(u - ref).max() / np.abs(ref).max() < 1e-12  # measured 8.6e-16


def test_etdrk4_matches_cole_hopf_on_fno_samples():
    # FNO preset's physics (nu = 0.1, GRF sigma 25, tau 5, gamma 2, master 8192),
    # solved on 1024 points (spatially converged here) to keep the test short.
    recipe = load_preset("fno-burgers", "burgers")["parameters"]
    params = resolve(**dict(recipe, solver_resolution=1024, resolution=1024))
    idx = np.arange(8)
    etd = compute_chunk(burgers.SOLVER, params, idx, 0)
    ch = burgers.generate(dict(params, scheme="cole-hopf"), idx, sample_rngs(0, idx))
    ref = burgers.generate(params, idx, sample_rngs(0, idx))  # float64, before storage
    assert np.array_equal(etd.u0.values, ref.u0.values.astype(np.float32))
    err = rel_l2(ref.u.values, ch.u.values)
    assert err.max() < 1e-8, err  # measured 5e-11 .. 7e-10
    assert np.array_equal(ref.time_step.values, np.full(8, 1e-3))


@pytest.mark.slow
def test_fno_preset_full_resolution_matches_cole_hopf():
    params = resolve(**load_preset("fno-burgers", "burgers")["parameters"])
    idx = np.arange(8)
    etd = burgers.generate(params, idx, sample_rngs(0, idx))
    ch = burgers.generate(dict(params, scheme="cole-hopf"), idx, sample_rngs(0, idx))
    assert etd.u.shape == (8, 1024) and etd.sizes["x"] == 1024
    assert rel_l2(etd.u.values, ch.u.values).max() < 1e-8


def test_basdevant_benchmark_peak_gradient():
    # u0 = -sin(pi x) on [-1, 1] (here sin(pi x) on [0, 2), shifted by 1),
    # nu = 0.01/pi: max|u_x| at the centre peaks at 152.00516 at t = 1.6037/pi
    # (Basdevant et al. 1986, "Spectral and finite difference solutions of the
    # Burgers equation").
    n, length, nu = 2048, 2.0, 0.01 / np.pi
    x = np.arange(n) * length / n
    t_peak = 1.6037 / np.pi
    before = burgers.etdrk4_solve(np.sin(np.pi * x)[None], nu, [0.0, t_peak - 0.005], 500, length)[:, -1]
    series = burgers.etdrk4_solve(before, nu, np.linspace(0.0, 0.01, 21), 10, length, graded_start=0)[0]
    k = 2 * np.pi / length * np.fft.rfftfreq(n, 1 / n)
    ux = np.fft.irfft(1j * k * np.fft.rfft(series, axis=-1), n=n, axis=-1)
    peak = np.abs(ux).max(axis=-1)
    assert peak.argmax() == 10  # the snapshot at t = 1.6037/pi
    assert np.abs(ux[10]).argmax() == n // 2  # at the centre x = 1 (x = 0 before the shift)
    assert abs(peak.max() - 152.00516) < 1e-4  # measured 152.005161


# ----------------------------------------------------------------------------- physics


def test_mean_conserved_energy_decays_as_dissipation_says():
    n, nu, length = 512, 0.01, 1.0
    u0 = periodic_grf(sample_rngs(2, range(3)), n, alpha=4.0, tau=5.0, sigma=625.0, master_shape=1024) + 0.3
    times = np.linspace(0.0, 1.0, 101)
    u = burgers.etdrk4_solve(u0, nu, times, 10, length)
    mean = u.mean(axis=-1)
    assert np.abs(mean - mean[:, :1]).max() < 1e-14
    energy = 0.5 * (u**2).mean(axis=-1)
    assert np.all(np.diff(energy, axis=1) < 0)  # strictly decaying without forcing
    # dE/dt = -nu <u_x^2>: integrate the dissipation in time (trapezoid) and compare.
    k = 2 * np.pi / length * np.fft.rfftfreq(n, 1 / n)
    ux = np.fft.irfft(1j * k * np.fft.rfft(u, axis=-1), n=n, axis=-1)
    dissipation = nu * (ux**2).mean(axis=-1)
    lost = np.sum(0.5 * (dissipation[:, 1:] + dissipation[:, :-1]) * np.diff(times), axis=1)
    assert np.allclose(energy[:, 0] - energy[:, -1], lost, rtol=1e-4)  # measured 2e-5


def test_nonzero_mean_galilean_shift():
    n, nu = 256, 0.05
    u0 = periodic_grf(sample_rngs(8, range(2)), n, alpha=2.0, tau=5.0, sigma=25.0) + np.array([[0.7], [-1.3]])
    times = [0.0, 0.25, 0.5]
    ch = burgers.cole_hopf_solve(u0, nu, times)
    etd = burgers.etdrk4_solve(u0, nu, times, 500)
    assert rel_l2(etd[:, 1:], ch[:, 1:]).max() < 1e-8
    assert np.allclose(ch.mean(axis=-1), u0.mean(axis=-1, keepdims=True), atol=1e-12)


def test_stability_limit_asymptotes():
    n, speed = 1024, 1.0
    h = 1.0 / n
    inviscid = burgers.stability_limit(1e-9, speed, n)
    assert 1.30 * h < inviscid < 1.40 * h  # RK4 on the imaginary axis: 2.83 / (U k_max)
    viscous = burgers.stability_limit(0.01, speed, n)
    assert 4.0 * 0.01 < viscous < 5.5 * 0.01  # damping of the fast modes: ~4.8 nu / U^2
    assert burgers.stability_limit(0.01, 0.0, n) == math.inf


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("nu", [0.0, -0.1])
def test_nonpositive_viscosity_is_refused(nu):
    with pytest.raises(ValueError, match=rf"viscosity must be > 0 .*got {nu}"):
        resolve(viscosity=nu)


@pytest.mark.parametrize("res", [2, 0])
def test_tiny_resolution_is_refused(res):
    with pytest.raises(ValueError, match=rf"resolution must be >= 3, got {res}"):
        resolve(resolution=res)


def test_solver_resolution_checks():
    with pytest.raises(ValueError, match=r"solver_resolution \(100\) must be a multiple of resolution \(16\)"):
        resolve(resolution=16, solver_resolution=100)
    with pytest.raises(ValueError, match="solver_resolution must be an even number"):
        resolve(resolution=8, solver_resolution=8191)
    with pytest.raises(ValueError, match="cfl must be in"):
        resolve(cfl=1.5)
    with pytest.raises(ValueError, match="grf_gamma must be > 0.5"):
        resolve(grf_gamma=0.5)


def test_fixed_dt_above_cfl_limit_is_refused_with_the_limit():
    params = resolve(viscosity=0.01, resolution=16, solver_resolution=512, grf_resolution=512, dt=0.5)
    idx = np.arange(3, 5)
    u0 = periodic_grf(sample_rngs(0, idx), 512, 2.0, 5.0, sigma=25.0)
    limit = burgers.stability_limit(0.01, float(np.abs(u0[0]).max()), 512)
    with pytest.raises(ValueError, match=rf"dt = 0.5 violates the CFL \(stability\) limit dt <= {limit:.4g} of sample 3"):
        burgers.generate(params, idx, sample_rngs(0, idx))
    ok = burgers.generate(dict(params, dt=0.5 * limit), idx, sample_rngs(0, idx))
    assert ok.time_step.values[0] <= 0.5 * limit


def test_blow_up_names_the_sample(monkeypatch):
    # Pretend the stability limit is infinite so that a far too large fixed step
    # gets through, as a misjudged limit would; the solver must then say which
    # sample failed and with which settings.
    monkeypatch.setattr(burgers, "stability_limit", lambda *a, **k: math.inf)
    params = resolve(viscosity=0.002, resolution=16, solver_resolution=2048, grf_resolution=2048, dt=0.05)
    idx = np.arange(5, 8)
    with pytest.raises(BlowUpError, match=r"sample 5 blew up \(non-finite values\) at t = 1.*viscosity=0.002"):
        burgers.generate(params, idx, sample_rngs(0, idx))


def test_under_resolved_shock_is_refused():
    params = resolve(viscosity=1e-4, resolution=16, solver_resolution=256, grf_resolution=256)
    with pytest.raises(ValueError, match=r"sample 0: shock width viscosity/max\|u0\| = .* is below 2h"):
        burgers.generate(params, np.arange(2), sample_rngs(0, range(2)))


def test_cole_hopf_refuses_large_amplification():
    params = resolve(viscosity=0.003, resolution=16, solver_resolution=2048, grf_resolution=2048, scheme="cole-hopf")
    with pytest.raises(ValueError, match=r"sample \d: Cole-Hopf needs R = \(max F - min F\)/\(2 viscosity\) <= 30 "
                       r"\(round-off grows like e\^R\), got R = [\d.]+; use scheme etdrk4"):
        burgers.generate(params, np.arange(4), sample_rngs(0, range(4)))
    x = np.arange(256) * 2.0 / 256
    assert burgers.cole_hopf_amplification(np.sin(np.pi * x)[None], 0.01 / np.pi, 2.0)[0] == pytest.approx(100, rel=1e-6)


# ----------------------------------------------------------------------------- command line


def _run(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "solvers.burgers", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_help_documents_every_parameter_with_units_and_default():
    res = _run("--help")
    assert res.returncode == 0
    text = " ".join(res.stdout.split())
    for p in burgers.SOLVER.parameters:
        assert p.flag in text
        start = text.index(p.flag + " ", text.index("burgers parameters:"))
        assert "[units: dimensionless; default: " in text[start : start + 400], p.name
    for flag in ("--n-samples", "--resolution", "--seed", "--out", "--preset", "--workers", "--scheduler",
                 "--chunk-size", "--no-resume", "--dry-run", "--set"):
        assert flag in text
    assert "fno-burgers" in text and "neuralop-burgers-small" in text


def test_cli_end_to_end(tmp_path):
    out = tmp_path / "tiny.nc"
    res = _run("--n-samples", "3", "--resolution", "16", "--solver-resolution", "64", "--grf-resolution", "64",
               "--n-times", "5", "--max-dt", "0.02", "--chunk-size", "2", "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "3 samples (3 computed, 0 resumed) in" in res.stdout and str(out) in res.stdout
    assert "sample" in res.stderr  # the progress bar
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.u.shape == (3, 5, 16) and ds.u0.shape == (3, 16)
        assert np.array_equal(ds.u.values[:, 0], ds.u0.values)
        assert ds.attrs["bc_x"] == "periodic" and ds.attrs["opkit_outputs"] == "u"
    # Bad input from a real process: exit 2, one line, no traceback (the other
    # cases run in-process in test_solvers_machinery.py).
    res = _run("--n-samples", "0", "--out", str(tmp_path / "zero.nc"))
    assert res.returncode == 2 and res.stderr == "solvers.burgers: error: n_samples must be a positive integer, got 0\n"


# ----------------------------------------------------------------------------- outside truth


def test_neuralop_small_preset_matches_shipped_data():
    if not SHIPPED.exists():
        pytest.skip("shared neuralop data not present")
    torch = pytest.importorskip("torch")
    data = torch.load(SHIPPED, weights_only=True)
    x, y = data["x"].numpy(), data["y"].numpy()
    assert float(data["visc"].reshape(-1)[0]) == pytest.approx(0.01)
    params = resolve(**load_preset("neuralop-burgers-small", "burgers")["parameters"])
    assert (params["resolution"], params["n_times"], params["viscosity"]) == (16, 17, 0.01)
    # Initial-condition law: field std and the two leading mode powers.
    ours = periodic_grf(sample_rngs(0, range(800)), 16, params["grf_gamma"], params["grf_tau"],
                        params["grf_sigma"], master_shape=params["grf_resolution"])
    assert ours.std() == pytest.approx(x.std(), rel=0.1)  # data 0.218, law 0.214
    power = lambda a: (np.abs(np.fft.rfft(a, axis=1) / 16) ** 2).mean(axis=0)[1:3]
    assert np.allclose(power(ours), power(x), rtol=0.15)
    # Same PDE, viscosity, times and grid: re-solve the shipped initial conditions.
    n = 256
    coef = np.zeros((50, n // 2 + 1), complex)
    c16 = np.fft.rfft(x[:50], axis=1)
    coef[:, :8], coef[:, 8] = c16[:, :8], c16[:, 8] / 2  # trigonometric interpolation
    u0 = np.fft.irfft(coef, n=n, axis=1) * (n / 16)
    u = burgers.etdrk4_solve(u0, 0.01, np.linspace(0, 1, 17), 63)[:, :, :: n // 16]
    err = np.linalg.norm(u - y[:50]) / np.linalg.norm(y[:50])
    assert err < 0.03  # measured 0.015 over all levels (2.8 % at t = 1): their solver differs slightly

"""``solvers.poisson`` and ``solvers.helmholtz``: exact and manufactured solutions, laws, files, bad input."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from solvers import helmholtz, poisson
from solvers._cli import compute_chunk, generate_dataset, load_preset
from solvers._seed import sample_rngs

ROOT = Path(__file__).resolve().parent.parent


def grid(n):
    x = np.linspace(0.0, 1.0, n)
    return np.meshgrid(x, x, indexing="ij")


def orders(errors):
    e = np.asarray(errors)
    return np.log2(e[:-1] / e[1:])


def manufactured_poisson(x, y):
    """u = x(1-x) y(1-y) e^(x+y) and f = -Lap u (solvers.md 2.4)."""
    gx, gy = x * (1 - x) * np.exp(x), y * (1 - y) * np.exp(y)
    gxx = np.exp(x) * (x * (1 - x) + 2 * (1 - 2 * x) - 2)
    gyy = np.exp(y) * (y * (1 - y) + 2 * (1 - 2 * y) - 2)
    return gx * gy, -(gxx * gy + gx * gyy)


# ----------------------------------------------------------------------------- Poisson


def test_dst_solve_reproduces_sine_modes_exactly():
    n = 33
    x, y = grid(n)
    h = 1.0 / (n - 1)
    for m, k in ((1, 1), (3, 2), (30, 1)):
        mode = np.sin(m * np.pi * x) * np.sin(k * np.pi * y)
        lam_h = 4 / h**2 * (np.sin(np.pi * m * h / 2) ** 2 + np.sin(np.pi * k * h / 2) ** 2)
        assert np.abs(poisson.solve(lam_h * mode)[0] - mode).max() < 1e-13
        # With the continuous eigenvalue the solve is off by the known factor pi^2 (m^2 + k^2) / lam_h.
        u = poisson.solve(np.pi**2 * (m * m + k * k) * mode)[0]
        assert np.abs(u - np.pi**2 * (m * m + k * k) / lam_h * mode).max() < 1e-12


def test_manufactured_solution_order_two_and_richardson_order_four():
    plain, extrapolated = [], []
    for n in (17, 33, 65, 129):
        x, y = grid(n)
        u_exact, f = manufactured_poisson(x, y)
        plain.append(np.abs(poisson.solve(f)[0] - u_exact).max())
        fine = manufactured_poisson(*grid(2 * n - 1))[1]
        extrapolated.append(np.abs(poisson.richardson_solve(fine[None], f[None])[0] - u_exact).max())
    p2, p4 = orders(plain), orders(extrapolated)
    assert 1.9 <= p2.min() and p2.max() <= 2.1, (plain, p2)  # measured 2.00
    assert p4.min() >= 3.8, (extrapolated, p4)  # measured 4.00
    assert extrapolated[-1] < 1e-10


def test_poisson_sources_law():
    params = poisson.SOLVER.resolve({})
    draws = [poisson.sample_sources(r, params) for r in sample_rngs(0, range(3000))]
    counts = np.array([len(d[1]) for d in draws])
    assert counts.min() == 1 and abs(counts.mean() - 2.5) < 0.1  # Geom(0.4) on 1, 2, ...: mean 1/p
    sigmas = np.concatenate([d[1] for d in draws])
    centres = np.concatenate([d[0] for d in draws])
    assert 0.025 <= sigmas.min() and sigmas.max() <= 0.1 and 0 <= centres.min() and centres.max() <= 1
    signed = poisson.sample_sources(sample_rngs(0, [7])[0], dict(params, random_sign=True, source_p=0.05))[2]
    assert set(np.unique(signed)) <= {-1.0, 1.0} and len(np.unique(signed)) == 2


def test_poisson_file_layout(tmp_path):
    settings = dict(resolution=17, solver_resolution=65)
    out = generate_dataset(poisson.SOLVER, tmp_path / "p.nc", 3, seed=1, chunk_size=2, progress=False, **settings)
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.f.dims == ("sample", "x", "y") and ds.u.shape == (3, 17, 17)
        assert ds.attrs["opkit_inputs"] == "f" and ds.attrs["opkit_outputs"] == "u"
        for holder in (ds, ds.f, ds.u):
            assert holder.attrs["bc_x"] == holder.attrs["bc_y"] == "dirichlet"
        assert np.allclose(ds.x, np.linspace(0, 1, 17))
        u = ds.u.values
        assert np.all(u[:, [0, -1]] == 0) and np.all(u[:, :, [0, -1]] == 0) and np.all(u[:, 1:-1, 1:-1] > 0)
        assert ds.n_sources.dtype == np.int64 and ds.n_sources.attrs["opkit_role"] == "auxiliary"
        # The stored source is the law evaluated at the stored nodes.
        params = poisson.SOLVER.resolve(settings)
        c, s, w = poisson.sample_sources(sample_rngs(1, [2])[0], params)
        assert np.allclose(ds.f.values[2], poisson.gaussian_sum(np.linspace(0, 1, 17), c, s, w), rtol=1e-6)
        # Richardson from 65 and 33 nodes, at stride 2 and 4: close to the plain 129-node solve.
    finer = poisson.generate(dict(params, solver_resolution=129, richardson=False), np.arange(3), sample_rngs(1, range(3)))
    assert np.abs(finer.u.values - u).max() < 2e-3 * np.abs(u).max()


def test_poisson_cli(tmp_path):
    out = tmp_path / "cli.nc"
    cmd = [sys.executable, "-m", "solvers.poisson", "--preset", "pdegym-poisson-gauss", "--n-samples", "2",
           "--resolution", "33", "--solver-resolution", "129", "--no-progress", "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.u.shape == (2, 33, 33) and ds.attrs["preset"] == "pdegym-poisson-gauss"


def test_poisson_bad_input():
    with pytest.raises(ValueError, match=r"f must have shape \(n, n\) or \(batch, n, n\).*got \(3, 4, 5\)"):
        poisson.solve(np.ones((3, 4, 5)))
    with pytest.raises(ValueError, match=r"f needs at least 3 x 3 nodes"):
        poisson.solve(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"richardson needs .*\(solver_resolution - 1\)/2 = 190.5 must be a multiple of resolution - 1 = 127"):
        poisson.SOLVER.resolve({"solver_resolution": 382, "resolution": 128, "richardson": True})
    poisson.SOLVER.resolve({"solver_resolution": 382, "resolution": 128, "richardson": False})  # stride 3 alone is fine
    with pytest.raises(ValueError, match=r"resolution \(100\) - 1 must divide solver_resolution \(509\) - 1"):
        poisson.SOLVER.resolve({"resolution": 100, "solver_resolution": 509})
    with pytest.raises(ValueError, match=r"need 0 < sigma_min <= sigma_max, got sigma_min = 0.2"):
        poisson.SOLVER.resolve({"sigma_min": 0.2})


# ----------------------------------------------------------------------------- Helmholtz


def test_helmholtz_zero_coefficient_gives_the_boundary_value():
    u = helmholtz.solve(np.zeros((3, 17, 17)), np.array([0.25, 0.3, 0.5]))
    assert np.abs(u - np.array([0.25, 0.3, 0.5])[:, None, None]).max() < 1e-15


def test_helmholtz_manufactured_solution_order_two_and_richardson_four():
    # u = b + sin(pi x) sin(pi y) solves -Lap u = omega^2 a u exactly for
    # a = 2 pi^2 s / (omega^2 (b + s)), s = sin(pi x) sin(pi y): smooth, in [0, 0.25].
    omega, b = 2.5 * math.pi, 0.3

    def case(n):
        x, y = grid(n)
        s = np.sin(np.pi * x) * np.sin(np.pi * y)
        return 2 * np.pi**2 * s / (omega**2 * (b + s)), b + s

    plain, extrapolated = [], []
    for n in (17, 33, 65):
        a, u_exact = case(n)
        u, res = helmholtz.solve(a, b, omega, residual=True)
        assert res.max() < 1e-12
        plain.append(np.abs(u[0] - u_exact).max())
        fine = helmholtz.solve(case(2 * n - 1)[0], b, omega)[0, ::2, ::2]
        extrapolated.append(np.abs((4 * fine - u[0]) / 3 - u_exact).max())
    p2, p4 = orders(plain), orders(extrapolated)
    assert 1.9 <= p2.min() and p2.max() <= 2.1, (plain, p2)  # measured 2.00
    assert p4.min() >= 3.8, (extrapolated, p4)  # measured 4.04, 4.01


def test_helmholtz_singular_and_nearly_singular_systems_name_the_sample():
    n = 33
    h = 1.0 / (n - 1)
    lam = 8 / h**2 * np.sin(np.pi * h / 2) ** 2  # first discrete Dirichlet eigenvalue
    a = np.ones((2, n, n))
    a[0] = 0.0
    with pytest.raises(ValueError, match=r"sample 12: the Helmholtz system is (numerically )?singular"):
        helmholtz.solve(a, 0.3, omega=math.sqrt(lam), sample_ids=[11, 12])
    with pytest.raises(ValueError, match=r"sample 1: the Helmholtz system is numerically singular.*relative residual"):
        helmholtz.solve(a, 0.3, omega=math.sqrt(lam) * (1 + 1e-10))
    u = helmholtz.solve(a, 0.3, omega=math.sqrt(lam) * (1 + 1e-3))  # close but well posed
    assert np.abs(u[1]).max() > 100  # near resonance: large, finite, accepted


def test_helmholtz_bad_input_names_the_argument():
    with pytest.raises(ValueError, match=r"b must be a scalar or have shape \(2,\).*got \(3,\)"):
        helmholtz.solve(np.zeros((2, 9, 9)), np.ones(3))
    with pytest.raises(ValueError, match=r"a must have shape \(n, n\) or \(batch, n, n\).*got \(9, 8\)"):
        helmholtz.solve(np.zeros((9, 8)), 0.3)
    a = np.zeros((2, 9, 9))
    a[1, 3, 3] = np.inf
    with pytest.raises(ValueError, match=r"sample 6: a has non-finite values"):
        helmholtz.solve(a, 0.3, sample_ids=[5, 6])
    with pytest.raises(ValueError, match=r"omega must be > 0"):
        helmholtz.SOLVER.resolve({"omega": 0.0})
    with pytest.raises(ValueError, match=r"b_min \(0.6\) must not exceed b_max \(0.5\)"):
        helmholtz.SOLVER.resolve({"b_min": 0.6})


def test_helmholtz_file_layout_and_law(tmp_path):
    settings = dict(resolution=17, solver_resolution=33)
    out = generate_dataset(helmholtz.SOLVER, tmp_path / "h.nc", 3, seed=3, chunk_size=2, progress=False, **settings)
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.attrs["opkit_inputs"] == "a b" and ds.attrs["opkit_outputs"] == "u"
        for holder in (ds, ds.a, ds.b, ds.u):
            assert holder.attrs["bc_x"] == holder.attrs["bc_y"] == "dirichlet"
        a, b, u = ds.a.values, ds.b.values, ds.u.values
        assert np.allclose(a.min(axis=(1, 2)), 0) and np.allclose(a.max(axis=(1, 2)), 1)
        bv = ds.boundary_value.values
        assert np.all((0.25 <= bv) & (bv <= 0.5)) and np.allclose(b, bv[:, None, None])
        for edge in (u[:, 0], u[:, -1], u[:, :, 0], u[:, :, -1]):
            assert np.allclose(edge, bv[:, None].astype(np.float32))
        assert ds.residual.values.max() < 1e-10
    params = helmholtz.SOLVER.resolve(settings)
    one = compute_chunk(helmholtz.SOLVER, params, np.array([1]), 3)
    assert np.array_equal(one.u.values[0], u[1])  # independent of batch-mates


def test_presets_mirror_poseidon_settings():
    p = poisson.SOLVER.resolve(load_preset("pdegym-poisson-gauss", "poisson")["parameters"])
    assert (p["resolution"], p["source_p"], p["sigma_min"], p["sigma_max"]) == (128, 0.4, 0.025, 0.1)
    h = helmholtz.SOLVER.resolve(load_preset("pdegym-helmholtz", "helmholtz")["parameters"])
    assert h["resolution"] == 128 and h["omega"] == pytest.approx(2.5 * math.pi)
    assert (h["n_bumps_min"], h["n_bumps_max"], h["b_min"], h["b_max"]) == (2, 7, 0.25, 0.5)

"""``solvers.allen_cahn``: stationary profiles, time order, energy, curvature flow, files, bad input."""

import math

import numpy as np
import pytest
import xarray as xr

from solvers import allen_cahn as ac
from solvers._cli import compute_chunk, generate_dataset, load_preset
from solvers._seed import sample_rngs

TINY = dict(resolution=16, solver_resolution=32, n_times=3, final_time=2e-5, max_dt=2e-6, epsilon=60.0)


def grid(n):
    x = np.arange(n) / n
    return np.meshgrid(x, x, indexing="ij")


def test_two_far_apart_interfaces_stay_put():
    # tanh(eps (x - 1/4)/sqrt 2) - tanh(eps (x - 3/4)/sqrt 2) - 1 solves the
    # equation up to its interfaces' interaction, 2 exp(-eps/(2 sqrt 2)) = 1e-12
    # at eps = 80 (at eps = 50 it is 4e-8, and that is the drift one measures).
    eps, n = 80.0, 256
    x = np.arange(n) / n
    profile = ac.tanh_profile(x, eps, 0.25) - ac.tanh_profile(x, eps, 0.75) - 1
    u0 = np.broadcast_to(profile[:, None], (n, n)).copy()
    u = ac.solve(u0, [0.0, 10 / eps**2], eps, max_dt=0.5 / eps**2, dealias=False)
    assert np.abs(u[0, -1] - u0).max() < 1e-9  # measured 3.6e-11 (1.3e-10 with dealiasing)


def test_etdrk4_fourth_order_in_time():
    eps, n = 20.0, 64
    x, y = grid(n)
    u0 = 0.5 * np.sin(2 * np.pi * x) * np.cos(4 * np.pi * y) + 0.3 * np.cos(2 * np.pi * (x + y))
    times = [0.0, 0.01]
    ref = ac.solve(u0, times, eps, n_substeps=768, dealias=False)[0, -1]
    errors = [np.abs(ac.solve(u0, times, eps, n_substeps=m, dealias=False)[0, -1] - ref).max() for m in (24, 48, 96)]
    p = np.log2(np.array(errors[:-1]) / errors[1:])
    assert p.min() >= 3.8, (errors, p)  # measured 3.90, 3.96


def test_free_energy_decreases_and_maximum_principle_holds():
    eps, n = 15.0, 64
    u0 = ac.sine_series(sample_rngs(4, [0])[0], np.arange(n) / n, dict(modes_min=4, modes_max=4, decay_min=0.7,
                                                                        decay_max=0.7))[0] * 200
    u0 = np.clip(u0, -1, 1)
    times = np.linspace(0.0, 0.02, 21)
    u = ac.solve(u0, times, eps)[0]
    energy = ac.free_energy(u, eps)
    assert np.all(np.diff(energy) < 0)
    assert np.abs(u).max() <= 1 + 1e-8


def test_circle_shrinks_by_mean_curvature():
    # Sharp-interface limit: R(t)^2 = R0^2 - 2t; the disc's area is read off the phase.
    eps, n, r0 = 30.0, 64, 0.3
    x, y = grid(n)
    r = np.hypot(x - 0.5, y - 0.5)
    u0 = -np.tanh(eps * (r - r0) / math.sqrt(2))
    times = np.linspace(0.0, 0.02, 3)
    u = ac.solve(u0, times, eps, max_dt=0.2 / eps**2)[0]
    radius2 = (u > 0).mean(axis=(1, 2)) / np.pi
    assert radius2[-1] == pytest.approx(r0**2 - 2 * times[-1], rel=0.05), radius2  # measured 0.4 % off


def test_initial_law_and_file_layout(tmp_path):
    params = ac.SOLVER.resolve({})
    x = np.arange(64) / 64
    for rng in sample_rngs(0, range(5)):
        u0, k, r = ac.sine_series(rng, x, params)
        assert 16 <= k <= 32 and 0.7 <= r <= 1.0
        assert np.abs(u0[0]).max() < 1e-15 and np.abs(u0[:, 0]).max() < 1e-15  # sines vanish at x = 0
        assert np.abs(u0).max() < 0.01  # K^-2 normalisation: small initial data
    out = generate_dataset(ac.SOLVER, tmp_path / "ace.nc", 3, seed=2, chunk_size=2, progress=False, **TINY)
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.u.dims == ("sample", "time", "x", "y") and ds.u.shape == (3, 3, 16, 16)
        assert ds.attrs["opkit_inputs"] == "u0" and ds.attrs["opkit_outputs"] == "u"
        for holder in (ds, ds.u, ds.u0):
            assert holder.attrs["bc_x"] == holder.attrs["bc_y"] == "periodic"
        assert np.array_equal(ds.u.values[:, 0], ds.u0.values)
        assert np.allclose(ds.time, [0, 1e-5, 2e-5]) and np.allclose(ds.x, np.arange(16) / 16)
        assert ds.n_modes.attrs["opkit_role"] == "auxiliary"
        u = ds.u.values
    one = compute_chunk(ac.SOLVER, ac.SOLVER.resolve(TINY), np.array([1]), 2)
    assert np.array_equal(one.u.values[0], u[1])


def test_preset_mirrors_poseidon():
    p = ac.SOLVER.resolve(load_preset("pdegym-ace", "allen_cahn")["parameters"])
    assert (p["epsilon"], p["final_time"], p["n_times"], p["resolution"]) == (220.0, 2e-4, 20, 128)
    assert (p["modes_min"], p["modes_max"], p["decay_min"], p["decay_max"]) == (16, 32, 0.7, 1.0)


def test_bad_input_names_the_culprit():
    with pytest.raises(ValueError, match=r"u0 must have shape \(N, N\) or \(batch, N, N\) with N even.*got \(2, 9, 9\)"):
        ac.solve(np.zeros((2, 9, 9)), [0, 1e-5])
    with pytest.raises(ValueError, match=r"got \(8, 6\)"):
        ac.solve(np.zeros((8, 6)), [0, 1e-5])
    u0 = np.zeros((3, 8, 8))
    u0[2, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"sample 12: u0 has non-finite values"):
        ac.solve(u0, [0, 1e-5], sample_ids=[10, 11, 12])
    with pytest.raises(ValueError, match=r"times must be equally spaced"):
        ac.solve(np.zeros((8, 8)), [0, 1e-5, 3e-5])
    with pytest.raises(ValueError, match=r"solver_resolution \(200\) must be an even multiple of resolution \(128\)"):
        ac.SOLVER.resolve({"solver_resolution": 200})
    with pytest.raises(ValueError, match=r"epsilon must be > 0"):
        ac.SOLVER.resolve({"epsilon": -1.0})
    with pytest.raises(ValueError, match=r"need 1 <= modes_min <= modes_max"):
        ac.SOLVER.resolve({"modes_min": 40})

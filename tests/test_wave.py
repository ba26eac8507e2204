"""``solvers.wave``: convergence on exact solutions, energy, absorbing boundary, laws, files, bad input."""

import math

import numpy as np
import pytest
import xarray as xr

from solvers import wave
from solvers._cli import compute_chunk, generate_dataset, load_preset
from solvers._seed import sample_rngs

TINY = dict(resolution=16, solver_resolution=32, n_times=3, record_interval=0.02)


def grid(n):
    x = np.arange(n) / n
    return np.meshgrid(x, x, indexing="ij")


def orders(errors):
    e = np.asarray(errors)
    return np.log2(e[:-1] / e[1:])


def symbol(theta, space_order):
    """h^2 times the eigenvalue of -d^2/dx^2 for exp(i theta j) (one axis)."""
    if space_order == 2:
        return 2 - 2 * np.cos(theta)
    return (30 - 32 * np.cos(theta) + 2 * np.cos(2 * theta)) / 12


# ----------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize("space_order", [2, 4])
def test_periodic_standing_wave_is_second_order_in_time(space_order):
    # cos(2 pi m x) cos(2 pi k y) cos(omega_h t) solves the semi-discrete
    # problem exactly, so halving dt isolates the leapfrog error.
    n, m, k, c = 32, 1, 2, 1.3
    x, y = grid(n)
    h = 1.0 / n
    u0 = np.cos(2 * np.pi * m * x) * np.cos(2 * np.pi * k * y)
    lam = (symbol(2 * np.pi * m * h, space_order) + symbol(2 * np.pi * k * h, space_order)) / h**2
    times = np.linspace(0.0, 0.4, 5)
    exact = u0[None] * np.cos(c * math.sqrt(lam) * times)[:, None, None]
    errors = []
    for dt in (0.01, 0.005, 0.0025):
        u, steps = wave.solve(u0, np.full_like(u0, c), times, boundary="periodic", space_order=space_order, dt=dt)
        assert steps[0] == round(0.1 / dt)
        errors.append(np.abs(u[0] - exact).max())
    p = orders(errors)
    assert 1.95 <= p.min() and p.max() <= 2.05, (errors, p)  # measured 2.00


def test_travelling_plane_wave_converges_at_order_two():
    # d'Alembert: sin(2 pi (x + y) - omega t), omega = 2 pi c sqrt(2), with u_t(0)
    # given; refined in space and time at a fixed Courant number.
    c, errors = 1.0, []
    omega = 2 * np.pi * c * math.sqrt(2)
    times = np.linspace(0.0, 0.5, 3)
    for n in (16, 32, 64):
        x, y = grid(n)
        phase = 2 * np.pi * (x + y)
        u, _ = wave.solve(np.sin(phase), np.full_like(x, c), times, boundary="periodic", space_order=2,
                          v0=-omega * np.cos(phase))
        exact = np.sin(phase[None] - omega * times[:, None, None])
        errors.append(np.abs(u[0] - exact).max())
    p = orders(errors)
    assert 1.9 <= p.min() and p.max() <= 2.1, (errors, p)  # measured 2.00, 2.00


def test_periodic_energy_conserved_discretely_and_to_second_order():
    n = 32
    x, y = grid(n)
    c = 1.0 + 0.4 * np.sin(2 * np.pi * x) * np.cos(4 * np.pi * y)
    u0 = np.exp(-((x - 0.4) ** 2 + (y - 0.5) ** 2) / (2 * 0.08**2))
    drifts = []
    for dt in (4e-3, 2e-3):
        times = dt * np.arange(int(round(0.4 / dt)) + 1)
        u, _ = wave.solve(u0, c, times, boundary="periodic", dt=dt)
        u = u[0]
        # Discrete energy between consecutive levels: constant to round-off.
        e = wave.discrete_energy(u[:-1], u[1:], np.broadcast_to(c, u[1:].shape), 1.0 / n, dt)
        assert np.abs(e / e[0] - 1).max() < 1e-12
        # Centred kinetic energy + potential: conserved to O(dt^2).
        pad = np.pad(u[1:-1], ((0, 0), (2, 2), (2, 2)), mode="wrap")
        lap = wave.laplacian(pad, 1.0 / n)
        ut = (u[2:] - u[:-2]) / (2 * dt)
        energy = 0.5 * ((ut**2 / c**2).sum(axis=(1, 2)) - (u[1:-1] * lap).sum(axis=(1, 2)))
        drifts.append(np.abs(energy / energy[0] - 1).max())
    assert 1.8 <= math.log2(drifts[0] / drifts[1]) <= 2.2, drifts  # measured 1.98


def test_pulse_leaves_the_open_square():
    # A Gaussian pulse leaves the unit square; compared with the same run on a
    # three times larger square (the window cut out), whose boundary it never
    # reaches by t = 1. Equivalent discrete problem: the big array is read with
    # h = 1/192 and c = 1/3.
    n, sigma = 64, 0.05

    def run(scale):
        big = scale * n
        x = np.arange(big) / n - (big - n) // 2 / n
        xx, yy = np.meshgrid(x, x, indexing="ij")
        u0 = np.exp(-((xx - 0.45) ** 2 + (yy - 0.55) ** 2) / (2 * sigma**2))
        u, _ = wave.solve(u0, np.full_like(u0, 1.0 / scale), np.linspace(0, 1.0, 11), absorbing_width=0.25)
        o = (big - n) // 2
        return u[0][:, o : o + n, o : o + n]

    small, ref = run(1), run(3)
    assert np.abs(small[:5] - ref[:5]).max() < 1e-12  # identical before the front reaches the edge
    assert np.abs(small - ref).max() < 0.01  # measured 0.0036 (amplitude 1)
    assert (small[-1] ** 2).sum() < 0.01 * (small[0] ** 2).sum()  # measured 0.15 % of the L2 norm left inside


# ----------------------------------------------------------------------------- laws and files


def test_speed_laws():
    params = wave.SOLVER.resolve({})
    x = np.arange(64) / 64
    gauss = wave.gauss_speed(sample_rngs(0, [0])[0], x, params)
    assert 1500 <= gauss.min() and gauss.max() <= 2500 + 4 * 2500
    layers = [wave.layer_speed(r, x, params) for r in sample_rngs(0, range(20))]
    for c in layers:
        assert 2000 <= c.min() and c.max() <= 5000
        assert 1 <= len(np.unique(c)) <= 6
        assert np.all(c[:, 0] == c[0, 0])  # the bottom layer spans the bottom edge
    assert max(len(np.unique(c)) for c in layers) >= 5
    centres, sigmas = wave.initial_bumps(sample_rngs(0, [3])[0], params)
    assert 2 <= len(sigmas) <= 6 and np.all((1 / 6 <= centres) & (centres <= 5 / 6))


def test_file_layout_and_batch_independence(tmp_path):
    out = generate_dataset(wave.SOLVER, tmp_path / "w.nc", 3, seed=1, chunk_size=2, progress=False, **TINY)
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.u.dims == ("sample", "time", "x", "y") and ds.u.shape == (3, 3, 16, 16)
        assert ds.u0.dims == ds.c.dims == ("sample", "x", "y")
        assert ds.attrs["opkit_inputs"] == "u0 c" and ds.attrs["opkit_outputs"] == "u"
        assert np.allclose(ds.time, [0, 0.02, 0.04]) and np.allclose(ds.x, np.arange(16) / 16)
        assert np.array_equal(ds.u.values[:, 0], ds.u0.values)
        assert ds.c.values.min() >= 1.5  # 1500 * speed_scale 1e-3
        for holder in (ds, ds.u):
            assert holder.attrs["bc_x"] == "neumann"
        assert ds.n_steps.attrs["opkit_role"] == "auxiliary"
        u = ds.u.values
    params = wave.SOLVER.resolve(TINY)
    one = compute_chunk(wave.SOLVER, params, np.array([2]), 1)
    assert np.array_equal(one.u.values[0], u[2])


def test_presets_mirror_poseidon():
    g = wave.SOLVER.resolve(load_preset("pdegym-wave-gauss", "wave")["parameters"])
    layer = wave.SOLVER.resolve(load_preset("pdegym-wave-layer", "wave")["parameters"])
    assert (g["speed"], g["n_times"], layer["speed"], layer["n_times"]) == ("gauss", 15, "layer", 21)
    assert wave.recording_times(g)[-1] == pytest.approx(0.7) and wave.recording_times(layer)[-1] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- bad input


def test_cfl_violating_dt_names_the_sample_and_the_limit():
    x, _ = grid(16)
    c = np.stack([np.ones((16, 16)), 2 * np.ones((16, 16))])
    limit = wave.stability_limit(4) / 16 / 2
    with pytest.raises(ValueError, match=rf"dt = 0.03 violates the CFL .*limit dt <= {limit:.4g} of sample 8 "):
        wave.solve(np.zeros((2, 16, 16)), c, [0, 0.03], dt=0.03, sample_ids=[7, 8])
    assert wave.stability_limit(2) == pytest.approx(1 / math.sqrt(2))
    assert wave.stability_limit(4) == pytest.approx(math.sqrt(3 / 8))
    with pytest.raises(ValueError, match="cfl must be in"):
        wave.SOLVER.resolve({"cfl": 1.5})


def test_unstable_step_blows_up_and_names_the_sample(monkeypatch):
    # With the stability limit overstated threefold the leapfrog scheme is
    # unstable: the run must stop with a BlowUpError naming the sample.
    monkeypatch.setattr(wave, "stability_limit", lambda order=4: 3 * math.sqrt(3 / 8))
    u0 = np.random.default_rng(0).standard_normal((2, 16, 16))
    with pytest.raises(wave.BlowUpError, match=r"wave: sample 3 blew up .*at t = "):
        wave.solve(u0, np.ones((2, 16, 16)), np.linspace(0, 50, 3), boundary="periodic", cfl=1.0, sample_ids=[3, 4])


def test_wrong_shapes_and_bad_speeds_name_the_culprit():
    with pytest.raises(ValueError, match=r"c has shape \(8, 9\), expected the shape of u0, \(8, 8\)"):
        wave.solve(np.zeros((8, 8)), np.ones((8, 9)), [0, 0.1])
    with pytest.raises(ValueError, match=r"u0 must have shape \(N, N\) or \(batch, N, N\).*got \(8, 9\)"):
        wave.solve(np.zeros((8, 9)), np.ones((8, 9)), [0, 0.1])
    c = np.ones((2, 8, 8))
    c[1, 2, 2] = 0.0
    with pytest.raises(ValueError, match=r"sample 1: the speed c must be positive"):
        wave.solve(np.zeros((2, 8, 8)), c, [0, 0.1])
    with pytest.raises(ValueError, match=r"solver_resolution \(100\) must be a multiple of resolution \(128\)"):
        wave.SOLVER.resolve({"solver_resolution": 100})
    with pytest.raises(ValueError, match=r"times must be equally spaced and start at 0"):
        wave.solve(np.zeros((8, 8)), np.ones((8, 8)), [0.1, 0.2])

"""Tests of ``solvers.navier_stokes`` and the FFT layer ``solvers._fft``.

Exact solutions (Taylor--Green, FNO forcing from rest, Kolmogorov laminar flow),
a manufactured nonlinear solution for the temporal orders, self-convergence
of the default scheme on a GRF flow, spectral accuracy in space, invariants,
batch and backend independence, and bad input. Grids are small (32^2-64^2)
so the file runs in well under a minute on two cores.
"""

import numpy as np
import pytest
import xarray as xr

from solvers import _fft
from solvers import navier_stokes as ns
from solvers._seed import sample_rngs
from solvers._spec import BlowUpError

PI = np.pi


# ----------------------------------------------------------------- helpers


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def _manufactured(n, t, nu):
    """w_e = e^-t [sin 2pi x sin 4pi y + cos 6pi x] and its forcing."""
    x = ns.grid_points(n)[:, None]
    y = ns.grid_points(n)[None, :]
    e = np.exp(-t)
    A = np.sin(2 * PI * x) * np.sin(4 * PI * y)
    C = np.cos(6 * PI * x) + 0 * y
    w = e * (A + C)
    # psi solves -Lap psi = w: A/(20 pi^2) + C/(36 pi^2)
    u = e * np.sin(2 * PI * x) * 4 * PI * np.cos(4 * PI * y) / (20 * PI**2)
    v = -e * (2 * PI * np.cos(2 * PI * x) * np.sin(4 * PI * y) / (20 * PI**2) - 6 * PI * np.sin(6 * PI * x) / (36 * PI**2))
    wx = e * (2 * PI * np.cos(2 * PI * x) * np.sin(4 * PI * y) - 6 * PI * np.sin(6 * PI * x))
    wy = e * np.sin(2 * PI * x) * 4 * PI * np.cos(4 * PI * y)
    lap = e * (-20 * PI**2 * A - 36 * PI**2 * C)
    f = -w + u * wx + v * wy - nu * lap
    return w, f


def _manufactured_error(stepper, dt, n=32, nu=0.05, T=0.5):
    op = ns.NavierStokes2D(n, viscosity=nu, forcing=lambda t: _manufactured(n, t, nu)[1], stepper=stepper, dt=dt)
    s = op.to_state(_manufactured(n, 0.0, nu)[0][None])
    w = op.solve(s, [T])["vorticity"][0, -1]
    return np.abs(w - _manufactured(n, T, nu)[0]).max()


def _grf_state(op, n_samples=2, seed=3):
    return op.from_coefficients(ns.grf_vorticity(sample_rngs(seed, range(n_samples)), 64, master=64))


# ------------------------------------------------------------ exact solutions


@pytest.mark.parametrize("stepper,tol", [("etdrk4", 1e-12), ("rk4cn", 1e-6), ("fno-cn-euler", 1e-5)])
def test_taylor_green_decays_exactly(stepper, tol):
    nu = 0.01
    op = ns.NavierStokes2D(32, viscosity=nu, stepper=stepper, dt=1e-3 if stepper != "etdrk4" else None)
    s = op.to_state(ns.taylor_green_vorticity(32, 0.0, nu)[None])
    out = op.solve(s, [0.5, 1.0])["vorticity"][0]
    for j, t in enumerate([0.5, 1.0]):
        exact = ns.taylor_green_vorticity(32, t, nu)
        assert _rel(out[j], exact) < tol


def test_taylor_green_rk4cn_second_order():
    nu = 0.01
    errs = []
    for dt in (0.02, 0.01):
        op = ns.NavierStokes2D(32, viscosity=nu, stepper="rk4cn", dt=dt, length=1.0)
        s = op.to_state(ns.taylor_green_vorticity(32, 0.0, nu, wavenumber=3)[None])
        w = op.solve(s, [1.0])["vorticity"][0, 0]
        errs.append(_rel(w, ns.taylor_green_vorticity(32, 1.0, nu, wavenumber=3)))
    assert 1.9 < np.log2(errs[0] / errs[1]) < 2.1


@pytest.mark.parametrize("stepper", ["etdrk4", "rk4cn"])
def test_fno_forcing_from_rest_single_shell(stepper):
    # f lies on |k|^2 = 8 pi^2, the advection of a single-shell field vanishes,
    # so w(t) = f (1 - exp(-nu lam t)) / (nu lam) exactly.
    nu, n = 1e-3, 32
    f = ns.fno_forcing(n)
    # From rest the CFL step is unbounded: etdrk4 takes one step per interval
    # (exact), rk4cn (second order) needs a cap.
    op = ns.NavierStokes2D(n, viscosity=nu, forcing=f, stepper=stepper, max_dt=None if stepper == "etdrk4" else 0.01)
    res = op.solve(op.to_state(np.zeros((1, n, n))), [1.0, 10.0])
    out = res["vorticity"][0]
    if stepper == "etdrk4":
        # one step from rest, then the growing velocity sets the CFL step
        assert res["steps"][0] < 100
    lam = 8 * PI**2
    for j, t in enumerate([1.0, 10.0]):
        exact = f * (1 - np.exp(-nu * lam * t)) / (nu * lam)
        assert _rel(out[j], exact) < (1e-12 if stepper == "etdrk4" else 1e-5)
    # steady amplitude 0.1 / (nu lam) = 1.26651...
    assert 0.1 / (nu * lam) == pytest.approx(1.26651, abs=1e-5)


@pytest.mark.parametrize("stepper", ["etdrk4", "rk4cn", "fno-cn-euler"])
def test_kolmogorov_laminar_fixed_point(stepper):
    # u = (U sin ky, 0), U = chi/(nu k^2 + alpha), w = -k U cos ky is steady.
    L, m, chi, nu, alpha, n = 2 * PI, 4, 1.0, 0.05, 0.1, 32
    k = 2 * PI * m / L
    U = chi / (nu * k**2 + alpha)
    y = ns.grid_points(n, L)
    w_lam = np.broadcast_to(-k * U * np.cos(k * y)[None, :], (n, n))
    f = ns.kolmogorov_forcing(n, L, chi, m)
    op = ns.NavierStokes2D(n, length=L, viscosity=nu, drag=alpha, forcing=f, stepper=stepper, dt=1e-3)
    out = op.solve(op.to_state(w_lam[None]), [0.05])["vorticity"][0, -1]
    assert np.abs(out - w_lam).max() / np.abs(w_lam).max() < 1e-12


# ------------------------------------------------------------ temporal orders


@pytest.mark.parametrize(
    "stepper,dts,low,high",
    [
        ("etdrk4", (0.05, 0.025, 0.0125), 3.8, 4.3),
        ("rk4cn", (0.05, 0.025, 0.0125), 1.9, 2.2),
        ("fno-cn-euler", (0.01, 0.005, 0.0025), 0.9, 1.1),
    ],
)
def test_manufactured_solution_order(stepper, dts, low, high):
    errs = [_manufactured_error(stepper, dt) for dt in dts]
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(orders >= low) and np.all(orders <= high), (errs, orders)


def test_default_scheme_self_convergence_on_grf_flow():
    # No exact solution: differences between dt, dt/2, dt/4 on a nonlinear
    # FNO-type flow (GRF start, FNO forcing; the issue asks for order >= 3).
    n, nu = 32, 1e-3
    op = ns.NavierStokes2D(n, viscosity=nu, forcing=ns.fno_forcing(n))
    coef = ns.grf_vorticity(sample_rngs(7, range(2)), n, master=n) * 8.0  # stronger nonlinearity
    s0 = op.from_coefficients(coef)
    speed = op.max_speed(s0).max()
    dt0 = 0.8 * op.h / speed
    T = 64 * dt0
    sols = []
    for k in range(4):
        dt = dt0 / 2**k
        sols.append(op.step(s0, dt, nsteps=64 * 2**k))
    d = [np.linalg.norm(sols[k] - sols[k + 1]) for k in range(3)]
    orders = np.log2(np.array(d[:-1]) / np.array(d[1:]))
    assert np.all(orders >= 3.5), (d, orders, T)


def test_adaptive_step_lands_on_recording_times_and_is_accurate():
    n, nu = 32, 1e-3
    coef = ns.grf_vorticity(sample_rngs(1, range(2)), n, master=n)
    ref_op = ns.NavierStokes2D(n, viscosity=nu, forcing=ns.fno_forcing(n), cfl=0.05)
    op = ns.NavierStokes2D(n, viscosity=nu, forcing=ns.fno_forcing(n), cfl=0.5)
    ref = ref_op.solve(ref_op.from_coefficients(coef), [0.5, 1.0])
    out = op.solve(op.from_coefficients(coef), [0.5, 1.0])
    assert np.all(out["steps"] < ref["steps"])
    assert _rel(out["vorticity"], ref["vorticity"]) < 1e-4


# --------------------------------------------------------------- space


def test_spectral_accuracy_in_space():
    # Analytic initial field: its Fourier coefficients decay geometrically,
    # so the error must fall faster than any power of h.
    def w0(n):
        x = ns.grid_points(n)[:, None]
        y = ns.grid_points(n)[None, :]
        return np.exp(np.sin(2 * PI * x) + 0.5 * np.cos(2 * PI * y)) * np.cos(2 * PI * (x - y)) - 0.0

    def run(n):
        op = ns.NavierStokes2D(n, viscosity=0.02, dt=1e-3)
        w = w0(128)
        w = w - w.mean()
        return op.solve(op.to_state(w[None]), [0.1], n_out=16)["vorticity"][0, 0]

    ref = run(128)
    errs = [_rel(run(n), ref) for n in (16, 24, 32, 48)]
    assert errs[-1] < 1e-11
    assert errs[0] / errs[2] > 1e4  # geometric, not algebraic (h^2 would give 4)
    assert all(a > b for a, b in zip(errs, errs[1:]))


def test_storage_truncation_matches_direct_sampling():
    # A field that only holds modes below the stored Nyquist is sampled exactly.
    n, m = 64, 16
    op = ns.NavierStokes2D(n, viscosity=0.01)
    tg = ns.taylor_green_vorticity(n, 0.0, 0.0, wavenumber=3)
    np.testing.assert_allclose(op.vorticity(op.to_state(tg[None]), m)[0], tg[:: n // m, :: n // m], atol=1e-12)


# ---------------------------------------------------------- invariants


def test_inviscid_invariants_drift_fourth_order():
    n = 32
    op = ns.NavierStokes2D(n, viscosity=0.0)
    s0 = op.from_coefficients(ns.grf_vorticity(sample_rngs(2, range(1)), n, master=n))
    E0, Z0 = op.energy(s0), op.enstrophy(s0)
    # 64 steps at Courant number 0.4 on the coarsest level (about one eddy
    # turnover); RK4's invariant drift is O(dt^4) or better.
    T = 64 * 0.4 * op.h / op.max_speed(s0).max()
    drifts = []
    for k in range(3):
        s = op.step(s0, T / (64 * 2**k), nsteps=64 * 2**k)
        drifts.append((abs(op.energy(s) - E0)[0] / E0[0], abs(op.enstrophy(s) - Z0)[0] / Z0[0]))
    drifts = np.array(drifts)
    assert drifts.max() < 1e-4
    ratio = drifts[:-1] / drifts[1:]
    assert np.all(ratio > 2**3.5), drifts  # O(dt^4)


def test_viscous_decay_is_monotone():
    n = 32
    op = ns.NavierStokes2D(n, viscosity=2e-3)
    s = op.from_coefficients(ns.grf_vorticity(sample_rngs(4, range(2)), n, master=n))
    times = np.linspace(0.25, 5.0, 20)
    E, Z = [op.energy(s)], [op.enstrophy(s)]
    for t0, t1 in zip(np.r_[0.0, times[:-1]], times):
        s = op.advance(s, t0, t1)
        E.append(op.energy(s))
        Z.append(op.enstrophy(s))
    E, Z = np.array(E), np.array(Z)
    assert np.all(np.diff(E, axis=0) < 0) and np.all(np.diff(Z, axis=0) < 0)


def test_energy_spectrum_sums_to_energy():
    n = 32
    op = ns.NavierStokes2D(n, viscosity=1e-3)
    w = ns.taylor_green_vorticity(n, wavenumber=2) + ns.taylor_green_vorticity(n, wavenumber=5)
    k, E = ns.energy_spectrum(w)
    vel = op.velocity(op.to_state(w[None]))[0]
    assert E.sum() == pytest.approx(0.5 * np.mean(vel[0] ** 2 + vel[1] ** 2), rel=1e-12)
    assert E[np.argmax(E)] > 0 and k[np.argmax(E)] in (3, 7)  # |k| = 2*sqrt2 -> shell 3


# ------------------------------------------------- independence and backends


def test_samples_do_not_depend_on_batch_mates():
    params = ns.SOLVER.resolve({"solver_resolution": 32, "resolution": 16, "t_end": 2.0, "ic_resolution": 32})
    idx = np.arange(5)
    full = ns.generate(params, idx, sample_rngs(11, idx))
    one = ns.generate(params, idx[3:4], sample_rngs(11, idx[3:4]))
    three = ns.generate(params, idx[1:4], sample_rngs(11, idx[1:4]))
    assert np.array_equal(full.w.values[3], one.w.values[0])
    assert np.array_equal(full.w.values[3], three.w.values[2])
    # and not on the thread count either
    params2 = dict(params, threads=2)
    two = ns.generate(params2, idx, sample_rngs(11, idx))
    assert np.array_equal(full.w.values, two.w.values)


@pytest.mark.parametrize("stepper", ["etdrk4", "fno-cn-euler"])
def test_max_speed_is_the_largest_velocity_magnitude(stepper):
    op = ns.NavierStokes2D(32, stepper=stepper, dt=None if stepper == "etdrk4" else 1e-3)
    s = _grf_state(op, 3)
    vel = op.velocity(s)
    assert np.array_equal(op.max_speed(s), np.sqrt(vel[:, 0] ** 2 + vel[:, 1] ** 2).reshape(3, -1).max(-1))
    # Taylor-Green vortex of amplitude A: u = (-A cos kx sin ky, A sin kx cos ky),
    # |u| = A at grid points such as (0, pi / 2k)
    tg = op.to_state(ns.taylor_green_vorticity(32, wavenumber=2, amplitude=0.7)[None])
    assert op.max_speed(tg)[0] == pytest.approx(0.7, rel=1e-12)


@pytest.mark.parametrize("backend", [b for b in _fft.available_backends()])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mixed_step_counts_in_one_block_match_solo_runs(backend, dtype):
    # Samples of different speeds need different substep counts; ETDRK4 runs
    # them in one block with per-sample coefficients, samples dropping out as
    # they reach their count. Each must come out bit for bit as when run alone
    # with numpy's FFT; torch's FFT picks its kernel by batch size (MKL or
    # pocketfft plans differ), so there the block matches to round-off only.
    n = 32
    op = ns.NavierStokes2D(n, viscosity=1e-3, forcing=ns.fno_forcing(n), cfl=1.0, backend=backend, dtype=dtype)
    s0 = _grf_state(op, n_samples=5) * np.array([1.0, 2.5, 0.4, 1.7, 3.3])[:, None, None]
    mixed = []
    plain = op._steps_mixed
    op._steps_mixed = lambda s, levels, *a: (mixed.append(tuple(levels)), plain(s, levels, *a))[1]
    out = op.advance(s0, 0.0, 1.0)
    steps = op.last_steps.copy()
    del op._steps_mixed
    assert len(set(steps)) >= 4 and mixed == [tuple(sorted(steps, reverse=True))]
    for i in range(5):
        alone = op.advance(s0[i : i + 1], 0.0, 1.0)
        assert op.last_steps[0] == steps[i]
        if backend == "numpy":
            assert np.array_equal(alone[0], out[i])
        else:
            eps = np.finfo(dtype).eps
            assert np.abs(alone[0] - out[i]).max() <= 100 * eps * np.abs(out[i]).max()
    # and each is the solution to ETDRK4's accuracy at 1 to 7 steps per unit
    # time (Courant number 1; 0.8e-4 to 3.6e-4 measured) against dt = 1/256
    # (7e-11 from dt = 1/512)
    ref = ns.NavierStokes2D(n, viscosity=1e-3, forcing=ns.fno_forcing(n), dt=1 / 256).advance(s0, 0.0, 1.0)
    assert max(_rel(out[i], ref[i]) for i in range(5)) < 1e-3


@pytest.mark.parametrize("backend", [b for b in _fft.available_backends()])
def test_backends_agree(backend):
    n = 32
    ref_op = ns.NavierStokes2D(n, viscosity=1e-3, forcing=ns.fno_forcing(n), backend="numpy")
    s0 = _grf_state(ref_op)[:, :, :]
    ref = ref_op.step(s0, 0.01, nsteps=100)
    op = ns.NavierStokes2D(n, viscosity=1e-3, forcing=ns.fno_forcing(n), backend=backend)
    assert _rel(op.step(s0, 0.01, nsteps=100), ref) < 1e-12
    op32 = ns.NavierStokes2D(n, viscosity=1e-3, forcing=ns.fno_forcing(n), backend=backend, dtype="float32")
    out32 = op32.step(s0.astype(np.complex64), 0.01, nsteps=100)
    assert out32.dtype == np.complex64
    assert _rel(out32, ref) < 1e-5


@pytest.mark.parametrize("ncols", [None, 11])
def test_planned_transforms_match_numpy(ncols):
    rng = np.random.default_rng(0)
    n = 32
    x = rng.standard_normal((3, n, n))
    X = np.fft.rfft2(x)
    nc = n // 2 + 1 if ncols is None else ncols
    for be in _fft.available_backends():
        fw = _fft.ForwardRFFT2(3, n, ncols, backend=be)
        fw.input[...] = x
        np.testing.assert_allclose(fw.execute(), X[:, :, :nc], atol=1e-11)
        inv = _fft.InverseRFFT2(3, n, ncols, backend=be)
        inv.input[...] = X[:, :, :nc]
        Xt = np.zeros_like(X)
        Xt[:, :, :nc] = X[:, :, :nc]
        np.testing.assert_allclose(inv.execute(), np.fft.irfft2(Xt, s=(n, n)) * n * n, atol=1e-10)
    assert _fft.resolve_backend("auto") == ("pyfftw" if "pyfftw" in _fft.available_backends() else "scipy")
    with pytest.raises(ValueError, match="unknown FFT backend"):
        _fft.resolve_backend("cufft")


def test_fno_scheme_reproduces_reference_loop():
    # An independent transcription of FNO's ns_2d.py update (full spectrum,
    # torch-style wavenumbers with the Nyquist index at -N/2, mask on F only).
    n, nu, dt, steps = 32, 1e-3, 1e-3, 20
    w0 = ns.grf_vorticity(sample_rngs(5, range(1)), n, master=n)
    w = np.fft.irfft2(w0 * n * n, s=(n, n))[0]
    f = ns.fno_forcing(n)
    k_max = n // 2
    k_y = np.tile(np.r_[np.arange(0, k_max), np.arange(-k_max, 0)], (n, 1))
    k_x = k_y.T
    k_x, k_y = k_x[:, : k_max + 1], k_y[:, : k_max + 1]
    lap = 4 * PI**2 * (k_x**2 + k_y**2)
    lap[0, 0] = 1.0
    dealias = (np.abs(k_y) <= 2 / 3 * k_max) & (np.abs(k_x) <= 2 / 3 * k_max)
    f_h = np.fft.rfft2(f)
    w_h = np.fft.rfft2(w)
    for _ in range(steps):
        psi_h = w_h / lap
        q = np.fft.irfft2(2 * PI * k_y * 1j * psi_h, s=(n, n))
        v = np.fft.irfft2(-2 * PI * k_x * 1j * psi_h, s=(n, n))
        w_x = np.fft.irfft2(2 * PI * k_x * 1j * w_h, s=(n, n))
        w_y = np.fft.irfft2(2 * PI * k_y * 1j * w_h, s=(n, n))
        F_h = np.fft.rfft2(q * w_x + v * w_y) * dealias
        w_h = (-dt * F_h + dt * f_h + (1.0 - 0.5 * dt * nu * lap) * w_h) / (1.0 + 0.5 * dt * nu * lap)
    op = ns.NavierStokes2D(n, viscosity=nu, forcing=f, stepper="fno-cn-euler", dt=dt, backend="numpy")
    s = op.step(op.to_state(w[None]), dt, nsteps=steps)
    np.testing.assert_allclose(s[0] * n * n, w_h, rtol=0, atol=1e-11 * np.abs(w_h).max())


# --------------------------------------------------------------- dataset glue


def test_generate_dataset_layout(tmp_path):
    from solvers._cli import generate_dataset

    out = tmp_path / "ns.nc"
    generate_dataset(
        ns.SOLVER, out, 2, seed=0, progress=False, solver_resolution=32, resolution=16, ic_resolution=32,
        t_end=2.0, velocity=True,
    )
    ds = xr.open_dataset(out)
    assert ds.w.dims == ("sample", "time", "x", "y") and ds.w.shape == (2, 2, 16, 16)
    assert ds.w0.dims == ("sample", "x", "y")
    assert ds.velocity.dims == ("sample", "time", "x", "y", "component")
    assert ds.attrs["opkit_inputs"] == "w0" and ds.attrs["opkit_outputs"] == "w velocity"
    assert ds.w.attrs["opkit_role"] == "output" and ds.w0.attrs["opkit_role"] == "input"
    assert ds.x.attrs["units"] == "1" and ds.time.values.tolist() == [1.0, 2.0]
    assert ds.attrs["bc_x"] == "periodic" and ds.attrs["solver_resolution"] == 32
    # input is the drawn GRF truncated to the stored grid; its mean is zero
    assert abs(float(ds.w0.mean())) < 1e-6
    ds.close()


def test_warm_up_makes_post_warm_up_field_the_input():
    params = ns.SOLVER.resolve(
        {
            "solver_resolution": 32, "resolution": 32, "ic_resolution": 32, "length": 2 * PI,
            "initial_condition": "mcwilliams", "forcing": "none", "t_start": 0.5, "t_end": 1.0,
            "record_interval": 0.25,
        }
    )
    ds = ns.generate(params, np.arange(1), sample_rngs(0, [0]))
    assert ds.time.values.tolist() == [0.75, 1.0]
    op = ns.make_solver(params)
    coef = ns.initial_coefficients(params, sample_rngs(0, [0]))
    w05 = op.vorticity(op.solve(op.from_coefficients(coef), [0.25, 0.5])["state"])
    np.testing.assert_allclose(ds.w0.values[0], w05[0], atol=1e-12 * np.abs(w05).max())


@pytest.mark.parametrize("ic", ["grf", "mcwilliams", "filtered_velocity"])
def test_initial_conditions_are_resolution_independent(ic):
    params = ns.SOLVER.resolve({"initial_condition": ic, "ic_resolution": 64, "length": 2 * PI})
    coef = ns.initial_coefficients(params, sample_rngs(0, [0, 1]))
    assert coef.shape == (2, 64, 33)
    w32 = ns._physical(coef, 32)
    w64 = ns._physical(coef, 64)
    assert abs(w64.mean()) < 1e-12
    # the 32-point field is the 64-point field with modes >= 16 removed
    np.testing.assert_allclose(ns._physical(np.fft.rfft2(w64) / 64**2, 32), w32, atol=1e-12)
    if ic == "mcwilliams":
        op = ns.NavierStokes2D(64, length=2 * PI)
        vel = op.velocity(op.from_coefficients(coef))
        assert np.mean(vel[0, 0] ** 2 + vel[0, 1] ** 2) == pytest.approx(0.5, rel=0.02)
    if ic == "filtered_velocity":
        op = ns.NavierStokes2D(64, length=2 * PI)
        assert op.max_speed(op.from_coefficients(coef)).max() == pytest.approx(5.0, rel=0.1)


def test_presets_resolve():
    from solvers._cli import list_presets, load_preset

    names = set(list_presets("navier_stokes"))
    assert {"fno-ns-v1e-3", "fno-ns-v1e-4", "fno-ns-v1e-5", "mcwilliams", "kolmogorov"} <= names
    for name in names:
        params = ns.SOLVER.resolve(load_preset(name, "navier_stokes")["parameters"])
        assert params["resolution"] == 64
    p = ns.SOLVER.resolve(load_preset("fno-ns-v1e-3", "navier_stokes")["parameters"])
    assert p["viscosity"] == 1e-3 and p["t_end"] == 50 and len(ns.recording_times(p)) == 50


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "override,match",
    [
        ({"viscosity": 0.0}, "viscosity must be > 0"),
        ({"viscosity": -1e-3}, "viscosity must be > 0"),
        ({"resolution": 2}, "resolution must be >= 3"),
        ({"solver_resolution": 6, "resolution": 6}, "solver_resolution must be an even number >= 8"),
        ({"solver_resolution": 65}, "solver_resolution must be an even number"),
        ({"resolution": 128, "solver_resolution": 64}, "must not exceed solver_resolution"),
        ({"record_interval": 0.3}, "record_interval .* must divide"),
        ({"dt": 0.3}, "fixed dt .* must divide record_interval"),
        ({"cfl": 2.0}, "cfl must be in"),
        ({"stepper": "euler"}, "stepper"),
    ],
)
def test_bad_parameters(override, match):
    with pytest.raises(ValueError, match=match):
        ns.SOLVER.resolve(override)


def test_unknown_preset_is_a_clear_error(capsys, tmp_path):
    from solvers._cli import run_cli

    out = str(tmp_path / "x.nc")
    assert run_cli(ns.SOLVER, ["--preset", "fno-ns-v1e-9", "--n-samples", "1", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'fno-ns-v1e-9'" in err and "fno-ns-v1e-3" in err


def test_fixed_dt_violating_cfl_names_the_limit():
    params = ns.SOLVER.resolve(
        {"solver_resolution": 32, "resolution": 32, "ic_resolution": 32, "t_end": 1.0, "dt": 1.0}
    )
    idx = np.array([7])
    with pytest.raises(ValueError, match=r"violates the CFL limit.*dt_max = 1\.3 \* h / max\|u\| = .*sample 7"):
        ns.generate(params, idx, sample_rngs(0, idx))


def test_blow_up_names_sample_and_parameters():
    # A fixed dt far above the stability limit, with the CFL check bypassed,
    # must end in a BlowUpError naming the sample and the parameters.
    n = 32
    op = ns.NavierStokes2D(n, viscosity=1e-4, stepper="fno-cn-euler", dt=0.05)
    op.cfl_limit = np.inf  # let the bad step through
    s = op.from_coefficients(ns.grf_vorticity(sample_rngs(0, range(2)), n, master=n) * 50)
    with pytest.raises(BlowUpError, match=r"sample\(s\) 41, 42 .*stepper=fno-cn-euler.*viscosity=0.0001.*preset=test"):
        op.solve(s, [1.0, 2.0, 20.0], sample_ids=[41, 42], describe="preset=test")


def test_courant_number_up_to_the_cap_stays_accurate():
    # The caps of CFL_LIMITS sit above the linear floor (0.97 for ETDRK4 at
    # n = 64): at Courant number 1.2 a GRF flow still matches a fine-step run
    # within the 1e-3 bar of the benchmarks (2.5e-4 measured), in float32 too.
    n = 32
    coef = ns.grf_vorticity(sample_rngs(3, range(2)), n, master=n)
    times = [1.0, 2.0, 3.0]
    ref_op = ns.NavierStokes2D(n, viscosity=1e-3, forcing=ns.fno_forcing(n), cfl=0.1)
    ref = ref_op.solve(ref_op.from_coefficients(coef), times)["vorticity"]
    for dtype in ("float64", "float32"):
        op = ns.NavierStokes2D(n, viscosity=1e-3, forcing=ns.fno_forcing(n), cfl=1.2, dtype=dtype)
        out = op.solve(op.from_coefficients(coef), times)
        err = np.linalg.norm(out["vorticity"] - ref, axis=(-2, -1)) / np.linalg.norm(ref, axis=(-2, -1))
        assert err.max() < 1e-3, (dtype, err.max())
        assert out["steps"].max() < ref_op.solve(ref_op.from_coefficients(coef), times)["steps"].min()


def test_imaginary_axis_floor_of_the_caps():
    # Linear floor of the caps: stability radius on the imaginary axis of each
    # explicit scheme over the largest advection eigenvalue per unit Courant
    # number of a uniform diagonal flow on the 2/3 square.
    from solvers._ns_stepper import _CK_A, _CK_B

    def ck(z):
        u, h = 1.0 + 0j, 0.0
        for a, b in zip(_CK_A, _CK_B):
            h = a * h + z * u
            u = u + b * h
        return u

    def rk4(z):
        return 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24

    y = np.linspace(0.01, 5, 50001)
    radius = {name: y[np.argmax(np.abs(f(1j * y)) > 1 + 1e-12)] for name, f in (("etdrk4", rk4), ("rk4cn", ck))}
    assert radius["etdrk4"] == pytest.approx(2 * np.sqrt(2), abs=1e-3)
    growth = np.sqrt(2) * 2 * np.pi * ns.dealias_cutoff(64) / 64
    for name, r in radius.items():
        assert ns.CFL_LIMITS[name] >= r / growth - 0.2  # caps above (or near) the floor, never far below


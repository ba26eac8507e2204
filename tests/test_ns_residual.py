"""The H^-1 Navier-Stokes residual (opkit.physics.ns_residual) against solver trajectories."""

import numpy as np
import pytest
import xarray as xr

from opkit.physics.ns_residual import residual_norm
from solvers._ns_spectral import _physical, grid_points
from solvers.navier_stokes import NavierStokes2D, fno_forcing, grf_vorticity

N, NU = 64, 1e-3


@pytest.fixture(scope="module")
def setup():
    f = fno_forcing(N)
    op = NavierStokes2D(N, viscosity=NU, forcing=f)
    coef = grf_vorticity([np.random.default_rng(i) for i in range(2)], N, master=N)
    return op, op.from_coefficients(coef), f


def _trajectory(setup, dt, span=0.4):
    op, s0, _ = setup
    times = dt * np.arange(int(round(span / dt)) + 1)
    out = op.solve(s0, times[1:], t0=0.0, n_out=N)["vorticity"]
    w = np.concatenate([op.vorticity(s0, N)[:, None], out], 1)
    x = grid_points(N, 1.0)
    return xr.DataArray(w, dims=("sample", "time", "x", "y"), coords={"time": times, "x": x, "y": x},
                        attrs={"bc_x": "periodic", "bc_y": "periodic"})


def _smooth_noise(da, level, seed):
    """Noise smooth in space (GRF) and time (two slow modes), rms = level * rms(w)."""
    rng = np.random.default_rng(seed)
    g = _physical(grf_vorticity([rng, rng], N, master=N), N)
    t = da["time"].values[None, :, None, None]
    eta = g[0][None, None] * np.cos(2 * np.pi * t) + g[1][None, None] * np.sin(2 * np.pi * t)
    return eta * level * float(da.std()) / eta.std()


def test_solver_trajectory_far_below_noisy_and_frozen(setup):
    da = _trajectory(setup, 0.02)
    f = setup[2]
    clean = residual_norm(da, f, NU).values
    noisy = residual_norm(da + _smooth_noise(da, 0.01, 3), f, NU).values
    assert np.all(noisy > 100 * clean), (clean, noisy)
    frozen = da.isel(time=[0] * 5).assign_coords(time=da["time"].values[:5])
    fro = residual_norm(frozen, f, NU).values
    assert np.all(fro > 1e3 * clean) and np.all(fro > 1e-3)


@pytest.mark.parametrize("order", [2, 4])
def test_falls_at_scheme_order(setup, order):
    f = setup[2]
    r = [residual_norm(_trajectory(setup, dt), f, NU, order=order).values for dt in (0.04, 0.02, 0.01)]
    rates = [np.log2(a / b) for a, b in zip(r[:-1], r[1:])]
    assert np.all(np.asarray(rates) > 0.8 * order), rates


def test_grid_independent_normalisation(setup):
    """The same smooth field on 32^2 and 64^2 gives the same norm (the release's DFT scaling would differ 4x)."""
    op, s0, _ = setup
    vals = []
    for n in (32, 64):
        x = grid_points(n, 1.0)
        w = np.sin(2 * np.pi * x)[:, None] * np.cos(4 * np.pi * x)[None, :]
        da = xr.DataArray(np.stack([w] * 4), dims=("time", "x", "y"), coords={"time": np.arange(4.0), "x": x, "y": x})
        vals.append(residual_norm(da, None, NU, s=0))
    # steady field: R = -nu Lap w = nu |kappa|^2 w, |kappa|^2 = 20 pi^2, ||w||_L2 = 1/2
    assert vals[0] == pytest.approx(vals[1], rel=1e-12)
    assert vals[0] == pytest.approx(NU * 20 * np.pi**2 * 0.5, rel=1e-10)


def test_bad_input(setup):
    da = _trajectory(setup, 0.04)
    f = setup[2]
    with pytest.raises(ValueError, match="periodic-only"):
        residual_norm(da.assign_attrs(bc_x="dirichlet"), f, NU)
    t = da["time"].values.copy()
    t[3] += 0.01
    with pytest.raises(ValueError, match="uniform"):
        residual_norm(da.assign_coords(time=t), f, NU)
    with pytest.raises(ValueError, match="forcing has shape"):
        residual_norm(da, f[:32], NU)
    with pytest.raises(ValueError, match="viscosity"):
        residual_norm(da, f, None)
    with pytest.raises(ValueError, match="viscosity"):
        residual_norm(da, f, -1.0)
    with pytest.raises(ValueError, match="square"):
        residual_norm(da.isel(y=slice(0, 32)), None, NU)
    with pytest.raises(TypeError, match="DataArray"):
        residual_norm(da.values, f, NU)
    # forcing as a DataArray in the other dim order is transposed
    fda = xr.DataArray(f.T, dims=("y", "x"))
    assert np.allclose(residual_norm(da, fda, NU).values, residual_norm(da, f, NU).values)

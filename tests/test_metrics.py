"""Tests of :mod:`opkit.metrics`: Sobolev norms, relative errors, scorer and torch losses."""

import math
import warnings

import numpy as np
import pytest
import torch
import xarray as xr
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from opkit.metrics import (
    SobolevLoss,
    make_loss,
    relative_error,
    sobolev_norm,
    sobolev_norm_torch,
    sobolev_scorer,
)

# ---------------------------------------------------------------------------
# Helpers building fields with known norms
# ---------------------------------------------------------------------------


def periodic_field(values, lengths=(1.0, 1.0), lead_dims=()):
    """A DataArray on the periodic grid x_j = j L / n (end point excluded)."""
    *_, nx, ny = values.shape
    x = np.arange(nx) * lengths[0] / nx
    y = np.arange(ny) * lengths[1] / ny
    return xr.DataArray(
        values,
        dims=(*lead_dims, "x", "y"),
        coords={"x": x, "y": y},
        attrs={"bc_x": "periodic", "bc_y": "periodic"},
    )


def sine_product(k, m, n, lengths):
    """sin(2πk x/Lx)·sin(2πm y/Ly) on an n×n periodic grid and its |κ|²."""
    x = np.arange(n) * lengths[0] / n
    y = np.arange(n) * lengths[1] / n
    values = np.outer(
        np.sin(2 * np.pi * k * x / lengths[0]), np.sin(2 * np.pi * m * y / lengths[1])
    )
    kappa_sq = (2 * np.pi * k / lengths[0]) ** 2 + (2 * np.pi * m / lengths[1]) ** 2
    return values, kappa_sq


def bounded_exp_sin(n, bc="dirichlet", shift=0.3):
    """exp(x)·sin(y + shift) on [0, 1]² with both end points on the grid."""
    x = np.linspace(0.0, 1.0, n)
    y = np.linspace(0.0, 1.0, n)
    values = np.exp(x)[:, None] * np.sin(y + shift)[None, :]
    return xr.DataArray(
        values, dims=("x", "y"), coords={"x": x, "y": y}, attrs={"bc_x": bc, "bc_y": bc}
    )


def exp_sin_h_norms_squared(shift=0.3):
    """Exact ‖u‖²_{H¹} and ‖u‖²_{H²} of exp(x)·sin(y + shift) on [0, 1]²."""
    ex = (math.e**2 - 1) / 2  # ∫ e^{2x}
    sin_sq = 0.5 - (math.sin(2 * (1 + shift)) - math.sin(2 * shift)) / 4
    cos_sq = 1 - sin_sq
    # u_x = u_xx = u, u_y = u_xy = e^x cos, u_yy = -u.
    h1 = ex * (2 * sin_sq + cos_sq)
    # H²: ‖u‖² + 2‖u_x‖² + 2‖u_y‖² + ‖u_xx‖² + 2‖u_xy‖² + ‖u_yy‖²
    h2 = ex * (5 * sin_sq + 4 * cos_sq)
    return h1, h2


def observed_orders(errors):
    """Convergence orders between successive grids that halve the spacing."""
    errors = np.asarray(errors)
    return np.log2(errors[:-1] / errors[1:])


# ---------------------------------------------------------------------------
# Closed forms on the periodic square
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("s", [0, 1, 2, -1, 0.5])
@pytest.mark.parametrize("lengths", [(1.0, 1.0), (2.0, 0.5)])
def test_sine_product_matches_closed_form(s, lengths):
    values, kappa_sq = sine_product(k=2, m=3, n=16, lengths=lengths)
    area = lengths[0] * lengths[1]
    field = periodic_field(values, lengths)
    # ∫ sin² sin² = |Ω|/4; the four modes (±k, ±m) share |κ|².
    expected = area / 4 * (1 + kappa_sq) ** s
    assert float(sobolev_norm(field, s)) ** 2 == pytest.approx(expected, rel=1e-12)
    expected_semi = area / 4 * kappa_sq**s
    got_semi = float(sobolev_norm(field, s, homogeneous=True)) ** 2
    assert got_semi == pytest.approx(expected_semi, rel=1e-12)


def test_l2_norm_is_the_integral_and_homogeneous_drops_the_mean():
    values, _ = sine_product(k=1, m=1, n=12, lengths=(1.0, 1.0))
    field = periodic_field(values + 3.0)
    # ∫ (3 + sin sin)² = 9 + 1/4 on the unit square (the cross term integrates to 0).
    assert float(sobolev_norm(field, 0)) ** 2 == pytest.approx(9.25, rel=1e-12)
    assert float(sobolev_norm(field, 0, homogeneous=True)) ** 2 == pytest.approx(0.25, rel=1e-12)
    assert float(sobolev_norm(field, -1, homogeneous=True)) ** 2 == pytest.approx(
        0.25 / (8 * np.pi**2), rel=1e-12
    )


def test_homogeneous_h_minus_1_of_vorticity_is_velocity_l2():
    rng = np.random.default_rng(7)
    n = 32
    x = np.arange(n) / n
    X, Y = np.meshgrid(x, x, indexing="ij")
    n_samples = 3
    omega = np.zeros((n_samples, n, n))
    velocity = np.zeros((n_samples, 2, n, n))
    for i in range(n_samples):
        # ψ = Σ a cos θ + b sin θ, θ = 2π(kx + my): ω = -Δψ and u = (ψ_y, -ψ_x) in closed form.
        for _ in range(6):
            k, m = rng.integers(-5, 6, size=2)
            if k == 0 and m == 0:
                continue
            a, b = rng.normal(size=2) / (1 + k * k + m * m)
            theta = 2 * np.pi * (k * X + m * Y)
            kappa_sq = 4 * np.pi**2 * (k * k + m * m)
            omega[i] += kappa_sq * (a * np.cos(theta) + b * np.sin(theta))
            dpsi = 2 * np.pi * (-a * np.sin(theta) + b * np.cos(theta))  # ∂θ ψ · 2π
            velocity[i, 0] += m * dpsi
            velocity[i, 1] -= k * dpsi
    vorticity = periodic_field(omega, lead_dims=("sample",))
    speed = periodic_field(velocity, lead_dims=("sample", "component"))
    h_minus_1 = sobolev_norm(vorticity, -1, homogeneous=True)
    kinetic = np.sqrt((sobolev_norm(speed, 0) ** 2).sum("component"))
    assert h_minus_1.dims == ("sample",)
    assert float(kinetic.min()) > 0.1
    np.testing.assert_allclose(h_minus_1.values, kinetic.values, rtol=1e-12)


# ---------------------------------------------------------------------------
# Finite differences on bounded dims
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("s, which", [(1, 0), (2, 1)])
def test_fd_norm_converges_at_second_order(s, which):
    exact = exp_sin_h_norms_squared()[which]
    errors = [abs(float(sobolev_norm(bounded_exp_sin(n), s)) ** 2 - exact) for n in (17, 33, 65)]
    assert errors[-1] < 1e-3 * exact
    assert np.all(observed_orders(errors) >= 1.8)


def test_mixed_grid_converges_at_second_order():
    # exp(x)·sin(2πy): x bounded on [0, 1] (FD), y periodic on [0, 1) (spectral, exact).
    exact = (math.e**2 - 1) / 2 * 0.5 * (2 + 4 * np.pi**2)
    y = np.arange(16) / 16
    errors = []
    for n in (17, 33, 65):
        x = np.linspace(0, 1, n)
        field = xr.DataArray(
            np.exp(x)[:, None] * np.sin(2 * np.pi * y)[None, :],
            dims=("x", "y"),
            coords={"x": x, "y": y},
            attrs={"bc_x": "neumann", "bc_y": "periodic"},
        )
        errors.append(abs(float(sobolev_norm(field, 1)) ** 2 - exact))
    assert np.all(observed_orders(errors) >= 1.8)


def test_bounded_l2_is_trapezoid_and_exact_for_linear_squares():
    # u = x on [0, 2]: the trapezoid rule on u² = x² overshoots by h²·L/6 exactly.
    n = 11
    x = np.linspace(0, 2, n)
    field = xr.DataArray(x, dims="x", coords={"x": x}, attrs={"bc_x": "dirichlet"})
    h = 0.2
    assert float(sobolev_norm(field, 0)) ** 2 == pytest.approx(8 / 3 + h**2 * 2 / 6, rel=1e-12)
    # H¹ adds ∫ 1 = 2 exactly (the FD derivative of a linear function is exact).
    assert float(sobolev_norm(field, 1)) ** 2 == pytest.approx(8 / 3 + h**2 / 3 + 2, rel=1e-12)
    # Seminorm of order 1 on a bounded grid: ∫ |u'|² only.
    assert float(sobolev_norm(field, 1, homogeneous=True)) ** 2 == pytest.approx(2, rel=1e-12)


# ---------------------------------------------------------------------------
# xarray bookkeeping and bad input
# ---------------------------------------------------------------------------


def test_non_spatial_dims_are_kept_and_dataset_is_mapped():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(2, 3, 8, 8))
    field = periodic_field(values, lead_dims=("sample", "time")).assign_coords(time=[0.0, 0.5, 1.0])
    norms = sobolev_norm(field, 1)
    assert norms.dims == ("sample", "time")
    np.testing.assert_array_equal(norms["time"].values, [0.0, 0.5, 1.0])
    single = sobolev_norm(field.isel(sample=1, time=2), 1)
    assert float(norms[1, 2]) == pytest.approx(float(single), rel=1e-14)
    dataset = xr.Dataset({"a": field, "b": 2 * field})
    both = sobolev_norm(dataset, 1)
    assert isinstance(both, xr.Dataset)
    np.testing.assert_allclose(both["b"].values, 2 * norms.values, rtol=1e-13)


def test_bc_from_dataset_attrs_and_argument():
    field = bounded_exp_sin(9)
    bare = field.copy()
    bare.attrs = {}
    dataset = xr.Dataset({"u": bare}, attrs={"bc_x": "dirichlet", "bc_y": "dirichlet"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_dataset = float(sobolev_norm(dataset, 1)["u"])
        from_argument = float(sobolev_norm(bare, 1, bc="dirichlet"))
    assert from_dataset == pytest.approx(float(sobolev_norm(field, 1)), rel=1e-14)
    assert from_argument == from_dataset


def test_missing_bc_warns_and_assumes_periodic():
    values, _ = sine_product(1, 2, 8, (1.0, 1.0))
    field = periodic_field(values)
    field.attrs = {}
    with pytest.warns(UserWarning, match=r"missing for dim\(s\) 'x', 'y'.*assumed periodic"):
        norm = float(sobolev_norm(field, 1))
    assert norm**2 == pytest.approx(0.25 * (1 + 20 * np.pi**2), rel=1e-12)


@pytest.mark.parametrize("s", [-1, 0.5])
def test_negative_or_fractional_order_on_bounded_dim_raises(s):
    field = bounded_exp_sin(9).assign_attrs(bc_y="periodic")
    with pytest.raises(ValueError, match=r"non-periodic dim 'x'.*periodic data"):
        sobolev_norm(field, s)
    with pytest.raises(ValueError, match="periodic data"):
        relative_error(field, field, norm="h-1")


def test_non_uniform_coordinate_raises_naming_the_dim():
    field = bounded_exp_sin(9)
    y = field["y"].values.copy()
    y[4] += 1e-3
    with pytest.raises(ValueError, match="dim 'y' is not uniform"):
        sobolev_norm(field.assign_coords(y=y), 0)


def test_float32_coordinate_counts_as_uniform():
    x = np.linspace(0, 1, 513, dtype=np.float32)
    field = xr.DataArray(x**2, dims="x", coords={"x": x}, attrs={"bc_x": "dirichlet"})
    assert float(sobolev_norm(field, 0)) ** 2 == pytest.approx(0.2, rel=1e-5)


def test_missing_coordinate_means_unit_domain():
    values, _ = sine_product(3, 1, 16, (1.0, 1.0))
    without = periodic_field(values).drop_vars(["x", "y"])
    assert float(sobolev_norm(without, 2)) == pytest.approx(
        float(sobolev_norm(periodic_field(values), 2)), rel=1e-14
    )
    bounded = bounded_exp_sin(17)
    assert float(sobolev_norm(bounded.drop_vars(["x", "y"]), 1)) == pytest.approx(
        float(sobolev_norm(bounded, 1)), rel=1e-14
    )


def test_bad_arguments_raise_clearly():
    field = bounded_exp_sin(9)
    with pytest.raises(ValueError, match="'z'"):
        sobolev_norm(field, 0, dims=("x", "z"))
    with pytest.raises(ValueError, match="'robin'"):
        sobolev_norm(field, 0, bc={"x": "robin"})
    with pytest.raises(ValueError, match="unknown norm 'h2'"):
        relative_error(field, field, norm="h2")
    with pytest.raises(ValueError, match="needs at least 4"):
        sobolev_norm(bounded_exp_sin(3), 2)
    with pytest.raises(ValueError, match="no spatial dim"):
        sobolev_norm(xr.DataArray(np.ones(4), dims="sample"), 0)


# ---------------------------------------------------------------------------
# Relative errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["l2", "h1", "h-1", 1.5])
def test_relative_error_of_scaled_prediction(norm):
    rng = np.random.default_rng(3)
    true = periodic_field(rng.normal(size=(4, 8, 8)), lead_dims=("sample",))
    scales = xr.DataArray([0.9, 1.0, 1.2, 1.5], dims="sample")
    per_sample = relative_error(true * scales, true, norm=norm, reduce=False)
    assert per_sample.dims == ("sample",)
    np.testing.assert_allclose(per_sample.values, [0.1, 0.0, 0.2, 0.5], atol=1e-12)
    assert relative_error(true * scales, true, norm=norm) == pytest.approx(0.2, abs=1e-12)


def test_relative_error_weights_frequencies_by_norm():
    values, _ = sine_product(1, 1, 32, (1.0, 1.0))
    noise, _ = sine_product(8, 8, 32, (1.0, 1.0))
    true = periodic_field(values[None], lead_dims=("sample",))
    pred = true + 0.01 * periodic_field(noise[None], lead_dims=("sample",))
    l2, h1, hm1 = (relative_error(pred, true, norm=k) for k in ("l2", "h1", "h-1"))
    assert l2 == pytest.approx(0.01, rel=1e-12)
    # High-frequency noise: amplified by H¹, damped by H⁻¹, by the ratio of (1 + |κ|²).
    ratio = (1 + 2 * (16 * np.pi) ** 2) / (1 + 8 * np.pi**2)
    assert h1 == pytest.approx(0.01 * math.sqrt(ratio), rel=1e-12)
    assert hm1 == pytest.approx(0.01 / math.sqrt(ratio), rel=1e-12)


def test_relative_error_accepts_numpy_and_mixed_inputs():
    rng = np.random.default_rng(4)
    true = rng.normal(size=(3, 8, 8))
    pred = true + 0.1 * rng.normal(size=true.shape)
    from_numpy = relative_error(pred, true, norm="h1")
    as_field = periodic_field(true, lead_dims=("sample",))
    assert relative_error(pred, as_field, norm="h1") == pytest.approx(from_numpy, rel=1e-13)
    per_sample = relative_error(pred, true, reduce=False)
    assert per_sample.shape == (3,) and np.all(per_sample.values > 0)
    # Coordinates on one side only (here a 2π-periodic grid) serve both norms.
    on_two_pi = (1.1 * as_field).assign_coords(
        x=2 * np.pi * as_field["x"], y=2 * np.pi * as_field["y"]
    )
    bare = as_field.drop_vars(["x", "y"])
    assert relative_error(on_two_pi, bare, norm="h1") == pytest.approx(0.1, rel=1e-12)


def test_relative_error_mismatches_raise_naming_them():
    rng = np.random.default_rng(5)
    true = periodic_field(rng.normal(size=(2, 8, 8)), lead_dims=("sample",))
    with pytest.raises(ValueError, match=r"\(2, 8, 8\) vs \(2, 8, 6\)"):
        relative_error(np.ones((2, 8, 8)), np.ones((2, 8, 6)))
    with pytest.raises(ValueError, match="'y' \\(6 vs 8\\)"):
        relative_error(true.isel(y=slice(0, 6)), true)
    with pytest.raises(ValueError, match="dims"):
        relative_error(true.rename(x="z"), true)
    with pytest.raises(ValueError, match="coordinates"):
        relative_error(true.assign_coords(x=true["x"] + 0.5), true)


def test_relative_error_on_datasets_averages_variables():
    rng = np.random.default_rng(6)
    a = periodic_field(rng.normal(size=(2, 8, 8)), lead_dims=("sample",))
    true = xr.Dataset({"a": a, "b": a**2})
    pred = xr.Dataset({"a": 1.1 * a, "b": 1.3 * a**2})
    errors = relative_error(pred, true, norm="h1", reduce=False)
    np.testing.assert_allclose(errors["a"].values, 0.1, rtol=1e-12)
    np.testing.assert_allclose(errors["b"].values, 0.3, rtol=1e-12)
    assert relative_error(pred, true, norm="h1") == pytest.approx(0.2, rel=1e-12)


# ---------------------------------------------------------------------------
# scikit-learn scorer
# ---------------------------------------------------------------------------


class ScaledInput(RegressorMixin, BaseEstimator):
    """Predicts ``factor * X``, in whatever container X came in."""

    def __init__(self, factor=1.0):
        self.factor = factor

    def fit(self, X, y):
        self.is_fitted_ = True
        return self

    def predict(self, X):
        return self.factor * X


@pytest.mark.parametrize("container", ["numpy", "xarray"])
def test_scorer_in_cross_val_score_and_grid_search(container):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(6, 8, 8))
    if container == "xarray":
        X = periodic_field(X, lead_dims=("sample",))
    scores = cross_val_score(ScaledInput(1.25), X, X, cv=KFold(3), scoring=sobolev_scorer("h1"))
    np.testing.assert_allclose(scores, -0.25, rtol=1e-12)
    search = GridSearchCV(
        ScaledInput(), {"factor": [0.5, 0.9, 1.0, 1.5]}, cv=KFold(2), scoring=sobolev_scorer("h-1")
    ).fit(X, X)
    assert search.best_params_ == {"factor": 1.0}
    assert search.best_score_ == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------
# Torch side
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "s, periodic, homogeneous",
    [
        (-0.5, (True, True), False),
        (1.5, (True, True), True),
        (1, (True, False), False),
        (2, (False, True), True),
        (2, (False, False), False),
    ],
)
def test_torch_and_xarray_agree(s, periodic, homogeneous):
    rng = np.random.default_rng(9)
    values = rng.normal(size=(3, 2, 10, 12))
    lengths = (2.0, 0.5)
    coords = {
        dim: np.arange(n) * length / n if p else np.linspace(0, length, n)
        for dim, n, length, p in zip(("x", "y"), values.shape[2:], lengths, periodic)
    }
    bc = {dim: "periodic" if p else "dirichlet" for dim, p in zip(("x", "y"), periodic)}
    field = xr.DataArray(values, dims=("sample", "channel", "x", "y"), coords=coords)
    expected = np.sqrt((sobolev_norm(field, s, bc=bc, homogeneous=homogeneous) ** 2).sum("channel"))
    got = sobolev_norm_torch(torch.from_numpy(values), s, periodic, lengths, homogeneous)
    assert got.shape == (3,) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), expected.values, rtol=1e-12)


def test_torch_float32_matches_float64():
    u = torch.randn(2, 1, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for s, periodic in [(1, (True, False)), (-1, (True, True))]:
        single = sobolev_norm_torch(u.float(), s, periodic)
        assert single.dtype == torch.float32
        double = sobolev_norm_torch(u, s, periodic)
        torch.testing.assert_close(single.double(), double, rtol=1e-5, atol=0)


def test_sobolev_loss_gradient_matches_finite_differences():
    gen = torch.Generator().manual_seed(1)
    true = torch.randn(2, 1, 5, 6, dtype=torch.float64, generator=gen)
    noise = torch.randn(true.shape, dtype=torch.float64, generator=gen)
    pred = (true + 0.3 * noise).requires_grad_()
    loss = SobolevLoss(s=1, periodic=(True, False), lengths=(1.0, 2.0))
    assert torch.autograd.gradcheck(lambda p: loss(p, true), (pred,), fast_mode=True)
    value = loss(pred, true)
    value.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    # A small step against the gradient lowers the loss.
    with torch.no_grad():
        assert loss(pred - 1e-3 * pred.grad, true) < value


def test_sobolev_loss_reductions_and_exact_prediction():
    true = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(2))
    scales = torch.tensor([1.1, 1.2, 1.6]).reshape(3, 1, 1, 1)
    per_element = SobolevLoss(s=1, reduction="none")(scales * true, true)
    torch.testing.assert_close(per_element, torch.tensor([0.1, 0.2, 0.6]), rtol=1e-5, atol=1e-6)
    summed = SobolevLoss(s=1, reduction="sum")(scales * true, true)
    torch.testing.assert_close(summed, torch.tensor(0.9), rtol=1e-5, atol=1e-6)
    absolute = SobolevLoss(s=0, relative=False, reduction="none")(true + 1.0, true)
    torch.testing.assert_close(absolute, torch.full((3,), math.sqrt(2.0)), rtol=1e-5, atol=0)
    exact = true.clone().requires_grad_()
    zero = SobolevLoss(s=1)(exact, true)
    zero.backward()
    assert zero.item() == 0.0 and torch.isfinite(exact.grad).all()


def test_make_loss_names_and_errors():
    assert make_loss("l2").s == 0 and make_loss("H1").s == 1 and make_loss("h-1").s == -1
    assert make_loss(0.5, periodic=(True,), lengths=(2.0,)).s == 0.5
    with pytest.raises(ValueError, match=r"spatial axis 1.*periodic data"):
        make_loss("h-1", periodic=(True, False))
    with pytest.raises(ValueError, match="reduction"):
        SobolevLoss(reduction="median")
    loss = make_loss("h1")
    with pytest.raises(ValueError, match="2 spatial dim"):
        loss(torch.ones(2, 8, 8), torch.ones(2, 8, 8))
    with pytest.raises(ValueError, match="differ in shape"):
        loss(torch.ones(2, 1, 8, 8), torch.ones(2, 1, 8, 6))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_on_cuda_matches_cpu():
    u = torch.randn(2, 3, 16, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for s, periodic in [(1, (True, False)), (-1, (True, True)), (2, (False, False))]:
        on_gpu = sobolev_norm_torch(u.cuda(), s, periodic)
        assert on_gpu.device.type == "cuda"
        on_cpu = sobolev_norm_torch(u, s, periodic)
        torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-12, atol=0)
        single = sobolev_norm_torch(u.float().cuda(), s, periodic).double().cpu()
        torch.testing.assert_close(single, on_cpu, rtol=1e-5, atol=0)
    pred = u.float().cuda().requires_grad_()
    make_loss("h1", periodic=(True, False))(pred, 1.1 * pred.detach()).backward()
    assert torch.isfinite(pred.grad).all()


# ---------------------------------------------------------------------------
# Non-finite values are refused, as fit and predict refuse them
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["pred", "true"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_relative_error_refuses_non_finite(where, bad):
    rng = np.random.default_rng(0)
    true = periodic_field(rng.normal(size=(5, 8, 8)), lead_dims=("sample",)).rename("u")
    true = true.assign_coords(sample=np.arange(10, 15))
    pred = true + 0.1
    target = pred if where == "pred" else true
    target[3, 2, 1] = bad
    with pytest.raises(ValueError, match=rf"^{where} \(variable 'u'\) contains 1 NaN or infinite value\(s\), the first at sample=13;"):
        relative_error(pred, true)
    with pytest.raises(ValueError, match=rf"^{where} \(variable 'u'\) contains"):
        relative_error(pred.to_dataset(), true.to_dataset(), reduce=False)


def test_relative_error_refuses_non_finite_numpy():
    true = np.ones((4, 8, 8))
    true[2, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"^true contains 1 NaN or infinite value\(s\), the first at sample index 2;"):
        relative_error(np.ones((4, 8, 8)), true)


def test_sobolev_norm_refuses_non_finite():
    u = periodic_field(np.ones((3, 8, 8)), lead_dims=("sample",))
    u[1, 4, 4] = np.inf
    with pytest.raises(ValueError, match=r"^u contains 1 NaN or infinite value\(s\), the first at sample index 1;"):
        sobolev_norm(u, s=1)

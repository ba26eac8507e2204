"""DarcyWeak: Wendland test functions against finite differences, weak residual of a manufactured pair."""

import copy

import numpy as np
import pytest
import torch
from sklearn.base import clone

from opkit.physics import DarcyWeak
from opkit.physics.wendland import reference_rule, wendland, wendland_derivative
from opkit.registry import PHYSICS

PI = np.pi


def u_exact(p):
    return torch.sin(PI * p[:, 0]) * torch.sin(PI * p[:, 1])


def a_exact(p):
    return 1 + 0.5 * torch.sin(2 * PI * p[:, 0]) * torch.cos(2 * PI * p[:, 1])


def f_exact(p):
    """-div(a grad u) of the manufactured pair, by automatic differentiation."""
    p = p.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(u_exact(p).sum(), p, create_graph=True)
    flux = a_exact(p)[:, None] * g
    div = sum(torch.autograd.grad(flux[:, i].sum(), p, create_graph=True)[0][:, i] for i in range(2))
    return -div.detach()


def test_reference_rule_keeps_the_points_strictly_inside_the_disk():
    assert len(reference_rule(9)) == 45 and len(reference_rule(7)) == 25
    with pytest.raises(ValueError, match="n_quadrature"):
        reference_rule(2)


def test_wendland_value_and_derivative_match_finite_differences():
    r = np.linspace(0.05, 0.95, 19)
    h = 1e-6
    fd = (wendland(r + h) - wendland(r - h)) / (2 * h)
    np.testing.assert_allclose(wendland_derivative(r) * r, fd, rtol=1e-6, atol=1e-9)
    assert wendland(np.array([0.0]))[0] == pytest.approx(1.0)
    assert wendland(np.array([1.0, 1.5])).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("radius", [1e-3, 0.05])
def test_test_function_gradients_match_finite_differences(radius):
    pde = DarcyWeak(radius=radius)
    centers = pde.sample_centers(seed=1, n_centers=3)
    points, phi, grad = pde.test_functions(centers, dtype=torch.float64)
    h = 1e-4 * radius
    for axis in range(2):
        shift = np.zeros(2)
        shift[axis] = h
        r_plus = np.linalg.norm(points.numpy() + shift - centers[:, None], axis=-1) / radius
        r_minus = np.linalg.norm(points.numpy() - shift - centers[:, None], axis=-1) / radius
        fd = (wendland(r_plus) - wendland(r_minus)) / (2 * h)
        np.testing.assert_allclose(grad[..., axis].numpy(), fd, rtol=1e-5, atol=1e-6 / radius)
    r = np.linalg.norm(points.numpy() - centers[:, None], axis=-1) / radius
    np.testing.assert_allclose(phi.numpy(), wendland(r), atol=1e-12)


def test_centres_keep_their_supports_inside_the_square():
    pde = DarcyWeak(radius=0.1, n_centers=200)
    c = pde.sample_centers(seed=0)
    assert c.shape == (200, 2) and c.min() >= 0.1 and c.max() <= 0.9
    # Latin hypercube: one centre in each of the 200 strata along each axis.
    for axis in range(2):
        assert len(np.unique(np.floor((c[:, axis] - 0.1) / 0.8 * 200))) == 200


@pytest.mark.parametrize("radius", [1e-4, 0.05])
def test_exact_pair_has_a_quadrature_level_residual_and_a_perturbed_one_does_not(radius):
    pde = DarcyWeak(radius=radius, n_quadrature=9)
    centers = pde.sample_centers(seed=0)
    scale = float(f_exact(torch.as_tensor(centers)).abs().mean())
    exact = pde.weak_residual(u_exact, a_exact, centers, f_exact).abs().max().item()
    perturbed = pde.weak_residual(lambda p: u_exact(p) * (1 + 0.01 * torch.sin(3 * PI * p[:, 0])),
                                  a_exact, centers, f_exact).abs().max().item()
    assert exact < 1e-3 * scale
    assert perturbed > 10 * exact
    # The residual of the exact pair is the quadrature error: it falls as the rule is refined.
    finer = DarcyWeak(radius=radius, n_quadrature=17).weak_residual(u_exact, a_exact, centers, f_exact)
    assert finer.abs().max().item() < exact / 20


def test_constant_coefficient_grid_interpolation_reproduces_linear_fields():
    pde = DarcyWeak()
    x = y = np.linspace(0, 1, 29)
    a = torch.as_tensor(1 + 2 * x[:, None] + 3 * y[None, :])[None]
    points = torch.rand(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    values = pde.interpolate(a, x, y, points)
    torch.testing.assert_close(values[0], 1 + 2 * points[:, 0] + 3 * points[:, 1])
    nearest = DarcyWeak(interpolation="nearest").interpolate(a, x, y, points)
    assert torch.isin(nearest, a.flatten()).all()


def test_mollifier_vanishes_on_the_boundary_and_its_gradient_is_right():
    p = torch.tensor([[0.0, 0.3], [1.0, 0.7], [0.2, 0.0], [0.4, 1.0], [0.3, 0.6]], dtype=torch.float64)
    m, g = DarcyWeak.mollifier(p)
    assert torch.allclose(m[:4], torch.zeros(4, dtype=torch.float64), atol=1e-15)
    q = p[4:].clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(DarcyWeak.mollifier(q)[0].sum(), q)
    torch.testing.assert_close(g[4:], auto)


def test_small_radius_is_refused_in_float32_only():
    pde = DarcyWeak(radius=1e-6)
    with pytest.raises(ValueError, match="too small for float32"):
        pde.test_functions(pde.sample_centers(0), dtype=torch.float32)
    pde.test_functions(pde.sample_centers(0), dtype=torch.float64)
    with pytest.raises(ValueError, match="radius must be in"):
        DarcyWeak(radius=0.6).test_functions(np.zeros((1, 2)))


def test_points_outside_the_domain_are_named():
    with pytest.raises(ValueError, match="x outside the domain"):
        DarcyWeak().check_points(np.array([[1.5, 0.5]]), "obs")


def test_physics_object_is_a_parameter_holder():
    pde = DarcyWeak(f=5.0, radius=0.02)
    assert PHYSICS["DarcyWeak"] is DarcyWeak
    assert clone(pde).get_params() == pde.get_params() == copy.deepcopy(pde).get_params()
    assert DarcyWeak(**pde.get_params()).get_params()["f"] == 5.0


def _flux_and_gradient(pde, centers):
    points, phi, grad_phi = pde.test_functions(centers, dtype=torch.float64)
    flat = points.reshape(-1, 2).clone().requires_grad_(True)
    (g,) = torch.autograd.grad(u_exact(flat).sum(), flat)
    shape = points.shape[:2]
    a = a_exact(flat.detach()).reshape(1, *shape)
    f = f_exact(flat.detach()).reshape(1, *shape)
    return g.reshape(1, *shape, 2), a, f, phi, grad_phi


@pytest.mark.parametrize("radius", [1e-4, 0.05])
def test_mixed_form_of_the_exact_flux_is_at_quadrature_level(radius):
    pde = DarcyWeak(radius=radius, form="mixed")
    assert pde.uses_flux and not DarcyWeak().uses_flux
    centers = pde.sample_centers(seed=0)
    grad_u, a, f, phi, grad_phi = _flux_and_gradient(pde, centers)
    s = a[..., None] * grad_u
    exact = pde.mixed_residual(s, phi, grad_phi, f).abs().max().item()
    wrong = pde.mixed_residual(s * 1.1, phi, grad_phi, f).abs().max().item()
    assert exact < 1e-3 * float(f.abs().mean()) and wrong > 10 * exact
    # The loss: flux mismatch (zero here) plus sqrt(nc) * mean r^2 with the constant source of the object.
    loss = DarcyWeak(radius=radius, form="mixed", f=0.0).weak_loss(grad_u, a, phi, grad_phi, s)
    r0 = DarcyWeak(f=0.0).mixed_residual(s, phi, grad_phi)
    torch.testing.assert_close(loss, np.sqrt(len(centers)) * (r0**2).mean())
    off = pde.weak_loss(grad_u, a, phi, grad_phi, s + 0.1)
    assert float(off) > 0.01 - 1e-12
    with pytest.raises(ValueError, match="flux"):
        pde.weak_loss(grad_u, a, phi, grad_phi)
    with pytest.raises(ValueError, match="form must be"):
        DarcyWeak(form="dual").uses_flux


def test_primal_loss_averages_over_draws_of_the_coefficient():
    pde = DarcyWeak(radius=0.05, n_centers=10)
    grad_u, a, f, phi, grad_phi = _flux_and_gradient(pde, pde.sample_centers(seed=2))
    draws = torch.stack([a, 2 * a])
    expected = 0.5 * (pde.weak_loss(grad_u, a, phi, grad_phi) + pde.weak_loss(grad_u, 2 * a, phi, grad_phi))
    torch.testing.assert_close(pde.weak_loss(grad_u, draws, phi, grad_phi), expected)


def test_per_sample_loss_is_the_mean_of_single_sample_losses():
    pde = DarcyWeak(top_k=3)
    r = torch.randn(4, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    single = torch.stack([pde.loss(r[i:i + 1]) for i in range(4)]).mean()
    torch.testing.assert_close(pde.loss(r, per_sample=True), single)
    # The batch form takes the top 3 squares of the whole batch instead.
    expected = r.norm(dim=-1).mean() + torch.topk((r**2).flatten(), 3).values.sum()
    torch.testing.assert_close(pde.loss(r), expected)

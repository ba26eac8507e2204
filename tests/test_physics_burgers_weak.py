"""BurgersWeak: the weak residual of the Cole-Hopf solution (u0 = -sin(pi x), nu = 0.1/pi) against a perturbed field."""

import copy

import numpy as np
import pytest
import torch
from sklearn.base import clone

from opkit.physics import BurgersWeak
from opkit.physics.burgers_weak import cole_hopf_sine
from opkit.physics.wendland import wendland
from opkit.registry import PHYSICS

NU = 0.1 / np.pi


def perturbed(p):
    return cole_hopf_sine(p) * (1 + 0.01 * torch.sin(3 * np.pi * p[:, 0]))


def test_cole_hopf_solution_solves_burgers_pointwise_and_starts_from_the_sine():
    rng = np.random.default_rng(0)
    p = torch.as_tensor(np.c_[rng.uniform(-1, 1, 200), rng.uniform(0.05, 1, 200)]).requires_grad_(True)
    u = cole_hopf_sine(p)
    (g,) = torch.autograd.grad(u.sum(), p, create_graph=True)
    (gg,) = torch.autograd.grad(g[:, 0].sum(), p)
    strong = g[:, 1] + u * g[:, 0] - NU * gg[:, 0]
    # Relative to the size of the terms (u_x reaches ~1/nu at the shock).
    assert float(strong.detach().abs().max()) < 1e-8 * float((NU * gg[:, 0]).abs().max())
    x = torch.linspace(-1, 1, 11, dtype=torch.float64)
    start = cole_hopf_sine(torch.stack([x, torch.zeros_like(x)], -1))
    torch.testing.assert_close(start, -torch.sin(np.pi * x))
    # Dirichlet u(+-1, t) = 0 and the odd symmetry of the solution.
    t = torch.tensor([0.2, 0.6, 1.0], dtype=torch.float64)
    edges = cole_hopf_sine(torch.stack([torch.ones(3, dtype=torch.float64), t], -1))
    assert float(edges.abs().max()) < 1e-10


@pytest.mark.parametrize("radius", [1e-4, 0.02])
def test_exact_solution_has_a_quadrature_level_weak_residual_and_a_perturbed_one_does_not(radius):
    pde = BurgersWeak(radius=radius, n_quadrature=10)
    centers = pde.sample_centers(seed=0)
    exact = pde.weak_residual(cole_hopf_sine, centers).abs()
    wrong = pde.weak_residual(perturbed, centers).abs()
    assert float(wrong.mean()) > 50 * float(exact.mean())
    finer = BurgersWeak(radius=radius, n_quadrature=20).weak_residual(cole_hopf_sine, centers).abs()
    assert float(finer.max()) < float(exact.max()) / 30
    assert float(BurgersWeak(radius=radius, n_quadrature=20).weak_residual(perturbed, centers).abs().mean()) > 0.5 * float(wrong.mean())


def test_test_functions_vary_in_x_only_and_their_gradient_matches_finite_differences():
    pde = BurgersWeak(radius=0.05, n_quadrature=10)
    centers = pde.sample_centers(seed=3, n_centers=4)
    points, phi, grad = pde.test_functions(centers, dtype=torch.float64)
    assert points.shape == (4, 8, 2)
    np.testing.assert_array_equal(points[..., 1].numpy(), np.repeat(centers[:, 1:], 8, 1))
    assert float(grad[..., 1].abs().max()) == 0.0
    h = 1e-7
    r = lambda s: np.abs(points[..., 0].numpy() + s - centers[:, :1]) / 0.05  # noqa: E731
    fd = (wendland(r(h), dim=1) - wendland(r(-h), dim=1)) / (2 * h)
    np.testing.assert_allclose(grad[..., 0].numpy(), fd, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(phi.numpy(), wendland(r(0.0), dim=1), atol=1e-12)
    assert centers[:, 0].min() >= -0.95 and centers[:, 0].max() <= 0.95


def test_mollifier_vanishes_at_both_ends():
    p = torch.tensor([[-1.0, 0.3], [1.0, 0.8], [0.2, 0.5]], dtype=torch.float64)
    m, g = BurgersWeak.mollifier(p)
    assert float(m[:2].abs().max()) < 1e-15
    q = p[2:].clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(BurgersWeak.mollifier(q)[0].sum(), q)
    torch.testing.assert_close(g[2:], auto)


def test_burgers_physics_is_a_parameter_holder_and_checks_its_inputs():
    pde = BurgersWeak(nu=0.01, radius=0.01)
    assert PHYSICS["BurgersWeak"] is BurgersWeak
    assert clone(pde).get_params() == copy.deepcopy(pde).get_params() == pde.get_params()
    with pytest.raises(ValueError, match="too small for float32"):
        BurgersWeak(radius=1e-6).test_functions(pde.sample_centers(0))
    with pytest.raises(ValueError, match="t outside the domain"):
        pde.check_points(np.array([[0.0, 1.5]]), "obs")

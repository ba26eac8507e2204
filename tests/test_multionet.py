"""MultiONet: the trunk's forward-propagated coordinate gradient equals autograd's."""

import torch

from opkit.models._multionet import DGNONetwork, MultiONet


def test_multionet_gradient_matches_autograd():
    torch.manual_seed(0)
    net = MultiONet(latent_dim=4, n_coords=2, width=8, depth=3, sum_layers=2).double()
    with torch.no_grad():
        net.weights.normal_()
    beta = torch.randn(3, 4, dtype=torch.float64)
    points = torch.rand(5, 2, dtype=torch.float64, requires_grad=True)
    values, grad = net(beta, points, with_grad=True)
    assert values.shape == (3, 5) and grad.shape == (3, 5, 2)
    for b in range(3):
        (auto,) = torch.autograd.grad(values[b].sum(), points, retain_graph=True)
        torch.testing.assert_close(grad[b], auto)


def test_dgno_network_shapes_and_latent_range():
    for encoder, layers in (("cnn", (8, 8, 8)), ("mlp", (32,))):
        net = DGNONetwork((29, 29), 6, 16, 3, 2, encoder, layers, "gaussian")
        out = net(torch.rand(4, 29, 29), u_points=torch.rand(7, 2), a_points=torch.rand(9, 2), u_grad=True)
        assert out["beta"].shape == (4, 6) and out["beta"].abs().max() < 1
        assert out["u"].shape == (4, 7) and out["grad_u"].shape == (4, 7, 2) and out["a"].shape == (4, 9)

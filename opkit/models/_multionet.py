r"""Networks of DGNOSolver: the encoder of a(x) to a latent β and the MultiONet decoders.

MultiONet (DGenNO): a branch MLP on β and a trunk MLP on the coordinates, of
equal depth :math:`L` and width, whose hidden outputs :math:`b_k, t_k` are
paired layer by layer,

.. math:: u(x) = \frac1l \sum_{k=L-l+1}^{L} w_k \langle b_k(\beta), t_k(x)\rangle + b,

with :math:`w_k` (initialised to 0) and :math:`b` learned; :math:`l = 1` is
DeepONet. The trunk does not depend on β, so it is evaluated once per set of
points for a whole batch, and its spatial derivatives are propagated
alongside its values (forward-mode, by hand), which is what makes weak
residuals at thousands of quadrature points affordable on a CPU.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["MultiONet", "DGNONetwork", "InverseNetwork"]


def _trunk_activation(z):
    return torch.tanh(torch.sin(math.pi * (z + 1.0))) + z


def _trunk_activation_derivative(z):
    s = torch.sin(math.pi * (z + 1.0))
    return (1.0 - torch.tanh(s) ** 2) * math.pi * torch.cos(math.pi * (z + 1.0)) + 1.0


def _branch_activation(z):
    return nn.functional.silu(z) + z


class MultiONet(nn.Module):
    """Branch (on β) and trunk (on points) MLPs combined over their last ``sum_layers`` layers.

    Parameters
    ----------
    latent_dim : int
    n_coords : int
        Coordinates per point (2 for (x, y)).
    width, depth : int
        Width and number of hidden layers of both MLPs.
    sum_layers : int
        Layers ``l`` whose inner products are averaged (1: DeepONet).
    """

    def __init__(self, latent_dim, n_coords, width, depth, sum_layers):
        super().__init__()
        if not 1 <= sum_layers <= depth:
            raise ValueError(f"sum_layers must be between 1 and depth={depth}, got {sum_layers}")
        self.branch = nn.ModuleList([nn.Linear(latent_dim if k == 0 else width, width) for k in range(depth)])
        self.trunk = nn.ModuleList([nn.Linear(n_coords if k == 0 else width, width) for k in range(depth)])
        self.weights = nn.Parameter(torch.zeros(sum_layers))
        self.bias = nn.Parameter(torch.zeros(()))
        self.sum_layers = sum_layers

    def _branch(self, beta):
        outputs, h = [], beta
        for layer in self.branch:
            h = _branch_activation(layer(h))
            outputs.append(h)
        return outputs[-self.sum_layers:]

    def _trunk(self, points, with_grad):
        outputs, grads, h = [], [], points
        # d h / d points, (P, features, n_coords): the identity to start with.
        dh = torch.eye(points.shape[-1], dtype=points.dtype, device=points.device).expand(len(points), -1, -1)
        for layer in self.trunk:
            z = layer(h)
            h = _trunk_activation(z)
            outputs.append(h)
            if with_grad:
                dz = torch.einsum("oi,pid->pod", layer.weight, dh)
                dh = _trunk_activation_derivative(z)[..., None] * dz
                grads.append(dh)
        return outputs[-self.sum_layers:], grads[-self.sum_layers:]

    def forward(self, beta, points, with_grad=False):
        """Values at ``points`` for every β, and optionally their gradient in the coordinates.

        Parameters
        ----------
        beta : torch.Tensor, shape (batch, latent_dim)
        points : torch.Tensor, shape (n_points, n_coords)
        with_grad : bool, default=False

        Returns
        -------
        values : torch.Tensor, shape (batch, n_points)
        grad : torch.Tensor, shape (batch, n_points, n_coords), or None
        """
        branch = self._branch(beta)
        trunk, trunk_grads = self._trunk(points, with_grad)
        scale = self.weights / self.sum_layers
        values = sum(scale[k] * branch[k] @ trunk[k].T for k in range(self.sum_layers)) + self.bias
        grad = None
        if with_grad:
            grad = sum(scale[k] * torch.einsum("bw,pwd->bpd", branch[k], trunk_grads[k])
                       for k in range(self.sum_layers))
        return values, grad


class _CNNEncoder(nn.Module):
    def __init__(self, grid_shape, channels, latent_dim):
        super().__init__()
        layers, c_in = [], 1
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.SiLU()]
            c_in = c
        self.convs = nn.Sequential(*layers)
        with torch.no_grad():
            n = self.convs(torch.zeros(1, 1, *grid_shape)).numel()
        self.head = nn.Linear(n, latent_dim)

    def forward(self, a):
        return self.head(self.convs(a[:, None]).flatten(1))


class _MLPEncoder(nn.Module):
    def __init__(self, grid_shape, widths, latent_dim):
        super().__init__()
        sizes = [grid_shape[0] * grid_shape[1], *widths]
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.SiLU()]
        layers.append(nn.Linear(sizes[-1], latent_dim))
        self.mlp = nn.Sequential(*layers)

    def forward(self, a):
        return self.mlp(a.flatten(1))


class DGNONetwork(nn.Module):
    """Encoder a -> β = tanh(...) and the MultiONet decoders of a(x; β) and u(x; β).

    Parameters
    ----------
    grid_shape : (int, int)
        Grid of the input coefficient.
    latent_dim, width, depth, sum_layers : int
    encoder : {"cnn", "mlp"}
    encoder_layers : sequence of int
        Channels of the stride-2 convolutions (cnn) or widths of the hidden layers (mlp).
    a_likelihood : {"gaussian", "bernoulli"}
        The a-decoder gives the standardised a, or the logit of the high phase.
    flux : bool, default=False
        Two more decoders for the flux :math:`s = (s_x, s_y) \approx a\nabla u`
        (the mixed weak form of two-phase Darcy).

    Notes
    -----
    Buffers ``a_shift``, ``a_scale`` (set from the training data) map the
    physical a to the encoder's input ``(a - a_shift) / a_scale`` and back.
    """

    def __init__(self, grid_shape, latent_dim, width, depth, sum_layers, encoder, encoder_layers, a_likelihood,
                 flux=False):
        super().__init__()
        if encoder == "cnn":
            self.encoder = _CNNEncoder(grid_shape, encoder_layers, latent_dim)
        elif encoder == "mlp":
            self.encoder = _MLPEncoder(grid_shape, encoder_layers, latent_dim)
        else:
            raise ValueError(f"encoder must be 'cnn' or 'mlp', got {encoder!r}")
        self.a_decoder = MultiONet(latent_dim, 2, width, depth, sum_layers)
        self.u_decoder = MultiONet(latent_dim, 2, width, depth, sum_layers)
        self.s_decoders = nn.ModuleList([MultiONet(latent_dim, 2, width, depth, sum_layers) for _ in range(2)]) if flux else None
        self.a_likelihood = a_likelihood
        self.register_buffer("a_shift", torch.zeros(()))
        self.register_buffer("a_scale", torch.ones(()))

    def encode(self, a):
        """β in (-1, 1)^latent_dim for physical coefficients ``a`` (batch, nx, ny)."""
        return torch.tanh(self.encoder((a - self.a_shift) / self.a_scale))

    def decode_a(self, beta, points):
        """Physical a(points; β) (batch, n_points) and the decoder's raw output (standardised a or logit)."""
        raw, _ = self.a_decoder(beta, points)
        if self.a_likelihood == "bernoulli":
            return self.a_shift + self.a_scale * torch.sigmoid(raw), raw
        return self.a_shift + self.a_scale * raw, raw

    def flux(self, beta, points):
        """The flux decoders' ``s`` (batch, n_points, 2), or None without them."""
        if self.s_decoders is None:
            return None
        return torch.stack([dec(beta, points)[0] for dec in self.s_decoders], dim=-1)

    def decode(self, beta, u_points=None, a_points=None, u_grad=False, s_points=None):
        """Decoder outputs for latents ``beta``: ``u``, ``grad_u`` (before the boundary mollifier), ``a``, ``a_raw``, ``s``."""
        out = {"beta": beta}
        if u_points is not None:
            out["u"], out["grad_u"] = self.u_decoder(beta, u_points, with_grad=u_grad)
        if a_points is not None:
            out["a"], out["a_raw"] = self.decode_a(beta, a_points)
        if s_points is not None:
            out["s"] = self.flux(beta, s_points)
        return out

    def forward(self, a, u_points=None, a_points=None, u_grad=False, s_points=None):
        """Everything a training step needs in one call (so DDP sees one forward).

        Returns
        -------
        dict
            ``beta``; ``u``, ``grad_u`` (network output before the boundary
            mollifier) when ``u_points`` is given; ``a``, ``a_raw`` when
            ``a_points`` is given; ``s`` (flux) when ``s_points`` is given.
        """
        return self.decode(self.encode(a), u_points, a_points, u_grad, s_points)


class InverseNetwork(nn.Module):
    """Free latents β = tanh(θ) for several inverse problems, decoded by a (frozen) DGNONetwork.

    Parameters
    ----------
    network : DGNONetwork
    theta : torch.Tensor, shape (n_problems, latent_dim)
        Initial values.
    """

    def __init__(self, network, theta):
        super().__init__()
        self.network = network
        self.theta = nn.Parameter(theta.clone())

    def forward(self, index, u_points, a_points, u_grad=True, s_points=None):
        return self.network.decode(torch.tanh(self.theta[index]), u_points, a_points, u_grad, s_points)

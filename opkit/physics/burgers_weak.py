r"""Weak residual of the viscous Burgers equation, :math:`u_t + u u_x = \nu u_{xx}` on :math:`[-1, 1]`, :math:`u(\pm 1, t) = 0`.

The test functions vary in :math:`x` only and are placed at random times: for
a centre :math:`(\xi_j, t_j)`,

.. math:: r_j = \frac{1}{|B_j|}\int_{B_j} \big(u_t\,\varphi_j + u\,u_x\,\varphi_j
          + \nu\,u_x\,\partial_x\varphi_j\big)(x, t_j)\,dx,

the viscous term integrated by parts (the boundary term vanishes with
:math:`\varphi_j` on :math:`\partial B_j`). The Dirichlet condition is built
into the network by the mollifier :math:`\cos(\pi x / 2)`; the initial
condition :math:`u(x, 0) = a(x)` enters as data.
"""

from __future__ import annotations

import numpy as np
import torch

from .wendland import WeakPDE

__all__ = ["BurgersWeak", "cole_hopf_sine"]


class BurgersWeak(WeakPDE):
    r"""Viscous Burgers equation in weak form (DGenNO's residual): space-time points ``(x, t)``.

    Parameters
    ----------
    nu : float, default=0.1/pi
        Viscosity :math:`\nu`.
    n_centers : int, default=100
        Centres per minibatch, a Latin hypercube in
        :math:`[-1 + R, 1 - R] \times [R, 1 - R]` (space, time).
    radius : float, default=1e-4
        Support radius :math:`R` in x. Below 1e-4 it is refused in float32.
    n_quadrature : int, default=10
        Points of the uniform reference grid on :math:`[-1, 1]`; those strictly
        inside (8 of 10) are kept.
    top_k : int, default=2500
        The loss adds the sum of the ``top_k`` largest :math:`r_j^2` of the
        batch to the batch mean of :math:`\|r\|_2`.

    Examples
    --------
    >>> import numpy as np
    >>> from opkit.physics import BurgersWeak
    >>> pde = BurgersWeak(radius=0.01)
    >>> points, phi, grad_phi = pde.test_functions(pde.sample_centers(seed=0))
    >>> tuple(points.shape), bool((grad_phi[..., 1] == 0).all())
    ((100, 8, 2), True)
    """

    domain = ((-1.0, 1.0), (0.0, 1.0))
    test_domain = domain
    coordinate_names = ("x", "t")
    test_dims = 1

    def __init__(self, nu=0.1 / np.pi, n_centers=100, radius=1e-4, n_quadrature=10, top_k=2500):
        self.nu = nu
        self.n_centers = n_centers
        self.radius = radius
        self.n_quadrature = n_quadrature
        self.top_k = top_k

    @staticmethod
    def mollifier(points):
        r""":math:`m = \cos(\pi x/2)` and its gradient in ``(x, t)``: ``u = m * network`` vanishes at :math:`x = \pm 1`.

        Parameters
        ----------
        points : torch.Tensor, shape (..., 2)
            ``(x, t)``.

        Returns
        -------
        m : torch.Tensor, shape (...)
        grad_m : torch.Tensor, shape (..., 2)
        """
        x = points[..., 0]
        m = torch.cos(0.5 * np.pi * x)
        return m, torch.stack([-0.5 * np.pi * torch.sin(0.5 * np.pi * x), torch.zeros_like(x)], dim=-1)

    def residual(self, u, grad_u, phi, grad_phi):
        r"""The weak residuals :math:`r_j` from values at the quadrature points.

        Parameters
        ----------
        u : torch.Tensor, shape (batch, n_centers, n_quadrature)
        grad_u : torch.Tensor, shape (batch, n_centers, n_quadrature, 2)
            :math:`(u_x, u_t)`.
        phi : torch.Tensor, shape (n_centers, n_quadrature)
        grad_phi : torch.Tensor, shape (n_centers, n_quadrature, 2)

        Returns
        -------
        torch.Tensor, shape (batch, n_centers)
        """
        u_x, u_t = grad_u[..., 0], grad_u[..., 1]
        integrand = (u_t + u * u_x) * phi + float(self.nu) * u_x * grad_phi[..., 0]
        return integrand.mean(-1)

    def weak_residual(self, u_fn, centers, dtype=torch.float64):
        """Residuals of a function ``u(x, t)``, its derivatives by automatic differentiation.

        Parameters
        ----------
        u_fn : callable
            ``u_fn(points)`` for points ``(n, 2)`` (columns x, t) returning ``(n,)``, differentiable in torch.
        centers : numpy.ndarray, shape (n_centers, 2)
        dtype : torch.dtype, default=torch.float64

        Returns
        -------
        torch.Tensor, shape (n_centers,)
        """
        points, phi, grad_phi = self.test_functions(centers, dtype=dtype)
        flat = points.reshape(-1, 2).clone().requires_grad_(True)
        u = u_fn(flat)
        (grad,) = torch.autograd.grad(u.sum(), flat)
        shape = points.shape[:2]
        return self.residual(u.detach().reshape(1, *shape), grad.reshape(1, *shape, 2), phi, grad_phi)[0]


def cole_hopf_sine(points, nu=0.1 / np.pi, n_hermite=200):
    r"""Exact solution for :math:`u_0 = -\sin\pi x` by the Cole--Hopf transform (the classic PINN benchmark).

    With :math:`\eta = \sqrt{4\nu t}\,z` and Gauss--Hermite nodes :math:`z_k`, weights :math:`w_k`,

    .. math:: u(x, t) = -\frac{\sum_k w_k \sin\pi(x - \eta_k)\, g(x - \eta_k)}
              {\sum_k w_k\, g(x - \eta_k)},
              \qquad g(y) = \exp\!\big(-\cos(\pi y) / (2\pi\nu)\big),

    differentiable in torch (so :math:`u_x, u_t` follow by autograd). At
    :math:`t = 0` it returns :math:`u_0`.

    Parameters
    ----------
    points : torch.Tensor, shape (n, 2)
        ``(x, t)``, ``t >= 0``.
    nu : float, default=0.1/pi
    n_hermite : int, default=200

    Returns
    -------
    torch.Tensor, shape (n,)
    """
    z, w = np.polynomial.hermite.hermgauss(int(n_hermite))
    z = torch.as_tensor(z, dtype=points.dtype, device=points.device)
    w = torch.as_tensor(w, dtype=points.dtype, device=points.device)
    x, t = points[:, :1], points[:, 1:]
    y = x - torch.sqrt(4.0 * nu * t + 1e-300) * z
    # The factor exp(-1/(2 pi nu)) of g cancels; shifting the exponent keeps g <= 1.
    g = torch.exp(-(torch.cos(np.pi * y) + 1.0) / (2.0 * np.pi * nu)) * w
    return -(torch.sin(np.pi * y) * g).sum(-1) / g.sum(-1)

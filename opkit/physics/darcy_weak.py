r"""Weak residual of Darcy flow, :math:`-\nabla\cdot(a\nabla u) = f` on the unit square, :math:`u = 0` on its boundary.

Against each Wendland test function :math:`\varphi_j` (:mod:`opkit.physics.wendland`),

.. math:: r_j = \frac{1}{|B_j|}\Big(\int_{B_j} a\,\nabla u\cdot\nabla\varphi_j\,dx
          - \int_{B_j} f\,\varphi_j\,dx\Big),

which vanishes for the exact solution because :math:`\varphi_j` and its
gradient vanish on the boundary of its support :math:`B_j`. The boundary
condition is built into the network (:meth:`DarcyWeak.mollifier`), so no
boundary term is needed.
"""

from __future__ import annotations

import numpy as np
import torch

from .wendland import WeakPDE

__all__ = ["DarcyWeak"]

INTERPOLATIONS = ("linear", "nearest")
FORMS = ("primal", "mixed")


class DarcyWeak(WeakPDE):
    r"""Darcy flow in weak form with compactly supported test functions (DGenNO's residual).

    Parameters
    ----------
    f : float, default=10.0
        Constant source.
    n_centers : int, default=100
        Test-function centres per minibatch, drawn by Latin hypercube in the
        square shrunk by ``radius``.
    radius : float, default=1e-4
        Support radius :math:`R` of the test functions. DGenNO's value is far
        below the 29-point grid spacing, so the weak form acts like a smoothed
        pointwise residual; larger supports (e.g. 0.02-0.05) average over
        grid cells. Below 1e-4 it is refused in float32.
    n_quadrature : int, default=9
        Points per axis of the reference grid on :math:`[-1, 1]^2`; those
        strictly inside the unit disk are kept (9: 45 points, 7: 25).
    top_k : int, default=1000
        The loss adds the sum of the ``top_k`` largest :math:`r_j^2` of the
        batch to the batch mean of :math:`\|r\|_2` (so it depends on the
        batch size, as DGenNO's).
    interpolation : {"linear", "nearest"}, default="linear"
        How the given coefficient, known on a grid, is evaluated at the
        quadrature points: bilinear for smooth :math:`a`, nearest node for a
        two-phase (discontinuous) :math:`a`.
    form : {"primal", "mixed"}, default="primal"
        ``"primal"``: the residual above, for smooth :math:`a`. ``"mixed"``
        (two-phase :math:`a`): the network also gives a flux
        :math:`s \approx a\nabla u`, and the loss is
        :math:`\operatorname{mean}|s - a\nabla u|^2 + \sqrt{n_c}\,
        \operatorname{mean}_j r_j^2` with
        :math:`r_j = \frac{1}{|B_j|}(\int s\cdot\nabla\varphi_j - \int f\varphi_j)`,
        so no derivative of the discontinuous product :math:`a\nabla u` is
        ever formed (DGenNO's two-phase form; ``top_k`` is unused).

    Notes
    -----
    The two-phase recipe: ``DarcyWeak(form="mixed", interpolation="nearest")``
    with ``DGNOSolver(a_likelihood="bernoulli")``.

    Examples
    --------
    >>> from opkit.physics import DarcyWeak
    >>> pde = DarcyWeak(f=10.0, radius=0.05)
    >>> points, phi, grad_phi = pde.test_functions(pde.sample_centers(seed=0))
    >>> tuple(points.shape), tuple(grad_phi.shape)
    ((100, 45, 2), (100, 45, 2))
    """

    domain = ((0.0, 1.0), (0.0, 1.0))
    test_domain = domain
    coordinate_names = ("x", "y")

    def __init__(self, f=10.0, n_centers=100, radius=1e-4, n_quadrature=9, top_k=1000, interpolation="linear",
                 form="primal"):
        self.f = f
        self.form = form
        self.n_centers = n_centers
        self.radius = radius
        self.n_quadrature = n_quadrature
        self.top_k = top_k
        self.interpolation = interpolation

    # -- boundary ---------------------------------------------------------------------------
    @staticmethod
    def mollifier(points):
        r""":math:`m = \sin\pi x\,\sin\pi y` and its gradient: ``u = m * network`` is zero on the boundary.

        Parameters
        ----------
        points : torch.Tensor, shape (..., 2)

        Returns
        -------
        m : torch.Tensor, shape (...)
        grad_m : torch.Tensor, shape (..., 2)
        """
        sx, sy = torch.sin(np.pi * points[..., 0]), torch.sin(np.pi * points[..., 1])
        cx, cy = torch.cos(np.pi * points[..., 0]), torch.cos(np.pi * points[..., 1])
        return sx * sy, torch.stack([np.pi * cx * sy, np.pi * sx * cy], dim=-1)

    # -- coefficient off the grid -----------------------------------------------------------
    def interpolate(self, a, x, y, points):
        """The coefficient known at the nodes ``(x, y)`` evaluated at ``points``.

        Parameters
        ----------
        a : torch.Tensor, shape (batch, len(x), len(y))
            Values at the nodes of a uniform grid, indexed ``[sample, x, y]``.
        x, y : sequence of float
            The grid's coordinates (uniform, increasing).
        points : torch.Tensor, shape (n_points, 2)

        Returns
        -------
        torch.Tensor, shape (batch, n_points)
        """
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")
        x0, x1, y0, y1 = float(x[0]), float(x[-1]), float(y[0]), float(y[-1])
        # grid_sample reads (W, H) = (last, second-last) axes: y then x, both on [-1, 1].
        gx = 2.0 * (points[:, 1] - y0) / (y1 - y0) - 1.0
        gy = 2.0 * (points[:, 0] - x0) / (x1 - x0) - 1.0
        grid = torch.stack([gx, gy], dim=-1).to(a.dtype)[None, None].expand(len(a), -1, -1, -1)
        mode = "bilinear" if self.interpolation == "linear" else "nearest"
        out = torch.nn.functional.grid_sample(a[:, None], grid, mode=mode, align_corners=True, padding_mode="border")
        return out[:, 0, 0]

    # -- residual ---------------------------------------------------------------------------
    def residual(self, grad_u, a, phi, grad_phi, f=None):
        r"""The weak residuals :math:`r_j` from values at the quadrature points.

        Parameters
        ----------
        grad_u : torch.Tensor, shape (batch, n_centers, n_quadrature, 2)
        a : torch.Tensor, shape (batch, n_centers, n_quadrature)
        phi : torch.Tensor, shape (n_centers, n_quadrature)
        grad_phi : torch.Tensor, shape (n_centers, n_quadrature, 2)
        f : torch.Tensor, optional
            Source at the points, broadcastable to ``a``; default the constant ``f``.

        Returns
        -------
        torch.Tensor, shape (batch, n_centers)
        """
        source = float(self.f) if f is None else f
        flux = (a[..., None] * grad_u * grad_phi).sum(-1)
        return flux.mean(-1) - (source * phi).mean(-1)

    @property
    def uses_flux(self) -> bool:
        """Whether the network must give a flux ``s`` (the mixed form)."""
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {self.form!r}")
        return self.form == "mixed"

    def mixed_residual(self, s, phi, grad_phi, f=None):
        r"""The residuals :math:`r_j = \operatorname{mean}(s\cdot\nabla\varphi_j - f\varphi_j)` of a flux.

        Parameters
        ----------
        s : torch.Tensor, shape (batch, n_centers, n_quadrature, 2)
        phi : torch.Tensor, shape (n_centers, n_quadrature)
        grad_phi : torch.Tensor, shape (n_centers, n_quadrature, 2)
        f : torch.Tensor, optional

        Returns
        -------
        torch.Tensor, shape (batch, n_centers)
        """
        source = float(self.f) if f is None else f
        return (s * grad_phi).sum(-1).mean(-1) - (source * phi).mean(-1)

    def weak_loss(self, grad_u, a, phi, grad_phi, s=None, per_sample=False):
        """The training loss of either form from values at the quadrature points.

        Parameters
        ----------
        grad_u : torch.Tensor, shape (batch, n_centers, n_quadrature, 2)
        a : torch.Tensor, shape (batch, n_centers, n_quadrature)
            Coefficient at the points (the given one detached, or a decoded one);
            a leading draws dim ``(draws, batch, ...)`` averages the loss over draws.
        phi, grad_phi : torch.Tensor
        s : torch.Tensor, shape (batch, n_centers, n_quadrature, 2), optional
            The flux; required by the mixed form.
        per_sample : bool, default=False
            Primal form: the top-k term per sample (see :meth:`loss`); the
            mixed form is a mean, the same either way.

        Returns
        -------
        torch.Tensor, scalar
        """
        if not self.uses_flux:
            if a.dim() == grad_u.dim():  # draws of a
                return torch.stack([self.loss(self.residual(grad_u, ak, phi, grad_phi), per_sample)
                                    for ak in a]).mean()
            return self.loss(self.residual(grad_u, a, phi, grad_phi), per_sample)
        if s is None:
            raise ValueError("the mixed form needs the flux s (a network with flux outputs)")
        mismatch = ((s - a[..., None] * grad_u) ** 2).sum(-1).mean()
        r = self.mixed_residual(s, phi, grad_phi)
        return mismatch + np.sqrt(phi.shape[0]) * (r**2).mean()

    def weak_residual(self, u_fn, a_fn, centers, f_fn=None, dtype=torch.float64):
        """Residuals of a pair of functions, with the gradient of ``u`` by automatic differentiation.

        Parameters
        ----------
        u_fn, a_fn : callable
            ``fn(points)`` for points ``(n, 2)`` returning values ``(n,)``
            (differentiable in torch for ``u_fn``).
        centers : numpy.ndarray, shape (n_centers, 2)
        f_fn : callable, optional
            The source as a function of the points (default the constant ``f``).
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
        a = a_fn(flat.detach()).reshape(shape)
        f = None if f_fn is None else f_fn(flat.detach()).reshape(shape)
        return self.residual(grad.reshape(1, *points.shape), a[None], phi, grad_phi, f)[0]

r"""Compactly supported test functions and their quadrature, shared by the weak-form physics objects.

The weak residuals of DGenNO (:class:`opkit.physics.DarcyWeak`,
:class:`opkit.physics.BurgersWeak`) test the PDE against Wendland C4
functions :math:`\varphi_j(x) = \varphi(|x - \xi_j| / R)` centred at
Latin-hypercube points :math:`\xi_j` of the domain shrunk by :math:`R`, with

.. math:: \varphi(r) = \tfrac13 (1 - r)_+^{l+2}\,[(l^2 + 4l + 3) r^2 + (3l + 6) r + 3],
          \quad l = \lfloor d/2 \rfloor + 3,

and integrate over each support with one reference rule: the points of an
``n x n`` grid on :math:`[-1, 1]^2` (``n`` points on :math:`[-1, 1]` in 1-D)
that lie inside the unit ball (45 points for n = 9, 25 for 7), mapped to :math:`\xi_j + R q`. An integral is the
*mean* over the support's points (the integral divided by the rule's area),
so residuals stay of order one whatever :math:`R`.

Physics objects are scikit-learn-style parameter holders
(:class:`WeakPDE`): small, deep-copyable, with ``get_params``; they register
themselves by class name so that a saved estimator stores them as
``{"physics": name, "params": ...}`` and never pickles them.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator

from ..registry import PHYSICS

__all__ = ["WeakPDE", "wendland", "wendland_derivative", "reference_rule", "latin_hypercube_centers",
           "MIN_RADIUS_FLOAT32"]

#: Smallest support radius accepted in float32: below it the points
#: ``xi + R q`` (xi of order one, float32 spacing 1.2e-7 near 1) are
#: rounded by more than 0.1 % of ``R``, and the test-function gradients
#: (of order 1/R) lose their antisymmetry.
MIN_RADIUS_FLOAT32 = 1e-4


def _exponent(dim: int) -> int:
    return dim // 2 + 3


def wendland(r, dim: int = 2):
    r"""Wendland C4 function :math:`\varphi(r)` (``r = |x - \xi| / R``), zero for ``r >= 1``.

    Parameters
    ----------
    r : torch.Tensor or numpy.ndarray
        Non-negative scaled distances.
    dim : int, default=2
        Space dimension ``d`` (sets ``l = d // 2 + 3``).

    Returns
    -------
    same type as ``r``
        :math:`\varphi(0) = 1`.
    """
    lib = torch if torch.is_tensor(r) else np
    l = _exponent(dim)
    one_minus = lib.clip(1.0 - r, 0.0, None)
    return one_minus ** (l + 2) * ((l * l + 4 * l + 3) * r**2 + (3 * l + 6) * r + 3.0) / 3.0


def wendland_derivative(r, dim: int = 2):
    r""":math:`\varphi'(r)/r`, the factor of :math:`(x - \xi)/R^2` in :math:`\nabla\varphi_j`.

    Dividing by ``r`` analytically keeps the gradient finite at the centre:
    :math:`\varphi'(r) = -\tfrac13 (l+3)(l+4)\, r\,(1-r)_+^{l+1}(1 + (l+1) r)` in
    closed form, so :math:`\varphi'(r)/r` is a polynomial.

    Parameters
    ----------
    r : torch.Tensor or numpy.ndarray
    dim : int, default=2

    Returns
    -------
    same type as ``r``
    """
    lib = torch if torch.is_tensor(r) else np
    l = _exponent(dim)
    one_minus = lib.clip(1.0 - r, 0.0, None)
    return -(l + 3) * (l + 4) / 3.0 * one_minus ** (l + 1) * (1.0 + (l + 1) * r)


def reference_rule(n: int, dim: int = 2) -> np.ndarray:
    """Points of the ``n``-point-per-axis grid on ``[-1, 1]^dim`` strictly inside the unit ball (test functions vanish on its boundary).

    Parameters
    ----------
    n : int
        Points per axis (>= 3).
    dim : {1, 2}

    Returns
    -------
    numpy.ndarray, shape (n_points, dim), float64
    """
    if int(n) < 3:
        raise ValueError(f"quadrature needs at least 3 points per axis, got n_quadrature={n!r}")
    axis = np.linspace(-1.0, 1.0, int(n))
    grid = np.stack(np.meshgrid(*([axis] * dim), indexing="ij"), axis=-1).reshape(-1, dim)
    return grid[(grid**2).sum(1) < 1.0 - 1e-12]


def latin_hypercube_centers(n: int, lower, upper, seed: int) -> np.ndarray:
    """``n`` Latin-hypercube points in the box ``[lower, upper]`` (scipy.stats.qmc).

    Parameters
    ----------
    n : int
    lower, upper : sequence of float
        Box corners, one entry per dimension.
    seed : int

    Returns
    -------
    numpy.ndarray, shape (n, len(lower))
    """
    from scipy.stats import qmc

    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    sample = qmc.LatinHypercube(d=len(lower), seed=np.random.default_rng(seed)).random(int(n))
    return qmc.scale(sample, lower, upper)


class WeakPDE(BaseEstimator):
    """Base of the weak-form physics objects: parameters, registry, test functions, checks.

    A subclass defines ``domain`` (a tuple of ``(low, high)`` per coordinate),
    ``test_domain`` (where centres are drawn), ``coordinate_names``, optionally
    ``test_dims`` (the leading coordinates the test functions vary in; default
    all),
    stores its ``__init__`` arguments unchanged (``get_params``/``clone``
    work) and registers itself under its class name in
    :data:`opkit.registry.PHYSICS`.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        PHYSICS[cls.__name__] = cls

    # -- checks ----------------------------------------------------------------------------
    def check_radius(self, dtype) -> float:
        """The support radius, refused where ``dtype`` cannot resolve its quadrature points.

        Parameters
        ----------
        dtype : torch.dtype

        Returns
        -------
        float

        Raises
        ------
        ValueError
            ``radius`` not positive, too large for the domain, or below
            :data:`MIN_RADIUS_FLOAT32` in float32.
        """
        radius = float(self.radius)
        widths = [hi - lo for lo, hi in self.domain]
        if not (0.0 < radius < 0.5 * min(widths)):
            raise ValueError(f"radius must be in (0, {0.5 * min(widths):g}) for the domain {self.domain}; got {radius!r}")
        if dtype != torch.float64 and radius < MIN_RADIUS_FLOAT32:
            raise ValueError(
                f"radius={radius:g} is too small for float32: the quadrature points xi + radius*q are "
                f"rounded by float32's spacing (1.2e-7 near 1), so test-function gradients of order "
                f"1/radius lose their cancellation; use radius >= {MIN_RADIUS_FLOAT32:g} or float64"
            )
        return radius

    def check_points(self, points, what: str = "coords") -> None:
        """Refuse points outside the domain.

        Parameters
        ----------
        points : numpy.ndarray, shape (n, dim)
        what : str
            Name used in the error message.
        """
        points = np.asarray(points, dtype=float)
        for axis, (lo, hi) in enumerate(self.domain):
            values = points[..., axis]
            bad = (values < lo - 1e-9) | (values > hi + 1e-9) | ~np.isfinite(values)
            if bad.any():
                name = self.coordinate_names[axis]
                raise ValueError(
                    f"{what} has {int(bad.sum())} point(s) with {name} outside the domain [{lo:g}, {hi:g}] "
                    f"(e.g. {name} = {float(values[bad][0])!r})"
                )

    # -- test functions --------------------------------------------------------------------
    def sample_centers(self, seed: int, n_centers=None) -> np.ndarray:
        """Latin-hypercube centres in the domain shrunk by ``radius`` (so supports lie inside).

        Parameters
        ----------
        seed : int
        n_centers : int, optional
            Default ``self.n_centers``.

        Returns
        -------
        numpy.ndarray, shape (n_centers, dim)
        """
        radius = float(self.radius)
        lower = [lo + radius for lo, _ in self.test_domain]
        upper = [hi - radius for _, hi in self.test_domain]
        return latin_hypercube_centers(int(n_centers or self.n_centers), lower, upper, seed)

    def test_functions(self, centers, dtype=torch.float32, device="cpu"):
        r"""Quadrature points of every support with the test functions and their gradients there.

        Parameters
        ----------
        centers : numpy.ndarray or torch.Tensor, shape (n_centers, dim)
        dtype : torch.dtype, default=torch.float32
        device : torch.device or str, default="cpu"

        Returns
        -------
        points : torch.Tensor, shape (n_centers, n_quadrature, dim)
            :math:`\xi_j + R q`.
        phi : torch.Tensor, shape (n_centers, n_quadrature)
        grad_phi : torch.Tensor, shape (n_centers, n_quadrature, dim)
            :math:`\varphi'(r)\,(x - \xi_j)/(r R^2)`, in the domain's units
            (zero along coordinates beyond the subclass's ``test_dims``, if it
            sets one: Burgers tests in x only, at a fixed t).
        """
        radius = self.check_radius(dtype)
        dim = int(getattr(self, "test_dims", len(self.domain)))
        q = torch.as_tensor(reference_rule(int(self.n_quadrature), dim), dtype=torch.float64)
        c = torch.as_tensor(np.asarray(centers), dtype=torch.float64)
        r = q.norm(dim=-1)
        # Coordinates beyond ``test_dims`` (time for Burgers) stay at the centre's value.
        q = torch.cat([q, q.new_zeros(len(q), c.shape[-1] - dim)], dim=-1)
        # Offsets are formed in float64 and the points cast once, so the rounding of
        # the points is that of float32 itself, not of a float32 subtraction.
        points = c[:, None, :] + radius * q[None]
        phi = wendland(r, dim).expand(len(c), -1)
        grad = (wendland_derivative(r, dim)[:, None] * q / radius).expand(len(c), -1, -1)
        return points.to(device, dtype), phi.to(device, dtype), grad.to(device, dtype)

    def loss(self, r, per_sample=False):
        r"""DGenNO's residual loss: batch mean of :math:`\|r\|_2` plus the sum of the ``top_k`` largest :math:`r_j^2`.

        ``top_k`` is the subclass's parameter (0 drops the term); the sum
        depends on the batch size, as DGenNO's.

        Parameters
        ----------
        r : torch.Tensor, shape (batch, n_centers)
        per_sample : bool, default=False
            Take the ``top_k`` largest squares of each row (sample) and average
            the rows' losses, so that each sample's loss is that of a batch of
            one (the inverse problem, where rows are independent problems).

        Returns
        -------
        torch.Tensor, scalar
        """
        if per_sample:
            k = min(int(self.top_k), r.shape[-1])
            top = torch.topk(r**2, k, dim=-1).values.sum(-1) if k > 0 else r.new_zeros(r.shape[:-1])
            return (r.norm(dim=-1) + top).mean()
        squares = (r**2).flatten()
        k = min(int(self.top_k), squares.numel())
        top = torch.topk(squares, k).values.sum() if k > 0 else squares.new_zeros(())
        return r.norm(dim=-1).mean() + top

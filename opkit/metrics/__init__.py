"""Sobolev norms, relative errors and Sobolev training losses.

Two faces of one computation:

* the **xarray side** (:func:`sobolev_norm`, :func:`relative_error`,
  :func:`sobolev_scorer`) reads the spatial dims, the grid spacing and the
  boundary conditions from the data;
* the **torch side** (:func:`sobolev_norm_torch`, :class:`SobolevLoss`,
  :func:`make_loss`) is differentiable and runs on any device, for training.

Both call the same kernel, so they agree to round-off on the same data.

Normalisation
-------------
Every norm approximates an integral over the continuous domain ``Ω``, so its
value does not depend on the resolution and ``s = 0`` gives ``∫_Ω |u|² dx``.

* Along a **periodic** dim of ``n`` points and spacing ``h`` the nodes are
  ``x_0 + j h`` for ``j = 0, ..., n-1`` (the end point is *not* repeated) and
  the period is ``L = n h``. Over the periodic dims the norm is spectral,
  ``‖u‖²_{H^s} = |Ω| Σ_k (1 + |κ_k|²)^s |û_k|²`` with ``û = DFT(u) / N``
  (``N`` grid points) and ``κ = 2πk / L``; any real ``s`` is allowed. For
  ``s = 0`` this equals the rectangle rule ``h^d Σ_j |u_j|²`` (Parseval).
* Along a **non-periodic** dim (``"dirichlet"`` or ``"neumann"``; the two are
  treated alike) the nodes *include both end points*, ``x_0 + j h`` for
  ``j = 0, ..., n-1``, so ``L = (n - 1) h``; integrals use the trapezoid rule
  and derivatives second-order finite differences (central inside, one-sided
  at the two ends). Only integer ``s >= 0`` is defined there, through
  ``(1 + |κ|²)^s = Σ_{|α|≤s} C(s,|α|) |α|!/α! κ^{2α}``, i.e.
  ``‖u‖²_{H^s} = Σ_{|α|≤s} C(s,|α|) |α|!/α! ‖∂^α u‖²_{L²}``. In a mixed grid
  the derivatives along periodic dims stay spectral.
* ``homogeneous=True`` gives the seminorm with weight ``|κ|^{2s}``; on a fully
  periodic grid the ``k = 0`` mode is dropped (so ``s <= 0`` is finite). With a
  non-periodic dim there is no zero mode to drop and the seminorm is
  ``Σ_{|α|=s} s!/α! ‖∂^α u‖²`` (the L² norm for ``s = 0``).
* A dim without a coordinate lies on the unit interval: ``h = 1/n`` if
  periodic, ``h = 1/(n-1)`` otherwise. NumPy inputs are treated the same way.

Norms of multi-component data (a ``channel`` dim in torch; any non-spatial dim
you sum over in xarray) combine as the square root of the summed squares.

The xarray side lives in :mod:`opkit.metrics.fields`, the torch side in
:mod:`opkit.metrics.losses`; both are re-exported here.
"""

from .fields import relative_error, sobolev_norm, sobolev_scorer
from .losses import SobolevLoss, make_loss, sobolev_norm_torch

__all__ = [
    "sobolev_norm",
    "relative_error",
    "sobolev_scorer",
    "sobolev_norm_torch",
    "SobolevLoss",
    "make_loss",
]

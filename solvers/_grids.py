"""Solve grids chosen from the stored resolution.

Every solver stores its fields on a grid taken from the solve grid (a stride of
a nodal grid, a stride or a spectral truncation of a periodic one). When a run
does not set ``solver_resolution``, the solver picks the coarsest solve grid
that holds the stored points and is at least as fine as its documented minimum
(the grid its default resolution was always solved on), so any
``resolution >= 3`` works and the default runs keep their grids. Solvers whose
work is FFTs ask for a stride whose prime factors are 2, 3 and 5 (``smooth``):
the grid's other factors are then those of the stored resolution only (for
``resolution`` 3, 8640 rather than 8196 = 12 x 683 points). A value set
explicitly (every preset sets one) is used as given and checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DefaultSolveGrid", "nodal_solve_grid", "periodic_solve_grid"]


def _is_smooth(n):
    """True if n has no prime factor above 5."""
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


def _stride(s, even, smooth):
    """Smallest stride >= s that is even (if asked) and 5-smooth (if asked)."""
    while (even and s % 2) or (smooth and not _is_smooth(s)):
        s += 1
    return s


def _check(resolution, minimum):
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
    if minimum < 1:
        raise ValueError(f"minimum must be >= 1, got {minimum!r}")


def nodal_solve_grid(resolution, minimum, even_stride=False, smooth=False):
    """Coarsest nodal grid ``(resolution - 1) s + 1 >= minimum`` (boundary nodes on both ends).

    Its nodes at stride ``s`` are the ``resolution`` stored nodes ``i/(resolution - 1)``.

    Parameters
    ----------
    resolution : int
        Stored nodes per dimension, boundary nodes included (>= 2).
    minimum : int
        Fewest solve nodes per dimension.
    even_stride : bool, optional
        Make ``s`` even (Richardson extrapolation also solves on the grid of
        spacing ``2h``, which must hold the stored nodes too).
    smooth : bool, optional
        Make ``s`` a product of 2, 3 and 5 (fast transforms).

    Returns
    -------
    int
        Solve nodes per dimension.

    Examples
    --------
    >>> nodal_solve_grid(85, 421), nodal_solve_grid(64, 421), nodal_solve_grid(64, 509, even_stride=True)
    (421, 442, 631)
    """
    _check(resolution, minimum)
    s = _stride(max(1, math.ceil((minimum - 1) / (resolution - 1))), even_stride, smooth)
    return (resolution - 1) * s + 1


def periodic_solve_grid(resolution, minimum, even=False, smooth=False):
    """Coarsest periodic grid ``resolution * s >= minimum`` (points ``j/n`` of the period).

    Its points at stride ``s`` are the ``resolution`` stored points ``j/resolution``.

    Parameters
    ----------
    resolution : int
        Stored points per dimension (>= 2).
    minimum : int
        Fewest solve points per dimension.
    even : bool, optional
        Make the grid even (spectral solvers with a Nyquist mode).
    smooth : bool, optional
        Make ``s`` a product of 2, 3 and 5 (fast FFTs).

    Returns
    -------
    int
        Solve points per dimension.

    Examples
    --------
    >>> periodic_solve_grid(1024, 8192), periodic_solve_grid(100, 128), periodic_solve_grid(3, 128, even=True)
    (8192, 200, 132)
    >>> periodic_solve_grid(3, 8192, even=True, smooth=True)
    8640
    """
    _check(resolution, minimum)
    s = _stride(max(1, math.ceil(minimum / resolution)), even and resolution % 2 == 1, smooth)
    return resolution * s


@dataclass(frozen=True)
class DefaultSolveGrid:
    """A solver's ``derive`` (:class:`solvers._spec.SolverSpec`): the solve grid of a run that leaves it unset.

    Called with the parameters, it returns ``{"solver_resolution": k}``, ``k``
    from :func:`nodal_solve_grid` or :func:`periodic_solve_grid`; nothing when
    ``solver_resolution`` is set or ``resolution`` is not an integer >= 2 (the
    solver's ``validate`` then says what is wrong). A frozen dataclass rather
    than a closure, so that a spec holding it pickles to dask workers.

    Parameters
    ----------
    kind : {"nodal", "periodic"}
        Nodal grids (boundary nodes on both ends) or periodic ones.
    minimum : int
        Fewest solve points per dimension.
    even : bool, optional
        Nodal: an even stride; periodic: an even grid.
    even_if : str, optional
        Name of a boolean parameter that asks for ``even`` when true
        (``"richardson"``).
    smooth : bool, optional
        A stride whose prime factors are 2, 3 and 5 (fast transforms).

    Examples
    --------
    >>> DefaultSolveGrid("nodal", 421)({"resolution": 64, "solver_resolution": None})
    {'solver_resolution': 442}
    """

    kind: str
    minimum: int
    even: bool = False
    even_if: str | None = None
    smooth: bool = False

    def __post_init__(self):
        if self.kind not in ("nodal", "periodic"):
            raise ValueError(f"kind must be 'nodal' or 'periodic', got {self.kind!r}")

    def __call__(self, params):
        res = params["resolution"]
        if params["solver_resolution"] is not None or isinstance(res, bool) or not isinstance(res, int) or res < 2:
            return {}
        even = self.even or (self.even_if is not None and bool(params[self.even_if]))
        if self.kind == "nodal":
            return {"solver_resolution": nodal_solve_grid(res, self.minimum, even_stride=even, smooth=self.smooth)}
        return {"solver_resolution": periodic_solve_grid(res, self.minimum, even=even, smooth=self.smooth)}

r"""Poisson equation with Gaussian sources on the unit square (Poseidon's Poisson-Gauss).

.. math:: -\Delta u = f \ \text{on}\ (0, 1)^2, \qquad u = 0 \ \text{on the boundary},

.. math:: f(x) = \sum_{i=1}^{n} s_i\,A\,\exp\!\Bigl(-\frac{|x - \mu_i|^2}{2\sigma_i^2}\Bigr),

with :math:`n \sim \mathrm{Geom}(0.4)` (support 1, 2, ..., as
``numpy.random.Generator.geometric``), :math:`\mu_i \sim U[0, 1]^2`,
:math:`\sigma_i \sim U[0.025, 0.1]`, amplitude :math:`A = 1` and signs
:math:`s_i = 1` (or :math:`\pm 1` with ``random_sign``). Run
``python -m solvers.poisson --help``.

Method
------
The five-point Laplacian with zero Dirichlet values is diagonalised by the
type-I discrete sine transform: on the nodal grid :math:`x_i = i h`,
:math:`h = 1/(K - 1)`, its eigenvalues are
:math:`\lambda_{pq} = 4h^{-2}(\sin^2(\pi p h/2) + \sin^2(\pi q h/2))`, so
``u = idst(dst(f) / lambda)`` (``scipy.fft.dstn(type=1)``) solves the discrete
problem exactly in :math:`O(K^2\log K)`. The discretisation is second order;
``richardson`` also solves on the grid of spacing :math:`2h` and returns
:math:`(4u_h - u_{2h})/3` on the common nodes, fourth order for smooth data.
The stored grid is nested in the solve grid: stored nodes are solve nodes
taken at a stride, boundary nodes included. Any ``resolution >= 2`` works:
left unset, ``solver_resolution`` is the coarsest such grid of at least 509
nodes, with an even stride under ``richardson`` (509 = 4 x 127 + 1 for the
default 128, 631 for 64); set explicitly (the preset does), it is used as given.

Output: ``f(sample, x, y)`` (input), ``u(sample, x, y)`` (output),
``n_sources(sample)``. Preset ``pdegym-poisson-gauss``.
"""

from __future__ import annotations

import numpy as np

from ._cli import run_cli
from ._lazy import lazy_module
from ._grids import DefaultSolveGrid
from ._spec import Parameter, SolverSpec
from .darcy import BC, _as_batch, _coords, _field_attrs, stride

xr = lazy_module("xarray")
scipy = lazy_module("scipy")  # its submodules load on attribute access

__all__ = [
    "SOLVER",
    "check_nested",
    "dst_eigenvalues",
    "gaussian_sum",
    "generate",
    "global_attrs",
    "richardson_solve",
    "sample_sources",
    "solve",
    "validate",
]

PDE = "-Lap u = f on (0, 1)^2, u = 0 on the boundary"
#: Fewest solve nodes per dimension when ``solver_resolution`` is unset (4 x 127 + 1).
MIN_SOLVER_RESOLUTION = 509


def dst_eigenvalues(n):
    """Eigenvalues of the five-point Dirichlet Laplacian (times -1) on the nodal grid of ``n`` points.

    Parameters
    ----------
    n : int
        Nodes per dimension, boundary included (>= 3).

    Returns
    -------
    ndarray, shape (n - 2, n - 2)
        ``4/h² (sin²(pi p h/2) + sin²(pi q h/2))``, ``p, q = 1..n-2``,
        ``h = 1/(n - 1)``, in the order of ``scipy.fft.dstn(type=1)``.
    """
    h = 1.0 / (n - 1)
    s = np.sin(0.5 * np.pi * h * np.arange(1, n - 1)) ** 2 * (4.0 / h**2)
    return s[:, None] + s[None, :]


def solve(f):
    r"""Solve the five-point :math:`-\Delta_h u = f`, :math:`u = 0` on the boundary, exactly by DST-I.

    Parameters
    ----------
    f : array_like, shape (n, n) or (B, n, n)
        Source at the nodes ``(i h, j h)``, ``h = 1/(n - 1)``, boundary nodes
        included (their values are not used).

    Returns
    -------
    ndarray, shape (B, n, n)
        The discrete solution, zero on the boundary.

    Raises
    ------
    ValueError
        If ``f`` is not a (batch of) square nodal field(s) with at least 3 x 3 nodes.
    """
    f = _as_batch("f", f)
    n = f.shape[1]
    if n < 3:
        raise ValueError(f"f needs at least 3 x 3 nodes (one interior node), got shape {f.shape}")
    coef = scipy.fft.dstn(f[:, 1:-1, 1:-1], type=1, axes=(1, 2), workers=1)
    inner = scipy.fft.idstn(coef / dst_eigenvalues(n), type=1, axes=(1, 2), workers=1)
    u = np.zeros_like(f)
    u[:, 1:-1, 1:-1] = inner
    return u


def richardson_solve(f_fine, f_coarse):
    """Richardson extrapolation ``(4 u_h - u_2h)/3`` of two nested DST solves.

    Parameters
    ----------
    f_fine : ndarray, shape (B, n, n)
        Source on the grid of spacing ``h`` (``n - 1`` even).
    f_coarse : ndarray, shape (B, (n + 1)/2, (n + 1)/2)
        The same source on the grid of spacing ``2h``.

    Returns
    -------
    ndarray, shape (B, (n + 1)/2, (n + 1)/2)
        Fourth-order accurate values at the coarse nodes (for smooth data).
    """
    fine = solve(f_fine)[:, ::2, ::2]
    coarse = solve(f_coarse)
    if fine.shape != coarse.shape:
        raise ValueError(f"grids are not nested: fine solution at stride 2 is {fine.shape}, coarse {coarse.shape}")
    return (4.0 * fine - coarse) / 3.0


def gaussian_sum(x, centres, sigmas, weights):
    r"""Evaluate :math:`\sum_i w_i \exp(-|x - c_i|^2/(2\sigma_i^2))` on the tensor grid ``x`` x ``x``.

    The Gaussians are separable, so the sum is one small matrix product.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Grid coordinates (the same along x and y).
    centres : ndarray, shape (m, 2)
    sigmas, weights : ndarray, shape (m,)

    Returns
    -------
    ndarray, shape (n, n)
        Indexed ``[i, j]`` = value at ``(x[i], x[j])``.
    """
    gx = np.exp(-((x[None, :] - centres[:, :1]) ** 2) / (2.0 * sigmas[:, None] ** 2))
    gy = np.exp(-((x[None, :] - centres[:, 1:]) ** 2) / (2.0 * sigmas[:, None] ** 2))
    return (gx * weights[:, None]).T @ gy


def sample_sources(rng, params):
    """Draw one sample's Gaussian sources (in a fixed order: count, centres, widths, signs).

    Parameters
    ----------
    rng : numpy.random.Generator
    params : dict
        ``source_p``, ``sigma_min``, ``sigma_max``, ``amplitude``, ``random_sign``.

    Returns
    -------
    centres : ndarray, shape (n, 2)
    sigmas, weights : ndarray, shape (n,)
    """
    n = int(rng.geometric(params["source_p"]))
    centres = rng.uniform(0.0, 1.0, (n, 2))
    sigmas = rng.uniform(params["sigma_min"], params["sigma_max"], n)
    weights = np.full(n, float(params["amplitude"]))
    if params["random_sign"]:
        weights = weights * rng.choice([-1.0, 1.0], n)
    return centres, sigmas, weights


def check_nested(resolution, solver_resolution):
    """Check that the grid of spacing 2h (Richardson's coarse solve) holds the stored nodes.

    Parameters
    ----------
    resolution, solver_resolution : int
        Stored and solve nodes per dimension.

    Raises
    ------
    ValueError
        If ``(solver_resolution - 1)/2`` is not a multiple of ``resolution - 1``.
    """
    k = solver_resolution
    if (k - 1) % 2 or ((k - 1) // 2) % (resolution - 1):
        raise ValueError(
            f"richardson needs the grid of spacing 2h to hold the stored nodes: (solver_resolution - 1)/2 = "
            f"{(k - 1) / 2:g} must be a multiple of resolution - 1 = {resolution - 1}"
        )


def validate(params):
    """Reject parameter sets the solver cannot run, naming the culprit.

    Parameters
    ----------
    params : dict

    Raises
    ------
    ValueError
    """
    res, k = params["resolution"], params["solver_resolution"]
    if res is None or res < 2:
        raise ValueError(f"resolution must be >= 2 (nodes per dimension, boundary nodes included), got {res!r}")
    if k is None or k < 3:
        raise ValueError(f"solver_resolution must be >= 3 (one interior node), got {k!r}")
    stride(res, k)
    if params["richardson"]:
        check_nested(params["resolution"], k)
    if not 0 < params["source_p"] <= 1:
        raise ValueError(f"source_p must be in (0, 1], got {params['source_p']!r}")
    if not 0 < params["sigma_min"] <= params["sigma_max"]:
        raise ValueError(
            f"need 0 < sigma_min <= sigma_max, got sigma_min = {params['sigma_min']!r}, sigma_max = {params['sigma_max']!r}"
        )


def generate(params, indices, rngs):
    """Compute a batch of Poisson-Gauss samples (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict
    indices : ndarray of int
    rngs : list of numpy.random.Generator

    Returns
    -------
    xarray.Dataset
        ``f(sample, x, y)``, ``u(sample, x, y)``, ``n_sources(sample)``.
    """
    k, res = params["solver_resolution"], params["resolution"]
    s = stride(res, k)
    x_fine = np.linspace(0.0, 1.0, k)
    draws = [sample_sources(rng, params) for rng in rngs]
    f_fine = np.stack([gaussian_sum(x_fine, *d) for d in draws])
    if params["richardson"]:
        f_coarse = np.ascontiguousarray(f_fine[:, ::2, ::2])
        u = richardson_solve(f_fine, f_coarse)[:, :: s // 2, :: s // 2]
    else:
        u = solve(f_fine)[:, ::s, ::s]
    data = {
        "f": (("sample", "x", "y"), f_fine[:, ::s, ::s], _field_attrs("source f (sum of Gaussians)", "input")),
        "u": (("sample", "x", "y"), u, _field_attrs("solution u", "output")),
        "n_sources": (
            ("sample",), np.array([len(d[1]) for d in draws], dtype=np.int64),
            {"long_name": "number of Gaussian sources", "units": "1", "opkit_role": "auxiliary"},
        ),
    }
    return xr.Dataset(data, coords=_coords(res))


def global_attrs(params):
    """Global attributes of a Poisson-Gauss file (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict

    Returns
    -------
    dict
    """
    k, res = params["solver_resolution"], params["resolution"]
    sign = "random signs +-1" if params["random_sign"] else "positive"
    extra = "; Richardson extrapolation (4 u_h - u_2h)/3 with the grid of spacing 2h" if params["richardson"] else ""
    return {
        "title": "Poisson equation with Gaussian sources on the unit square, zero Dirichlet (Poisson-Gauss)",
        "pde": PDE,
        "equation": "-Lap u = sum_i s_i A exp(-|x - mu_i|^2 / (2 sigma_i^2))",
        "domain": "(x, y) in [0, 1]^2; u = 0 on the boundary",
        **BC,
        "opkit_inputs": "f",
        "opkit_outputs": "u",
        "method": (
            f"5-point Laplacian on the nodal {k} x {k} grid (h = 1/{k - 1}) solved exactly by type-I discrete sine "
            f"transforms (scipy.fft){extra}"
        ),
        "source_description": (
            f"n ~ Geometric({params['source_p']:g}) on 1, 2, ...; mu_i ~ U[0, 1]^2; sigma_i ~ "
            f"U[{params['sigma_min']:g}, {params['sigma_max']:g}]; amplitude {params['amplitude']:g}, {sign}"
        ),
        "solver_resolution": k,
        "output_resolution": res,
        "downsampling": f"stride {stride(res, k)} of the solve grid, boundary nodes kept; x_i = i/{res - 1}",
        "grid": "nodal, boundary nodes included",
    }


SOLVER = SolverSpec(
    name="poisson",
    title="2-D Poisson equation -Lap u = f with Gaussian sources, zero Dirichlet (DST solve)",
    pde=PDE,
    parameters=(
        Parameter(
            "resolution", 128, "1",
            "Stored nodes per dimension (>= 2), boundary nodes included: the solve grid at a stride.",
            int,
        ),
        Parameter(
            "solver_resolution", None, "1",
            "Nodes per dimension of the solve grid. Unset: the coarsest (resolution - 1) s + 1 >= 509, s even "
            "with richardson and a product of 2, 3 and 5 (509 for resolution 128, 631 for 64); set, resolution - 1 must divide solver_resolution - 1 "
            "(and (solver_resolution - 1)/2 with richardson).",
            int,
        ),
        Parameter("richardson", True, "1", "Combine with the solve at spacing 2h: (4 u_h - u_2h)/3, fourth order.", bool),
        Parameter("source_p", 0.4, "1", "Success probability of the geometric number of sources (support 1, 2, ...).", float),
        Parameter("sigma_min", 0.025, "1", "Smallest Gaussian width.", float, plausible=(1e-3, 1.0)),
        Parameter("sigma_max", 0.1, "1", "Largest Gaussian width.", float, plausible=(1e-3, 1.0)),
        Parameter("amplitude", 1.0, "1", "Peak value A of each Gaussian.", float, plausible=(-1e3, 1e3)),
        Parameter("random_sign", False, "1", "Give each Gaussian a random sign +-1 (else all positive).", bool),
    ),
    generate=generate,
    global_attrs=global_attrs,
    validate=validate,
    derive=DefaultSolveGrid("nodal", MIN_SOLVER_RESOLUTION, even_if="richardson", smooth=True),
)


if __name__ == "__main__":
    raise SystemExit(run_cli(SOLVER))

r"""Helmholtz equation with a Gaussian-bump coefficient (Poseidon's Helmholtz).

.. math:: -\Delta u - \omega^2 a(x)\,u = 0 \ \text{on}\ (0, 1)^2, \qquad u = b \ \text{on the boundary},

with :math:`\omega = 5\pi/2`, :math:`b \sim U[0.25, 0.5]` per sample and

.. math:: \bar a(x) = -\sum_{i=1}^{n} A_i \exp\!\Bigl(-\frac{|x - x_i|^2}{2\sigma_i^2}\Bigr),
          \qquad a = \frac{\bar a - \min \bar a}{\max \bar a - \min \bar a},

:math:`n \sim U\{2, \dots, 7\}`, :math:`A_i \sim U[0.5, 10]`,
:math:`\sigma_i \sim U[0.05, 0.1]`, :math:`x_i \sim U[0.2, 0.8]^2`; the min
and max are taken over the stored grid, so a seed gives the same :math:`a` at
every ``solver_resolution``. Run ``python -m solvers.helmholtz --help``.

Method
------
With :math:`u = b + w` (``b`` constant, so :math:`\Delta b = 0`):
:math:`-\Delta w - \omega^2 a w = \omega^2 a b`, :math:`w = 0` on the
boundary; five-point finite differences on the nodal grid (second order;
with ``richardson``, the default, also on the nested grid of spacing
:math:`2h`, combined as :math:`(4u_h - u_{2h})/3`, fourth order) and a
sparse direct solve (SuperLU with threshold partial pivoting, on the
:class:`solvers.darcy.NodalGrid` structure and ordering). The operator is
indefinite (:math:`\omega^2 \approx 61.7` exceeds the first Dirichlet
eigenvalue :math:`2\pi^2`), so no CG; each sample's relative residual is
stored (``residual``), and a sample whose system is singular or so close to it
that the solve is meaningless is refused with its index.

Stored nodes are solve nodes taken at a stride, boundary nodes included. Any
``resolution >= 2`` works: left unset, ``solver_resolution`` is the coarsest
such grid of at least 255 nodes, with an even stride under ``richardson``
(255 for the default 128, 379 for 64); set explicitly (the preset does), it is
used as given.

Output: ``a(sample, x, y)`` and ``b(sample, x, y)`` (the boundary value as a
constant field, so that both are channels of the operator's input, as
Poseidon feeds them) are inputs, ``u(sample, x, y)`` the output, on the nodal
grid with the boundary nodes (``u = b`` there); ``boundary_value(sample)``
and ``residual(sample)`` are auxiliary. Preset ``pdegym-helmholtz``.
"""

from __future__ import annotations

import math

import numpy as np

from ._cli import run_cli
from ._lazy import lazy_module
from ._grids import DefaultSolveGrid
from ._spec import Parameter, SolverSpec
from .darcy import BC, NodalGrid, _as_batch, _coords, _field_attrs, stride
from .poisson import check_nested, gaussian_sum

xr = lazy_module("xarray")

__all__ = [
    "SOLVER",
    "coefficient",
    "generate",
    "global_attrs",
    "sample_bumps",
    "solve",
    "validate",
]

PDE = "-Lap u - omega^2 a u = 0 on (0, 1)^2, u = b on the boundary"
#: Fewest solve nodes per dimension when ``solver_resolution`` is unset (2 x 127 + 1).
MIN_SOLVER_RESOLUTION = 255
#: Largest relative residual accepted (about eps times the condition number: beyond it the
#: forward error may exceed ~1e-6 and the system is treated as singular).
RESIDUAL_LIMIT = 1e-6
#: SuperLU's threshold for partial pivoting (prefers the diagonal, pivots when it is small).
PIVOT_THRESHOLD = 0.1


def solve(a, b, omega=2.5 * math.pi, sample_ids=None, residual=False):
    r"""Solve :math:`-\Delta u - \omega^2 a u = 0`, :math:`u = b` on the boundary, for a batch.

    Parameters
    ----------
    a : array_like, shape (n, n) or (B, n, n)
        Coefficient at the nodes ``(i h, j h)``, ``h = 1/(n - 1)``, boundary
        nodes included; finite.
    b : float or array_like, shape (B,)
        Constant boundary value of each sample.
    omega : float, optional
        Angular frequency (default :math:`5\pi/2`).
    sample_ids : sequence of int, optional
        Sample indices named in error messages (default: batch positions).
    residual : bool, optional
        Also return the relative residuals of the linear solves.

    Returns
    -------
    u : ndarray, shape (B, n, n)
        Solution at the nodes, ``b`` on the boundary.
    rel_residual : ndarray, shape (B,)
        Only with ``residual=True``.

    Raises
    ------
    ValueError
        Wrong shapes or non-finite values (the message names the argument and
        sample), or a singular or numerically singular system (the message
        names the sample).
    """
    a = _as_batch("a", a)
    nb, n = a.shape[0], a.shape[1]
    if n < 3:
        raise ValueError(f"a needs at least 3 x 3 nodes (one interior node), got shape {a.shape}")
    b = np.asarray(b, dtype=float)
    if b.ndim == 0:
        b = np.full(nb, float(b))
    if b.shape != (nb,):
        raise ValueError(f"b must be a scalar or have shape ({nb},) (one boundary value per sample), got {b.shape}")
    ids = list(range(nb)) if sample_ids is None else [int(i) for i in sample_ids]
    for name, arr in (("a", a), ("b", b)):
        bad = ~np.isfinite(arr.reshape(nb, -1)).all(axis=1)
        if bad.any():
            raise ValueError(f"sample {ids[int(np.argmax(bad))]}: {name} has non-finite values")
    grid = NodalGrid.get(n)
    inner = a[:, 1:-1, 1:-1]
    ones_x = np.ones((nb, n - 1, n - 2))
    ones_y = np.ones((nb, n - 2, n - 1))
    k2h2 = (omega * grid.h) ** 2
    rhs = k2h2 * inner * b[:, None, None]
    w, res = grid.solve(
        ones_x, ones_y, rhs, shift=-k2h2 * inner, sample_ids=ids, what="Helmholtz",
        pivot_threshold=PIVOT_THRESHOLD, residual=True,
    )
    bad = ~(np.isfinite(w).reshape(nb, -1).all(axis=1) & (res <= RESIDUAL_LIMIT))
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"sample {ids[k]}: the Helmholtz system is numerically singular (omega^2 a hits a Dirichlet eigenvalue "
            f"of the discrete Laplacian): relative residual {res[k]:.3g} > {RESIDUAL_LIMIT:g}, "
            f"max|w| = {np.nanmax(np.abs(w[k])):.3g}; change omega or a"
        )
    u = w + b[:, None, None]
    return (u, res) if residual else u


def sample_bumps(rng, params):
    """Draw one sample's bumps and boundary value (order: count, amplitudes, widths, centres, b).

    Parameters
    ----------
    rng : numpy.random.Generator
    params : dict

    Returns
    -------
    centres : ndarray, shape (n, 2)
    sigmas, amplitudes : ndarray, shape (n,)
    b : float
    """
    n = int(rng.integers(params["n_bumps_min"], params["n_bumps_max"] + 1))
    amplitudes = rng.uniform(params["amplitude_min"], params["amplitude_max"], n)
    sigmas = rng.uniform(params["sigma_min"], params["sigma_max"], n)
    centres = rng.uniform(params["centre_min"], params["centre_max"], (n, 2))
    b = float(rng.uniform(params["b_min"], params["b_max"]))
    return centres, sigmas, amplitudes, b


def coefficient(centres, sigmas, amplitudes, x, x_norm):
    r"""The normalised coefficient :math:`a = (\bar a - \min\bar a)/(\max\bar a - \min\bar a)` on the grid ``x``.

    Parameters
    ----------
    centres, sigmas, amplitudes : ndarray
        One sample's bumps (:func:`sample_bumps`).
    x : ndarray
        Grid coordinates on which ``a`` is returned.
    x_norm : ndarray
        Grid on which the min and max of :math:`\bar a` are taken.

    Returns
    -------
    ndarray, shape (len(x), len(x))
    """
    abar_norm = -gaussian_sum(x_norm, centres, sigmas, amplitudes)
    lo, hi = abar_norm.min(), abar_norm.max()
    return (-gaussian_sum(x, centres, sigmas, amplitudes) - lo) / (hi - lo)


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
    if not params["omega"] > 0:
        raise ValueError(f"omega must be > 0, got {params['omega']!r}")
    if not 1 <= params["n_bumps_min"] <= params["n_bumps_max"]:
        raise ValueError(
            f"need 1 <= n_bumps_min <= n_bumps_max, got {params['n_bumps_min']!r}, {params['n_bumps_max']!r}"
        )
    for lo, hi in (("amplitude_min", "amplitude_max"), ("sigma_min", "sigma_max"), ("centre_min", "centre_max"),
                   ("b_min", "b_max")):
        if not params[lo] <= params[hi]:
            raise ValueError(f"{lo} ({params[lo]!r}) must not exceed {hi} ({params[hi]!r})")
    if not params["amplitude_min"] > 0:
        raise ValueError(f"amplitude_min must be > 0 (else a can be constant and cannot be normalised), got "
                         f"{params['amplitude_min']!r}")
    if not params["sigma_min"] > 0:
        raise ValueError(f"sigma_min must be > 0, got {params['sigma_min']!r}")


def generate(params, indices, rngs):
    """Compute a batch of Helmholtz samples (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict
    indices : ndarray of int
    rngs : list of numpy.random.Generator

    Returns
    -------
    xarray.Dataset
        ``a``, ``b``, ``u`` (sample, x, y), ``boundary_value(sample)``,
        ``residual(sample)``.
    """
    k, res = params["solver_resolution"], params["resolution"]
    s = stride(res, k)
    x_solve = np.linspace(0.0, 1.0, k)
    x_out = np.linspace(0.0, 1.0, res)
    draws = [sample_bumps(rng, params) for rng in rngs]
    a = np.stack([coefficient(c, sg, amp, x_solve, x_out) for c, sg, amp, _ in draws])
    b = np.array([d[3] for d in draws])
    u, rel = solve(a, b, params["omega"], sample_ids=indices, residual=True)
    if params["richardson"]:
        # Second solve on the nested grid of spacing 2h; (4 u_h - u_2h)/3 at its nodes.
        coarse, rel2 = solve(np.ascontiguousarray(a[:, ::2, ::2]), b, params["omega"], sample_ids=indices, residual=True)
        u = (4.0 * u[:, ::2, ::2] - coarse) / 3.0
        rel = np.maximum(rel, rel2)
        a, s = a[:, ::2, ::2], s // 2
    data = {
        "a": (("sample", "x", "y"), a[:, ::s, ::s], _field_attrs("coefficient a (normalised to [0, 1])", "input")),
        "b": (
            ("sample", "x", "y"), np.broadcast_to(b[:, None, None], (len(b), res, res)).copy(),
            _field_attrs("Dirichlet boundary value b (constant field)", "input"),
        ),
        "u": (("sample", "x", "y"), u[:, ::s, ::s], _field_attrs("solution u", "output")),
        "boundary_value": (
            ("sample",), b, {"long_name": "Dirichlet boundary value b", "units": "1", "opkit_role": "auxiliary"},
        ),
        "residual": (
            ("sample",), rel,
            {"long_name": "relative residual of the sparse solve", "units": "1", "opkit_role": "auxiliary"},
        ),
    }
    return xr.Dataset(data, coords=_coords(res))


def global_attrs(params):
    """Global attributes of a Helmholtz file (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict

    Returns
    -------
    dict
    """
    k, res = params["solver_resolution"], params["resolution"]
    return {
        "title": "Helmholtz equation with a Gaussian-bump coefficient on the unit square, constant Dirichlet value",
        "pde": PDE,
        "equation": f"-Lap u - {params['omega']:.10g}^2 a u = 0, u = b on the boundary",
        "domain": "(x, y) in [0, 1]^2; u = b (per sample) on the boundary",
        **BC,
        "opkit_inputs": "a b",
        "opkit_outputs": "u",
        "method": (
            f"u = b + w; 5-point finite differences for -Lap w - omega^2 a w = omega^2 a b on the nodal {k} x {k} grid "
            f"(h = 1/{k - 1}); sparse direct solve (SuperLU, threshold partial pivoting {PIVOT_THRESHOLD:g}, "
            "minimum-degree ordering computed once per grid)"
            + ("; Richardson extrapolation (4 u_h - u_2h)/3 with the grid of spacing 2h" if params["richardson"] else "")
        ),
        "coefficient_description": (
            f"abar = -sum_i A_i exp(-|x - x_i|^2 / (2 sigma_i^2)), n ~ U{{{params['n_bumps_min']}..{params['n_bumps_max']}}}, "
            f"A_i ~ U[{params['amplitude_min']:g}, {params['amplitude_max']:g}], sigma_i ~ U[{params['sigma_min']:g}, "
            f"{params['sigma_max']:g}], x_i ~ U[{params['centre_min']:g}, {params['centre_max']:g}]^2; "
            f"a = (abar - min abar) / (max abar - min abar), min and max over the stored {res} x {res} grid; "
            f"b ~ U[{params['b_min']:g}, {params['b_max']:g}]"
        ),
        "solver_resolution": k,
        "output_resolution": res,
        "downsampling": f"stride {stride(res, k)} of the solve grid, boundary nodes kept; x_i = i/{res - 1}",
        "grid": "nodal, boundary nodes included",
    }


SOLVER = SolverSpec(
    name="helmholtz",
    title="2-D Helmholtz equation -Lap u - omega^2 a u = 0, u = b on the boundary (5-point FD, SuperLU)",
    pde=PDE,
    parameters=(
        Parameter(
            "resolution", 128, "1",
            "Stored nodes per dimension (>= 2), boundary nodes included: the solve grid at a stride.",
            int,
        ),
        Parameter(
            "solver_resolution", None, "1",
            "Nodes per dimension of the solve grid. Unset: the coarsest (resolution - 1) s + 1 >= 255, s even "
            "with richardson (255 for resolution 128); set, resolution - 1 must divide solver_resolution - 1 "
            "(and (solver_resolution - 1)/2 with richardson).",
            int,
        ),
        Parameter("richardson", True, "1", "Combine with the solve at spacing 2h: (4 u_h - u_2h)/3, fourth order.", bool),
        Parameter("omega", 2.5 * math.pi, "1", "Angular frequency omega (Poseidon: 5 pi / 2).", float, plausible=(0.1, 50.0)),
        Parameter("n_bumps_min", 2, "1", "Fewest Gaussian bumps in abar.", int),
        Parameter("n_bumps_max", 7, "1", "Most Gaussian bumps in abar.", int),
        Parameter("amplitude_min", 0.5, "1", "Smallest bump amplitude A_i.", float),
        Parameter("amplitude_max", 10.0, "1", "Largest bump amplitude A_i.", float),
        Parameter("sigma_min", 0.05, "1", "Smallest bump width sigma_i.", float),
        Parameter("sigma_max", 0.1, "1", "Largest bump width sigma_i.", float),
        Parameter("centre_min", 0.2, "1", "Bump centres are uniform on [centre_min, centre_max]^2.", float),
        Parameter("centre_max", 0.8, "1", "See centre_min.", float),
        Parameter("b_min", 0.25, "1", "Smallest boundary value b.", float, plausible=(-1e3, 1e3)),
        Parameter("b_max", 0.5, "1", "Largest boundary value b.", float, plausible=(-1e3, 1e3)),
    ),
    generate=generate,
    global_attrs=global_attrs,
    validate=validate,
    derive=DefaultSolveGrid("nodal", MIN_SOLVER_RESOLUTION, even_if="richardson"),
)


if __name__ == "__main__":
    raise SystemExit(run_cli(SOLVER))

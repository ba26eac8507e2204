r"""Periodic small-strain RVE of a fibre composite in plane strain (EquiNO's micro problem).

.. math:: \nabla\cdot\sigma(\varepsilon(u)) = 0 \ \text{in}\ Y = [-\tfrac12, \tfrac12]^2, \qquad
          u = \bar\varepsilon\cdot x + \tilde u, \ \tilde u \ \text{periodic}, \qquad
          \bar\sigma = \langle\sigma\rangle,

with macro strains :math:`\hat\varepsilon = (\varepsilon_{xx}, \varepsilon_{yy}, \gamma_{xy})`
(engineering shear) drawn by Latin hypercube in :math:`[-0.04, 0.04]^3`. The
matrix is nonlinear elastic, :math:`\sigma = K\,\mathrm{tr}\,\varepsilon\,I +
\frac{c_1}{c_2 + \|\mathrm{dev}\,\varepsilon\|}\,\mathrm{dev}\,\varepsilon`
(:math:`K = 4780`, :math:`c_1 = 50`, :math:`c_2 = 0.06` MPa), the fibre linear,
:math:`\sigma = K\,\mathrm{tr}\,\varepsilon\,I + 2G\,\mathrm{dev}\,\varepsilon`
(:math:`K = 43452.4`, :math:`G = 29918` MPa), both with the 3-D trace
(:math:`\varepsilon_{zz} = 0`). Run ``python -m solvers.elasticity_rve --help``.

Method
------
Quadratic quadrilaterals (quad8 serendipity by default, or quad9), 3 x 3
Gauss points, on one centred circular fibre (``volume_fraction``) meshed by
:func:`opkit.physics.circular_fibre_mesh`, or on an EquiNO CSV mesh
(``mesh_nodes``, ``mesh_elements``). The strain operator, Gauss weights,
periodic map and the laws are :class:`opkit.physics.PeriodicRVE`'s, shared
with the EquiNO estimator. Periodicity eliminates the slave DOFs
(:math:`K_r = P^T K P`) and one corner node is fixed. Newton's method with the
consistent tangent runs ``n_increments`` load steps
:math:`\bar\varepsilon_k = (k/n)\,\bar\varepsilon` and stops when
:math:`\|R\| \le \mathrm{tol}\,\|F_{ref}\|`, :math:`R = P^T B^T W \sigma` the
reduced residual and :math:`F_{ref} = B^T W \sigma` the unreduced internal
force of the same iterate (the boundary reactions at convergence, so the
test does not loosen with the size of the first residual); each linear
system is factorised by
SuperLU. The homogenised tangent is the static condensation of the converged
stiffness, :math:`\bar C = \langle D\rangle - F^T K_r^{-1} F / |Y|`,
:math:`F = P^T B^T W D` for the three unit macro strains.

Output: ``macro_strain(sample, strain)`` (input), ``macro_stress(sample, strain)``,
``tangent(sample, strain, strain_2)``, ``displacement(sample, node, component)``
(total: affine plus fluctuation), ``micro_strain`` and ``stress(sample, gauss_point,
strain)`` (outputs, float64), ``newton_iterations`` and ``relative_residual``
(sample), and, stored once, the mesh (``nodes``, ``connectivity``,
``material_id``, ``gauss_points``, ``gauss_weights``) with the attributes
``element_type`` and ``materials``, so that
:meth:`opkit.physics.PeriodicRVE.from_dataset` rebuilds the RVE from the file.
Presets ``elasticity-rve-tiny`` and ``elasticity-rve``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ._cli import run_cli
from ._lazy import lazy_module
from ._seed import run_seed
from ._spec import Parameter, SolverSpec

xr = lazy_module("xarray")
rve_module = lazy_module("opkit.physics.rve")

__all__ = [
    "LHS_STREAM",
    "NewtonError",
    "SOLVER",
    "StrainRangeWarning",
    "VALID_STRAIN",
    "build_rve",
    "generate",
    "global_attrs",
    "latin_hypercube",
    "macro_strains",
    "materials_of",
    "solve",
    "validate",
]

PDE = "div sigma(eps(u)) = 0 on the unit cell, u = eps_bar . x + periodic fluctuation, sigma_bar = <sigma>"
#: Spawn-key word of the Latin-hypercube designs (sample generators use one-word keys).
LHS_STREAM = 0x1A5
#: Largest macro-strain component the small-strain laws are meant for (warned beyond).
VALID_STRAIN = 0.1
STRAIN_NAMES = ("xx", "yy", "xy")


class NewtonError(RuntimeError):
    """Newton's method did not converge; the message names the sample and the load increment."""


class StrainRangeWarning(UserWarning):
    """A macro strain lies outside the small-strain range the constitutive laws are meant for."""


# ----------------------------------------------------------------------------- the solve


class _Assembler:
    """Element-by-element assembly of the reduced stiffness into a fixed CSC pattern.

    The element matrices ``B_e^T (w D) B_e`` are scattered straight into the
    reduced DOFs (``P`` maps every node DOF to at most one free DOF), through
    a map from element entries to the CSC data computed once per RVE.
    """

    def __init__(self, rve):
        dNdx = rve.shape_gradients  # (E, 9, nl, 2)
        E, q, nl, _ = dNdx.shape
        Be = np.zeros((E, q, 3, 2 * nl))
        Be[:, :, 0, 0::2] = dNdx[..., 0]
        Be[:, :, 1, 1::2] = dNdx[..., 1]
        Be[:, :, 2, 0::2] = dNdx[..., 1]
        Be[:, :, 2, 1::2] = dNdx[..., 0]
        self.Be = Be
        P = rve.P.tocsr()
        free_of_dof = np.full(rve.n_dofs, -1, dtype=np.int64)
        rows = np.flatnonzero(np.diff(P.indptr))
        free_of_dof[rows] = P.indices[P.indptr[rows]]
        local = np.stack([2 * rve.connectivity, 2 * rve.connectivity + 1], axis=2).reshape(E, 2 * nl)
        self.dof = free_of_dof[local]  # (E, 2 nl), -1 where fixed
        n = rve.n_free
        r = np.broadcast_to(self.dof[:, :, None], (E, 2 * nl, 2 * nl))
        c = np.broadcast_to(self.dof[:, None, :], (E, 2 * nl, 2 * nl))
        self.keep = ((r >= 0) & (c >= 0)).ravel()
        keys = c.ravel()[self.keep] * n + r.ravel()[self.keep]
        unique, self.position = np.unique(keys, return_inverse=True)
        self.indices = (unique % n).astype(np.int32)
        self.indptr = np.searchsorted(unique // n, np.arange(n + 1)).astype(np.int32)
        self.n = n
        self.weights = rve.gauss_weights.reshape(E, q)

    def __call__(self, D):
        """``(K_r, F)`` for the Gauss-point tangents ``D`` (n_gauss, 3, 3)."""
        import scipy.sparse as sp

        E, q = self.weights.shape
        wD = D.reshape(E, q, 3, 3) * self.weights[:, :, None, None]
        T = np.einsum("eqij,eqjb->eqib", wD, self.Be)  # (E, q, 3, 2nl)
        Ke = np.einsum("eqia,eqib->eab", self.Be, T)
        data = np.bincount(self.position, weights=Ke.ravel()[self.keep], minlength=len(self.indices))
        K = sp.csc_matrix((data, self.indices, self.indptr), shape=(self.n, self.n))
        Fe = T.sum(axis=1).transpose(0, 2, 1)  # (E, 2nl, 3): B_e^T w D summed over Gauss points
        ok = self.dof >= 0
        F = np.stack([np.bincount(self.dof[ok], weights=Fe[..., j][ok], minlength=self.n) for j in range(3)], axis=1)
        return K, F


def _stiffness(rve, D):
    """Reduced stiffness ``P^T B^T W D B P`` (CSC) and ``F = P^T B^T W D`` for the unit macro strains."""
    assembler = getattr(rve, "_elasticity_rve_assembler", None)
    if assembler is None:
        assembler = _Assembler(rve)
        rve._elasticity_rve_assembler = assembler
    return assembler(D)


def _factor(K):
    """SuperLU of the symmetric positive definite K_r: symmetric minimum-degree ordering, diagonal pivots."""
    import scipy.sparse.linalg as spla

    return spla.splu(K, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})


def solve(rve, macro_strain, n_increments=2, tol=1e-10, max_iterations=25, samples=None, history=False):
    r"""Solve the periodic RVE for each macro strain (Newton, consistent tangent, load increments).

    Parameters
    ----------
    rve : opkit.physics.PeriodicRVE
    macro_strain : array_like, shape (3,) or (s, 3)
        :math:`(\varepsilon_{xx}, \varepsilon_{yy}, \gamma_{xy})` per sample.
    n_increments : int, default=2
        Load steps :math:`(k/n)\,\bar\varepsilon`, ``k = 1..n``.
    tol : float, default=1e-10
        Stop when :math:`\|R\| \le \mathrm{tol}\,\|F_{ref}\|` (see the module docstring).
    max_iterations : int, default=25
        Newton iterations allowed per increment.
    samples : sequence of int, optional
        Sample indices for error messages (default ``0..s-1``).
    history : bool, default=False
        Also return ``residual_history``: per sample, the relative residual
        after each Newton iteration of the last increment.

    Returns
    -------
    dict of ndarray
        ``macro_stress`` (s, 3), ``tangent`` (s, 3, 3), ``displacement``
        (s, n_nodes, 2) total, ``strain`` and ``stress`` (s, n_gauss, 3),
        ``iterations`` (s,) Newton iterations summed over the increments,
        ``relative_residual`` (s,) at convergence, ``fluctuation`` (s, n_free)
        the reduced unknowns ``a`` (``u = macro + P a``).

    Raises
    ------
    NewtonError
        No convergence within ``max_iterations`` (or a non-finite residual);
        the message names the sample, the increment and the residual reached.
        Nothing is returned for any sample then.
    ValueError
        Bad shapes or settings.

    Warns
    -----
    StrainRangeWarning
        For a macro-strain component beyond :data:`VALID_STRAIN` in magnitude.
    """
    E = np.atleast_2d(np.asarray(macro_strain, dtype=np.float64))
    if E.ndim != 2 or E.shape[1] != 3:
        raise ValueError(f"macro_strain must have shape (3,) or (samples, 3), got {np.shape(macro_strain)}")
    if not np.isfinite(E).all():
        raise ValueError("macro_strain has non-finite values")
    if isinstance(n_increments, bool) or int(n_increments) != n_increments or n_increments < 1:
        raise ValueError(f"n_increments must be a positive integer, got {n_increments!r}")
    if not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1), got {tol!r}")
    samples = np.arange(len(E)) if samples is None else np.asarray(samples)
    if len(samples) != len(E):
        raise ValueError(f"samples has {len(samples)} entries for {len(E)} macro strains")
    big = np.abs(E).max(axis=1) > VALID_STRAIN
    if big.any():
        k = int(np.argmax(big))
        warnings.warn(
            f"macro strain of sample {int(samples[k])} = {E[k].tolist()} has a component beyond {VALID_STRAIN:g}: "
            "outside the small-strain range the constitutive laws are meant for (the matrix law is fitted to "
            "|strain| <= 0.04); the solve goes ahead",
            StrainRangeWarning,
            stacklevel=2,
        )
    n_inc = int(n_increments)
    ng = rve.n_gauss
    out = {
        "macro_stress": np.empty((len(E), 3)),
        "tangent": np.empty((len(E), 3, 3)),
        "displacement": np.empty((len(E), rve.n_nodes, 2)),
        "strain": np.empty((len(E), ng, 3)),
        "stress": np.empty((len(E), ng, 3)),
        "iterations": np.zeros(len(E), dtype=np.int64),
        "relative_residual": np.empty(len(E)),
        "fluctuation": np.empty((len(E), rve.n_free)),
    }
    histories = []
    w = rve.gauss_weights
    for k, eb in enumerate(E):
        a = np.zeros(rve.n_free)
        for inc in range(1, n_inc + 1):
            e_inc = eb * (inc / n_inc)
            hist = []
            for it in range(max_iterations + 1):
                eps = e_inc + (rve.BP @ a).reshape(ng, 3)
                sig = rve.stress(eps)
                R = rve.G @ sig.ravel()
                f_ref = float(np.linalg.norm(rve.B.T @ (sig * w[:, None]).ravel()))
                norm = float(np.linalg.norm(R))
                rel = norm / f_ref if f_ref > 0 else norm
                hist.append(rel)
                if not math.isfinite(rel):
                    raise NewtonError(
                        f"sample {int(samples[k])}, increment {inc}/{n_inc}, iteration {it}: the residual is not "
                        f"finite (macro strain {eb.tolist()})"
                    )
                if norm <= tol * f_ref:
                    break
                if it == max_iterations:
                    raise NewtonError(
                        f"sample {int(samples[k])}, increment {inc}/{n_inc}: Newton did not converge in "
                        f"{max_iterations} iterations (relative residual {rel:.3e} > tol {tol:g}; macro strain "
                        f"{eb.tolist()}); try more increments (n_increments) or iterations (max_iterations)"
                    )
                K, _ = _stiffness(rve, rve.tangent(eps))
                a = a - _factor(K).solve(R)
                out["iterations"][k] += 1
        D = rve.tangent(eps)
        K, F = _stiffness(rve, D)
        A = _factor(K).solve(np.asarray(F))
        C = ((D * w[:, None, None]).sum(axis=0) - F.T @ A) / rve.volume
        out["tangent"][k] = 0.5 * (C + C.T)  # symmetric to round-off already
        out["macro_stress"][k] = rve.homogenise(sig)
        out["displacement"][k] = (rve.macro_displacement(eb) + rve.P @ a).reshape(-1, 2)
        out["strain"][k], out["stress"][k] = eps, sig
        out["relative_residual"][k] = hist[-1]
        out["fluctuation"][k] = a
        histories.append(hist)
    if history:
        out["residual_history"] = histories
    return out


# ----------------------------------------------------------------------------- inputs


def latin_hypercube(rng, n, dim=3):
    """One Latin-hypercube design of ``n`` points in :math:`[0, 1)^{dim}`.

    Draws, in this order, for each dimension a permutation of ``0..n-1`` and
    ``n`` uniforms: point ``i`` has coordinate ``(perm[i] + u[i]) / n``.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
    dim : int, default=3

    Returns
    -------
    ndarray, shape (n, dim)
    """
    cols = []
    for _ in range(dim):
        perm = rng.permutation(n)
        cols.append((perm + rng.random(n)) / n)
    return np.stack(cols, axis=1)


def macro_strains(seed, indices, strain_range=0.04, lhs_size=24):
    """Macro strains of the samples ``indices``: rows of Latin-hypercube designs in :math:`[-r, r]^3`.

    Sample ``i`` is row ``i % lhs_size`` of design ``i // lhs_size``, drawn
    from ``SeedSequence(seed, spawn_key=(LHS_STREAM, i // lhs_size))``; a
    sample depends on the seed and its index only, and every ``lhs_size``
    consecutive samples (from a multiple of ``lhs_size``) form one design.

    Parameters
    ----------
    seed : int
    indices : array_like of int
    strain_range : float, default=0.04
    lhs_size : int, default=24

    Returns
    -------
    ndarray, shape (len(indices), 3)
    """
    indices = np.asarray(indices, dtype=np.int64)
    out = np.empty((len(indices), 3))
    designs = {}
    for k, i in enumerate(indices):
        b = int(i) // lhs_size
        if b not in designs:
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(LHS_STREAM, b))))
            designs[b] = strain_range * (2.0 * latin_hypercube(rng, lhs_size) - 1.0)
        out[k] = designs[b][int(i) % lhs_size]
    return out


def materials_of(params):
    """The materials dict of a run (id 0 matrix, id 1 fibre).

    Parameters
    ----------
    params : dict

    Returns
    -------
    dict
    """
    return {
        0: {"law": "matrix", "K": params["matrix_K"], "c1": params["matrix_c1"], "c2": params["matrix_c2"]},
        1: {"law": "linear", "K": params["fibre_K"], "G": params["fibre_G"]},
    }


_RVE_CACHE = {}


def build_rve(params):
    """The RVE of a run: the circular-fibre mesh, or the EquiNO CSV mesh when ``mesh_nodes`` is set.

    Parameters
    ----------
    params : dict

    Returns
    -------
    opkit.physics.PeriodicRVE
    """
    keys = ("n_elements", "volume_fraction", "element_type", "mesh_nodes", "mesh_elements",
            "matrix_K", "matrix_c1", "matrix_c2", "fibre_K", "fibre_G")
    key = tuple(params[k] for k in keys)
    if key not in _RVE_CACHE:
        mats = materials_of(params)
        if params["mesh_nodes"]:
            mesh = rve_module.read_equino_csv(params["mesh_nodes"], params["mesh_elements"], materials=mats)
        else:
            mesh = rve_module.circular_fibre_mesh(
                params["n_elements"], params["volume_fraction"], params["element_type"], materials=mats
            )
        _RVE_CACHE.clear()
        _RVE_CACHE[key] = rve_module.PeriodicRVE(mesh)
    return _RVE_CACHE[key]


def validate(params):
    """Reject parameter sets the solver cannot run, naming the culprit.

    Parameters
    ----------
    params : dict

    Raises
    ------
    ValueError
    """
    if params["resolution"] is not None:
        raise ValueError(
            "resolution is not used by elasticity_rve (fields live at nodes and Gauss points); "
            "set the mesh size with n_elements"
        )
    if params["n_elements"] < 2:
        raise ValueError(f"n_elements must be >= 2 (elements per cell side), got {params['n_elements']!r}")
    if not 0 < params["volume_fraction"] <= 0.7:
        raise ValueError(f"volume_fraction must be in (0, 0.7], got {params['volume_fraction']!r}")
    if bool(params["mesh_nodes"]) != bool(params["mesh_elements"]):
        raise ValueError("mesh_nodes and mesh_elements (EquiNO CSV files) must be given together")
    for key in ("matrix_K", "matrix_c1", "matrix_c2", "fibre_K", "fibre_G", "strain_range"):
        if not params[key] > 0:
            raise ValueError(f"{key} must be > 0, got {params[key]!r}")
    for key in ("n_increments", "lhs_size", "max_iterations"):
        if params[key] < 1:
            raise ValueError(f"{key} must be >= 1, got {params[key]!r}")
    if not 0 < params["tol"] < 1:
        raise ValueError(f"tol must be in (0, 1), got {params['tol']!r}")


# ----------------------------------------------------------------------------- files


def _attrs(long_name, units, role=None):
    out = {"long_name": long_name, "units": units}
    if role is not None:
        out["opkit_role"] = role
    return out


def generate(params, indices, rngs):
    """Compute a batch of RVE solves (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict
    indices : ndarray of int
    rngs : list of numpy.random.Generator
        Per-sample generators; only the run seed behind them is used (the
        Latin-hypercube designs come from their own streams, :func:`macro_strains`).

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    NewtonError
        A sample did not converge (named with its increment); no part is written.
    """
    seed = run_seed(rngs[0]) if len(rngs) else 0
    rve = build_rve(params)
    E = macro_strains(seed, indices, params["strain_range"], params["lhs_size"])
    res = solve(rve, E, params["n_increments"], params["tol"], params["max_iterations"], samples=indices)
    mesh = rve.to_dataset()
    data = {
        "macro_strain": (("sample", "strain"), E, _attrs("macro strain (eps_xx, eps_yy, gamma_xy = 2 eps_xy)", "1", "input")),
        "macro_stress": (("sample", "strain"), res["macro_stress"],
                         _attrs("homogenised stress <sigma> (sigma_xx, sigma_yy, sigma_xy)", "MPa", "output")),
        "tangent": (("sample", "strain", "strain_2"), res["tangent"],
                    _attrs("homogenised consistent tangent d sigma_bar / d eps_bar (static condensation)", "MPa", "output")),
        "displacement": (("sample", "node", "component"), res["displacement"],
                         _attrs("displacement u = eps_bar . x + periodic fluctuation", "1", "output")),
        "micro_strain": (("sample", "gauss_point", "strain"), res["strain"],
                   _attrs("strain at the Gauss points (eps_xx, eps_yy, gamma_xy)", "1", "output")),
        "stress": (("sample", "gauss_point", "strain"), res["stress"],
                   _attrs("stress at the Gauss points (sigma_xx, sigma_yy, sigma_xy)", "MPa", "output")),
        "newton_iterations": (("sample",), res["iterations"],
                              _attrs("Newton iterations, all load increments", "1", "auxiliary")),
        "relative_residual": (("sample",), res["relative_residual"],
                              _attrs("final ||R|| / ||F_ref|| of the last increment", "1", "auxiliary")),
        "gauss_points": (("gauss_point", "coord"), rve.gauss_points,
                         _attrs("Gauss point coordinates (9 per element, element-major)", "1", "auxiliary")),
        "gauss_weights": (("gauss_point",), rve.gauss_weights,
                          _attrs("Gauss weight times det J (sums to the cell area)", "1", "auxiliary")),
    }
    for name in ("nodes", "connectivity", "material_id"):
        var = mesh[name]
        data[name] = (var.dims, var.values, dict(var.attrs))
    coords = {
        "strain": ("strain", np.array(STRAIN_NAMES), {"long_name": "Voigt component (engineering shear)"}),
        "strain_2": ("strain_2", np.array(STRAIN_NAMES), {"long_name": "Voigt component (engineering shear)"}),
        "component": ("component", np.array(["x", "y"]), {"long_name": "displacement component"}),
        "coord": ("coord", np.array(["x", "y"]), {"long_name": "coordinate"}),
    }
    return xr.Dataset(data, coords=coords)


def global_attrs(params):
    """Global attributes of an ``elasticity_rve`` file (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict

    Returns
    -------
    dict
    """
    mats = rve_module.materials_json(materials_of(params))
    if params["mesh_nodes"]:
        geometry = f"EquiNO CSV mesh (nodes {params['mesh_nodes']}, elements {params['mesh_elements']})"
    else:
        geometry = (
            f"one centred circular fibre, volume fraction {params['volume_fraction']:g}, five-block mapped mesh "
            f"with {params['n_elements']} elements per cell side"
        )
    return {
        "title": "Periodic RVE of a fibre composite, small strain, plane strain (EquiNO micro problem)",
        "pde": PDE,
        "equation": (
            "div sigma = 0; matrix (id 0): sigma = K tr(eps) I + c1 / (c2 + |dev eps|) dev eps; fibre (id 1): "
            "sigma = K tr(eps) I + 2 G dev eps; plane strain with the 3-D trace (eps_zz = 0)"
        ),
        "domain": "unit cell [-0.5, 0.5]^2; fluctuation periodic, zero at the lower-left corner node",
        "boundary_conditions": "periodic fluctuation (slave DOFs of the right and top edges eliminated), one corner fixed",
        "geometry": geometry,
        "element_type": params["element_type"],
        "materials": mats,
        "opkit_inputs": "macro_strain",
        "opkit_outputs": "macro_stress tangent displacement micro_strain stress",
        "method": (
            f"{params['element_type']} finite elements, 3 x 3 Gauss points (opkit.physics.PeriodicRVE); Newton with "
            f"the consistent tangent, {params['n_increments']} load increments, ||R|| <= {params['tol']:g} ||F_ref||, "
            "SuperLU (scipy.sparse.linalg.splu); homogenised tangent by static condensation"
        ),
        "strain_sampling": (
            f"Latin hypercube in [-{params['strain_range']:g}, {params['strain_range']:g}]^3: sample i is row "
            f"i % {params['lhs_size']} of the design drawn from SeedSequence(seed, spawn_key=({LHS_STREAM}, "
            f"i // {params['lhs_size']}))"
        ),
    }


SOLVER = SolverSpec(
    name="elasticity_rve",
    title="Periodic small-strain plane-strain RVE, nonlinear matrix and linear fibre (Newton FE, EquiNO data)",
    pde=PDE,
    parameters=(
        Parameter("resolution", None, "1", "Not used (fields live at nodes and Gauss points); see n_elements.", int),
        Parameter("n_elements", 16, "1", "Elements along each side of the cell (circular-fibre mesh).", int,
                  plausible=(2, 512)),
        Parameter("volume_fraction", 0.3, "1", "Fibre area fraction of the circular-fibre mesh, in (0, 0.7].", float,
                  plausible=(0.01, 0.7)),
        Parameter("element_type", "quad8", "1", "quad8 (serendipity) or quad9 (Lagrange).", str,
                  choices=("quad8", "quad9")),
        Parameter("mesh_nodes", "", "1", "EquiNO node CSV (x,y per line); with mesh_elements, replaces the "
                  "circular-fibre mesh.", str),
        Parameter("mesh_elements", "", "1", "EquiNO element CSV (number, material 1 matrix / 2 fibre, 8 nodes).", str),
        Parameter("matrix_K", 4780.0, "MPa", "Bulk modulus of the matrix.", float, plausible=(1.0, 1e7)),
        Parameter("matrix_c1", 50.0, "MPa", "c1 of the matrix law c1 / (c2 + |dev eps|).", float, plausible=(1e-3, 1e6)),
        Parameter("matrix_c2", 0.06, "1", "c2 of the matrix law c1 / (c2 + |dev eps|).", float, plausible=(1e-4, 10.0)),
        Parameter("fibre_K", 43452.4, "MPa", "Bulk modulus of the fibre.", float, plausible=(1.0, 1e7)),
        Parameter("fibre_G", 29918.0, "MPa", "Shear modulus of the fibre.", float, plausible=(1.0, 1e7)),
        Parameter("strain_range", 0.04, "1", "Macro strains by Latin hypercube in [-strain_range, strain_range]^3.",
                  float, plausible=(1e-6, VALID_STRAIN)),
        Parameter("lhs_size", 24, "1", "Samples per Latin-hypercube design (sample i: row i % lhs_size of design "
                  "i // lhs_size).", int, plausible=(1, 10**6)),
        Parameter("n_increments", 2, "1", "Load increments of each Newton solve.", int, plausible=(1, 64)),
        Parameter("tol", 1e-10, "1", "Newton stops at ||R|| <= tol ||F_ref||.", float, plausible=(1e-14, 1e-4)),
        Parameter("max_iterations", 25, "1", "Newton iterations allowed per increment.", int, plausible=(1, 1000)),
    ),
    generate=generate,
    global_attrs=global_attrs,
    validate=validate,
)


if __name__ == "__main__":
    raise SystemExit(run_cli(SOLVER))

"""EquiNO: a micro-scale surrogate of a periodic RVE with exact kinematics, periodicity and equilibrium.

Macro strain in, homogenised stress, consistent tangent and micro fields out.
Proper orthogonal decomposition (POD) bases built from finite-element
snapshots carry the constraints: every displacement mode is a periodic
fluctuation, every stress mode lies in the null space of the discrete
equilibrium operator ``G`` of :class:`opkit.physics.PeriodicRVE`. Two MLPs map
the macro strain to the coefficients of the two bases, trained on the
constitutive mismatch alone (no labelled stresses needed).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
import xarray as xr
from sklearn.utils.validation import check_is_fitted

from .._validation import SAMPLE_DIM, FieldSpec, _jsonable, unwrap
from ..estimator import CORE_PARAMS, OpkitEstimator, params_doc, store_params
from ..outputs import extract_vectors, rebuild_vectors
from ..training import FieldSource, resolve_device

__all__ = ["EquiNO", "EquiNONetwork", "equino_bases", "equilibrium_residual"]

#: Labels of the ``strain`` dim: engineering strain / stress components.
STRAIN_LABELS = ("xx", "yy", "xy")
#: The snapshot variables the bases are built from.
SNAPSHOT_VARIABLES = ("macro_strain", "displacement", "stress")
#: The mesh variables :meth:`opkit.physics.PeriodicRVE.from_dataset` reads.
MESH_VARIABLES = ("nodes", "connectivity", "material_id")


# -- bases ---------------------------------------------------------------------------------


def _orthonormal(matrix):
    """Orthonormal columns spanning ``matrix``'s, the sign of each fixed (QR, positive diagonal)."""
    q, r = np.linalg.qr(matrix)
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    return q * signs


def _pod(snapshots, n_modes: int, what: str):
    """The first ``n_modes`` left singular vectors of ``snapshots`` (n_values, n_snapshots)."""
    u, s, _ = np.linalg.svd(snapshots, full_matrices=False)
    if n_modes > len(s) or s[n_modes - 1] <= 1e-12 * s[0]:
        rank = int((s > 1e-12 * s[0]).sum()) if len(s) else 0
        raise ValueError(
            f"n_modes={n_modes} exceeds the rank of the {what} snapshots ({rank} independent of "
            f"{snapshots.shape[1]} snapshots); lower n_modes or give more snapshots"
        )
    return u[:, :n_modes], s


def equilibrium_projector(G):
    """The Euclidean projection onto the null space of ``G``: ``s -> s - G^T (G G^T)^-1 G s``.

    Parameters
    ----------
    G : scipy.sparse matrix, shape (n_free, 3 * n_gauss)
        Discrete equilibrium operator (:attr:`opkit.physics.PeriodicRVE.G`).

    Returns
    -------
    callable
        ``project(S)`` for ``S`` of shape ``(3 * n_gauss, k)``; ``G @ project(S)``
        vanishes to round-off (one sparse LU of ``G G^T``, applied twice: the
        second pass removes what the first left at the level of its conditioning).
    """
    G = sp.csr_matrix(G)
    lu = spla.splu(sp.csc_matrix(G @ G.T))

    def project(S):
        S = np.array(S, dtype=np.float64, copy=True)
        for _ in range(2):
            S -= G.T @ lu.solve(np.asarray(G @ S))
        return S

    return project


def _fixed_dofs(P):
    """Degrees of freedom the periodic map ``P`` pins (rows without entries: the fixed corner)."""
    P = sp.csr_matrix(P)
    return np.flatnonzero(np.diff(P.indptr) == 0)


def equino_bases(rve, snapshots, n_modes: int) -> dict:
    """POD bases of EquiNO from finite-element snapshots of an RVE.

    Parameters
    ----------
    rve : opkit.physics.PeriodicRVE
    snapshots : xarray.Dataset
        With ``macro_strain`` (sample, strain), ``displacement`` (sample, node,
        component; total: affine part plus fluctuation) and ``stress`` (sample,
        gauss_point, <component dim of size 3>), as ``solvers.elasticity_rve`` writes them.
    n_modes : int
        Modes kept in each basis.

    Returns
    -------
    dict of numpy.ndarray
        ``phi_u`` (n_dofs, r): periodic displacement-fluctuation modes, zero at the
        pinned corner (``P @ phi_free`` with ``phi_free`` orthonormal in the free
        DOFs); ``phi_strain`` (3 n_gauss, r) = ``B @ phi_u``; ``phi_stress``
        (3 n_gauss, r): Gauss-point stress modes projected onto the null space of
        ``G`` and re-orthonormalised in the plain (unweighted) Euclidean inner
        product, in which that projection is orthogonal; ``coef_u``, ``coef_stress``
        (n_snapshots, r): the snapshots' coefficients; ``singular_u``,
        ``singular_stress``: the snapshots' singular values; ``stress_rms``,
        ``stress_rms_component`` (3,): the root mean square of the snapshot
        stresses, over all components and per component.

    Raises
    ------
    ValueError
        A variable is missing or has the wrong shape, the displacement
        fluctuations are not periodic on ``rve``, or ``n_modes`` exceeds the
        snapshots' rank.
    """
    missing = [name for name in SNAPSHOT_VARIABLES if name not in snapshots.data_vars]
    if missing:
        raise ValueError(f"snapshots lack variable(s) {missing}; EquiNO builds its bases from "
                         f"{list(SNAPSHOT_VARIABLES)}")
    strain = np.asarray(snapshots["macro_strain"].transpose(SAMPLE_DIM, "strain").values, dtype=np.float64)
    disp = np.asarray(snapshots["displacement"].transpose(SAMPLE_DIM, "node", "component").values, dtype=np.float64)
    stress = np.asarray(snapshots["stress"].transpose(SAMPLE_DIM, "gauss_point", ...).values, dtype=np.float64)
    n = len(strain)
    if disp.shape[1:] != (rve.n_nodes, 2):
        raise ValueError(f"snapshots displacement has {disp.shape[1:]} (node, component) values; the RVE has "
                         f"{rve.n_nodes} nodes with 2 components")
    if stress.shape[1:] != (rve.n_gauss, 3):
        raise ValueError(f"snapshots stress has {stress.shape[1:]} (gauss_point, component) values; the RVE has "
                         f"{rve.n_gauss} Gauss points with 3 components")
    # Periodic fluctuations d - eps_bar . x, less any rigid shift at the pinned corner.
    fluct = disp.reshape(n, -1) - np.asarray(rve.macro_displacement(strain)).reshape(n, -1)
    P = sp.csr_matrix(rve.P)
    fixed = _fixed_dofs(P)
    if len(fixed):
        nodes = fluct.reshape(n, -1, 2)
        nodes -= nodes[:, fixed[0] // 2][:, None, :]
    free = spla.splu(sp.csc_matrix(P.T @ P)).solve(np.asarray(P.T @ fluct.T))
    mismatch = np.linalg.norm(P @ free - fluct.T) / max(np.linalg.norm(fluct), 1e-300)
    if mismatch > 1e-6:
        raise ValueError(
            f"the snapshots' displacement fluctuations are not periodic on this RVE (relative misfit "
            f"{mismatch:.2e} of P a = d - eps.x); were they computed on another mesh?"
        )
    phi_free, singular_u = _pod(free, n_modes, "displacement-fluctuation")
    phi_u = np.asarray(P @ phi_free)
    phi_strain = np.asarray(sp.csr_matrix(rve.B) @ phi_u)
    flat = stress.reshape(n, -1).T
    phi_stress, singular_stress = _pod(flat, n_modes, "stress")
    phi_stress = _orthonormal(equilibrium_projector(rve.G)(phi_stress))
    return {
        "phi_u": phi_u, "phi_strain": phi_strain, "phi_stress": phi_stress,
        "coef_u": (phi_free.T @ free).T, "coef_stress": (phi_stress.T @ flat).T,
        "singular_u": singular_u, "singular_stress": singular_stress,
        "stress_rms": float(np.sqrt(np.mean(stress**2))),
        "stress_rms_component": np.sqrt(np.mean(stress**2, axis=(0, 1))),
    }


def equilibrium_residual(G, stress):
    """Relative discrete equilibrium residual ``|G s| / || |G| |s| ||`` per sample.

    Parameters
    ----------
    G : scipy.sparse matrix, shape (n_free, 3 * n_gauss)
    stress : array-like, shape (n_samples, n_gauss, 3)

    Returns
    -------
    numpy.ndarray, shape (n_samples,)
        The internal-force residual relative to the sizes of the forces that
        make it up (1 for a random stress field, round-off for an equilibrated one).
    """
    G = sp.csr_matrix(G)
    flat = np.asarray(stress, dtype=np.float64).reshape(len(stress), -1).T
    scale = np.linalg.norm(abs(G) @ np.abs(flat), axis=0)
    return np.linalg.norm(G @ flat, axis=0) / np.maximum(scale, 1e-300)


# -- network -------------------------------------------------------------------------------


def _mlp(hidden, n_out):
    layers, width = [], 3
    for size in hidden:
        layers += [torch.nn.Linear(width, int(size)), torch.nn.SiLU()]
        width = int(size)
    layers.append(torch.nn.Linear(width, n_out))
    return torch.nn.Sequential(*layers)


class EquiNONetwork(torch.nn.Module):
    """Two MLPs (swish) from macro strain to POD coefficients, with the bases as buffers.

    ``b_u = mean_u + scale_u * mlp_u(eps / strain_scale)`` and likewise ``b_stress``
    (coefficients de-standardised with the snapshots' statistics). The micro
    strain is ``eps + phi_strain b_u`` per Gauss point, the equilibrated micro
    stress ``phi_stress b_stress``, the homogenised stress ``b_stress @ mean_stress``.

    Parameters
    ----------
    n_dofs, n_gauss : int
        Degrees of freedom and Gauss points of the RVE.
    n_modes : int
    hidden : tuple of int
        Hidden widths of each MLP.
    strain_scale : float
        The MLPs' inputs are ``eps / strain_scale``.
    """

    def __init__(self, n_dofs: int, n_gauss: int, n_modes: int, hidden, strain_scale: float):
        super().__init__()
        self.strain_scale = float(strain_scale)
        self.n_gauss = int(n_gauss)
        self.branch_u = _mlp(hidden, n_modes)
        self.branch_stress = _mlp(hidden, n_modes)
        for name, shape in (("phi_u", (n_dofs, n_modes)), ("phi_strain", (3 * n_gauss, n_modes)),
                            ("phi_stress", (3 * n_gauss, n_modes)), ("mean_stress", (n_modes, 3)),
                            ("coef_u_mean", (n_modes,)), ("coef_u_scale", (n_modes,)),
                            ("coef_stress_mean", (n_modes,)), ("coef_stress_scale", (n_modes,))):
            self.register_buffer(name, torch.zeros(shape, dtype=torch.float64))

    def set_bases(self, bases: dict, gauss_weights, volume: float):
        """Fill the buffers from :func:`equino_bases` and the RVE's Gauss weights."""
        r = self.phi_u.shape[1]
        weights = np.asarray(gauss_weights, dtype=np.float64)
        mean = np.einsum("g,gcr->rc", weights, bases["phi_stress"].reshape(-1, 3, r)) / float(volume)
        values = {"phi_u": bases["phi_u"], "phi_strain": bases["phi_strain"], "phi_stress": bases["phi_stress"],
                  "mean_stress": mean}
        for key, coef in (("u", bases["coef_u"]), ("stress", bases["coef_stress"])):
            scale = coef.std(0)
            values[f"coef_{key}_mean"] = coef.mean(0)
            values[f"coef_{key}_scale"] = np.where(scale > 1e-12 * max(scale.max(), 1e-300), scale, 1.0)
        with torch.no_grad():
            for name, value in values.items():
                buffer = getattr(self, name)
                buffer.copy_(torch.as_tensor(np.asarray(value), dtype=buffer.dtype))

    def coefficients(self, strain):
        """``(b_u, b_stress)``, each ``(batch, n_modes)``, for macro strains ``(batch, 3)``."""
        z = strain / self.strain_scale
        b_u = self.coef_u_mean + self.coef_u_scale * self.branch_u(z)
        return b_u, self.stress_coefficients(strain)

    def stress_coefficients(self, strain):
        """``b_stress`` ``(batch, n_modes)``: the stress branch alone (all inference of σ̄ needs)."""
        return self.coef_stress_mean + self.coef_stress_scale * self.branch_stress(strain / self.strain_scale)

    def micro_strain(self, strain, b_u):
        """Engineering strain ``(batch, n_gauss, 3)`` at the Gauss points: ``eps + phi_strain b_u``."""
        return strain[:, None, :] + (b_u @ self.phi_strain.T).reshape(len(b_u), self.n_gauss, 3)

    def micro_stress(self, b_stress):
        """Equilibrated stress ``(batch, n_gauss, 3)``: ``phi_stress b_stress``."""
        return (b_stress @ self.phi_stress.T).reshape(len(b_stress), self.n_gauss, 3)

    def fluctuation(self, b_u):
        """Periodic displacement fluctuation ``(batch, n_dofs)``: ``phi_u b_u``."""
        return b_u @ self.phi_u.T

    def forward(self, strain):
        """Homogenised stress ``(batch, 3)`` for macro strains ``(batch, 3)``."""
        return self.stress_coefficients(strain) @ self.mean_stress


class _ConstitutiveStep:
    """Loss of a batch of macro strains: mean ``((sigma_c(eps(b_u)) - phi_stress b_stress) / s)^2`` (+ data term).

    ``s`` is the snapshots' RMS stress: one number (``loss_scaling="global"``,
    the published plain mean made dimensionless) or one per component
    (``"component"``), which gives the shear stress, some twenty times smaller
    than the normal stresses in a fibre composite, the same weight.
    """

    def __init__(self, law, stress_scale, w_data: float, weights=None):
        self.law, self.w_data = law, float(w_data)
        self.scale = torch.as_tensor(np.asarray(stress_scale, dtype=np.float64))
        # Gauss weights scaled to mean 1 (None: every Gauss point alike).
        self.weights = None if weights is None else torch.as_tensor(np.asarray(weights) / np.mean(weights))[:, None]

    def __call__(self, module, batch):
        strain = batch["x"]
        scale = self.scale.to(strain.device, strain.dtype)
        b_u, b_stress = module.coefficients(strain)
        mismatch = self.law(module.micro_strain(strain, b_u)) - module.micro_stress(b_stress)
        squared = (mismatch / scale) ** 2
        if self.weights is not None:
            squared = squared * self.weights.to(strain.device, strain.dtype)
        terms = {"constitutive": squared.mean()}
        if "y" in batch:
            terms["data"] = self.w_data * (((b_stress @ module.mean_stress - batch["y"]) / scale) ** 2).mean()
        return terms


# -- estimator -----------------------------------------------------------------------------


class EquiNO(OpkitEstimator):
    __doc__ = f"""EquiNO: macro strain to homogenised stress, tangent and micro fields of a periodic RVE.

    A surrogate of the micro problem of FE² small-strain solid mechanics
    (plane strain). POD bases from finite-element snapshots make the
    kinematics, the periodicity and the discrete equilibrium exact; two MLPs
    in float64 give their coefficients, trained on the constitutive mismatch
    at collocation strains, first with Adam (stage ``fit``), then full-batch
    L-BFGS (stage ``refine``).

    Parameters
    ----------
    rve : opkit.physics.PeriodicRVE or None, default=None
        Mesh, B-matrices, Gauss weights, periodic DOF map and constitutive laws.
        None: built from the ``snapshots`` of ``fit``
        (:meth:`opkit.physics.PeriodicRVE.from_dataset`).
    n_modes : int, default=16
        Modes of each POD basis (displacement fluctuation and stress).
    hidden : tuple of int, default=(64, 64, 64, 64)
        Hidden widths of each of the two MLPs (swish activations).
    strain_scale : float, default=0.04
        The MLPs see ``macro_strain / strain_scale``.
    n_collocation : int, default=256
        Collocation strains drawn (Latin hypercube) when ``fit`` gets ``X=None``.
    strain_range : float, default=0.04
        Those strains lie in ``[-strain_range, strain_range]^3``.
    w_data : float, default=1.0
        Weight of the supervised term (mean squared error of the homogenised
        stress, relative to the snapshots' RMS stress squared) when ``fit``
        gets ``y``.
    gauss_weighting : bool, default=True
        Weight the mismatch of each Gauss point by its weight (``w_g det J``:
        the L2 norm over the cell, whatever the mesh grading) instead of
        alike (False: the published mean).
    lbfgs_iter : int, default=1000
        L-BFGS iterations of the ``refine`` stage (0: Adam only), run in
        chunks of at most 25 (one history entry each; the L-BFGS memory is
        kept across chunks).
    loss_scaling : {{"component", "global"}}, default="component"
        The mismatch of each stress component is divided by the snapshots' RMS
        of that component (``"component"``: shear weighs as much as the normal
        stresses), or all by one RMS (``"global"``: the published plain mean
        over Gauss points and components, up to a constant factor).
    lbfgs_history_size : int, default=50
        Correction pairs L-BFGS keeps (strong Wolfe line search).
    dtype : {{"float64", "float32"}}, default="float64"
        Precision of the networks, bases and training.
    {params_doc(CORE_PARAMS)}

    Attributes
    ----------
    model_ : EquiNONetwork
        The two MLPs with the bases as buffers (``phi_u``, ``phi_strain``,
        ``phi_stress``, ``mean_stress`` and the coefficient statistics).
    rve_ : opkit.physics.PeriodicRVE
        The RVE used (``rve`` or the one built from the snapshots).
    bases_ : dict
        ``n_modes``, ``singular_u``, ``singular_stress`` (snapshot singular
        values, as lists), ``stress_rms`` and ``stress_rms_component``, the
        stress scales of the loss.
    output_spec_ : FieldSpec
        Name, attributes and labels of the predicted stress (from ``y``, else
        ``macro_stress`` in MPa).
    history_, stage_history_ : dict
        Per-epoch losses of the last stage and of every stage (``fit``: Adam,
        ``refine``: L-BFGS), with the terms ``train/constitutive`` (and
        ``train/data``).
    n_params_, n_epochs_, device_
        As for every opkit estimator.

    Notes
    -----
    The equilibrium operator ``G`` of the RVE annihilates every stress mode to
    round-off, since the POD stress modes are projected onto its null space
    (``phi <- phi - G^T (G G^T)^-1 G phi``, sparse LU of ``G G^T``) and
    re-orthonormalised by QR in the plain Euclidean inner product (in which the
    projection is orthogonal). The displacement is ``eps . x + phi_u b_u``:
    periodic fluctuations, zero at the corner the RVE pins, as in the
    finite-element solution. The homogenised stress needs only the stress
    branch: ``predict`` and ``tangent`` never touch the mesh.

    Under ``torchrun`` the Adam stage trains data-parallel like every opkit
    estimator; the full-batch L-BFGS stage runs in one process only (the core
    refuses it under several), so set ``lbfgs_iter=0`` there.

    Defaults follow the published EquiNO (16 modes, 4 x 64 swish MLPs, Adam
    at 1e-3 with batches of 10 strains, then L-BFGS with 50 correction pairs;
    an epoch is one pass over the collocation strains) except for the loss:
    the published plain mean over Gauss points and components
    (``loss_scaling="global", gauss_weighting=False``) left the shear stress
    at 29 % of its range on the tiny RVE of ``benchmarks/bench_equino.py``,
    the defaults at 3.3 % (docs/benchmarks.rst).

    Examples
    --------
    >>> from opkit import EquiNO
    >>> est = EquiNO(n_modes=6, hidden=(32, 32), n_collocation=64, max_epochs=50)  # doctest: +SKIP
    >>> est.fit(snapshots=ds)   # ds written by solvers.elasticity_rve  # doctest: +SKIP
    >>> est.predict(ds.macro_strain), est.tangent(ds.macro_strain)  # doctest: +SKIP
    >>> OpKit(est, outputs="macro_stress").fit(ds).evaluate()  # snapshots: the training samples  # doctest: +SKIP
    """

    requires_y = False
    output_kind = "vector"

    def __init__(self, rve=None, n_modes=16, hidden=(64, 64, 64, 64), strain_scale=0.04, n_collocation=256,
                 strain_range=0.04, w_data=1.0, loss_scaling="component", gauss_weighting=True, lbfgs_iter=1000,
                 lbfgs_history_size=50, dtype="float64", *,
                 max_epochs=40, batch_size=10, learning_rate=1e-3, weight_decay=0.0, scheduler="constant",
                 validation_fraction=0.1, early_stopping=False, n_iter_no_change=10, device="auto",
                 random_state=None, verbose=0, warm_start=False, checkpoint_path=None):
        store_params(self, locals())

    # -- data -----------------------------------------------------------------------------
    def _strains(self, X, what="X"):
        """``(array (n, 3) float64, spec)`` of macro strains, checked and ordered [xx, yy, xy]."""
        values, spec = extract_vectors(X, what, dtype=np.float64)
        obj = unwrap(X)
        if spec.kind != "numpy":
            if spec.channel_dim != "strain":
                dims = tuple(obj.dims) if isinstance(obj, xr.DataArray) else tuple(obj[spec.names[0]].dims)
                raise ValueError(f"{what} must have dims (sample, strain), strain = {list(STRAIN_LABELS)}; "
                                 f"its dims are {dims}")
            labels = [str(v) for v in spec.channel_labels]
            da = obj if isinstance(obj, xr.DataArray) else obj[spec.names[0]]
            if "strain" in da.coords and sorted(labels) == sorted(STRAIN_LABELS):
                values = values[:, [labels.index(c) for c in STRAIN_LABELS]]
            elif "strain" in da.coords:
                raise ValueError(f"{what}'s strain coordinate is {labels}; expected {list(STRAIN_LABELS)}")
        if values.shape[1] != 3:
            raise ValueError(f"{what} must have 3 strain components {list(STRAIN_LABELS)} (engineering shear); "
                             f"its strain dim has size {values.shape[1]}")
        return values, spec

    @staticmethod
    def _sample_coord(X):
        obj = unwrap(X)
        if isinstance(obj, (xr.DataArray, xr.Dataset)) and SAMPLE_DIM in obj.coords:
            return obj[SAMPLE_DIM].values
        return None

    def _make_rve(self, snapshots):
        if self.rve is not None:
            return self.rve
        from ..physics import PeriodicRVE

        missing = [name for name in MESH_VARIABLES if name not in snapshots.data_vars]
        if missing:
            raise ValueError(f"rve=None builds the RVE from the snapshots, but they lack the mesh variable(s) "
                             f"{missing}; pass rve=opkit.physics.PeriodicRVE(mesh) or snapshots written by "
                             "solvers.elasticity_rve")
        return PeriodicRVE.from_dataset(snapshots)

    def _collocation(self, seed):
        from scipy.stats import qmc

        n, half = int(self.n_collocation), float(self.strain_range)
        if n < 1 or not half > 0:
            raise ValueError(f"n_collocation must be >= 1 and strain_range > 0; got {self.n_collocation!r}, "
                             f"{self.strain_range!r}")
        return qmc.scale(qmc.LatinHypercube(d=3, seed=seed).random(n), [-half] * 3, [half] * 3)

    def _default_output_spec(self):
        name = "macro_stress"
        attrs = {"units": "MPa", "long_name": "homogenised stress"}
        return FieldSpec(kind="dataarray", names=[name], grid_dims=[], coords={}, sizes={}, channel_dim="strain",
                         channel_labels=list(STRAIN_LABELS), var_attrs={name: attrs}, attrs=attrs, dtype="float64")

    # -- fit ------------------------------------------------------------------------------
    def fit(self, X=None, y=None, snapshots=None):
        """Build the bases from ``snapshots`` and train on the constitutive mismatch.

        Parameters
        ----------
        X : xarray.DataArray, xarray.Dataset, numpy.ndarray or None, default=None
            Collocation macro strains (sample, strain), strain = [xx, yy, xy]
            (engineering shear). None: ``n_collocation`` Latin-hypercube strains
            in ``[-strain_range, strain_range]^3``.
        y : same kinds as ``X``, optional
            Homogenised stresses at ``X``: add a supervised term (``w_data``).
        snapshots : xarray.Dataset
            Finite-element solutions (``solvers.elasticity_rve``): they build the
            bases only; with ``rve=None`` also the RVE (mesh variables and
            ``materials`` attribute).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            ``snapshots`` missing or incomplete, ``y`` without ``X``, strains
            without a 3-component ``strain`` dim, or ``n_modes`` above the
            snapshots' rank.
        """
        return super().fit(X, y, snapshots=snapshots)

    def _fit(self, X, y=None, snapshots=None):
        reuse = self.warm_start and getattr(self, "model_", None) is not None
        if snapshots is None and not reuse:
            raise ValueError("EquiNO.fit needs snapshots=<xarray.Dataset of finite-element solutions> "
                             "(macro_strain, displacement, stress, e.g. from solvers.elasticity_rve) to build "
                             "its bases; got snapshots=None")
        if snapshots is not None and not isinstance(snapshots, xr.Dataset):
            raise TypeError(f"snapshots must be an xarray.Dataset, got {type(snapshots).__name__}")
        if y is not None and X is None:
            raise ValueError("y (homogenised stresses) needs X, the macro strains it belongs to")
        if self.loss_scaling not in ("component", "global"):
            raise ValueError(f"loss_scaling must be 'component' or 'global', got {self.loss_scaling!r}")
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        seed = self._seed()
        generator, device = self._generator(seed), resolve_device(self.device)
        if X is None:
            strains = self._collocation(seed)
        else:
            strains, _ = self._strains(X, "X")
        fields = {"x": torch.from_numpy(strains)}
        output_spec = self._default_output_spec()
        if y is not None:
            y_obj = unwrap(y)
            if isinstance(y_obj, xr.Dataset) and len(y_obj.data_vars) != 1:
                raise ValueError(
                    f"y must hold one variable, the homogenised stress (sample, strain); it holds "
                    f"{sorted(map(str, y_obj.data_vars))} (with OpKit, pass outputs='macro_stress')")
            stress, output_spec = self._strains(y, "y")
            if len(stress) != len(strains):
                raise ValueError(f"X and y have different numbers of samples ({len(strains)} vs {len(stress)})")
            fields["y"] = torch.from_numpy(stress)
        if reuse:
            network = self.model_
        else:
            rve = self._make_rve(snapshots)
            n_modes = int(self.n_modes)
            if n_modes < 1:
                raise ValueError(f"n_modes must be a positive integer, got {self.n_modes!r}")
            bases = equino_bases(rve, snapshots, n_modes)
            self.rve_ = rve
            self.bases_ = {"n_modes": n_modes, "singular_u": bases["singular_u"].tolist(),
                           "singular_stress": bases["singular_stress"].tolist(), "stress_rms": bases["stress_rms"],
                           "stress_rms_component": bases["stress_rms_component"].tolist(),
                           "n_dofs": int(rve.n_dofs), "n_gauss": int(rve.n_gauss)}
            network = self._init_network(self._rebuild_network, seed)
            network.set_bases(bases, rve.gauss_weights, rve.volume)
        network = network.to(device)
        law = self.rve_.stress
        scale = self.bases_["stress_rms_component"] if self.loss_scaling == "component" else self.bases_["stress_rms"]
        weights = self.rve_.gauss_weights if self.gauss_weighting else None
        step = _ConstitutiveStep(law, scale, float(self.w_data), weights)
        source = FieldSource(**fields)
        train_idx, val_idx = self._split_validation(len(source), generator)
        train, val = source.subset(train_idx), (source.subset(val_idx) if len(val_idx) else None)
        # warm_start: the Adam history goes on; L-BFGS starts a fresh memory and history.
        fit_history = (getattr(self, "stage_history_", None) or {}).get("fit") if reuse else None
        self._run_stage("fit", network, train, step=step, generator=generator, device=device, val_source=val,
                        history=fit_history)
        if int(self.lbfgs_iter) > 0:
            self._run_stage("refine", network, train, step=step, generator=generator, device=device, val_source=val)
        self._set_network(network, device)
        self.output_spec_ = output_spec
        return self

    def _stage_settings(self, stage):
        settings = {"dtype": self.dtype}
        if stage == "refine":
            total = int(self.lbfgs_iter)
            epochs = -(-total // 25)
            settings.update(optimizer="lbfgs", learning_rate=1.0, max_epochs=epochs,
                            lbfgs_max_iter=-(-total // epochs), lbfgs_history_size=int(self.lbfgs_history_size))
        return settings

    def _rebuild_network(self):
        bases = self.bases_
        return EquiNONetwork(bases["n_dofs"], bases["n_gauss"], int(bases["n_modes"]), tuple(self.hidden),
                             float(self.strain_scale))

    def _dataset_fit_params(self, ds):
        """Under :class:`opkit.OpKit`, the training part of the Dataset is also the snapshot set."""
        return {"snapshots": ds}

    # -- outputs ----------------------------------------------------------------------------
    def _query(self, X):
        check_is_fitted(self, "model_")
        strains, spec = self._strains(X, "X")
        dtype = next(self.model_.parameters()).dtype
        return torch.as_tensor(strains, dtype=dtype, device=self.device_), spec, self._sample_coord(X)

    def _output_like(self, spec):
        """The output spec in the kind of object ``X`` was (Dataset, DataArray or NumPy)."""
        out = FieldSpec(**{**self.output_spec_.__dict__})
        out.kind = spec.kind
        if spec.kind == "dataset":
            out.attrs = {}
        return out

    @torch.no_grad()
    def predict(self, X):
        """Homogenised stress for macro strains.

        Parameters
        ----------
        X : xarray.DataArray, xarray.Dataset or numpy.ndarray
            Macro strains (sample, strain), strain = [xx, yy, xy].

        Returns
        -------
        xarray.DataArray, xarray.Dataset or numpy.ndarray
            The homogenised stress (sample, strain) [s_xx, s_yy, s_xy] in the
            kind of object ``X`` is (a Dataset holds one variable, named like
            ``y`` in ``fit`` or ``macro_stress``), with ``X``'s sample coordinate.
        """
        strain, spec, coord = self._query(X)
        self.model_.eval()
        out = self.model_(strain).cpu().numpy().astype(np.float64)
        return rebuild_vectors(out, self._output_like(spec), sample_coord=coord)

    def tangent(self, X):
        """Consistent tangent ``d sigma_bar / d eps_bar`` by automatic differentiation (``torch.func.jacrev``).

        Parameters
        ----------
        X : xarray.DataArray, xarray.Dataset or numpy.ndarray
            Macro strains (sample, strain).

        Returns
        -------
        xarray.DataArray or numpy.ndarray
            (sample, strain, strain_2): entry ``[s, i, j]`` is the derivative of
            stress component ``i`` by strain component ``j`` (engineering shear),
            in MPa. NumPy in, NumPy out.
        """
        strain, spec, coord = self._query(X)
        model = self.model_.eval()

        def one(e):
            return model(e[None])[0]

        jac = torch.func.vmap(torch.func.jacrev(one))(strain).detach().cpu().numpy().astype(np.float64)
        if spec.kind == "numpy":
            return jac
        samples = coord if coord is not None else np.arange(len(jac))
        return xr.DataArray(jac, dims=(SAMPLE_DIM, "strain", "strain_2"), name="tangent",
                            coords={SAMPLE_DIM: samples, "strain": list(STRAIN_LABELS),
                                    "strain_2": list(STRAIN_LABELS)},
                            attrs={"units": "MPa", "long_name": "consistent homogenised tangent"})

    @torch.no_grad()
    def predict_fields(self, X):
        """Micro fields of the RVE for macro strains.

        Parameters
        ----------
        X : xarray.DataArray, xarray.Dataset or numpy.ndarray
            Macro strains (sample, strain).

        Returns
        -------
        xarray.Dataset
            ``displacement`` (sample, node, component): ``eps . x + phi_u b_u``
            (total, periodic fluctuation zero at the pinned corner);
            ``micro_strain`` (sample, gauss_point, strain): ``eps + phi_strain b_u``
            (engineering shear; named as in the ``solvers.elasticity_rve`` file,
            since a variable cannot share its name with the ``strain`` dim);
            ``stress`` (sample, gauss_point, strain): the equilibrated
            ``phi_stress b_stress``; ``stress_constitutive``: the constitutive
            law at ``micro_strain`` (their difference is what training
            minimised); ``macro_stress`` (sample, strain); Gauss-point
            coordinates and weights.
        """
        strain, spec, coord = self._query(X)
        model = self.model_.eval()
        b_u, b_stress = model.coefficients(strain)
        micro_strain = model.micro_strain(strain, b_u)
        micro_stress = model.micro_stress(b_stress).cpu().numpy()
        constitutive = np.asarray(self.rve_.stress(micro_strain.cpu().numpy().astype(np.float64)))
        n = len(strain)
        macro = np.asarray(self.rve_.macro_displacement(strain.cpu().numpy().astype(np.float64))).reshape(n, -1)
        disp = (macro + model.fluctuation(b_u).cpu().numpy()).reshape(n, -1, 2)
        samples = coord if coord is not None else np.arange(n)
        gp = np.asarray(self.rve_.gauss_points)
        micro = ("sample", "gauss_point", "strain")
        mpa = {"units": "MPa"}
        return xr.Dataset(
            {
                "displacement": (("sample", "node", "component"), disp, {"units": "1"}),
                "micro_strain": (micro, micro_strain.cpu().numpy(), {"units": "1", "long_name": "engineering strain"}),
                "stress": (micro, micro_stress, {**mpa, "long_name": "equilibrated stress (POD stress basis)"}),
                "stress_constitutive": (micro, constitutive,
                                        {**mpa, "long_name": "constitutive stress at the micro strain"}),
                "macro_stress": (("sample", "strain"), (b_stress @ model.mean_stress).cpu().numpy(), mpa),
                "gauss_weight": (("gauss_point",), np.asarray(self.rve_.gauss_weights)),
            },
            coords={"sample": samples, "strain": list(STRAIN_LABELS), "component": ["x", "y"],
                    "gauss_x": ("gauss_point", gp[:, 0]), "gauss_y": ("gauss_point", gp[:, 1])},
        )

    def equilibrium_residual(self, X):
        """Relative discrete equilibrium residual of the predicted micro stress, per sample.

        Parameters
        ----------
        X : xarray.DataArray, xarray.Dataset or numpy.ndarray
            Macro strains (sample, strain).

        Returns
        -------
        numpy.ndarray, shape (n_samples,)
            ``|G s| / || |G| |s| ||`` (:func:`equilibrium_residual`): round-off
            (about 1e-16) by construction.
        """
        strain, _, _ = self._query(X)
        model = self.model_.eval()
        with torch.no_grad():  # the stress branch alone: the rest of predict_fields is not needed here
            stress = model.micro_stress(model.stress_coefficients(strain)).cpu().numpy()
        return equilibrium_residual(self.rve_.G, stress)

    # -- persistence ------------------------------------------------------------------------
    def _persisted_params(self):
        """Hyperparameters as saved: the RVE travels as the mesh tensors of the extra state."""
        return {**self.get_params(deep=False), "rve": None}

    def _extra_state(self):
        mesh = self.rve_.to_dataset()
        attrs = _jsonable(dict(mesh.attrs))
        tensors = {f"mesh/{name}": torch.as_tensor(np.asarray(mesh[name].values)) for name in MESH_VARIABLES}
        return {"bases": self.bases_, "mesh_attrs": attrs, "output_spec": self.output_spec_.to_dict()}, tensors

    def _set_extra_state(self, meta, tensors):
        from ..physics import PeriodicRVE

        self.bases_ = meta["bases"]
        self.output_spec_ = FieldSpec.from_dict(meta["output_spec"])
        dims = {"nodes": ("node", "coord"), "connectivity": ("element", "local_node"), "material_id": ("element",)}
        mesh = xr.Dataset({name: (dims[name], tensors[f"mesh/{name}"].numpy()) for name in MESH_VARIABLES},
                          coords={"coord": ["x", "y"]}, attrs=meta["mesh_attrs"])
        self.rve_ = PeriodicRVE.from_dataset(mesh)

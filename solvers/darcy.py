r"""2-D Darcy flow: :math:`-\nabla\cdot(a\nabla u) = f` on the unit square, :math:`u = 0` on its boundary.

The operator-learning task of the FNO paper: map a rough, two-valued
permeability :math:`a(x, y)` to the pressure :math:`u(x, y)`. Run
``python -m solvers.darcy --help``.

Coefficient (parameter ``coefficient``)
---------------------------------------
``threshold`` (default)
    :math:`a = a_{high}` where :math:`g \ge` ``threshold``, else
    :math:`a_{low}` (FNO: 12 and 3), with :math:`g` a mean-zero Gaussian random
    field of covariance :math:`\sigma^2(-\Delta_N + \tau^2)^{-\alpha}` (Neumann
    Laplacian; FNO: :math:`\alpha = 2`, :math:`\tau = 3`), the law of
    :func:`solvers._grf.neumann_grf`.
``lognormal``
    :math:`a = \exp(g)`.

The field is the cosine series of :func:`solvers._grf.neumann_grf` with the
``grf_modes`` lowest modes per dimension (:func:`solvers._grf.neumann_spectrum`
gives their variances, the noise is drawn in the same order), evaluated
*exactly at the nodes* of the solve grid: a seed therefore gives the same
coefficient function at every resolution, and the coefficient on a
subsampled grid is the fine coefficient at those nodes.

Discretisation
--------------
Nodal grid :math:`x_i = i h`, :math:`h = 1/(K - 1)`, :math:`i = 0, \dots, K-1`
(``solver_resolution`` :math:`= K`), boundary nodes included. Five-point
finite differences in conservation form,

.. math:: \frac{1}{h^2}\sum_{\text{4 faces}} a_f\,(u_P - u_Q) = f_P,

with harmonic face means :math:`a_f = 2a_Pa_Q/(a_P + a_Q)` (the exact flux
through a face between two constant phases; ``face_mean = "arithmetic"``
gives FNO's choice, which loses an order at interfaces). The matrix is
symmetric positive definite and an M-matrix (so :math:`f > 0` gives
:math:`u > 0`). It is assembled vectorised over the batch from index arrays
built once per grid (:class:`NodalGrid`), with a fill-reducing ordering
(SuperLU's minimum degree on :math:`A + A^T`) also computed once per grid and
baked into the unknowns' numbering; each sample then costs one SuperLU
factorisation (no pivoting, symmetric mode) and one solve.

Output
------
``a(sample, x, y)`` (input, physical values) and ``u(sample, x, y)``
(output) on the stored nodal grid ``x_i = i/(resolution - 1)``, boundary
nodes included (``u = 0`` there). The stored grid is the solve grid taken at
stride ``(solver_resolution - 1)/(resolution - 1)``, so every stored node is a
solve node. Any ``resolution >= 2`` works: left unset, ``solver_resolution`` is
the coarsest grid of at least 421 nodes with that property,
:math:`(N - 1)\lceil 420/(N - 1)\rceil + 1` for ``resolution`` :math:`N`
(421 for 85, 211, 141, ...; 442 for 64; 509 for 128), so the default run keeps
FNO's 421² grid. Set explicitly (every preset does), it is used as given and
``resolution - 1`` must divide ``solver_resolution - 1``: 421 nodes give 211,
141, 106, 85, 71, 61, 43, 36, 31, 29, 22, 21 or 16 (strides 2, 3, 4, 5, 6, 7,
10, 12, 14, 15, 20, 21, 28).

Presets: ``fno-darcy`` (FNO's 421² set), ``fno-darcy-r85`` (the same stored at
85², as FNO trains), ``neuralop-darcy-16``, ``-32``, ``-64`` and ``-128``
(the grids of neuraloperator's Darcy sets, solved on about 250², with the
rougher coefficient, :math:`\tau = 5`, that the shipped 16² files show).

The module's :class:`NodalGrid` is shared with :mod:`solvers.helmholtz`.
"""

from __future__ import annotations

import functools

import numpy as np

from ._cli import run_cli
from ._grf import neumann_spectrum
from ._lazy import lazy_module
from ._grids import DefaultSolveGrid
from ._spec import Parameter, SolverSpec

xr = lazy_module("xarray")
scipy = lazy_module("scipy")  # its submodules load on attribute access

__all__ = [
    "NodalGrid",
    "SOLVER",
    "allowed_resolutions",
    "coefficient_field",
    "face_coefficients",
    "generate",
    "global_attrs",
    "layered_solution",
    "nodal_grf",
    "solve",
    "stride",
    "validate",
]

PDE = "-div(a grad u) = f on (0, 1)^2, u = 0 on the boundary"
#: Fewest solve nodes per dimension when ``solver_resolution`` is unset (FNO's grid).
MIN_SOLVER_RESOLUTION = 421
#: Variables' and file's boundary-condition attributes (zero Dirichlet on every side).
BC = {"bc_x": "dirichlet", "bc_y": "dirichlet"}
# A square, one condition on every edge, a constant source, a Gaussian field
# whose law is invariant under the maps of the square, and a symmetric
# 5-point stencil on a nodal grid: every solve commutes with the eight maps
# of the square (opkit.symmetry).
SYMMETRIES = {"opkit_symmetries": "flip_x flip_y swap_x_y"}
#: SuperLU options of every factorisation: the ordering is applied beforehand
#: (see :class:`NodalGrid`), the matrices are symmetric positive definite (Darcy)
#: or symmetric (Helmholtz), so no pivoting is needed or wanted.
_SPLU_OPTIONS = dict(permc_spec="NATURAL", diag_pivot_thresh=0.0, options=dict(SymmetricMode=True))


# ----------------------------------------------------------------------------- grid and operator


def stride(resolution, solver_resolution):
    """Stride that takes a nodal grid of ``solver_resolution`` points to ``resolution`` points.

    Parameters
    ----------
    resolution : int
        Stored nodes per dimension (>= 2), boundary nodes included.
    solver_resolution : int
        Solve-grid nodes per dimension.

    Returns
    -------
    int
        ``(solver_resolution - 1) // (resolution - 1)``.

    Raises
    ------
    ValueError
        If ``resolution - 1`` does not divide ``solver_resolution - 1``; the
        message lists the resolutions that do.
    """
    if resolution is None or resolution < 2 or (solver_resolution - 1) % (resolution - 1):
        raise ValueError(
            f"resolution ({resolution!r}) - 1 must divide solver_resolution ({solver_resolution}) - 1 so that the "
            "stored nodes, boundary nodes included, are solve nodes; possible resolutions: "
            + ", ".join(map(str, allowed_resolutions(solver_resolution)))
            + " (or leave solver_resolution unset, which presets do not, to have a compatible grid chosen)"
        )
    return (solver_resolution - 1) // (resolution - 1)


def allowed_resolutions(solver_resolution, minimum=3):
    """Stored resolutions reachable from a nodal grid by a stride, largest first.

    Parameters
    ----------
    solver_resolution : int
        Solve-grid nodes per dimension.
    minimum : int, optional
        Smallest resolution listed (default 3).

    Returns
    -------
    list of int
    """
    m = solver_resolution - 1
    return [m // s + 1 for s in range(1, m + 1) if m % s == 0 and m // s + 1 >= minimum]


@functools.lru_cache(maxsize=8)
def _fill_reducing_order(n):
    """Minimum-degree ordering of the 5-point pattern on an n x n block (cached).

    SuperLU computes it from the structure only, so the Laplacian's factorisation
    gives the ordering every matrix of this pattern will use.
    """
    t = scipy.sparse.diags([-np.ones(n - 1), 2.0 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    eye = scipy.sparse.identity(n)
    lap = (scipy.sparse.kron(t, eye) + scipy.sparse.kron(eye, t)).tocsc()
    lu = scipy.sparse.linalg.splu(lap, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                                  options=dict(SymmetricMode=True))
    # perm_c[j] is the position of unknown j in the factorised ordering.
    return np.asarray(lu.perm_c, dtype=np.int64)


class NodalGrid:
    """Five-point operators on the nodal grid of ``n`` points per dimension of the unit square.

    Everything that depends only on the grid is computed once and cached by
    :meth:`get`: the unknowns' numbering (interior nodes, in a fill-reducing
    order), and the CSC structure (``indptr``, ``indices``) with the map from
    the stencil's coefficient arrays to CSC data positions. A batch of
    operators

    .. math:: (A u)_P = \\sum_{\\text{4 faces}} k_f (u_P - u_Q) + s_P u_P

    (``k_f`` face coefficients, ``s_P`` a diagonal shift; boundary values
    ``u_Q = 0``) is then assembled by one fancy-indexing pass over the batch.

    Parameters
    ----------
    n : int
        Nodes per dimension (>= 3), boundary nodes included.
    """

    def __init__(self, n):
        n = int(n)
        if n < 3:
            raise ValueError(f"a nodal grid needs at least 3 points per dimension (one interior node), got {n}")
        self.n = n
        #: Interior nodes per dimension.
        self.m = m = n - 2
        #: Grid spacing h = 1/(n - 1).
        self.h = 1.0 / (n - 1)
        #: Node coordinates x_i = i h (the same for y).
        self.x = np.linspace(0.0, 1.0, n)
        nat = np.arange(m * m).reshape(m, m)
        # position[p] = row/column of natural unknown p = i*m + j in the matrix.
        self.position = _fill_reducing_order(m)
        pos = self.position[nat]
        # Coefficient sources, in the order of _values: diagonal, x-links (upper
        # then lower triangle), y-links (upper then lower).
        rows = np.concatenate([pos.ravel(), pos[:-1].ravel(), pos[1:].ravel(), pos[:, :-1].ravel(), pos[:, 1:].ravel()])
        cols = np.concatenate([pos.ravel(), pos[1:].ravel(), pos[:-1].ravel(), pos[:, 1:].ravel(), pos[:, :-1].ravel()])
        order = np.lexsort((rows, cols))  # CSC: by column, then row
        self.take = order
        self.indices = rows[order].astype(np.int32)
        self.indptr = np.searchsorted(cols[order], np.arange(m * m + 1)).astype(np.int32)
        self.shape = (m * m, m * m)

    @classmethod
    @functools.lru_cache(maxsize=8)
    def get(cls, n):
        """The (cached) grid of ``n`` nodes per dimension.

        Parameters
        ----------
        n : int

        Returns
        -------
        NodalGrid
        """
        return cls(n)

    def _values(self, kx, ky, shift):
        """CSC data of a batch: kx (B, n-1, m) x-faces, ky (B, m, n-1) y-faces, shift (B, m, m) or None."""
        diag = kx[:, :-1] + kx[:, 1:] + ky[:, :, :-1] + ky[:, :, 1:]
        if shift is not None:
            diag = diag + shift
        b = diag.shape[0]
        lx = -kx[:, 1:-1].reshape(b, -1)
        ly = -ky[:, :, 1:-1].reshape(b, -1)
        src = np.concatenate([diag.reshape(b, -1), lx, lx, ly, ly], axis=1)
        # SuperLU wants each sample's data row C-contiguous.
        return np.ascontiguousarray(np.take(src, self.take, axis=1))

    def matrices(self, kx, ky, shift=None):
        """Assemble a batch of five-point matrices (interior unknowns, fill-reducing order).

        Parameters
        ----------
        kx : ndarray, shape (B, n - 1, n - 2)
            Coefficient of the face between nodes ``(i, j)`` and ``(i + 1, j)``,
            ``i = 0..n-2``, for the interior columns ``j = 1..n-2``.
        ky : ndarray, shape (B, n - 2, n - 1)
            Coefficient of the face between ``(i, j)`` and ``(i, j + 1)`` for the
            interior rows.
        shift : ndarray, shape (B, n - 2, n - 2), optional
            Added to the diagonal (a zeroth-order term times h²).

        Returns
        -------
        list of scipy.sparse.csc_matrix
            One matrix per sample, ``(n-2)² x (n-2)²``.
        """
        data = self._values(kx, ky, shift)
        return [
            scipy.sparse.csc_matrix((row, self.indices, self.indptr), shape=self.shape, copy=False) for row in data
        ]

    def to_unknowns(self, field):
        """Interior values of nodal fields as unknown vectors (fill-reducing order).

        Parameters
        ----------
        field : ndarray, shape (B, n - 2, n - 2)

        Returns
        -------
        ndarray, shape (B, (n - 2)²)
        """
        b = field.shape[0]
        out = np.empty((b, self.m * self.m), dtype=field.dtype)
        out[:, self.position] = field.reshape(b, -1)
        return out

    def to_field(self, vectors):
        """Unknown vectors back to nodal fields with zero boundary values.

        Parameters
        ----------
        vectors : ndarray, shape (B, (n - 2)²)

        Returns
        -------
        ndarray, shape (B, n, n)
        """
        b = vectors.shape[0]
        out = np.zeros((b, self.n, self.n), dtype=vectors.dtype)
        out[:, 1:-1, 1:-1] = vectors[:, self.position].reshape(b, self.m, self.m)
        return out

    def solve(self, kx, ky, rhs, shift=None, sample_ids=None, what="system", pivot_threshold=0.0, residual=False):
        """Solve a batch of five-point systems by SuperLU, one factorisation per sample.

        Parameters
        ----------
        kx, ky, shift
            As in :meth:`matrices`.
        rhs : ndarray, shape (B, n - 2, n - 2)
            Right-hand sides at the interior nodes (already times h²).
        sample_ids : sequence of int, optional
            Sample indices for error messages (default: batch positions).
        what : str, optional
            Name of the system in error messages.
        pivot_threshold : float, optional
            SuperLU's ``diag_pivot_thresh``: 0 (default) factorises without
            pivoting, right for symmetric positive definite matrices; a value
            in (0, 1] allows threshold partial pivoting (indefinite matrices).
        residual : bool, optional
            Also return each sample's relative residual
            ``|A u - rhs|_2 / |rhs|_2`` (0 when ``rhs`` is 0).

        Returns
        -------
        u : ndarray, shape (B, n, n)
            Solutions on the full grid, zero on the boundary.
        rel_residual : ndarray, shape (B,)
            Only with ``residual=True``.

        Raises
        ------
        ValueError
            A matrix is exactly singular (SuperLU hit a zero pivot); the
            message names the sample.
        """
        ids = range(len(rhs)) if sample_ids is None else sample_ids
        b = self.to_unknowns(np.asarray(rhs, dtype=float))
        sol = np.empty_like(b)
        res = np.zeros(len(b))
        options = dict(_SPLU_OPTIONS, diag_pivot_thresh=float(pivot_threshold))
        for k, (mat, sid) in enumerate(zip(self.matrices(kx, ky, shift), ids)):
            try:
                lu = scipy.sparse.linalg.splu(mat, **options)
            except RuntimeError as exc:  # SuperLU: "Factor is exactly singular"
                raise ValueError(f"sample {int(sid)}: the {what} matrix is singular ({exc})") from None
            sol[k] = lu.solve(b[k])
            if residual:
                norm = np.linalg.norm(b[k])
                res[k] = np.linalg.norm(mat @ sol[k] - b[k]) / norm if norm > 0 else 0.0
        field = self.to_field(sol)
        return (field, res) if residual else field


def face_coefficients(a, face_mean="harmonic"):
    """Face coefficients of a nodal coefficient field, as :meth:`NodalGrid.matrices` takes them.

    Parameters
    ----------
    a : ndarray, shape (B, n, n)
        Positive coefficient at the nodes.
    face_mean : {"harmonic", "arithmetic"}
        ``2 a_P a_Q / (a_P + a_Q)`` (flux-continuous between two constant
        phases) or ``(a_P + a_Q) / 2`` (FNO).

    Returns
    -------
    kx : ndarray, shape (B, n - 1, n - 2)
    ky : ndarray, shape (B, n - 2, n - 1)
    """
    if face_mean == "harmonic":
        mean = lambda p, q: 2.0 * p * q / (p + q)  # noqa: E731
    elif face_mean == "arithmetic":
        mean = lambda p, q: 0.5 * (p + q)  # noqa: E731
    else:
        raise ValueError(f"face_mean must be 'harmonic' or 'arithmetic', got {face_mean!r}")
    inner = a[:, :, 1:-1]
    kx = mean(inner[:, :-1], inner[:, 1:])
    inner = a[:, 1:-1, :]
    ky = mean(inner[:, :, :-1], inner[:, :, 1:])
    return kx, ky


def _as_batch(name, value, n=None, batch=None):
    """Check a user field: (n, n) or (B, n, n) -> (B, n, n) float64."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"{name} must have shape (n, n) or (batch, n, n) on a square nodal grid, got {np.shape(value)}")
    if n is not None and arr.shape[1] != n:
        raise ValueError(f"{name} has {arr.shape[1]} x {arr.shape[2]} nodes, expected {n} x {n} (the grid of a), "
                         f"shape {np.shape(value)}")
    if batch is not None and arr.shape[0] not in (1, batch):
        raise ValueError(f"{name} has a batch of {arr.shape[0]}, expected 1 or {batch} (the batch of a)")
    return arr


def solve(a, f=1.0, face_mean="harmonic", sample_ids=None):
    r"""Solve :math:`-\nabla\cdot(a\nabla u) = f`, :math:`u = 0` on the boundary, for a batch of coefficients.

    A pure function: coefficients in, solutions out, each sample independent of
    its batch-mates.

    Parameters
    ----------
    a : array_like, shape (n, n) or (B, n, n)
        Coefficient at the nodes ``(i h, j h)``, ``h = 1/(n - 1)``, boundary
        nodes included (first axis x, second y); positive and finite.
    f : float or array_like, shape (n, n) or (B, n, n), optional
        Source (default 1); only interior values are used.
    face_mean : {"harmonic", "arithmetic"}, optional
        Face average of ``a`` (default harmonic).
    sample_ids : sequence of int, optional
        Sample indices named in error messages (default: batch positions).

    Returns
    -------
    ndarray, shape (B, n, n)
        ``u`` at the nodes, zero on the boundary.

    Raises
    ------
    ValueError
        Wrong shapes (the message names the argument), or a coefficient that
        is not positive and finite (the message names the sample and a node).

    Examples
    --------
    >>> import numpy as np
    >>> u = solve(np.ones((33, 33)))              # -Lap u = 1
    >>> round(float(u[0, 16, 16]), 4)             # 0.0737 for the PDE
    0.0737
    """
    a = _as_batch("a", a)
    nb, n = a.shape[0], a.shape[1]
    if n < 3:
        raise ValueError(f"a needs at least 3 x 3 nodes (one interior node), got shape {a.shape}")
    ids = list(range(nb)) if sample_ids is None else [int(i) for i in sample_ids]
    if len(ids) != nb:
        raise ValueError(f"sample_ids has {len(ids)} entries for a batch of {nb}")
    bad = ~(np.isfinite(a) & (a > 0))
    if bad.any():
        b, i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"sample {ids[b]}: the coefficient a must be positive and finite everywhere, got a = {float(a[b, i, j])!r} "
            f"at node (x, y) = ({i / (n - 1):.4g}, {j / (n - 1):.4g}) (min a = {np.nanmin(a[b]):.4g})"
        )
    if np.ndim(f) == 0:
        rhs = np.full((nb, n - 2, n - 2), float(f))
    else:
        ff = _as_batch("f", f, n=n, batch=nb)
        rhs = np.broadcast_to(ff[:, 1:-1, 1:-1], (nb, n - 2, n - 2))
    grid = NodalGrid.get(n)
    kx, ky = face_coefficients(a, face_mean)
    return grid.solve(kx, ky, rhs * grid.h**2, sample_ids=ids, what="Darcy")


# ----------------------------------------------------------------------------- coefficients


def nodal_grf(rngs, n, alpha, tau, sigma=None, modes=None):
    r"""Neumann Gaussian random fields evaluated at the nodes of the unit square.

    The law of :func:`solvers._grf.neumann_grf` (covariance
    :math:`\sigma^2(-\Delta_N + \tau^2)^{-\alpha}`, zero mean mode), built from
    the ``modes`` lowest cosines per dimension with the same noise draw, but
    evaluated at ``x_i = i/(n - 1)`` (both ends included) rather than at cell
    centres: evaluated at ``(j + 1/2)/modes`` it would be ``neumann_grf`` on
    ``modes`` cells. The number of modes does not depend on ``n``, so a seed
    gives the same function at every resolution.

    Parameters
    ----------
    rngs : sequence of numpy.random.Generator
        One per sample; each draws ``modes**2`` standard normals.
    n : int
        Nodes per dimension.
    alpha, tau : float
        Exponent and inverse length scale of the covariance.
    sigma : float, optional
        Amplitude (default :math:`\tau^{\alpha-1}`, as ``neumann_grf``).
    modes : int, optional
        Cosine modes per dimension (default ``n``).

    Returns
    -------
    ndarray, shape (len(rngs), n, n), float64
    """
    modes = n if modes is None else int(modes)
    return _cosine_series(rngs, np.linspace(0.0, 1.0, n), alpha, tau, sigma, modes)


def _cosine_series(rngs, x, alpha, tau, sigma, modes):
    """The random cosine series of nodal_grf evaluated on the points x (both axes)."""
    var = neumann_spectrum((modes, modes), alpha, tau, sigma)
    # neumann_spectrum holds the variance of the DCT-II coefficients X_k of
    # u_j = sum_k X_k c_k cos(pi k (j + 1/2)/N) with c_0 = 1, c_k = 2 (per axis).
    c = np.where(np.arange(modes) == 0, 1.0, 2.0)
    amp = np.sqrt(var) * c[:, None] * c[None, :]
    basis = np.cos(np.pi * np.outer(x, np.arange(modes)))
    out = np.empty((len(rngs), len(x), len(x)))
    for b, rng in enumerate(rngs):
        coef = rng.standard_normal((modes, modes)) * amp
        out[b] = basis @ coef @ basis.T
    return out


def coefficient_field(rngs, n, params):
    """Random Darcy coefficients of a batch on the nodal grid of ``n`` points.

    Parameters
    ----------
    rngs : sequence of numpy.random.Generator
        One per sample.
    n : int
        Nodes per dimension.
    params : dict
        ``coefficient``, ``a_high``, ``a_low``, ``threshold``, ``grf_alpha``,
        ``grf_tau``, ``grf_sigma``, ``grf_modes``.

    Returns
    -------
    ndarray, shape (len(rngs), n, n)
    """
    g = nodal_grf(rngs, n, params["grf_alpha"], params["grf_tau"], params["grf_sigma"], params["grf_modes"])
    if params["coefficient"] == "lognormal":
        return np.exp(g)
    return np.where(g >= params["threshold"], params["a_high"], params["a_low"])


def layered_solution(x, y, a1, a2):
    r"""Exact solution for a coefficient layered in x: :math:`a = a_1` for :math:`x < 1/2`, :math:`a_2` beyond.

    :math:`u = U(x)\sin\pi y` with :math:`-(aU')' = 1`, :math:`U(0) = U(1) = 0`,
    :math:`u` and the flux :math:`aU'` continuous at :math:`x = 1/2`, solves
    :math:`-\nabla\cdot(a\nabla u) = (1 + \pi^2 a U)\sin\pi y`:
    :math:`U = (Cx - x^2/2)/a_1` for :math:`x \le 1/2`,
    :math:`U = (Cx - x^2/2 + 1/2 - C)/a_2` beyond,
    :math:`C = (3a_1 + a_2)/(4(a_1 + a_2))`.

    Parameters
    ----------
    x, y : ndarray
        Points (broadcast together).
    a1, a2 : float
        Coefficient left and right of the interface.

    Returns
    -------
    u, f : ndarray
        Solution and source at the points.
    """
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    c = (3.0 * a1 + a2) / (4.0 * (a1 + a2))
    left = x <= 0.5
    big_u = np.where(left, (c * x - x * x / 2) / a1, (c * x - x * x / 2 + 0.5 - c) / a2)
    a = np.where(left, a1, a2)
    s = np.sin(np.pi * y)
    return big_u * s, (1.0 + np.pi**2 * a * big_u) * s


# ----------------------------------------------------------------------------- solver spec


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
    if params["coefficient"] == "threshold":
        for key in ("a_high", "a_low"):
            if not params[key] > 0:
                raise ValueError(f"{key} must be > 0 (the Darcy coefficient must be positive), got {params[key]!r}")
    if not params["grf_alpha"] > 1:
        raise ValueError(f"grf_alpha must be > 1 (a 2-D field of finite variance), got {params['grf_alpha']!r}")
    if params["grf_tau"] < 0:
        raise ValueError(f"grf_tau must be >= 0, got {params['grf_tau']!r}")
    if params["grf_sigma"] is not None and params["grf_sigma"] < 0:
        raise ValueError(f"grf_sigma must be >= 0, got {params['grf_sigma']!r}")
    if params["grf_modes"] < 2:
        raise ValueError(f"grf_modes must be >= 2, got {params['grf_modes']!r}")


def _field_attrs(long_name, role):
    return {"long_name": long_name, "units": "1", "opkit_role": role, **BC, **SYMMETRIES}


def _coords(res):
    x = np.linspace(0.0, 1.0, res)
    return {
        "x": ("x", x, {"long_name": "x position", "units": "1", "axis": "X", "actual_range": [0.0, 1.0]}),
        "y": ("y", x.copy(), {"long_name": "y position", "units": "1", "axis": "Y", "actual_range": [0.0, 1.0]}),
    }


def generate(params, indices, rngs):
    """Compute a batch of Darcy samples (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict
        Resolved parameters.
    indices : ndarray of int
        Sample indices (named in error messages).
    rngs : list of numpy.random.Generator
        One per sample; each draws its coefficient only.

    Returns
    -------
    xarray.Dataset
        ``a(sample, x, y)`` and ``u(sample, x, y)`` on the stored nodal grid.
    """
    k, res = params["solver_resolution"], params["resolution"]
    s = stride(res, k)
    a = coefficient_field(rngs, k, params)
    u = solve(a, params["forcing"], params["face_mean"], sample_ids=indices)
    kind = "two-phase" if params["coefficient"] == "threshold" else "log-normal"
    data = {
        "a": (("sample", "x", "y"), a[:, ::s, ::s], _field_attrs(f"permeability a ({kind})", "input")),
        "u": (("sample", "x", "y"), u[:, ::s, ::s], _field_attrs("pressure u", "output")),
    }
    return xr.Dataset(data, coords=_coords(res))


def global_attrs(params):
    """Global attributes of a Darcy file (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict

    Returns
    -------
    dict
    """
    k, res = params["solver_resolution"], params["resolution"]
    sig = params["grf_sigma"]
    grf = (
        f"Gaussian random field, covariance sigma^2 (-Lap_Neumann + {params['grf_tau']:g}^2)^(-{params['grf_alpha']:g}), "
        f"sigma = {'tau^(alpha-1)' if sig is None else format(sig, 'g')}, {params['grf_modes']} cosine modes per "
        "dimension, evaluated at the solve nodes"
    )
    if params["coefficient"] == "threshold":
        coef = f"a = {params['a_high']:g} where g >= {params['threshold']:g}, else {params['a_low']:g}; g: {grf}"
    else:
        coef = f"a = exp(g); g: {grf}"
    return {
        "title": "2-D Darcy flow on the unit square, zero Dirichlet, random coefficient",
        "pde": PDE,
        "equation": f"-div(a grad u) = {params['forcing']:g}",
        "domain": "(x, y) in [0, 1]^2; u = 0 on the boundary",
        **BC,
        **SYMMETRIES,
        "opkit_inputs": "a",
        "opkit_outputs": "u",
        "method": (
            f"5-point finite differences on the nodal {k} x {k} grid (h = 1/{k - 1}), {params['face_mean']} face "
            "means of the nodal coefficient; sparse direct solve (SuperLU, minimum-degree ordering on A + A^T "
            "computed once per grid, one factorisation per sample)"
        ),
        "coefficient_description": coef,
        "solver_resolution": k,
        "output_resolution": res,
        "downsampling": (
            f"stride {stride(res, k)} of the solve grid, boundary nodes kept; x_i = i/{res - 1}"
        ),
        "grid": "nodal, boundary nodes included",
    }


SOLVER = SolverSpec(
    name="darcy",
    title="2-D Darcy flow -div(a grad u) = f, zero Dirichlet, random coefficient (5-point FD, SuperLU)",
    pde=PDE,
    parameters=(
        Parameter(
            "resolution", 85, "1",
            "Stored nodes per dimension (>= 2), boundary nodes included: the solve grid at a stride.",
            int,
        ),
        Parameter(
            "solver_resolution", None, "1",
            "Nodes per dimension of the finite-difference grid. Unset: the coarsest (resolution - 1) s + 1 >= "
            f"{MIN_SOLVER_RESOLUTION} (421 for resolution 85, 442 for 64); set, resolution - 1 must divide "
            "solver_resolution - 1.",
            int,
        ),
        Parameter("forcing", 1.0, "1", "Constant source f.", float, plausible=(-1e3, 1e3)),
        Parameter("coefficient", "threshold", "1",
                  "Law of a: a thresholded Gaussian random field (two phases) or exp of one.",
                  str, ("threshold", "lognormal")),
        Parameter("a_high", 12.0, "1", "Coefficient where the GRF is >= threshold (threshold law).", float, plausible=(1e-3, 1e3)),
        Parameter("a_low", 3.0, "1", "Coefficient where the GRF is < threshold (threshold law).", float, plausible=(1e-3, 1e3)),
        Parameter("threshold", 0.0, "1", "Level at which the GRF is cut (threshold law).", float),
        Parameter("grf_alpha", 2.0, "1", "Exponent alpha of the GRF covariance sigma^2 (-Lap_N + tau^2)^(-alpha) (> 1).", float),
        Parameter("grf_tau", 3.0, "1", "Inverse length scale tau of the GRF.", float, plausible=(0.0, 100.0)),
        Parameter("grf_sigma", None, "1", "Amplitude sigma of the GRF (unset: tau^(alpha-1)); matters for lognormal only.", float),
        Parameter(
            "grf_modes", 421, "1",
            "Cosine modes per dimension of the GRF (FNO: 421); fixed, so a seed gives the same coefficient at "
            "every resolution.",
            int,
        ),
        Parameter("face_mean", "harmonic", "1",
                  "Face average of a: harmonic (flux-continuous) or arithmetic (FNO's solver).",
                  str, ("harmonic", "arithmetic")),
    ),
    generate=generate,
    global_attrs=global_attrs,
    validate=validate,
    derive=DefaultSolveGrid("nodal", MIN_SOLVER_RESOLUTION),
)


if __name__ == "__main__":
    raise SystemExit(run_cli(SOLVER))

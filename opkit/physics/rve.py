r"""The periodic representative volume element (RVE) of small-strain FE² homogenisation.

A unit cell :math:`[-\tfrac12, \tfrac12]^2` in plane strain carries the
displacement :math:`u = \bar\varepsilon\cdot x + \tilde u` with a periodic
fluctuation :math:`\tilde u`; equilibrium :math:`\nabla\cdot\sigma = 0` holds in
the weak form, and the homogenised stress is the volume average
:math:`\bar\sigma = \langle\sigma\rangle`. Strains and stresses are Voigt
vectors :math:`\hat\varepsilon = (\varepsilon_{xx}, \varepsilon_{yy}, \gamma_{xy})`
(engineering shear :math:`\gamma = 2\varepsilon_{xy}`) and
:math:`(\sigma_{xx}, \sigma_{yy}, \sigma_{xy})`.

:class:`PeriodicRVE` holds what the finite-element solver
(``solvers.elasticity_rve``) and the EquiNO estimator share: the strain
operator ``B`` at the 3 x 3 Gauss points of every quadratic quadrilateral,
the Gauss weights, the periodic map ``P`` of the fluctuation degrees of freedom
(one corner fixed), the discrete equilibrium operator ``G`` and the one
implementation of the constitutive laws, which works on numpy arrays and on
(differentiable) torch tensors.

Constitutive laws (plane strain, 3-D trace: :math:`\varepsilon_{zz} = 0`)
--------------------------------------------------------------------------
``"matrix"``: :math:`\sigma = K\,\mathrm{tr}\,\varepsilon\,I + \frac{c_1}{c_2 + s}\,
\mathrm{dev}\,\varepsilon`, :math:`s = \|\mathrm{dev}\,\varepsilon\|`, the
derivative of :math:`W = \tfrac12 K(\mathrm{tr}\,\varepsilon)^2 + c_1(s - c_2\ln(1 + s/c_2))`.
``"linear"``: :math:`\sigma = K\,\mathrm{tr}\,\varepsilon\,I + 2G\,\mathrm{dev}\,\varepsilon`.
The norm is smoothed, :math:`s = (\|\mathrm{dev}\,\varepsilon\|^2 + \delta^2)^{1/2}`
with :math:`\delta` = :data:`DEV_NORM_FLOOR`, so that automatic-differentiation
tangents are finite at zero strain; :meth:`PeriodicRVE.tangent` is the exact
derivative of the smoothed law.

Meshes
------
A mesh is an ``xarray.Dataset`` with ``nodes`` (node, coord), ``connectivity``
(element, local_node) of quad8 serendipity elements (four corners counter-
clockwise, then the mid-nodes of edges 0-1, 1-2, 2-3, 3-0) or quad9 (centre
node last), ``material_id`` (element) and the attributes ``element_type`` and
``materials`` (canonical JSON). :func:`circular_fibre_mesh` builds one
centred circular fibre on a five-block mapped mesh, :func:`rectangular_mesh`
a tensor-product mesh (laminates), :func:`read_equino_csv` reads the CSV meshes
of the EquiNO repository.
"""

from __future__ import annotations

import json
import math

import numpy as np

__all__ = [
    "DEFAULT_MATERIALS",
    "DEV_NORM_FLOOR",
    "ELEMENT_TYPES",
    "LAWS",
    "PeriodicRVE",
    "circular_fibre_mesh",
    "gauss_rule",
    "materials_json",
    "read_equino_csv",
    "rectangular_mesh",
    "shape_functions",
]

#: Materials of the EquiNO paper (MPa): id 0 the nonlinear matrix, id 1 the linear fibre.
DEFAULT_MATERIALS = {
    0: {"law": "matrix", "K": 4780.0, "c1": 50.0, "c2": 0.06},
    1: {"law": "linear", "K": 43452.4, "G": 29918.0},
}
#: Parameters of each constitutive law.
LAWS = {"matrix": ("K", "c1", "c2"), "linear": ("K", "G")}
#: Smoothing of the deviatoric strain norm, :math:`s = (\|\mathrm{dev}\,\varepsilon\|^2 + \delta^2)^{1/2}`.
DEV_NORM_FLOOR = 1e-12
#: Nodes per element of each element type.
ELEMENT_TYPES = {"quad8": 8, "quad9": 9}

# Reference coordinates of the local nodes: corners, mid-edge nodes, centre.
_REF = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [0, -1], [1, 0], [0, 1], [-1, 0], [0, 0]], dtype=np.float64)
_VOIGT_M = np.array([1.0, 1.0, 0.0])
# d(dev)/d(eps_hat) for the in-plane deviatoric components (dxx, dyy, dxy).
_P_DEV = np.array([[2.0 / 3.0, -1.0 / 3.0, 0.0], [-1.0 / 3.0, 2.0 / 3.0, 0.0], [0.0, 0.0, 0.5]])


def gauss_rule(n=3):
    """Tensor-product Gauss-Legendre rule on :math:`[-1, 1]^2`.

    Parameters
    ----------
    n : int, default=3
        Points per direction.

    Returns
    -------
    points : ndarray, shape (n * n, 2)
        (xi, eta), xi varying slowest.
    weights : ndarray, shape (n * n,)
    """
    x, w = np.polynomial.legendre.leggauss(n)
    xi, eta = np.meshgrid(x, x, indexing="ij")
    return np.stack([xi.ravel(), eta.ravel()], axis=1), np.outer(w, w).ravel()


def shape_functions(element_type, points):
    """Shape functions and their reference derivatives at ``points``.

    Parameters
    ----------
    element_type : {"quad8", "quad9"}
    points : ndarray, shape (q, 2)
        Reference coordinates (xi, eta) in :math:`[-1, 1]^2`.

    Returns
    -------
    N : ndarray, shape (q, n_local)
    dN : ndarray, shape (q, n_local, 2)
        Derivatives with respect to xi and eta.
    """
    _check_element_type(element_type)
    xi, eta = points[:, 0:1], points[:, 1:2]
    if element_type == "quad9":
        # Products of 1-D quadratic Lagrange polynomials on the nodes -1, 0, 1.
        def lag(t, a):
            if a == -1:
                return 0.5 * t * (t - 1.0), t - 0.5
            if a == 1:
                return 0.5 * t * (t + 1.0), t + 0.5
            return 1.0 - t * t, -2.0 * t

        N, dN = [], []
        for a, b in _REF:
            lx, dlx = lag(xi, a)
            ly, dly = lag(eta, b)
            N.append(lx * ly)
            dN.append(np.concatenate([dlx * ly, lx * dly], axis=1))
        return np.concatenate(N, axis=1), np.stack(dN, axis=1)
    N, dN = [], []
    for k, (a, b) in enumerate(_REF[:8]):
        if k < 4:  # corner: (1 + a xi)(1 + b eta)(a xi + b eta - 1) / 4
            N.append(0.25 * (1 + a * xi) * (1 + b * eta) * (a * xi + b * eta - 1))
            dN.append(
                np.concatenate(
                    [
                        0.25 * a * (1 + b * eta) * (2 * a * xi + b * eta),
                        0.25 * b * (1 + a * xi) * (a * xi + 2 * b * eta),
                    ],
                    axis=1,
                )
            )
        elif a == 0:  # mid-node of a horizontal edge: (1 - xi^2)(1 + b eta) / 2
            N.append(0.5 * (1 - xi * xi) * (1 + b * eta))
            dN.append(np.concatenate([-xi * (1 + b * eta), 0.5 * b * (1 - xi * xi)], axis=1))
        else:  # vertical edge: (1 + a xi)(1 - eta^2) / 2
            N.append(0.5 * (1 + a * xi) * (1 - eta * eta))
            dN.append(np.concatenate([0.5 * a * (1 - eta * eta), -eta * (1 + a * xi)], axis=1))
    return np.concatenate(N, axis=1), np.stack(dN, axis=1)


def _check_element_type(element_type):
    if element_type not in ELEMENT_TYPES:
        raise ValueError(f"element_type must be one of {', '.join(ELEMENT_TYPES)}, got {element_type!r}")


# ----------------------------------------------------------------------------- materials


def _canonical_materials(materials):
    """Materials as {int id: {"law": str, params: float}}, checked."""
    if isinstance(materials, str):
        materials = json.loads(materials)
    if not isinstance(materials, dict) or not materials:
        raise ValueError(f"materials must be a non-empty dict {{id: {{'law': ..., parameters}}}}, got {materials!r}")
    out = {}
    for key, spec in materials.items():
        try:
            mid = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"material id {key!r} is not an integer") from None
        if not isinstance(spec, dict) or spec.get("law") not in LAWS:
            raise ValueError(
                f"material {mid}: 'law' must be one of {', '.join(LAWS)}, got {spec.get('law') if isinstance(spec, dict) else spec!r}"
            )
        law = spec["law"]
        names = LAWS[law]
        missing = [n for n in names if n not in spec]
        extra = sorted(set(spec) - set(names) - {"law"})
        if missing or extra:
            raise ValueError(f"material {mid} ({law}): needs parameters {', '.join(names)}; missing {missing}, unknown {extra}")
        params = {n: float(spec[n]) for n in names}
        bad = [n for n, v in params.items() if not (math.isfinite(v) and v > 0)]
        if bad:
            raise ValueError(f"material {mid} ({law}): parameters {bad} must be finite and positive, got {params}")
        out[mid] = {"law": law, **params}
    return dict(sorted(out.items()))


def materials_json(materials):
    """The canonical JSON text of a materials dict (sorted keys, ids as strings).

    Parameters
    ----------
    materials : dict or str

    Returns
    -------
    str
    """
    mats = _canonical_materials(materials)
    return json.dumps({str(k): v for k, v in mats.items()}, sort_keys=True, separators=(",", ":"))


# ----------------------------------------------------------------------------- meshes


def _mesh_dataset(nodes, connectivity, material_id, element_type, materials=None):
    import xarray as xr

    _check_element_type(element_type)
    mats = materials_json(DEFAULT_MATERIALS if materials is None else materials)
    return xr.Dataset(
        {
            "nodes": (("node", "coord"), np.asarray(nodes, dtype=np.float64),
                      {"long_name": "node coordinates", "units": "1", "opkit_role": "auxiliary"}),
            "connectivity": (("element", "local_node"), np.asarray(connectivity, dtype=np.int64),
                             {"long_name": f"element nodes ({element_type}: corners counter-clockwise, then mid-edge nodes"
                                           + (", then the centre)" if element_type == "quad9" else ")"),
                              "units": "1", "opkit_role": "auxiliary"}),
            "material_id": (("element",), np.asarray(material_id, dtype=np.int64),
                            {"long_name": "material id of each element (0 matrix, 1 fibre)", "units": "1",
                             "opkit_role": "auxiliary"}),
        },
        coords={"coord": ("coord", np.array(["x", "y"]), {"long_name": "coordinate"})},
        attrs={"element_type": element_type, "materials": mats},
    )


def _structured_elements(ni, nj, element_type, offset=0):
    """Connectivity of an ni x nj block of elements on a fine (2 ni + 1) x (2 nj + 1) node grid (index i * (2 nj + 1) + j)."""
    w = 2 * nj + 1
    I, J = np.meshgrid(np.arange(ni), np.arange(nj), indexing="ij")
    i0, j0 = (2 * I).ravel(), (2 * J).ravel()
    local = [(0, 0), (2, 0), (2, 2), (0, 2), (1, 0), (2, 1), (1, 2), (0, 1), (1, 1)][: ELEMENT_TYPES[element_type]]
    return offset + np.stack([(i0 + a) * w + (j0 + b) for a, b in local], axis=1)


def _merge_nodes(points, connectivity, tol=1e-10):
    """Merge coincident points (within ``tol``) and drop points no element uses."""
    from scipy.spatial import cKDTree

    rep = np.arange(len(points))
    pairs = cKDTree(points).query_pairs(tol, output_type="ndarray")
    if len(pairs):
        np.minimum.at(rep, pairs[:, 1], pairs[:, 0])
        rep = rep[rep]  # groups of three or four coincident points
    conn = rep[connectivity]
    used = np.unique(conn)
    new = np.full(len(points), -1, dtype=np.int64)
    new[used] = np.arange(len(used))
    return points[used], new[conn]


def _fine(n):
    """2 n + 1 points of [-1, 1], exactly antisymmetric: (2 i - 2 n) / (2 n)."""
    return (2.0 * np.arange(2 * n + 1) - 2 * n) / (2 * n)


def circular_fibre_mesh(n=16, volume_fraction=0.3, element_type="quad8", n_fibre=None, n_matrix=None, materials=None):
    """One centred circular fibre in the unit cell on a five-block mapped mesh, periodic by construction.

    A central square of half-width ``r/2`` (``r`` the fibre radius) holds
    ``n x n`` elements; four blocks, one per cell side, join its edges to the
    cell boundary through the fibre circle, with ``n_fibre`` element layers in
    the fibre and ``n_matrix`` in the matrix and ``n`` elements along each
    side. Nodes are placed by the exact block maps, so mid-nodes on the
    interface lie on the circle and opposite cell edges carry the same node
    coordinates (``y = (2 i - 2n)/(4n)`` on both vertical edges, likewise for x).

    Parameters
    ----------
    n : int, default=16
        Elements along each side of the cell (>= 2).
    volume_fraction : float, default=0.3
        Fibre area fraction, in (0, 0.7]: radius ``sqrt(volume_fraction / pi)``.
    element_type : {"quad8", "quad9"}, default="quad8"
    n_fibre, n_matrix : int, optional
        Radial element layers between the central square and the circle, and
        between the circle and the cell boundary (default ``ceil(n/8)`` and
        ``ceil(n/4)``). Refining a mesh by a factor means multiplying all three
        counts by it.
    materials : dict, optional
        Stored in the ``materials`` attribute (default :data:`DEFAULT_MATERIALS`).

    Returns
    -------
    xarray.Dataset
        ``nodes`` (node, coord), ``connectivity`` (element, local_node),
        ``material_id`` (element; 1 inside the fibre, 0 in the matrix),
        attributes ``element_type``, ``materials``, ``volume_fraction``
        (the exact circle's; the mesh's quadratic interface encloses an area
        close to it).

    Raises
    ------
    ValueError
        For ``n < 2``, a volume fraction outside (0, 0.7] or non-positive layer counts.

    Examples
    --------
    >>> from opkit.physics import circular_fibre_mesh
    >>> mesh = circular_fibre_mesh(8)
    >>> mesh.sizes["element"], mesh.attrs["element_type"]
    (160, 'quad8')
    """
    n = int(n)
    if n < 2:
        raise ValueError(f"n (elements per cell side) must be >= 2, got {n}")
    if not 0.0 < volume_fraction <= 0.7:
        raise ValueError(
            f"volume_fraction must be in (0, 0.7] (the fibre needs a matrix layer around it in the cell), got {volume_fraction!r}"
        )
    n_fibre = max(1, math.ceil(n / 8)) if n_fibre is None else int(n_fibre)
    n_matrix = max(1, math.ceil(n / 4)) if n_matrix is None else int(n_matrix)
    if n_fibre < 1 or n_matrix < 1:
        raise ValueError(f"n_fibre and n_matrix must be >= 1, got {n_fibre} and {n_matrix}")
    _check_element_type(element_type)
    r = math.sqrt(volume_fraction / math.pi)
    a = 0.5 * r
    s = _fine(n)
    blocks_pts, blocks_conn, blocks_mat = [], [], []
    offset = 0
    # Central square: xi along x, eta along y.
    X, Y = np.meshgrid(a * s, a * s, indexing="ij")
    blocks_pts.append(np.stack([X.ravel(), Y.ravel()], axis=1))
    blocks_conn.append(_structured_elements(n, n, element_type, offset))
    blocks_mat.append(np.ones(n * n, dtype=np.int64))
    offset += X.size
    # Right block, xi radial (outward), eta tangential (counter-clockwise); then rotated copies.
    nr = n_fibre + n_matrix
    theta = 0.25 * np.pi * s
    p0 = np.stack([np.full_like(s, a), a * s], axis=1)
    pc = r * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    po = np.stack([np.full_like(s, 0.5), 0.5 * s], axis=1)
    rows = []
    for i in range(2 * nr + 1):
        if i <= 2 * n_fibre:
            t = i / (2 * n_fibre)
            rows.append(p0 + t * (pc - p0))
        else:
            t = (i - 2 * n_fibre) / (2 * n_matrix)
            rows.append(pc + t * (po - pc))
    right = np.stack(rows, axis=0).reshape(-1, 2)  # index i * (2n + 1) + j
    mat = np.repeat((np.arange(nr) < n_fibre).astype(np.int64), n)  # element (I, J) -> I * n + J
    x, y = right[:, 0], right[:, 1]
    for rotated in (np.stack([x, y], 1), np.stack([-y, x], 1), np.stack([-x, -y], 1), np.stack([y, -x], 1)):
        blocks_pts.append(rotated)
        blocks_conn.append(_structured_elements(nr, n, element_type, offset))
        blocks_mat.append(mat)
        offset += len(rotated)
    nodes, conn = _merge_nodes(np.concatenate(blocks_pts), np.concatenate(blocks_conn))
    ds = _mesh_dataset(nodes, conn, np.concatenate(blocks_mat), element_type, materials)
    ds.attrs.update({"volume_fraction": float(volume_fraction), "geometry": "circular fibre, five-block mapped mesh"})
    return ds


def rectangular_mesh(x_edges, y_edges=None, material_id=None, element_type="quad8", materials=None):
    """Tensor-product mesh of straight quadratic quadrilaterals (e.g. a laminate).

    Parameters
    ----------
    x_edges : array_like, shape (nx + 1,)
        Increasing element edges along x; the cell is ``[x_edges[0], x_edges[-1]]``.
    y_edges : array_like, shape (ny + 1,), optional
        Element edges along y (default: ``x_edges``).
    material_id : int, array_like of shape (nx, ny) or callable, optional
        Material of each element: a constant, an array indexed [i, j] (element
        i along x, j along y), or ``f(xc, yc) -> ids`` of the element centres.
        Default 0.
    element_type : {"quad8", "quad9"}, default="quad8"
    materials : dict, optional
        Stored in the ``materials`` attribute (default :data:`DEFAULT_MATERIALS`).

    Returns
    -------
    xarray.Dataset
        The mesh (see :func:`circular_fibre_mesh`).

    Examples
    --------
    >>> import numpy as np
    >>> from opkit.physics import rectangular_mesh
    >>> edges = np.linspace(-0.5, 0.5, 5)
    >>> mesh = rectangular_mesh(edges, material_id=lambda x, y: (x > 0).astype(int))
    >>> int(mesh.material_id.sum())
    8
    """
    _check_element_type(element_type)
    xe = np.asarray(x_edges, dtype=np.float64)
    ye = xe if y_edges is None else np.asarray(y_edges, dtype=np.float64)
    for name, e in (("x_edges", xe), ("y_edges", ye)):
        if e.ndim != 1 or len(e) < 2 or not np.all(np.diff(e) > 0):
            raise ValueError(f"{name} must be a strictly increasing 1-D array of at least 2 edges")
    nx, ny = len(xe) - 1, len(ye) - 1
    xf = np.empty(2 * nx + 1)
    xf[::2], xf[1::2] = xe, 0.5 * (xe[1:] + xe[:-1])
    yf = np.empty(2 * ny + 1)
    yf[::2], yf[1::2] = ye, 0.5 * (ye[1:] + ye[:-1])
    X, Y = np.meshgrid(xf, yf, indexing="ij")
    pts = np.stack([X.ravel(), Y.ravel()], axis=1)
    conn = _structured_elements(nx, ny, element_type)
    xc, yc = np.meshgrid(xf[1::2], yf[1::2], indexing="ij")
    if material_id is None:
        mid = np.zeros((nx, ny), dtype=np.int64)
    elif callable(material_id):
        mid = np.broadcast_to(np.asarray(material_id(xc, yc)), (nx, ny))
    else:
        mid = np.broadcast_to(np.asarray(material_id), (nx, ny))
    nodes, conn = _merge_nodes(pts, conn)
    return _mesh_dataset(nodes, conn, np.asarray(mid, dtype=np.int64).ravel(), element_type, materials)


def read_equino_csv(nodes_csv, elements_csv, materials=None):
    """Read a mesh in the CSV layout of the EquiNO repository.

    Parameters
    ----------
    nodes_csv : str or os.PathLike
        One node per line, ``x,y``, no header (``nodeCoordinates.csv``).
    elements_csv : str or os.PathLike
        One quad8 element per line, no header: element number, material
        number (1 matrix, 2 fibre), then eight 1-based node numbers (corners
        counter-clockwise, then mid-edge nodes), as ``elementIncidences.csv``.
    materials : dict, optional
        Stored in the ``materials`` attribute (default :data:`DEFAULT_MATERIALS`).

    Returns
    -------
    xarray.Dataset
        The mesh with 0-based connectivity and ``material_id`` = material number - 1.

    Raises
    ------
    ValueError
        Wrong column counts, node numbers out of range.
    """
    nodes = np.loadtxt(nodes_csv, delimiter=",", dtype=np.float64, ndmin=2)
    elems = np.loadtxt(elements_csv, delimiter=",", dtype=np.int64, ndmin=2)
    if nodes.shape[1] != 2:
        raise ValueError(f"{nodes_csv}: expected 2 columns (x, y) per node, got {nodes.shape[1]}")
    if elems.shape[1] not in (10, 11):
        raise ValueError(
            f"{elements_csv}: expected 10 columns (element, material, 8 nodes) or 11 (quad9), got {elems.shape[1]}"
        )
    conn = elems[:, 2:] - 1
    if conn.min() < 0 or conn.max() >= len(nodes):
        raise ValueError(f"{elements_csv}: node numbers must be in 1..{len(nodes)}, got {conn.min() + 1}..{conn.max() + 1}")
    element_type = "quad8" if conn.shape[1] == 8 else "quad9"
    return _mesh_dataset(nodes, conn, elems[:, 1] - 1, element_type, materials)


# ----------------------------------------------------------------------------- the RVE


def _xp_of(x):
    """(namespace, is_torch) of an array or tensor."""
    if type(x).__module__.startswith("torch"):
        import torch

        return torch, True
    return np, False


class PeriodicRVE:
    r"""Periodic RVE on a quadratic-quadrilateral mesh: B-matrices, Gauss weights, periodic map, laws.

    Parameters
    ----------
    mesh : xarray.Dataset
        ``nodes``, ``connectivity``, ``material_id`` and the attribute
        ``element_type`` (see the module docstring); e.g.
        :func:`circular_fibre_mesh` or an ``elasticity_rve`` output file.
    materials : dict or str, optional
        ``{id: {"law": "matrix" | "linear", parameters}}`` (or its JSON).
        Default: ``mesh.attrs["materials"]``, else :data:`DEFAULT_MATERIALS`.

    Raises
    ------
    ValueError
        Unknown element type or law, a material id without material, an
        inverted or degenerate element (the message names the elements and a
        node of each), a mesh that is not periodic (the message names the
        boundary coordinates without a partner on the opposite edge), a mesh
        not covering its bounding box, or no node at the lower-left corner.

    Attributes
    ----------
    nodes, connectivity, material_id, element_type, materials
        The mesh, as given (materials canonical: ``{int id: {"law": ..., parameters}}``).
    n_nodes, n_dofs, n_elements, n_gauss, n_free : int
        Sizes; ``n_dofs = 2 n_nodes``, ``n_gauss = 9 n_elements``, ``n_free`` the
        columns of ``P``.
    gauss_points : ndarray, shape (n_gauss, 2)
    gauss_weights : ndarray, shape (n_gauss,)
        Gauss weight times det J; they sum to ``volume``.
    gauss_material : ndarray of int, shape (n_gauss,)
    volume : float
        Cell area (1 for the unit cell).
    bounds : ndarray, shape (2, 2)
        ``[[xmin, xmax], [ymin, ymax]]`` of the nodes.
    B : scipy.sparse.csr_matrix, shape (3 n_gauss, n_dofs)
        Engineering strain at the Gauss points, row ``3 g + component``.
    P : scipy.sparse.csr_matrix, shape (n_dofs, n_free)
        Periodic fluctuation map.
    BP : scipy.sparse.csr_matrix
        ``B @ P``.
    G : scipy.sparse.csr_matrix, shape (n_free, 3 n_gauss)
        Equilibrium operator ``P^T B^T diag(w ⊗ 1_3)``.
    fixed_node : int
        The lower-left corner node, where the fluctuation is zero.
    node_master : ndarray of int, shape (n_nodes,)
        The node whose fluctuation each node copies (itself inside the cell).
    shape_gradients : ndarray, shape (n_elements, 9, n_local, 2)
        Physical gradients of the shape functions at the Gauss points.

    Notes
    -----
    Degrees of freedom are node-major, ``dof = 2 * node + component``; Gauss
    points element-major, ``g = 9 * element + k``, 3 x 3 Gauss points with xi
    varying slowest. The fluctuation is ``u_fluct = P @ a``: nodes on the right
    (top) edge take the values of their partners on the left (bottom) edge,
    and the corner node at the lower left is fixed (all four corners share
    its zero value). ``G = P^T B^T diag(w ⊗ 1_3)`` is the equilibrium
    operator: ``G @ stress.ravel() = 0`` at a converged solve.

    Examples
    --------
    >>> import numpy as np
    >>> from opkit.physics import PeriodicRVE, circular_fibre_mesh
    >>> rve = PeriodicRVE(circular_fibre_mesh(4))
    >>> round(rve.volume, 12)
    1.0
    >>> strain = rve.B @ rve.macro_displacement(np.array([0.01, 0.0, 0.0]))
    >>> bool(np.allclose(strain.reshape(-1, 3), [0.01, 0.0, 0.0]))
    True
    """

    def __init__(self, mesh, materials=None):
        self.element_type = str(mesh.attrs.get("element_type", "quad8"))
        _check_element_type(self.element_type)
        if materials is None:
            materials = mesh.attrs.get("materials", DEFAULT_MATERIALS)
        self.materials = _canonical_materials(materials)
        self.nodes = np.ascontiguousarray(np.asarray(mesh["nodes"].values, dtype=np.float64))
        self.connectivity = np.ascontiguousarray(np.asarray(mesh["connectivity"].values, dtype=np.int64))
        self.material_id = np.ascontiguousarray(np.asarray(mesh["material_id"].values, dtype=np.int64))
        self._check_arrays()
        self._build_gauss()
        self._build_periodic()
        self._build_laws()

    # -------------------------------------------------------------- construction

    def _check_arrays(self):
        nodes, conn, mid = self.nodes, self.connectivity, self.material_id
        if nodes.ndim != 2 or nodes.shape[1] != 2 or not np.isfinite(nodes).all():
            raise ValueError(f"nodes must be a finite (node, 2) array, got shape {nodes.shape}")
        n_local = ELEMENT_TYPES[self.element_type]
        if conn.ndim != 2 or conn.shape[1] != n_local:
            raise ValueError(f"connectivity of {self.element_type} elements must be (element, {n_local}), got shape {conn.shape}")
        if conn.size == 0 or conn.min() < 0 or conn.max() >= len(nodes):
            raise ValueError(f"connectivity refers to nodes outside 0..{len(nodes) - 1}")
        if mid.shape != (len(conn),):
            raise ValueError(f"material_id must have one entry per element ({len(conn)}), got shape {mid.shape}")
        unknown = sorted(set(np.unique(mid).tolist()) - set(self.materials))
        if unknown:
            first = int(np.flatnonzero(np.isin(mid, unknown))[0])
            raise ValueError(
                f"material_id {unknown} (first at element {first}) has no material; known ids: {sorted(self.materials)}"
            )
        unused = np.setdiff1d(np.arange(len(nodes)), conn)
        if len(unused):
            raise ValueError(f"{len(unused)} nodes belong to no element (first: node {int(unused[0])} at {nodes[unused[0]].tolist()})")

    def _build_gauss(self):
        import scipy.sparse as sp

        ref, w_ref = gauss_rule(3)
        N, dN = shape_functions(self.element_type, ref)  # (9, nl), (9, nl, 2)
        X = self.nodes[self.connectivity]  # (E, nl, 2)
        J = np.einsum("qla,eld->eqad", dN, X)  # J[e, q, a, d] = d x_d / d xi_a
        det = J[..., 0, 0] * J[..., 1, 1] - J[..., 0, 1] * J[..., 1, 0]
        scale = np.abs(det).max() if det.size else 1.0
        bad = np.flatnonzero((det <= 1e-12 * scale).any(axis=1))
        if len(bad):
            shown = ", ".join(f"{int(e)} (first node at {self.nodes[self.connectivity[e, 0]].round(6).tolist()})" for e in bad[:5])
            raise ValueError(
                f"{len(bad)} inverted or degenerate elements (det J <= 0 at a Gauss point; corners must run "
                f"counter-clockwise): elements {shown}" + (" ..." if len(bad) > 5 else "")
            )
        inv = np.empty_like(J)
        inv[..., 0, 0], inv[..., 1, 1] = J[..., 1, 1] / det, J[..., 0, 0] / det
        inv[..., 0, 1], inv[..., 1, 0] = -J[..., 0, 1] / det, -J[..., 1, 0] / det
        dNdx = np.einsum("qla,eqda->eqld", dN, inv)  # d N_l / d x_d
        self.shape_gradients = dNdx  # (element, gauss point, local node, x/y)
        E, nl = self.connectivity.shape
        self.n_elements = E
        self.n_nodes = len(self.nodes)
        self.n_dofs = 2 * self.n_nodes
        self.n_gauss = 9 * E
        self.gauss_points = np.einsum("ql,eld->eqd", N, X).reshape(-1, 2)
        self.gauss_weights = (det * w_ref).reshape(-1)
        self.gauss_material = np.repeat(self.material_id, 9)
        self.volume = float(self.gauss_weights.sum())
        lo, hi = self.nodes.min(axis=0), self.nodes.max(axis=0)
        self.bounds = np.stack([lo, hi], axis=1)  # [[xmin, xmax], [ymin, ymax]]
        box = float(np.prod(hi - lo))
        if abs(self.volume - box) > 1e-8 * box:
            raise ValueError(
                f"the elements cover an area of {self.volume:.12g}, not the {box:.12g} of the cell "
                f"[{lo[0]:g}, {hi[0]:g}] x [{lo[1]:g}, {hi[1]:g}] (overlapping elements or holes)"
            )
        # B: rows 3 g + c, columns 2 node + component.
        g = np.broadcast_to(np.arange(self.n_gauss).reshape(E, 9, 1), (E, 9, nl))
        node = np.broadcast_to(self.connectivity[:, None, :], (E, 9, nl))
        dx, dy = dNdx[..., 0], dNdx[..., 1]
        rows = np.concatenate([3 * g + 0, 3 * g + 1, 3 * g + 2, 3 * g + 2], axis=2)
        cols = np.concatenate([2 * node, 2 * node + 1, 2 * node, 2 * node + 1], axis=2)
        vals = np.concatenate([dx, dy, dy, dx], axis=2)
        B = sp.coo_matrix(
            (vals.ravel(), (rows.ravel(), cols.ravel())),
            shape=(3 * self.n_gauss, self.n_dofs),
        )
        self.B = B.tocsr()
        self.B.sum_duplicates()

    def _build_periodic(self):
        import scipy.sparse as sp

        x, y = self.nodes[:, 0], self.nodes[:, 1]
        (x0, x1), (y0, y1) = self.bounds
        tol = 1e-8 * max(x1 - x0, y1 - y0)
        master = np.arange(self.n_nodes)
        for axis, (lo, hi) in ((0, (x0, x1)), (1, (y0, y1))):
            coord, other = self.nodes[:, axis], self.nodes[:, 1 - axis]
            low = np.flatnonzero(np.abs(coord - lo) < tol)
            high = np.flatnonzero(np.abs(coord - hi) < tol)
            name, along = ("x", "y") if axis == 0 else ("y", "x")
            low_sorted = low[np.argsort(other[low])]
            pos = np.clip(np.searchsorted(other[low_sorted], other[high]), 0, max(len(low) - 1, 0))
            cand = [low_sorted[np.clip(pos + d, 0, len(low) - 1)] for d in (-1, 0)] if len(low) else []
            if cand:
                dist = np.stack([np.abs(other[c] - other[high]) for c in cand])
                partner = np.where(dist[0] <= dist[1], cand[0], cand[1])
                matched = np.minimum(dist[0], dist[1]) < tol
            else:
                partner, matched = high, np.zeros(len(high), bool)
            # and the reverse direction: every low node needs a high partner
            high_sorted = high[np.argsort(other[high])]
            if len(high):
                p2 = np.clip(np.searchsorted(other[high_sorted], other[low]), 0, len(high) - 1)
                d2 = np.minimum(
                    np.abs(other[high_sorted[np.clip(p2 - 1, 0, len(high) - 1)]] - other[low]),
                    np.abs(other[high_sorted[p2]] - other[low]),
                )
                matched_low = d2 < tol
            else:
                matched_low = np.zeros(len(low), bool)
            if not matched.all() or not matched_low.all():
                lonely = [(hi, float(v)) for v in other[high[~matched]]] + [(lo, float(v)) for v in other[low[~matched_low]]]
                shown = ", ".join(
                    f"({c:g}, {v:.9g})" if axis == 0 else f"({v:.9g}, {c:g})" for c, v in lonely[:6]
                )
                raise ValueError(
                    f"the mesh is not periodic: {len(lonely)} nodes on the edges {name} = {lo:g} and {name} = {hi:g} "
                    f"have no partner at the same {along} on the opposite edge, e.g. at {shown}"
                    + (" ..." if len(lonely) > 6 else "")
                )
            master[high] = partner
        for _ in range(2):
            master = master[master]
        corner = np.flatnonzero((np.abs(x - x0) < tol) & (np.abs(y - y0) < tol))
        if len(corner) != 1:
            raise ValueError(f"expected one node at the lower-left corner ({x0:g}, {y0:g}), found {len(corner)}")
        self.fixed_node = int(corner[0])
        independent = np.setdiff1d(np.unique(master), [self.fixed_node])
        index = np.full(self.n_nodes, -1, dtype=np.int64)
        index[independent] = np.arange(len(independent))
        self.node_master = master
        self.n_free = 2 * len(independent)
        keep = index[master] >= 0
        nodes = np.flatnonzero(keep)
        rows = np.concatenate([2 * nodes, 2 * nodes + 1])
        cols = np.concatenate([2 * index[master[nodes]], 2 * index[master[nodes]] + 1])
        self.P = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(self.n_dofs, self.n_free))
        self.BP = (self.B @ self.P).tocsr()
        w3 = sp.diags(np.repeat(self.gauss_weights, 3))
        self.G = (self.BP.T @ w3).tocsr()

    def _build_laws(self):
        n = self.n_gauss
        K, c1, c2, twoG = np.zeros(n), np.zeros(n), np.ones(n), np.zeros(n)
        nonlinear = np.zeros(n, dtype=bool)
        for mid, spec in self.materials.items():
            at = self.gauss_material == mid
            K[at] = spec["K"]
            if spec["law"] == "matrix":
                c1[at], c2[at] = spec["c1"], spec["c2"]
                nonlinear[at] = True
            else:
                twoG[at] = 2.0 * spec["G"]
        self._law = {"K": K, "c1": c1, "c2": c2, "twoG": twoG}
        self._nonlinear = nonlinear
        self._torch_law = {}

    # -------------------------------------------------------------- kinematics

    def macro_displacement(self, strain):
        """Affine displacement of macro strains, ``u = eps_bar x`` (the matrix product with the position).

        Parameters
        ----------
        strain : array_like, shape (..., 3)
            :math:`(\\varepsilon_{xx}, \\varepsilon_{yy}, \\gamma_{xy})`; the shear
            is split symmetrically: ``u_x = e_xx x + gamma/2 y``,
            ``u_y = gamma/2 x + e_yy y``.

        Returns
        -------
        ndarray, shape (..., n_dofs)
            Node-major (``u[..., 2 * node + component]``).
        """
        e = np.asarray(strain, dtype=np.float64)
        if e.shape[-1:] != (3,):
            raise ValueError(f"strain must have a last dimension of 3 (xx, yy, xy), got shape {e.shape}")
        x, y = self.nodes[:, 0], self.nodes[:, 1]
        ux = e[..., 0:1] * x + 0.5 * e[..., 2:3] * y
        uy = 0.5 * e[..., 2:3] * x + e[..., 1:2] * y
        return np.stack([ux, uy], axis=-1).reshape(e.shape[:-1] + (self.n_dofs,))

    def homogenise(self, stress):
        """Volume average over the Gauss points.

        Parameters
        ----------
        stress : ndarray or torch.Tensor, shape (..., n_gauss, 3)

        Returns
        -------
        same type, shape (..., 3)
        """
        xp, is_torch = _xp_of(stress)
        w = self._param(self.gauss_weights, stress) if is_torch else self.gauss_weights
        return (stress * w[:, None]).sum(-2) / self.volume

    # -------------------------------------------------------------- laws

    def _param(self, value, like):
        import torch

        key = (id(value), like.dtype, like.device)
        cached = self._torch_law.get(key)
        if cached is None:
            cached = torch.as_tensor(value, dtype=like.dtype, device=like.device)
            self._torch_law[key] = cached
        return cached

    def _check_strain(self, strain):
        if tuple(strain.shape[-2:]) != (self.n_gauss, 3):
            raise ValueError(f"strain must have shape (..., n_gauss={self.n_gauss}, 3), got {tuple(strain.shape)}")

    def _parts(self, strain):
        xp, is_torch = _xp_of(strain)
        law = {k: self._param(v, strain) for k, v in self._law.items()} if is_torch else self._law
        exx, eyy, gxy = strain[..., 0], strain[..., 1], strain[..., 2]
        tr = exx + eyy
        dxx, dyy, dzz, dxy = exx - tr / 3.0, eyy - tr / 3.0, -tr / 3.0, 0.5 * gxy
        s = xp.sqrt(dxx * dxx + dyy * dyy + dzz * dzz + 2.0 * dxy * dxy + DEV_NORM_FLOOR**2)
        g = law["c1"] / (law["c2"] + s) + law["twoG"]
        return xp, law, tr, (dxx, dyy, dxy), s, g

    def stress(self, strain):
        r"""Stress at each Gauss point by its material (numpy or differentiable torch).

        Parameters
        ----------
        strain : ndarray or torch.Tensor, shape (..., n_gauss, 3)
            :math:`(\varepsilon_{xx}, \varepsilon_{yy}, \gamma_{xy})`.

        Returns
        -------
        same type, shape (..., n_gauss, 3)
            :math:`(\sigma_{xx}, \sigma_{yy}, \sigma_{xy})`.
        """
        self._check_strain(strain)
        xp, law, tr, (dxx, dyy, dxy), s, g = self._parts(strain)
        p = law["K"] * tr
        parts = [p + g * dxx, p + g * dyy, g * dxy]
        return xp.stack(parts, -1) if xp is np else xp.stack(parts, dim=-1)

    def tangent(self, strain):
        r"""Consistent tangent :math:`\partial\sigma/\partial\hat\varepsilon` at each Gauss point (closed form).

        :math:`D = K\,m m^T + g\,P_{dev} - \frac{c_1}{(c_2 + s)^2 s}\,v v^T`,
        :math:`m = (1, 1, 0)`, :math:`v = (d_{xx}, d_{yy}, d_{xy})` the
        in-plane deviatoric strain, :math:`g = c_1/(c_2 + s)` (``2G`` and no
        last term for the linear law); symmetric.

        Parameters
        ----------
        strain : ndarray, shape (..., n_gauss, 3)

        Returns
        -------
        ndarray, shape (..., n_gauss, 3, 3)
        """
        strain = np.asarray(strain, dtype=np.float64)
        self._check_strain(strain)
        _, law, tr, (dxx, dyy, dxy), s, g = self._parts(strain)
        v = np.stack([dxx, dyy, dxy], axis=-1)
        h = law["c1"] / ((law["c2"] + s) ** 2 * s)
        D = law["K"][..., None, None] * np.outer(_VOIGT_M, _VOIGT_M) + g[..., None, None] * _P_DEV
        return D - h[..., None, None] * v[..., :, None] * v[..., None, :]

    # -------------------------------------------------------------- scikit-fem

    def to_skfem(self):
        """The same mesh as a scikit-fem ``MeshQuad2`` with a scalar quadratic basis.

        The quad8 geometry is given its serendipity centre point, so the
        nine-node isoparametric map of scikit-fem is the same map.

        Returns
        -------
        basis : skfem.Basis
            ``ElementQuadS2`` (quad8) or ``ElementQuad2`` (quad9) on the mesh.
        dof_of_node : ndarray of int, shape (n_nodes,)
            The basis DOF of each node of this RVE.
        """
        from skfem import Basis, ElementQuad2, ElementQuadS2, MeshQuad1, MeshQuad2

        conn = self.connectivity
        corners = np.unique(conn[:, :4])
        vertex = np.full(self.n_nodes, -1, dtype=np.int64)
        vertex[corners] = np.arange(len(corners))
        t = vertex[conn[:, :4]].T
        m1 = MeshQuad1(self.nodes[corners].T, t)
        if not np.array_equal(m1.t, t):
            raise RuntimeError("scikit-fem reordered the element corners; cannot map the nodes")
        facet_node = np.full(m1.facets.shape[1], -1, dtype=np.int64)
        for k in range(4):
            facet_node[m1.t2f[k]] = conn[:, 4 + k]
        if self.element_type == "quad9":
            centre = self.nodes[conn[:, 8]]
        else:
            centre = 0.5 * self.nodes[conn[:, 4:8]].sum(axis=1) - 0.25 * self.nodes[conn[:, :4]].sum(axis=1)
        doflocs = np.concatenate([self.nodes[corners], self.nodes[facet_node], centre]).T
        mesh = MeshQuad2(doflocs, t)
        basis = Basis(mesh, ElementQuad2() if self.element_type == "quad9" else ElementQuadS2(), intorder=4)
        dof_of_node = np.full(self.n_nodes, -1, dtype=np.int64)
        dof_of_node[corners] = basis.nodal_dofs[0]
        dof_of_node[facet_node] = basis.facet_dofs[0]
        if self.element_type == "quad9":
            dof_of_node[conn[:, 8]] = basis.interior_dofs[0]
        return basis, dof_of_node

    # -------------------------------------------------------------- datasets

    @classmethod
    def from_dataset(cls, ds, materials=None):
        """Rebuild the RVE from any Dataset carrying the mesh (e.g. an ``elasticity_rve`` file).

        Parameters
        ----------
        ds : xarray.Dataset
            With ``nodes``, ``connectivity``, ``material_id`` and the
            attributes ``element_type`` and ``materials``.
        materials : dict, optional
            Overrides ``ds.attrs["materials"]``.

        Returns
        -------
        PeriodicRVE
        """
        missing = [v for v in ("nodes", "connectivity", "material_id") if v not in ds.variables]
        if missing:
            raise ValueError(f"the Dataset carries no RVE mesh: variables {missing} are missing")
        return cls(ds, materials)

    def to_dataset(self):
        """The mesh Dataset (``nodes``, ``connectivity``, ``material_id``, attributes).

        Returns
        -------
        xarray.Dataset
        """
        return _mesh_dataset(self.nodes, self.connectivity, self.material_id, self.element_type, self.materials)

    def __repr__(self):
        return (
            f"PeriodicRVE({self.n_elements} {self.element_type} elements, {self.n_nodes} nodes, "
            f"{self.n_free} free dofs, materials {sorted(self.materials)})"
        )

"""opkit.physics.rve: meshes, kinematics and the constitutive laws of the periodic RVE."""

import numpy as np
import pytest

from opkit.physics import PeriodicRVE, circular_fibre_mesh, read_equino_csv, rectangular_mesh
from opkit.physics.rve import DEFAULT_MATERIALS, gauss_rule, shape_functions


@pytest.fixture(scope="module")
def rve():
    return PeriodicRVE(circular_fibre_mesh(8))


def _strains(rve, seed=0, scale=0.04):
    return np.random.default_rng(seed).uniform(-scale, scale, (rve.n_gauss, 3))


@pytest.mark.parametrize("element_type", ["quad8", "quad9"])
def test_shape_functions_partition_unity_and_interpolate_nodes(element_type):
    points, _ = gauss_rule(3)
    N, dN = shape_functions(element_type, points)
    np.testing.assert_allclose(N.sum(axis=1), 1.0, atol=1e-14)
    np.testing.assert_allclose(dN.sum(axis=1), 0.0, atol=1e-14)
    n_local = N.shape[1]
    ref = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [0, -1], [1, 0], [0, 1], [-1, 0], [0, 0]], float)[:n_local]
    N_nodes, _ = shape_functions(element_type, ref)
    np.testing.assert_allclose(N_nodes, np.eye(n_local), atol=1e-14)


@pytest.mark.parametrize("element_type", ["quad8", "quad9"])
def test_circular_fibre_mesh_has_unit_volume_and_the_fibre_fraction(element_type):
    rve = PeriodicRVE(circular_fibre_mesh(8, volume_fraction=0.3, element_type=element_type))
    assert rve.volume == pytest.approx(1.0, abs=1e-13)
    fibre = rve.gauss_weights[rve.gauss_material == 1].sum()
    assert fibre == pytest.approx(0.3, rel=1e-4)  # quadratic interface: close to the circle's area
    np.testing.assert_allclose(rve.bounds, [[-0.5, 0.5], [-0.5, 0.5]])


def test_mesh_is_periodic_node_for_node(rve):
    x, y = rve.nodes.T
    for c, o in ((x, y), (y, x)):
        low, high = np.sort(o[np.isclose(c, -0.5)]), np.sort(o[np.isclose(c, 0.5)])
        assert len(low) == len(high) > 2
        np.testing.assert_array_equal(low, high)  # exactly the same coordinates


def test_B_of_an_affine_displacement_is_the_constant_strain(rve):
    e = np.array([0.013, -0.021, 0.034])
    strain = (rve.B @ rve.macro_displacement(e)).reshape(-1, 3)
    np.testing.assert_allclose(strain, np.broadcast_to(e, strain.shape), atol=1e-15)
    assert rve.B.shape == (3 * rve.n_gauss, rve.n_dofs)


def test_periodic_map_fixes_the_corner_and_copies_opposite_edges(rve):
    a = np.random.default_rng(1).standard_normal(rve.n_free)
    u = (rve.P @ a).reshape(-1, 2)
    x, y = rve.nodes.T
    corners = np.isclose(np.abs(x), 0.5) & np.isclose(np.abs(y), 0.5)
    np.testing.assert_array_equal(u[corners], 0.0)
    for c, o in ((x, y), (y, x)):
        low, high = np.flatnonzero(np.isclose(c, -0.5)), np.flatnonzero(np.isclose(c, 0.5))
        np.testing.assert_array_equal(u[low[np.argsort(o[low])]], u[high[np.argsort(o[high])]])
    assert rve.P.shape == (rve.n_dofs, rve.n_free)
    assert rve.G.shape == (rve.n_free, 3 * rve.n_gauss)


def test_equilibrium_operator_annihilates_a_constant_stress(rve):
    # Periodic boundary tractions of a uniform stress cancel.
    sigma = np.broadcast_to([3.0, -2.0, 1.5], (rve.n_gauss, 3))
    assert np.abs(rve.G @ sigma.ravel()).max() < 1e-12


def test_tangent_equals_finite_differences_of_stress_and_is_symmetric(rve):
    x = _strains(rve)
    x[:9] = 0.0  # zero strain too: the smoothed norm keeps it finite
    D = rve.tangent(x)
    assert np.isfinite(D).all()
    h = 1e-7
    for j in range(3):
        dx = np.zeros(3)
        dx[j] = h
        fd = (rve.stress(x + dx) - rve.stress(x - dx)) / (2 * h)
        np.testing.assert_allclose(fd, D[..., :, j], atol=1e-9 * np.abs(D).max())
    np.testing.assert_allclose(D, np.swapaxes(D, -1, -2), atol=1e-12 * np.abs(D).max())


def test_linear_fibre_tangent_is_the_plane_strain_stiffness(rve):
    K, G = DEFAULT_MATERIALS[1]["K"], DEFAULT_MATERIALS[1]["G"]
    lam = K - 2 * G / 3
    D = rve.tangent(_strains(rve))[rve.gauss_material == 1]
    expected = np.array([[lam + 2 * G, lam, 0], [lam, lam + 2 * G, 0], [0, 0, G]])
    np.testing.assert_allclose(D, np.broadcast_to(expected, D.shape), rtol=1e-12, atol=1e-9)


def test_torch_and_numpy_give_the_same_stress_and_autograd_the_tangent(rve):
    torch = pytest.importorskip("torch")
    x = _strains(rve, seed=2)[None].repeat(2, axis=0)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    st = rve.stress(xt)
    np.testing.assert_allclose(st.detach().numpy(), rve.stress(x), rtol=1e-14, atol=1e-12)
    # d sigma_xx / d eps at every Gauss point (the laws act point-wise)
    (grad,) = torch.autograd.grad(st[..., 0].sum(), xt)
    np.testing.assert_allclose(grad.numpy(), rve.tangent(x)[..., 0, :], rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(rve.homogenise(st).detach().numpy(), rve.homogenise(rve.stress(x)), rtol=1e-14)


def test_dataset_round_trip(rve):
    ds = rve.to_dataset()
    again = PeriodicRVE.from_dataset(ds)
    np.testing.assert_array_equal(again.nodes, rve.nodes)
    assert again.materials == rve.materials
    assert (again.B != rve.B).nnz == 0


def test_read_equino_csv(tmp_path):
    mesh = rectangular_mesh(np.linspace(-0.5, 0.5, 4), material_id=lambda x, y: (np.abs(x) < 0.2).astype(int))
    nodes, conn, mid = mesh.nodes.values, mesh.connectivity.values, mesh.material_id.values
    np.savetxt(tmp_path / "nodes.csv", nodes, delimiter=",", fmt="%.17g")
    rows = np.column_stack([np.arange(1, len(conn) + 1), mid + 1, conn + 1])
    np.savetxt(tmp_path / "elements.csv", rows, delimiter=",", fmt="%d")
    back = read_equino_csv(tmp_path / "nodes.csv", tmp_path / "elements.csv")
    np.testing.assert_array_equal(back.connectivity.values, conn)
    np.testing.assert_array_equal(back.material_id.values, mid)
    np.testing.assert_array_equal(back.nodes.values, nodes)


def test_bad_meshes_are_refused_with_the_culprit_named():
    mesh = rectangular_mesh(np.linspace(-0.5, 0.5, 4))
    moved = mesh.copy(deep=True)
    x = moved.nodes.values
    right = np.flatnonzero(np.isclose(x[:, 0], 0.5) & np.isclose(x[:, 1], 0.0))
    x[right, 1] += 0.01  # no partner on the left edge any more (still inside its elements)
    with pytest.raises(ValueError, match=r"not periodic.*\(0\.5, 0\.01"):
        PeriodicRVE(moved)
    flipped = mesh.copy(deep=True)
    conn = flipped.connectivity.values
    conn[3] = conn[3][[0, 3, 2, 1, 7, 6, 5, 4]]  # clockwise
    with pytest.raises(ValueError, match=r"inverted.*elements 3"):
        PeriodicRVE(flipped)
    unknown = mesh.copy(deep=True)
    unknown.material_id.values[5] = 7
    with pytest.raises(ValueError, match=r"material_id \[7\] \(first at element 5\)"):
        PeriodicRVE(unknown)
    with pytest.raises(ValueError, match="law"):
        PeriodicRVE(mesh, materials={0: {"law": "plastic", "K": 1.0}})


@pytest.mark.parametrize("element_type", ["quad8", "quad9"])
def test_gradients_match_scikit_fem(element_type):
    # The scalar stiffness sum_g w (dN_i/dx dN_j/dx + dN_i/dy dN_j/dy) from B equals scikit-fem's.
    pytest.importorskip("skfem")
    from skfem import BilinearForm
    from skfem.helpers import dot, grad

    rve = PeriodicRVE(circular_fibre_mesh(4, element_type=element_type))
    basis, dof = rve.to_skfem()

    @BilinearForm
    def laplace(u, v, w):
        return dot(grad(u), grad(v))

    K_ref = laplace.assemble(basis).toarray()[np.ix_(dof, dof)]
    B = rve.B.tocsr()
    w = np.repeat(rve.gauss_weights, 1)
    Bx, By = B[0::3][:, 0::2], B[1::3][:, 1::2]
    K = (Bx.T @ (Bx.multiply(w[:, None])) + By.T @ (By.multiply(w[:, None]))).toarray()
    np.testing.assert_allclose(K, K_ref, atol=1e-11 * np.abs(K_ref).max())

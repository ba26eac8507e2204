"""
FE² with EquiNO as the micro-scale material
===========================================

In FE² every Gauss point of a macro finite-element mesh is a representative
volume element (RVE): its stress and consistent tangent come from solving a
periodic micro problem at the macro strain of that point, at every Newton
iteration. Here a small plane-strain bar of a fibre composite, clamped on the
left and pulled and sheared on the right, is solved twice on the same coarse
macro mesh: once with the full FE² answer (each macro Gauss point calls the
RVE finite-element solver ``solvers.elasticity_rve``), once with
:class:`opkit.EquiNO` trained on a few RVE snapshots, whose ``predict`` and
``tangent`` serve all macro Gauss points in one batched call. Strain is
``[e_xx, e_yy, gamma_xy]`` (engineering shear), stress ``[s_xx, s_yy, s_xy]``
in MPa, lengths in mm (forces per mm of thickness).
"""

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from scipy.stats import qmc
from skfem import Basis, BilinearForm, ElementQuad1, ElementVector, LinearForm, MeshQuad, asm, condense
from skfem import solve as solve_linear

from opkit import EquiNO
from opkit.physics import PeriodicRVE, circular_fibre_mesh
from solvers.elasticity_rve import solve

LABELS = ["xx", "yy", "xy"]

# %%
# The micro scale: a coarse periodic cell with one stiff circular fibre in a
# nonlinear matrix. EquiNO takes its bases from 24 finite-element snapshots at
# Latin-hypercube macro strains in ``[-0.04, 0.04]^3`` and learns from the
# constitutive mismatch at 64 collocation strains (Adam, then L-BFGS): a small
# budget that keeps the example quick.
start = time.perf_counter()
rve = PeriodicRVE(circular_fibre_mesh(n=8))
train = qmc.scale(qmc.LatinHypercube(d=3, seed=0).random(24), [-0.04] * 3, [0.04] * 3)
fe_train = solve(rve, train)
snapshots = rve.to_dataset()
snapshots["macro_strain"] = xr.DataArray(train, dims=("sample", "strain"), coords={"strain": LABELS})
snapshots["displacement"] = (("sample", "node", "component"), fe_train["displacement"])
snapshots["stress"] = (("sample", "gauss_point", "strain"), fe_train["stress"])
est = EquiNO(n_modes=10, hidden=(64, 64), n_collocation=64, max_epochs=100, batch_size=32, learning_rate=3e-3,
             lbfgs_iter=200, random_state=0, device="cpu")
est.fit(snapshots=snapshots)
offline = time.perf_counter() - start
print(f"snapshots and EquiNO fit (offline, once): {offline:.1f} s")

# %%
# The macro scale: a 2 x 1 mm bar, 4 x 2 bilinear quadrilaterals with 2 x 2
# Gauss points (32 macro Gauss points), written with scikit-fem. ``solve_macro``
# runs Newton's method over load steps for any material given as a function
# ``law(strains (n, 3)) -> (stresses (n, 3), tangents (n, 3, 3))`` of all macro
# Gauss points at once; the right edge moves by ``delta * (1, 0.5)``.
mesh = MeshQuad.init_tensor(np.linspace(0.0, 2.0, 5), np.linspace(0.0, 1.0, 3))
basis = Basis(mesh, ElementVector(ElementQuad1()), intorder=2)
left = basis.get_dofs(lambda x: np.isclose(x[0], 0.0))
right = basis.get_dofs(lambda x: np.isclose(x[0], 2.0))
fixed = np.concatenate([left.all(), right.all()])
shape = (basis.nelems, basis.X.shape[1])  # (element, Gauss point)


def voigt(grad):
    """Engineering strain [e_xx, e_yy, gamma_xy] of a displacement gradient (2, 2, ...)."""
    return np.array([grad[0, 0], grad[1, 1], grad[0, 1] + grad[1, 0]])


@LinearForm
def internal_force(v, w):
    return sum(w.s[i] * voigt(v.grad)[i] for i in range(3))


@BilinearForm
def stiffness(u, v, w):
    eu, ev = voigt(u.grad), voigt(v.grad)
    return sum(ev[i] * w.C[i, j] * eu[j] for i in range(3) for j in range(3))


def macro_strain(u):
    """(n_gauss, 3) strains of the macro displacement ``u`` at all macro Gauss points."""
    return voigt(basis.interpolate(u).grad).reshape(3, -1).T


def solve_macro(law, deltas, tol=1e-8, max_iterations=15):
    """Newton's method with the consistent tangent of ``law`` for each imposed displacement in ``deltas``.

    Returns the displacements (step, n_dofs), the x and y reaction forces on
    the right edge (step, 2), the macro strain and stress at the last step
    (n_gauss, 3) and the Newton iterations of each step.
    """
    u, history, iterations = basis.zeros(), [], []
    for delta in deltas:
        u[right.nodal["u^1"]], u[right.nodal["u^2"]] = delta, 0.5 * delta
        for it in range(1, max_iterations + 1):
            strain = macro_strain(u)
            stress, tangent = law(strain)
            f = asm(internal_force, basis, s=stress.T.reshape(3, *shape))
            residual = np.delete(f, fixed)
            if np.linalg.norm(residual) <= tol * np.linalg.norm(f):
                break
            K = asm(stiffness, basis, C=np.transpose(tangent, (1, 2, 0)).reshape(3, 3, *shape))
            u += solve_linear(*condense(K, -f, D=fixed))
        else:
            raise RuntimeError(f"macro Newton did not converge at delta = {delta}")
        iterations.append(it - 1)
        history.append((u.copy(), [f[right.nodal["u^1"]].sum(), f[right.nodal["u^2"]].sum()]))
    displacement = np.array([h[0] for h in history])
    return displacement, np.array([h[1] for h in history]), strain, stress, iterations


def equino_law(strain):
    return est.predict(strain), est.tangent(strain)


def fe2_law(strain):
    out = solve(rve, strain, n_increments=1)
    return out["macro_stress"], out["tangent"]


# %%
# Both FE² solves on the same macro mesh and the same two load steps, up to a
# 0.04 mm end displacement, each timed. The material has no history, so the
# answer at a load does not depend on the steps taken to it: EquiNO, being
# cheap, also traces the load–displacement curve in eight steps. The
# difference between the two is EquiNO's fitting error alone (same macro mesh,
# same Newton tolerance); it is largest at small loads: the constitutive
# mismatch EquiNO minimises is measured against the stress scale of the whole
# training range, so the small stresses of small strains weigh little, and
# the nonlinear matrix is stiffest there.
deltas = np.array([0.02, 0.04])
timings, results = {}, {}
for name, law in (("EquiNO FE²", equino_law), ("full FE²", fe2_law)):
    start = time.perf_counter()
    results[name] = solve_macro(law, deltas)
    timings[name] = time.perf_counter() - start
    print(f"{name}: {timings[name]:.2f} s, macro Newton iterations per step {results[name][4]}")
u_eq, force_eq, strain_eq, stress_eq, _ = results["EquiNO FE²"]
u_fe, force_fe, strain_fe, stress_fe, _ = results["full FE²"]
fine = np.linspace(0.005, 0.04, 8)
force_curve = solve_macro(equino_law, fine)[1]
print(f"largest macro strain component: {np.abs(strain_fe).max():.4f} (EquiNO trained on |strain| <= 0.04)")
for k, delta in enumerate(deltas):
    rel_force = np.abs(force_eq[k] - force_fe[k]) / np.abs(force_fe[k])
    rel_u = np.abs(u_eq[k] - u_fe[k]).max() / np.abs(u_fe[k]).max()
    print(f"delta = {delta} mm: reaction force (N/mm) full FE² ({force_fe[k, 0]:.2f}, {force_fe[k, 1]:.3f}), "
          f"EquiNO FE² ({force_eq[k, 0]:.2f}, {force_eq[k, 1]:.3f}), difference {100 * rel_force[0]:.1f} % (x), "
          f"{100 * rel_force[1]:.1f} % (y); displacement field {100 * rel_u:.2f} % (max |difference| / max |u|)")
rel_stress = np.abs(stress_eq - stress_fe).max(0) / np.abs(stress_fe).max(0)
print("Gauss-point stress at full load, max |difference| / max |stress|: "
      + ", ".join(f"s_{c} {100 * e:.1f} %" for c, e in zip(LABELS, rel_stress)))
print(f"speed-up of the macro solve: {timings['full FE²'] / timings['EquiNO FE²']:.0f}x; with the offline "
      f"snapshots and fit counted: {timings['full FE²'] / (timings['EquiNO FE²'] + offline):.1f}x")

# %%
# Load–displacement curves of both (the full FE² at its two load steps).
fig, ax = plt.subplots(figsize=(5, 3.4), constrained_layout=True)
for k, (label, marker) in enumerate((("$F_x$", "o"), ("$F_y$", "s"))):
    ax.plot(np.r_[0, deltas], np.r_[0, force_fe[:, k]], marker, mfc="none", color=f"C{k}", label=f"{label} full FE²")
    ax.plot(np.r_[0, fine], np.r_[0, force_curve[:, k]], "-", color=f"C{k}", label=f"{label} EquiNO FE²")
ax.set_xlabel("end displacement $\\delta$ (mm), $u = \\delta\\,(1, 0.5)$")
ax.set_ylabel("reaction force on the right edge (N/mm)")
ax.legend(fontsize=8)

# %%
# The macro stress ``s_xx`` at the 32 Gauss points at full load (dots; the
# element edges in grey) and the difference of the two.
x, y = basis.global_coordinates().value.reshape(2, -1)
fig, axes = plt.subplots(1, 3, figsize=(13, 2.8), constrained_layout=True)
limits = dict(vmin=min(stress_fe[:, 0].min(), stress_eq[:, 0].min()),
              vmax=max(stress_fe[:, 0].max(), stress_eq[:, 0].max()))
for ax, values, title, kw in ((axes[0], stress_fe[:, 0], "full FE² $\\sigma_{xx}$", limits),
                              (axes[1], stress_eq[:, 0], "EquiNO FE² $\\sigma_{xx}$", limits),
                              (axes[2], stress_eq[:, 0] - stress_fe[:, 0], "EquiNO FE² $-$ full FE²", {})):
    image = ax.tripcolor(x, y, values, shading="gouraud", **kw)
    for element in mesh.t.T:
        ax.plot(*mesh.p[:, np.r_[element, element[0]]], color="0.6", lw=0.5)
    ax.plot(x, y, "k.", ms=2)
    ax.set_aspect("equal")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="MPa")

# %%
# The micro scale behind the most strained macro Gauss point: the RVE stress
# ``s_xx`` of the finite-element solver and EquiNO's equilibrated stress.
k = int(np.argmax(np.abs(strain_fe).max(1)))
micro_fe = solve(rve, strain_fe[k])["stress"][0, :, 0]
fields = est.predict_fields(strain_fe[k:k + 1])
micro_eq = fields.stress.values[0, :, 0]
gx, gy = fields.gauss_x.values, fields.gauss_y.values
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), constrained_layout=True)
limits = dict(vmin=min(micro_fe.min(), micro_eq.min()), vmax=max(micro_fe.max(), micro_eq.max()))
for ax, values, title, kw in ((axes[0], micro_fe, "RVE FE $\\sigma_{xx}$", limits),
                              (axes[1], micro_eq, "EquiNO $\\sigma_{xx}$", limits),
                              (axes[2], micro_eq - micro_fe, "EquiNO $-$ FE", {})):
    image = ax.tripcolor(gx, gy, values, shading="gouraud", **kw)
    ax.set_aspect("equal")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="MPa")
strain = ", ".join(f"{c} {v:+.3f}" for c, v in zip(LABELS, strain_fe[k]))
fig.suptitle(f"Micro stress at macro Gauss point ({x[k]:.2f}, {y[k]:.2f}) mm, macro strain ({strain})")
plt.show()

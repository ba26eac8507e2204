"""EquiNO claims at CPU scale (issue 16): tiny periodic RVE, exact equilibrium, stress and tangent against FE, speed-up.

Run ``python benchmarks/bench_equino.py``. Protocol: a 16 x 16 cell with one circular fibre
(``circular_fibre_mesh(n=16)``, quadratic quadrilaterals), 24 finite-element snapshots at Latin-hypercube
macro strains in [-0.04, 0.04]^3, r = 6 modes, two MLPs of 2 x 32 (swish, float64), 64 collocation strains,
Adam 500 steps (full batch, lr 1e-3) then L-BFGS 300 iterations; 16 test strains (another Latin hypercube).

Printed: the relative discrete equilibrium residual for random strains (target <= 1e-12), the largest
deviation of the opposite-edge displacement jump from eps_bar . L, the homogenised-stress error against FE per
test strain (median and max, relative Euclidean, and per component; target 2 %), the AD tangent against
central differences of ``predict`` (target 1e-6) and against the FE tangent, and the wall time of ``predict``
and ``tangent`` per strain against one FE solve as a ratio, measured in the same run. ``--cells``,
``--modes``, ``--hidden``, ``--snapshots`` change the protocol (e.g. towards the published r = 16, 4 x 64).
Timings on a shared machine are provisional.
"""

import argparse
import time

import numpy as np
import torch
import xarray as xr
from scipy.stats import qmc

from opkit import EquiNO
from opkit.physics import PeriodicRVE, circular_fibre_mesh
from solvers.elasticity_rve import solve

LABELS = ["xx", "yy", "xy"]


def lhs(n, seed, half=0.04):
    """``n`` Latin-hypercube macro strains in [-half, half]^3."""
    return qmc.scale(qmc.LatinHypercube(d=3, seed=seed).random(n), [-half] * 3, [half] * 3)


def as_strains(values):
    return xr.DataArray(values, dims=("sample", "strain"), coords={"sample": np.arange(len(values)), "strain": LABELS})


def snapshot_dataset(rve, strains, out):
    """The FE solutions ``out`` of :func:`solve` with the mesh, as EquiNO reads snapshots."""
    ds = rve.to_dataset()
    ds["macro_strain"] = as_strains(strains)
    ds["displacement"] = (("sample", "node", "component"), np.asarray(out["displacement"]))
    ds["stress"] = (("sample", "gauss_point", "strain"), np.asarray(out["stress"]))
    return ds


def timed(fn, repeat=5):
    """Best wall time of ``repeat`` calls of ``fn`` and its last result."""
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def edge_jump_error(rve, strains, disp):
    """Largest |u(high edge) - u(low edge) - eps_bar . e L| over both directions and all samples (L = 1)."""
    nodes = np.asarray(rve.to_dataset()["nodes"].values)
    worst = 0.0
    for axis in (0, 1):
        low = np.flatnonzero(np.isclose(nodes[:, axis], -0.5))
        high = np.flatnonzero(np.isclose(nodes[:, axis], 0.5))
        low, high = low[np.argsort(nodes[low, 1 - axis])], high[np.argsort(nodes[high, 1 - axis])]
        e = strains
        expected = np.stack([e[:, 0], e[:, 2] / 2], -1) if axis == 0 else np.stack([e[:, 2] / 2, e[:, 1]], -1)
        worst = max(worst, float(np.abs(disp[:, high] - disp[:, low] - expected[:, None]).max()))
    return worst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=16, help="elements per side of the cell")
    parser.add_argument("--modes", type=int, default=6)
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 32])
    parser.add_argument("--snapshots", type=int, default=24)
    parser.add_argument("--collocation", type=int, default=64)
    parser.add_argument("--adam", type=int, default=500, help="Adam steps (full batch)")
    parser.add_argument("--lbfgs", type=int, default=300, help="L-BFGS iterations")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--scheduler", default="constant")
    parser.add_argument("--loss-scaling", default="component", choices=("component", "global"))
    parser.add_argument("--plain-gauss-points", action="store_true",
                        help="every Gauss point alike in the loss (gauss_weighting=False, the published mean)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    rve = PeriodicRVE(circular_fibre_mesh(n=args.cells))
    print(f"RVE: {args.cells} x {args.cells} cell, {rve.n_nodes} nodes, {rve.n_gauss} Gauss points", flush=True)
    train_strains, test_strains = lhs(args.snapshots, 0), lhs(16, 1)
    start = time.perf_counter()
    train_fe = solve(rve, train_strains)
    fe_snapshots = time.perf_counter() - start
    print(f"FE snapshots: {args.snapshots} solves in {fe_snapshots:.1f} s", flush=True)
    test_fe = solve(rve, test_strains)
    fe_one, _ = timed(lambda: solve(rve, test_strains[:1]), repeat=3)

    est = EquiNO(n_modes=args.modes, hidden=tuple(args.hidden), n_collocation=args.collocation,
                 max_epochs=args.adam, batch_size=args.collocation, learning_rate=args.learning_rate,
                 scheduler=args.scheduler, loss_scaling=args.loss_scaling, gauss_weighting=not args.plain_gauss_points,
                 lbfgs_iter=args.lbfgs, random_state=0, device="cpu")
    start = time.perf_counter()
    est.fit(snapshots=snapshot_dataset(rve, train_strains, train_fe))
    fit_time = time.perf_counter() - start
    adam, lbfgs = (est.stage_history_[s]["train/constitutive"] for s in ("fit", "refine"))
    print(f"fit: {fit_time:.1f} s, {est.n_params_} parameters; constitutive loss {adam[0]:.3e} -> "
          f"{adam[-1]:.3e} (Adam) -> {lbfgs[-1]:.3e} (L-BFGS)", flush=True)

    X = as_strains(test_strains)
    random = as_strains(np.random.default_rng(2).uniform(-0.04, 0.04, (16, 3)))
    print(f"equilibrium residual, 16 random strains: max {est.equilibrium_residual(random).max():.2e} (target 1e-12)")
    fields = est.predict_fields(X)
    print(f"edge jump - eps_bar . L: max {edge_jump_error(rve, test_strains, fields.displacement.values):.2e}")

    pred = est.predict(X).values
    fe = np.asarray(test_fe["macro_stress"])
    rel = np.linalg.norm(pred - fe, axis=1) / np.linalg.norm(fe, axis=1)
    print(f"homogenised stress vs FE, 16 test strains: median {100 * np.median(rel):.2f} %, "
          f"max {100 * rel.max():.2f} % (target 2 %)")
    component = np.abs(pred - fe) / np.abs(fe).max(0)
    print("  per component, |error| / max |sigma_FE|: " + ", ".join(
        f"s_{c} median {100 * np.median(component[:, i]):.2f} % max {100 * component[:, i].max():.2f} %"
        for i, c in enumerate(LABELS)))
    l2 = np.linalg.norm(pred - fe, axis=0) / np.linalg.norm(fe, axis=0)
    print("  per component, relative L2 over the 16 strains: " + ", ".join(
        f"s_{c} {100 * l2[i]:.2f} %" for i, c in enumerate(LABELS)))
    # Micro fields, as the published medians: relative L2 over the Gauss points (weighted), median over samples.
    w = np.asarray(rve.gauss_weights)[None, :]
    micro_fe = np.asarray(test_fe["stress"])
    w = w[..., None]
    micro = np.sqrt((w * (fields.stress.values - micro_fe) ** 2).sum(1) / (w * micro_fe**2).sum(1))
    disp_fe = np.asarray(test_fe["displacement"]) - np.asarray(rve.macro_displacement(test_strains)).reshape(16, -1, 2)
    disp = fields.displacement.values - np.asarray(rve.macro_displacement(test_strains)).reshape(16, -1, 2)
    fluct = np.linalg.norm(disp - disp_fe, axis=1) / np.linalg.norm(disp_fe, axis=1)
    print("micro fields vs FE, median over the 16 strains of the relative L2 over the cell: " + ", ".join(
        f"sigma_{c} {100 * np.median(micro[:, i]):.2f} %" for i, c in enumerate(LABELS)) + ", " + ", ".join(
        f"u_{c} fluctuation {100 * np.median(fluct[:, i]):.2f} %" for i, c in enumerate("xy")))

    tangent = est.tangent(X).values
    h, central = 1e-5, np.zeros_like(tangent)
    for j in range(3):
        step = np.zeros(3)
        step[j] = h
        central[:, :, j] = (est.predict(test_strains + step) - est.predict(test_strains - step)) / (2 * h)
    cd = np.abs(tangent - central).max() / np.abs(tangent).max()
    print(f"tangent vs central differences of predict (h = 1e-5): max {cd:.2e} relative (target 1e-6)")
    fe_tangent = np.asarray(test_fe["tangent"])
    frob = np.linalg.norm(tangent - fe_tangent, axis=(1, 2)) / np.linalg.norm(fe_tangent, axis=(1, 2))
    print(f"tangent vs FE tangent (Frobenius): median {100 * np.median(frob):.2f} %, max {100 * frob.max():.2f} %")

    many = as_strains(lhs(1024, 3))
    t_predict, _ = timed(lambda: est.predict(many))
    t_tangent, _ = timed(lambda: est.tangent(many))
    t_one, _ = timed(lambda: est.predict(X.isel(sample=[0])), repeat=20)
    t_one_np, _ = timed(lambda: est.predict(test_strains[:1]), repeat=20)
    per_predict, per_tangent = t_predict / 1024, t_tangent / 1024
    print(f"one FE solve (Newton, tangent): {1e3 * fe_one:.1f} ms")
    print(f"predict: {1e6 * per_predict:.1f} us per strain in a batch of 1024 (speed-up {fe_one / per_predict:.0f}x), "
          f"{1e6 * t_one:.0f} us for a single strain as a DataArray ({fe_one / t_one:.0f}x), "
          f"{1e6 * t_one_np:.0f} us as a NumPy array ({fe_one / t_one_np:.0f}x)")
    print(f"tangent: {1e6 * per_tangent:.1f} us per strain in a batch of 1024 (speed-up {fe_one / per_tangent:.0f}x)")


if __name__ == "__main__":
    main()

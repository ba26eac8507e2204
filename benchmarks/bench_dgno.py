"""DGNOSolver claims at CPU scale (issue 15): label-free smooth Darcy 29^2, labelled reference, inverse at 25 dB.

Run ``python benchmarks/bench_dgno.py`` (protocol: 200 unlabeled a, 50 labelled test, latent 32, 4 x 64
decoders, 50 centres, 7x7 quadrature, 300 epochs, batch 50) or ``--reduced`` (100 epochs and iterations).
``--batch-size 10`` keeps the epochs but takes five times the optimisation steps. ``--two-phase`` adds the
two-phase problem (mixed form, Bernoulli a-decoder) and its inverse.

Data: ``solvers.darcy`` with f = 10 on 29^2, solved on 57^2: smooth a = exp(g), g the Neumann GRF (alpha 2,
tau 3, 29 modes); two-phase a = 10 | 5 where that GRF is >= 0 | < 0 (the laws of the presets
``dgenno-darcy-smooth`` and ``dgenno-darcy-twophase``).

Every row prints its wall time; timings on a shared machine are provisional. Reference rows: the error of
predicting the mean training solution (a model that ignores a), and the best possible reconstruction of a
from 32 numbers by PCA of the training inputs (a floor for the inverse through a 32-d latent).
"""

import argparse
import time

import numpy as np
import torch
import xarray as xr
from scipy.interpolate import RegularGridInterpolator

from opkit import DGNOSolver
from opkit.metrics import relative_error
from opkit.physics import DarcyWeak
from solvers import darcy
from solvers._cli import compute_chunk


def _data(coefficient, n, seed):
    extra = dict(a_high=10.0, a_low=5.0, threshold=0.0) if coefficient == "threshold" else {}
    params = darcy.SOLVER.resolve(dict(resolution=29, solver_resolution=57, forcing=10.0, coefficient=coefficient,
                                       grf_modes=29, **extra))
    ds = compute_chunk(darcy.SOLVER, params, np.arange(n), seed=seed)
    return ds.isel(sample=slice(0, n - 50)), ds.isel(sample=slice(n - 50, n))


def _observations(test, n_problems, seed=1):
    rng = np.random.default_rng(seed)
    i, j = rng.integers(1, 28, 100), rng.integers(1, 28, 100)
    target = test.isel(sample=slice(0, n_problems))
    obs = xr.DataArray(target.u.values[:, i, j], dims=("sample", "obs"),
                       coords={"x": ("obs", test.x.values[i]), "y": ("obs", test.y.values[j])})
    return target, obs


def _inverse(est, test, n_iter, label):
    target, obs = _observations(test, 5)
    start = time.perf_counter()
    out = est.solve_inverse(obs, snr_db=25, n_iter=n_iter, n_samples=5)
    a_err = relative_error(out.a_mean.assign_coords(sample=target.sample.values), target.a)
    u_err = relative_error(out.u_mean.assign_coords(sample=target.sample.values), target.u)
    print(f"{label:34s} rel. L2(a) {100 * a_err:6.2f} %, u {100 * u_err:5.2f} %  "
          f"({time.perf_counter() - start:.1f} s, {n_iter} iterations, 5 problems x 5 members)", flush=True)


def _pca_floor(train, test, k=32):
    a_tr, a_te = train.a.values.reshape(len(train.sample), -1), test.a.values.reshape(len(test.sample), -1)
    mean = a_tr.mean(0)
    basis = np.linalg.svd(a_tr - mean, full_matrices=False)[2][:k]
    rec = mean + (a_te - mean) @ basis.T @ basis
    return float(np.mean(np.linalg.norm(rec - a_te, axis=1) / np.linalg.norm(a_te, axis=1)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reduced", action="store_true")
    parser.add_argument("--radius", type=float, default=0.02)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--two-phase", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    epochs, n_iter = (100, 100) if args.reduced else (300, 300)
    train, test = _data("lognormal", 250, seed=0)
    common = dict(max_epochs=epochs, batch_size=args.batch_size, encoder_layers=(256, 128), latent_dim=32, width=64,
                  depth=4, random_state=0, device="cpu")
    pde = DarcyWeak(f=10.0, radius=args.radius, n_centers=50, n_quadrature=7)
    steps = epochs * int(np.ceil(len(train.sample) / args.batch_size))
    mean_u = relative_error(xr.zeros_like(test.u) + train.u.mean("sample"), test.u)
    print(f"smooth Darcy 29^2, {len(train.sample)} train / {len(test.sample)} test, {epochs} epochs, batch "
          f"{args.batch_size} ({steps} steps), radius {args.radius}")
    print(f"{'mean training solution':34s} test rel. L2(u) {100 * mean_u:6.2f} %")
    print(f"{'PCA(32) floor for a':34s} test rel. L2(a) {100 * _pca_floor(train, test):6.2f} %")
    free = None
    for name, est, y in (("label-free (y=None)", DGNOSolver(pde, **common), None),
                         ("labelled reference (w_pde=0)", DGNOSolver(pde, w_pde=0.0, **common), train.u)):
        start = time.perf_counter()
        est.fit(train.a, y)
        err = relative_error(est.predict(test.a), test.u)
        losses = est.history_["train_loss"]
        print(f"{name:34s} test rel. L2(u) {100 * err:6.2f} %  ({time.perf_counter() - start:.1f} s; "
              f"train loss {losses[0]:.3g} -> {losses[len(losses) // 2]:.3g} -> {losses[-1]:.3g})", flush=True)
        if y is None:
            free = est
    # Off the grid: predictions at random points against the bilinear interpolant of the solver's u.
    rng = np.random.default_rng(2)
    pts = rng.uniform(0.02, 0.98, (400, 2))
    coords = xr.Dataset(coords={"x": ("point", pts[:, 0]), "y": ("point", pts[:, 1])})
    at = free.predict(test.a, coords=coords).values
    ref = np.stack([RegularGridInterpolator((test.x.values, test.y.values), u)(pts) for u in test.u.values])
    grid_err = relative_error(free.predict(test.a), test.u)
    off = float(np.mean(np.linalg.norm(at - ref, axis=1) / np.linalg.norm(ref, axis=1)))
    print(f"{'label-free, 400 off-grid points':34s} rel. L2 vs interpolated FD {100 * off:6.2f} % "
          f"(on the grid {100 * grid_err:.2f} %)")
    _inverse(free, test, n_iter, "inverse smooth, 100 obs, 25 dB:")

    if args.two_phase:
        train2, test2 = _data("threshold", 250, seed=3)
        pde2 = DarcyWeak(f=10.0, radius=args.radius, n_centers=50, n_quadrature=7, form="mixed",
                         interpolation="nearest")
        est2 = DGNOSolver(pde2, a_likelihood="bernoulli", w_rec=1.0, **common)
        start = time.perf_counter()
        est2.fit(train2.a)
        err2 = relative_error(est2.predict(test2.a), test2.u)
        mean2 = relative_error(xr.zeros_like(test2.u) + train2.u.mean("sample"), test2.u)
        print(f"{'two-phase label-free':34s} test rel. L2(u) {100 * err2:6.2f} %  ({time.perf_counter() - start:.1f} s; "
              f"mean training solution {100 * mean2:.2f} %)", flush=True)
        _inverse(est2, test2, n_iter, "inverse two-phase, 100 obs, 25 dB:")


if __name__ == "__main__":
    main()

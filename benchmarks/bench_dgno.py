"""DGNOSolver claims at CPU scale (issue 15): label-free smooth Darcy 29^2, labelled reference, inverse at 25 dB.

Run ``python benchmarks/bench_dgno.py`` (protocol: 200 unlabeled a, 50 labelled test, latent 32, 4 x 64
decoders, 50 centres, 7x7 quadrature, 300 epochs, batch 50) or ``--reduced`` (fewer epochs and iterations).
Data: ``solvers.darcy`` with f = 10, log-normal a = exp(g), g the Neumann GRF (alpha 2, tau 3, 29 modes),
solved on 57^2 and stored at 29^2.
"""

import argparse
import time

import numpy as np
import torch
import xarray as xr

from opkit import DGNOSolver
from opkit.metrics import relative_error
from opkit.physics import DarcyWeak
from solvers import darcy
from solvers._cli import compute_chunk


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reduced", action="store_true")
    parser.add_argument("--radius", type=float, default=0.02)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    epochs, n_iter = (100, 100) if args.reduced else (300, 300)
    params = darcy.SOLVER.resolve(dict(resolution=29, solver_resolution=57, forcing=10.0,
                                       coefficient="lognormal", grf_modes=29))
    ds = compute_chunk(darcy.SOLVER, params, np.arange(250), seed=0)
    train, test = ds.isel(sample=slice(0, 200)), ds.isel(sample=slice(200, 250))
    common = dict(max_epochs=epochs, batch_size=50, encoder_layers=(256, 128), latent_dim=32, width=64, depth=4,
                  random_state=0, device="cpu")
    pde = DarcyWeak(f=10.0, radius=args.radius, n_centers=50, n_quadrature=7)
    rows = []
    for name, est, y in (("label-free (y=None)", DGNOSolver(pde, **common), None),
                         ("labelled reference", DGNOSolver(pde, w_pde=0.0, **common), train.u)):
        start = time.perf_counter()
        est.fit(train.a, y)
        err = relative_error(est.predict(test.a), test.u)
        rows.append((name, err, time.perf_counter() - start))
        print(f"{name:24s} test rel. L2(u) {100 * err:6.2f} %  ({rows[-1][2]:.1f} s, {epochs} epochs)", flush=True)
        if y is None:
            free = est
    rng = np.random.default_rng(1)
    i, j = rng.integers(1, 28, 100), rng.integers(1, 28, 100)
    target = test.isel(sample=slice(0, 5))
    obs = xr.DataArray(target.u.values[:, i, j], dims=("sample", "obs"),
                       coords={"x": ("obs", test.x.values[i]), "y": ("obs", test.y.values[j])})
    start = time.perf_counter()
    out = free.solve_inverse(obs, snr_db=25, n_iter=n_iter, n_samples=5)
    a_err = relative_error(out.a_mean.assign_coords(sample=target.sample.values), target.a)
    u_err = relative_error(out.u_mean.assign_coords(sample=target.sample.values), target.u)
    print(f"inverse, 100 obs, 25 dB: rel. L2(a) {100 * a_err:.2f} %, u {100 * u_err:.2f} % "
          f"({time.perf_counter() - start:.1f} s, {n_iter} iterations, 5 problems x 5 draws)")


if __name__ == "__main__":
    main()

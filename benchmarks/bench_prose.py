"""PROSE at CPU scale: valid fraction, expression error and data error, multimodal vs data-only.

The protocol of the issue (models.md section 8): Lorenz, Rossler and Thomas in
turn, 2 initial states per drawn equation (``--n-train`` + ``--n-test``
samples from :mod:`solvers.odes`, t in [0, 6] at 192 times, the first 64
observed), the tiny model, AdamW at 1e-3, batch 64, ``--steps`` optimisation
steps; the test skeletons are the true ones corrupted like the training ones
(``p_add = p_delete = 0.15``). Prints one line per model with wall time.

Run ``python benchmarks/bench_prose.py`` (the full protocol: minutes to tens of
minutes on a laptop CPU) or ``--n-train 200 --steps 300`` for a quick look.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from opkit.models._symbols import corrupt_skeleton, skeleton
from opkit.models.prose import PROSE, prose_windows
from solvers import odes
from solvers._cli import compute_chunk


def make_data(families, n_samples, n_times, n_input_times, seed):
    """Generate the trajectories (2 initial states per equation)."""
    params = odes.SOLVER.resolve(dict(families=families, states_per_equation=2, n_times=n_times,
                                      n_input_times=n_input_times))
    ds = compute_chunk(odes.SOLVER, params, np.arange(n_samples), seed=seed)
    ds.attrs.update(odes.global_attrs(params))
    return ds


def with_skeletons(X, y, seed, p=0.15):
    """X plus noisy skeletons of y's true equations (the multimodal input at test time)."""
    rng = np.random.default_rng(seed)
    sk = [" ".join(corrupt_skeleton(skeleton(e), rng, X.sizes["component"], p, p)) for e in y["equation_prefix"].values]
    return X.assign(skeleton=("sample", np.array(sk, dtype=object)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="lorenz,rossler,thomas")
    parser.add_argument("--n-train", type=int, default=800)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-times", type=int, default=192)
    parser.add_argument("--n-input-times", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="multimodal,data-only")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    # Test samples come after the training ones: other equations (same families).
    data = make_data(args.families, args.n_train + args.n_test, args.n_times, args.n_input_times, args.seed)
    print(f"data: {data.sizes['sample']} samples of {args.families} in {time.perf_counter() - t0:.0f} s", flush=True)
    X, y = prose_windows(data)
    train, test = slice(0, args.n_train), slice(args.n_train, None)
    Xtr, ytr, Xte, yte = X.isel(sample=train), y.isel(sample=train), X.isel(sample=test), y.isel(sample=test)
    epochs = max(1, round(args.steps / math.ceil(args.n_train / args.batch_size)))
    print(f"{'model':<11} {'steps':>6} {'valid':>6} {'expr err':>9} {'(median)':>9} {'data err':>9} {'wall s':>7}")
    for name in args.models.split(","):
        multimodal = name == "multimodal"
        model = PROSE(use_skeleton=multimodal, max_epochs=epochs, batch_size=args.batch_size, learning_rate=1e-3,
                      random_state=args.seed, device="cpu")
        t0 = time.perf_counter()
        model.fit(Xtr, ytr)
        wall = time.perf_counter() - t0
        Xeval = with_skeletons(Xte, yte, args.seed + 1) if multimodal else Xte
        s = model.score_symbolic(Xeval, yte)
        steps = epochs * math.ceil(args.n_train / args.batch_size)
        h = model.history_
        print(f"{name:<11} {steps:>6} {s['valid_fraction']:>6.2f} {s['expr_rel_err']:>9.3g} "
              f"{s['expr_rel_err_median']:>9.3g} {s['data_rel_err']:>9.3f} {wall:>7.0f}   (train data term "
              f"{h['train/data'][0]:.3g} -> {h['train/data'][-1]:.3g}, tokens {h['train/tokens'][0]:.3g} -> "
              f"{h['train/tokens'][-1]:.3g})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

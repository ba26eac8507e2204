"""Where the default grid estimators spend the time of a short ``fit``.

Usage::

    python benchmarks/bench_fit_profile.py [--samples 32] [--epochs 2] [--resolution 64] [--threads 2]

For each of ``TFNORegressor``, ``MgNOOperator`` and ``LSMOperator`` (their
defaults, ``random_state=0``) the script fits ``--epochs`` epochs on
``--samples`` Darcy pairs, twice: once to pay the one-off imports (neuraloperator,
``torch._dynamo``, which torch's optimisers import on first use), then under
``cProfile``. It prints the wall time of each fit and how the profiled one
splits into the backward pass, the forward pass (the training step without its
backward), the optimiser step and everything else (input checks, normaliser,
batching, augmentation, history: opkit's own overhead). Data: the embedded
16 x 16 set for ``--resolution 16``, otherwise a fresh ``solvers.darcy`` run
at that resolution (about a second per sample to generate).

The shares are what to read: profiling slows Python-level code a little,
and other processes on the machine slow everything.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: cProfile entries whose cumulative time makes each share (file suffix, function name).
PARTS = {
    "backward": ("torch/_tensor.py", "backward"),
    "forward": ("opkit/training.py", "__call__"),
    "optimizer": ("torch/optim/adam.py", "step"),
}


def darcy_pairs(samples: int, resolution: int):
    """``(a, u)`` DataArrays of ``samples`` Darcy pairs at ``resolution`` points a side."""
    if resolution == 16:
        from opkit.data import load_darcy_small

        train = load_darcy_small("train")
        return train.a.isel(sample=slice(samples)), train.u.isel(sample=slice(samples))
    import xarray as xr

    from solvers import darcy
    from solvers._cli import run_cli

    out = Path(tempfile.mkdtemp()) / "darcy.nc"
    if run_cli(darcy.SOLVER, ["--n-samples", str(samples), "--resolution", str(resolution), "--out", str(out)]):
        raise SystemExit("solvers.darcy failed")
    ds = xr.load_dataset(out)
    return ds.a, ds.u


def cumulative(stats: pstats.Stats, suffix: str, name: str) -> float:
    """Cumulative seconds of the profiled function ``name`` in a file ending in ``suffix``."""
    total = 0.0
    for (filename, _line, function), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        if function == name and filename.endswith(suffix):
            total += ct
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from opkit import LSMOperator, MgNOOperator, TFNORegressor

    a, u = darcy_pairs(args.samples, args.resolution)
    print(f"{args.samples} Darcy pairs at {args.resolution}^2, {args.epochs} epochs, "
          f"{args.threads} threads requested, torch {torch.__version__}")
    print(f"{'estimator':14s} {'first fit':>9s} {'fit':>7s} {'backward':>9s} {'forward':>8s} {'optimizer':>9s} {'other':>7s}")
    for cls in (TFNORegressor, MgNOOperator, LSMOperator):
        started = time.perf_counter()
        cls(max_epochs=args.epochs, random_state=0).fit(a, u)
        first = time.perf_counter() - started
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        cls(max_epochs=args.epochs, random_state=0).fit(a, u)
        profile.disable()
        wall = time.perf_counter() - started
        stats = pstats.Stats(profile)
        total = wall
        shares = {part: cumulative(stats, *where) for part, where in PARTS.items()}
        other = max(total - sum(shares.values()), 0.0)
        cells = " ".join(f"{100 * shares[p] / total:8.0f}%" for p in PARTS)
        print(f"{cls.__name__:14s} {first:8.2f}s {wall:6.2f}s {cells} {100 * other / total:6.0f}%")


if __name__ == "__main__":
    main()

"""Benchmarks of ``solvers.euler``: cell updates per second, and shock-tube accuracy.

Usage::

    python benchmarks/bench_euler.py [--batch 8] [--n 128] [--t-end 0.05] [--stepper ssprk2]
        [--no-accuracy] [--json out.json]

1. **Throughput.** A batch of CE-RP initial states (preset ``pdegym-ce-rp``
   law) on an ``n`` x ``n`` periodic grid, advanced to ``t_end``. A *cell
   update* is one cell advanced by one full time step (all Runge--Kutta
   stages). Printed: cell updates per second of wall time and per second of
   this process's CPU time (numpy's elementwise kernels run on one thread, so
   the CPU figure is the per-thread rate), and the implied cost of one CE-RP
   sample of the preset (256^2 to T = 1), extrapolating the measured steps
   per unit time linearly in the resolution.
2. **Accuracy.** L1 error of the density against the exact Riemann solution
   at t = 0.2 for Sod and modified Sod on 100 ... 800 cells (van Leer,
   SSP-RK2, and the first-order scheme), with the observed orders.

Timings are wall-clock seconds of this process on whatever else the machine
is running: compare ratios, not absolute numbers, across machines.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from solvers import euler  # noqa: E402
from solvers._cli import load_preset  # noqa: E402
from solvers._seed import sample_rngs  # noqa: E402

PROBLEMS = {"sod": ((1.0, 0.0, 1.0), (0.125, 0.0, 0.1), 0.5), "modified-sod": ((1.0, 0.75, 1.0), (0.125, 0.0, 0.1), 0.3)}


def throughput(batch, n, t_end, stepper, repeats=2):
    """Best-of-``repeats`` cell updates per second (wall and CPU) for a CE-RP batch."""
    params = euler.SOLVER.resolve(load_preset("pdegym-ce-rp", "euler")["parameters"])
    w0 = np.stack([np.stack(euler.initial_state(r, params, n)) for r in sample_rngs(0, range(batch))])
    best = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        _, steps = euler.solve(*np.moveaxis(w0, 1, 0), [0.0, t_end], stepper=stepper)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        updates = float(n * n * steps.sum())
        row = {"batch": batch, "n": n, "t_end": t_end, "stepper": stepper, "steps": steps.tolist(),
               "wall_s": wall, "cpu_s": cpu, "updates_per_s_wall": updates / wall, "updates_per_s_cpu": updates / cpu}
        if best is None or wall < best["wall_s"]:
            best = row
    # One preset sample: 256^2 cells, T = 1; steps per unit time grow linearly with n.
    steps_per_time = np.mean(best["steps"]) / t_end * (256 / n)
    best["preset_sample_s_estimate"] = 256 * 256 * steps_per_time / best["updates_per_s_cpu"]
    return best


def accuracy(sizes=(100, 200, 400, 800)):
    """L1 density errors of the shock tubes at t = 0.2 and observed orders."""
    out = {}
    for name, (left, right, x0) in PROBLEMS.items():
        for limiter in ("vanleer", "none"):
            errors = []
            for n in sizes:
                x = (np.arange(n) + 0.5) / n
                state = np.where((x < x0)[:, None], np.array(left), np.array(right))
                rho, u, p = (state[:, k].reshape(n, 1) for k in range(3))
                w, _ = euler.solve(rho, u, np.zeros((n, 1)), p, [0.0, 0.2], boundary="outflow", limiter=limiter)
                exact = euler.exact_riemann(left, right, (x - x0) / 0.2)[0]
                errors.append(float(np.abs(w[0, -1, 0, :, 0] - exact).mean()))
            e = np.array(errors)
            out[f"{name}/{limiter}"] = {"n": list(sizes), "l1": errors, "orders": np.log2(e[:-1] / e[1:]).tolist()}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--t-end", type=float, default=0.05)
    ap.add_argument("--stepper", default="ssprk2", choices=euler.STEPPERS)
    ap.add_argument("--no-accuracy", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    result = {"machine": platform.processor() or platform.machine(), "numpy": np.__version__}
    tp = throughput(args.batch, args.n, args.t_end, args.stepper)
    result["throughput"] = tp
    print(f"CE-RP batch {tp['batch']} at {tp['n']}^2, {tp['stepper']}, to t = {tp['t_end']:g}: "
          f"steps {min(tp['steps'])}-{max(tp['steps'])}, wall {tp['wall_s']:.2f} s, cpu {tp['cpu_s']:.2f} s")
    print(f"  cell updates per second: {tp['updates_per_s_wall'] / 1e6:.3f} M (wall), "
          f"{tp['updates_per_s_cpu'] / 1e6:.3f} M per thread (cpu)")
    print(f"  implied cost of one pdegym-ce-rp sample (256^2, T = 1): ~{tp['preset_sample_s_estimate']:.0f} s per thread")
    if not args.no_accuracy:
        acc = accuracy()
        result["accuracy"] = acc
        print("shock tubes, L1(rho) at t = 0.2:")
        for key, row in acc.items():
            errs = "  ".join(f"{n}: {e:.3e}" for n, e in zip(row["n"], row["l1"]))
            print(f"  {key:22s} {errs}   orders {', '.join(f'{o:.2f}' for o in row['orders'])}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Wall time of one periodic RVE solve (``solvers.elasticity_rve``) at three mesh sizes.

One centred circular fibre (volume fraction 0.3), quad8 elements, the paper's
materials, one macro strain of the tiny preset's design; Newton in two load
increments to ``||R|| <= 1e-10 ||F_ref||`` plus the homogenised tangent by
static condensation, i.e. what one sample of a dataset costs (mesh and
operators built once beforehand, timed apart). BLAS/OpenMP pools are capped
at ``--threads`` (default 2). Prints one row per mesh: elements per side,
elements, nodes, free DOFs, Newton iterations, set-up and solve seconds (best
of ``--repeat``).

Run ``python benchmarks/bench_elasticity_rve.py`` (about a minute) or
``--sizes 8,16,32`` for a quicker look.
"""

from __future__ import annotations

import argparse
import time

from opkit.physics import PeriodicRVE, circular_fibre_mesh
from solvers import elasticity_rve as er
from solvers._runtime import limit_threads


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,36,64", help="elements per cell side, comma separated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--element-type", default="quad8", choices=("quad8", "quad9"))
    args = parser.parse_args(argv)
    strain = er.macro_strains(0, [0])[0]
    print(f"macro strain {strain.round(5).tolist()}, {args.element_type}, {args.threads} threads")
    print(f"{'n':>4} {'elements':>9} {'nodes':>7} {'free dofs':>9} {'iters':>5} {'set-up s':>9} {'solve s':>8}")
    with limit_threads(args.threads):
        for n in (int(s) for s in args.sizes.split(",")):
            t0 = time.perf_counter()
            rve = PeriodicRVE(circular_fibre_mesh(n, element_type=args.element_type))
            setup = time.perf_counter() - t0
            best, iters = float("inf"), 0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                res = er.solve(rve, strain, n_increments=2)
                best = min(best, time.perf_counter() - t0)
                iters = int(res["iterations"][0])
            print(f"{n:>4} {rve.n_elements:>9} {rve.n_nodes:>7} {rve.n_free:>9} {iters:>5} {setup:>9.3f} {best:>8.3f}",
                  flush=True)


if __name__ == "__main__":
    main()

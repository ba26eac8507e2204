"""opkit's Navier--Stokes generator against torch-cfd, at equal accuracy.

Usage::

    python benchmarks/bench_ns_peer.py [--quick] [--sweep] [--kolmogorov]
        [--repeats 3] [--batches 4 64] [--threads 1 2] [--json out.json]

The peer is torch-cfd (``pip install "opkit[bench]"``, i.e. ``torch-cfd==0.2.6``;
its ``NavierStokes2DSpectral`` with ``RK4CrankNicolsonStepper``, the jax-cfd
scheme). Without it the script says so and times opkit alone.

Protocol (preset ``fno-ns-v1e-3``: GRF start, FNO forcing, nu = 1e-3, T = 50,
64^2 solved and stored):

* Both sides start from the same initial vorticity (opkit's draw for the
  run's seed, as the 64^2 field) with the same forcing and viscosity.
* Accuracy: max over the samples and over the snapshots t = 1 .. 10 of the
  relative L2 error of the vorticity on the 64^2 output points, against a fine
  reference (opkit ETDRK4 on 128^2 at Courant number 0.25, float64; its own
  time-step error is printed). Each side runs at the cheapest setting found by
  ``--sweep`` whose error stays <= 1e-3 and that stays finite to T = 50; the
  default run re-checks that error on its batch of 4.
* Time: wall-clock seconds per sample, minimum over ``--repeats`` runs and the
  spread ``(max - min) / min``, after one untimed one-sample run of each side
  per thread count (imports and first-call set-up); the two sides alternate so they see the same
  background load. opkit: the whole CLI path in this process
  (``solvers._cli.run_cli``: initial draws, solve, checks, netCDF write).
  torch-cfd: its batched step loop to T = 50 recording the 50 snapshots as
  numpy arrays, given the initial fields for free and writing nothing.
  ``--threads``: opkit's ``threads`` parameter, ``torch.set_num_threads`` for
  torch-cfd.
* ``--kolmogorov``: the same for the ``kolmogorov`` preset (torch-cfd's own
  showcase flow: 2 pi box, drag 0.1, force sin 4y, 256^2 solved, 64^2
  stored), by default over its first time unit from the initial draw
  (``--kolmogorov-t-end 1``, snapshots every 0.1; a value above the preset's
  warm-up 4.5 keeps its warm-up and snapshot times) with 2 samples; reference: opkit ETDRK4 on 256^2
  at Courant number 0.25.

Interpreter start-up and imports are not in either figure (``python -m
solvers.navier_stokes --help`` measures those). Timings are disturbed by
whatever else runs on the machine: read the ratios.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from solvers import navier_stokes as ns  # noqa: E402
from solvers._cli import load_preset, run_cli  # noqa: E402
from solvers._seed import sample_rngs  # noqa: E402

TOL = 1e-3

#: CPU seconds (``time.process_time``) of the last timed run of each side:
#: on a shared machine far less disturbed by foreign load than wall-clock.
LAST_CPU = {}

#: Cheapest settings that keep the error <= 1e-3 (t <= 10) and stay finite to
#: the end, as found by ``--sweep`` (see docs/benchmarks.rst). opkit values are
#: ``--set`` overrides of the preset; torch-cfd: fixed dt and working dtype.
SETTINGS = {
    "fno-ns-v1e-3": {
        "opkit": {"cfl": 1.2, "dtype": "float32"},
        "peer": {"dt": 1 / 15, "dtype": "float32"},
    },
    "kolmogorov": {
        "opkit": {"cfl": 1.2, "dtype": "float32"},
        "peer": {"dt": 0.005, "dtype": "float32"},
    },
}

#: Candidates of ``--sweep`` (cheapest first on each side).
SWEEP = {
    "fno-ns-v1e-3": {
        "opkit": [
            {"cfl": c, "dtype": d} for c in (1.3, 1.2, 0.9, 0.5) for d in ("float32", "float64")
        ],
        "peer": [{"dt": dt, "dtype": d} for dt in (0.25, 0.2, 0.125, 0.1, 1 / 15, 0.05) for d in ("float32", "float64")],
    },
    "kolmogorov": {
        "opkit": [{"cfl": c, "dtype": d} for c in (1.3, 1.2, 0.9, 0.5) for d in ("float32", "float64")],
        "peer": [{"dt": dt, "dtype": d} for dt in (0.01, 0.005, 0.0025, 0.001) for d in ("float32", "float64")],
    },
}


def peer_available():
    """Whether torch-cfd is importable."""
    return importlib.util.find_spec("torch_cfd") is not None


def preset_params(preset, **overrides):
    """Resolved parameters of a preset with overrides."""
    raw = dict(load_preset(preset, "navier_stokes")["parameters"])
    raw.update(overrides)
    return ns.SOLVER.resolve(raw)


def rel_error(a, ref):
    """Largest relative L2 error over samples and snapshots."""
    a, ref = np.asarray(a, dtype=float), np.asarray(ref, dtype=float)
    num = np.sqrt(((a - ref) ** 2).sum(axis=(-2, -1)))
    den = np.sqrt((ref**2).sum(axis=(-2, -1)))
    return float((num / den).max())


# ----------------------------------------------------------------- opkit side
def opkit_run(preset, n_samples, seed, threads, setting, out, extra=()):
    """One CLI run (draws, solve, write) in this process; returns (seconds, w)."""
    import xarray as xr

    argv = [
        "--preset", preset, "--n-samples", str(n_samples), "--seed", str(seed), "--out", str(out),
        "--no-resume", "--no-progress", "--chunk-size", str(n_samples), "--set", f"threads={threads}",
    ]
    for key, val in list(setting.items()) + list(extra):
        argv += ["--set", f"{key}={val}"]
    t0, c0 = time.perf_counter(), time.process_time()
    rc = run_cli(ns.SOLVER, argv)
    wall = time.perf_counter() - t0
    LAST_CPU["opkit"] = time.process_time() - c0
    if rc not in (0, None):
        raise RuntimeError(f"opkit CLI failed ({rc}): {' '.join(argv)}")
    with xr.open_dataset(out) as ds:
        w = ds["w"].values
        times = ds["time"].values
    return wall, w, times


# ------------------------------------------------------------------ peer side
def peer_run(params, w0, threads, setting, t_stop=None):
    """torch-cfd's RK4-CN loop from ``w0`` (B, n, n): returns (seconds, w (B, T, m, m)).

    Warm-up (``t_start > 0``) and each recording interval use the largest
    step ``<= dt`` that divides them; the snapshots are truncated to the
    stored grid like opkit's (for a 64^2 solve this is the identity up to the
    Nyquist modes).
    """
    import torch
    import torch_cfd.forcings as forcings
    import torch_cfd.grids as grids
    import torch_cfd.spectral as spectral

    torch.set_num_threads(int(threads))
    dtype = {"float32": torch.float32, "float64": torch.float64}[setting["dtype"]]
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # torch-cfd builds its meshes in the default dtype
    try:
        n, m, L = params["solver_resolution"], params["resolution"], params["length"]
        grid = grids.Grid((n, n), domain=((0, L), (0, L)))
        if params["forcing"] == "fno":
            force = forcings.SinCosForcing(
                grid=grid, scale=params["forcing_amplitude"], diam=L, wave_number=1, vorticity=True
            )
        else:
            force = forcings.KolmogorovForcing(
                grid=grid, scale=params["forcing_amplitude"], diam=L,
                wave_number=params["forcing_wavenumber"], vorticity=True,
            )
        eq = spectral.NavierStokes2DSpectral(
            viscosity=params["viscosity"], grid=grid, drag=params["drag"], smooth=True, forcing_fn=force,
            step_fn=spectral.RK4CrankNicolsonStepper(),
        )
        times = ns.recording_times(params)
        if t_stop is not None:
            times = times[times <= t_stop + 1e-9]
        marks = [(0.0, params["t_start"])] if params["t_start"] > 0 else []
        marks += list(zip([params["t_start"]] + list(times[:-1]), times))
        out = np.empty((len(w0), len(times), m, m))
        with torch.inference_mode():
            t0, c0 = time.perf_counter(), time.process_time()
            vh = torch.fft.rfft2(torch.as_tensor(w0, dtype=dtype))
            j = 0
            for a, b in marks:
                k = max(1, math.ceil((b - a) / setting["dt"] - 1e-9))
                vh, _ = eq(vh, (b - a) / k, steps=k)
                if a >= params["t_start"] or params["t_start"] == 0:
                    out[:, j] = _truncate(torch.fft.irfft2(vh, s=(n, n)).double().numpy(), m)
                    j += 1
            wall = time.perf_counter() - t0
            LAST_CPU["peer"] = time.process_time() - c0
    finally:
        torch.set_default_dtype(old)
    return wall, out


def _truncate(w, m):
    n = w.shape[-1]
    if n == m:
        return w
    return ns._physical(np.fft.rfft2(w) / (n * n), m)


# ------------------------------------------------------------------ reference
def initial_fields(params, seed, n_samples):
    """Initial coefficients on the master grid, as the CLI draws them."""
    return ns.initial_coefficients(params, sample_rngs(seed, np.arange(n_samples)))


def reference(params, coef, n_ref, t_stop, cfl=0.25):
    """opkit ETDRK4 at ``n_ref`` and Courant number ``cfl`` (float64) to ``t_stop``."""
    p = dict(params, solver_resolution=n_ref, cfl=cfl, dt=0.0, dtype="float64", threads=1)
    op = ns.make_solver(p)
    times = ns.recording_times(p)
    times = times[times <= t_stop + 1e-9]
    try:
        s = op.from_coefficients(coef)
        if p["t_start"] > 0:
            k = int(math.ceil(p["t_start"] / p["record_interval"] - 1e-9))
            s = op.solve(s, np.linspace(0.0, p["t_start"], k + 1)[1:], n_out=8)["state"]
        w = op.solve(s, times, t0=p["t_start"], n_out=params["resolution"])["vorticity"]
    finally:
        op.close()
    return times, w


def peer_initial(params, coef):
    """The initial field on the solver grid that torch-cfd starts from."""
    return ns._physical(coef, params["solver_resolution"])


# --------------------------------------------------------------------- parts
class Bench:
    """Runs, records and prints one preset's comparison."""

    def __init__(self, preset, args, tmp, overrides=None):
        self.preset, self.args, self.tmp = preset, args, Path(tmp)
        self.extra = list((overrides or {}).items())
        self.params = preset_params(preset, **dict(self.extra))
        self.t_check = min(10.0, float(self.params["t_end"]))
        self.results = {"preset": preset, "t_end": float(self.params["t_end"]), "accuracy": {}, "timing": []}

    def log(self, text):
        print(f"[{self.preset}] {text}", flush=True)

    def setup_reference(self, n_samples):
        p = self.params
        n_ref = 2 * p["solver_resolution"] if p["solver_resolution"] <= 64 else p["solver_resolution"]
        self.coef = initial_fields(p, self.args.seed, n_samples)
        t0 = time.perf_counter()
        self.ref_times, self.ref = reference(p, self.coef, n_ref, self.t_check, cfl=0.25)
        _, half = reference(p, self.coef, n_ref, self.t_check, cfl=0.5)
        e_dt = rel_error(half, self.ref)
        self.results["reference"] = {"n": n_ref, "cfl": 0.25, "dt_check": e_dt, "seconds": time.perf_counter() - t0}
        self.log(
            f"reference: ETDRK4 {n_ref}^2, CFL 0.25, float64, {n_samples} samples to t = {self.t_check:g} "
            f"({time.perf_counter() - t0:.1f} s); CFL 0.5 differs by {e_dt:.1e} (its own error ~{e_dt / 16:.0e})"
        )

    def opkit_error(self, w, times):
        idx = [int(np.argmin(np.abs(times - t))) for t in self.ref_times]
        return rel_error(w[: len(self.ref), idx], self.ref)

    def peer_error(self, w):
        return rel_error(w[: len(self.ref), : len(self.ref_times)], self.ref)

    def run_opkit(self, n_samples, threads, setting):
        out = self.tmp / f"opkit_{self.preset}_{n_samples}_{threads}.nc"
        wall, w, times = opkit_run(self.preset, n_samples, self.args.seed, threads, setting, out, self.extra)
        out.unlink()
        if not np.isfinite(w).all():
            raise FloatingPointError("opkit output not finite")
        return wall, w, times

    def run_peer(self, n_samples, threads, setting, coef=None):
        coef = initial_fields(self.params, self.args.seed, n_samples) if coef is None else coef
        wall, w = peer_run(self.params, peer_initial(self.params, coef), threads, setting)
        return wall, w

    def sweep(self):
        """Cheapest accurate, stable setting of each side (1 thread, the reference batch)."""
        chosen = {}
        B = len(self.coef)
        for side in ("opkit", "peer"):
            if side == "peer" and not peer_available():
                continue
            rows = []
            for setting in SWEEP[self.preset][side]:
                try:
                    if side == "opkit":
                        wall, w, times = self.run_opkit(B, 1, setting)
                        err = self.opkit_error(w, times)
                    else:
                        wall, w = self.run_peer(B, 1, setting, self.coef)
                        err = self.peer_error(w) if np.isfinite(w).all() else np.inf
                except Exception as exc:  # blow-up or refused setting
                    wall, err = np.inf, np.inf
                    self.log(f"sweep {side} {setting}: failed ({type(exc).__name__}: {str(exc)[:80]})")
                    continue
                ok = err <= TOL
                rows.append({"setting": setting, "seconds_per_sample": wall / B, "error": err, "ok": ok})
                self.log(f"sweep {side} {setting}: {wall / B:.3f} s/sample, error {err:.1e} {'ok' if ok else 'REJECTED'}")
            good = [r for r in rows if r["ok"]]
            if good:
                best = min(good, key=lambda r: r["seconds_per_sample"])
                chosen[side] = best["setting"]
                self.log(f"sweep {side}: cheapest accurate setting {best['setting']}")
            self.results.setdefault("sweep", {})[side] = rows
        return chosen

    def warm_up(self, settings, threads):
        """One untimed one-sample run of each side over one recording interval.

        The first CLI run of a process loads the netCDF back-end and xarray's
        plugins (about 0.8 s of CPU, a fifth of a 4-sample run), and the first
        torch-cfd run builds its operators: imports and start-up are in
        neither figure, so both are paid here.
        """
        p = self.params
        t_end = float(p["t_start"]) + float(p["record_interval"])
        out = self.tmp / f"warm_{self.preset}.nc"
        extra = [kv for kv in self.extra if kv[0] != "t_end"] + [("t_end", t_end)]
        opkit_run(self.preset, 1, self.args.seed, threads, settings["opkit"], out, extra)
        out.unlink()
        if peer_available():
            coef = initial_fields(p, self.args.seed, 1)
            peer_run(p, peer_initial(p, coef), threads, settings["peer"], t_stop=t_end)

    def timing(self, settings, batches, threads, repeats):
        have_peer = peer_available()
        cells = {}
        for th in threads:
            self.warm_up(settings, th)
        for r in range(repeats):
            for B in batches:
                for th in threads:
                    cell = cells.setdefault((B, th), {"opkit": [], "peer": [], "opkit_cpu": [], "peer_cpu": []})
                    wall, w, times = self.run_opkit(B, th, settings["opkit"])
                    cell["opkit"].append(wall / B)
                    cell["opkit_cpu"].append(LAST_CPU["opkit"] / B)
                    if r == 0 and B >= len(self.ref) and th == threads[0]:
                        self.results["accuracy"].setdefault("opkit", self.opkit_error(w, times))
                    if have_peer:
                        wall, w = self.run_peer(B, th, settings["peer"])
                        while not np.isfinite(w).all():
                            # A fixed step must suit the fastest sample of the
                            # batch: fall back to the next smaller candidate.
                            smaller = [c for c in SWEEP[self.preset]["peer"]
                                       if c["dtype"] == settings["peer"]["dtype"] and c["dt"] < settings["peer"]["dt"]]
                            if not smaller:
                                raise FloatingPointError(f"torch-cfd blew up with {settings['peer']}")
                            self.log(f"torch-cfd blew up with {settings['peer']} on {B} samples; trying {smaller[0]}")
                            settings["peer"] = dict(smaller[0])
                            self.results.setdefault("peer_fallbacks", []).append(dict(smaller[0], samples=B))
                            wall, w = self.run_peer(B, th, settings["peer"])
                        cell["peer"].append(wall / B)
                        cell["peer_cpu"].append(LAST_CPU["peer"] / B)
                        if r == 0 and B >= len(self.ref) and th == threads[0]:
                            self.results["accuracy"].setdefault("peer", self.peer_error(w))
                    self.log(
                        f"repeat {r + 1}/{repeats}, {B} samples, {th} thread(s): opkit {cell['opkit'][-1]:.3f} s/sample"
                        f" (CPU {cell['opkit_cpu'][-1]:.3f})"
                        + (f", torch-cfd {cell['peer'][-1]:.3f} s/sample (CPU {cell['peer_cpu'][-1]:.3f})"
                           if have_peer else "")
                    )
        for (B, th), cell in cells.items():
            row = {"samples": B, "threads": th}
            for side, vals in cell.items():
                if vals:
                    row[side] = {"min": min(vals), "spread": (max(vals) - min(vals)) / min(vals), "all": vals}
            if "peer" in row:
                row["ratio"] = row["peer"]["min"] / row["opkit"]["min"]
                row["cpu_ratio"] = row["peer_cpu"]["min"] / row["opkit_cpu"]["min"]
            self.results["timing"].append(row)
        self.results["settings"] = settings

    def table(self):
        res = self.results
        acc = res["accuracy"]
        print()
        print(f"=== {self.preset}: per-sample wall seconds to T = {res['t_end']:g} (min over repeats, spread) ===")
        s = res["settings"]
        print(f"opkit    : {s['opkit']}  error(t<={self.t_check:g}) {acc.get('opkit', float('nan')):.1e}")
        if "peer" in acc:
            print(f"torch-cfd: {s['peer']}  error(t<={self.t_check:g}) {acc['peer']:.1e}")
        print(
            f"{'samples':>7} {'threads':>7} {'opkit s':>9} {'spread':>7} {'torch-cfd s':>11} {'spread':>7} {'ratio':>6}"
            f" {'opkit CPU':>9} {'t-cfd CPU':>9} {'CPU ratio':>9}"
        )
        for row in res["timing"]:
            o = row["opkit"]
            line = f"{row['samples']:>7} {row['threads']:>7} {o['min']:>9.3f} {o['spread']:>7.0%}"
            if "peer" in row:
                p = row["peer"]
                line += f" {p['min']:>11.3f} {p['spread']:>7.0%} {row['ratio']:>5.2f}x"
                line += f" {row['opkit_cpu']['min']:>9.3f} {row['peer_cpu']['min']:>9.3f} {row['cpu_ratio']:>8.2f}x"
            print(line)
        print("ratio = torch-cfd time / opkit time per sample (> 1: opkit faster); CPU: process_time per sample")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 samples, 1 thread, 1 repeat (about a minute)")
    ap.add_argument("--sweep", action="store_true", help="search the cheapest accurate setting of each side first")
    ap.add_argument("--kolmogorov", action="store_true", help="also the kolmogorov preset")
    ap.add_argument("--kolmogorov-t-end", type=float, default=1.0, help="horizon of the kolmogorov part (preset: 10)")
    ap.add_argument("--batches", type=int, nargs="+", default=[4, 64])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    if args.quick:
        args.batches, args.threads, args.repeats = [4], [1], 1
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load "
        f"{tuple(round(x, 2) for x in os.getloadavg())}",
        flush=True,
    )
    if peer_available():
        import torch
        from importlib.metadata import version

        print(f"peer: torch-cfd {version('torch-cfd')} on torch {torch.__version__}", flush=True)
    else:
        print("peer: torch-cfd is not installed (pip install 'opkit[bench]'): timing opkit alone", flush=True)
    results = []
    parts = [("fno-ns-v1e-3", None, 4)]
    if args.kolmogorov:
        k_end = args.kolmogorov_t_end
        # A horizon inside the preset's warm-up (t_start = 4.5) starts at 0
        # and records every 0.1 instead.
        over = {"t_end": k_end} if k_end > 4.5 else {"t_start": 0.0, "t_end": k_end, "record_interval": 0.1}
        parts.append(("kolmogorov", over, 2))
    with tempfile.TemporaryDirectory() as tmp:
        for preset, over, n_ref in parts:
            bench = Bench(preset, args, tmp, over)
            bench.setup_reference(n_ref)
            settings = {k: dict(v) for k, v in SETTINGS[preset].items()}
            if args.sweep:
                settings.update(bench.sweep())
            batches = args.batches if preset == "fno-ns-v1e-3" else [n_ref]
            threads = args.threads if preset == "fno-ns-v1e-3" else args.threads[:1]
            repeats = args.repeats if preset == "fno-ns-v1e-3" else 1
            bench.timing(settings, batches, threads, repeats)
            bench.table()
            for side, err in bench.results["accuracy"].items():
                if err > TOL:
                    print(f"WARNING: {side} error {err:.1e} exceeds {TOL:g}: rerun with --sweep")
            results.append(bench.results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

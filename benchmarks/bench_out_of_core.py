"""Peak memory of fitting from lazily opened files: does it grow with the file?

Writes two netCDF datasets that differ only in their number of samples (4x),
then, in a fresh process for each, opens the file lazily (dask chunks by
sample) and fits the same small TFNORegressor for one epoch. Each child
reports its peak resident set size; the parent prints both and their ratio.
If training streamed nothing, the larger fit would need about 4x the data
memory; streaming keeps the ratio near 1.

Usage::

    python benchmarks/bench_out_of_core.py [--samples 500] [--grid 128] [--folder DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_dataset(path: Path, n_samples: int, grid: int, block: int = 250) -> None:
    """Write ``n_samples`` random smooth fields a -> u without holding them all in memory."""
    import dask.array as da
    import xarray as xr

    from opkit.io import to_netcdf

    def fields(seed):
        # A smooth input and a nonlinear function of it as output, block by block.
        rng = np.random.default_rng(seed)
        modes = rng.normal(size=(block, 4, 4))
        x = np.linspace(0, 1, grid, endpoint=False)
        basis = np.stack([np.sin(2 * np.pi * (k + 1) * x) for k in range(4)])
        a = np.einsum("sij,ix,jy->sxy", modes, basis, basis).astype(np.float32)
        return a

    n_blocks = -(-n_samples // block)
    a = da.concatenate(
        [da.from_delayed(__import__("dask").delayed(fields)(i), (block, grid, grid), np.float32) for i in range(n_blocks)]
    )[:n_samples].rechunk((64, grid, grid))
    u = da.tanh(a) * 0.5 + 0.1 * a * a
    coords = {"x": ("x", np.arange(grid) / grid, {"units": "1"}), "y": ("y", np.arange(grid) / grid, {"units": "1"})}
    ds = xr.Dataset(
        {"a": (("sample", "x", "y"), a, {"units": "1"}), "u": (("sample", "x", "y"), u, {"units": "1"})},
        coords={"sample": np.arange(n_samples), **coords},
        attrs={"bc_x": "periodic", "bc_y": "periodic", "opkit_inputs": "a", "opkit_outputs": "u"},
    )
    to_netcdf(ds, path)


def child(path: str) -> None:
    """Fit one epoch from the lazily opened file; print peak RSS as JSON."""
    import torch

    torch.set_num_threads(2)
    from opkit import TFNORegressor
    from opkit.io import open_dataset

    ds = open_dataset(path, chunks=32)
    started = time.perf_counter()
    est = TFNORegressor(n_modes=8, hidden_channels=8, n_layers=2, max_epochs=1, batch_size=32,
                        random_state=0, device="cpu").fit(ds.a, ds.u)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"samples": ds.sizes["sample"], "peak_rss_mib": peak_kib / 1024, "seconds": seconds,
                      "loss": est.history_["train_loss"][-1]}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500, help="samples of the small file (the large has 4x)")
    parser.add_argument("--grid", type=int, default=128)
    parser.add_argument("--folder", default=None, help="where to write the files (default: a temporary folder)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        results = []
        for n in (args.samples, 4 * args.samples):
            path = Path(folder) / f"fields_{n}.nc"
            write_dataset(path, n, args.grid)
            size_mib = path.stat().st_size / 2**20
            out = subprocess.run([sys.executable, __file__, "--child", str(path)], check=True,
                                 capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            raw_mib = n * 2 * args.grid**2 * 4 / 2**20
            print(f"{n:6d} samples ({raw_mib:7.1f} MiB of float32 fields, file {size_mib:6.1f} MiB): "
                  f"peak RSS {result['peak_rss_mib']:7.1f} MiB, epoch {result['seconds']:.1f} s")
            results.append(result)
    ratio = results[1]["peak_rss_mib"] / results[0]["peak_rss_mib"]
    print(f"peak RSS ratio (4x samples / 1x samples): {ratio:.3f}")


if __name__ == "__main__":
    main()

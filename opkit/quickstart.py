"""End-to-end quickstart: ``python -m opkit.quickstart``.

Loads the embedded 16 x 16 Darcy data, fits :class:`opkit.TFNORegressor` with
its defaults, prints relative L2 and H1 test errors, predicts at twice the
training resolution, and writes a figure and the fitted model.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

__all__ = ["main", "refine_coefficient"]


def refine_coefficient(a, factor: int = 2):
    """Upsample a piecewise-constant coefficient field by repeating each cell.

    Parameters
    ----------
    a : xarray.DataArray
        ``(sample, x, y)`` on a uniform grid starting at 0.
    factor : int, default=2
        Refinement factor per dim.

    Returns
    -------
    xarray.DataArray
        ``(sample, x * factor, y * factor)`` with the finer coordinates.
    """
    fine = {d: np.arange(a.sizes[d] * factor) / (a.sizes[d] * factor) for d in ("x", "y")}
    out = a.sel(x=fine["x"], y=fine["y"], method="ffill")
    out = out.assign_coords(x=("x", fine["x"], a.x.attrs), y=("y", fine["y"], a.y.attrs))
    return out


def main(argv=None) -> int:
    """Run the quickstart; returns the exit code.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(
        prog="python -m opkit.quickstart",
        description="Fit TFNORegressor on the embedded 16x16 Darcy data and report test errors.",
    )
    parser.add_argument("--out", default="quickstart_output", help="folder for the figure and model (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random_state of the fit (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="'auto', 'cpu' or 'cuda' (default: %(default)s)")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch intra-op threads on the CPU (default: %(default)s; 16x16 batches are too small to share "
             "out, and two threads on busy cores ran 10 to 20 times slower than one)",
    )
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")

    import torch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(previous_threads)


def _run(args) -> int:
    """The quickstart's work, under the thread count ``main`` set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import TFNORegressor
    from .data import load_darcy_small
    from .metrics import relative_error
    from .plotting import plot_prediction

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, test = load_darcy_small("both")
    print(f"Darcy 16x16: {train.sizes['sample']} training and {test.sizes['sample']} test samples")
    est = TFNORegressor(max_epochs=args.epochs, random_state=args.seed, device=args.device, verbose=1)
    started = time.perf_counter()
    est.fit(train.a, train.u)
    seconds = time.perf_counter() - started
    prediction = est.predict(test.a)
    l2 = relative_error(prediction, test.u, norm="l2")
    h1 = relative_error(prediction, test.u, norm="h1")
    used = ", ".join(est.symmetries_) or "none"
    print(f"fitted {est.n_params_:,} parameters in {seconds:.1f} s on {est.device_} (symmetries the data declare: {used})")
    print(f"test relative L2 error at 16x16: {l2:.4f}")
    print(f"test relative H1 error at 16x16: {h1:.4f}")

    fine_input = refine_coefficient(test.a, 2)
    fine_prediction = est.predict(fine_input)
    print(f"predicted at {fine_prediction.sizes['x']}x{fine_prediction.sizes['y']} (zero-shot super-resolution)")

    fig = plot_prediction(test.a, test.u, prediction, sample=0)
    fig.suptitle(f"TFNO on Darcy 16x16, test sample 0 (relative L2 over the test set {l2:.3f})")
    figure_path = out / "darcy_prediction.png"
    fig.savefig(figure_path, dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    fine_prediction.isel(sample=0).plot.imshow(ax=ax, x="x", y="y")
    ax.set_title("prediction at 32x32")
    ax.set_aspect("equal")
    fig.savefig(out / "darcy_prediction_32.png", dpi=120)
    plt.close(fig)
    model_path = est.save(out / "tfno_darcy.opkit")
    print(f"wrote {figure_path}, {out / 'darcy_prediction_32.png'} and {model_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

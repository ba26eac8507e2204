"""Time of TFNORegressor's default fit against neuraloperator's small-Darcy example loop, side by side.

The reference loop follows the settings of neuraloperator's own example for
its small Darcy data (``neuraloperator/examples/models/plot_FNO_darcy.py``): a dense
``neuralop.models.FNO`` with 16 x 16 modes, 32 hidden channels, projection
channel ratio 2 and no domain padding; AdamW with lr 8e-3 and weight decay
1e-4; cosine annealing with ``T_max=30`` stepped once per epoch; batch 32;
a relative H1 training loss (finite differences, equal weight on all points,
the form of neuraloperator's ``H1Loss``); inputs normalised, outputs not
(the example's data processor). It is written here in plain torch.

The opkit side is ``TFNORegressor(random_state=seed).fit`` with every default.
Both see the same 1000 samples of ``darcy_train_16`` for the same epochs
under the same thread count, one after the other in this process; the script
prints each time, the ratio, and the test relative L2 error (trapezoid rule,
as :func:`opkit.metrics.relative_error`) of both models on ``darcy_test_16``.
The target is a ratio <= 1.5::

    python benchmarks/bench_tfno_speed.py --threads 2 --epochs 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def relative_h1_plain(prediction, truth):
    """Mean over samples of the relative H1 error, central differences, equal weights (neuraloperator's H1Loss form)."""

    def squared(u):
        n = u.shape[-1]
        dx = torch.gradient(u, spacing=1.0 / n, dim=-2)[0]
        dy = torch.gradient(u, spacing=1.0 / n, dim=-1)[0]
        return (u * u + dx * dx + dy * dy).flatten(1).sum(1)

    return (squared(prediction - truth).sqrt() / squared(truth).sqrt()).mean()


def reference_loop(x, y, epochs, seed):
    """Train the example's FNO by hand; returns (model, seconds, x_mean, x_std)."""
    from neuralop.models import FNO

    torch.manual_seed(seed)
    model = FNO(n_modes=(16, 16), in_channels=1, out_channels=1, hidden_channels=32, projection_channel_ratio=2)
    x_mean, x_std = x.mean(), x.std()
    xn = (x - x_mean) / x_std
    optimizer = torch.optim.AdamW(model.parameters(), lr=8e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=30)
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for index in torch.randperm(len(x), generator=generator).split(32):
            optimizer.zero_grad(set_to_none=True)
            loss = relative_h1_plain(model(xn[index]), y[index])
            loss.backward()
            optimizer.step()
        scheduler.step()
    seconds = time.perf_counter() - started
    model.eval()
    return model, seconds, x_mean, x_std


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from opkit import TFNORegressor
    from opkit.data import load_darcy_small
    from opkit.metrics import relative_error

    train, test = load_darcy_small("both")
    x = torch.from_numpy(np.ascontiguousarray(train.a.transpose("sample", "x", "y").values[:, None]))
    y = torch.from_numpy(np.ascontiguousarray(train.u.transpose("sample", "x", "y").values[:, None]))

    model, ref_seconds, x_mean, x_std = reference_loop(x, y, args.epochs, args.seed)
    with torch.no_grad():
        xt = torch.from_numpy(np.ascontiguousarray(test.a.transpose("sample", "x", "y").values[:, None]))
        ref_pred = test.u.transpose("sample", "x", "y").copy(data=model((xt - x_mean) / x_std)[:, 0].numpy())
    ref_l2 = relative_error(ref_pred, test.u, norm="l2")
    print(f"reference loop (neuraloperator example settings): {ref_seconds:7.1f} s, "
          f"{ref_seconds / args.epochs:.2f} s/epoch, test rel. L2 {ref_l2:.4f}", flush=True)

    est = TFNORegressor(max_epochs=args.epochs, random_state=args.seed, device="cpu")
    started = time.perf_counter()
    est.fit(train.a, train.u)
    ours = time.perf_counter() - started
    our_l2 = relative_error(est.predict(test.a), test.u, norm="l2")
    print(f"TFNORegressor.fit (defaults):                      {ours:7.1f} s, "
          f"{ours / args.epochs:.2f} s/epoch, test rel. L2 {our_l2:.4f}", flush=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads at the end, "
          f"{args.epochs} epochs x {len(x)} samples")
    print(f"ratio (TFNORegressor / reference): {ours / ref_seconds:.3f} (target <= 1.5)")


if __name__ == "__main__":
    main()

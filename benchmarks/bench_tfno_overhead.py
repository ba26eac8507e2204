"""Overhead of TFNORegressor.fit over a plain training loop on neuraloperator's FNO.

Both train the same network configuration (TFNORegressor's defaults: Tucker
rank 0.1, 16 modes, 32 hidden channels, 4 layers, domain padding 0.125) on the
same embedded Darcy data for the same epochs, batch size, optimiser (AdamW)
and one-cycle schedule. The plain loop is what a user would write by hand:
tensors in memory, normalisation outside the model, neuraloperator's relative
LpLoss. Runs alternate and the best of ``--repeats`` is kept for each.

Usage::

    python benchmarks/bench_tfno_overhead.py [--epochs 3] [--repeats 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch


def plain_loop(x, y, epochs, batch_size, lr, wd, seed):
    """Train neuraloperator's FNO by hand; returns samples per second."""
    from neuralop.losses import LpLoss
    from neuralop.models import FNO

    torch.manual_seed(seed)
    model = FNO(n_modes=(16, 16), in_channels=1, out_channels=1, hidden_channels=32, n_layers=4,
                positional_embedding="grid", domain_padding=0.125, factorization="tucker", rank=0.1,
                implementation="factorized")
    x_mean, x_std = x.mean(), x.std()
    y_mean, y_std = y.mean(), y.std()
    xn = (x - x_mean) / x_std
    loss_fn = LpLoss(d=2, p=2)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.2,
                                                    div_factor=10.0, final_div_factor=100.0, cycle_momentum=False)
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for index in torch.randperm(len(x), generator=generator).split(batch_size):
            optimizer.zero_grad(set_to_none=True)
            prediction = model(xn[index]) * y_std + y_mean
            loss = loss_fn(prediction, y[index])
            loss.backward()
            optimizer.step()
            scheduler.step()
    return epochs * len(x) / (time.perf_counter() - started)


def opkit_fit(train, epochs, seed):
    """Time TFNORegressor.fit with its defaults; returns samples per second."""
    from opkit import TFNORegressor

    est = TFNORegressor(max_epochs=epochs, random_state=seed, device="cpu")
    started = time.perf_counter()
    est.fit(train.a, train.u)
    return epochs * train.sizes["sample"] / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from opkit import TFNORegressor
    from opkit.data import load_darcy_small

    train = load_darcy_small("train")
    defaults = TFNORegressor().get_params()
    x = torch.from_numpy(train.a.values[:, None])
    y = torch.from_numpy(train.u.values[:, None])
    plain, ours = [], []
    for repeat in range(args.repeats):
        plain.append(plain_loop(x, y, args.epochs, defaults["batch_size"], defaults["learning_rate"],
                                defaults["weight_decay"], repeat))
        ours.append(opkit_fit(train, args.epochs, repeat))
        print(f"repeat {repeat}: plain {plain[-1]:.1f} samples/s, TFNORegressor {ours[-1]:.1f} samples/s")
    best_plain, best_ours = max(plain), max(ours)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.epochs} epochs x {len(x)} samples, "
          f"batch {defaults['batch_size']}")
    print(f"plain neuraloperator loop: {best_plain:8.1f} samples/s")
    print(f"TFNORegressor.fit:         {best_ours:8.1f} samples/s")
    print(f"ratio (TFNORegressor / plain): {best_ours / best_plain:.3f}")


if __name__ == "__main__":
    main()

"""The one training loop every opkit estimator uses.

AdamW, a one-cycle or cosine learning-rate schedule stepped per batch,
mini-batches drawn with a private :class:`torch.Generator`, optional validation
with early stopping, a per-epoch checkpoint that makes an interrupted fit
resumable, and a tqdm bar when asked.

When :mod:`torch.distributed` is initialised with more than one process (e.g.
under ``torchrun``), the same loop trains data-parallel: every process holds
the whole training set, the module is wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel`, and each global batch of
``batch_size * world_size`` samples (one shuffle, shared by all processes) is
split across them, so ``batch_size`` is per process. Rank 0 alone shows
progress and writes checkpoints.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .serialization import (
    optimizer_from_tensors,
    optimizer_to_tensors,
    read_checkpoint,
    write_checkpoint,
)
from .symmetry import random_symmetric_copies

__all__ = ["TrainConfig", "train_module", "resolve_device", "distributed_context", "subset", "SampleSubset"]

SCHEDULERS = ("onecycle", "cosine", "constant")


def resolve_device(device) -> torch.device:
    """Turn ``"auto"`` (CUDA when present, else CPU), a name or a device into a device.

    Under a multi-process :mod:`torch.distributed` group, ``"auto"`` and
    ``"cuda"`` mean this process's GPU: ``cuda:$LOCAL_RANK`` (as set by
    ``torchrun``), else ``cuda:<rank mod device count>``.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        A CUDA device was asked for but CUDA is not available.
    """
    if device is None or device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was requested but CUDA is not available; use 'auto' or 'cpu'")
    rank, world_size = distributed_context()
    if device.type == "cuda" and device.index is None and world_size > 1:
        local = os.environ.get("LOCAL_RANK")
        device = torch.device("cuda", int(local) if local is not None else rank % torch.cuda.device_count())
    return device


@dataclass
class TrainConfig:
    """Settings of :func:`train_module`, taken from an estimator's hyperparameters."""

    max_epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    scheduler: str = "onecycle"
    early_stopping: bool = False
    n_iter_no_change: int = 10
    verbose: int = 0
    checkpoint_path: str | None = None
    #: ``("flip", axis)``/``("swap", axis1, axis2)`` operations to augment batches with.
    symmetries: tuple = ()
    fingerprint: dict = field(default_factory=dict)


def _make_scheduler(name, optimizer, config: TrainConfig, steps_per_epoch: int):
    total = max(1, config.max_epochs * steps_per_epoch)
    if name == "onecycle":
        # div_factor/final_div_factor as in MgNO's and the FNO examples' recipes:
        # a short warm-up from lr/10, then cosine annealing to lr/1e3.
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.learning_rate, total_steps=total, pct_start=0.2,
            div_factor=10.0, final_div_factor=100.0, cycle_momentum=False,
        )
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {name!r}")


def _batches(n: int, batch_size: int, generator: torch.Generator | None, rank: int = 0, world_size: int = 1):
    """Index batches of one epoch; with ``world_size > 1``, this process's share of each global batch.

    The order is padded by wrapping around to a multiple of ``world_size`` (as
    :class:`torch.utils.data.DistributedSampler` does), so every process takes
    the same number of steps and none gets an empty batch.
    """
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    if world_size > 1:
        pad = -n % world_size
        order = torch.cat([order, order[:pad]])
    step = batch_size * world_size
    return [order[i : i + step][rank::world_size] for i in range(0, len(order), step)]


def distributed_context():
    """``(rank, world_size)`` of an initialised multi-process :mod:`torch.distributed` group.

    Returns
    -------
    tuple of int
        ``(0, 1)`` when :mod:`torch.distributed` is unavailable, not
        initialised, or has a single process.
    """
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _share_generator_state(generator):
    """Give every process rank 0's shuffling state, so all draw the same global batches."""
    states = [generator.get_state()]
    torch.distributed.broadcast_object_list(states, src=0)
    generator.set_state(states[0])


class SampleSubset:
    """The samples ``indices`` of a lazy source (anything with ``take`` and ``len``)."""

    def __init__(self, source, indices):
        self.source = source
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def take(self, index) -> np.ndarray:
        """Read the subset's samples at positions ``index``."""
        return self.source.take(self.indices[np.asarray(index)])

    def batches(self, batch_size: int):
        """Yield blocks of the subset's samples in storage order (for streaming statistics)."""
        ordered = np.sort(self.indices)
        for start in range(0, len(ordered), batch_size):
            yield self.source.take(ordered[start : start + batch_size])


def subset(source, indices):
    """Samples ``indices`` of a tensor (indexed now) or of a lazy source (read later)."""
    if torch.is_tensor(source):
        return source[torch.as_tensor(indices)]
    return SampleSubset(source, indices)


def _take(source, index):
    """A batch from a tensor (fast path) or from any object with ``take(index)``."""
    if torch.is_tensor(source):
        return source[index]
    return torch.from_numpy(source.take(index.numpy()))


@torch.no_grad()
def evaluate_loss(module, loss_fn, X, y, batch_size: int, device) -> float:
    """Mean of ``loss_fn`` over ``(X, y)`` in evaluation mode, weighted by batch size."""
    module.eval()
    total, count = 0.0, 0
    for index in _batches(len(X), batch_size, None):
        xb = _take(X, index).to(device, non_blocking=True)
        yb = _take(y, index).to(device, non_blocking=True)
        total += float(loss_fn(module(xb), yb)) * len(index)
        count += len(index)
    return total / max(count, 1)


def tensor_state(module) -> dict:
    """Copies of a module's tensors (neuraloperator adds a non-tensor ``_metadata`` entry)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items() if torch.is_tensor(v)}


def _save_training_state(path, module, optimizer, scheduler, generator, epoch, history, config):
    tensors = {f"model/{k}": v for k, v in tensor_state(module).items()}
    opt_tensors, opt_rest = optimizer_to_tensors(optimizer)
    tensors.update(opt_tensors)
    tensors["generator_state"] = generator.get_state()
    write_checkpoint(
        path,
        tensors,
        {
            "kind": "training-state",
            "epoch": epoch,
            "history": history,
            "optimizer": opt_rest,
            "scheduler": scheduler.state_dict(),
            "fingerprint": config.fingerprint,
        },
    )


def _try_resume(config: TrainConfig, module, optimizer, scheduler, generator):
    path = Path(config.checkpoint_path)
    if not path.exists():
        return 0, None
    tensors, meta = read_checkpoint(path)
    if meta.get("kind") != "training-state":
        raise ValueError(f"checkpoint_path={str(path)!r} holds a {meta.get('kind')!r}, not a training state")
    if json.dumps(meta["fingerprint"], sort_keys=True) != json.dumps(config.fingerprint, sort_keys=True):
        raise ValueError(
            f"checkpoint_path={str(path)!r} was written by a fit with other hyperparameters "
            "or data shapes; delete it or choose another path to start afresh"
        )
    module.load_state_dict({k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")})
    optimizer_from_tensors(optimizer, tensors, meta["optimizer"])
    scheduler.load_state_dict(meta["scheduler"])
    generator.set_state(tensors["generator_state"])
    return int(meta["epoch"]), meta["history"]


def train_module(module, loss_fn, X, y, config: TrainConfig, *, device, generator,
                 X_val=None, y_val=None, history=None):
    """Train ``module`` to map ``X`` to ``y`` under ``loss_fn``.

    Parameters
    ----------
    module : torch.nn.Module
        Already on ``device``.
    loss_fn : callable
        ``loss_fn(prediction, target)`` returning a scalar tensor.
    X, y : torch.Tensor
        CPU tensors ``(n_samples, channel, *grid)``; batches are moved to
        ``device`` as they are drawn.
    config : TrainConfig
    device : torch.device
    generator : torch.Generator
        Private CPU generator for shuffling; its state is checkpointed.
    X_val, y_val : torch.Tensor, optional
        Validation data, evaluated after every epoch.
    history : dict, optional
        A history to extend (``warm_start``).

    Returns
    -------
    history : dict
        ``{"epoch": [...], "train_loss": [...], "val_loss": [...], "lr": [...], "time": [...]}``.
    best_epoch : int
        Epoch whose weights ``module`` holds at the end (the best validation
        epoch under early stopping, else the last).
    """
    history = copy.deepcopy(history) if history else {"epoch": [], "train_loss": [], "val_loss": [], "lr": [], "time": []}
    n = len(X)
    rank, world_size = distributed_context()
    steps_per_epoch = math.ceil(n / (config.batch_size * world_size))
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = _make_scheduler(config.scheduler, optimizer, config, steps_per_epoch)
    start_epoch = 0
    if config.checkpoint_path:
        start_epoch, resumed = _try_resume(config, module, optimizer, scheduler, generator)
        if resumed is not None:
            history = resumed
    model = module
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        _share_generator_state(generator)
        # Wrapping broadcasts rank 0's weights and buffers (normalisation statistics included).
        model = DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
    has_val = X_val is not None and len(X_val) > 0
    best = (math.inf, None, start_epoch)
    stale = 0
    epochs = range(start_epoch, config.max_epochs)
    bar = None
    if config.verbose and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(epochs, desc=f"fit {type(getattr(module, 'core', module)).__name__}", unit="epoch",
                   initial=start_epoch, total=config.max_epochs)
        epochs = bar
    for epoch in epochs:
        model.train()
        started = time.perf_counter()
        total = torch.zeros((), dtype=torch.float64, device=device)
        count = 0
        for index in _batches(n, config.batch_size, generator, rank, world_size):
            xb = _take(X, index).to(device, non_blocking=True)
            yb = _take(y, index).to(device, non_blocking=True)
            if config.symmetries:
                xb, yb = random_symmetric_copies(xb, yb, config.symmetries, generator, rank, world_size)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.detach() * len(index)
            count += len(index)
        if world_size > 1:
            summed = torch.stack([total, torch.tensor(float(count), dtype=torch.float64, device=device)])
            torch.distributed.all_reduce(summed)
            total, count = summed[0], summed[1]
        train_loss = float(total) / float(count)
        val_loss = evaluate_loss(module, loss_fn, X_val, y_val, config.batch_size, device) if has_val else None
        history["epoch"].append(len(history["epoch"]))
        history["train_loss"].append(train_loss)
        history["val_loss"].append(val_loss)
        history["lr"].append(optimizer.param_groups[0]["lr"])
        history["time"].append(time.perf_counter() - started)
        if not math.isfinite(train_loss):
            raise FloatingPointError(
                f"training loss became {train_loss} at epoch {epoch}; lower learning_rate "
                f"(now {config.learning_rate}) or check the data scaling"
            )
        if bar is not None:
            postfix = {"loss": f"{train_loss:.4g}"}
            if val_loss is not None:
                postfix["val"] = f"{val_loss:.4g}"
            bar.set_postfix(postfix)
            if config.verbose >= 2:
                bar.write(f"epoch {epoch}: train {train_loss:.5g}" + (f", val {val_loss:.5g}" if val_loss is not None else ""))
        if config.checkpoint_path and rank == 0:
            _save_training_state(config.checkpoint_path, module, optimizer, scheduler, generator, epoch + 1, history, config)
        if config.early_stopping and has_val:
            if val_loss < best[0]:
                best = (val_loss, tensor_state(module), epoch)
                stale = 0
            else:
                stale += 1
                if stale >= config.n_iter_no_change:
                    break
    if bar is not None:
        bar.close()
    best_epoch = len(history["epoch"]) - 1
    if config.early_stopping and best[1] is not None:
        module.load_state_dict(best[1])
        best_epoch = best[2]
    module.eval()
    return history, best_epoch

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

On the CPU, a fit whose batches hold fewer than :data:`SMALL_BATCH_VALUES`
values runs on one intra-op thread (and gives the caller's thread count back
afterwards): for such small ops a second thread gains nothing on an idle
machine and costs 10 to 20 times the time on a busy one.
"""

from __future__ import annotations

import contextlib
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

__all__ = [
    "TrainConfig", "train_module", "resolve_device", "distributed_context", "subset", "SampleSubset",
    "FieldSource", "SourceSubset", "subset_source", "SupervisedStep", "evaluate_step", "cast_module",
]

SCHEDULERS = ("onecycle", "cosine", "step", "constant")


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


OPTIMIZERS = ("adamw", "lbfgs")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class TrainConfig:
    """Settings of one training stage (:func:`train_module`), from an estimator's hyperparameters.

    Attributes
    ----------
    max_epochs, batch_size, learning_rate, weight_decay : number
        As the estimator hyperparameters of the same names. With
        ``optimizer="lbfgs"`` an epoch is one L-BFGS step of up to
        ``lbfgs_max_iter`` iterations on the whole training set.
    scheduler : {"onecycle", "cosine", "step", "constant"}
        Learning-rate schedule, stepped per batch (ignored by L-BFGS);
        ``"step"`` halves the rate five times, after every fifth of the run.
    optimizer : {"adamw", "lbfgs"}
        Mini-batch AdamW, or full-batch L-BFGS with a strong Wolfe line search.
    dtype : {"float32", "float64"}
        The module and every floating batch tensor are cast to it.
    early_stopping, n_iter_no_change, verbose, checkpoint_path
        As the estimator hyperparameters (checkpoints: AdamW stages only).
    symmetries : tuple
        ``("flip", axis)``/``("swap", axis1, axis2)`` operations applied to the
        batch keys ``"x"`` and ``"y"`` (see :mod:`opkit.symmetry`).
    fingerprint : dict
        What a resumed checkpoint must match.
    stage : str
        Name of the stage (``"fit"``, ``"pretrain"``, ``"finetune"``, ...), shown
        in the progress bar.
    lbfgs_max_iter, lbfgs_history_size : int
        L-BFGS iterations per epoch and correction pairs kept.
    lbfgs_tolerance_grad, lbfgs_tolerance_change : float or None
        L-BFGS stops an epoch early below these (gradient, change of loss or
        step); None: torch's defaults (1e-7, 1e-9) in float32, 1e-12 and
        1e-16 in float64, where the point of the stage is to go further.
    gradient_clip : float or None
        AdamW stages: the gradient of each batch is rescaled to at most this
        global (2-)norm before the step (None: no clipping).
    """

    max_epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    scheduler: str = "onecycle"
    early_stopping: bool = False
    n_iter_no_change: int = 10
    verbose: int = 0
    checkpoint_path: str | None = None
    symmetries: tuple = ()
    fingerprint: dict = field(default_factory=dict)
    optimizer: str = "adamw"
    dtype: str = "float32"
    stage: str = "fit"
    lbfgs_max_iter: int = 20
    lbfgs_history_size: int = 50
    lbfgs_tolerance_grad: float | None = None
    lbfgs_tolerance_change: float | None = None
    gradient_clip: float | None = None


def _make_scheduler(name, optimizer, config: TrainConfig, steps_per_epoch: int):
    total = max(1, config.max_epochs * steps_per_epoch)
    if name == "onecycle":
        # div_factor/final_div_factor as in MgNO's and the FNO examples' recipes:
        # a short warm-up from lr/10, then cosine annealing to lr/1e3. Torch's
        # schedule divides by zero when the warm-up is under two steps: runs of
        # fewer than 4 steps keep the rate constant, shorter ones stretch it.
        if total < 4:
            return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[group["lr"] for group in optimizer.param_groups], total_steps=total,
            pct_start=max(0.2, 2.0 / total),
            div_factor=10.0, final_div_factor=100.0, cycle_momentum=False,
        )
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if name == "step":
        # StepLR of the DGenNO recipe: halve after every fifth of the steps.
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, total // 5), gamma=0.5)
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
    """The samples ``indices`` of a lazy array (anything with ``take`` and ``len``)."""

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
    """Samples ``indices`` of a tensor (indexed now) or of a lazy array (read later)."""
    if torch.is_tensor(source):
        return source[torch.as_tensor(indices)]
    return SampleSubset(source, indices)


def _take(source, index):
    """A batch from a tensor (fast path) or from any object with ``take(index)``."""
    if torch.is_tensor(source):
        return source[index]
    return torch.from_numpy(source.take(index.numpy()))


# -- sample sources: what the loop draws batches from ---------------------------------
#
# A source is anything with ``len(source)`` and ``source.take(index) -> dict of
# tensors`` (``index`` a CPU int64 tensor of sample positions). The loop shuffles
# positions, so a source may build its samples lazily: pairs of snapshots with
# their lead time, query times, collocation points.


class FieldSource:
    """Named per-sample arrays drawn together: ``take`` gives ``{name: batch}``.

    Parameters
    ----------
    **fields : torch.Tensor or lazy array
        Arrays with the samples along their first axis, all of one length: CPU
        tensors (indexed directly) or lazy arrays with ``take`` and ``len``
        (:class:`opkit._validation.LazyFields`, :class:`SampleSubset`), read
        batch by batch.

    Examples
    --------
    >>> import torch
    >>> source = FieldSource(x=torch.zeros(4, 1, 8), y=torch.ones(4, 1, 8))
    >>> sorted(source.take(torch.tensor([0, 2])))
    ['x', 'y']
    """

    def __init__(self, **fields):
        lengths = {name: len(value) for name, value in fields.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"the arrays of a FieldSource differ in length: {lengths}")
        self.fields = fields

    def __len__(self) -> int:
        return len(next(iter(self.fields.values()))) if self.fields else 0

    def take(self, index) -> dict:
        """The samples at positions ``index`` (an int64 tensor), one tensor per name."""
        return {name: _take(value, index) for name, value in self.fields.items()}

    def subset(self, indices) -> "FieldSource":
        """The samples ``indices`` (tensors are indexed now, lazy arrays later)."""
        return FieldSource(**{name: subset(value, indices) for name, value in self.fields.items()})


class SourceSubset:
    """The samples ``indices`` of any source (a validation split of a lazy pair source, say)."""

    def __init__(self, source, indices):
        self.source = source
        self.indices = torch.as_tensor(np.asarray(indices), dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def take(self, index) -> dict:
        """The batch of the parent source at the subset's positions ``index``."""
        return self.source.take(self.indices[index])


def subset_source(source, indices):
    """Samples ``indices`` of a source: its own ``subset`` where it has one, else a :class:`SourceSubset`.

    Parameters
    ----------
    source : sample source
        Anything with ``len`` and ``take``.
    indices : array-like of int

    Returns
    -------
    sample source
    """
    if hasattr(source, "subset"):
        return source.subset(indices)
    return SourceSubset(source, indices)


class SupervisedStep:
    """The default training step: ``loss_fn(module(batch["x"]), batch["y"])``.

    A step is any callable ``step(module, batch)`` returning a scalar loss
    tensor, or a dict of named scalar terms (optimised: the ``"loss"`` entry
    if there is one, else the sum of the terms; :func:`train_module` records
    every term).

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(prediction, target)`` returning a scalar tensor.
    """

    def __init__(self, loss_fn):
        self.loss_fn = loss_fn

    def __call__(self, module, batch):
        return self.loss_fn(module(batch["x"]), batch["y"])


def _objective(loss):
    """The tensor to optimise and the named terms (None for a plain tensor)."""
    if isinstance(loss, dict):
        if not loss:
            raise ValueError("the training step returned an empty dict of loss terms")
        return (loss["loss"] if "loss" in loss else sum(loss.values())), loss
    return loss, None


def _to_device(batch: dict, device, dtype) -> dict:
    # Only floating tensors change dtype: indices and masks stay integer/boolean.
    return {
        k: (v.to(device, dtype=dtype, non_blocking=True) if v.is_floating_point() else v.to(device, non_blocking=True))
        for k, v in batch.items()
    }


class _Accumulator:
    """Sample-weighted sums of the loss and its named terms over an epoch (on the device)."""

    def __init__(self, device):
        self.device = device
        self.total = torch.zeros((), dtype=torch.float64, device=device)
        self.terms: dict = {}
        self.count = 0

    def add(self, loss, terms, n: int):
        self.total += loss.detach() * n
        if terms is not None:
            for name, value in terms.items():
                if name not in self.terms:
                    self.terms[name] = torch.zeros((), dtype=torch.float64, device=self.device)
                self.terms[name] += value.detach() * n
        self.count += n

    def means(self, world_size: int = 1):
        """``(mean loss, {term: mean})``, summed over processes when ``world_size > 1``."""
        names = sorted(self.terms)
        values = torch.stack([self.total, *[self.terms[k] for k in names],
                              torch.tensor(float(self.count), dtype=torch.float64, device=self.device)])
        if world_size > 1:
            torch.distributed.all_reduce(values)
        count = max(float(values[-1]), 1.0)
        values = (values[:-1] / count).tolist()
        return values[0], dict(zip(names, values[1:]))


@torch.no_grad()
def evaluate_step(module, step, source, batch_size: int, device, dtype=torch.float32):
    """Mean of a step's loss (and terms) over a source in evaluation mode, weighted by batch size.

    Parameters
    ----------
    module : torch.nn.Module
    step : callable
        As for :func:`train_module`.
    source : sample source
    batch_size : int
    device : torch.device
    dtype : torch.dtype, default=torch.float32

    Returns
    -------
    loss : float
    terms : dict of str to float
        Empty when the step returns a plain tensor.
    """
    module.eval()
    sums = _Accumulator(device)
    for index in _batches(len(source), batch_size, None):
        loss, terms = _objective(step(module, _to_device(source.take(index), device, dtype)))
        sums.add(loss, terms, len(index))
    return sums.means()


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


def cast_module(module, dtype):
    """Cast a module's real tensors to ``dtype`` and its complex ones to the matching complex dtype.

    ``Module.to(dtype)`` would cast complex weights (spectral convolutions) to a
    real dtype, dropping their imaginary part.

    Parameters
    ----------
    module : torch.nn.Module
    dtype : torch.float32 or torch.float64

    Returns
    -------
    torch.nn.Module
        ``module``, cast in place.
    """
    complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    tensors = list(module.parameters()) + list(module.buffers())
    if all(t.dtype in (dtype, complex_dtype) or not (t.is_floating_point() or t.is_complex()) for t in tensors):
        return module

    def convert(tensor):
        if tensor.is_floating_point():
            return tensor.to(dtype)
        if tensor.is_complex():
            return tensor.to(complex_dtype)
        return tensor

    return module._apply(convert)


def _optimizer_groups(module, param_groups, config: TrainConfig):
    """Optimizer parameter groups, and the parameters frozen for the stage.

    ``param_groups`` is None (every parameter with ``requires_grad``) or a list
    of dicts with ``params`` and optional ``lr_scale`` (multiplies
    ``learning_rate``) and ``weight_decay``. Parameters in no group are frozen
    for the stage, so no gradient is computed for them.
    """
    trainable = [p for p in module.parameters() if p.requires_grad]
    if param_groups is None:
        groups = [{"params": trainable, "lr": config.learning_rate, "weight_decay": config.weight_decay}]
    else:
        groups = []
        for group in param_groups:
            unknown = set(group) - {"params", "lr_scale", "weight_decay", "name"}
            if unknown:
                raise ValueError(f"parameter group keys {sorted(unknown)} are not among params, lr_scale, weight_decay, name")
            params = [p for p in group["params"] if p.requires_grad]
            groups.append({
                "params": params,
                "lr": config.learning_rate * float(group.get("lr_scale", 1.0)),
                "weight_decay": float(group.get("weight_decay", config.weight_decay)),
            })
    chosen = {id(p) for group in groups for p in group["params"]}
    if not chosen:
        raise ValueError(f"stage {config.stage!r} has no trainable parameters (all frozen or no group given)")
    frozen = [p for p in trainable if id(p) not in chosen]
    return [g for g in groups if g["params"]], frozen


def _record(history, epoch_loss, terms, prefix):
    for name, value in terms.items():
        history.setdefault(f"{prefix}/{name}", [None] * (len(history["epoch"]) - 1)).append(value)


#: Values per training batch below which a CPU fit runs on one intra-op thread.
#: Measured on 2 cores with the default TFNO on 16 x 16 Darcy (batch 16, 4096
#: values): one thread is as fast as two on an idle machine, and 10 to 20 times
#: faster than two when other processes load the cores, because every small op
#: waits at an OpenMP barrier for a thread that is not running
#: (docs/benchmarks.rst, "Speed of the first run").
SMALL_BATCH_VALUES = 2**15


def _batch_values(source, batch_size: int) -> int:
    """Values in one training batch, from the first sample of ``source``."""
    if len(source) == 0:
        return 0
    sample = source.take(torch.tensor([0]))
    return batch_size * sum(int(v.numel()) for v in sample.values() if torch.is_tensor(v))


@contextlib.contextmanager
def _threads_for(device, values_per_batch: int):
    """Train small CPU batches single-threaded; give the caller's thread count back after."""
    previous = torch.get_num_threads()
    if device.type == "cpu" and values_per_batch < SMALL_BATCH_VALUES and previous > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def train_module(module, step, source, config: TrainConfig, *, device, generator,
                 val_source=None, history=None, param_groups=None):
    """Train ``module`` on batches of ``source`` under ``step``.

    Parameters
    ----------
    module : torch.nn.Module
        Already on ``device``; cast to ``config.dtype``.
    step : callable
        ``step(module, batch)`` returning a scalar loss tensor or a dict of named
        terms (see :class:`SupervisedStep`, the supervised default).
    source : sample source
        ``len(source)`` and ``source.take(index) -> dict of CPU tensors``
        (:class:`FieldSource` for arrays in memory or lazily read); batches are
        moved to ``device`` as they are drawn.
    config : TrainConfig
    device : torch.device
    generator : torch.Generator
        Private CPU generator for shuffling; its state is checkpointed.
    val_source : sample source, optional
        Validation samples, evaluated after every epoch.
    history : dict, optional
        A history to extend (``warm_start``).
    param_groups : list of dict, optional
        ``{"params": ..., "lr_scale": float, "weight_decay": float}`` per group;
        parameters in no group, and those with ``requires_grad=False``, are not
        trained. Default: one group of all trainable parameters.

    Returns
    -------
    history : dict
        ``{"epoch": [...], "train_loss": [...], "val_loss": [...], "lr": [...],
        "time": [...]}``, plus ``"train/<term>"`` and ``"val/<term>"`` per
        named term when the step returns a dict.
    best_epoch : int
        Epoch whose weights ``module`` holds at the end (the best validation
        epoch under early stopping, else the last).
    """
    history = copy.deepcopy(history) if history else {"epoch": [], "train_loss": [], "val_loss": [], "lr": [], "time": []}
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {config.optimizer!r}")
    if config.dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {config.dtype!r}")
    dtype = DTYPES[config.dtype]
    cast_module(module, dtype)
    groups, frozen = _optimizer_groups(module, param_groups, config)
    for parameter in frozen:
        parameter.requires_grad_(False)
    try:
        batch = len(source) if config.optimizer == "lbfgs" else config.batch_size
        with _threads_for(device, _batch_values(source, batch)):
            if config.optimizer == "lbfgs":
                return _train_lbfgs(module, step, source, config, groups, device, dtype, val_source, history)
            return _train_adamw(module, step, source, config, groups, device, dtype, generator, val_source, history)
    finally:
        for parameter in frozen:
            parameter.requires_grad_(True)


def _progress(config, module, start_epoch, rank):
    epochs = range(start_epoch, config.max_epochs)
    if not (config.verbose and rank == 0):
        return epochs, None
    from tqdm.auto import tqdm

    name = type(getattr(module, "core", module)).__name__
    desc = f"{config.stage} {name}"
    bar = tqdm(epochs, desc=desc, unit="epoch", initial=start_epoch, total=config.max_epochs)
    return bar, bar


def _end_epoch(history, config, bar, epoch, started, lr, train, val):
    """Record an epoch in ``history`` and the progress bar; refuse a non-finite loss."""
    (train_loss, train_terms), (val_loss, val_terms) = train, val
    history["epoch"].append(len(history["epoch"]))
    history["train_loss"].append(train_loss)
    history["val_loss"].append(val_loss)
    history["lr"].append(lr)
    history["time"].append(time.perf_counter() - started)
    _record(history, train_loss, train_terms, "train")
    _record(history, val_loss, val_terms, "val")
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


class _EarlyStopping:
    def __init__(self, config, start_epoch):
        self.config = config
        self.best = (math.inf, None, start_epoch)
        self.stale = 0

    def stop(self, module, val_loss, epoch) -> bool:
        if not self.config.early_stopping or val_loss is None:
            return False
        if val_loss < self.best[0]:
            self.best = (val_loss, tensor_state(module), epoch)
            self.stale = 0
            return False
        self.stale += 1
        return self.stale >= self.config.n_iter_no_change

    def finish(self, module, history) -> int:
        if self.config.early_stopping and self.best[1] is not None:
            module.load_state_dict(self.best[1])
            return self.best[2]
        return len(history["epoch"]) - 1


def _train_adamw(module, step, source, config, groups, device, dtype, generator, val_source, history):
    n = len(source)
    rank, world_size = distributed_context()
    steps_per_epoch = math.ceil(n / (config.batch_size * world_size))
    # foreach: one fused call per update for all tensors; torch only picks it
    # by default on CUDA, and on CPU the per-tensor loop costs about a third
    # of the optimiser step (same arithmetic, issue #18).
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay, foreach=True)
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
    has_val = val_source is not None and len(val_source) > 0
    stopping = _EarlyStopping(config, start_epoch)
    epochs, bar = _progress(config, module, start_epoch, rank)
    for epoch in epochs:
        model.train()
        started = time.perf_counter()
        sums = _Accumulator(device)
        for index in _batches(n, config.batch_size, generator, rank, world_size):
            batch = _to_device(source.take(index), device, dtype)
            if config.symmetries:
                batch["x"], batch["y"] = random_symmetric_copies(
                    batch["x"], batch["y"], config.symmetries, generator, rank, world_size)
            optimizer.zero_grad(set_to_none=True)
            loss, terms = _objective(step(model, batch))
            loss.backward()
            if config.gradient_clip is not None:
                torch.nn.utils.clip_grad_norm_(module.parameters(), float(config.gradient_clip))
            optimizer.step()
            scheduler.step()
            sums.add(loss, terms, len(index))
        train = sums.means(world_size)
        val = evaluate_step(module, step, val_source, config.batch_size, device, dtype) if has_val else (None, {})
        _end_epoch(history, config, bar, epoch, started, optimizer.param_groups[0]["lr"], train, val)
        if config.checkpoint_path and rank == 0:
            _save_training_state(config.checkpoint_path, module, optimizer, scheduler, generator, epoch + 1, history, config)
        if stopping.stop(module, val[0], epoch):
            break
    if bar is not None:
        bar.close()
    best_epoch = stopping.finish(module, history)
    module.eval()
    return history, best_epoch


def _train_lbfgs(module, step, source, config, groups, device, dtype, val_source, history):
    """Full-batch L-BFGS: each epoch is one ``LBFGS.step`` of up to ``lbfgs_max_iter`` iterations."""
    rank, world_size = distributed_context()
    if world_size > 1:
        raise ValueError(
            f"stage {config.stage!r} uses full-batch L-BFGS, which runs in one process; "
            "run it outside torch.distributed (or use optimizer='adamw')"
        )
    double = dtype == torch.float64
    grad_tol, change_tol = config.lbfgs_tolerance_grad, config.lbfgs_tolerance_change
    optimizer = torch.optim.LBFGS(
        [p for g in groups for p in g["params"]], lr=config.learning_rate, max_iter=int(config.lbfgs_max_iter),
        history_size=int(config.lbfgs_history_size), line_search_fn="strong_wolfe",
        tolerance_grad=grad_tol if grad_tol is not None else (1e-12 if double else 1e-7),
        tolerance_change=change_tol if change_tol is not None else (1e-16 if double else 1e-9),
    )
    batch = _to_device(source.take(torch.arange(len(source))), device, dtype)
    has_val = val_source is not None and len(val_source) > 0
    last: dict = {}

    def closure():
        optimizer.zero_grad(set_to_none=True)
        loss, terms = _objective(step(module, batch))
        loss.backward()
        # The last evaluation is the accepted point of the strong-Wolfe line search.
        last["loss"], last["terms"] = loss.detach(), terms
        return loss

    stopping = _EarlyStopping(config, 0)
    epochs, bar = _progress(config, module, 0, rank)
    for epoch in epochs:
        module.train()
        started = time.perf_counter()
        optimizer.step(closure)
        sums = _Accumulator(device)
        sums.add(last["loss"], last["terms"], len(source))
        val = evaluate_step(module, step, val_source, config.batch_size, device, dtype) if has_val else (None, {})
        _end_epoch(history, config, bar, epoch, started, config.learning_rate, sums.means(), val)
        if stopping.stop(module, val[0], epoch):
            break
    if bar is not None:
        bar.close()
    best_epoch = stopping.finish(module, history)
    module.eval()
    return history, best_epoch

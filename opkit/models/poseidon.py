"""PoseidonRegressor: Poseidon's scalable operator transformer (scOT) as an estimator."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from sklearn.utils.validation import check_is_fitted

from ..estimator import CORE_PARAMS, OpkitEstimator, params_doc, store_params
from ..layers.scot import POSEIDON_SIZES, ScOT, ScOTConfig, TimeLayerNorm, spectral_resample
from ..training import resolve_device, subset_source

__all__ = ["PoseidonRegressor", "relative_l1_groups", "POSEIDON_STATS"]

#: Mean and std of (rho, vx, vy, p) the published Poseidon models were trained with.
POSEIDON_STATS = {"rho": (0.80, 0.31), "vx": (0.0, 0.391), "vy": (0.0, 0.356), "p": (0.0, 0.185)}
#: Gradient-norm clip of the published pretraining and fine-tuning recipes (every stage).
GRADIENT_CLIP = 5.0
#: Variables of the published checkpoints, in channel order.
POSEIDON_VARIABLES = ("rho", "vx", "vy", "p")
#: Physical values of variables a dataset lacks (incompressible data enter as rho = 1, p = 0).
FILL_VALUES = {"rho": 1.0}
#: Small configurations by name (the published sizes are in :data:`opkit.layers.scot.POSEIDON_SIZES`).
SMALL_SIZES = {
    "tiny": dict(image_size=32, patch_size=4, embed_dim=24, depths=(1, 1, 1, 1), window_size=4,
                 skip_connections=(1, 1, 1, 0)),
}


def relative_l1_groups(prediction, target, groups, weights=None):
    """Relative L1 error per variable group, averaged over the groups (Poseidon's training loss).

    For each group ``g`` of channels: ``sum |pred_g - y_g| / (sum |y_g| + 1e-10)``
    over the whole batch; the mean over groups is returned.

    Parameters
    ----------
    prediction, target : torch.Tensor
        (batch, channels, H, W).
    groups : list of list of int
        Channel indices of each group.
    weights : torch.Tensor, optional
        (H, W) or (batch, channels, H, W) 0/1 mask of the points in the loss.

    Returns
    -------
    torch.Tensor
        Scalar.
    """
    terms = []
    for group in groups:
        diff = (prediction[:, group] - target[:, group]).abs()
        ref = target[:, group].abs()
        if weights is not None:
            w = weights if weights.dim() == 4 else weights.expand_as(diff) if weights.dim() == 2 else weights
            w = w[:, group] if w.dim() == 4 and w.shape[1] == target.shape[1] else w
            diff, ref = diff * w, ref * w
        terms.append(diff.sum() / (ref.sum() + 1e-10))
    return torch.stack(terms).mean()


def _grid_dims(da):
    return [d for d in da.dims if d not in ("sample", "time")]


class _PairSource:
    """Lazily built (input at t_k, lead time, target at t_kbar) pairs of trajectories.

    ``fields`` (N, T, C_in, H, W) normalised; ``targets`` the channels predicted;
    ``pairs`` an int array (P, 2) of (k, kbar) per trajectory; ``times`` (T,)
    scaled times. Sample ``i`` is trajectory ``i // P``, pair ``i % P``.
    """

    def __init__(self, fields, n_out, pairs, times, weights=None):
        self.fields, self.n_out = fields, n_out
        self.pairs = torch.as_tensor(pairs, dtype=torch.int64)
        self.times = torch.as_tensor(times, dtype=fields.dtype)
        self.weights = weights

    def __len__(self):
        return self.fields.shape[0] * len(self.pairs)

    def take(self, index):
        index = torch.as_tensor(index, dtype=torch.int64)
        traj, pair = index // len(self.pairs), index % len(self.pairs)
        k, kbar = self.pairs[pair, 0], self.pairs[pair, 1]
        x = self.fields[traj, k]
        y = self.fields[traj, kbar, :self.n_out]
        batch = {"x": x, "y": y, "t": self.times[kbar] - self.times[k]}
        if self.weights is not None:
            batch["w"] = self.weights.expand(len(index), *self.weights.shape[1:])
        return batch

    def subset_trajectories(self, indices):
        """The pairs of the trajectories ``indices`` only."""
        return _PairSource(self.fields[torch.as_tensor(indices, dtype=torch.int64)], self.n_out, self.pairs,
                           self.times, self.weights)


class _ConcatSource:
    """Several sample sources drawn as one (pretraining on several datasets)."""

    def __init__(self, sources):
        self.sources = list(sources)
        self.offsets = np.cumsum([0] + [len(s) for s in self.sources])

    def __len__(self):
        return int(self.offsets[-1])

    def take(self, index):
        index = torch.as_tensor(index, dtype=torch.int64)
        which = np.searchsorted(self.offsets, index.numpy(), side="right") - 1
        parts, order = [], []
        for s in np.unique(which):
            pos = np.nonzero(which == s)[0]
            parts.append(self.sources[s].take(index[pos] - int(self.offsets[s])))
            order.append(pos)
        inverse = torch.as_tensor(np.argsort(np.concatenate(order)), dtype=torch.int64)
        keys = set.intersection(*(set(p) for p in parts))
        return {k: torch.cat([p[k] for p in parts])[inverse] for k in keys}


class _PoseidonStep:
    def __init__(self, groups):
        self.groups = groups

    def __call__(self, module, batch):
        return relative_l1_groups(module(batch["x"], batch["t"]), batch["y"], self.groups, batch.get("w"))


def _pair_indices(n_times, mode):
    if mode == "all2all":
        return [(k, kb) for k in range(n_times) for kb in range(k, n_times)]
    if mode == "one2all":
        return [(0, kb) for kb in range(n_times)]
    if mode == "next":
        return [(k, k + 1) for k in range(n_times - 1)]
    raise ValueError(f"time_pairs must be 'all2all', 'one2all' or 'next', got {mode!r}")


class PoseidonRegressor(OpkitEstimator):
    __doc__ = f"""Poseidon's scalable operator transformer (scOT): a state and a lead time in, a later state out.

    A SwinV2 U-Net with lead-time-conditioned LayerNorms (Herde et al.,
    "Poseidon: Efficient Foundation Models for PDEs", NeurIPS 2024; network:
    :class:`opkit.layers.scot.ScOT`). Trained from trajectories
    (``fit(X)``, pairs of snapshots built lazily), from pairs
    (``fit(X, y)``), or fine-tuned from a checkpoint read by
    :meth:`from_pretrained` (the published Poseidon ``config.json`` +
    ``model.safetensors`` or one opkit wrote with :meth:`save_pretrained`).
    Any square grid: fields are resampled spectrally to the network's grid
    and back.

    Parameters
    ----------
    variables : sequence of str or None, default=None
        Predicted variables, in channel order. None: every data variable of
        ``X`` with the dims (sample, time, <2 grid dims>) (with ``y``: those of ``y``).
    static_vars : sequence of str, default=()
        Variables given as inputs but not predicted (coefficients, forcing,
        masks), re-appended at every rollout step; (sample, <grid>) or
        with a time dim (the value at the input time is used).
    model_size : {{"T", "B", "L", "tiny"}}, default="T"
        Architecture: a published size (``T``: C = 48, depths 4 x 4,
        20.8M parameters) or ``"tiny"`` (32 x 32 grid, C = 24, depths 1, 1.6M).
    config : dict or None, default=None
        :class:`~opkit.layers.scot.ScOTConfig` fields overriding ``model_size``
        (``image_size``, ``embed_dim``, ``depths``, ``window_size``, ...).
    time_pairs : {{"all2all", "one2all", "next"}}, default="all2all"
        Training pairs of a trajectory with K + 1 snapshots: every
        ``k <= kbar`` ((K+1)(K+2)/2, lead time 0 included), ``0 -> kbar``, or
        ``k -> k+1``.
    lead_time_scale : "auto" or float, default="auto"
        Lead times are divided by it before entering the network; "auto" is
        the span of ``X``'s ``time`` coordinate (physical time on [0, 1]).
    normalization : {{"auto", "data", "poseidon"}}, default="auto"
        Mean and std per variable: from the training data, or the published
        statistics of (rho, vx, vy, p) (:data:`POSEIDON_STATS`). "auto": the
        published ones for a published-layout checkpoint, else the data's.
    loss_mask : sequence of str, array or None, default=None
        Variable names left out of the loss, or a boolean (H, W) array of
        the points kept in it (on the training grid).
    variable_groups : "auto" or list of list of str, default="auto"
        Groups of the relative L1 loss. "auto": velocity components (``vx``,
        ``vy``, ``u``/``v`` pairs) together, every other variable alone.
    finetune_lr : (float, float, float), default=(5e-5, 5e-4, 5e-4)
        Learning rates of the backbone, of the embedding + recovery and of the
        time-conditioned LayerNorms when fitting a pretrained model
        (``learning_rate`` is used when training from scratch). Fine-tuning
        keeps the weights of the best validation epoch, on
        ``validation_fraction`` of the trajectories (at least one) held out
        even without ``early_stopping``; ``validation_fraction=0`` trains on
        all of them and keeps the last epoch. Every stage clips the gradient
        norm at 5.
    {params_doc([k for k in CORE_PARAMS])}
    Attributes
    ----------
    model_ : ScOT
        The network, called ``model_(x, time)`` on normalised (batch,
        channels, H, W) input with ``time`` (batch,).
    variables_, static_vars_ : list of str
    mean_, std_ : numpy.ndarray
        Normalisation of the input channels (predicted variables first).
    lead_time_scale_ : float
    pretrained_ : bool
        Whether the network started from a checkpoint.
    history_, stage_history_, n_epochs_, n_params_, device_
        As every opkit estimator.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from opkit import PoseidonRegressor
    >>> t = np.linspace(0, 1, 3); g = np.arange(16) / 16
    >>> u = np.sin(2 * np.pi * (g[None, None, :, None] - 0.2 * t[None, :, None, None])) * np.ones((2, 1, 1, 16))
    >>> ds = xr.Dataset({{"u": (("sample", "time", "x", "y"), u)}}, coords={{"time": t}})
    >>> est = PoseidonRegressor(model_size="tiny", max_epochs=1, random_state=0).fit(ds)
    >>> est.predict(ds.isel(time=0), lead_time=0.5)["u"].dims
    ('sample', 'x', 'y')
    """

    requires_y = False

    def __init__(self, variables=None, static_vars=(), model_size="T", config=None, time_pairs="all2all",
                 lead_time_scale="auto", normalization="auto", loss_mask=None, variable_groups="auto",
                 finetune_lr=(5e-5, 5e-4, 5e-4), *, max_epochs=20, batch_size=40, learning_rate=5e-4,
                 weight_decay=1e-6, scheduler="cosine", validation_fraction=0.1, early_stopping=False,
                 n_iter_no_change=10, device="auto", random_state=None, verbose=0, warm_start=False,
                 checkpoint_path=None):
        store_params(self, locals())

    # -- configuration ---------------------------------------------------------------------
    def _config(self, n_in, n_out) -> ScOTConfig:
        if self.model_size in POSEIDON_SIZES:
            base = dict(POSEIDON_SIZES[self.model_size])
        elif self.model_size in SMALL_SIZES:
            base = dict(SMALL_SIZES[self.model_size])
        else:
            raise ValueError(f"model_size must be one of {sorted(POSEIDON_SIZES) + sorted(SMALL_SIZES)}, "
                             f"got {self.model_size!r}")
        base.update(self.config or {})
        base.update(num_channels=n_in, num_out_channels=n_out)
        return ScOTConfig(**base)

    def _rebuild_network(self):
        return ScOT(ScOTConfig.from_dict(self.scot_config_))

    # -- data ------------------------------------------------------------------------------
    @staticmethod
    def _as_dataset(X, what):
        if isinstance(X, xr.DataArray):
            return X.to_dataset(name=X.name or "u")
        if not isinstance(X, xr.Dataset):
            raise TypeError(f"{what} must be an xarray Dataset or DataArray, got {type(X).__name__}")
        if "sample" not in X.dims:
            raise ValueError(f"{what} needs a 'sample' dim; its dims are {tuple(X.dims)}")
        return X

    def _stack(self, ds, names, what, with_time):
        """(N, [T,] C, H, W) float32 array of ``names``; the grid dims and their sizes."""
        arrays, grid = [], None
        for name in names:
            if name not in ds:
                raise ValueError(f"{what} has no variable {name!r}; it has {list(ds.data_vars)}")
            da = ds[name]
            dims = _grid_dims(da)
            if len(dims) != 2:
                raise ValueError(f"{what}[{name!r}] must have two grid dims besides sample/time; its dims are {da.dims}")
            if grid is None:
                grid = dims
            elif dims != grid:
                raise ValueError(f"{what}[{name!r}] has grid dims {dims}, the other variables {grid}")
            if da.sizes[dims[0]] != da.sizes[dims[1]]:
                raise ValueError(f"{what}[{name!r}] is on a {da.sizes[dims[0]]} x {da.sizes[dims[1]]} grid; "
                                 "PoseidonRegressor needs square grids")
            if with_time:
                if "time" not in da.dims:
                    if name in self.static_vars_:
                        da = da.expand_dims(time=ds.sizes["time"])
                    else:
                        raise ValueError(f"{what}[{name!r}] has no 'time' dim: fit(X) takes trajectories "
                                         "(sample, time, y, x); pass y for pairs")
                da = da.transpose("sample", "time", *grid)
            else:
                if "time" in da.dims:
                    raise ValueError(f"{what}[{name!r}] has a 'time' dim; select one snapshot (e.g. X.isel(time=0))")
                da = da.transpose("sample", *grid)
            values = np.asarray(da.values, dtype=np.float32)
            if not np.isfinite(values).all():
                raise ValueError(f"{what}[{name!r}] contains NaN or inf")
            arrays.append(values)
        return np.stack(arrays, axis=-3), grid

    def _default_variables(self, ds):
        return [n for n, da in ds.data_vars.items()
                if "time" in da.dims and len(_grid_dims(da)) == 2 and n not in self.static_vars]

    def _normalise(self, arr, names):
        mean = np.array([self.stats_.get(n, (0.0, 1.0))[0] for n in names], dtype=np.float32)
        std = np.array([self.stats_.get(n, (0.0, 1.0))[1] for n in names], dtype=np.float32)
        shape = (-1, 1, 1)
        return (arr - mean.reshape(shape)) / std.reshape(shape)

    def _groups(self, names):
        if self.variable_groups != "auto":
            groups = [[names.index(v) for v in g if v in names] for g in self.variable_groups]
            return [g for g in groups if g]
        groups, used = [], set()
        for a, b in (("vx", "vy"), ("u", "v"), ("ux", "uy")):
            if a in names and b in names:
                groups.append([names.index(a), names.index(b)])
                used |= {a, b}
        groups += [[i] for i, n in enumerate(names) if n not in used]
        return sorted(groups)

    # -- fit -------------------------------------------------------------------------------
    def _fit(self, X, y=None, lead_time=None):
        ds = self._as_dataset(X, "X")
        self.static_vars_ = list(self.static_vars)
        pretrained = getattr(self, "pretrained_", False) and hasattr(self, "model_")
        if pretrained:
            names = list(self.variables_)
        elif self.variables is not None:
            names = list(self.variables)
        elif y is not None:
            names = [n for n in self._as_dataset(y, "y").data_vars if n not in self.static_vars_]
        else:
            names = self._default_variables(ds)
        if not names:
            raise ValueError("X has no trajectory variable (sample, time, <2 grid dims>); name them with variables=")
        present = [n for n in names if n in ds or (y is not None and n in self._as_dataset(y, "y"))]
        missing = [n for n in names if n not in present]
        if missing and not pretrained:
            raise ValueError(f"X has no variable(s) {missing}; it has {list(ds.data_vars)}")
        if y is None:
            if "time" not in ds.dims or ds.sizes["time"] < 2:
                raise ValueError("fit(X) needs trajectories with at least 2 snapshots along 'time'; "
                                 "pass y for (input, target) pairs")
            times = np.asarray(ds["time"].values, dtype=np.float64) if "time" in ds.coords else \
                np.arange(ds.sizes["time"], dtype=np.float64)
            filled = self._filled(ds, names, missing)
            arr, grid = self._stack(filled, names + self.static_vars_, "X", True)
            if self.lead_time_scale == "auto":
                scale = float(times[-1] - times[0]) or 1.0
            else:
                scale = float(self.lead_time_scale)
            pairs = _pair_indices(arr.shape[1], self.time_pairs)
        else:
            yds = self._as_dataset(y, "y")
            filled_x = self._filled(ds, names, [n for n in names if n not in ds])
            filled_y = self._filled(yds, names, [n for n in names if n not in yds])
            xa, grid = self._stack(filled_x, names + self.static_vars_, "X", False)
            ya, _ = self._stack(filled_y, names, "y", False)
            if xa.shape[0] != ya.shape[0] or xa.shape[-1] != ya.shape[-1]:
                raise ValueError(f"X has {xa.shape[0]} samples on a {xa.shape[-1]}^2 grid, y {ya.shape[0]} on "
                                 f"{ya.shape[-1]}^2: they must match")
            tau = lead_time if lead_time is not None else (
                float(ds["lead_time"]) if "lead_time" in ds.coords and ds["lead_time"].size == 1 else 1.0)
            scale = 1.0 if self.lead_time_scale == "auto" else float(self.lead_time_scale)
            extra = np.zeros_like(xa[:, :1, len(names):]) if self.static_vars_ else None
            target = ya[:, None] if extra is None else np.concatenate([ya[:, None], xa[:, None, len(names):]], 2)
            arr = np.concatenate([xa[:, None], target], axis=1)
            times = np.array([0.0, float(tau)])
            pairs = [(0, 1)]
        computed = self._statistics(arr, names + self.static_vars_)
        if pretrained:  # the checkpoint's statistics where it has them, the data's for new variables
            computed.update({k: v for k, v in getattr(self, "stats_", {}).items() if k in computed})
        self.stats_ = computed
        self.variables_, self.missing_vars_, self.grid_dims_ = names, missing, list(grid)
        self.lead_time_scale_ = scale
        n_in, n_out = len(names) + len(self.static_vars_), len(names)

        seed = self._seed()
        generator, device = self._generator(seed), resolve_device(self.device)
        if pretrained or (self.warm_start and hasattr(self, "model_")):
            network = self.model_
            if network.config.num_channels != n_in or network.config.num_out_channels != n_out:
                raise ValueError(f"the network takes {network.config.num_channels} channels and predicts "
                                 f"{network.config.num_out_channels}; the data give {n_in} and {n_out}")
        else:
            self.scot_config_ = self._config(n_in, n_out).to_dict()
            network = self._init_network(self._rebuild_network, seed)
        size = network.config.image_size
        data = torch.from_numpy(self._normalise(arr, names + self.static_vars_))
        n, t = data.shape[:2]
        data = spectral_resample(data.reshape(n * t, n_in, *data.shape[-2:]), size).reshape(n, t, n_in, size, size)
        weights = self._loss_weights(names, size)
        source = _PairSource(data.contiguous(), n_out, pairs, (times - times[0]) / scale, weights)
        train_idx, val_idx = self._split_validation(n, generator)
        stage = "finetune" if pretrained else "fit"
        settings = {}
        if stage == "finetune" and len(val_idx):
            settings = dict(early_stopping=True, n_iter_no_change=max(int(self.n_iter_no_change), int(self.max_epochs)))
        if stage == "finetune" and len(val_idx) == 0 and self.validation_fraction > 0 and n > 1:
            # the best validation checkpoint of the recipe: validation_fraction of the trajectories held out
            n_val = min(n - 1, max(1, int(round(float(self.validation_fraction) * n))))
            val_idx, train_idx = train_idx[:n_val], train_idx[n_val:]
            settings = dict(early_stopping=True, n_iter_no_change=int(self.max_epochs))
        network = network.to(device)
        self._run_stage(stage, network, source.subset_trajectories(train_idx), step=_PoseidonStep(self._groups_of(names)),
                        generator=generator, device=device,
                        val_source=source.subset_trajectories(val_idx) if len(val_idx) else None,
                        history=self.history_ if self.warm_start and hasattr(self, "history_") else None,
                        **settings)
        self._set_network(network.eval(), device)
        return self

    def fit(self, X, y=None, lead_time=None):
        """Train on trajectories (``y=None``) or on (input, target) pairs.

        Parameters
        ----------
        X : xarray.Dataset or DataArray
            Trajectories (sample, time, <grid>) per variable, or the inputs of
            pairs (sample, <grid>).
        y : xarray.Dataset or DataArray, optional
            Targets of pairs (sample, <grid>) per predicted variable.
        lead_time : float, optional
            Lead time of the pairs (default: a scalar ``lead_time`` coordinate
            of ``X``, else 1, the steady-task convention).

        Returns
        -------
        self
        """
        return self._fit(X, y, lead_time=lead_time)

    def _groups_of(self, names):
        groups = self._groups(names)
        dropped = set(self.missing_vars_)
        if self.loss_mask is not None and not hasattr(self.loss_mask, "shape"):
            dropped |= set(self.loss_mask)
        groups = [[i for i in g if names[i] not in dropped] for g in groups]
        groups = [g for g in groups if g]
        if not groups:
            raise ValueError(f"loss_mask={self.loss_mask!r} leaves no variable in the loss")
        return groups

    def _loss_weights(self, names, size):
        if self.loss_mask is None or not hasattr(self.loss_mask, "shape"):
            return None
        mask = torch.as_tensor(np.asarray(self.loss_mask, dtype=np.float32))
        if mask.dim() != 2 or mask.shape[0] != mask.shape[1]:
            raise ValueError(f"loss_mask as an array must be a square (H, W) mask, got shape {tuple(mask.shape)}")
        if mask.shape[0] != size:
            mask = (spectral_resample(mask[None, None], size)[0, 0] > 0.5).float()
        return mask[None, None]

    def _filled(self, ds, names, missing):
        if not missing:
            return ds
        ref = next((ds[n] for n in names if n in ds), None)
        if ref is None:
            raise ValueError(f"the data hold none of the variables {names}")
        return ds.assign({n: ref * 0 + FILL_VALUES.get(n, 0.0) for n in missing})

    def _statistics(self, arr, names):
        mode = self.normalization
        if mode == "auto":
            mode = "data"
        if mode not in ("data", "poseidon"):
            raise ValueError(f"normalization must be 'auto', 'data' or 'poseidon', got {self.normalization!r}")
        stats = {}
        for i, name in enumerate(names):
            if mode == "poseidon" and name in POSEIDON_STATS:
                stats[name] = POSEIDON_STATS[name]
            else:
                values = arr[..., i, :, :]
                std = float(values.std())
                stats[name] = (float(values.mean()), std if std > 1e-12 else 1.0)
        return stats

    # -- fine-tuning -------------------------------------------------------------------------
    def _stage_settings(self, stage):
        """Every stage clips the gradient norm at 5, as the published pretraining and fine-tuning recipes."""
        return {"gradient_clip": GRADIENT_CLIP}

    def _param_groups(self, module, stage):
        if stage != "finetune":
            return None
        backbone, ends, norms = [], [], []
        end_prefixes = ("embeddings.patch_embeddings.", "patch_recovery.")
        norm_ids = {id(p) for m in module.modules() if isinstance(m, TimeLayerNorm) for p in m.parameters()}
        for name, p in module.named_parameters():
            if id(p) in norm_ids:
                norms.append(p)
            elif name.startswith(end_prefixes):
                ends.append(p)
            else:
                backbone.append(p)
        base = float(self.learning_rate)
        lr_backbone, lr_ends, lr_norm = (float(v) for v in self.finetune_lr)
        return [{"params": backbone, "lr_scale": lr_backbone / base, "name": "backbone"},
                {"params": ends, "lr_scale": lr_ends / base, "name": "embedding_recovery"},
                {"params": norms, "lr_scale": lr_norm / base, "weight_decay": 0.0, "name": "time_norms"}]

    @classmethod
    def from_pretrained(cls, path, variables=POSEIDON_VARIABLES, static_vars=(), **params):
        """An estimator holding a checkpoint's network, ready to fine-tune (``fit``) or predict.

        Parameters
        ----------
        path : str or os.PathLike
            A local folder with ``config.json`` and ``model.safetensors`` (the
            published Poseidon layout, or :meth:`save_pretrained`'s). Pickles
            (``pytorch_model.bin``) are never read; nothing is downloaded.
        variables : sequence of str, default=("rho", "vx", "vy", "p")
            Variables to predict. When they (with ``static_vars``) differ from
            the checkpoint's, the patch embedding, the transposed recovery
            convolution and the 5x5 mixing convolution are replaced and
            re-initialised (normal 0.02, zero bias); the rest is loaded.
        static_vars : sequence of str, default=()
        **params
            Hyperparameters of the estimator.

        Returns
        -------
        PoseidonRegressor
        """
        from ..persistence import load_foreign_weights

        path = Path(path)
        weights = path / "model.safetensors"
        if not (path / "config.json").is_file() or not weights.is_file():
            found = sorted(p.name for p in path.iterdir()) if path.is_dir() else "no such folder"
            raise FileNotFoundError(f"{path} must hold config.json and model.safetensors (found: {found})")
        with open(path / "config.json") as handle:
            raw = json.load(handle)
        config = ScOTConfig.from_dict(raw)
        ckpt_vars = list(raw.get("opkit_variables", POSEIDON_VARIABLES[:config.num_out_channels]))
        ckpt_static = list(raw.get("opkit_static_vars", []))
        variables, static_vars = list(variables), list(static_vars)
        replace = (variables != ckpt_vars or static_vars != ckpt_static
                   or len(variables) + len(static_vars) != config.num_channels)
        est = cls(variables=tuple(variables), static_vars=tuple(static_vars), **params)
        if replace:
            config = dataclasses_replace(config, num_channels=len(variables) + len(static_vars),
                                         num_out_channels=len(variables))
        net = ScOT(config)
        heads = ("embeddings.patch_embeddings.projection.", "patch_recovery.projection.", "patch_recovery.mixup.")
        key_map = (lambda k: None if k.startswith(heads) else est._foreign_key(k)) if replace else est._foreign_key
        missing = load_foreign_weights(net, weights, key_map=key_map, strict=not replace)
        if replace:
            unexpected = [k for k in missing if not k.startswith(heads)]
            if unexpected:
                raise ValueError(f"{weights} lacks {unexpected[:5]}")
            generator = torch.Generator().manual_seed(est._seed())
            with torch.no_grad():
                for module in (net.embeddings.patch_embeddings.projection, net.patch_recovery.projection,
                               net.patch_recovery.mixup):
                    module.weight.copy_(torch.nn.init.trunc_normal_(torch.empty_like(module.weight), std=0.02,
                                                                    generator=generator))
                    if module.bias is not None:
                        module.bias.zero_()
        with torch.no_grad():
            probe = net(torch.zeros(1, config.num_channels, config.image_size, config.image_size), torch.ones(1))
        if not torch.isfinite(probe).all():
            raise ValueError(f"{path}: the first forward pass of the loaded network is not finite")
        stats = raw.get("opkit_stats")
        if stats is None:
            stats = {n: POSEIDON_STATS.get(n, (0.0, 1.0)) for n in variables + static_vars}
            stats = {n: POSEIDON_STATS[n] for n in variables + static_vars if n in POSEIDON_STATS}
        est.stats_ = {n: tuple(stats[n]) for n in variables + static_vars if n in stats}
        est.scot_config_ = config.to_dict()
        est.variables_, est.static_vars_, est.missing_vars_ = variables, static_vars, []
        est.lead_time_scale_ = float(raw.get("opkit_lead_time_scale", 1.0))
        est.pretrained_ = True
        est.grid_dims_ = list(raw.get("opkit_grid_dims", ["x", "y"]))
        est._set_network(net.eval(), torch.device("cpu"))
        est.history_, est.stage_history_, est.n_epochs_ = {"epoch": []}, {}, 0
        return est

    def save_pretrained(self, path):
        """Write ``config.json`` + ``model.safetensors`` (the published layout) into folder ``path``.

        :meth:`from_pretrained` reads it back; opkit's variables, statistics and
        lead-time scale ride along as ``opkit_*`` keys of ``config.json``.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        pathlib.Path
        """
        from safetensors.torch import save_file

        check_is_fitted(self, "model_")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = dict(self.scot_config_)
        config.update(opkit_variables=list(self.variables_), opkit_static_vars=list(self.static_vars_),
                      opkit_stats={k: list(v) for k, v in self.stats_.items()},
                      opkit_lead_time_scale=self.lead_time_scale_, opkit_grid_dims=list(self.grid_dims_))
        (path / "config.json").write_text(json.dumps(config, indent=2))
        state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in self.model_.state_dict().items()}
        save_file(state, str(path / "model.safetensors"))
        return path

    # -- pretraining ---------------------------------------------------------------------------
    def pretrain(self, datasets, variables=POSEIDON_VARIABLES):
        """Train one network on several trajectory datasets (e.g. Navier--Stokes and Euler presets).

        Each dataset enters with the variables ``variables`` it has; those it
        lacks are filled (rho = 1, others 0) and left out of its loss, so
        incompressible data enter as (1, vx, vy, 0). Normalisation uses
        :data:`POSEIDON_STATS` for (rho, vx, vy, p) and the pooled data
        otherwise; lead times are each dataset's time span fractions. Runs the
        shared training loop (stage ``"pretrain"``, DDP under torchrun);
        :meth:`save_pretrained` then writes it for :meth:`from_pretrained`.

        Parameters
        ----------
        datasets : sequence of xarray.Dataset
            Trajectories (sample, time, <grid>).
        variables : sequence of str, default=("rho", "vx", "vy", "p")

        Returns
        -------
        self
        """
        names = list(variables)
        self.static_vars_ = []
        arrays = []
        for i, ds in enumerate(datasets):
            ds = self._as_dataset(ds, f"datasets[{i}]")
            have = [n for n in names if n in ds]
            if not have:
                raise ValueError(f"datasets[{i}] has none of the variables {names}; it has {list(ds.data_vars)}")
            arr, grid = self._stack(self._filled(ds, names, [n for n in names if n not in ds]), names,
                                    f"datasets[{i}]", True)
            times = np.asarray(ds["time"].values, dtype=np.float64)
            arrays.append((arr, times, [n for n in names if n not in ds]))
        self.stats_ = {}
        for j, n in enumerate(names):
            if n in POSEIDON_STATS:
                self.stats_[n] = POSEIDON_STATS[n]
            else:
                pooled = np.concatenate([a[..., j, :, :].ravel() for a, _, m in arrays if n not in m])
                self.stats_[n] = (float(pooled.mean()), float(pooled.std()) or 1.0)
        self.variables_, self.missing_vars_, self.grid_dims_ = names, [], list(grid)
        self.lead_time_scale_ = 1.0
        seed = self._seed()
        generator, device = self._generator(seed), resolve_device(self.device)
        self.scot_config_ = self._config(len(names), len(names)).to_dict()
        network = self._init_network(self._rebuild_network, seed)
        size = network.config.image_size
        sources = []
        for arr, times, missing in arrays:
            data = torch.from_numpy(self._normalise(arr, names))
            n, t = data.shape[:2]
            data = spectral_resample(data.reshape(n * t, len(names), *data.shape[-2:]), size)
            data = data.reshape(n, t, len(names), size, size)
            w = torch.ones(1, len(names), 1, 1)
            for m in missing:
                w[0, names.index(m)] = 0.0
            sources.append(_PairSource(data.contiguous(), len(names), _pair_indices(t, self.time_pairs),
                                       (times - times[0]) / (float(times[-1] - times[0]) or 1.0), w))
        source = _ConcatSource(sources)
        self._run_stage("pretrain", network.to(device), source, step=_PoseidonStep(self._groups(names)),
                        generator=generator, device=device)
        self._set_network(network.eval(), device)
        self.pretrained_ = False
        return self

    # -- predict -----------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, X, lead_time=1.0, n_steps=1):
        """The state ``lead_time`` after ``X``.

        Parameters
        ----------
        X : xarray.Dataset or DataArray
            States (sample, <grid>) of the predicted variables (and the
            static ones), on any square grid.
        lead_time : float or array-like of float, default=1.0
            In the units of the training ``time`` coordinate; an array adds a
            ``lead_time`` dim.
        n_steps : int, default=1
            Roll out in ``n_steps`` steps of ``lead_time / n_steps`` (static
            variables re-appended at each step).

        Returns
        -------
        xarray.Dataset
            The predicted variables, (sample, [lead_time,] <grid>).
        """
        check_is_fitted(self, "model_")
        n_steps = int(n_steps)
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        ds = self._as_dataset(X, "X")
        names, static = list(self.variables_), list(self.static_vars_)
        missing = [n for n in names if n not in ds]
        unknown_missing = [n for n in missing if n not in self.missing_vars_ and n not in FILL_VALUES]
        if unknown_missing and len(missing) == len(names):
            raise ValueError(f"X has none of the variables {names}; it has {list(ds.data_vars)}")
        arr, grid = self._stack(self._filled(ds, names, missing), names + static, "X", False)
        x0 = torch.from_numpy(self._normalise(arr, names + static))
        taus = np.atleast_1d(np.asarray(lead_time, dtype=np.float64))
        dtype = next(self.model_.parameters()).dtype
        mean = np.array([self.stats_.get(n, (0.0, 1.0))[0] for n in names], dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.array([self.stats_.get(n, (0.0, 1.0))[1] for n in names], dtype=np.float32).reshape(1, -1, 1, 1)
        outputs = []
        for tau in taus:
            dt = float(tau) / self.lead_time_scale_ / n_steps
            chunks = []
            for start in range(0, len(x0), max(1, int(self.batch_size))):
                state = x0[start:start + int(self.batch_size)].to(self.device_, dtype)
                for _ in range(n_steps):
                    out = self.model_(state, torch.full((len(state),), dt, dtype=dtype, device=self.device_))
                    state = torch.cat([out, state[:, len(names):]], dim=1) if static else out
                chunks.append(state[:, :len(names)].float().cpu().numpy())
            outputs.append(np.concatenate(chunks) * std + mean)
        values = np.stack(outputs, axis=1)
        ref = ds[next(n for n in names + static if n in ds)]
        coords = {d: ref[d].values for d in grid if d in ref.coords}
        if "sample" in ref.coords:
            coords["sample"] = ref["sample"].values
        keep = [i for i, n in enumerate(names) if n not in self.missing_vars_]
        scalar = np.ndim(lead_time) == 0
        dims = ("sample", *grid) if scalar else ("sample", "lead_time", *grid)
        if not scalar:
            coords["lead_time"] = taus
        data = {names[i]: (dims, values[:, 0, i] if scalar else values[:, :, i]) for i in keep}
        return xr.Dataset(data, coords=coords)

    def score(self, X, y, lead_time=1.0):
        """``1 -`` the mean relative L1 error of ``predict(X, lead_time)`` against ``y`` (higher is better).

        Parameters
        ----------
        X, y : xarray.Dataset
        lead_time : float, default=1.0

        Returns
        -------
        float
        """
        pred = self.predict(X, lead_time)
        y = self._as_dataset(y, "y")
        errors = []
        for name in pred.data_vars:
            p, t = pred[name].values, y[name].transpose(*pred[name].dims).values
            errors.append(np.abs(p - t).sum(axis=(-2, -1)) / (np.abs(t).sum(axis=(-2, -1)) + 1e-10))
        return 1.0 - float(np.mean(errors))

    # -- persistence ---------------------------------------------------------------------------
    def _extra_state(self):
        return {"scot_config": self.scot_config_, "variables": list(self.variables_),
                "static": list(self.static_vars_), "missing": list(self.missing_vars_),
                "stats": {k: list(v) for k, v in self.stats_.items()}, "lead_time_scale": self.lead_time_scale_,
                "grid_dims": list(self.grid_dims_), "pretrained": bool(getattr(self, "pretrained_", False))}, {}

    def _set_extra_state(self, meta, tensors):
        self.scot_config_ = meta["scot_config"]
        self.variables_, self.static_vars_, self.missing_vars_ = meta["variables"], meta["static"], meta["missing"]
        self.stats_ = {k: tuple(v) for k, v in meta["stats"].items()}
        self.lead_time_scale_, self.grid_dims_ = meta["lead_time_scale"], meta["grid_dims"]
        self.pretrained_ = meta["pretrained"]


def dataclasses_replace(config, **changes):
    """A copy of ``config`` with ``changes`` (keeps the validation of :class:`ScOTConfig`)."""
    import dataclasses

    return dataclasses.replace(copy.deepcopy(config), **changes)

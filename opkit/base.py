"""The base class shared by all opkit estimators.

:class:`OperatorEstimator` does the work every estimator shares: checking and
converting xarray input, recording what was seen in ``fit``, normalisation,
the training loop, device choice, determinism, ``warm_start``, checkpoints,
``predict`` back to xarray, ``score``, ``save`` and plotting. A concrete
estimator lists its hyperparameters in ``__init__`` and implements
:meth:`OperatorEstimator._build_network`.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import re

import numpy as np
import torch
import xarray as xr
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._validation import (
    SAMPLE_DIM,
    FieldSpec,
    check_consistent,
    extract_fields,
    fold_frames,
    frames_to_channels,
    rebuild_fields,
    reorder_like,
    unwrap,
    warn_default_bc,
)
from .layers.normalization import NormalizedOperator, make_normalizer
from .symmetry import resolve_symmetries
from .training import TrainConfig, resolve_device, subset, train_module

__all__ = ["OperatorEstimator", "ESTIMATORS", "SHARED_PARAMS", "shared_params_doc", "fitted_attributes_doc"]

#: Registry of estimator classes by name, used by :func:`opkit.load` and :class:`opkit.OpKit`.
ESTIMATORS: dict = {}

#: The hyperparameters every estimator has, with their defaults (conventions.md).
SHARED_PARAMS = dict(
    loss="l2",
    max_epochs=100,
    batch_size=32,
    learning_rate=1e-3,
    weight_decay=1e-4,
    scheduler="onecycle",
    validation_fraction=0.1,
    early_stopping=False,
    n_iter_no_change=10,
    normalize=True,
    symmetries="auto",
    device="auto",
    random_state=None,
    verbose=0,
    warm_start=False,
    checkpoint_path=None,
)

_SHARED_PARAMS_DOC = """
    loss : {"l2", "h1", "h-1"} or float, default="l2"
        Training loss: the relative Sobolev-norm error of that order (a float is
        the order ``s``), on physical (de-normalised) outputs, with periodicity
        taken from the ``bc_*`` attributes of ``y``.
    max_epochs : int
        Number of passes over the training data.
    batch_size : int, default=32
        Samples per optimisation step.
    learning_rate : float
        Peak learning rate of AdamW.
    weight_decay : float, default=1e-4
        AdamW weight decay.
    scheduler : {"onecycle", "cosine", "constant"}, default="onecycle"
        Learning-rate schedule, stepped after every batch.
    validation_fraction : float, default=0.1
        Share of the training samples held out for validation when
        ``early_stopping=True`` (ignored otherwise).
    early_stopping : bool, default=False
        Stop when the validation loss has not improved for ``n_iter_no_change``
        epochs and keep the best weights.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    normalize : {"channel", "pointwise"} or bool, default=True
        Normalise inputs and outputs to mean 0 and std 1 inside the network,
        with statistics from the training samples: ``"channel"`` (or
        ``True``) one mean and std per channel; ``"pointwise"`` one per
        channel and grid point (removes the mean field; resampled when
        ``predict`` sees another grid); ``False`` none.
    symmetries : "auto", None, str or sequence of str, default="auto"
        Flips and swaps of grid dims under which the operator is symmetric
        (``"flip_x"``, ``"swap_x_y"``; see :mod:`opkit.symmetry`): every
        training batch applies each to a random half of its samples, ``X``
        and ``y`` alike. ``"auto"`` uses those both ``X`` and ``y`` declare in
        their ``opkit_symmetries`` attribute (the embedded Darcy data and
        ``solvers.darcy`` declare theirs); ``None`` none.
    device : str, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU; ``"cpu"``,
        ``"cuda"``, ``"cuda:1"`` are accepted.
    random_state : int, RandomState or None, default=None
        Seeds a private generator for initialisation, the validation split and
        shuffling (the global torch seed is left alone); an int makes fits
        repeatable on the same device and thread count.
    verbose : int, default=0
        0 silent; 1 a progress bar per fit; 2 also one line per epoch.
    warm_start : bool, default=False
        Continue training the fitted network on the next ``fit`` (for
        ``max_epochs`` more epochs) instead of starting afresh.
    checkpoint_path : str or None, default=None
        Write the training state there after every epoch; a ``fit`` with the
        same hyperparameters and data shapes resumes from it.
"""


def _map_samples(data, fn):
    """Apply a per-batch array transform now (in memory) or at read time (lazy)."""
    if isinstance(data, np.ndarray):
        return fn(data)
    previous = data.transform
    data.transform = fn if previous is None else (lambda batch: fn(previous(batch)))
    # The transformed shape, from one empty-valued sample.
    data.shape = (data.shape[0],) + fn(np.zeros((1,) + tuple(data.shape[1:]), np.float32)).shape[1:]
    return data


def _as_source(data):
    return torch.from_numpy(data) if isinstance(data, np.ndarray) else data


def _stream(data, batch_size: int = 256):
    """The samples of a tensor or lazy source as tensors, a block at a time."""
    if torch.is_tensor(data):
        yield data
    else:
        for block in data.batches(batch_size):
            yield torch.from_numpy(block)


def _document_defaults(doc, init):
    """Write ``init``'s own defaults into the shared parameters' entries of ``doc``.

    :func:`shared_params_doc` gives the defaults of :data:`SHARED_PARAMS`; an
    estimator may choose others (TFNO's batch size, MgNO's loss), and its
    docstring should say so.
    """
    if not doc:
        return doc
    parameters = inspect.signature(init).parameters
    for name in SHARED_PARAMS:
        if name in parameters:
            default = parameters[name].default
            shown = f'"{default}"' if isinstance(default, str) else repr(default)
            pattern = rf"^(    {name} : [^\n]*?)(, default=[^\n]*)?$"
            doc = re.sub(pattern, lambda m: f"{m.group(1)}, default={shown}", doc, count=1, flags=re.M)
    return doc


def _register(cls):
    ESTIMATORS[cls.__name__] = cls
    return cls


class OperatorEstimator(RegressorMixin, BaseEstimator):
    """Base class of opkit's estimators; not used directly.

    Subclasses store their hyperparameters in ``__init__`` (scikit-learn
    style: no validation, no work) and implement :meth:`_build_network`.

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained network (with its normalisers), on ``device_``.
    input_spec_, output_spec_ : FieldSpec
        Names, dims, coordinates, attributes and boundary conditions of ``X``
        and ``y``.
    history_ : dict
        Per-epoch ``train_loss``, ``val_loss``, ``lr`` and ``time``.
    n_epochs_ : int
        Epochs run in total.
    n_params_ : int
        Trainable parameters.
    device_ : torch.device
        Where the network lives.
    """

    #: Whether ``predict`` accepts grids of another resolution than ``fit``'s.
    resolution_invariant = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _register(cls)
        cls.__doc__ = _document_defaults(cls.__doc__, cls.__init__)

    # -- hooks for subclasses ---------------------------------------------------------
    def _build_network(self, in_channels: int, out_channels: int, input_spec: FieldSpec,
                       output_spec: FieldSpec) -> torch.nn.Module:
        """Return the network mapping normalised ``(B, in, *grid)`` to ``(B, out, *grid)``."""
        raise NotImplementedError

    def _check_grid(self, spec: FieldSpec, what: str) -> None:
        """Hook: refuse grids the network cannot handle (e.g. sizes not divisible by 2**k)."""

    def _make_network(self, in_channels: int, out_channels: int, input_spec: FieldSpec,
                      output_spec: FieldSpec) -> NormalizedOperator:
        """The network of :meth:`_build_network` between the normalisers ``normalize`` asks for."""
        grid = [output_spec.sizes[d] for d in output_spec.grid_dims]
        periodic = [output_spec.bc.get(d) == "periodic" for d in output_spec.grid_dims]
        normalizers = [make_normalizer(self.normalize, n, grid, periodic) for n in (in_channels, out_channels)]
        core = self._build_network(in_channels, out_channels, input_spec, output_spec)
        return NormalizedOperator(core, in_channels, out_channels, *normalizers)

    # -- data plumbing ------------------------------------------------------------------
    def _seed(self) -> int:
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _time_window(self):
        """``(T_in, T_out)`` from the ``time_window`` hyperparameter (estimators that have it), or None."""
        window = getattr(self, "time_window", None)
        if window is None:
            return None
        try:
            t_in, t_out = window
            valid = all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) and t >= 1 for t in (t_in, t_out))
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise ValueError(f"time_window must be None or (T_in, T_out), two positive integers; got {window!r}")
        return int(t_in), int(t_out)

    @staticmethod
    def _fold_time(arr, spec, n_frames, what):
        """Fold the ``time`` frames of extracted fields into channels (see ``time_window``)."""
        folded, axis = fold_frames(spec, n_frames, what)
        return _map_samples(arr, lambda block: frames_to_channels(block, axis)), folded

    def _output_template(self, query: FieldSpec) -> FieldSpec:
        """The fitted output spec, its output times moved by the query's time offset.

        With ``time_window``, the output frames keep their lead over the input
        frames: inputs ending ``dt`` later than in ``fit`` give outputs ``dt`` later.
        """
        template = self.output_spec_
        fitted_in = self.input_spec_.frames
        if not (template.frames and fitted_in and query.frames):
            return template
        try:
            shift = float(query.frames["values"][-1]) - float(fitted_in["values"][-1])
            times = [float(t) + shift for t in template.frames["values"]]
        except (TypeError, ValueError, IndexError):
            return template  # no numeric time coordinate on one side: keep fit's times
        return dataclasses.replace(template, frames={**template.frames, "values": times})

    def _align_input(self, X_arr: np.ndarray, in_spec: FieldSpec, out_spec: FieldSpec, what: str) -> np.ndarray:
        """Order X's grid axes like y's; broadcast X along grid dims only y has (e.g. time)."""
        missing = [d for d in in_spec.grid_dims if d not in out_spec.grid_dims]
        if missing:
            raise ValueError(
                f"{what} has grid dim(s) {missing} that the output {out_spec.grid_dims} lacks; "
                "an operator here maps fields on one grid to fields on the same grid"
            )
        for dim in in_spec.grid_dims:
            if what == "X" and in_spec.sizes[dim] != out_spec.sizes[dim]:
                raise ValueError(
                    f"X and y differ in size along '{dim}' ({in_spec.sizes[dim]} vs "
                    f"{out_spec.sizes[dim]}); fit needs them on the same grid"
                )
        shape = [X_arr.shape[0], X_arr.shape[1]]
        source_axes = []
        for dim in out_spec.grid_dims:
            if dim in in_spec.grid_dims:
                shape.append(in_spec.sizes[dim])
                source_axes.append(dim)
            else:
                shape.append(out_spec.sizes[dim])
        # Move X's grid axes into y's order, then insert broadcast axes.
        perm = [0, 1] + [2 + in_spec.grid_dims.index(d) for d in source_axes]
        aligned = X_arr.transpose(perm)
        for axis, dim in enumerate(out_spec.grid_dims):
            if dim not in in_spec.grid_dims:
                aligned = np.expand_dims(aligned, 2 + axis)
        if list(aligned.shape) == shape:
            return np.ascontiguousarray(aligned)
        # broadcast_to gives a read-only view; training needs its own array.
        return np.array(np.broadcast_to(aligned, shape))

    def _loss_function(self, out_spec: FieldSpec):
        from .metrics import make_loss

        periodic = tuple(out_spec.bc[d] == "periodic" for d in out_spec.grid_dims)
        lengths = tuple(out_spec.length(d) for d in out_spec.grid_dims)
        return make_loss(self.loss, periodic=periodic, lengths=lengths)

    def _fingerprint(self, X_arr, y_arr) -> dict:
        params = {k: v for k, v in self.get_params().items() if k not in ("verbose", "checkpoint_path", "device")}
        return {
            "estimator": type(self).__name__,
            "params": {k: repr(v) for k, v in sorted(params.items())},
            "X_shape": list(X_arr.shape),
            "y_shape": list(y_arr.shape),
        }

    # -- scikit-learn API ---------------------------------------------------------------
    def fit(self, X, y):
        """Fit the operator that maps ``X`` to ``y``.

        Parameters
        ----------
        X : xarray.Dataset, xarray.DataArray, FieldSamples or numpy.ndarray
            Input fields with a ``sample`` dim (a NumPy array is
            ``(n_samples, *spatial)``). Dataset variables become channels.
        y : same types as ``X``
            Output fields, same samples; its grid dims are the operator's grid.
            ``X`` may lack grid dims of ``y`` (e.g. ``time``): it is then
            repeated along them.

        Returns
        -------
        self
        """
        X_obj, y_obj = unwrap(X), unwrap(y)
        X_arr, in_spec = extract_fields(X_obj, "X", lazy=True)
        y_arr, out_spec = extract_fields(y_obj, "y", lazy=True)
        window = self._time_window()
        if window:
            X_arr, in_spec = self._fold_time(X_arr, in_spec, window[0], "X")
            y_arr, out_spec = self._fold_time(y_arr, out_spec, window[1], "y")
        if X_arr.shape[0] != y_arr.shape[0]:
            raise ValueError(
                f"X and y have different numbers of samples ({X_arr.shape[0]} vs {y_arr.shape[0]})"
            )
        if X_arr.shape[0] < 2:
            raise ValueError(f"fit needs at least 2 samples, got {X_arr.shape[0]}")
        self._check_grid(out_spec, "y")
        warn_default_bc(out_spec, y_obj, "y")
        symmetry_names, symmetry_ops = resolve_symmetries(self.symmetries, in_spec, out_spec)
        X_arr = _map_samples(X_arr, lambda a: self._align_input(a, in_spec, out_spec, "X"))
        device = resolve_device(self.device)
        seed = self._seed()
        generator = torch.Generator().manual_seed(seed)

        reuse = self.warm_start and getattr(self, "model_", None) is not None
        if reuse:
            self._check_warm_start(in_spec, out_spec)
            network = self.model_
        else:
            # Initialise from a seeded fork of the global RNG, so random_state fixes
            # the weights without changing the user's global torch seed.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                network = self._make_network(X_arr.shape[1], y_arr.shape[1], in_spec, out_spec)

        n = X_arr.shape[0]
        order = torch.randperm(n, generator=generator)
        n_val = int(round(self.validation_fraction * n)) if self.early_stopping else 0
        if self.early_stopping and n_val == 0:
            raise ValueError(
                f"early_stopping=True needs validation samples, but validation_fraction="
                f"{self.validation_fraction} of {n} samples is 0"
            )
        val_idx, train_idx = order[:n_val].numpy(), order[n_val:].numpy()
        # In-memory data become tensors; lazily opened data stay on disk and are
        # read batch by batch (LazyFields), so training never loads them whole.
        X_t, y_t = _as_source(X_arr), _as_source(y_arr)
        X_train, y_train = subset(X_t, train_idx), subset(y_t, train_idx)
        if not reuse and self.normalize:
            for normalizer, data in ((network.input_normalizer, X_train), (network.output_normalizer, y_train)):
                for batch in _stream(data):
                    normalizer.update(batch)
                normalizer.finalize()
        network = network.to(device)

        config = TrainConfig(
            max_epochs=int(self.max_epochs),
            batch_size=int(self.batch_size),
            learning_rate=float(self.learning_rate),
            weight_decay=float(self.weight_decay),
            scheduler=self.scheduler,
            early_stopping=bool(self.early_stopping),
            n_iter_no_change=int(self.n_iter_no_change),
            verbose=int(self.verbose),
            checkpoint_path=self.checkpoint_path,
            symmetries=symmetry_ops,
            fingerprint=self._fingerprint(X_arr, y_arr),
        )
        history, _ = train_module(
            network,
            self._loss_function(out_spec),
            X_train,
            y_train,
            config,
            device=device,
            generator=generator,
            X_val=subset(X_t, val_idx) if n_val else None,
            y_val=subset(y_t, val_idx) if n_val else None,
            history=self.history_ if reuse else None,
        )
        self.model_ = network
        self.input_spec_ = in_spec
        self.output_spec_ = out_spec
        self.history_ = history
        self.n_epochs_ = len(history["epoch"])
        self.n_params_ = int(sum(p.numel() * (2 if p.is_complex() else 1) for p in network.parameters()))
        self.device_ = device
        self.symmetries_ = symmetry_names
        return self

    def _check_warm_start(self, in_spec, out_spec):
        fitted_in, fitted_out = self.input_spec_, self.output_spec_
        if in_spec.n_channels != fitted_in.n_channels or out_spec.n_channels != fitted_out.n_channels:
            raise ValueError(
                "warm_start=True but the channels of X or y differ from the previous fit; "
                "set warm_start=False to start afresh"
            )

    def _prepare_query(self, X):
        check_is_fitted(self, "model_")
        X_obj = unwrap(X)
        X_arr, spec = extract_fields(X_obj, "X", lazy=True)
        if self.input_spec_.frames:  # fitted with time_window: fold the same number of frames
            X_arr, spec = self._fold_time(X_arr, spec, self.input_spec_.frames["size"], "X")
        check_consistent(spec, self.input_spec_, "X")
        given = spec
        spec = copy.copy(spec)
        spec.grid_dims = list(self.input_spec_.grid_dims)
        if not self.resolution_invariant:
            for dim in spec.grid_dims:
                if spec.sizes[dim] != self.input_spec_.sizes[dim]:
                    raise ValueError(
                        f"{type(self).__name__} is not resolution-invariant: X has {spec.sizes[dim]} "
                        f"points along '{dim}' but fit saw {self.input_spec_.sizes[dim]}"
                    )
        self._check_grid(spec, "X")
        out_like = copy.copy(self.output_spec_)
        out_like.sizes = {d: spec.sizes.get(d, self.output_spec_.sizes[d]) for d in self.output_spec_.grid_dims}
        X_arr = _map_samples(
            X_arr, lambda a: self._align_input(reorder_like(a, given, self.input_spec_), spec, out_like, "X (predict)")
        )
        sample_coord = X_obj[SAMPLE_DIM].values if isinstance(X_obj, (xr.Dataset, xr.DataArray)) and SAMPLE_DIM in X_obj.coords else None
        return X_arr, spec, sample_coord

    @torch.no_grad()
    def _predict_array(self, X_arr) -> np.ndarray:
        network = self.model_
        network.eval()
        outputs = []
        for start in range(0, len(X_arr), int(self.batch_size)):
            stop = min(start + int(self.batch_size), len(X_arr))
            block = X_arr[start:stop] if isinstance(X_arr, np.ndarray) else X_arr.take(np.arange(start, stop))
            outputs.append(network(torch.from_numpy(block).to(self.device_)).float().cpu().numpy())
        return np.concatenate(outputs, axis=0)

    def predict(self, X):
        """Apply the fitted operator.

        Parameters
        ----------
        X : same kind of object as in ``fit``
            Input fields; a resolution-invariant estimator accepts another grid
            resolution than ``fit``'s, and the output then carries that grid's
            coordinates.

        Returns
        -------
        xarray.Dataset, xarray.DataArray or numpy.ndarray
            Same kind, names, attributes and coordinates as ``y`` in ``fit``,
            with ``X``'s ``sample`` coordinate.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Called before ``fit``.
        ValueError
            ``X`` differs from what ``fit`` saw (variables, channels, grid dims).
        """
        X_arr, spec, sample_coord = self._prepare_query(X)
        prediction = self._predict_array(X_arr)
        query = spec if spec.kind != "numpy" else None
        return rebuild_fields(prediction, self._output_template(spec), query=query, sample_coord=sample_coord)

    def score(self, X, y, sample_weight=None):
        """``1 - mean relative L2 error`` of ``predict(X)`` against ``y`` (higher is better).

        Parameters
        ----------
        X, y : as in ``fit``
        sample_weight : None
            Not supported; present for scikit-learn's signature.

        Returns
        -------
        float
        """
        from .metrics import relative_error

        if sample_weight is not None:
            raise ValueError("sample_weight is not supported by opkit estimators")
        prediction = self.predict(X)
        y_obj = unwrap(y)
        return 1.0 - relative_error(prediction, y_obj, norm="l2", bc=self.output_spec_.bc if not isinstance(y_obj, np.ndarray) else None)

    # -- persistence and plots ----------------------------------------------------------
    def save(self, path):
        """Save the fitted estimator to one file that loads without unpickling.

        Parameters
        ----------
        path : str or os.PathLike
            Destination, conventionally ``*.opkit``; written atomically.

        Returns
        -------
        pathlib.Path

        See Also
        --------
        opkit.load : the inverse.
        """
        from .persistence import save_estimator

        return save_estimator(self, path)

    def plot_history(self, ax=None):
        """Plot training (and validation) loss per epoch on a log scale.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .plotting import plot_history

        check_is_fitted(self, "history_")
        return plot_history(self.history_, ax=ax, title=type(self).__name__)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        if "model_" in state:
            state = dict(state)
            state["device_"] = torch.device("cpu")
            state["model_"] = copy.deepcopy(state["model_"]).to("cpu")
        return state


def shared_params_doc() -> str:
    """The Parameters entries of the shared hyperparameters, for subclass docstrings."""
    return _SHARED_PARAMS_DOC


_FITTED_ATTRIBUTES_DOC = """Attributes
    ----------
    model_ : torch.nn.Module
        The trained network with its normalisers.
    history_ : dict
        Per-epoch ``train_loss``, ``val_loss``, ``lr`` and ``time``.
    input_spec_, output_spec_ : FieldSpec
        What ``fit`` saw: names, dims, coordinates, attributes, boundary
        conditions.
    n_params_ : int
        Trainable parameters (a complex weight counts as two).
    n_epochs_ : int
        Epochs trained.
    device_ : torch.device
        Device of ``model_``.
    symmetries_ : tuple of str
        The symmetries training augmented with (from ``symmetries``).
"""


def fitted_attributes_doc() -> str:
    """The Attributes section every estimator shares, for subclass docstrings."""
    return _FITTED_ATTRIBUTES_DOC


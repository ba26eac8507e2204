"""The grid-operator layer shared by TFNO, MgNO and LSM.

:class:`OperatorEstimator` adds to the estimator core
(:class:`opkit.estimator.OpkitEstimator`: hyperparameters, seeding, device,
stages, persistence) what operators between fields on one grid share:
checking and converting xarray input, recording what was seen in ``fit``,
aligning ``X`` on ``y``'s grid, time windows, symmetries, normalisation
(per channel or pointwise), the supervised relative-Sobolev step, ``predict``
back to xarray and the field ``score``. A concrete estimator lists its
hyperparameters in ``__init__`` and implements
:meth:`OperatorEstimator._build_network`.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch
import xarray as xr
from sklearn.utils.validation import check_is_fitted

from ._validation import (
    SAMPLE_DIM,
    FieldSpec,
    align_samples,
    check_consistent,
    check_nonzero_targets,
    extract_fields,
    fold_frames,
    frames_to_channels,
    rebuild_fields,
    reorder_like,
    unwrap,
    warn_default_bc,
)
from .estimator import CORE_PARAMS, OpkitEstimator, params_doc
from .layers.normalization import NormalizedOperator, make_normalizer
from .registry import ESTIMATORS
from .symmetry import resolve_symmetries
from .training import FieldSource, SupervisedStep, resolve_device

__all__ = ["OperatorEstimator", "ESTIMATORS", "SHARED_PARAMS", "shared_params_doc", "fitted_attributes_doc"]

#: The hyperparameters every grid estimator has, with their defaults (``../shared/design/conventions.md``):
#: the core's plus ``loss``, ``normalize`` and ``symmetries``.
SHARED_PARAMS = dict(loss="l2", **CORE_PARAMS)
SHARED_PARAMS.update(normalize=True, symmetries="auto")


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


class OperatorEstimator(OpkitEstimator):
    """Base class of opkit's grid operators (fields in, fields on the same grid out); not used directly.

    Subclasses store their hyperparameters in ``__init__`` (scikit-learn
    style: no validation, no work; :func:`opkit.estimator.store_params`) and
    implement :meth:`_build_network`.

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained network (with its normalisers), on ``device_``.
    input_spec_, output_spec_ : FieldSpec
        Names, dims, coordinates, attributes and boundary conditions of ``X``
        and ``y``.
    history_ : dict
        Per-epoch ``train_loss``, ``val_loss``, ``lr`` and ``time``.
    stage_history_ : dict
        ``{"fit": history_}``.
    n_epochs_ : int
        Epochs run in total.
    n_params_ : int
        Trainable parameters.
    device_ : torch.device
        Where the network lives.
    """

    #: Whether ``predict`` accepts grids of another resolution than ``fit``'s.
    resolution_invariant = False
    output_kind = "grid"
    shared_params = SHARED_PARAMS

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
    def fit(self, X, y=None):
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

        Raises
        ------
        ValueError
            ``y`` is missing, or ``X`` and ``y`` do not fit together.
        """
        return super().fit(X, y)

    def _fit(self, X, y):
        X_obj, y_obj = unwrap(X), align_samples(X, y)
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
        check_nonzero_targets(y_arr, out_spec, "y")
        self._check_grid(out_spec, "y")
        warn_default_bc(out_spec, y_obj, "y")
        symmetry_names, symmetry_ops = resolve_symmetries(self.symmetries, in_spec, out_spec)
        X_arr = _map_samples(X_arr, lambda a: self._align_input(a, in_spec, out_spec, "X"))
        device = resolve_device(self.device)
        seed = self._seed()
        generator = self._generator(seed)

        reuse = self.warm_start and getattr(self, "model_", None) is not None
        if reuse:
            self._check_warm_start(in_spec, out_spec)
            network = self.model_
        else:
            network = self._init_network(
                lambda: self._make_network(X_arr.shape[1], y_arr.shape[1], in_spec, out_spec), seed)

        train_idx, val_idx = self._split_validation(X_arr.shape[0], generator)
        # In-memory data become tensors; lazily opened data stay on disk and are
        # read batch by batch (LazyFields), so training never loads them whole.
        source = FieldSource(x=_as_source(X_arr), y=_as_source(y_arr))
        train = source.subset(train_idx)
        if not reuse and self.normalize:
            for normalizer, name in ((network.input_normalizer, "x"), (network.output_normalizer, "y")):
                for batch in _stream(train.fields[name]):
                    normalizer.update(batch)
                normalizer.finalize()
        network = network.to(device)

        self._run_stage(
            "fit", network, train, step=SupervisedStep(self._loss_function(out_spec)),
            generator=generator, device=device,
            val_source=source.subset(val_idx) if len(val_idx) else None,
            history=self.history_ if reuse else None,
            symmetries=symmetry_ops, fingerprint=self._fingerprint(X_arr, y_arr),
        )
        self._set_network(network, device)
        self.input_spec_ = in_spec
        self.output_spec_ = out_spec
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
        if len(X_arr) == 0:  # X is aligned on the output grid already
            return np.zeros((0, self.output_spec_.n_channels, *X_arr.shape[2:]), np.float32)
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

    def _score_bc(self, y):
        return self.output_spec_.bc if not isinstance(unwrap(y), np.ndarray) else None

    # -- persistence hooks --------------------------------------------------------------
    def _extra_state(self):
        spec_in, spec_out = self.input_spec_, self.output_spec_
        return {
            "input_spec": spec_in.to_dict(),
            "output_spec": spec_out.to_dict(),
            "symmetries": list(getattr(self, "symmetries_", ())),
            "channels": [spec_in.n_channels, spec_out.n_channels],
        }, {}

    def _set_extra_state(self, meta, tensors):
        self.input_spec_ = FieldSpec.from_dict(meta["input_spec"])
        self.output_spec_ = FieldSpec.from_dict(meta["output_spec"])
        self.symmetries_ = tuple(meta.get("symmetries", ()))

    def _rebuild_network(self):
        spec_in, spec_out = self.input_spec_, self.output_spec_
        return self._make_network(spec_in.n_channels, spec_out.n_channels, spec_in, spec_out)


def shared_params_doc() -> str:
    """The Parameters entries of the shared grid hyperparameters, for subclass docstrings."""
    return params_doc(SHARED_PARAMS)


_FITTED_ATTRIBUTES_DOC = """Attributes
    ----------
    model_ : torch.nn.Module
        The trained network with its normalisers.
    history_ : dict
        Per-epoch ``train_loss``, ``val_loss``, ``lr`` and ``time``.
    stage_history_ : dict
        The history of each training stage run, by name (``{"fit": history_}``).
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


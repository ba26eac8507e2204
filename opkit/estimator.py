"""The estimator core every opkit estimator shares, whatever its data look like.

:class:`OpkitEstimator` holds what does not depend on the shape of the data:
hyperparameters declared once (:data:`CORE_PARAMS`, with their docstring
entries), a private seeded generator, the device, ``fit(X, y=None,
**fit_params)`` with the "is ``y`` required" flag read from the scikit-learn
tags, named training stages run through one stage runner
(:meth:`OpkitEstimator._run_stage`, on :func:`opkit.training.train_module`),
declared outputs (:attr:`OpkitEstimator.output_kind`, :mod:`opkit.outputs`)
and persistence hooks. The grid-operator layer (:class:`opkit.base.OperatorEstimator`)
adds the field plumbing of TFNO, MgNO and LSM on top.

A concrete estimator implements ``_fit(X, y, **fit_params)`` (building its
network, a sample source and a step, then calling ``_run_stage``),
``predict`` and ``_rebuild_network`` (for :func:`opkit.load`).
"""

from __future__ import annotations

import copy
import inspect
import re

import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._validation import align_samples
from .outputs import OUTPUT_KINDS, output_error
from .registry import register
from .training import TrainConfig, resolve_device, train_module

__all__ = ["OpkitEstimator", "CORE_PARAMS", "STAGES", "params_doc", "store_params"]

#: Hyperparameters every estimator has, with their defaults (conventions.md).
CORE_PARAMS = dict(
    max_epochs=100,
    batch_size=32,
    learning_rate=1e-3,
    weight_decay=1e-4,
    scheduler="onecycle",
    validation_fraction=0.1,
    early_stopping=False,
    n_iter_no_change=10,
    device="auto",
    random_state=None,
    verbose=0,
    warm_start=False,
    checkpoint_path=None,
)

#: Names of the training stages the stage runner knows.
STAGES = ("fit", "pretrain", "finetune", "refine", "solve_inverse")

#: Docstring entries of the shared hyperparameters (grid ones included), by name.
PARAM_DOCS = {
    "loss": '''loss : {"l2", "h1", "h-1"} or float, default="l2"
        Training loss: the relative Sobolev-norm error of that order (a float is
        the order ``s``), on physical (de-normalised) outputs, with periodicity
        taken from the ``bc_*`` attributes of ``y``.''',
    "max_epochs": '''max_epochs : int
        Number of passes over the training data.''',
    "batch_size": '''batch_size : int, default=32
        Samples per optimisation step.''',
    "learning_rate": '''learning_rate : float
        Peak learning rate of AdamW.''',
    "weight_decay": '''weight_decay : float, default=1e-4
        AdamW weight decay.''',
    "scheduler": '''scheduler : {"onecycle", "cosine", "step", "constant"}, default="onecycle"
        Learning-rate schedule, stepped after every batch ("step" halves the
        rate after every fifth of the run).''',
    "validation_fraction": '''validation_fraction : float, default=0.1
        Share of the training samples held out for validation when
        ``early_stopping=True`` (ignored otherwise).''',
    "early_stopping": '''early_stopping : bool, default=False
        Stop when the validation loss has not improved for ``n_iter_no_change``
        epochs and keep the best weights.''',
    "n_iter_no_change": '''n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.''',
    "normalize": '''normalize : {"channel", "pointwise"} or bool, default=True
        Normalise inputs and outputs to mean 0 and std 1 inside the network,
        with statistics from the training samples: ``"channel"`` (or
        ``True``) one mean and std per channel; ``"pointwise"`` one per
        channel and grid point (removes the mean field; resampled when
        ``predict`` sees another grid); ``False`` none.''',
    "symmetries": '''symmetries : "auto", None, str or sequence of str, default="auto"
        Flips and swaps of grid dims under which the operator is symmetric
        (``"flip_x"``, ``"swap_x_y"``; see :mod:`opkit.symmetry`): every
        training batch applies each to a random half of its samples, ``X``
        and ``y`` alike. ``"auto"`` uses those both ``X`` and ``y`` declare in
        their ``opkit_symmetries`` attribute (the embedded Darcy data and
        ``solvers.darcy`` declare theirs); ``None`` none.''',
    "device": '''device : str, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU; ``"cpu"``,
        ``"cuda"``, ``"cuda:1"`` are accepted.''',
    "random_state": '''random_state : int, RandomState or None, default=None
        Seeds a private generator for initialisation, the validation split and
        shuffling (the global torch seed is left alone); an int makes fits
        repeatable on the same device and thread count.''',
    "verbose": '''verbose : int, default=0
        0 silent; 1 a progress bar per training stage; 2 also one line per epoch.''',
    "warm_start": '''warm_start : bool, default=False
        Continue training the fitted network on the next ``fit`` (for
        ``max_epochs`` more epochs) instead of starting afresh.''',
    "checkpoint_path": '''checkpoint_path : str or None, default=None
        Write the training state there after every epoch; a ``fit`` with the
        same hyperparameters and data shapes resumes from it (stages other
        than ``fit`` use ``<checkpoint_path>.<stage>``; L-BFGS stages none).''',
}


def params_doc(names) -> str:
    """The Parameters entries of the shared hyperparameters ``names``, for docstrings.

    Parameters
    ----------
    names : iterable of str
        Keys of :data:`PARAM_DOCS`.

    Returns
    -------
    str
    """
    return "\n" + "\n".join("    " + PARAM_DOCS[name] for name in names) + "\n"


def store_params(estimator, values: dict) -> None:
    """Store an ``__init__``'s arguments unchanged on ``estimator`` (scikit-learn style).

    Call as ``store_params(self, locals())`` as the whole body of an explicit
    ``__init__``: the signature stays the one scikit-learn reads, and the
    assignments are not retyped in every model.

    Parameters
    ----------
    estimator : OpkitEstimator
    values : dict
        ``locals()`` of the ``__init__``.
    """
    for name in inspect.signature(type(estimator).__init__).parameters:
        if name != "self":
            setattr(estimator, name, values[name])


def _document_defaults(doc, init, names):
    """Write ``init``'s own defaults into the shared parameters' entries of ``doc``.

    :data:`PARAM_DOCS` gives the defaults of :data:`CORE_PARAMS`; an estimator
    may choose others (TFNO's batch size, MgNO's loss), and its docstring
    should say so.
    """
    if not doc:
        return doc
    parameters = inspect.signature(init).parameters
    for name in names:
        if name in parameters:
            default = parameters[name].default
            shown = f'"{default}"' if isinstance(default, str) else repr(default)
            pattern = rf"^(    {name} : [^\n]*?)(, default=[^\n]*)?$"
            doc = re.sub(pattern, lambda m: f"{m.group(1)}, default={shown}", doc, count=1, flags=re.M)
    return doc


class OpkitEstimator(RegressorMixin, BaseEstimator):
    """Core of every opkit estimator: hyperparameters, seeding, device, stages, outputs, persistence.

    Not used directly. A subclass lists its hyperparameters in an explicit
    ``__init__`` (including those of :attr:`shared_params`) and implements:

    ``_fit(X, y, **fit_params)``
        Check the data, build the network (``_init_network``), a sample source
        (:class:`opkit.training.FieldSource` or any object with ``len`` and
        ``take``) and a step, run one or more stages with :meth:`_run_stage`,
        set its fitted attributes and return ``self``.
    ``predict(X)``
        Output of the kind :attr:`output_kind` declares.
    ``_rebuild_network()``
        The untrained network, from hyperparameters and the state
        :meth:`_set_extra_state` restored (used by :func:`opkit.load`).

    Optional hooks: ``_stage_settings(stage)`` (per-stage overrides of the
    training settings, e.g. ``optimizer="lbfgs"``, ``dtype="float64"``),
    ``_param_groups(module, stage)`` (learning-rate groups; parameters left
    out are frozen for the stage), ``_extra_state()`` /
    ``_set_extra_state(meta, tensors)`` (fitted state besides the weights:
    JSON plus named tensors) and ``_foreign_key(key)`` (names of foreign
    safetensors weights, see :func:`opkit.persistence.load_foreign_weights`).

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained network, on ``device_``.
    history_ : dict
        Per-epoch ``train_loss``, ``val_loss``, ``lr``, ``time`` (and one
        ``train/<term>``, ``val/<term>`` list per named loss term) of the last
        stage run.
    stage_history_ : dict
        The history of every stage run, by stage name.
    n_epochs_ : int
        Epochs run, all stages together.
    n_params_ : int
        Parameters of ``model_`` (a complex weight counts as two).
    device_ : torch.device
    """

    #: Whether ``fit`` needs ``y`` (read through ``__sklearn_tags__().target_tags.required``).
    requires_y = True
    #: What ``predict`` returns: one of :data:`opkit.outputs.OUTPUT_KINDS`.
    output_kind = "grid"
    #: The shared hyperparameters this family of estimators has, with defaults.
    shared_params = CORE_PARAMS

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.output_kind not in OUTPUT_KINDS:
            raise TypeError(f"{cls.__name__}.output_kind must be one of {OUTPUT_KINDS}, got {cls.output_kind!r}")
        # Concrete estimators declare their hyperparameters in an __init__ of their
        # own; bases such as OperatorEstimator do not and stay unregistered.
        if not cls.__name__.startswith("_") and "__init__" in cls.__dict__:
            register(cls)
        cls.__doc__ = _document_defaults(cls.__doc__, cls.__init__, cls.shared_params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = bool(self.requires_y)
        tags.non_deterministic = self.random_state is None
        return tags

    # -- fit ------------------------------------------------------------------------------
    def fit(self, X, y=None, **fit_params):
        """Fit the estimator.

        Parameters
        ----------
        X : input data
            What the estimator documents (fields, vectors, trajectories).
        y : target data or None, default=None
            Required unless the estimator trains without labels
            (``__sklearn_tags__().target_tags.required`` is False).
        **fit_params
            Estimator-specific data (e.g. a PDE, snapshots).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            ``y`` is None but required.
        """
        if y is None and self.__sklearn_tags__().target_tags.required:
            # The wording contains scikit-learn's own (check_requires_y_none).
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "fit(X, y) needs the targets paired with X (only estimators that train "
                "without labels accept fit(X))"
            )
        return self._fit(X, y, **fit_params)

    def _fit(self, X, y, **fit_params):
        raise NotImplementedError(f"{type(self).__name__} does not implement _fit")

    # -- seeding and device ----------------------------------------------------------------
    def _seed(self) -> int:
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _generator(self, seed: int | None = None) -> torch.Generator:
        """A private CPU generator seeded from ``random_state`` (the global seed is left alone)."""
        return torch.Generator().manual_seed(self._seed() if seed is None else seed)

    @staticmethod
    def _init_network(build, seed: int):
        """``build()`` under a seeded fork of the global RNG, so ``random_state`` fixes the weights."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build()

    def _split_validation(self, n: int, generator: torch.Generator):
        """``(train_indices, val_indices)``: a random ``validation_fraction`` when ``early_stopping``."""
        order = torch.randperm(n, generator=generator)
        n_val = int(round(self.validation_fraction * n)) if self.early_stopping else 0
        if self.early_stopping and n_val == 0:
            raise ValueError(
                f"early_stopping=True needs validation samples, but validation_fraction="
                f"{self.validation_fraction} of {n} samples is 0"
            )
        return order[n_val:].numpy(), order[:n_val].numpy()

    # -- stages ---------------------------------------------------------------------------
    def _stage_settings(self, stage: str) -> dict:
        """Hook: :class:`~opkit.training.TrainConfig` fields that differ for ``stage``."""
        return {}

    def _param_groups(self, module, stage: str):
        """Hook: parameter groups for ``stage`` (None: every trainable parameter)."""
        return None

    def _stage_config(self, stage: str, **settings) -> TrainConfig:
        """The training settings of a stage: hyperparameters, then the stage hook, then ``settings``."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages are {STAGES}")
        values = dict(
            max_epochs=int(self.max_epochs),
            batch_size=int(self.batch_size),
            learning_rate=float(self.learning_rate),
            weight_decay=float(self.weight_decay),
            scheduler=self.scheduler,
            early_stopping=bool(self.early_stopping),
            n_iter_no_change=int(self.n_iter_no_change),
            verbose=int(self.verbose),
            checkpoint_path=self.checkpoint_path if stage == "fit" or not self.checkpoint_path
            else f"{self.checkpoint_path}.{stage}",
            stage=stage,
        )
        values.update(self._stage_settings(stage))
        values.update(settings)
        if values.get("optimizer") == "lbfgs":
            values["checkpoint_path"] = None
        return TrainConfig(**values)

    def _run_stage(self, stage, module, source, *, step, generator, device, val_source=None,
                   param_groups=None, history=None, **settings):
        """Run one named training stage through :func:`opkit.training.train_module`.

        Parameters
        ----------
        stage : str
            One of :data:`STAGES`.
        module : torch.nn.Module
            On ``device``.
        source : sample source
        step : callable
            ``step(module, batch)`` returning a loss tensor or a dict of terms.
        generator : torch.Generator
        device : torch.device
        val_source : sample source, optional
        param_groups : list of dict, optional
            Default: :meth:`_param_groups`.
        history : dict, optional
            A history to extend (``warm_start``).
        **settings
            Overrides of the stage's :class:`~opkit.training.TrainConfig`.

        Returns
        -------
        dict
            The stage's history, also kept in ``stage_history_[stage]``.
        """
        config = self._stage_config(stage, **settings)
        groups = param_groups if param_groups is not None else self._param_groups(module, stage)
        history, _ = train_module(module, step, source, config, device=device, generator=generator,
                                  val_source=val_source, history=history, param_groups=groups)
        stages = dict(getattr(self, "stage_history_", None) or {})
        stages[stage] = history
        self.stage_history_ = stages
        self.history_ = history
        self.n_epochs_ = sum(len(h["epoch"]) for h in stages.values())
        return history

    def _set_network(self, module, device) -> None:
        """Record the fitted network and what follows from it."""
        self.model_ = module
        self.device_ = device
        self.n_params_ = int(sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters()))

    # -- outputs ---------------------------------------------------------------------------
    def score(self, X, y, sample_weight=None):
        """``1 - mean relative error`` of ``predict(X)`` against ``y`` (higher is better).

        The error follows :attr:`output_kind` (:func:`opkit.outputs.output_error`):
        relative L2 norm for grids, relative Euclidean error per sample for
        vectors and series.

        Parameters
        ----------
        X, y : as in ``fit``
        sample_weight : None
            Not supported; present for scikit-learn's signature.

        Returns
        -------
        float
        """
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported by opkit estimators")
        y = align_samples(X, y)
        return 1.0 - output_error(self.output_kind, self.predict(X), y, bc=self._score_bc(y))

    def _score_bc(self, y):
        return None

    # -- persistence -----------------------------------------------------------------------
    def _extra_state(self):
        """Hook: fitted state besides the weights, as ``(json_dict, {name: tensor})``."""
        return {}, {}

    def _set_extra_state(self, meta: dict, tensors: dict) -> None:
        """Hook: restore what :meth:`_extra_state` saved (``meta`` is the file's whole JSON)."""

    def _rebuild_network(self):
        """Hook: the untrained network for the restored state (for :func:`opkit.load`)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _rebuild_network")

    def _persisted_params(self) -> dict:
        """Hook: the hyperparameters a saved file records (default ``get_params(deep=False)``).

        An estimator whose parameter holds data the file keeps elsewhere (EquiNO's
        ``rve``, saved as mesh tensors of its extra state) replaces it here.
        """
        return self.get_params(deep=False)

    def _dataset_fit_params(self, ds) -> dict:
        """Hook: extra ``fit`` arguments :class:`opkit.OpKit` takes from its training Dataset (default none).

        Parameters
        ----------
        ds : xarray.Dataset
            The training samples of the Dataset given to ``OpKit.fit``, every variable included.

        Returns
        -------
        dict
        """
        return {}

    def _foreign_key(self, key: str):
        """Hook: the network's name for key ``key`` of a foreign checkpoint (None drops it)."""
        return key

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

    def __getstate__(self):
        state = super().__getstate__()
        if "model_" in state:
            state = dict(state)
            state["device_"] = torch.device("cpu")
            state["model_"] = copy.deepcopy(state["model_"]).to("cpu")
        return state

"""``est.save(path)`` and ``opkit.load(path)``: estimators as safetensors + JSON."""

from __future__ import annotations

import json

import torch

from . import __version__
from ._validation import FieldSpec, _jsonable
from .serialization import read_checkpoint, write_checkpoint

__all__ = ["save_estimator", "load"]


def _versions() -> dict:
    import neuralop
    import numpy
    import xarray

    return {"opkit": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "xarray": xarray.__version__, "neuraloperator": getattr(neuralop, "__version__", "?")}


def save_estimator(estimator, path):
    """Write a fitted estimator: weights and normalisers as tensors, the rest as JSON.

    Parameters
    ----------
    estimator : OperatorEstimator
        A fitted estimator.
    path : str or os.PathLike

    Returns
    -------
    pathlib.Path
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "model_")
    params = estimator.get_params(deep=False)
    try:
        json.dumps(params)
    except TypeError as err:
        raise TypeError(
            f"cannot save {type(estimator).__name__}: a hyperparameter is not JSON-serialisable ({err})"
        ) from None
    tensors = {k: v for k, v in estimator.model_.state_dict().items() if torch.is_tensor(v)}
    metadata = {
        "kind": "estimator",
        "estimator": type(estimator).__name__,
        "params": params,
        # JSON has no tuples; remember which parameters were tuples so that
        # load gives back equal get_params() (e.g. MgNO's pre_smoothing).
        "tuple_params": sorted(k for k, v in params.items() if isinstance(v, tuple)),
        "input_spec": estimator.input_spec_.to_dict(),
        "output_spec": estimator.output_spec_.to_dict(),
        "history": _jsonable(estimator.history_),
        "n_epochs": estimator.n_epochs_,
        "symmetries": list(getattr(estimator, "symmetries_", ())),
        "channels": [estimator.input_spec_.n_channels, estimator.output_spec_.n_channels],
        "versions": _versions(),
    }
    return write_checkpoint(path, tensors, metadata)


def load(path, device="cpu", **overrides):
    """Load an estimator written by ``est.save(path)``; nothing is unpickled.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :meth:`opkit.base.OperatorEstimator.save`.
    device : str, default="cpu"
        Where to put the network (``"auto"`` for CUDA when available).
    **overrides
        Hyperparameters to change on the loaded estimator (e.g. ``verbose=1``).

    Returns
    -------
    OperatorEstimator
        A fitted estimator, ready for ``predict`` or a ``warm_start`` fit.

    Raises
    ------
    ValueError
        Not an opkit estimator file, truncated, tampered with, or naming an
        unknown estimator class.
    """
    from .base import ESTIMATORS
    from .training import resolve_device

    tensors, meta = read_checkpoint(path)
    if meta.get("kind") != "estimator":
        raise ValueError(f"{path} holds a {meta.get('kind')!r}, not a saved estimator")
    name = meta.get("estimator")
    if name not in ESTIMATORS:
        raise ValueError(f"{path} names an unknown estimator class {name!r}; known: {sorted(ESTIMATORS)}")
    params = dict(meta["params"])
    for key in meta.get("tuple_params", []):
        params[key] = tuple(params[key])
    estimator = ESTIMATORS[name](**params)
    if overrides:
        estimator.set_params(**overrides)
    in_spec = FieldSpec.from_dict(meta["input_spec"])
    out_spec = FieldSpec.from_dict(meta["output_spec"])
    n_in, n_out = meta["channels"]
    network = estimator._make_network(n_in, n_out, in_spec, out_spec)
    expected = {k for k, v in network.state_dict().items() if torch.is_tensor(v)}
    if set(tensors) != expected:
        missing, extra = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
        raise ValueError(f"{path} does not match {name}'s network: missing {missing[:5]}, unexpected {extra[:5]}")
    try:
        network.load_state_dict(tensors, strict=False)
    except RuntimeError as err:
        raise ValueError(f"{path} does not match {name}'s network: {err}") from None
    device = resolve_device(device)
    estimator.model_ = network.to(device).eval()
    estimator.input_spec_ = in_spec
    estimator.output_spec_ = out_spec
    estimator.history_ = meta["history"]
    estimator.n_epochs_ = meta["n_epochs"]
    estimator.symmetries_ = tuple(meta.get("symmetries", ()))
    estimator.n_params_ = int(sum(p.numel() * (2 if p.is_complex() else 1) for p in network.parameters()))
    estimator.device_ = device
    return estimator

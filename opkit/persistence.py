"""``est.save(path)`` and ``opkit.load(path)``: estimators as safetensors + JSON.

The file holds the network's tensors under their own names, the estimator's
extra fitted tensors (bases, vocabularies, refined heads) under ``extra/``,
and a JSON document: class name, ``get_params()``, histories, library
versions and the estimator's extra JSON state (field specs for the grid
estimators). Loading rebuilds the network from that state through the
estimator's hooks and never unpickles. :func:`load_foreign_weights` reads
weights written by other software (safetensors only) through a key map.
"""

from __future__ import annotations

import json
from importlib import metadata as _metadata

import torch

from . import __version__
from ._validation import _jsonable
from .registry import ESTIMATORS, load_builtin
from .serialization import read_checkpoint, read_safetensors, write_checkpoint

__all__ = ["save_estimator", "load", "load_foreign_weights"]

EXTRA_PREFIX = "extra/"
#: Keys of the file's JSON that the core writes (an estimator's extra state may not reuse them).
_CORE_KEYS = ("kind", "estimator", "params", "tuple_params", "history", "stage_history", "n_epochs", "dtype", "versions")


def _versions() -> dict:
    import numpy
    import xarray

    versions = {"opkit": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
                "xarray": xarray.__version__}
    try:  # recorded when installed; not imported just for this
        versions["neuraloperator"] = _metadata.version("neuraloperator")
    except _metadata.PackageNotFoundError:
        pass
    return versions


def _float_dtype(module) -> str:
    dtypes = {p.dtype for p in module.parameters() if p.is_floating_point()}
    return "float64" if torch.float64 in dtypes else "float32"


def _encode_param(value):
    """A physics object (registered in :data:`opkit.registry.PHYSICS`) as its name and parameters."""
    from .registry import PHYSICS

    if type(value).__name__ in PHYSICS and isinstance(value, PHYSICS[type(value).__name__]):
        return {"physics": type(value).__name__, "params": _jsonable(value.get_params(deep=False))}
    return value


def _decode_param(value):
    """Inverse of :func:`_encode_param` (an unknown physics name is a clear error)."""
    from .registry import PHYSICS

    if isinstance(value, dict) and set(value) == {"physics", "params"}:
        if value["physics"] not in PHYSICS:
            load_builtin()
        if value["physics"] not in PHYSICS:
            raise ValueError(f"the file names an unknown physics object {value['physics']!r}; known: {sorted(PHYSICS)}")
        return PHYSICS[value["physics"]](**value["params"])
    return value


def save_estimator(estimator, path):
    """Write a fitted estimator: weights and extra tensors as tensors, the rest as JSON.

    Parameters
    ----------
    estimator : OpkitEstimator
        A fitted estimator.
    path : str or os.PathLike

    Returns
    -------
    pathlib.Path
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "model_")
    params = {k: _encode_param(v) for k, v in estimator._persisted_params().items()}
    try:
        json.dumps(params)
    except TypeError as err:
        raise TypeError(
            f"cannot save {type(estimator).__name__}: a hyperparameter is not JSON-serialisable ({err})"
        ) from None
    tensors = {k: v for k, v in estimator.model_.state_dict().items() if torch.is_tensor(v)}
    extra_json, extra_tensors = estimator._extra_state()
    clash = sorted(set(extra_json) & set(_CORE_KEYS))
    if clash:
        raise ValueError(f"{type(estimator).__name__}._extra_state uses reserved key(s) {clash}")
    tensors.update({EXTRA_PREFIX + k: v for k, v in extra_tensors.items()})
    metadata = {
        "kind": "estimator",
        "estimator": type(estimator).__name__,
        "params": params,
        # JSON has no tuples; remember which parameters were tuples so that
        # load gives back equal get_params() (e.g. MgNO's pre_smoothing).
        "tuple_params": sorted(k for k, v in params.items() if isinstance(v, tuple)),
        "history": _jsonable(estimator.history_),
        "stage_history": _jsonable(getattr(estimator, "stage_history_", {})),
        "n_epochs": estimator.n_epochs_,
        "dtype": _float_dtype(estimator.model_),
        "versions": _versions(),
        **_jsonable(extra_json),
    }
    return write_checkpoint(path, tensors, metadata)


def _load_state(network, tensors: dict, path, name: str, strict: bool = True):
    """Load ``tensors`` into ``network``, naming missing and unexpected keys on a mismatch."""
    expected = {k for k, v in network.state_dict().items() if torch.is_tensor(v)}
    missing, extra = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
    if extra or (strict and missing):
        raise ValueError(f"{path} does not match {name}'s network: missing {missing[:5]}, unexpected {extra[:5]}")
    try:
        network.load_state_dict(tensors, strict=False)
    except RuntimeError as err:
        raise ValueError(f"{path} does not match {name}'s network: {err}") from None
    return missing


def load(path, device="cpu", **overrides):
    """Load an estimator written by ``est.save(path)``; nothing is unpickled.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :meth:`opkit.estimator.OpkitEstimator.save`.
    device : str, default="cpu"
        Where to put the network (``"auto"`` for CUDA when available).
    **overrides
        Hyperparameters to change on the loaded estimator (e.g. ``verbose=1``).

    Returns
    -------
    OpkitEstimator
        A fitted estimator, ready for ``predict`` or a ``warm_start`` fit.

    Raises
    ------
    ValueError
        Not an opkit estimator file, truncated, damaged, tampered with, or
        naming an unknown estimator class.
    """
    from .training import cast_module, resolve_device

    tensors, meta = read_checkpoint(path)
    if meta.get("kind") != "estimator":
        raise ValueError(f"{path} holds a {meta.get('kind')!r}, not a saved estimator")
    name = meta.get("estimator")
    if name not in ESTIMATORS:
        load_builtin()
    if name not in ESTIMATORS:
        raise ValueError(f"{path} names an unknown estimator class {name!r}; known: {sorted(ESTIMATORS)}")
    params = {k: _decode_param(v) for k, v in meta["params"].items()}
    for key in meta.get("tuple_params", []):
        params[key] = tuple(params[key])
    estimator = ESTIMATORS[name](**params)
    if overrides:
        estimator.set_params(**overrides)
    extra = {k[len(EXTRA_PREFIX):]: v for k, v in tensors.items() if k.startswith(EXTRA_PREFIX)}
    weights = {k: v for k, v in tensors.items() if not k.startswith(EXTRA_PREFIX)}
    estimator._set_extra_state(meta, extra)
    network = estimator._rebuild_network()
    cast_module(network, torch.float64 if meta.get("dtype") == "float64" else torch.float32)
    _load_state(network, weights, path, name)
    device = resolve_device(device)
    estimator._set_network(network.to(device).eval(), device)
    estimator.history_ = meta["history"]
    estimator.stage_history_ = meta.get("stage_history") or {"fit": meta["history"]}
    estimator.n_epochs_ = meta["n_epochs"]
    return estimator


def load_foreign_weights(network, path, key_map=None, strict: bool = True):
    """Load weights written by other software into ``network``, from safetensors only.

    Parameters
    ----------
    network : torch.nn.Module
    path : str or os.PathLike
        A safetensors file (no opkit metadata needed). Pickles (``.bin``,
        ``.pt``, ...) are refused.
    key_map : callable or dict, optional
        The network's name for each key of the file; a key mapped to None is
        dropped (e.g. an optimizer state or a head replaced for new
        variables); a dict keeps the names it does not list. Default: the
        file's names. An estimator passes its
        ``_foreign_key`` hook.
    strict : bool, default=True
        Refuse network tensors the file does not provide (unexpected keys are
        always refused).

    Returns
    -------
    list of str
        The network keys the file did not provide (empty when ``strict``).

    Raises
    ------
    ValueError
        A pickle, a file that is not safetensors, two keys mapped to one name,
        missing/unexpected keys or shapes that do not match.
    """
    tensors, _ = read_safetensors(path)
    if key_map is None:
        mapped = tensors
    else:
        lookup = (lambda key: key_map.get(key, key)) if isinstance(key_map, dict) else key_map
        mapped = {}
        for key, value in tensors.items():
            target = lookup(key)
            if target is None:
                continue
            if target in mapped:
                raise ValueError(f"{path}: two keys map to the network key {target!r} (the second is {key!r})")
            mapped[target] = value
    return _load_state(network, mapped, path, type(network).__name__, strict=strict)

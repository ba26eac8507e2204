"""Checkpoints that load without unpickling: safetensors weights + a JSON header.

One file holds everything: the tensors in the safetensors layout, and in its
``__metadata__`` a JSON document (estimator class, ``get_params()``, field specs,
history, library versions). :func:`load` parses only that JSON and raw tensor
bytes, so a malicious file cannot execute code.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

__all__ = ["FORMAT_NAME", "write_checkpoint", "read_checkpoint", "atomic_path"]

FORMAT_NAME = "opkit-checkpoint"
FORMAT_VERSION = 1


class atomic_path:
    """Context manager yielding a temporary path that replaces ``path`` on success.

    The temporary file lives in the destination folder, so the final
    ``os.replace`` is atomic; on error it is removed and ``path`` is untouched.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination.
    suffix : str, default=".tmp"
        Suffix of the temporary file.
    """

    def __init__(self, path, suffix: str = ".tmp"):
        self.path = Path(path)
        self.suffix = suffix

    def __enter__(self) -> Path:
        folder = self.path.parent if str(self.path.parent) else Path(".")
        if not folder.is_dir():
            raise FileNotFoundError(f"cannot write {self.path}: folder {folder} does not exist")
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=self.suffix, dir=folder)
        os.close(fd)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False


def _flatten_tensors(tensors: dict) -> dict:
    """Contiguous CPU copies; complex tensors are stored natively (safetensors C64/C128)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


def write_checkpoint(path, tensors: dict, metadata: dict) -> Path:
    """Write ``tensors`` and JSON ``metadata`` atomically to one safetensors file.

    Parameters
    ----------
    path : str or os.PathLike
        Destination (conventionally ``*.opkit`` or ``*.safetensors``).
    tensors : dict of str to torch.Tensor
        Named tensors.
    metadata : dict
        JSON-serialisable metadata.

    Returns
    -------
    pathlib.Path
    """
    from safetensors.torch import save_file

    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **metadata}
    with atomic_path(path) as tmp:
        save_file(_flatten_tensors(tensors), str(tmp), metadata={"opkit": json.dumps(header)})
    return Path(path)


def read_checkpoint(path):
    """Read a file written by :func:`write_checkpoint`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    tensors : dict of str to torch.Tensor
    metadata : dict

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is not an opkit checkpoint, is truncated, or was tampered with.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            raw_meta = (handle.metadata() or {}).get("opkit")
            if raw_meta is None:
                raise ValueError("it has no opkit metadata")
            metadata = json.loads(raw_meta)
            if metadata.get("format") != FORMAT_NAME:
                raise ValueError(f"its format is {metadata.get('format')!r}")
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except ValueError as err:
        raise ValueError(f"{path} is not a valid opkit checkpoint: {err}") from None
    except Exception as err:  # safetensors raises its own error types on bad bytes
        raise ValueError(
            f"{path} is not a valid opkit checkpoint (truncated, corrupted or another "
            f"format): {type(err).__name__}: {err}"
        ) from None
    return tensors, metadata


def optimizer_to_tensors(optimizer: torch.optim.Optimizer, prefix: str = "optimizer/"):
    """Split an optimizer state dict into named tensors and a JSON-ready rest."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, slots in state["state"].items():
        for key, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}{index}/{key}"] = value
            else:
                scalars[f"{index}/{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict, rest: dict, prefix: str = "optimizer/"):
    """Inverse of :func:`optimizer_to_tensors`: load the state into ``optimizer``."""
    state: dict = {}
    for name, value in tensors.items():
        if not name.startswith(prefix):
            continue
        index, key = name[len(prefix):].split("/", 1)
        state.setdefault(int(index), {})[key] = value
    for name, value in rest["scalars"].items():
        index, key = name.split("/", 1)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": rest["param_groups"]})

"""Checkpoints that load without unpickling: safetensors weights + a JSON header.

One file holds everything: the tensors in the safetensors layout, and in its
``__metadata__`` a JSON document (estimator class, ``get_params()``, field specs,
history, library versions). :func:`load` parses only that JSON and raw tensor
bytes, so a malicious file cannot execute code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

__all__ = ["FORMAT_NAME", "write_checkpoint", "read_checkpoint", "read_safetensors", "tensor_checksum", "atomic_path"]

FORMAT_NAME = "opkit-checkpoint"
FORMAT_VERSION = 1


class atomic_path:
    """Context manager yielding a temporary path that replaces ``path`` on success.

    The temporary file lives in a private folder inside the destination folder,
    so the final ``os.replace`` is atomic; on error the private folder is
    removed and ``path`` is untouched.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination.
    suffix : str, default=".tmp"
        Suffix of the temporary file.

    Notes
    -----
    The private folder is what makes clean-up certain. A writer that fails
    inside a dask computation may leave tasks running in the scheduler's
    threads, and xarray's file manager re-opens (re-creates) a closed file by
    name when such a task writes its block. A file removed on its own could
    thus reappear; a file whose folder is gone cannot.
    """

    def __init__(self, path, suffix: str = ".tmp"):
        self.path = Path(path)
        self.suffix = suffix

    def __enter__(self) -> Path:
        folder = self.path.parent if str(self.path.parent) else Path(".")
        if not folder.is_dir():
            raise FileNotFoundError(f"cannot write {self.path}: folder {folder} does not exist")
        self.folder = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmpdir", dir=folder))
        self.tmp = self.folder / (self.path.name + self.suffix)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            # The final file gets what open() would give: 0666 less the user's umask.
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(self.tmp, 0o666 & ~mask)
            os.replace(self.tmp, self.path)
            os.rmdir(self.folder)
        else:
            # A straggling writer may re-create the file between rmtree's unlink
            # and its rmdir; a few passes see the folder gone.
            for _ in range(50):
                shutil.rmtree(self.folder, ignore_errors=True)
                if not self.folder.exists():
                    break
                time.sleep(0.01)
        return False


def _flatten_tensors(tensors: dict) -> dict:
    """Contiguous CPU copies; complex tensors are stored natively (safetensors C64/C128)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


def tensor_checksum(tensors: dict) -> str:
    """SHA-256 of named tensors: names, dtypes, shapes and raw bytes, in name order.

    Stored in a checkpoint's metadata by :func:`write_checkpoint` and checked by
    :func:`read_checkpoint`, so damage inside the tensor payload (which the
    safetensors header cannot notice) is caught on load.

    Parameters
    ----------
    tensors : dict of str to torch.Tensor

    Returns
    -------
    str
        Hexadecimal digest.
    """
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


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

    tensors = _flatten_tensors(tensors)
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **metadata,
              "tensor_sha256": tensor_checksum(tensors)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"opkit": json.dumps(header)})
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
        The file is not an opkit checkpoint, is truncated, or was tampered with
        (header or tensor bytes: files since format 1 carry a checksum of their
        tensors; older ones without it load unchecked).
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
    expected = metadata.pop("tensor_sha256", None)
    if expected is not None and tensor_checksum(tensors) != expected:
        raise ValueError(
            f"{path} is damaged: its tensor data do not match the checksum stored when it "
            "was written (bytes changed on disk or in transfer); write it again from the source"
        )
    return tensors, metadata


#: Suffixes of pickled PyTorch checkpoints, refused by :func:`read_safetensors`.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def read_safetensors(path):
    """Read the tensors of any safetensors file (no opkit metadata needed); never unpickle.

    For weights written by other software (e.g. a published ``model.safetensors``);
    the names are the file's own, to be mapped onto a network by the caller.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    tensors : dict of str to torch.Tensor
    metadata : dict of str to str
        The file's ``__metadata__`` (empty when it has none).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A pickled checkpoint (``.bin``, ``.pt``, ...; opkit never unpickles), or a
        file that is not in the safetensors layout.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    with open(path, "rb") as handle:
        head = handle.read(2)
    # Pickles start with the protocol opcode 0x80; torch.save files are zip archives.
    if path.suffix.lower() in PICKLE_SUFFIXES or head in (b"PK",) or head[:1] == b"\x80":
        raise ValueError(
            f"{path} is a pickled checkpoint; opkit never unpickles (it could run code). "
            "Convert it to safetensors with the software that wrote it (e.g. "
            "safetensors.torch.save_file(torch.load(path, weights_only=True), 'model.safetensors'))"
        )
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as err:  # safetensors raises its own error types on bad bytes
        raise ValueError(f"{path} is not a safetensors file: {type(err).__name__}: {err}") from None
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

"""Checkpoints: tensor checksums, file modes, foreign safetensors weights, versions."""

import json
import os
import re
import stat
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import opkit
from opkit.persistence import _versions, load_foreign_weights
from opkit.serialization import read_checkpoint, read_safetensors, write_checkpoint

from core_toys import ToyVectorRegressor
from test_core_estimators import vector_data


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X, y = vector_data(32)
    est = ToyVectorRegressor(max_epochs=2, device="cpu", random_state=0).fit(X, y)
    path = tmp_path_factory.mktemp("ckpt") / "toy.opkit"
    est.save(path)
    return est, path, X


def _payload_offset(path) -> int:
    with open(path, "rb") as handle:
        return 8 + int.from_bytes(handle.read(8), "little")


def test_damaged_tensor_bytes_are_a_clear_error(saved, tmp_path):
    est, path, X = saved
    data = bytearray(path.read_bytes())
    start = _payload_offset(path)
    for i in range(start + 16, start + 24):  # inside the tensor payload, not the header
        data[i] ^= 0xFF
    damaged = tmp_path / "damaged.opkit"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{damaged.name} is damaged: its tensor data do not match the checksum"):
        opkit.load(damaged)
    # The intact file still loads and predicts the same.
    np.testing.assert_array_equal(opkit.load(path).predict(X).values, est.predict(X).values)


def test_files_without_checksum_still_load(tmp_path):
    from safetensors.torch import load_file

    tensors = {"a": torch.arange(4.0)}
    path = write_checkpoint(tmp_path / "new.opkit", tensors, {"kind": "test"})
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["opkit"])
    assert "tensor_sha256" in header
    del header["tensor_sha256"]
    old = tmp_path / "old.opkit"
    save_file(load_file(str(path)), str(old), metadata={"opkit": json.dumps(header)})
    loaded, meta = read_checkpoint(old)
    torch.testing.assert_close(loaded["a"], tensors["a"])
    assert meta["kind"] == "test"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_checkpoints_are_written_with_the_users_umask(saved, tmp_path, umask):
    est, _, _ = saved
    previous = os.umask(umask)
    try:
        path = est.save(tmp_path / f"umask{umask:o}.opkit")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Linear(3, 4)
        self.blocks = torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(2)])
        self.register_buffer("scale", torch.ones(4))


def _foreign_file(tmp_path, net):
    """A checkpoint in another library's naming, with an entry the network does not use."""
    tensors = {"model.patch_embed.weight": net.embed.weight.detach() + 1, "model.patch_embed.bias": net.embed.bias.detach() + 1,
               "optimizer.step": torch.tensor([3.0])}
    for i, block in enumerate(net.blocks):
        tensors[f"model.layers.{i}.w"] = block.weight.detach() * 2
        tensors[f"model.layers.{i}.b"] = block.bias.detach() * 2
    tensors["model.scale"] = torch.full((4,), 5.0)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))  # no opkit metadata
    return path, tensors


def _key_map(key):
    if key.startswith("optimizer."):
        return None
    key = key.removeprefix("model.").replace("patch_embed", "embed").replace("layers", "blocks")
    return re.sub(r"\.w$", ".weight", re.sub(r"\.b$", ".bias", key))


def test_foreign_safetensors_load_through_a_key_map(tmp_path):
    torch.manual_seed(0)
    net = _Net()
    path, tensors = _foreign_file(tmp_path, net)
    assert load_foreign_weights(net, path, key_map=_key_map) == []
    torch.testing.assert_close(net.embed.weight, tensors["model.patch_embed.weight"])
    torch.testing.assert_close(net.blocks[1].bias, tensors["model.layers.1.b"])
    torch.testing.assert_close(net.scale, tensors["model.scale"])
    # Without the map, the names are named in the error.
    with pytest.raises(ValueError, match=r"missing \['blocks.0.bias'.*unexpected \['model.layers.0.b'"):
        load_foreign_weights(_Net(), path)
    # A map that leaves a network tensor unfilled: refused when strict, listed otherwise.
    partial = lambda key: None if "patch_embed" in key else _key_map(key)  # noqa: E731
    with pytest.raises(ValueError, match="missing"):
        load_foreign_weights(_Net(), path, key_map=partial)
    assert load_foreign_weights(_Net(), path, key_map=partial, strict=False) == ["embed.bias", "embed.weight"]


@pytest.mark.parametrize("name", ["pytorch_model.bin", "weights.pt", "disguised.safetensors"])
def test_pickled_checkpoints_are_refused(tmp_path, name):
    path = tmp_path / name
    if name.startswith("disguised"):
        torch.save({"w": torch.zeros(2)}, path)  # a zip archive under a safetensors name
    else:
        path.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ValueError, match="pickled checkpoint; opkit never unpickles"):
        read_safetensors(path)


def test_neuraloperator_version_recorded_only_when_installed(monkeypatch):
    from importlib import metadata

    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: (_ for _ in ()).throw(metadata.PackageNotFoundError(name))
                        if name == "neuraloperator" else real(name))
    versions = _versions()
    assert "neuraloperator" not in versions and versions["torch"] == torch.__version__
    monkeypatch.setattr(metadata, "version", lambda name: "9.9.9" if name == "neuraloperator" else real(name))
    assert _versions()["neuraloperator"] == "9.9.9"

"""Data-parallel training under torch.distributed (two CPU processes, gloo)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from opkit import TFNORegressor
from opkit.data import load_darcy_small
from opkit.training import _batches, distributed_context, tensor_state

WORKER = Path(__file__).with_name("ddp_worker.py")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_batches_split_each_global_batch_across_ranks():
    generator = torch.Generator().manual_seed(3)
    whole = _batches(10, 4, torch.Generator().manual_seed(3))
    shares = [_batches(10, 2, torch.Generator().manual_seed(3), rank, 2) for rank in range(2)]
    assert [len(s) for s in shares] == [3, 3]  # 10 samples, global batches of 4: 4 + 4 + 2
    for step, batch in enumerate(whole):
        both = torch.cat([shares[0][step], shares[1][step]])
        assert sorted(both.tolist()) == sorted(batch.tolist())
    # 7 samples over 2 ranks: padded by wrapping, so no rank gets an empty batch.
    odd = [_batches(7, 4, generator, rank, 2) for rank in range(2)]
    assert all(len(b) > 0 for share in odd for b in share)
    assert sum(len(b) for share in odd for b in share) == 8


def test_no_process_group_means_one_process():
    assert distributed_context() == (0, 1)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")
def test_two_processes_train_like_one_with_the_global_batch(tmp_path):
    """Two gloo ranks with batch 4 each end with identical weights, equal (to float
    rounding) to a single process trained with batch 8 on the same shuffles."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--nnodes", "1",
        "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
        str(WORKER), str(tmp_path), "4",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(2)]
    for name, value in ranks[0].items():
        torch.testing.assert_close(ranks[1][name], value, rtol=0, atol=0, msg=name)
    history = json.loads((tmp_path / "rank0.json").read_text())
    assert history == json.loads((tmp_path / "rank1.json").read_text())
    assert len(history) == 3 and history[-1] < history[0]

    train = load_darcy_small("train").isel(sample=slice(0, 64))
    single = TFNORegressor(
        batch_size=8, device="cpu", n_modes=4, hidden_channels=8, n_layers=2, rank=0.5, max_epochs=3, random_state=0
    ).fit(train.a, train.u)
    # The Darcy data declare the transpose, so both runs also augment: the coins
    # are drawn for the global batch and sliced like the samples.
    assert single.symmetries_ == ("swap_x_y",)
    reference = tensor_state(single.model_)
    assert reference.keys() == ranks[0].keys()
    for name, value in reference.items():
        torch.testing.assert_close(ranks[0][name], value, rtol=1e-3, atol=1e-5, msg=name)
    np.testing.assert_allclose(history, single.history_["train_loss"], rtol=1e-4)

"""One process of the data-parallel test (run by ``torchrun`` from tests/test_distributed.py).

Fits a small TFNORegressor on the first 64 Darcy samples with ``batch_size``
per process and writes this rank's fitted weights and history.
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from opkit import TFNORegressor
from opkit.data import load_darcy_small
from opkit.training import tensor_state

SETTINGS = dict(n_modes=4, hidden_channels=8, n_layers=2, rank=0.5, max_epochs=3, random_state=0)


def main(out_dir, batch_size):
    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    rank = dist.get_rank()
    train = load_darcy_small("train").isel(sample=slice(0, 64))
    est = TFNORegressor(batch_size=batch_size, device="cpu", verbose=1, **SETTINGS).fit(train.a, train.u)
    out = Path(out_dir)
    save_file({k: v.contiguous() for k, v in tensor_state(est.model_).items()}, str(out / f"rank{rank}.safetensors"))
    (out / f"rank{rank}.json").write_text(json.dumps(est.history_["train_loss"]))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))

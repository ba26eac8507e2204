"""Shared fixtures: small slices of the embedded Darcy data and a tiny TFNO config."""

import pytest
import torch

from opkit.data import load_darcy_small

# CPU tests use 2 threads (the CI machine has 2 cores); results of a seeded fit
# are repeatable for a fixed thread count.
torch.set_num_threads(2)

#: A TFNO small enough that a 2-epoch fit on 64 samples takes about a second.
TINY_TFNO = dict(n_modes=4, hidden_channels=8, n_layers=2, rank=0.5, max_epochs=2, batch_size=16)


@pytest.fixture(scope="session")
def darcy():
    """(train, test) Datasets: 64 training and 16 test samples of the 16x16 Darcy data."""
    train, test = load_darcy_small("both")
    return train.isel(sample=slice(0, 64)), test.isel(sample=slice(0, 16))

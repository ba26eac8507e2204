"""Small datasets embedded in opkit, exposed as xarray objects.

The Darcy-flow files are the 16 x 16 train and test sets shipped inside the
neuraloperator repository (MIT licence, notice in ``files/LICENSE-neuraloperator.txt``).
They are read with ``torch.load(..., weights_only=True)``, so nothing is unpickled.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import xarray as xr

__all__ = ["load_darcy_small"]

_FILES = resources.files(__package__) / "files"
# Zero Dirichlet on all sides; stored on the variables too, so a DataArray
# taken out of the Dataset still knows its boundary conditions.
_BC = {"bc_x": "dirichlet", "bc_y": "dirichlet"}


def _read_tensor_dict(name: str) -> dict:
    import torch

    with resources.as_file(_FILES / name) as path:
        return torch.load(path, weights_only=True, map_location="cpu")


def _darcy_dataset(name: str, split: str) -> xr.Dataset:
    raw = _read_tensor_dict(name)
    coefficient = raw["x"].numpy().astype(np.float32)
    solution = raw["y"].numpy().astype(np.float32)
    n_samples, n_x, n_y = solution.shape
    # The grid is uniform on [0, 1) with the first row/column on the Dirichlet
    # edge (u ~ 0 there), which is also where neuraloperator's grid embedding
    # places its points.
    coords = {
        "sample": np.arange(n_samples),
        "x": ("x", np.arange(n_x) / n_x, {"units": "1", "long_name": "x position", "axis": "X"}),
        "y": ("y", np.arange(n_y) / n_y, {"units": "1", "long_name": "y position", "axis": "Y"}),
    }
    return xr.Dataset(
        {
            "a": (
                ("sample", "x", "y"),
                coefficient,
                {
                    "long_name": "permeability phase (1 = high, 0 = low)",
                    "units": "1",
                    "opkit_role": "input",
                    **_BC,
                },
            ),
            "u": (
                ("sample", "x", "y"),
                solution,
                {"long_name": "pressure (rescaled)", "units": "1", "opkit_role": "output", **_BC},
            ),
        },
        coords=coords,
        attrs={
            "title": f"Darcy flow 16x16, {split} split (neuraloperator example data)",
            "pde": "-div(a grad u) = 1 on (0,1)^2, u = 0 on the boundary",
            "source": "neuraloperator repository, neuralop/data/datasets/data/" + name,
            "license": "MIT, Copyright (c) 2023 NeuralOperator developers",
            "opkit_inputs": "a",
            "opkit_outputs": "u",
            **_BC,
            "split": split,
        },
    )


def load_darcy_small(split: str = "train") -> xr.Dataset:
    """Load the embedded 16 x 16 Darcy-flow dataset.

    Parameters
    ----------
    split : {"train", "test", "both"}, default="train"
        ``"train"``: 1000 samples; ``"test"``: 50 samples; ``"both"``: a tuple
        ``(train, test)``.

    Returns
    -------
    xarray.Dataset or tuple of xarray.Dataset
        Variables ``a`` (coefficient phase, 0/1) and ``u`` (solution), dims
        ``(sample, x, y)``, coordinates on the unit square with ``units``, and the
        attributes ``opkit_inputs="a"``, ``opkit_outputs="u"``,
        ``bc_x = bc_y = "dirichlet"``.

    Examples
    --------
    >>> from opkit.data import load_darcy_small
    >>> ds = load_darcy_small("test")
    >>> ds.u.dims, ds.sizes["sample"]
    (('sample', 'x', 'y'), 50)
    """
    if split == "both":
        return load_darcy_small("train"), load_darcy_small("test")
    files = {"train": "darcy_train_16.pt", "test": "darcy_test_16.pt"}
    if split not in files:
        raise ValueError(f"split must be 'train', 'test' or 'both', got {split!r}")
    return _darcy_dataset(files[split], split)

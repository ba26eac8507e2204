"""Small datasets embedded in opkit, exposed as xarray objects.

The Darcy-flow files are the 16 x 16 train and test sets shipped inside the
neuraloperator repository (MIT licence, notice in ``files/LICENSE-neuraloperator.txt``).
They are read with ``torch.load(..., weights_only=True)``, so nothing is unpickled.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import xarray as xr

from .._validation import _is_dask

__all__ = ["load_darcy_small", "time_windows"]

_FILES = resources.files(__package__) / "files"
# Zero Dirichlet on all sides; stored on the variables too, so a DataArray
# taken out of the Dataset still knows its boundary conditions.
_BC = {"bc_x": "dirichlet", "bc_y": "dirichlet"}
# The problem (square, the same condition on every edge, f = 1, an isotropic
# random coefficient) is symmetric under all eight maps of the square, but
# this grid is every other point of a nodal 32-point grid (its last row is
# at 30/31, not 1), so only the transpose maps it onto itself. opkit.io
# declares the same for every neuraloperator Darcy file.
DARCY_SYMMETRIES = {"opkit_symmetries": "swap_x_y"}


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
                    **DARCY_SYMMETRIES,
                },
            ),
            "u": (
                ("sample", "x", "y"),
                solution,
                {"long_name": "pressure (rescaled)", "units": "1", "opkit_role": "output", **_BC, **DARCY_SYMMETRIES},
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
            **DARCY_SYMMETRIES,
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
        ``bc_x = bc_y = "dirichlet"`` and ``opkit_symmetries="swap_x_y"``
        (the transpose, which estimators train with by default; see
        :mod:`opkit.symmetry`).

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


def time_windows(data, n_in, n_out, stride=1):
    """Cut trajectories into (input frames, next frames) pairs for ``time_window``.

    Every window of ``n_in + n_out`` consecutive frames, starting every
    ``stride`` frames, of every trajectory becomes one sample: ``X`` holds its
    first ``n_in`` frames and ``y`` the following ``n_out``. Times are made
    relative to the window's first frame, so all windows share one ``time``
    coordinate; the absolute start and the source trajectory are kept as
    ``sample`` coordinates. Dask-backed data (e.g. from
    :func:`opkit.io.open_dataset`) stay lazy: each chunk of trajectories
    becomes one chunk of their windows, read only when a batch needs it.

    Parameters
    ----------
    data : xarray.DataArray or xarray.Dataset
        Trajectories with dims ``sample`` and ``time`` (uniformly spaced);
        variables without ``time`` are carried along unchanged.
    n_in, n_out : int
        Input and output frames per window (``TFNORegressor(time_window=(n_in, n_out))``).
    stride : int, default=1
        Frames between the starts of consecutive windows.

    Returns
    -------
    X, y : same type as ``data``
        ``n_trajectories * n_windows`` samples, trajectory by trajectory, with
        ``sample`` coordinates ``trajectory`` (the source's ``sample`` value)
        and ``window_start`` (the absolute time of the first input frame).

    Raises
    ------
    ValueError
        Missing ``sample``/``time`` dim, non-uniform times, non-positive
        sizes, or trajectories shorter than one window.

    Examples
    --------
    >>> X, y = time_windows(ds.u, 10, 10, stride=5)          # doctest: +SKIP
    >>> TFNORegressor(time_window=(10, 10)).fit(X, y)          # doctest: +SKIP
    """
    for name, value in (("n_in", n_in), ("n_out", n_out), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    for dim in ("sample", "time"):
        if dim not in data.dims:
            raise ValueError(f"time_windows needs a '{dim}' dim; the data has dims {tuple(data.dims)}")
    n_times = data.sizes["time"]
    starts = np.arange(0, n_times - n_in - n_out + 1, stride)
    if starts.size == 0:
        raise ValueError(f"trajectories of {n_times} frames are shorter than one window of {n_in} + {n_out} frames")
    if "time" in data.coords:
        times, time_attrs = np.asarray(data["time"].values, dtype=float), dict(data["time"].attrs)
    else:
        times, time_attrs = np.arange(n_times, dtype=float), {}
    steps = np.diff(times)
    if steps.size and not np.allclose(steps, steps[0], rtol=1e-6, atol=0):
        raise ValueError("time_windows needs uniformly spaced 'time' values, so that all windows share relative times")
    n_traj = data.sizes["sample"]
    trajectory = data["sample"].values if "sample" in data.coords else np.arange(n_traj)

    lazy = any(_is_dask(v) for v in (data.data_vars.values() if isinstance(data, xr.Dataset) else [data]))

    def cut(first, count):
        pieces = []
        for start in starts:
            piece = data.isel(time=slice(start + first, start + first + count))
            relative = times[start + first : start + first + count] - times[start]
            pieces.append(piece.assign_coords(time=("time", relative, time_attrs)).drop_vars("sample", errors="ignore"))
        # A "window" dim, then (trajectory, window) pairs flattened trajectory by
        # trajectory: a reshape, so dask-backed data stay lazy in whole chunks
        # (reordering by an index array would split them sample by sample).
        stacked = xr.concat(pieces, dim="window", coords="minimal", compat="override", join="override")
        if lazy:
            # One chunk along "window", so the reshape keeps each chunk of trajectories whole.
            stacked = stacked.chunk({"window": -1})
        stacked = stacked.stack(pair=("sample", "window"), create_index=False).transpose("pair", ...)
        return stacked.rename(pair="sample").assign_coords(
            sample=np.arange(stacked.sizes["pair"]),
            trajectory=("sample", np.repeat(trajectory, starts.size)),
            window_start=("sample", np.tile(times[starts], n_traj), time_attrs),
        )

    return cut(0, n_in), cut(n_in, n_out)

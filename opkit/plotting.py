"""Figures a user wants after a fit: loss curves and input / truth / prediction / error panels."""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["plot_history", "plot_prediction"]


def plot_history(history: dict, ax=None, title: str | None = None):
    """Plot per-epoch training (and validation) loss on a log scale.

    Parameters
    ----------
    history : dict
        An estimator's ``history_`` (keys ``train_loss`` and ``val_loss``).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    ax.semilogy(epochs, history["train_loss"], label="train")
    val = [np.nan if v is None else v for v in history.get("val_loss", [])]
    if val and np.isfinite(val).any():
        ax.semilogy(epochs, val, label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    return ax


def _as_dataarray(field, name=None) -> xr.DataArray:
    if isinstance(field, xr.Dataset):
        if name is None:
            name = next(iter(field.data_vars))
        return field[name]
    if isinstance(field, xr.DataArray):
        return field
    array = np.asarray(field)
    dims = ["sample", "x", "y", "z"][: array.ndim]
    return xr.DataArray(array, dims=dims)


def _draw(ax, da: xr.DataArray, title: str, cmap="viridis", symmetric=False):
    label = da.attrs.get("long_name", da.name or "")
    units = da.attrs.get("units")
    if units and units != "1":
        label = f"{label} [{units}]"
    if da.ndim == 1:
        da.plot.line(ax=ax)
        ax.set_title(title)
        return
    kwargs = {}
    if symmetric:
        limit = float(np.abs(da).max()) or 1.0
        kwargs = dict(vmin=-limit, vmax=limit, cmap="RdBu_r")
    else:
        kwargs = dict(cmap=cmap)
    dims = list(da.dims)
    da.plot.imshow(ax=ax, x=dims[0], y=dims[1], cbar_kwargs={"label": label, "shrink": 0.8}, **kwargs)
    ax.set_title(title)
    ax.set_aspect("equal")


def plot_prediction(X, y_true, y_pred, sample=0, variable=None, input_variable=None):
    """Four panels for one sample: input, truth, prediction and error.

    Parameters
    ----------
    X : xarray.Dataset, xarray.DataArray or numpy.ndarray
        Inputs (the first variable is shown unless ``input_variable`` is given).
    y_true, y_pred : same kinds
        Truth and prediction on the same grid.
    sample : int, default=0
        Position along ``sample`` to show.
    variable : str, optional
        Output variable of a Dataset (default: the first).
    input_variable : str, optional
        Input variable of a Dataset (default: the first).

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Fields with a ``time`` dim are shown at their last time.
    """
    import matplotlib.pyplot as plt

    x = _as_dataarray(X, input_variable).isel(sample=sample)
    truth = _as_dataarray(y_true, variable).isel(sample=sample)
    pred = _as_dataarray(y_pred, variable).isel(sample=sample)
    if "time" in truth.dims:
        truth, pred = truth.isel(time=-1), pred.isel(time=-1)
    if "time" in x.dims:
        x = x.isel(time=-1)
    error = pred - truth
    error.attrs = {"long_name": "prediction - truth", "units": truth.attrs.get("units", "")}
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6), constrained_layout=True)
    _draw(axes[0], x, f"input {x.name or ''}".strip())
    vmin, vmax = float(min(truth.min(), pred.min())), float(max(truth.max(), pred.max()))
    for ax, field, title in ((axes[1], truth, "truth"), (axes[2], pred, "prediction")):
        if field.ndim == 2:
            field = field.copy()
            dims = list(field.dims)
            field.plot.imshow(ax=ax, x=dims[0], y=dims[1], vmin=vmin, vmax=vmax, cbar_kwargs={"shrink": 0.8})
            ax.set_title(title)
            ax.set_aspect("equal")
        else:
            _draw(ax, field, title)
    _draw(axes[3], error, "error", symmetric=True)
    return fig

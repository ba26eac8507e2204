"""Checks of input fields: uniform grids, boundary conditions, finite and non-zero values."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from .spec import FieldSpec

_BC_CHOICES = ("periodic", "dirichlet", "neumann")


def _check_uniform(values: np.ndarray, dim: str, what: str) -> None:
    if values.ndim != 1 or values.size < 3 or not np.issubdtype(values.dtype, np.number):
        return
    steps = np.diff(values.astype(np.float64))
    if not np.allclose(steps, steps[0], rtol=1e-5, atol=1e-12 * max(1.0, abs(steps[0]))):
        raise ValueError(
            f"{what}: coordinate '{dim}' is not uniform (spacings from {steps.min():.6g} "
            f"to {steps.max():.6g}); opkit's grid models need a uniform grid along '{dim}'. "
            f"Interpolate to a uniform grid first, e.g. with .interp({dim}=...)."
        )


def _boundary_conditions(obj, grid_dims, what: str, bc_override=None) -> dict:
    bc = {}
    for dim in grid_dims:
        value = None
        if bc_override and dim in bc_override:
            value = bc_override[dim]
        else:
            value = obj.attrs.get(f"bc_{dim}")
            if value is None and isinstance(obj, xr.Dataset):
                found = {v.attrs.get(f"bc_{dim}") for v in obj.data_vars.values()} - {None}
                value = found.pop() if len(found) == 1 else None
        if dim == "time":
            bc[dim] = "none" if value is None else str(value)
            continue
        if value is None:
            value = "periodic"
        value = str(value).lower()
        if value not in _BC_CHOICES:
            raise ValueError(f"{what}: bc_{dim}={value!r} is not one of {_BC_CHOICES}")
        bc[dim] = value
    return bc


def _finite_check(array: np.ndarray, what: str, names) -> None:
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        bad_channels = [
            names[c] if c < len(names) else str(c)
            for c in range(array.shape[1])
            if not np.isfinite(array[:, c]).all()
        ]
        n_bad = int((~np.isfinite(array)).sum())
        raise ValueError(
            f"{what} contains {n_bad} NaN or infinite value(s) in {bad_channels}; "
            "remove or fill them (e.g. .fillna) before fitting or predicting."
        )


def warn_default_bc(spec: FieldSpec, obj, what: str) -> None:
    """Warn once when periodic boundary conditions were assumed for lack of attrs."""
    if spec.kind == "numpy":
        return
    missing = [d for d in spec.grid_dims if d != "time" and f"bc_{d}" not in obj.attrs]
    if isinstance(obj, xr.Dataset):
        missing = [d for d in missing if not any(f"bc_{d}" in v.attrs for v in obj.data_vars.values())]
    if missing:
        warnings.warn(
            f"{what} has no bc_{'/bc_'.join(missing)} attribute(s); assuming periodic boundaries "
            f"along {missing} (this matters for Sobolev losses and padding). Set e.g. "
            f"ds.attrs['bc_{missing[0]}'] = 'dirichlet' to silence this.",
            UserWarning,
            stacklevel=3,
        )


def check_nonzero_targets(array, spec: FieldSpec, what: str = "y") -> None:
    """Refuse samples whose target is zero everywhere: a relative error divides by their norm.

    Parameters
    ----------
    array : numpy.ndarray
        ``(sample, channel, *grid)``.
    spec : FieldSpec
    what : str, default="y"

    Raises
    ------
    ValueError
        Naming the first such samples, with a hint when a single 2-D NumPy
        field seems to have been read as samples of 1-D rows.
    """
    if not isinstance(array, np.ndarray) or array.size == 0:
        return
    zero = np.flatnonzero(~np.any(array.reshape(len(array), -1) != 0, axis=1))
    if not len(zero):
        return
    hint = ""
    if spec.kind == "numpy" and len(spec.grid_dims) == 1:
        hint = (f" A NumPy array of shape {array.shape[0:1] + array.shape[2:]} is read as {array.shape[0]} samples of "
                "1-D rows; if it is one 2-D field, pass it as array[None] (one sample).")
    raise ValueError(
        f"{what} is zero everywhere in sample(s) {zero[:5].tolist()} (of {len(array)}): the relative "
        f"training loss divides by each target's norm and would become inf.{hint}"
    )

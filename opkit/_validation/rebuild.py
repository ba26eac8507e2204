"""From model output back to the kind of object given in ``fit``."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .frames import _unfold_frames
from .spec import SAMPLE_DIM, FieldSpec


def _coord_for(dim, template: FieldSpec, query: FieldSpec | None, size: int):
    """Coordinate values for ``dim``: the query grid's where given, else the template's."""
    source = query if (query is not None and dim in query.coords) else template
    values = source.coords[dim]["values"]
    attrs = dict(source.coords[dim]["attrs"])
    if values is not None and len(values) != size:
        # The query grid differs in size from the fitted one along a dim the query
        # does not carry: resample the fitted coordinate uniformly.
        values = list(np.linspace(values[0], values[0] + (values[1] - values[0]) * len(values), size, endpoint=False))
    return values, attrs


def rebuild_fields(array: np.ndarray, template: FieldSpec, query: FieldSpec | None = None, sample_coord=None):
    """Turn model output ``(sample, channel, *grid)`` back into the fitted kind of object.

    Parameters
    ----------
    array : numpy.ndarray
        Model output, channels first, grid in ``template.grid_dims`` order.
    template : FieldSpec
        The output spec recorded in ``fit`` (names, attrs, channel layout).
    query : FieldSpec, optional
        The spec of the input given to ``predict``: its grid coordinates (for
        the dims it has) are used, so a prediction at another resolution
        carries that resolution's coordinates.
    sample_coord : array-like, optional
        Values of the ``sample`` coordinate.

    Returns
    -------
    xarray.Dataset, xarray.DataArray or numpy.ndarray
    """
    if template.kind == "numpy" and (query is None or query.kind == "numpy"):
        return array[:, 0] if template.n_channels == 1 else array
    if template.frames:
        array, template = _unfold_frames(array, template)
    grid_shape = array.shape[2:]
    coords = {}
    for dim, size in zip(template.grid_dims, grid_shape):
        values, attrs = _coord_for(dim, template, query, size)
        if values is not None:
            coords[dim] = (dim, np.asarray(values), attrs)
    if sample_coord is not None:
        coords[SAMPLE_DIM] = np.asarray(sample_coord)
    dims = [SAMPLE_DIM] + list(template.grid_dims)
    if template.kind == "dataset":
        data_vars = {
            name: (dims, array[:, c], template.var_attrs.get(name, {}))
            for c, name in enumerate(template.names)
        }
        return xr.Dataset(data_vars, coords=coords, attrs=dict(template.attrs))
    name = template.names[0]
    if template.channel_dim:
        coords[template.channel_dim] = np.asarray(template.channel_labels)
        out_dims = [SAMPLE_DIM, template.channel_dim] + list(template.grid_dims)
        data = array
    else:
        out_dims, data = dims, array[:, 0]
    return xr.DataArray(
        data, dims=out_dims, coords=coords, name=None if name == "field" else name,
        attrs=dict(template.var_attrs.get(name, {})),
    )

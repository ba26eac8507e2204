"""Input checking and conversion between xarray fields and channel-first arrays.

Every estimator goes through the two functions here: :func:`extract_fields` turns
an ``xarray`` object (or a NumPy array) into a ``(sample, channel, *grid)`` array
plus a :class:`FieldSpec` that remembers names, dims, coordinates, attributes and
boundary conditions; :func:`rebuild_fields` turns model output back into the kind
of object the user gave in ``fit``.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import xarray as xr

__all__ = [
    "SAMPLE_DIM",
    "CHANNEL_DIMS",
    "FieldSpec",
    "FieldSamples",
    "LazyFields",
    "as_samples",
    "extract_fields",
    "fold_frames",
    "frames_to_channels",
    "align_samples",
    "check_nonzero_targets",
    "rebuild_fields",
    "unwrap",
]

SAMPLE_DIM = "sample"
#: Dims of a DataArray that hold channels (vector components, stacked variables).
CHANNEL_DIMS = ("channel", "component", "variable")
_NUMPY_GRID_DIMS = {1: ("x",), 2: ("x", "y"), 3: ("x", "y", "z")}
_BC_CHOICES = ("periodic", "dirichlet", "neumann")


class FieldSamples:
    """A Dataset or DataArray seen as a sequence of samples, for scikit-learn.

    scikit-learn's splitters count samples with ``X.shape[0]`` and index them with
    ``X[indices]``. A DataArray whose first dim is ``sample`` already behaves so;
    an ``xarray.Dataset`` does not (``len(ds)`` is its number of variables). Wrap it
    with :func:`as_samples` to use it in ``GridSearchCV``, ``cross_val_score`` or
    ``train_test_split``; every opkit estimator and metric unwraps it.

    Parameters
    ----------
    data : xarray.Dataset or xarray.DataArray
        Fields with a ``sample`` dimension.
    """

    def __init__(self, data):
        if not isinstance(data, (xr.Dataset, xr.DataArray)):
            raise TypeError(f"FieldSamples wraps an xarray object, got {type(data).__name__}")
        if SAMPLE_DIM not in data.dims:
            raise ValueError(f"data has no '{SAMPLE_DIM}' dimension; its dims are {tuple(data.dims)}")
        self.data = data

    @property
    def shape(self):
        """``(n_samples,)``: what scikit-learn reads to count samples."""
        return (self.data.sizes[SAMPLE_DIM],)

    def __len__(self):
        return self.data.sizes[SAMPLE_DIM]

    def __getitem__(self, index):
        # scikit-learn indexes arrays as ``X[indices, ...]``.
        if isinstance(index, tuple):
            if len(index) != 2 or index[1] is not Ellipsis:
                raise IndexError("FieldSamples is indexed along 'sample' only")
            index = index[0]
        return FieldSamples(self.data.isel({SAMPLE_DIM: np.asarray(index)}))

    def __repr__(self):
        return f"FieldSamples(n_samples={len(self)}, data={type(self.data).__name__})"


def as_samples(data):
    """Wrap an xarray object so that scikit-learn can split it by sample.

    Parameters
    ----------
    data : xarray.Dataset or xarray.DataArray
        Fields with a ``sample`` dimension.

    Returns
    -------
    FieldSamples

    Examples
    --------
    >>> from sklearn.model_selection import cross_val_score
    >>> from opkit import TFNORegressor, as_samples
    >>> from opkit.data import load_darcy_small
    >>> ds = load_darcy_small("test")
    >>> scores = cross_val_score(TFNORegressor(max_epochs=1), as_samples(ds[["a"]]),
    ...                          as_samples(ds[["u"]]), cv=2)  # doctest: +SKIP
    """
    return FieldSamples(data)


def unwrap(data):
    """Return the xarray object inside a :class:`FieldSamples`, else ``data``."""
    return data.data if isinstance(data, FieldSamples) else data


@dataclass
class FieldSpec:
    """What :func:`extract_fields` learned about a field, to check and rebuild it.

    Attributes
    ----------
    kind : {"dataset", "dataarray", "numpy"}
        The type of object given.
    names : list of str
        Variable names, one per channel (Dataset), or the DataArray's name.
    channel_dim : str or None
        For a DataArray with a channel dim: its name.
    channel_labels : list or None
        Coordinate values along ``channel_dim``.
    grid_dims : list of str
        The non-sample, non-channel dims, in array order.
    coords : dict
        Per grid dim: ``{"values": list, "attrs": dict}`` (``values`` None when the
        dim had no coordinate).
    sizes : dict
        Grid size per grid dim.
    var_attrs : dict
        Attributes per variable name.
    attrs : dict
        Attributes of the Dataset (or DataArray).
    bc : dict
        Boundary condition per grid dim (``"periodic"``, ``"dirichlet"`` or
        ``"neumann"``; time-like dims are recorded as ``"none"``).
    dtype : str
        The dtype given.
    frames : dict or None
        When the ``time`` frames of the field were folded into channels
        (``time_window``, :func:`fold_frames`): ``{"dim", "size", "values",
        "attrs"}`` of the folded dim, which is then not among ``grid_dims``.
    """

    kind: str
    names: list
    grid_dims: list
    coords: dict
    sizes: dict
    channel_dim: str | None = None
    channel_labels: list | None = None
    var_attrs: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    bc: dict = field(default_factory=dict)
    dtype: str = "float32"
    frames: dict | None = None

    @property
    def n_channels(self) -> int:
        """Number of channels the field becomes (times the frames folded into them)."""
        per_frame = len(self.channel_labels) if self.channel_dim else len(self.names)
        return per_frame * (self.frames["size"] if self.frames else 1)

    def spacing(self, dim: str) -> float:
        """Grid spacing along ``dim``; without a coordinate, that of a unit domain."""
        values = self.coords[dim]["values"]
        if values is None or len(values) < 2:
            n = self.sizes[dim]
            return 1.0 / (n if self.bc.get(dim) == "periodic" else max(n - 1, 1))
        return float(values[1] - values[0])

    def length(self, dim: str) -> float:
        """Domain length along ``dim``, as :mod:`opkit.metrics` defines it.

        A periodic dim's points do not repeat the end point: ``n * spacing``.
        A bounded dim's points include both ends: ``(n - 1) * spacing``.
        """
        n = self.sizes[dim]
        if self.coords[dim]["values"] is None:
            return 1.0
        return (n if self.bc.get(dim) == "periodic" else n - 1) * self.spacing(dim)

    def to_dict(self) -> dict:
        """JSON-ready representation (used by ``save``)."""
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "FieldSpec":
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def _jsonable(obj):
    """Convert NumPy scalars/arrays nested in dicts and lists to plain Python."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


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


def _is_dask(obj) -> bool:
    return type(obj.variable._data).__module__.startswith("dask") or hasattr(obj.data, "dask")


class LazyFields:
    """A ``(sample, channel, *grid)`` view of dask-backed fields that reads on demand.

    Training and prediction draw mini-batches with :meth:`take`, so a dataset
    opened lazily (``xarray.open_dataset(..., chunks=...)`` or
    :func:`opkit.io.open_dataset`) is never loaded whole. NaN and infinite
    values are refused batch by batch, as they are read.

    Parameters
    ----------
    arrays : list of dask.array.Array
        One array ``(sample, *grid)`` per channel, all of one shape.
    what : str
        Name used in error messages (``"X"`` or ``"y"``).
    names : list of str
        Channel names, for error messages.
    """

    def __init__(self, arrays, what: str, names):
        self.arrays = list(arrays)
        self.what = what
        self.names = list(names)
        self.shape = (int(self.arrays[0].shape[0]), len(self.arrays), *map(int, self.arrays[0].shape[1:]))
        self.transform = None

    def __len__(self) -> int:
        return self.shape[0]

    def take(self, index) -> np.ndarray:
        """Read the samples at positions ``index`` as a float32 array."""
        index = np.asarray(index, dtype=np.int64)
        # Reading in increasing order lets the storage layer coalesce chunks.
        order = np.argsort(index, kind="stable")
        wanted = index[order]
        block = np.stack(
            [np.asarray(a[wanted].compute(scheduler="synchronous"), dtype=np.float32) for a in self.arrays], axis=1
        )
        _finite_check(block, self.what, self.names)
        batch = np.empty_like(block)
        batch[order] = block
        return self.transform(batch) if self.transform is not None else batch

    def batches(self, batch_size: int):
        """Yield consecutive blocks of samples, in order (for streaming statistics)."""
        for start in range(0, len(self), batch_size):
            yield self.take(np.arange(start, min(start + batch_size, len(self))))


def extract_fields(X, what: str = "X", bc=None, lazy=False):
    """Validate a field and return ``(array, spec)`` with array ``(sample, channel, *grid)``.

    Parameters
    ----------
    X : xarray.Dataset, xarray.DataArray, FieldSamples or numpy.ndarray
        Dataset variables become channels in their order; a DataArray with a
        dim from :data:`CHANNEL_DIMS` uses it as channels; a NumPy array
        ``(n_samples, *spatial)`` is one channel on the unit square.
    what : str, default="X"
        Name used in error messages.
    bc : dict, optional
        Boundary conditions overriding the ``bc_<dim>`` attributes.
    lazy : bool, default=False
        Keep dask-backed variables on disk: return a :class:`LazyFields` that
        reads samples only when asked.

    Returns
    -------
    array : numpy.ndarray or LazyFields
        float32 array ``(n_samples, n_channels, *grid)``; never a view that
        could write back into the input.
    spec : FieldSpec

    Raises
    ------
    ValueError
        Missing ``sample`` dim, NaN/inf values, a non-uniform coordinate,
        variables with different dims, or an unknown boundary condition.
    TypeError
        An input of another type.
    """
    X = unwrap(X)
    if isinstance(X, np.ndarray) or (hasattr(X, "__array__") and not isinstance(X, (xr.Dataset, xr.DataArray))):
        return _extract_numpy(np.asarray(X), what)
    if isinstance(X, xr.DataArray):
        return _extract_dataarray(X, what, bc, lazy)
    if isinstance(X, xr.Dataset):
        return _extract_dataset(X, what, bc, lazy)
    raise TypeError(
        f"{what} must be an xarray Dataset or DataArray (or a NumPy array), got {type(X).__name__}"
    )


def _extract_numpy(array: np.ndarray, what: str):
    if array.ndim < 2 or array.ndim > 4:
        raise ValueError(
            f"{what} as a NumPy array must be (n_samples, *spatial) with 1 to 3 spatial "
            f"axes; got shape {array.shape}"
        )
    grid_dims = list(_NUMPY_GRID_DIMS[array.ndim - 1])
    data = np.array(array, dtype=np.float32, copy=True)[:, None]
    _finite_check(data, what, ["array"])
    sizes = dict(zip(grid_dims, array.shape[1:]))
    spec = FieldSpec(
        kind="numpy",
        names=["array"],
        grid_dims=grid_dims,
        coords={d: {"values": None, "attrs": {}} for d in grid_dims},
        sizes=sizes,
        bc={d: "periodic" for d in grid_dims},
        dtype=str(array.dtype),
    )
    return data, spec


def _grid_coords(obj, grid_dims, what):
    coords = {}
    for dim in grid_dims:
        if dim in obj.coords:
            coord = obj.coords[dim]
            values = np.asarray(coord.values)
            _check_uniform(values, dim, what)
            coords[dim] = {"values": _jsonable(values), "attrs": _jsonable(dict(coord.attrs))}
        else:
            coords[dim] = {"values": None, "attrs": {}}
    return coords


def _require_sample(obj, what):
    if SAMPLE_DIM not in obj.dims:
        raise ValueError(
            f"{what} has no '{SAMPLE_DIM}' dimension; its dims are {tuple(obj.dims)}. "
            f"Rename the dimension that indexes independent instances, e.g. "
            f".rename({{'batch': '{SAMPLE_DIM}'}}), or add one with .expand_dims('{SAMPLE_DIM}')."
        )


def _extract_dataarray(da: xr.DataArray, what: str, bc, lazy=False):
    _require_sample(da, what)
    channel_dims = [d for d in da.dims if d in CHANNEL_DIMS]
    if len(channel_dims) > 1:
        raise ValueError(f"{what} has several channel dims {channel_dims}; stack them into one")
    channel_dim = channel_dims[0] if channel_dims else None
    grid_dims = [d for d in da.dims if d not in (SAMPLE_DIM, channel_dim)]
    order = [SAMPLE_DIM] + ([channel_dim] if channel_dim else []) + grid_dims
    labels = None
    if channel_dim is not None:
        labels = (
            _jsonable(da.coords[channel_dim].values)
            if channel_dim in da.coords
            else list(range(da.sizes[channel_dim]))
        )
    name = da.name if da.name is not None else "field"
    channel_names = [name] if labels is None else [str(l) for l in labels]
    if lazy and _is_dask(da):
        ordered = da.transpose(*order).data
        arrays = [ordered] if channel_dim is None else [ordered[:, c] for c in range(ordered.shape[1])]
        values = LazyFields(arrays, what, channel_names)
    else:
        values = np.array(da.transpose(*order).values, dtype=np.float32, copy=True)
        if channel_dim is None:
            values = values[:, None]
        _finite_check(values, what, channel_names)
    spec = FieldSpec(
        kind="dataarray",
        names=[str(name)],
        grid_dims=grid_dims,
        coords=_grid_coords(da, grid_dims, what),
        sizes={d: int(da.sizes[d]) for d in grid_dims},
        channel_dim=channel_dim,
        channel_labels=labels,
        var_attrs={str(name): _jsonable(dict(da.attrs))},
        attrs=_jsonable(dict(da.attrs)),
        bc=_boundary_conditions(da, grid_dims, what, bc),
        dtype=str(da.dtype),
    )
    return values, spec


def _extract_dataset(ds: xr.Dataset, what: str, bc, lazy=False):
    _require_sample(ds, what)
    names = [str(n) for n in ds.data_vars]
    if not names:
        raise ValueError(f"{what} is a Dataset without data variables")
    first = ds[names[0]]
    for name in names:
        var = ds[name]
        if SAMPLE_DIM not in var.dims:
            raise ValueError(
                f"{what}: variable '{name}' has no '{SAMPLE_DIM}' dimension (dims {var.dims}); "
                "select only per-sample fields, e.g. ds[['a', 'b']]"
            )
        if set(var.dims) != set(first.dims):
            raise ValueError(
                f"{what}: variables '{names[0]}' {first.dims} and '{name}' {var.dims} have "
                "different dims; all variables of one Dataset become channels of one grid"
            )
    grid_dims = [d for d in first.dims if d != SAMPLE_DIM]
    order = [SAMPLE_DIM] + grid_dims
    if lazy and any(_is_dask(ds[n]) for n in names):
        values = LazyFields([ds[n].transpose(*order).data for n in names], what, names)
    else:
        values = np.stack(
            [np.asarray(ds[n].transpose(*order).values, dtype=np.float32) for n in names], axis=1
        )
        _finite_check(values, what, names)
    spec = FieldSpec(
        kind="dataset",
        names=names,
        grid_dims=grid_dims,
        coords=_grid_coords(ds, grid_dims, what),
        sizes={d: int(ds.sizes[d]) for d in grid_dims},
        var_attrs={n: _jsonable(dict(ds[n].attrs)) for n in names},
        attrs=_jsonable(dict(ds.attrs)),
        bc=_boundary_conditions(ds, grid_dims, what, bc),
        dtype=str(first.dtype),
    )
    return values, spec


FRAMES_DIM = "time"


def fold_frames(spec: FieldSpec, n_frames: int, what: str) -> tuple[FieldSpec, int]:
    """The spec of a field whose ``time`` frames become channels, and the folded axis.

    A time-dependent operator with a fixed window (``time_window``) maps
    ``n_frames`` input frames to a fixed number of output frames; stacking the
    frames as channels lets a spatial operator learn it (the FNO-2D recipe).

    Parameters
    ----------
    spec : FieldSpec
        As extracted, with ``time`` among its grid dims.
    n_frames : int
        Frames the field must have along ``time``.
    what : str
        Name used in error messages (``"X"``, ``"y"``).

    Returns
    -------
    folded : FieldSpec
        Without ``time`` in its grid dims; ``frames`` records it.
    axis : int
        Position of ``time`` among the original grid dims (for
        :func:`frames_to_channels`).

    Raises
    ------
    ValueError
        NumPy input, no ``time`` dim, or another number of frames.
    """
    if spec.kind == "numpy":
        raise ValueError(f"time_window needs {what} as xarray data with a '{FRAMES_DIM}' dim, got a NumPy array")
    if FRAMES_DIM not in spec.grid_dims:
        raise ValueError(
            f"time_window needs a '{FRAMES_DIM}' dim in {what}; its dims besides sample/channel are {spec.grid_dims}"
        )
    if spec.sizes[FRAMES_DIM] != n_frames:
        raise ValueError(
            f"time_window expects {n_frames} frame(s) along '{FRAMES_DIM}' in {what}, got {spec.sizes[FRAMES_DIM]}"
        )
    axis = spec.grid_dims.index(FRAMES_DIM)
    folded = replace(
        spec,
        grid_dims=[d for d in spec.grid_dims if d != FRAMES_DIM],
        sizes={d: n for d, n in spec.sizes.items() if d != FRAMES_DIM},
        coords={d: c for d, c in spec.coords.items() if d != FRAMES_DIM},
        bc={d: b for d, b in spec.bc.items() if d != FRAMES_DIM},
        frames={"dim": FRAMES_DIM, "size": int(n_frames), **spec.coords[FRAMES_DIM]},
    )
    return folded, axis


def frames_to_channels(block: np.ndarray, axis: int) -> np.ndarray:
    """``(sample, channel, *grid)`` with frames on grid axis ``axis`` to ``(sample, channel * frame, *rest)``.

    Channels vary slowest: channel ``c * n_frames + t`` is frame ``t`` of channel ``c``.
    """
    moved = np.moveaxis(block, 2 + axis, 2)
    return np.ascontiguousarray(moved.reshape(moved.shape[0], -1, *moved.shape[3:]))


def _unfold_frames(array: np.ndarray, template: FieldSpec):
    """Inverse of :func:`frames_to_channels` on a model output, with the spec it matches."""
    frames = template.frames
    array = array.reshape(array.shape[0], -1, frames["size"], *array.shape[2:])
    template = replace(
        template,
        grid_dims=[frames["dim"]] + list(template.grid_dims),
        sizes={frames["dim"]: frames["size"], **template.sizes},
        coords={frames["dim"]: {"values": frames["values"], "attrs": frames["attrs"]}, **template.coords},
        frames=None,
    )
    return array, template


def check_consistent(spec: FieldSpec, fitted: FieldSpec, what: str) -> None:
    """Check a field given to ``predict`` against the one seen in ``fit``.

    Raises
    ------
    ValueError
        A different kind of object, different or missing variables, channels
        or grid dims.
    """
    if spec.kind != fitted.kind and "numpy" in (spec.kind, fitted.kind):
        raise ValueError(f"{what} is a {spec.kind} but fit saw a {fitted.kind}")
    if fitted.kind == "dataset" and spec.kind == "dataset" and spec.names != fitted.names:
        missing = [n for n in fitted.names if n not in spec.names]
        extra = [n for n in spec.names if n not in fitted.names]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing variable(s) {missing}")
            if extra:
                parts.append(f"unexpected variable(s) {extra}")
            raise ValueError(f"{what}: {' and '.join(parts)}; fit saw {fitted.names}")
    if spec.n_channels != fitted.n_channels:
        raise ValueError(
            f"{what} has {spec.n_channels} channel(s) but fit saw {fitted.n_channels}"
        )
    if len(spec.grid_dims) != len(fitted.grid_dims):
        raise ValueError(
            f"{what} has {len(spec.grid_dims)} grid dim(s) {spec.grid_dims} but fit saw "
            f"{len(fitted.grid_dims)} {fitted.grid_dims}"
        )
    if set(spec.grid_dims) != set(fitted.grid_dims):
        raise ValueError(f"{what} has grid dims {spec.grid_dims} but fit saw {fitted.grid_dims}")


def reorder_like(array: np.ndarray, spec: FieldSpec, fitted: FieldSpec) -> np.ndarray:
    """Transpose the grid axes of ``array`` (from ``spec``'s order) into ``fitted``'s order."""
    if spec.grid_dims == fitted.grid_dims:
        return array
    perm = [0, 1] + [2 + spec.grid_dims.index(d) for d in fitted.grid_dims]
    return np.ascontiguousarray(array.transpose(perm))


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


def align_samples(X, y):
    """Pair ``X`` and ``y`` by their ``sample`` coordinates, as xarray would.

    Parameters
    ----------
    X, y : xarray objects, NumPy arrays or FieldSamples

    Returns
    -------
    y
        Unchanged when either lacks a ``sample`` coordinate, when their
        lengths differ (left to the caller's count check) or when both carry
        the same labels in the same order; else reordered to ``X``'s labels.

    Raises
    ------
    ValueError
        The labels differ (naming those only one side has) or repeat.
    """
    X, y = unwrap(X), unwrap(y)
    has = [isinstance(o, (xr.Dataset, xr.DataArray)) and SAMPLE_DIM in o.coords for o in (X, y)]
    if not all(has):
        return y
    x_labels, y_labels = X[SAMPLE_DIM].values, y[SAMPLE_DIM].values
    # Different counts are reported by the caller's sample-count check.
    if len(x_labels) != len(y_labels) or np.array_equal(x_labels, y_labels):
        return y
    only_x = [v for v in x_labels if v not in set(y_labels)]
    only_y = [v for v in y_labels if v not in set(x_labels)]
    if only_x or only_y or len(np.unique(x_labels)) != len(x_labels) or len(np.unique(y_labels)) != len(y_labels):
        raise ValueError(
            f"X and y have different '{SAMPLE_DIM}' coordinates: only in X {_jsonable(only_x[:5])}, "
            f"only in y {_jsonable(only_y[:5])} (or repeated labels); pair them first, e.g. "
            f"xarray.align(X, y, join='inner'), or drop the coordinate to pair by position"
        )
    return y.sel({SAMPLE_DIM: x_labels})


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

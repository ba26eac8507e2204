"""What extraction records about a field: :class:`FieldSpec`, the sample dim and JSON helpers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

SAMPLE_DIM = "sample"
#: Dims of a DataArray that hold channels (vector components, stacked variables).
CHANNEL_DIMS = ("channel", "component", "variable")


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

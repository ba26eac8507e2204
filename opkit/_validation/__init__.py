"""Input checking and conversion between xarray fields and channel-first arrays.

Every estimator goes through the two functions here: :func:`extract_fields` turns
an ``xarray`` object (or a NumPy array) into a ``(sample, channel, *grid)`` array
plus a :class:`FieldSpec` that remembers names, dims, coordinates, attributes and
boundary conditions; :func:`rebuild_fields` turns model output back into the kind
of object the user gave in ``fit``.

The package is split by concern; every name is importable from here:

- ``spec``: :class:`FieldSpec`, :data:`SAMPLE_DIM`, :data:`CHANNEL_DIMS`, JSON helpers;
- ``samples``: :class:`FieldSamples`, :func:`as_samples`, :func:`unwrap`;
- ``checks``: uniform grids, boundary conditions, finite and non-zero values;
- ``lazy``: :class:`LazyFields`, dask-backed fields read on demand;
- ``extract``: :func:`extract_fields` for NumPy arrays, DataArrays and Datasets;
- ``frames``: ``time`` frames folded into channels and back;
- ``consistency``: ``predict`` input against ``fit``'s, ``X`` against ``y``;
- ``rebuild``: :func:`rebuild_fields`.
"""

from .checks import check_nonzero_targets, warn_default_bc
from .consistency import align_samples, check_consistent, reorder_like
from .extract import extract_fields
from .frames import FRAMES_DIM, fold_frames, frames_to_channels
from .lazy import LazyFields, _is_dask
from .rebuild import rebuild_fields
from .samples import FieldSamples, as_samples, unwrap
from .spec import CHANNEL_DIMS, SAMPLE_DIM, FieldSpec, _jsonable

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

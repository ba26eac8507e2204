"""Dask-backed fields read sample by sample: :class:`LazyFields`."""

from __future__ import annotations

import numpy as np

from .checks import _finite_check


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

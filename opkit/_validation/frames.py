"""Folding the ``time`` frames of a field into channels (``time_window``) and back."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .spec import FieldSpec

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

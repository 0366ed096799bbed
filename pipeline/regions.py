"""Strided regions of a frame and patches across frames, read without loading whole frames.

Both read the bounding rectangle through the series' region read (Zarr and
HDF5 then touch only the chunks it covers; a processed series pushes the
rectangle down its chain) and apply strides and channel selections in numpy
on that small block: :meth:`pipeline.series.ImageSeries.region` and
:meth:`~pipeline.series.ImageSeries.patches` call these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline._selection import SeriesLike, as_selection, check_open, is_int
from pipeline.errors import AxesError, FrameIndexError, OptionValueError, RegionError

PATCH_TASK_FRAMES = 32
"""Frames per task when patches are read through dask; fewer frames are read directly."""


def _pair(name: str, value: Any, positive: bool) -> tuple[int, int]:
    # integers only: a string, a float or a bool is a mistake, not a pixel position
    items = list(value) if isinstance(value, list | tuple | np.ndarray) else None
    if items is None or len(items) != 2 or not all(is_int(v) for v in items):
        raise RegionError(f"{name} must be a pair of integers (y, x), got {value!r}")
    a, b = (int(v) for v in items)
    if (a < 1 or b < 1) if positive else (a < 0 or b < 0):
        kind = "positive" if positive else "non-negative"
        raise RegionError(f"{name} {value!r} must be {kind} integers (y, x)")
    return a, b


def _channel_axis(series: SeriesLike) -> int:
    """Position of the channel axis within a frame: ``C`` if named, else the first leading axis."""
    names = series.axes[1:]
    if series.ndim < 3:
        raise AxesError(
            f"channels= selects along a channel axis, but frames of shape {series.shape} "
            f"(axes {series.axes!r}) have none"
        )
    return names.index("C") if "C" in names else 0


def channel_plan(series: SeriesLike, channels: Any) -> tuple[tuple[tuple[int, int], ...], tuple]:
    """Spans of the leading frame axes to read, and the index applying ``channels`` to them."""
    lead = tuple((0, n) for n in series.shape[:-2])
    post: list[Any] = [slice(None)] * len(lead)
    if channels is None:
        return lead, tuple(post)
    axis = _channel_axis(series)
    n = series.shape[axis]
    if isinstance(channels, slice):
        idx = np.arange(n)[channels]
    else:
        idx = np.asarray(channels)
        if idx.dtype.kind not in "iu" or idx.ndim > 1:
            raise OptionValueError(
                f"channels must be an int, a slice or a list of ints, got {channels!r}")
        bad = (idx < -n) | (idx >= n)
        if bad.any():
            raise FrameIndexError(f"channels={channels!r}: channel {int(idx[bad].flat[0])} is "
                                  f"out of range for {n} channels (0..{n - 1})")
        idx = np.where(idx < 0, idx + n, idx)
    if idx.size == 0:
        raise OptionValueError(f"channels {channels!r} selects no channel of {n}; select "
                               f"at least one of 0..{n - 1}")
    lo, hi = int(idx.min()), int(idx.max()) + 1
    spans = list(lead)
    spans[axis] = (lo, hi)
    if idx.ndim == 0:
        post[axis] = int(idx) - lo
    elif np.array_equal(idx, np.arange(lo, hi)):
        post[axis] = slice(None)
    else:
        post[axis] = idx - lo
    return tuple(spans), tuple(post)


def region(series: SeriesLike, j: int, offset: Sequence[int] = (0, 0),
           size: Sequence[int] | None = None, stride: Sequence[int] = (1, 1),
           channels: Any = None) -> np.ndarray:
    """``frame[..., y : y + h*sy : sy, x : x + w*sx : sx]`` of frame ``j``, as a numpy array.

    Parameters
    ----------
    offset
        ``(y, x)`` of the first pixel.
    size
        ``(h, w)``: pixels in the result along Y and X; default: as many as fit.
    stride
        ``(sy, sx)``, positive.
    channels
        An int, slice or list of ints selecting along the channel axis of
        channel frames (an int drops the axis).

    Only the bounding rectangle of the strided region is read.
    """
    check_open(series)
    j = series.frame_index(j)
    height, width = series.shape[-2:]
    y, x = _pair("offset", offset, positive=False)
    sy, sx = _pair("stride", stride, positive=True)
    if size is None:
        h, w = max(0, -(-(height - y) // sy)), max(0, -(-(width - x) // sx))
    else:
        h, w = _pair("size", size, positive=False)
    y1, x1 = y + (h - 1) * sy + 1 if h else y, x + (w - 1) * sx + 1 if w else x
    if y > height or x > width or y1 > height or x1 > width:
        raise RegionError(
            f"region at offset {(y, x)} of size {(h, w)} with stride {(sy, sx)} needs rows "
            f"{y}..{y1 - 1} and columns {x}..{x1 - 1}, outside frames of {height} x {width}"
        )
    lead, post = channel_plan(series, channels)
    block = series.read(slice(j, j + 1), (*lead, (y, y1), (x, x1)))[0]
    return block[(*post, slice(None, None, sy), slice(None, None, sx))]


def _coords(coords: Any, n: int, size: tuple[int, int], plane: tuple[int, int]) -> np.ndarray:
    try:  # element by element: a bool or a float among them is a mistake, not a position
        found = np.asarray(coords, dtype=object) if not isinstance(coords, str | bytes) \
            else np.asarray([])
    except ValueError:  # ragged
        found = np.asarray([])
    if found.shape not in ((2,), (n, 2)) or not all(is_int(v) for v in found.flat):
        raise RegionError(
            f"coords must be one (y, x) pair of integers or {n} pairs, one per frame; got "
            f"{coords!r:.80}")
    arr = found.astype(np.int64)
    corners = arr.reshape(-1, 2)
    out = (corners < 0).any(axis=1) | (corners + size > plane).any(axis=1)
    if out.any():
        raise RegionError(
            f"patch of size {size} at {tuple(int(v) for v in corners[out][0])} falls outside "
            f"frames of {plane[0]} x {plane[1]}"
        )
    return arr


def _read_patches(series: SeriesLike, frames: np.ndarray, coords: np.ndarray,
                  size: tuple[int, int], lead: tuple, post: tuple) -> np.ndarray:
    h, w = size
    check_open(series)
    if coords.ndim == 1:  # one rectangle for every frame: one read
        y, x = (int(v) for v in coords)
        block = series.read(as_selection(frames), (*lead, (y, y + h), (x, x + w)))
        return block[(slice(None), *post)]
    out = [series.read(slice(int(j), int(j) + 1),
                       (*lead, (int(y), int(y) + h), (int(x), int(x) + w)))[0][post]
           for j, (y, x) in zip(frames, coords)]
    return np.stack(out)


def patches(series: SeriesLike, frames: Any, coords: Any, size: Sequence[int],
            channels: Any = None) -> np.ndarray:
    """Patches of ``size`` ``(h, w)`` at ``coords`` from many frames, as one array ``(n, ..., h, w)``.

    Parameters
    ----------
    frames
        Frame indices (a sequence, array or slice).
    coords
        One ``(y, x)`` top-left corner for every frame, or an ``(n, 2)`` array,
        one per frame.
    channels
        As for :func:`region`.

    More than :data:`PATCH_TASK_FRAMES` frames are read through dask in
    parallel tasks; each task reads only its patches.
    """
    index = np.atleast_1d(series.frame_indices(frames if not np.isscalar(frames) else [frames]))
    patch = _pair("size", size, positive=True)
    plane = (series.shape[-2], series.shape[-1])
    coords = _coords(coords, len(index), patch, plane)
    lead, post = channel_plan(series, channels)
    if len(index) <= PATCH_TASK_FRAMES:
        return _read_patches(series, index, coords, patch, lead, post)
    import dask

    tasks = []
    for start in range(0, len(index), PATCH_TASK_FRAMES):
        part = slice(start, start + PATCH_TASK_FRAMES)
        where = coords if coords.ndim == 1 else coords[part]
        # pure=False: a series is not tokenized (a stack would be pickled to do it)
        tasks.append(dask.delayed(_read_patches, pure=False)(series, index[part], where, patch, lead, post))
    return np.concatenate(dask.compute(*tasks))


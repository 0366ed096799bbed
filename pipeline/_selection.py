"""Normalising what selects frames and regions, with errors that name the bad value.

numpy's own messages for these ("slice step cannot be zero", an index wrapped
to a negative number past 2**63) do not say which value was wrong; these do.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from ops import FrameSpec, Region
from pipeline.errors import ClosedSeriesError, FrameIndexError, FrameSelectionError, RegionError

FrameSelection = slice | np.ndarray
"""Frames to read: a step-1 slice with non-negative bounds, or a 1-d integer array."""

FrameNumbers = range | np.ndarray
"""Frame numbers to read: a ``range`` (step 1) for a slice, else a 1-d int64 array."""


class SeriesLike(Protocol):
    """What the modules under :mod:`pipeline.series` ask of a series (an
    :class:`~pipeline.series.ImageSeries` is one): they are handed series, never make them."""

    def __len__(self) -> int: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    @property
    def spec(self) -> FrameSpec: ...

    @property
    def ndim(self) -> int: ...

    @property
    def nbytes(self) -> int: ...

    @property
    def axes(self) -> str: ...

    @property
    def metadata(self) -> dict[str, Any]: ...

    @property
    def frame_chunk(self) -> int | None: ...

    @property
    def storage_chunks(self) -> tuple[int, ...] | None: ...

    @property
    def in_memory(self) -> bool: ...

    @property
    def closed(self) -> bool: ...

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray: ...

    def description(self) -> dict[str, Any]: ...

    def source_paths(self) -> list[str]: ...

    def frame_index(self, key: Any) -> int: ...

    def frame_indices(self, key: Any) -> np.ndarray: ...

    def _as_dask(self) -> Any: ...

    def __getitem__(self, key: Any) -> Any: ...


def check_open(series: SeriesLike) -> None:
    """Raise :class:`~pipeline.errors.ClosedSeriesError` if ``series`` was closed: every way
    of reading frames asks this first."""
    if series.closed:
        where = series.description().get("path")
        what = f"the series of {where!r}" if isinstance(where, str) else repr(series)
        raise ClosedSeriesError(f"{what} is closed; open it again to read its frames")


def as_selection(frames: np.ndarray) -> FrameSelection:
    """A step-1 slice for an ascending run of frames, else the array itself."""
    if len(frames) and frames[-1] - frames[0] == len(frames) - 1 and np.all(np.diff(frames) == 1):
        return slice(int(frames[0]), int(frames[-1]) + 1)
    return frames


def frame_numbers(frames: FrameSelection, n: int) -> FrameNumbers:
    """The frame numbers a selection of a series of ``n`` frames names."""
    return range(*frames.indices(n)) if isinstance(frames, slice) else frames


def region_index(region: Region) -> tuple[slice, ...]:
    """A region's ``(start, stop)`` pairs as slices."""
    return tuple(slice(lo, hi) for lo, hi in region)


def is_array(obj: Any) -> bool:
    """Whether ``obj`` is an array of frames: numpy, dask, or an array-like with an integer
    ``ndim`` and no metadata dict (h5py and zarr datasets; a series has one)."""
    if isinstance(obj, np.ndarray):
        return True
    dask_array = sys.modules.get("dask.array")
    if dask_array is not None and isinstance(obj, dask_array.Array):
        return True
    ndim = getattr(obj, "ndim", None)
    return (isinstance(ndim, int) and not isinstance(ndim, bool)
            and not isinstance(getattr(obj, "metadata", None), Mapping))


def declared_shape(obj: Any) -> tuple[int, ...] | None:
    """The frame shape an object of hexrd's protocol declares, if it declares one."""
    shape = getattr(obj, "shape", None)
    if not isinstance(shape, tuple | list | np.ndarray):
        return None
    try:
        dims = tuple(operator.index(n) for n in shape)
    except TypeError:
        return None
    return dims if len(dims) >= 2 else None


def declared_dtype(obj: Any) -> np.dtype | None:
    """The dtype an object of hexrd's protocol declares, if it declares one."""
    dtype = getattr(obj, "dtype", None)
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        return None


def is_int(key: Any) -> bool:
    if isinstance(key, bool | np.bool_):
        return False
    try:
        operator.index(key)
    except TypeError:
        return False
    return True


def checked_slice(key: slice) -> slice:
    """``key`` if numpy can take it as a frame selection; else an error naming it."""
    for bound in (key.start, key.stop, key.step):
        if isinstance(bound, bool | np.bool_) or bound is not None and not is_int(bound):
            raise FrameSelectionError(
                f"slice {key!r}: start, stop and step are integers or None, got {bound!r}"
            )
    if key.step is not None and operator.index(key.step) == 0:
        raise FrameSelectionError(
            f"slice {key!r}: the step cannot be zero; use a positive or negative step, or None"
        )
    return key


def integer_indices(key: Any, idx: np.ndarray) -> np.ndarray | list[int]:
    """Frame indices as given, unconverted (so that 2**63 stays 2**63 in messages)."""
    if idx.dtype.kind in "iu" and not (isinstance(key, list | tuple)
                                       and any(isinstance(v, bool | np.bool_) for v in key)):
        return idx
    if idx.dtype == object and all(is_int(v) for v in idx):
        return [operator.index(v) for v in idx]  # beyond 64 bits
    what = "bools are not frame indices" if idx.dtype.kind in "iub" else f"of {idx.dtype}"
    raise FrameSelectionError(
        f"frames are selected by an int, a slice or a 1-d integer sequence, got {key!r:.80} "
        f"({what})"
    )


def in_range(idx: np.ndarray | list[int], n: int) -> np.ndarray:
    bad = [v for v in (idx if isinstance(idx, list) else ())
           if not -n <= v < n]
    if isinstance(idx, np.ndarray):
        mask = (idx >= n) if idx.dtype.kind == "u" else (idx < -n) | (idx >= n)
        bad = [idx[mask][0].item()] if mask.any() else []
    if bad:
        raise FrameIndexError(
            f"frame index {bad[0]!r} is out of range for a series of {n} frames "
            f"(valid: {-n} to {n - 1})"
        )
    arr = np.asarray(idx, dtype=np.intp)
    return np.where(arr < 0, arr + n, arr)


def slice_indices(key: slice, n: int, j: int, index: tuple[Any, ...]) -> tuple[int, int, int]:
    try:
        return key.indices(n)
    except TypeError as err:
        raise FrameSelectionError(f"s[{j}, {index_text(index)}]: {err}") from None


def index_text(index: tuple[Any, ...] | Sequence[Any]) -> str:
    return ", ".join(f"{i!r:.40}" for i in index)


def _region_pairs(region: Any) -> tuple[tuple[int, ...], ...] | None:
    """``region`` as tuples of ints, or None when it is not pairs of integers (bools are not)."""
    try:
        pairs = tuple(tuple(pair) for pair in region)
    except TypeError:
        return None
    if not all(is_int(v) for pair in pairs for v in pair):
        return None
    return tuple(tuple(operator.index(v) for v in pair) for pair in pairs)


def checked_region(region: Any, shape: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """``region`` (pairs for the last axes of a frame of ``shape``) as one pair per axis.

    Leading axes it leaves out are whole; a region that is not pairs of
    integers within the frame raises :class:`~pipeline.errors.RegionError`.
    """
    pairs = _region_pairs(region)
    if pairs is None:
        raise RegionError(
            f"region {region!r:.120} must be ((row0, row1), (col0, col1)) of integers for "
            f"frames of shape {shape}"
        )
    full = tuple((0, n) for n in shape)
    if len(pairs) > len(full) or any(len(p) != 2 for p in pairs):
        raise RegionError(
            f"region {region!r} must be ((row0, row1), (col0, col1)) for frames of shape {shape}"
        )
    pairs = full[: len(full) - len(pairs)] + pairs
    for (lo, hi), n in zip(pairs, shape):
        if not 0 <= lo <= hi <= n:
            raise RegionError(f"region {region!r} falls outside frames of shape {shape}")
    return pairs  # type: ignore[return-value]


def frame_list(key: Any, n: int) -> np.ndarray:
    """Frames of ``n`` selected by a slice, a boolean mask or a 1-d integer sequence, as indices."""
    if isinstance(key, slice):  # the selected frames only, however long the series
        return np.arange(*checked_slice(key).indices(n), dtype=np.intp)
    if isinstance(key, bool | np.bool_ | str | bytes) or np.ndim(key) != 1:
        raise FrameSelectionError(
            "frames are selected by an int, a slice or a 1-d integer sequence, "
            f"got {key!r:.80}"
        )
    idx = np.asarray(key)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise FrameIndexError(
                f"a boolean frame mask needs {n} entries, got shape {idx.shape}"
            )
        return np.flatnonzero(idx)
    if isinstance(key, list | tuple) and len(key) == 0:
        return np.empty(0, np.intp)  # [] is no frames, as in numpy
    return in_range(integer_indices(key, idx), n)

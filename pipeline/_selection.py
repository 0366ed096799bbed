"""Normalising what selects frames and regions, with errors that name the bad value.

numpy's own messages for these ("slice step cannot be zero", an index wrapped
to a negative number past 2**63) do not say which value was wrong; these do.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from pipeline.errors import FrameIndexError, FrameSelectionError, RegionError


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


def index_text(index: tuple[Any, ...]) -> str:
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

"""Normalising what selects frames and regions, with errors that name the bad value.

numpy's own messages for these ("slice step cannot be zero", an index wrapped
to a negative number past 2**63) do not say which value was wrong; these do.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from pipeline.errors import FrameIndexError, FrameSelectionError


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


def region_bound(value: Any) -> int:
    if isinstance(value, bool | np.bool_):
        raise TypeError
    return operator.index(value)

"""The built-in statistics, hexrd's: max, min, sum, average (mean), median, percentile.

Each is one declared value (see :mod:`pipeline._statistic`); they are put in
:data:`pipeline.stats.registry` there, in one place.  Output dtypes follow
hexrd: ``max``/``min`` keep the frame dtype, ``sum`` is float64, ``average``
float32, ``median`` and ``percentile`` float32 unless ``dtype=`` asks for
another.  Sums are exact for integer frames (an integer accumulator wide
enough for all the frames) and accumulated in float64 for others, so
integers never overflow.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

import numpy as np

from pipeline._statistic import Accumulator, BandStatistic, Parameter, Reduction
from pipeline._stats_bands import percentile_block
from pipeline.errors import OptionValueError

# -- the pieces reductions share ------------------------------------------------------------


def frame_dtype(dtype: np.dtype, count: int) -> Accumulator:
    """An accumulator of one image in the frames' own dtype."""
    return Accumulator(np.dtype(dtype))


def exact_sum(dtype: np.dtype, count: int) -> Accumulator:
    """Where the sum of ``count`` frames of ``dtype`` is held.

    Integer frames are summed in the narrowest integer that cannot overflow
    (uint32 for up to 65,537 uint16 frames), exactly; a 32-bit accumulator
    moves half the bytes of a float64 one per frame, which makes the fold about
    twice as fast.  Other frames are summed in float64.
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        reach = count * max(-int(info.min), int(info.max))
        for acc in (np.uint32, np.uint64) if dtype.kind == "u" else (np.int32, np.int64):
            if reach <= np.iinfo(acc).max:
                return Accumulator(np.dtype(acc), scratch=1)  # a frame cast to it
    return Accumulator(np.dtype(np.float64))


def first_frame(frame: np.ndarray, acc: Accumulator) -> np.ndarray:
    """The accumulator holding ``frame``, in the accumulator's dtype (a copy)."""
    return frame.astype(acc.dtype)[np.newaxis]


def fold_with(ufunc: np.ufunc, acc: np.ndarray, frames: Iterable[np.ndarray],
              seen: int) -> np.ndarray:
    """Each frame folded into ``acc[0]`` with ``ufunc``, in place."""
    for frame in frames:
        ufunc(acc[0], frame, out=acc[0])
    return acc


def merge_with(ufunc: np.ufunc, a: np.ndarray, b: np.ndarray, na: int, nb: int) -> np.ndarray:
    """``b`` folded into ``a`` with ``ufunc``, in place."""
    ufunc(a, b, out=a)
    return a


def the_image(acc: np.ndarray, count: int) -> np.ndarray:
    return acc[0]


def _same(dtype: np.dtype) -> np.dtype:
    return np.dtype(dtype)


def _float64_result(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64)


def _float32_result(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float32)


def fold_sum(acc: np.ndarray, frames: Iterable[np.ndarray], seen: int) -> np.ndarray:
    """Each frame added to ``acc[0]``, in place."""
    total = acc[0]
    if total.dtype.kind == "f":
        return fold_with(np.add, acc, frames, seen)
    # an integer frame is cast into a frame-sized buffer, then added: about 1.5x
    # faster than numpy's mixed-type add, which casts in small pieces
    cast = np.empty_like(total)
    for frame in frames:
        np.copyto(cast, frame)
        np.add(total, cast, out=total)
    return acc


def _sum(acc: np.ndarray, count: int) -> np.ndarray:
    return acc[0].astype(np.float64, copy=False)


def _mean(acc: np.ndarray, count: int) -> np.ndarray:
    # divided in float64 piece by piece into the float32 result: no float64 image
    return np.divide(acc[0], count, dtype=np.float64, out=np.empty(acc.shape[1:], np.float32),
                     casting="same_kind")


MAX = Reduction(
    "max", "the pixel-wise maximum, in the frames' dtype",
    accumulator=frame_dtype, start=first_frame, fold=partial(fold_with, np.maximum),
    merge=partial(merge_with, np.maximum), finish=the_image, result=_same)

MIN = Reduction(
    "min", "the pixel-wise minimum, in the frames' dtype",
    accumulator=frame_dtype, start=first_frame, fold=partial(fold_with, np.minimum),
    merge=partial(merge_with, np.minimum), finish=the_image, result=_same)

SUM = Reduction(
    "sum", "the pixel-wise sum, float64",
    accumulator=exact_sum, start=first_frame, fold=fold_sum,
    merge=partial(merge_with, np.add), finish=_sum, result=_float64_result)

AVERAGE = Reduction(
    "average", "the pixel-wise mean, float32", aliases=("mean",),
    accumulator=exact_sum, start=first_frame, fold=fold_sum,
    merge=partial(merge_with, np.add), finish=_mean, result=_float32_result)


# -- order statistics ----------------------------------------------------------------------


def check_pct(pct: Any) -> np.ndarray:
    """A percentile, or a 1-d sequence of them, as float64, each in [0, 100]."""
    try:
        q = np.asarray(pct, dtype=np.float64)
    except (TypeError, ValueError):
        q = np.asarray(np.nan)
    if q.ndim > 1 or q.size == 0 or not np.all((q >= 0) & (q <= 100)):
        raise OptionValueError(
            f"percentile {pct!r} must be in [0, 100] (a number, or a 1-d sequence of them)")
    return q


_HALF = np.asarray(50.0)


def _median_band(block: np.ndarray, param: Any, dtype: np.dtype) -> np.ndarray:
    return percentile_block(block, _HALF, dtype)


def _pct_shape(q: np.ndarray) -> tuple[int, ...]:
    return tuple(q.shape)


MEDIAN = BandStatistic(
    "median", "the pixel-wise median, float32", band=_median_band)

PERCENTILE = BandStatistic(
    "percentile", "the pixel-wise P-th percentile, float32",
    parameter=Parameter("pct", check_pct, metavar="P", help="a percentile in [0, 100]"),
    band=percentile_block, lead=_pct_shape)

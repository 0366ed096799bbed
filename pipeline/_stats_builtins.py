"""The built-in statistics, hexrd's: max, min, sum, average (mean), median, percentile.

Each is one declared value (see :mod:`pipeline._statistic`); they are put in
:data:`pipeline.stats.registry` there, in one place.  Output dtypes follow
hexrd: ``max``/``min`` keep the frame dtype, ``sum`` is float64, ``average``
float32 (accumulated in float64, so integers never overflow), ``median`` and
``percentile`` float32 unless ``dtype=`` asks for another.
"""

from __future__ import annotations

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


def float64(dtype: np.dtype, count: int) -> Accumulator:
    """An accumulator of one float64 image (and a float64 frame while folding)."""
    return Accumulator(np.dtype(np.float64))


def first_frame(frame: np.ndarray, acc: Accumulator) -> np.ndarray:
    """The accumulator holding ``frame``, in the accumulator's dtype (a copy)."""
    return frame.astype(acc.dtype)[np.newaxis]


def fold_with(ufunc: np.ufunc, acc: np.ndarray, block: np.ndarray, seen: int) -> np.ndarray:
    """Each frame of ``block`` folded into ``acc[0]`` with ``ufunc``, in place."""
    for frame in block:  # frame by frame: no copy of the block in the accumulator's dtype
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


def _sum(acc: np.ndarray, count: int) -> np.ndarray:
    return acc[0].astype(np.float64, copy=False)


def _mean(acc: np.ndarray, count: int) -> np.ndarray:
    total = acc[0].astype(np.float64, copy=False)
    np.divide(total, count, out=total)  # the accumulator is spent: divide in place
    return total.astype(np.float32)


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
    accumulator=float64, start=first_frame, fold=partial(fold_with, np.add),
    merge=partial(merge_with, np.add), finish=_sum, result=_float64_result)

AVERAGE = Reduction(
    "average", "the pixel-wise mean, float32 (summed in float64)", aliases=("mean",),
    accumulator=float64, start=first_frame, fold=partial(fold_with, np.add),
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

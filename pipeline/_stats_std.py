"""The pixel-wise standard deviation over frames: numpy's ``std`` (``ddof=0``), float32.

A noise map of a detector: how much each pixel varies from frame to frame.
Folded with Welford's update, so that a large mean beside a small spread (a
dark level of 1000 counts with a noise of 3) loses no precision, as the
difference of a sum of squares and a squared sum would; groups folded in
parallel are merged with Chan, Golub and LeVeque's formula.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pipeline._statistic import Accumulator, Reduction


BAND = 32 * 1024
"""Pixels updated at a time: six passes over a band that stays in the cache, not over frames."""


def _mean_and_m2(dtype: np.dtype, count: int) -> Accumulator:
    # the running mean and sum of squared deviations; the fold's working room is a band
    return Accumulator(np.dtype(np.float64), planes=2)


def _start(frame: np.ndarray, acc: Accumulator) -> np.ndarray:
    out = np.zeros((2, *frame.shape), acc.dtype)
    out[0] = frame
    return out


def _fold(acc: np.ndarray, frames: Iterable[np.ndarray], seen: int) -> np.ndarray:
    mean, m2 = acc[0].reshape(-1), acc[1].reshape(-1)  # views: the accumulator is contiguous
    delta, step = np.empty(min(BAND, mean.size)), np.empty(min(BAND, mean.size))
    for n, frame in enumerate(frames, seen + 1):
        pixels = frame.reshape(-1)
        for a in range(0, mean.size, BAND):
            b = min(a + BAND, mean.size)
            d, s, m = delta[:b - a], step[:b - a], mean[a:b]
            np.subtract(pixels[a:b], m, out=d)  # from the mean before this frame
            np.divide(d, n, out=s)
            m += s
            np.subtract(pixels[a:b], m, out=s)  # from the mean after it
            s *= d
            m2[a:b] += s
    return acc


def _merge(a: np.ndarray, b: np.ndarray, na: int, nb: int) -> np.ndarray:
    delta = b[0] - a[0]
    a[1] += b[1]
    a[1] += delta * delta * (na * nb / (na + nb))
    a[0] += delta * (nb / (na + nb))
    return a


def _finish(acc: np.ndarray, count: int) -> np.ndarray:
    m2 = acc[1]
    np.divide(m2, count, out=m2)
    return np.sqrt(m2, out=m2).astype(np.float32)


def _float32(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float32)


STD = Reduction(
    "std", "the pixel-wise standard deviation, float32",
    accumulator=_mean_and_m2, start=_start, fold=_fold, merge=_merge, finish=_finish,
    result=_float32)

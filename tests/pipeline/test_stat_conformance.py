"""Every built-in statistic against plain numpy, through the shared conformance class."""

from __future__ import annotations

import numpy as np

from pipeline import stats
from tests.pipeline.stat_conformance import StatisticConformance


class TestMax(StatisticConformance):
    name = "max"

    def reference(self, frames, param):
        return frames.max(axis=0)


class TestMin(StatisticConformance):
    name = "min"

    def reference(self, frames, param):
        return frames.min(axis=0)


class TestSum(StatisticConformance):
    name = "sum"
    rtol = 1e-12  # float frames are added in another order than numpy's pairwise sum

    def reference(self, frames, param):
        return frames.sum(axis=0, dtype=np.float64)


class TestAverage(StatisticConformance):
    name = "average"
    rtol = 1e-6

    def reference(self, frames, param):
        return frames.mean(axis=0, dtype=np.float64).astype(np.float32)


class TestMedian(StatisticConformance):
    name = "median"

    def reference(self, frames, param):
        return np.median(frames, axis=0).astype(np.float32)


class TestPercentile(StatisticConformance):
    name = "percentile"
    params = (30.0, 0, 100, [10, 50.0, 99.5])
    cli_param = "99.5"
    bad_params = (-1, 100.5, "x", [[10]], [])

    def reference(self, frames, param):
        return np.percentile(frames, param, axis=0).astype(np.float32)


class TestStd(StatisticConformance):
    name = "std"
    rtol = 1e-6

    def reference(self, frames, param):
        return frames.std(axis=0, dtype=np.float64).astype(np.float32)

    def test_a_small_spread_beside_a_large_mean_keeps_its_precision(self):
        # a sum of squares less the squared sum would lose all of it: 1e12 - 1e12
        frames = 1e6 + np.random.default_rng(0).normal(0, 1e-3, (50, 4, 5))
        self.check(stats.compute("std", frames, memory_limit=2000), self.reference(frames, None))


class TestUserStatistic(StatisticConformance):
    """A statistic of one's own, registered and held to the same laws: the range."""

    name = "spread"
    rtol = 1e-12

    def register(self):
        stats.registry.add(SPREAD)

    def reference(self, frames, param):
        return frames.max(axis=0).astype(np.float64) - frames.min(axis=0)


def _first_two(frame, acc):
    return np.stack([frame, frame]).astype(acc.dtype)


def _fold_two(acc, frames, seen):
    for frame in frames:
        np.maximum(acc[0], frame, out=acc[0])
        np.minimum(acc[1], frame, out=acc[1])
    return acc


def _merge_two(a, b, na, nb):
    np.maximum(a[0], b[0], out=a[0])
    np.minimum(a[1], b[1], out=a[1])
    return a


def _range(acc, count):
    return acc[0] - acc[1]


def _two_float64(dtype, count):
    return stats.Accumulator(np.dtype(np.float64), planes=2)


def _float64(dtype):
    return np.dtype(np.float64)


SPREAD = stats.Reduction(
    "spread", "the pixel-wise range, max - min, float64", aliases=("ptp",),
    accumulator=_two_float64, start=_first_two, fold=_fold_two, merge=_merge_two,
    finish=_range, result=_float64)

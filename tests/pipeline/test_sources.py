"""Conformance of the core sources: numpy, dask, generated frames, Zarr, processed."""

from __future__ import annotations

import dask.array as da
import numpy as np

import pipeline
from pipeline.testing import SeriesConformance

META = {"omega": np.arange(24.0).reshape(12, 2), "name": "scan", "count": 3}


def _frames() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 4000, (12, 20, 30), dtype=np.uint16)


class TestNumpySource(SeriesConformance):
    file_backed = False

    def make(self, tmp_path):
        frames = _frames()
        return pipeline.from_array(frames, metadata=dict(META)), frames, META


class TestDaskSource(SeriesConformance):
    file_backed = False

    def make(self, tmp_path):
        frames = _frames()
        return pipeline.from_array(da.from_array(frames, chunks=(5, 20, 30)), dict(META)), frames, META


class TestFunctionSource(SeriesConformance):
    def make(self, tmp_path):
        frames = _frames()
        return pipeline.from_function(frames.__getitem__, len(frames), metadata=dict(META)), frames, META

    test_pickle_is_a_recipe = None  # its recipe holds the array it reads from


class TestZarrSource(SeriesConformance):
    def make(self, tmp_path):
        frames = _frames()
        pipeline.write(pipeline.from_array(frames, dict(META)), tmp_path / "src.zarr", shards=None,
                       chunks=(3, 20, 30))
        return pipeline.open(tmp_path / "src.zarr"), frames, META


class TestProcessedSource(SeriesConformance):
    """A processed series is a series like any other."""

    def make(self, tmp_path):
        frames = _frames()
        raw = pipeline.from_array(frames[:, ::-1, :].copy(), dict(META))
        return raw.process([("flip", "h")]), frames, META

"""Built-in formats through the format conformance class third-party formats use.

One subclass of :class:`pipeline.testing.FormatConformance` per format of
each kind: a directory store (zarr), files with writers (HDF5, TIFF, frame
caches), a read-only format of raw bytes, and a format without files (array).
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.testing import FormatConformance, frames_of

FRAMES = frames_of(np.uint16, (4, 12, 17), seed=5)


class TestZarrFormat(FormatConformance):
    format = "zarr"
    sample_metadata = {"exposure": 0.5, "omega": np.arange(10.0).reshape(5, 2)}


class TestHDF5Format(FormatConformance):
    format = "hdf5"
    sample_metadata = {"exposure": 0.5, "detector": "GE"}


class TestTiffFormat(FormatConformance):
    format = "tiff"


class TestFrameCacheFormat(FormatConformance):
    format = "frame-cache"
    write_options = {"threshold": 3000}  # sparse: about a quarter of the pixels kept

    def sample_frames(self):
        frames = super().sample_frames()
        return np.where(frames > 3000, frames, 0).astype(frames.dtype)


class TestRawFormat(FormatConformance):
    """Read-only: the test class makes the file; any bytes are raw frames, so none is foreign."""

    format = "raw"
    open_options = {"dtype": "<u2", "shape": (12, 17)}

    def sample(self, tmp_path):
        FRAMES.tofile(tmp_path / "s.raw")
        return tmp_path / "s.raw", FRAMES, {}

    def foreign_files(self, tmp_path):
        return []


class TestArrayFormat(FormatConformance):
    """A format without files: ``open(None, "array", data=...)``."""

    format = "array"
    file_backed = False
    open_options = {"data": FRAMES}

    def sample(self, tmp_path):
        return None, FRAMES, {}

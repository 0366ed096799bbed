"""Headerless binary frames and hexrd's raw-image YAML."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import pipeline
from pipeline.errors import WrongFormatError
from pipeline.formats.raw import RawSeries
from pipeline.testing import SeriesConformance
from tests.pipeline.formats._data import frames


class TestRaw(SeriesConformance):
    def make(self, tmp_path):
        data = frames()
        data.tofile(tmp_path / "s.raw")
        return pipeline.open(tmp_path / "s.raw", dtype="<u2", shape=(20, 30)), data, {}


class TestRawFortranWithOffset(SeriesConformance):
    def make(self, tmp_path):
        data = frames(5, dtype="float32")
        with open(tmp_path / "f.bin", "wb") as fh:
            fh.write(b"\0" * 64)
            fh.writelines(frame.tobytes(order="F") for frame in data)
        s = pipeline.open(tmp_path / "f.bin", "raw", dtype="float32", shape=(20, 30),
                          offset=64, order="F")
        return s, data, {}


class TestHexrdRawYaml(SeriesConformance):
    """hexrd's raw-image YAML: big-endian signed int16 after a 16-byte header."""

    def make(self, tmp_path):
        data = frames().astype(">i2")
        with open(tmp_path / "det.dat", "wb") as fh:
            fh.write(b"H" * 16)
            fh.write(data.tobytes())
        (tmp_path / "det.yml").write_text(
            "filename: det.dat\n"
            "scalar: {type: i, bytes: 2, signed: true, endian: big}\n"
            "shape: 20 30\n"
            "skip: 16\n"
        )
        s = pipeline.open(tmp_path / "det.yml")
        # the file's dtype, byte order included, as hexrd reports it
        assert s.dtype == np.dtype(">i2") and s.description()["dtype"] == ">i2"
        return s, data, {}

    def test_zarr_round_trip(self, case, tmp_path):
        # Zarr stores its own byte order: the values come back, the order is the store's
        s, frames, _ = case
        back = pipeline.write(s, tmp_path / "copy.zarr")
        np.testing.assert_array_equal(np.asarray(back), frames)
        assert back.dtype == frames.dtype.newbyteorder("=")
        assert s[0].dtype == np.dtype(">i2")


def test_size_that_does_not_divide_says_by_how_much(tmp_path):
    (tmp_path / "odd.raw").write_bytes(frames(3).tobytes() + b"xyz")
    with pytest.raises(ValueError, match="3 bytes over after 3 frames"):
        pipeline.open(tmp_path / "odd.raw", dtype="<u2", shape=(20, 30))


def test_missing_dtype_or_shape_is_not_claimed(tmp_path):
    (tmp_path / "x.raw").write_bytes(frames(2).tobytes())
    with pytest.raises(WrongFormatError, match="dtype= and shape=.*format='raw'"):
        pipeline.open(tmp_path / "x.raw", "raw")
    with pytest.raises(pipeline.errors.UnknownFormatError, match="raw"):
        pipeline.open(tmp_path / "x.raw")


@pytest.mark.parametrize("scalar, match", [
    ("{type: i, bytes: 3, signed: false, endian: little}", "bytes 3"),
    ("{type: q, bytes: 2, signed: false, endian: little}", "type 'q'"),
    ("{type: i, bytes: 2, signed: false, endian: middle}", 'endian must be "big" or "little", got .middle.'),
])
def test_bad_raw_yaml_scalar(tmp_path, scalar, match):
    (tmp_path / "d.dat").write_bytes(b"\0" * 24)
    (tmp_path / "d.yml").write_text(f"filename: d.dat\nscalar: {scalar}\nshape: 2 3\nskip: 0\n")
    with pytest.raises(ValueError, match=match):
        pipeline.open(tmp_path / "d.yml")


def test_memmap_is_dropped_on_pickle(tmp_path):
    data = frames()
    data.tofile(tmp_path / "m.raw")
    s = RawSeries(tmp_path / "m.raw", "<u2", (20, 30))
    s[0]
    assert s._map is not None
    again = pickle.loads(pickle.dumps(s))
    assert again._map is None
    np.testing.assert_array_equal(again[3], data[3])


def test_detection_says_what_a_headerless_raw_file_needs(tmp_path):
    path = tmp_path / "frames.raw"
    np.arange(64, dtype="<u2").tofile(path)
    with pytest.raises(pipeline.errors.UnknownFormatError, match=r"raw said: .*needs dtype= and shape="):
        pipeline.open(path)

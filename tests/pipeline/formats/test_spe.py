"""Princeton Instruments SPE files, 2.x and 3.0, written here by the specification's layout."""

from __future__ import annotations

import pickle
import warnings

import imageio.v3 as iio
import numpy as np
import pytest

import pipeline
from pipeline.errors import NotASeriesError, UnknownFormatError
from pipeline.formats.spe import DATA_START, SpeSeries
from pipeline.testing import SeriesConformance
from tests.pipeline.formats._data import frames

TYPE_CODES = {np.dtype("<f4"): 0, np.dtype("<i4"): 1, np.dtype("<i2"): 2, np.dtype("<u2"): 3,
              np.dtype("<u4"): 8}
PIXEL_FORMATS = {np.dtype("<u2"): "MonochromeUnsigned16", np.dtype("<u4"): "MonochromeUnsigned32",
                 np.dtype("<f4"): "MonochromeFloating32"}


def write_spe(path, data, version=3.0, stamp_bytes=0, nframes=None, exposure=0.25):
    """An SPE file: the 4100-byte header, the frames, and for 3.0 the XML footer.

    ``stamp_bytes`` of per-frame metadata (time stamps) follow each frame, as
    LightField writes them; the footer's frame stride says so.
    """
    data = np.ascontiguousarray(data, data.dtype.newbyteorder("<"))
    n, rows, cols = data.shape
    head = bytearray(DATA_START)

    def put(offset, dtype, value):
        head[offset:offset + np.dtype(dtype).itemsize] = np.array(value, dtype).tobytes()

    put(108, "<i2", TYPE_CODES[data.dtype])
    put(42, "<u2", cols)
    put(656, "<u2", rows)
    put(1446, "<i4", n if nframes is None else nframes)
    put(1992, "<f4", version)
    put(10, "<f4", exposure)
    stamp = np.arange(stamp_bytes, dtype=np.uint8).tobytes()
    body = b"".join(frame.tobytes() + stamp for frame in data)
    footer = b""
    if version >= 3:
        size = rows * cols * data.dtype.itemsize
        put(678, "<u8", DATA_START + len(body))
        footer = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<SpeFormat version="3.0" xmlns="http://www.princetoninstruments.com/spe/2009">'
            f'<DataFormat><DataBlock type="Frame" count="{n}" '
            f'pixelFormat="{PIXEL_FORMATS[data.dtype]}" size="{size}" '
            f'stride="{size + stamp_bytes}"><DataBlock type="Region" count="1" width="{cols}" '
            f'height="{rows}" size="{size}" stride="{size}"/></DataBlock></DataFormat>'
            '</SpeFormat>'
        ).encode()
    with open(path, "wb") as fh:
        fh.write(bytes(head) + body + footer)
    return path


class TestSpe3(SeriesConformance):
    def make(self, tmp_path):
        data = frames(6, (20, 30))
        path = write_spe(tmp_path / "s.spe", data)
        np.testing.assert_array_equal(iio.imread(path, plugin="SPE"), data)  # imageio agrees
        return pipeline.open(path), data, {"spe_version": 3.0}


class TestSpe2Float(SeriesConformance):
    def make(self, tmp_path):
        data = frames(5, (20, 30)).astype("<f4") / 7
        path = write_spe(tmp_path / "s.spe", data, version=2.5)
        np.testing.assert_array_equal(iio.imread(path, plugin="SPE"), data)
        return pipeline.open(path), data, {"spe_version": 2.5, "exposure_sec": 0.25}


class TestSpe3WithTimeStamps(SeriesConformance):
    """Frames 16 bytes apart beyond their pixels: the footer's stride is followed."""

    def make(self, tmp_path):
        data = frames(6, (20, 30), "uint32")
        path = write_spe(tmp_path / "t.spe", data, stamp_bytes=16)
        return pipeline.open(path), data, {}


@pytest.mark.parametrize("dtype", ["<u2", "<i2", "<i4", "<u4", "<f4"])
def test_pixel_types_as_imageio_reads_them(tmp_path, dtype):
    data = frames(3, (8, 11)).astype(dtype)
    path = write_spe(tmp_path / "p.spe", data, version=2.5)
    s = pipeline.open(path)
    assert s.dtype == np.dtype(dtype) and len(s) == 3
    for j in range(3):
        np.testing.assert_array_equal(s[j], iio.imread(path, plugin="SPE", index=j))


def test_region_reads_only_its_rows(tmp_path):
    data = frames(4, (40, 30))
    path = write_spe(tmp_path / "r.spe", data)
    s = pipeline.open(path)
    np.testing.assert_array_equal(s.get_region(3, ((31, 35), (4, 9))), data[3, 31:35, 4:9])
    assert isinstance(pickle.loads(pickle.dumps(s)), SpeSeries)
    assert "spe_xml" in s.metadata and "DataBlock" in s.metadata["spe_xml"]


def test_a_header_claiming_more_frames_than_the_file_holds(tmp_path):
    data = frames(3, (8, 11))
    path = write_spe(tmp_path / "short.spe", data, version=2.5, nframes=10)
    with pytest.warns(UserWarning, match="says 10 frames but the file holds 3"):
        s = pipeline.open(path)
    assert len(s) == 3
    np.testing.assert_array_equal(s[2], data[2])


def test_two_regions_per_frame_are_refused(tmp_path):
    path = write_spe(tmp_path / "two.spe", frames(2, (8, 11)))
    raw = path.read_bytes().replace(b'<DataBlock type="Region"',
                                    b'<DataBlock type="Region"/><DataBlock type="Region"', 1)
    path.write_bytes(raw)
    with pytest.raises(NotASeriesError, match="2 regions per frame"):
        pipeline.open(path)


def test_not_an_spe_file(tmp_path):
    (tmp_path / "junk.spe").write_bytes(b"\xff" * 5000)
    with pytest.raises(UnknownFormatError, match=r"spe said: is not an SPE file: pixel type -1"):
        pipeline.open(tmp_path / "junk.spe")
    (tmp_path / "tiny.spe").write_bytes(b"SPE")
    with pytest.raises(UnknownFormatError, match="spe said: is too short"):
        pipeline.open(tmp_path / "tiny.spe")


def test_only_spe_files_are_taken_for_spe_by_detection(tmp_path):
    """SPE has no signature: a file without the extension is opened only with format='spe'."""
    path = write_spe(tmp_path / "scan.bin", frames(2, (8, 11)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(pipeline.open(path, format="spe")) == 2
    with pytest.raises(UnknownFormatError, match=r"spe \(not recognised"):
        pipeline.open(path)

"""Detector image files through fabio: GE written in its own layout, EDF and CBF by fabio's writers."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest

import pipeline
from pipeline.errors import NotASeriesError, UnknownFormatError
from pipeline.formats import _fabio
from pipeline.formats.detector import DetectorImageSeries
from pipeline.testing import SeriesConformance
from tests.pipeline.formats._data import frames

fabio = pytest.importorskip("fabio")
from fabio.cbfimage import CbfImage
from fabio.edfimage import EdfImage
from fabio.tifimage import TifImage

GE_HEADER = 8192


def write_ge(path, data: np.ndarray, blank: bool = False):
    """A GE a-Si file: the 8192-byte header (ADEPT's, or zeros as APS blanked it), LE frames."""
    n, rows, cols = data.shape
    header = b"" if blank else (b"ADEPT".ljust(10, b"\0")
                                + struct.pack("<HLHLHHHH", 1, GE_HEADER, 0, 0, n, rows, cols, 16))
    with open(path, "wb") as fh:
        fh.write(header.ljust(GE_HEADER, b"\0"))
        fh.write(data.astype("<u2").tobytes())
    return path


def write_edf(path, data: np.ndarray):
    img = EdfImage(data=data[0], header={"Title": "scan 12", "ExposureTime": "0.5"})
    for frame in data[1:]:
        img.append_frame(data=frame)
    img.write(str(path))
    return path


def fabio_frames(path) -> np.ndarray:
    with fabio.open(str(path)) as img:
        return np.stack([img.getframe(j).data for j in range(img.nframes)])


class TestGE(SeriesConformance):
    def make(self, tmp_path):
        data = frames(6, (20, 30), "uint16")
        return pipeline.open(write_ge(tmp_path / "scan.ge2", data)), data, {}


class TestMultiFrameEDF(SeriesConformance):
    def make(self, tmp_path):
        data = frames(4, (18, 22), "float32")
        s = pipeline.open(write_edf(tmp_path / "scan.edf", data))
        return s, data, {"fabio_class": "EdfImage"}


@pytest.mark.parametrize("ext", [".ge", ".ge2", ".ge3", ".ge5"])
def test_ge_frames_equal_fabios_and_the_raw_frames(tmp_path, ext):
    data = frames(5, (16, 12), "uint16")
    path = write_ge(tmp_path / f"a{ext}", data)
    s = pipeline.open(path)
    assert isinstance(s, DetectorImageSeries) and s.metadata["fabio_class"] == "GeImage"
    np.testing.assert_array_equal(np.asarray(s), fabio_frames(path))
    np.testing.assert_array_equal(np.asarray(s), data)
    np.testing.assert_array_equal(s.get_region(3, ((4, 9), (2, 11))), data[3, 4:9, 2:11])


def test_ge_with_the_blanked_aps_header(tmp_path):
    data = frames(1, (2048, 2048), "uint16")  # a blanked header means 2048 x 2048 frames
    path = write_ge(tmp_path / "blank.ge3", data, blank=True)
    s = pipeline.open(path)
    assert (len(s), s.shape) == (1, (2048, 2048))
    np.testing.assert_array_equal(s[0], fabio_frames(path)[0])


def test_truncated_ge_file_fails_at_the_missing_frame(tmp_path):
    data = frames(3, (8, 8), "uint16")
    path = write_ge(tmp_path / "cut.ge2", data)
    with open(path, "r+b") as fh:
        fh.truncate(GE_HEADER + 2 * 8 * 8 * 2 + 10)
    s = pipeline.open(path)
    np.testing.assert_array_equal(s[1], data[1])
    with pytest.raises(NotASeriesError, match="truncated"):
        s[2]


def test_cbf_and_edf_open_directly_and_match_fabio(tmp_path):
    frame = frames(1, (21, 17), "int32")[0] - 100
    CbfImage(data=frame).write(str(tmp_path / "one.cbf"))
    s = pipeline.open(tmp_path / "one.cbf")
    assert (len(s), s.dtype) == (1, np.dtype("int32"))
    np.testing.assert_array_equal(s[0], fabio.open(str(tmp_path / "one.cbf")).data)
    np.testing.assert_array_equal(s[0], frame)
    edf = pipeline.open(write_edf(tmp_path / "m.edf", frames(3, (5, 7), "uint16")))
    assert edf.metadata["header"]["Title"] == "scan 12"
    np.testing.assert_array_equal(np.asarray(edf), fabio_frames(tmp_path / "m.edf"))


def test_gel_frames_are_transformed_as_hexrd_does(tmp_path):
    raw = frames(1, (9, 11), "uint16")[0]
    TifImage(data=raw).write(str(tmp_path / "plate.gel"))
    s = pipeline.open(tmp_path / "plate.gel")
    want = (65535 - raw.astype(np.float64)) ** 2 * 2.9452155399372724e-07
    assert s.dtype == np.float64
    np.testing.assert_allclose(s[0], want, rtol=1e-15)


def yaml_list(tmp_path, files, options="{}"):
    path = tmp_path / "list.yml"
    path.write_text(f"image-files:\n  directory: {tmp_path}\n  files: \"{files}\"\n"
                    f"options: {options}\nmeta: {{}}\n")
    return path


def test_image_files_over_multiframe_ge_files(tmp_path):
    a, b = frames(4, (10, 12), "uint16"), frames(4, (10, 12), "uint16")[::-1] + 1
    write_ge(tmp_path / "scan_1.ge2", a)
    write_ge(tmp_path / "scan_2.ge2", b)
    s = pipeline.open(yaml_list(tmp_path, "scan_*.ge2", "{empty-frames: 1, max-file-frames: 2}"))
    want = np.concatenate([fabio_frames(tmp_path / "scan_1.ge2")[1:3],
                           fabio_frames(tmp_path / "scan_2.ge2")[1:3]])
    assert len(s) == 4
    np.testing.assert_array_equal(np.asarray(s), want)
    np.testing.assert_array_equal(s[3, 2:5, ::2], b[2, 2:5, ::2])


def test_image_files_over_cbf_and_numbered_files(tmp_path):
    data = frames(3, (6, 8), "int32")
    for k, frame in enumerate(data):  # detectors often number the extension itself
        CbfImage(data=frame).write(str(tmp_path / f"img.{k + 1:04d}"))
    s = pipeline.open(yaml_list(tmp_path, "img.*"))
    np.testing.assert_array_equal(np.asarray(s), data)


WRITERS = [  # fabio's own writers, each a format fabio reads back
    ("edfimage", "EdfImage", "a.edf", "float32"),
    ("cbfimage", "CbfImage", "a.cbf", "int32"),
    ("bruker100image", "Bruker100Image", "a.sfrm", "int32"),
    ("adscimage", "AdscImage", "a.img", "uint16"),
    ("OXDimage", "OXDimage", "a.rodhypix", "uint16"),
    ("esperantoimage", "EsperantoImage", "a.esperanto", "int32"),
    ("pnmimage", "PnmImage", "a.pgm", "uint16"),
]


@pytest.mark.parametrize("module, cls, name, dtype", WRITERS)
def test_every_fabio_writer_reads_back_as_fabio_reads_it(tmp_path, module, cls, name, dtype):
    import importlib

    writer = getattr(importlib.import_module(f"fabio.{module}"), cls)
    for k, frame in enumerate(frames(3, (24, 32), dtype)):
        writer(data=frame).write(str(tmp_path / f"{k}_{name}"))
    want = np.stack([fabio.open(str(tmp_path / f"{k}_{name}")).data for k in range(3)])
    listed = pipeline.open(yaml_list(tmp_path, f"*_{name}"))
    assert listed.dtype == want.dtype
    np.testing.assert_array_equal(np.asarray(listed), want)
    direct = pipeline.open(tmp_path / f"1_{name}")  # by extension or, failing that, by content
    assert isinstance(direct, DetectorImageSeries)
    np.testing.assert_array_equal(direct[0], want[1])


def test_a_file_fabio_cannot_read_is_named(tmp_path):
    (tmp_path / "junk.edf").write_bytes(b"\x01\x02 not an image")
    with pytest.raises(UnknownFormatError, match="detector"):
        pipeline.open(tmp_path / "junk.edf")
    with pytest.raises(NotASeriesError, match="junk.edf"):
        pipeline.open(yaml_list(tmp_path, "junk.edf"))


def test_missing_fabio_names_the_extra(tmp_path, monkeypatch):
    write_ge(tmp_path / "x.ge2", frames(1, (4, 4), "uint16"))
    monkeypatch.setitem(sys.modules, "fabio", None)
    _fabio._cached_info.cache_clear()
    with pytest.raises(ImportError, match=r"lazyseries\[detector\]"):
        pipeline.open(yaml_list(tmp_path, "x.ge2"))
    with pytest.raises(ImportError, match=r"lazyseries\[detector\]"):
        pipeline.open(tmp_path / "x.ge2", "detector")

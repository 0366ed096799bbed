"""Multi-page and OME-TIFF stacks: axes, page-per-frame reads, the writer, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import pipeline
from pipeline.errors import StoreExistsError
from pipeline.testing import SeriesConformance
from tests.pipeline.formats._data import META, Exploding, frames, siblings


class TestMultiPage(SeriesConformance):
    def make(self, tmp_path):
        data = frames()
        tifffile.imwrite(tmp_path / "s.tif", data, photometric="minisblack")
        return pipeline.open(tmp_path / "s.tif"), data, {}


class TestOmeChannels(SeriesConformance):
    """OME-TIFF ZCYX: frames along Z, each frame (C, Y, X)."""

    def make(self, tmp_path):
        data = frames(5 * 2, (16, 24)).reshape(5, 2, 16, 24)
        tifffile.imwrite(tmp_path / "s.ome.tif", data, metadata={"axes": "ZCYX"})
        return pipeline.open(tmp_path / "s.ome.tif"), data, {}

    def test_fancy_index_within_frame(self, case):
        s, frames, _ = case
        idx = (np.array([1, 0, 1]), np.array([0, 3, 1]), np.array([2, 2, 0]))
        np.testing.assert_array_equal(s[(4, *idx)], frames[4][idx])
        np.testing.assert_array_equal(s[4, 1, 2:5, 1:4], frames[4, 1, 2:5, 1:4])


class TestWrittenTiff(SeriesConformance):
    def make(self, tmp_path):
        data = frames()
        out = pipeline.write(pipeline.from_array(data, dict(META)), tmp_path / "w.tiff")
        return out, data, META


class TestFramesLast(SeriesConformance):
    """A stack stored (Y, X, T): axes= says which axis is frames."""

    def make(self, tmp_path):
        data = frames()
        tifffile.imwrite(tmp_path / "yxt.tif", np.moveaxis(data, 0, -1),
                         photometric="minisblack", planarconfig="contig")
        return pipeline.open(tmp_path / "yxt.tif", axes="YXT"), data, {}


def test_frames_read_only_their_pages(tmp_path, monkeypatch):
    data = frames()
    tifffile.imwrite(tmp_path / "t.tif", data, metadata={"axes": "TYX"})
    s = pipeline.open(tmp_path / "t.tif")
    assert s.stored_axes == "TYX"
    monkeypatch.setattr(s, "_all_frames", lambda: pytest.fail("read the whole stack"))
    pages = []
    real = s._frame_pages
    monkeypatch.setattr(s, "_frame_pages", lambda j: pages.append(j) or real(j))
    np.testing.assert_array_equal(s[4], data[4])
    np.testing.assert_array_equal(s.get_region(2, ((1, 5), (2, 7))), data[2, 1:5, 2:7])
    assert pages == [4, 2]


def test_z_stays_in_the_frame_when_frames_are_time(tmp_path):
    data = frames(6).reshape(3, 2, 20, 30)
    tifffile.imwrite(tmp_path / "tz.ome.tif", data, metadata={"axes": "TZYX"})
    s = pipeline.open(tmp_path / "tz.ome.tif")
    assert len(s) == 3 and s.shape == (2, 20, 30) and s.axes == "TZYX"
    np.testing.assert_array_equal(np.asarray(s), data)


def test_frame_axes_without_time_flatten_into_frames(tmp_path):
    data = frames(6).reshape(3, 2, 20, 30)
    tifffile.imwrite(tmp_path / "qz.ome.tif", data, metadata={"axes": "QZYX"})
    s = pipeline.open(tmp_path / "qz.ome.tif")
    assert len(s) == 6 and s.shape == (20, 30)
    np.testing.assert_array_equal(np.asarray(s), data.reshape(6, 20, 30))


def test_axes_override_names_frames(tmp_path):
    data = frames()
    tifffile.imwrite(tmp_path / "q.tif", data, photometric="minisblack")
    s = pipeline.open(tmp_path / "q.tif", "tiff", axes="ZYX")
    np.testing.assert_array_equal(s[5], data[5])
    assert s.description()["axes"] == "ZYX"


@pytest.mark.parametrize("axes", ["TY", "TYY", "TXZ", "TYXC"])
def test_bad_axes_name_the_file_and_shape(tmp_path, axes):
    tifffile.imwrite(tmp_path / "b.tif", frames(), photometric="minisblack")
    with pytest.raises(ValueError, match=rf"axes '{axes}'.*\(6, 20, 30\)") as info:
        pipeline.open(tmp_path / "b.tif", axes=axes)
    assert "b.tif" in str(info.value)


def test_channel_frames_write_and_read_back(tmp_path):
    data = frames(8, (10, 12)).reshape(4, 2, 10, 12)
    out = pipeline.write(pipeline.from_array(data), tmp_path / "c.tif")
    assert out.stored_axes == "TCYX" and out.shape == (2, 10, 12)
    np.testing.assert_array_equal(np.asarray(out), data)


def test_writer_refuses_existing_and_failed_write_leaves_nothing(tmp_path):
    data = frames()
    tifffile.imwrite(tmp_path / "keep.tif", data, photometric="minisblack")
    before = (tmp_path / "keep.tif").read_bytes()
    with pytest.raises(StoreExistsError):
        pipeline.write(pipeline.from_array(data), tmp_path / "keep.tif")
    assert (tmp_path / "keep.tif").read_bytes() == before
    bad = pipeline.from_function(Exploding(data, 5), len(data), data.shape[1:], data.dtype)
    with pytest.raises(RuntimeError, match="frame 5"):
        pipeline.write(bad, tmp_path / "dead.tif")
    assert siblings(tmp_path / "keep.tif") == ["keep.tif"]


def test_not_a_tiff(tmp_path):
    (tmp_path / "fake.tif").write_bytes(b"definitely not a tiff")
    with pytest.raises(pipeline.errors.UnknownFormatError, match="tried: tiff"):
        pipeline.open(tmp_path / "fake.tif")

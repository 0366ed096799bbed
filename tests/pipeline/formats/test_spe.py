"""Princeton Instruments SPE files, 2.x and 3.0, written here by the specification's layout."""

from __future__ import annotations

import pathlib
import pickle
import time
import warnings

import imageio.v3 as iio
import numpy as np
import pytest

import pipeline
from pipeline.errors import ClosedSeriesError, NotASeriesError, UnknownFormatError
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


# -- the full 2.x header, as pims and imageio give it -------------------------------------------

PIMS_SPE = pathlib.Path(__file__).parents[2] / "data" / "pims" / "spestack_test.spe"


class TestPimsSpeFile(SeriesConformance):
    """The SPE file of pims' own reader tests (SDT-control, 2.x), frames as imageio reads them."""

    def make(self, tmp_path):
        data = iio.imread(PIMS_SPE, plugin="SPE")
        return pipeline.open(PIMS_SPE), data, {"date": "22Jul2015",
                                               "datetime": "2015-07-22T09:40:18"}

    test_close_and_with = None  # the file is not under tmp_path: checked below


def test_every_header_field_imageio_gives_of_pims_file():
    s = pipeline.open(PIMS_SPE)
    ours = s.metadata
    theirs = iio.immeta(PIMS_SPE, plugin="SPE", sdt_control=False)
    assert len(theirs) >= 40 and set(theirs) <= set(ours)
    for key, value in theirs.items():
        assert ours[key] == value, key
    # what pims' test_metadata expects of the same file, under pims' names
    assert ours["ROIs"] == [{"top_left": [185, 234], "bottom_right": [312, 361], "bin": [1, 1]}]
    assert ours["sw_version"] == "9.1.51 Aug2010 " and ours["time_local"] == "094018 "
    assert ours["comments"][4].startswith("ACCI2xSEQU") and len(ours["comments"]) == 5
    assert ours["spare_4"].startswith(b"CHANNEL 1\n")
    s.close()
    with pytest.raises(ClosedSeriesError):
        s[0]


def _header_fields(path, fields):
    raw = bytearray(path.read_bytes())
    for offset, dtype, value in fields:
        value = np.array(value, dtype)
        raw[offset:offset + value.nbytes] = value.tobytes()
    path.write_bytes(bytes(raw))


def test_header_fields_written_by_the_specification_and_kept_by_a_copy(tmp_path):
    path = write_spe(tmp_path / "h.spe", frames(2, (8, 11)), version=2.5)
    rois = np.array([(1, 10, 1, 2, 7, 2), (0, 4, 1, 0, 4, 1)], "<u2")
    _header_fields(path, [(20, "S10", b"03Feb2024"), (172, "S7", b"134501"),
                          (200, "S80", b"first comment"), (1510, "<i2", 2),
                          (1512, "<u2", rois.ravel()), (36, "<f4", -70.5), (704, "<i2", 7),
                          (600, "<u2", 5), (1480, "<u2", 2), (6, "<u2", 1024)])
    meta = pipeline.open(path).metadata
    theirs = iio.immeta(path, plugin="SPE", sdt_control=False)
    assert {k: meta[k] for k in theirs} == theirs
    assert meta["datetime"] == "2024-02-03T13:45:01" and meta["detector_temp"] == -70.5
    assert meta["ROIs"][1] == {"top_left": [0, 0], "bottom_right": [4, 4], "bin": [1, 1]}
    assert meta["type"] == "ST133 (MicroMax/Roper)" and meta["geometric"] == ["rotate", "flip"]
    assert meta["readout_mode"] == "frame transfer" and meta["chip_size"] == [1024, 0]
    back = pipeline.open(pipeline.write(pipeline.open(path), tmp_path / "c.zarr").path)
    assert back.metadata["ROIs"] == meta["ROIs"] and back.metadata["comments"] == meta["comments"]


# -- hostile headers: a project error naming the file, never a hang or a bare exception --------

HOSTILE = {
    "negative frame count": (lambda p: _header_fields(p, [(1446, "<i4", -5)]), "-5 frames"),
    "footer stride shorter than a frame": (
        lambda p: p.write_bytes(p.read_bytes().replace(b'stride="88"', b'stride="3"', 1)),
        "3 bytes apart"),
    "footer stride that is no number": (
        lambda p: p.write_bytes(p.read_bytes().replace(b'stride="88"', b'stride="x"', 1)),
        "'x'"),
    "footer that is no XML": (
        lambda p: p.write_bytes(p.read_bytes().replace(b"<SpeFormat", b"<<SpeFormat", 1)),
        "does not parse"),
    "footer of nested entities": (lambda p: p.write_bytes(
        p.read_bytes().split(b"<?xml")[0] + b'<?xml version="1.0"?><!DOCTYPE l ['
        + b'<!ENTITY a "aaaaaaaaaa">'
        + b"".join(f'<!ENTITY {chr(98 + k)} "{("&" + chr(97 + k) + ";") * 10}">'.encode()
                   for k in range(8))
        + b"]><SpeFormat>&i;</SpeFormat>"), "footer"),
    "footer beyond the file": (lambda p: _header_fields(p, [(678, "<u8", 2**40)]), "outside"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_spe_header_is_a_project_error_naming_the_file(tmp_path, name):
    damage, named = HOSTILE[name]
    path = write_spe(tmp_path / "bad.spe", frames(2, (4, 11)))  # frames of 88 bytes
    damage(path)
    start = time.perf_counter()
    with pytest.raises(NotASeriesError, match=named) as info:
        pipeline.open(path)
    assert "bad.spe" in str(info.value) and time.perf_counter() - start < 5


@pytest.mark.parametrize(("count", "want"), [(0, 1), (-3, 1), (11, 10), (32767, 10)])
def test_a_damaged_region_count_gives_the_header_s_slots(tmp_path, count, want):
    path = write_spe(tmp_path / "r.spe", frames(2, (8, 11)), version=2.5)
    _header_fields(path, [(1510, "<i2", count), (20, "S10", b"99Xyz9999")])
    meta = pipeline.open(path).metadata
    assert len(meta["ROIs"]) == want and "datetime" not in meta  # no date: none made up

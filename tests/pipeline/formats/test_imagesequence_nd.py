"""Axes from file names and images inside a zip archive, as pims' own tests expect them.

pims' ``test_imseq.py``: ``ImageSequenceND`` with ``axes_identifiers='tzc'``
over ``file_t001_z001_c1.png``... (3 time points of 2 planes of 2 channels),
``ImageSequenceND_RGB`` (colour images, ``'tz'`` from the names),
``filename_to_indices`` on odd names, and ``ImageSequence`` of a zip file.
Then the files a user may get wrong or an attacker may craft.
"""

from __future__ import annotations

import pickle
import time
import zipfile

import numpy as np
import pytest

import pipeline
from pipeline import errors
from pipeline.formats import _nameaxes
from pipeline.testing import SeriesConformance

iio = pytest.importorskip("imageio.v3")

rng = np.random.default_rng(7)
ND_NAMES = [f"file_t{t:03d}_z{z:03d}_c{c}.png" for t in (1, 2, 3) for z in (1, 2) for c in (1, 2)]


def _pngs(where, names, shape=(10, 11)):
    """One random image per name; the images by name."""
    where.mkdir(exist_ok=True)
    images = {}
    for name in names:
        images[name] = rng.integers(0, 255, shape).astype(np.uint8)
        iio.imwrite(where / name, images[name])
    return images


def _nd_truth(images):
    """Frames (T, C, Z, Y, X) of the ND_NAMES images: channels before planes, as OME orders."""
    return np.array([[[images[f"file_t{t:03d}_z{z:03d}_c{c}.png"] for z in (1, 2)]
                      for c in (1, 2)] for t in (1, 2, 3)])


def fancy_index_4d(case):
    """hexrd's fancy indexing within a frame of (C or Z, Z, Y, X)."""
    s, frames, _ = case
    idx = (np.array([1, 0, 1]), np.array([0, 1, 1]), np.array([0, 3, 1]), np.array([2, 2, 0]))
    np.testing.assert_array_equal(s[(1, *idx)], frames[1][idx])
    np.testing.assert_array_equal(s[1, 1, :, 2:5, 1:4], frames[1, 1, :, 2:5, 1:4])


class TestNameAxes(SeriesConformance):
    def make(self, tmp_path):
        images = _pngs(tmp_path / "nd", ND_NAMES)
        return pipeline.open(tmp_path / "nd" / "*.png", name_axes="tzc"), _nd_truth(images), {}

    def test_fancy_index_within_frame(self, case):
        fancy_index_4d(case)


class TestZipOfPngs(SeriesConformance):
    def make(self, tmp_path):
        names = [f"img{k}.png" for k in (1, 2, 10, 3)]
        images = _pngs(tmp_path / "in", names)
        with zipfile.ZipFile(tmp_path / "frames.zip", "w") as archive:
            for name in names:  # stored out of order: frames come in natural order
                archive.write(tmp_path / "in" / name, f"run/{name}")
        truth = np.array([images[f"img{k}.png"] for k in (1, 2, 3, 10)])
        return pipeline.open(tmp_path / "frames.zip"), truth, {}


class TestZipOfTiffsWithNameAxes(SeriesConformance):
    def make(self, tmp_path):
        tifffile = pytest.importorskip("tifffile")
        truth = rng.integers(0, 60000, (2, 3, 9, 8)).astype(np.uint16)  # T, Z, Y, X
        with zipfile.ZipFile(tmp_path / "stack.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for t in range(2):
                for z in range(3):
                    path = tmp_path / f"cell_t{t}_z{z}.tif"
                    tifffile.imwrite(path, truth[t, z])
                    archive.write(path, path.name)
        s = pipeline.open(tmp_path / "stack.zip", name_axes="tz")
        assert s.axes == "TZYX"
        return s, truth, {}

    def test_fancy_index_within_frame(self, case):
        s, frames, _ = case
        idx = (np.array([2, 0, 1]), np.array([0, 3, 1]), np.array([2, 2, 0]))
        np.testing.assert_array_equal(s[(1, *idx)], frames[1][idx])


def test_pims_image_sequence_nd(tmp_path):
    images = _pngs(tmp_path, ND_NAMES)
    s = pipeline.open(tmp_path / "*.png", name_axes="tzc")
    assert len(s) == 3 and s.shape == (2, 2, 10, 11) and s.axes == "TCZYX"
    truth = _nd_truth(images)
    np.testing.assert_array_equal(s[0][0], [images[ND_NAMES[0]], images[ND_NAMES[2]]])  # pims' frame0
    np.testing.assert_array_equal(np.asarray(s), truth)
    assert s.description()["name_axes"] == "tzc"
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(s))[2], truth[2])


def test_pims_image_sequence_nd_rgb(tmp_path):
    names = [f"file_t{t:03d}_z{z:03d}_c1.png" for t in (1, 2, 3) for z in (1, 2)]
    images = _pngs(tmp_path, names, shape=(10, 11, 3))
    s = pipeline.open(tmp_path / "*.png", name_axes="tz")
    assert len(s) == 3 and s.shape == (3, 2, 10, 11) and s.axes == "TCZYX"
    want = np.moveaxis(np.array([images[n] for n in names]).reshape(3, 2, 10, 11, 3), -1, 1)
    np.testing.assert_array_equal(np.asarray(s), want)
    with pytest.raises(errors.AxesError, match="colour"):
        pipeline.open(tmp_path / "*.png", name_axes="tzc")


def test_a_region_reads_only_the_files_it_needs(tmp_path):
    images = _pngs(tmp_path, ND_NAMES)
    s = pipeline.open(tmp_path / "*.png", name_axes="tzc")
    (tmp_path / "file_t002_z002_c1.png").write_bytes(b"gone")  # a file the region does not need
    got = s.get_region(1, ((1, 2), (0, 1), (2, 5), (3, 9)))  # channel 2, plane 1 of t 2
    np.testing.assert_array_equal(got[0, 0], images["file_t002_z001_c2.png"][2:5, 3:9])
    with pytest.raises(errors.UnreadableFrameError, match="file_t002_z002_c1.png"):
        s[1]


@pytest.mark.parametrize(("name", "letters", "want"), [
    ("file_t01_z005_c4.png", "TZC", (1, 5, 4)),      # pims' filename_to_indices cases
    ("t01file_t01_z005_c4.png", "TZC", (1, 5, 4)),
    ("file_z005_c4_t01.png", "TZC", (1, 5, 4)),
    ("file\u03bc_z05_c4_t01.png", "TZC", (1, 5, 4)),
    ("file_t9415_z005.png", "TZC", (9415, 5, 0)),
    ("file_t47_c34.png", "TZC", (47, 0, 34)),
    ("file_z4_c2.png", "TZC", (0, 4, 2)),
    ("test_t7.tif", "T", (7,)),                        # the t of "test" is part of a word
    ("dir_t9/cell_T3_Z2.tif", "TZ", (3, 2)),           # the file's name, any case
])
def test_indices_from_a_file_name(name, letters, want):
    assert _nameaxes.indices(name, letters) == want


def test_name_axes_without_t_is_one_frame(tmp_path):
    names = [f"p_z{z}_c{c}.png" for z in (5, 9) for c in (0, 1, 2)]
    images = _pngs(tmp_path, names)
    s = pipeline.open(tmp_path, name_axes="zc")
    assert len(s) == 1 and s.shape == (3, 2, 10, 11) and s.axes == "TCZYX"
    np.testing.assert_array_equal(s[0][2, 1], images["p_z9_c2.png"])


# -- what a user gets wrong -------------------------------------------------------------------

@pytest.mark.parametrize(("name_axes", "kind", "named"), [
    ("tx", errors.AxesError, "'x'"), ("tt", errors.AxesError, "'tt'"),
    ("", errors.OptionValueError, "''"), (3, errors.OptionValueError, "3"),
])
def test_bad_name_axes(tmp_path, name_axes, kind, named):
    _pngs(tmp_path, ND_NAMES[:2])
    with pytest.raises(kind, match=named):
        pipeline.open(tmp_path / "*.png", name_axes=name_axes)


def test_a_missing_combination_is_named(tmp_path):
    _pngs(tmp_path, [n for n in ND_NAMES if n != "file_t002_z001_c2.png"])
    with pytest.raises(errors.NotASeriesError, match="t=2 c=2 z=1"):
        pipeline.open(tmp_path / "*.png", name_axes="tzc")


def test_two_files_of_one_combination_are_named(tmp_path):
    _pngs(tmp_path, ["a_t1_c1.png", "a_t1_c2.png", "b_t1_c2.png"])
    with pytest.raises(errors.NotASeriesError, match=r"'.*a_t1_c2.png' and '.*b_t1_c2.png'"):
        pipeline.open(tmp_path / "*.png", name_axes="tc")


# -- hostile lists and archives: a project error naming the file, quickly ----------------------

def _zip(tmp_path, members):
    path = tmp_path / "h.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _png_bytes(shape=(6, 7)):
    import io

    buf = io.BytesIO()
    iio.imwrite(buf, rng.integers(0, 255, shape).astype(np.uint8), extension=".png")
    return buf.getvalue()


def _cut_member(tmp_path):
    good = _png_bytes()
    path = _zip(tmp_path, {"a1.png": good, "a2.png": good[: len(good) // 2]})
    return path, "a2.png"


def _corrupt_member(tmp_path):
    path = _zip(tmp_path, {"a1.png": _png_bytes(), "a2.png": _png_bytes()})
    raw = bytearray(path.read_bytes())
    at = raw.rindex(b"IDAT") + 8
    raw[at:at + 8] = b"\xff" * 8
    path.write_bytes(bytes(raw))
    return path, "a2.png"


def _huge_member(tmp_path):
    # a PNG header declaring 60000 x 60000 pixels: refused before a pixel is read
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 16, 0, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
           + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))
    return _zip(tmp_path, {"big.png": png}), "big.png"


def _odd_member(tmp_path):
    return _zip(tmp_path, {"a1.png": _png_bytes(), "a2.png": _png_bytes((5, 7))}), "a2.png"


def _not_a_zip(tmp_path):
    path = tmp_path / "h.zip"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    return path, "h.zip"


def _no_images(tmp_path):
    return _zip(tmp_path, {"notes.txt": b"x", "__MACOSX/._a.png": b"x", "d/": b""}), "h.zip"


HOSTILE_ARCHIVES = {"cut member": _cut_member, "corrupt member": _corrupt_member,
                    "huge image": _huge_member, "odd member": _odd_member,
                    "not a zip": _not_a_zip, "no images": _no_images}


@pytest.mark.parametrize("name", sorted(HOSTILE_ARCHIVES))
def test_a_hostile_archive_is_a_project_error_naming_it(tmp_path, name):
    path, named = HOSTILE_ARCHIVES[name](tmp_path)
    start = time.perf_counter()
    with pytest.raises((errors.NotASeriesError, errors.UnknownFormatError)) as info:
        s = pipeline.open(path)
        np.asarray(s)
    assert named in str(info.value) and time.perf_counter() - start < 5


@pytest.mark.parametrize("damage", ["truncated", "directory", "empty", "not an image"])
def test_a_hostile_file_in_a_list_is_named(tmp_path, damage):
    images = _pngs(tmp_path, ["a.png", "b.png", "c.png"])
    victim = tmp_path / "b.png"
    if damage == "truncated":
        victim.write_bytes(victim.read_bytes()[:40])
    elif damage == "directory":
        victim.unlink()
        victim.mkdir()
    elif damage == "empty":
        victim.write_bytes(b"")
    else:
        victim.write_bytes(b"GIF89a" + bytes(100))
    start = time.perf_counter()
    with pytest.raises((errors.NotASeriesError, errors.UnknownFormatError)) as info:
        np.asarray(pipeline.open([tmp_path / n for n in images]))
    assert "b.png" in str(info.value) and time.perf_counter() - start < 5

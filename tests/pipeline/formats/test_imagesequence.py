"""pims-style image inputs: one image file, a glob, a directory, in natural order."""

from __future__ import annotations

import pickle

import imageio.v3 as iio
import numpy as np
import pytest

import pipeline
from pipeline.errors import NotASeriesError, UnknownFormatError, UnreadableFrameError
from pipeline.formats.imagesequence import ImageSequenceSeries
from pipeline.testing import SeriesConformance


def write_pngs(directory, data, names=None):
    """One PNG per frame, named so that lexical order differs from natural order."""
    directory.mkdir(exist_ok=True)
    names = names or [f"img{j * 5}.png" for j in range(len(data))]  # img0, img5, img10, ...
    for name, frame in zip(names, data):
        iio.imwrite(directory / name, frame)
    return [directory / n for n in names]


def grey(n=5, dtype=np.uint8):
    top = 255 if dtype == np.uint8 else 65535
    return np.random.default_rng(3).integers(0, top, (n, 20, 30)).astype(dtype)


class TestGlob(SeriesConformance):
    def make(self, tmp_path):
        data = grey()
        write_pngs(tmp_path / "frames", data)
        return pipeline.open(str(tmp_path / "frames" / "*.png")), data, {}


class TestDirectoryOf16BitPngs(SeriesConformance):
    def make(self, tmp_path):
        data = grey(4, np.uint16)
        write_pngs(tmp_path / "frames", data)
        (tmp_path / "frames" / "notes.txt").write_text("not an image")  # ignored
        return pipeline.open(tmp_path / "frames"), data, {}


class TestRgbFrames(SeriesConformance):
    """Colour images are frames (C, Y, X), so geometric ops act on rows and columns."""

    def make(self, tmp_path):
        rgb = np.random.default_rng(4).integers(0, 255, (3, 20, 30, 3), dtype=np.uint8)
        files = write_pngs(tmp_path / "rgb", rgb)
        s = pipeline.open(str(tmp_path / "rgb" / "img*.png"))
        read = np.stack([np.moveaxis(iio.imread(f), -1, 0) for f in files])
        np.testing.assert_array_equal(read, np.moveaxis(rgb, -1, 1))
        return s, read, {}

    def test_fancy_index_within_frame(self, case):
        s, frames, _ = case
        np.testing.assert_array_equal(s[2, 1, 2:5, 1:4], frames[2, 1, 2:5, 1:4])

    def test_axes(self, case):
        assert case[0].axes == "TCYX"


def test_natural_order(tmp_path):
    data = grey(12)
    files = write_pngs(tmp_path / "f", data, [f"frame_{j}.png" for j in range(12)])
    s = pipeline.open(str(tmp_path / "f" / "frame_*.png"))
    assert s.files == [str(f) for f in files]  # frame_2 before frame_10
    np.testing.assert_array_equal(s[10], data[10])
    assert pipeline.open(tmp_path / "f").files == s.files


@pytest.mark.parametrize("ext, kwargs", [(".png", {}), (".bmp", {}), (".jpg", {"quality": 90}),
                                         (".tif", {})])
def test_single_image_file_is_one_frame(tmp_path, ext, kwargs):
    rgb = np.random.default_rng(5).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    path = tmp_path / f"one{ext}"
    iio.imwrite(path, rgb, **kwargs)
    s = pipeline.open(path)
    assert len(s) == 1 and s.shape == (3, 20, 30) and s.dtype == np.uint8
    np.testing.assert_array_equal(s[0], np.moveaxis(iio.imread(path), -1, 0))


def test_mode_converts_every_image(tmp_path):
    rgb = np.random.default_rng(6).integers(0, 255, (3, 20, 30, 3), dtype=np.uint8)
    files = write_pngs(tmp_path / "c", rgb)
    s = pipeline.open(tmp_path / "c", mode="L")
    assert s.shape == (20, 30) and s.dtype == np.uint8
    np.testing.assert_array_equal(s[1], iio.imread(files[1], mode="L"))
    assert s.description() == {"format": "image-sequence", "path": str(tmp_path / "c"),
                               "mode": "L"}
    with pytest.raises(ValueError, match="mode='CMYKX'.*'RGB'"):
        pipeline.open(tmp_path / "c", mode="CMYKX")


def test_only_the_first_header_is_read_at_open(tmp_path):
    """A broken later file does not stop the open: each frame's file is read by its own read."""
    data = grey(3)
    files = write_pngs(tmp_path / "f", data)
    files[2].write_bytes(b"not a png any more")
    s = pipeline.open(tmp_path / "f")
    assert len(s) == 3
    np.testing.assert_array_equal(s[1], data[1])
    with pytest.raises(UnreadableFrameError, match=r"img10\.png.*frame 2") as info:
        s[2]
    assert isinstance(info.value.__cause__, OSError)  # the decoder's complaint


def test_an_image_of_another_shape_is_named(tmp_path):
    files = write_pngs(tmp_path / "f", grey(3))
    iio.imwrite(files[1], np.zeros((7, 9), np.uint8))
    s = pipeline.open(tmp_path / "f")
    with pytest.raises(NotASeriesError, match=r"img5\.png.*\(7, 9\).*\(20, 30\)"):
        s[1]


def test_pickles_as_its_file_list(tmp_path):
    data = grey(4)
    write_pngs(tmp_path / "f", data)
    s = pipeline.open(tmp_path / "f")
    again = pickle.loads(pickle.dumps(s))
    assert isinstance(again, ImageSequenceSeries) and again.files == s.files
    np.testing.assert_array_equal(again[3], data[3])


def test_empty_directory_and_unmatched_glob(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnknownFormatError, match="image-sequence.*holds no image files"):
        pipeline.open(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=r"no files match the pattern .*nothing_\*\.png"):
        pipeline.open(str(tmp_path / "nothing_*.png"))


@pytest.mark.parametrize("photometric, planar, layout", [
    ("minisblack", None, lambda a: a[..., 0]),
    ("rgb", "contig", lambda a: a),
    ("rgb", "separate", lambda a: np.moveaxis(a, -1, 0)),
])
def test_a_directory_of_tiff_images(tmp_path, photometric, planar, layout):
    import tifffile

    rgb = np.random.default_rng(8).integers(0, 255, (4, 20, 30, 3), dtype=np.uint8)
    (tmp_path / "t").mkdir()
    for j, image in enumerate(rgb):
        tifffile.imwrite(tmp_path / "t" / f"t{j}.tif", layout(image), photometric=photometric,
                         planarconfig=planar)
    s = pipeline.open(tmp_path / "t")
    truth = rgb[..., 0] if photometric == "minisblack" else np.moveaxis(rgb, -1, 1)
    assert s.shape == truth.shape[1:]
    np.testing.assert_array_equal(np.asarray(s), truth)
    for j in range(4):  # what tifffile reads, samples moved first
        page = tifffile.imread(tmp_path / "t" / f"t{j}.tif")
        np.testing.assert_array_equal(s[j], page if page.ndim == 2 or planar == "separate"
                                      else np.moveaxis(page, -1, 0))


def test_a_tiff_stack_in_a_sequence_is_refused(tmp_path):
    import tifffile

    (tmp_path / "s").mkdir()
    tifffile.imwrite(tmp_path / "s" / "stack.tif", grey(3), photometric="minisblack")
    with pytest.raises(NotASeriesError, match="holds 3 pages; an image sequence takes one image"):
        pipeline.open(tmp_path / "s")

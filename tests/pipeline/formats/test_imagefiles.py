"""hexrd's image-files YAML: globs sorted naturally, options, metadata, bad input."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

import pipeline
from pipeline.errors import NotASeriesError, OptionValueError
from pipeline.formats.imagefiles import ImageFilesSeries
from pipeline.testing import SeriesConformance
from tests.pipeline.formats._data import frames

OMEGA = np.linspace(0.0, 5.5, 12).reshape(6, 2)


def tiff_files(tmp_path, data, name="scan_{}.tif", start=1):
    """One single-page TIFF per frame, numbered so that plain sorting would misorder them."""
    folder = tmp_path / "imgs"
    folder.mkdir(exist_ok=True)
    for k, frame in enumerate(data):
        tifffile.imwrite(folder / name.format(start + 4 * k), frame)
    return folder


def yaml_file(tmp_path, body, name="files.yml"):
    path = tmp_path / name
    path.write_text(body)
    return path


class TestImageFiles(SeriesConformance):
    def make(self, tmp_path):
        data = frames()
        tiff_files(tmp_path, data)
        np.save(tmp_path / "omega.npy", OMEGA)
        path = yaml_file(tmp_path, """
image-files:
  directory: imgs
  files: "scan_*.tif"
options: {}
meta:
  omega: "! load-numpy-array omega.npy"
  name: scan
""")
        return pipeline.open(path), data, {"omega": OMEGA, "name": "scan"}


class TestMultiPageFiles(SeriesConformance):
    """Two multi-page TIFFs with two empty frames at the start of each, through two globs."""

    def make(self, tmp_path):
        data = frames(8)
        folder = tmp_path / "stack"
        folder.mkdir()
        junk = np.zeros((2, 20, 30), data.dtype)
        tifffile.imwrite(folder / "b.tif", np.concatenate([junk, data[4:]]))
        tifffile.imwrite(folder / "a.tif", np.concatenate([junk, data[:4]]))
        path = yaml_file(tmp_path, f"""
image-files:
  directory: {folder}
  files: "a.tif b*.tif"
options:
  empty-frames: 2
metadata:
  count: 3
""")
        return pipeline.open(path, "image-files"), data, {"count": 3}


def test_natural_sort_and_file_per_frame(tmp_path):
    data = frames()
    tiff_files(tmp_path, data)
    s = pipeline.open(yaml_file(tmp_path, "image-files: {directory: imgs, files: '*.tif'}\n"))
    assert [f.rsplit("_", 1)[1] for f in s.files] == ["1.tif", "5.tif", "9.tif", "13.tif",
                                                     "17.tif", "21.tif"]
    assert s.locate(3) == (s.files[3], 0)
    assert s.metadata == {}


@pytest.mark.parametrize("options, expect", [
    ("max-total-frames: 3", slice(0, 3)),
    ("max-frames: 2", slice(0, 2)),
    ("max-file-frames: 1", [0, 3]),
    ("empty-frames: 1\n  max-file-frames: 1", [1, 4]),
])
def test_frame_options(tmp_path, options, expect):
    data = frames()
    folder = tmp_path / "imgs"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", data[:3], photometric="minisblack")
    tifffile.imwrite(folder / "b.tif", data[3:], photometric="minisblack")
    s = pipeline.open(yaml_file(tmp_path, f"""
image-files: {{directory: imgs, files: "*.tif"}}
options:
  {options}
"""))
    np.testing.assert_array_equal(np.asarray(s), data[expect])


def test_dtype_option_converts_and_refuses_truncation(tmp_path):
    data = frames()
    tiff_files(tmp_path, data)
    body = "image-files: {{directory: imgs, files: '*.tif'}}\noptions: {{dtype: {}}}\n"
    s = pipeline.open(yaml_file(tmp_path, body.format("float32")))
    assert s.dtype == np.float32 and s[2].dtype == np.float32
    np.testing.assert_array_equal(s[2], data[2].astype(np.float32))
    s = pipeline.open(yaml_file(tmp_path, body.format("uint8"), "u8.yml"))
    with pytest.raises(ValueError, match="do not fit the dtype uint8"):
        s[0]


@pytest.mark.parametrize("options, message", [
    ("{max-frame: 3}", "unknown option(s) max-frame; the known ones are empty-frames"),
    ("{empty-frames: -1}", "empty-frames: -1 must be a whole number >= 0"),
    ("{max-total-frames: '3'}", "max-total-frames: '3' must be a whole number >= 0"),
    ("{max-file-frames: 1.5}", "max-file-frames: 1.5 must be a whole number >= 0"),
    ("{dtype: float99}", "dtype: 'float99' is not a numpy dtype"),
    ("[3]", "options: must be a mapping, not [3]"),
])
def test_unknown_or_bad_options_are_refused_naming_them(tmp_path, options, message):
    tiff_files(tmp_path, frames())
    path = yaml_file(tmp_path, f"image-files: {{directory: imgs, files: '*.tif'}}\n"
                               f"options: {options}\n")
    with pytest.raises(OptionValueError) as err:
        pipeline.open(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_png_files_through_imageio(tmp_path):
    data = frames(3, (12, 16), "uint8")
    for k, frame in enumerate(data):
        iio.imwrite(tmp_path / f"f{k}.png", frame)
    s = pipeline.open(yaml_file(tmp_path, "image-files: {directory: ., files: '*.png'}\n"))
    np.testing.assert_array_equal(np.asarray(s), data)


@pytest.mark.parametrize("second, match", [
    (np.zeros((10, 30), np.uint16), r"shape \(10, 30\).*\(20, 30\)"),
    (np.zeros((20, 30), np.float32), "dtype float32.*uint16"),
])
def test_inconsistent_files_name_the_file(tmp_path, second, match):
    folder = tmp_path / "imgs"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", frames(1)[0])
    tifffile.imwrite(folder / "b.tif", second)
    with pytest.raises(ValueError, match=match) as info:
        pipeline.open(yaml_file(tmp_path, "image-files: {directory: imgs, files: '*.tif'}\n"))
    assert "b.tif" in str(info.value)


def test_no_matching_files(tmp_path):
    with pytest.raises(NotASeriesError, match="no files match 'nope_"):
        pipeline.open(yaml_file(tmp_path, "image-files: {directory: ., files: 'nope_*.tif'}\n"))


def test_yaml_of_another_kind_is_not_claimed(tmp_path):
    path = yaml_file(tmp_path, "something: else\n")
    with pytest.raises(pipeline.errors.UnknownFormatError, match="image-files.*raw"):
        pipeline.open(path)


def test_unsafe_yaml_tags_are_not_executed(tmp_path):
    marker = tmp_path / "ran"
    path = yaml_file(tmp_path, f"image-files: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(pipeline.errors.NotMyFormat):
        ImageFilesSeries(path)
    assert not marker.exists()

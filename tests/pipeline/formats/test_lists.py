"""A list of paths opens as one series: the frames of each file, in the list's order.

pims' ``ImageSequence`` takes a list (``TestImageSequenceAcceptsList``) and
keeps its order (``TestImageSequenceNaturalSorting``: "provide a list: there
should be no sorting"); napari hands a reader a list for
``viewer.open([...], stack=True)`` and several files dropped at once.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import pipeline
from pipeline import errors, napari_plugin
from pipeline.testing import SeriesConformance

imageio = pytest.importorskip("imageio.v3")

rng = np.random.default_rng(24)


def _stacks(tmp_path, counts=(3, 1, 2), shape=(12, 17), dtype=np.uint16, prefix="part"):
    """TIFF stacks of ``counts`` frames each; their paths and the frames one after another."""
    paths, frames = [], []
    for k, n in enumerate(counts):
        data = rng.integers(0, 4000, (n, *shape)).astype(dtype)
        path = tmp_path / f"{prefix}{k}.tif"
        tifffile.imwrite(path, data, photometric="minisblack")
        paths.append(str(path))
        frames.append(data)
    return paths, np.concatenate(frames)


class TestListOfStacks(SeriesConformance):
    def make(self, tmp_path):
        paths, frames = _stacks(tmp_path)
        return pipeline.open(paths), frames, {}


class TestListOfPngs(SeriesConformance):
    """pims' TestImageSequenceAcceptsList: a frame per PNG, in the list's (unsorted) order."""

    def make(self, tmp_path):
        names = ["T76S3F20.png", "T76S3F3.png", "T76S3F1.png", "T76S3F10.png"]
        frames = rng.integers(0, 255, (len(names), 10, 11)).astype(np.uint8)
        for name, frame in zip(names, frames):
            imageio.imwrite(tmp_path / name, frame)
        return pipeline.open([tmp_path / n for n in names]), frames, {}


def test_a_list_keeps_its_order_and_reads_only_the_parts_asked_for(tmp_path):
    paths, frames = _stacks(tmp_path)
    s = pipeline.open([paths[2], paths[0], paths[2]])
    want = np.concatenate([frames[4:6], frames[0:3], frames[4:6]])
    assert len(s) == 7 and s.shape == (12, 17) and s.dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(s), want)
    pick = [6, 0, 3, 2, 2]
    np.testing.assert_array_equal(np.asarray(s[pick]), want[pick])
    np.testing.assert_array_equal(s.get_region(4, ((2, 5), (3, 9))), want[4][2:5, 3:9])
    desc = s.description()
    assert desc["format"] == "list" and [p["path"] for p in desc["parts"]] == [
        paths[2], paths[0], paths[2]]


def test_a_list_of_one_path_is_that_series(tmp_path):
    paths, frames = _stacks(tmp_path, counts=(3,))
    s = pipeline.open(paths)
    assert s.description() == {"format": "tiff", "path": paths[0]}
    np.testing.assert_array_equal(np.asarray(s), frames)


def test_format_and_options_apply_to_every_path(tmp_path):
    frames = rng.integers(0, 4000, (4, 6, 5)).astype("<u2")
    frames[:2].tofile(tmp_path / "a.bin")
    frames[2:].tofile(tmp_path / "b.bin")
    s = pipeline.open([tmp_path / "a.bin", tmp_path / "b.bin"], "raw", dtype="<u2",
                      shape=(6, 5))
    np.testing.assert_array_equal(np.asarray(s), frames)


@pytest.mark.parametrize(("odd", "named"), [
    (dict(shape=(12, 16)), r"\(12, 16\) uint16"),
    (dict(dtype=np.uint8), r"\(12, 17\) uint8"),
])
def test_a_file_unlike_the_first_is_named(tmp_path, odd, named):
    paths, _ = _stacks(tmp_path, counts=(2, 2))
    other, _ = _stacks(tmp_path, counts=(1,), prefix="odd", **odd)
    with pytest.raises(errors.FrameShapeError, match=named) as info:
        pipeline.open([paths[0], other[0], paths[1]])
    assert repr(other[0]) in str(info.value) and repr(paths[0]) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(("paths", "kind", "named"), [
    ([], errors.OptionValueError, r"open\(\[\]\)"),
    ([["a.tif"]], errors.SeriesTypeError, r"\['a.tif'\]"),
    ([3], errors.SeriesTypeError, "3"),
])
def test_a_bad_list_is_a_project_error(paths, kind, named):
    with pytest.raises(kind, match=named):
        pipeline.open(paths)


def test_a_missing_file_of_the_list_is_named(tmp_path):
    paths, _ = _stacks(tmp_path, counts=(1,))
    with pytest.raises(FileNotFoundError, match="nope.tif"):
        pipeline.open([paths[0], tmp_path / "nope.tif"])


def test_a_list_writes_and_refuses_to_overwrite_its_own_files(tmp_path):
    paths, frames = _stacks(tmp_path)
    s = pipeline.open(paths)
    back = pipeline.write(s, tmp_path / "all.zarr")
    np.testing.assert_array_equal(np.asarray(back), frames)
    with pytest.raises(errors.SourceTargetError):
        pipeline.write(s, paths[1], overwrite=True)


def test_closing_a_list_closes_every_file(tmp_path):
    paths, frames = _stacks(tmp_path)
    with pipeline.open(paths) as s:
        np.testing.assert_array_equal(s[4], frames[4])
    assert s.closed and all(part.closed for part in s.parts)
    with pytest.raises(errors.ClosedSeriesError, match="closed"):
        s[0]


# -- napari: viewer.open([...], stack=True) and several files dropped at once ---------------

def test_the_napari_reader_takes_a_list_as_one_layer(tmp_path):
    npe2 = pytest.importorskip("npe2")
    from npe2.io_utils import _read

    paths, frames = _stacks(tmp_path)
    pm = npe2.PluginManager()
    pm.register(npe2.PluginManifest.from_file(napari_plugin.__file__.replace(
        "napari_plugin.py", "napari.yaml")))
    pm.activate("lazyseries")
    [(data, kwargs, kind)] = _read(paths, stack=True, plugin_name="lazyseries", _pm=pm)
    assert kind == "image" and data.shape == frames.shape
    np.testing.assert_array_equal(data.compute(), frames)
    assert kwargs["name"] == "part0.tif (+2)"


def test_the_napari_reader_declines_a_list_it_cannot_join(tmp_path):
    paths, _ = _stacks(tmp_path, counts=(1,))
    other, _ = _stacks(tmp_path, counts=(1,), shape=(5, 5), prefix="odd")
    assert napari_plugin.get_reader([paths[0], other[0]]) is None
    assert napari_plugin.get_reader([]) is None
    assert napari_plugin.get_reader(paths) is napari_plugin.read

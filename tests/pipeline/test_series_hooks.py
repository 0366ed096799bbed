"""The declared interface of a series: what an implementer owes, what it gets for free.

A user's subclass implementing only ``__len__``, ``shape``, ``dtype`` and
``read`` must get every optional member's declared default and every
convenience (dask, processing, loading, xarray, regions, HTML), each calling
the module that does the work, and work with the functions of higher layers
(``pipeline.materialize``, ``pipeline.write``).
"""

from __future__ import annotations

import pickle

import dask.array as da
import numpy as np
import pytest
from dask.base import tokenize

import pipeline
from pipeline.formats.zarr import ZarrSeries
from pipeline.series import ImageSeries, plan_of, region_plan


class Minimal(ImageSeries):
    """Only what an implementer owes: frames from a numpy array, read by region."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape[1:]

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def read(self, frames, region):
        return self.data[(frames, *(slice(lo, hi) for lo, hi in region))].copy()


@pytest.fixture
def data(rng):
    return rng.integers(0, 1000, size=(7, 12, 16), dtype=np.uint16)


def test_an_implementer_owes_four_members():
    assert ImageSeries.__abstractmethods__ == {"__len__", "shape", "dtype", "read"}
    with pytest.raises(TypeError, match="abstract"):
        type("Partial", (ImageSeries,), {"__len__": lambda self: 1})()


def test_each_optional_member_has_its_declared_default(data):
    s = Minimal(data)
    assert s.metadata == {}
    assert s.frame_chunk is None and s.storage_chunks is None
    assert s.description() == {"format": "Minimal"}
    assert s.source_paths() == []
    assert s._as_dask() is None
    assert region_plan(s, None) == (((0, 12), (0, 16)), ())
    assert region_plan(s, ((0, 3), (4, 5))) == (((0, 3), (4, 5)), ())
    assert s._in_memory() is False and s.in_memory is False
    assert s._axes is None and s.axes == "TYX"
    assert plan_of(s) == (s, None, (), s.spec)


def test_the_interface_holds_no_format_s_members():
    """A Zarr store's array, codec and provenance are the Zarr series' own."""
    for member in ("zarr_array", "codec", "provenance", "materialize", "_plan_region"):
        assert not hasattr(ImageSeries, member), member
    assert hasattr(ZarrSeries, "zarr_array") and hasattr(ZarrSeries, "provenance")


def test_the_token_is_one_per_object_and_tokenize_uses_it(data):
    s, t = Minimal(data), Minimal(data)
    assert s._dask_token() == s._dask_token() != t._dask_token()
    assert tokenize(s) == tokenize(s) != tokenize(t)


def test_overriding_a_hook_changes_what_the_framework_does(data):
    class Dasky(Minimal):
        _axes = "TZX"

        def _as_dask(self):
            return da.from_array(self.data, chunks=(2, -1, -1))

        def _in_memory(self):
            return True

        def read(self, frames, region):
            raise AssertionError("to_dask maps the series' own dask array, never reads")

    s = Dasky(data)
    assert s.axes == "TZX" and s.in_memory
    np.testing.assert_array_equal(s.to_dask().compute(), data)
    np.testing.assert_array_equal(s.process([("add", 1)]).to_dask().compute(), data + 1.0)
    assert s.process([("flip", "h")]).in_memory  # a processed series asks its source


def test_a_minimal_series_gets_every_convenience(data, tmp_path):
    pipeline.set_scratch_dir(tmp_path)
    try:
        s = Minimal(data)
        arr = s.to_dask(frames_per_chunk=3)
        assert arr.chunks[0] == (3, 3, 1)
        np.testing.assert_array_equal(arr.compute(), data)
        np.testing.assert_array_equal(np.asarray(s), data)
        ps = s.process([("flip", "v"), ("rectangle", ((2, 10), (1, 9)))])
        np.testing.assert_array_equal(ps[3], data[3][:, ::-1][2:10, 1:9])
        np.testing.assert_array_equal(ps.to_dask().compute(), data[:, :, ::-1][:, 2:10, 1:9])
        sub = s[2:5]
        np.testing.assert_array_equal(np.asarray(sub), data[2:5])
        m = pipeline.materialize(s)
        assert isinstance(m, ZarrSeries) and m.provenance is not None
        np.testing.assert_array_equal(np.asarray(m), data)
        loaded = s.load()
        assert loaded.in_memory
        np.testing.assert_array_equal(np.asarray(loaded), data)
        np.testing.assert_array_equal(s.region(4, offset=(1, 2), size=(3, 4), stride=(2, 3)),
                                      data[4, 1:7:2, 2:14:3])
        np.testing.assert_array_equal(s.patches([0, 6], (5, 5), (2, 3)), data[[0, 6], 5:7, 5:8])
        x = s.to_xarray()
        assert x.dims == ("frame", "y", "x")
        np.testing.assert_array_equal(x.values, data)
        assert "Minimal" in s._repr_html_()
    finally:
        pipeline.set_scratch_dir(None)


def test_a_minimal_series_pickles_and_keeps_its_hooks(data):
    s = pickle.loads(pickle.dumps(Minimal(data)))
    assert s.axes == "TYX"
    np.testing.assert_array_equal(s.to_dask().compute(), data)


def test_each_convenience_lands_on_the_code_that_runs():
    """No registry between a convenience and its work: each method's body names the module
    that does it, imported where the series class is defined."""
    import inspect

    from pipeline import display, graph, interop, regions

    calls = {"to_dask": "graph.to_dask", "region": "regions.region",
             "patches": "regions.patches", "to_xarray": "interop.to_xarray",
             "_repr_html_": "display.repr_html", "process": "ProcessedImageSeries(",
             "load": "ArraySeries("}
    for name, call in calls.items():
        assert call in inspect.getsource(getattr(ImageSeries, name)), name
    assert {m.__name__ for m in (display, graph, interop, regions)} <= set(
        inspect.getmodule(ImageSeries).__dict__[k].__name__ for k in
        ("display", "graph", "interop", "regions"))


def test_public_frame_helpers(data):
    s = Minimal(data)
    assert s.frame_index(-1) == 6
    np.testing.assert_array_equal(s.frame_indices(slice(1, None, 2)), [1, 3, 5])
    assert s.check_region(((1, 2), (3, 4))) == ((1, 2), (3, 4))
    with pytest.raises(IndexError):
        s.frame_index(7)

"""What the file-backed base class gives every file format: path, token, description, pickling."""

from __future__ import annotations

import contextlib
import gc
import glob  # noqa: F401  (the README example uses it)
import os
import pathlib
import pickle
import re

import imageio.v3 as iio
import numpy as np
import pytest

import pipeline
from pipeline.errors import ClosedSeriesError
from pipeline.formats import registry
from pipeline.formats.base import OPEN_STATE, FileSeries, frame_by_frame
from pipeline.testing import SeriesConformance

from ._data import frames
from .test_detector import write_ge
from .test_eiger import write_v1
from .test_spe import write_spe


def _zarr(tmp, data):
    return pipeline.write(pipeline.from_array(data), tmp / "s.zarr").path


def _hdf5(tmp, data):
    return pipeline.write(pipeline.from_array(data), tmp / "s.h5").path


def _npz(tmp, data):
    return pipeline.write(pipeline.from_array(data), tmp / "s.npz").path


def _fch5(tmp, data):
    return pipeline.write(pipeline.from_array(data), tmp / "s.fch5").path


def _tiff(tmp, data):
    return pipeline.write(pipeline.from_array(data), tmp / "s.tif").path


def _raw(tmp, data):
    data.tofile(tmp / "s.raw")
    return str(tmp / "s.raw"), {"dtype": data.dtype.str, "shape": data.shape[1:]}


def _images(tmp, data):
    (tmp / "png").mkdir()
    for j, frame in enumerate(data):
        iio.imwrite(tmp / "png" / f"f{j}.png", frame)
    return str(tmp / "png")


def _image_files(tmp, data):
    for j, frame in enumerate(data):
        iio.imwrite(tmp / f"f{j}.tif", frame)
    (tmp / "list.yml").write_text("image-files: {directory: ., files: 'f*.tif'}\n")
    return str(tmp / "list.yml")


def _gif(tmp, data):
    iio.imwrite(tmp / "s.gif", (data % 256).astype(np.uint8), loop=0)
    return str(tmp / "s.gif")


def _ge(tmp, data):
    write_ge(tmp / "s.ge2", data)
    return str(tmp / "s.ge2")


def _spe(tmp, data):
    write_spe(tmp / "s.spe", data)
    return str(tmp / "s.spe")


def _eiger(tmp, data):
    write_v1(tmp / "e.h5", data, encoding=None)
    return str(tmp / "e.h5")


MAKERS = {"zarr": _zarr, "hdf5": _hdf5, "frame-cache": _npz, "fch5": _fch5, "tiff": _tiff,
          "raw": _raw, "image-sequence": _images, "image-files": _image_files, "gif": _gif,
          "detector": _ge, "spe": _spe, "eiger-stream-v1": _eiger}


RE_READ = ("zarr", "hdf5", "tiff", "frame-cache")
"""Formats whose metadata a pickled series reads again from the file instead of carrying it."""


@pytest.fixture(params=sorted(MAKERS))
def opened(request, tmp_path):
    data = frames(3, (8, 10), "uint16")
    made = MAKERS[request.param](tmp_path, data)
    path, options = made if isinstance(made, tuple) else (made, {})
    fmt = "frame-cache" if request.param == "fch5" else request.param
    return pipeline.open(path, format=fmt, **options), path, fmt


def test_every_file_format_is_a_file_series(opened):
    series, path, fmt = opened
    assert isinstance(series, FileSeries) and series.format_name == fmt
    assert registry.lookup(fmt).name == fmt
    assert series.path == os.fspath(path)
    desc = series.description()
    assert desc["format"] == fmt and desc["path"] == series.path
    assert {k: v for k, v in desc.items() if k not in ("format", "path")} == series.options()


def test_token_is_stable_and_follows_the_file(opened):
    series, _, _ = opened
    token = series._dask_token()
    assert token == series._dask_token()
    assert pickle.loads(pickle.dumps(series))._dask_token() == token
    stamped = series.stamped_files()
    assert stamped and all(os.path.exists(f) for f in stamped)
    st = os.stat(stamped[-1])
    os.utime(stamped[-1], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert series._dask_token() != token  # a rewritten file is new data


def test_pickles_as_a_recipe(opened):
    series, _, _ = opened
    want = np.asarray(series)
    series.metadata  # noqa: B018  (read, so that a re-reading format has it cached)
    state = series.__getstate__()
    for name in (*OPEN_STATE, *series.transient):
        assert state.get(name) is None, name
    assert "_lock" not in state
    if series.format_name in RE_READ:  # metadata (arrays too) stays behind, read again on use
        assert state["_meta"] is None
    copy = pickle.loads(pickle.dumps(series))
    assert copy.description() == series.description()
    np.testing.assert_array_equal(np.asarray(copy), want)
    assert copy.metadata.keys() == series.metadata.keys()


def test_reads_match_whole_frames_for_any_selection(opened):
    series, _, _ = opened
    whole = np.stack([series[j] for j in range(len(series))])
    full = tuple((0, n) for n in series.shape)
    np.testing.assert_array_equal(series.read(slice(0, len(series)), full), whole)
    picked = np.array([2, 0, 2], dtype=np.int64)
    np.testing.assert_array_equal(series.read(picked, full), whole[picked])
    assert series.read(np.array([], dtype=np.int64), full).shape == (0, *series.shape)
    region = (*full[:-2], (1, 5), (2, 7))
    np.testing.assert_array_equal(series.read(slice(1, 3), region), whole[1:3, ..., 1:5, 2:7])


# -- the base on its own: a toy format --------------------------------------------------


class Handle:
    """A file handle that counts what was done with it."""

    def __init__(self, fail: bool = False) -> None:
        self.closed, self.fail = False, fail

    def close(self) -> None:
        if self.fail:
            raise RuntimeError("boom")
        self.closed = True


class Toy(FileSeries):
    """Frame j is full of j; read one frame at a time through a handle."""

    format_name = "toy"
    transient = ("_cache",)
    _cache: dict | None = None

    def __init__(self, path: str, fail: bool = False) -> None:
        self._path, self._fail = path, fail
        self._nframes, self._shape, self._dtype = 3, (4, 5), np.dtype(np.uint8)
        self._meta = {"kept": np.arange(3)}
        self.opened: list[Handle] = []

    def open_handle(self, stack: contextlib.ExitStack) -> Handle:
        handle = stack.enter_context(contextlib.closing(Handle(self._fail)))
        self.opened.append(handle)
        return handle

    @frame_by_frame
    def read(self, j, region):
        self.handle  # noqa: B018  (a read opens the handle)
        self._cache = {j: True}
        return np.full(tuple(hi - lo for lo, hi in region), j, self._dtype)


def test_frame_by_frame_reads_each_frame_and_chunks_by_one(tmp_path):
    s = Toy(str(tmp_path / "t"))
    assert s.frame_chunk == 1 and s.storage_chunks == (1, 4, 5)
    np.testing.assert_array_equal(s[2], np.full((4, 5), 2))
    got = s.read(np.array([2, 0, 2]), ((1, 3), (0, 5)))
    assert got.shape == (3, 2, 5) and list(got[:, 0, 0]) == [2, 0, 2]
    assert s.read(slice(1, 1), s.spec.full_region).shape == (0, 4, 5)


def test_release_drops_the_open_state_and_the_next_read_reopens(tmp_path):
    s = Toy(str(tmp_path / "t"))
    s[0]
    first = s.opened[-1]
    assert s._cache == {0: True} and not first.closed
    s._release()
    assert first.closed and s._cache is None and s._handle is None
    s[1]
    assert len(s.opened) == 2 and not s.opened[-1].closed


def test_close_drops_the_open_state_for_good(tmp_path):
    s = Toy(str(tmp_path / "t"))
    s[0]
    first = s.opened[-1]
    s.close()
    assert first.closed and s._cache is None and s._handle is None and s.closed
    with pytest.raises(ClosedSeriesError, match="closed"):
        s[1]
    assert len(s.opened) == 1  # nothing was opened again


def test_the_open_state_never_travels_and_metadata_travels_when_not_reread(tmp_path):
    s = Toy(str(tmp_path / "t"))
    s[0]
    state = s.__getstate__()
    assert all(state.get(name) is None for name in (*OPEN_STATE, "_cache"))
    np.testing.assert_array_equal(state["_meta"]["kept"], np.arange(3))  # no read_metadata
    again = pickle.loads(pickle.dumps(s))
    assert again._handle is None and again.lock is not s.lock
    np.testing.assert_array_equal(again[2], s[2])


def test_a_collected_series_closes_its_handle(tmp_path):
    s = Toy(str(tmp_path / "t"))
    s[0]
    handle = s.opened[-1]
    del s
    gc.collect()
    assert handle.closed


def test_a_failing_close_warns_when_collected_and_raises_when_asked(tmp_path):
    s = Toy(str(tmp_path / "t"), fail=True)
    s[0]
    with pytest.warns(UserWarning, match=r"Toy of '.*t' could not close.*boom"):
        s.__del__()  # what the collector calls
    s.opened[-1].fail = False
    s = Toy(str(tmp_path / "t"), fail=True)
    s[0]
    with pytest.raises(RuntimeError, match="boom"):
        s.close()


def test_a_collected_tiff_series_leaves_no_file_open(tmp_path):
    path = _tiff(tmp_path, frames(3, (8, 10), "uint16"))
    s = pipeline.open(path)
    s[1]
    fh = s.handle.filehandle
    assert not fh.closed
    del s
    gc.collect()
    assert fh.closed


# -- the README's example of a file format ------------------------------------------------


README = (pathlib.Path(__file__).resolve().parents[3] / "README.md").read_text()
# the README's NpyStackSeries, defined here from the README's own text (a module-level class,
# so that it pickles)
exec(re.search(r"```python\n(class NpyStackSeries.*?)```", README, re.DOTALL)[1])  # noqa: S102


class TestReadmeExample(SeriesConformance):
    def make(self, tmp_path):
        data = frames(4, (9, 11), "int16")
        (tmp_path / "stack").mkdir()
        for j, frame in enumerate(data):
            np.save(tmp_path / "stack" / f"f{j}.npy", frame)
        return NpyStackSeries(str(tmp_path / "stack")), data, {}  # noqa: F821

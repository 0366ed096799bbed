"""What the file-backed base class gives every file format: path, token, description, pickling."""

from __future__ import annotations

import os
import pickle

import imageio.v3 as iio
import numpy as np
import pytest

import pipeline
from pipeline.formats import registry
from pipeline.formats._file import FileSeries
from pipeline.formats._handle import LazyHandle

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
    for cls in type(series).__mro__:
        for name in vars(cls).get("transient", ()):
            assert state[name] is None, name
    if isinstance(series, LazyHandle):
        assert state["_handle"] is None
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

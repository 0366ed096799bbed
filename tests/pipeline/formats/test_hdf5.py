"""HDF5 files as hexrd lays them out: reading, writing, options and bad input."""

from __future__ import annotations

import sys

import h5py
import numpy as np
import pytest

import pipeline
from pipeline.errors import MissingDatasetError, StoreExistsError, UnknownFormatError
from pipeline.testing import SeriesConformance
from tests.pipeline.formats._data import META, Exploding, frames, siblings


def hexrd_h5(path, data, group="imageseries", dataname="images", chunks=True, meta=META):
    """A file laid out as hexrd's WriteH5 does: group/images (N, rows, cols), attrs metadata."""
    with h5py.File(path, "w") as f:
        g = f.create_group(group)
        shape = data.shape
        g.create_dataset(dataname, data=data, shuffle=True, compression="gzip",
                         compression_opts=1,
                         chunks=(1, *shape[1:]) if chunks is True and data.ndim == 3 else chunks)
        for key, value in meta.items():
            g.attrs[key] = np.asarray(value).astype("S") if isinstance(value, str) else value
    return path


class TestHDF5(SeriesConformance):
    def make(self, tmp_path):
        data = frames()
        path = hexrd_h5(tmp_path / "scan.h5", data)
        return pipeline.open(path, "hdf5", path="imageseries"), data, META


class TestHDF5ChunkedSubgroup(SeriesConformance):
    """A nested group, another dataset name, chunks of 4 frames."""

    def make(self, tmp_path):
        data = frames(9, (16, 24), "float32")
        meta = {"omega": np.arange(9.0), "count": 3}
        path = hexrd_h5(tmp_path / "scan.hdf5", data, group="/entry/data", dataname="frames",
                        chunks=(4, 8, 24), meta=meta)
        return pipeline.open(path, "hdf5", path="/entry/data", dataname="frames"), data, meta


def test_two_d_dataset_is_one_frame(tmp_path):
    data = frames(1)[0]
    s = pipeline.open(hexrd_h5(tmp_path / "one.h5", data, chunks=None), "hdf5",
                      path="imageseries")
    assert len(s) == 1 and s.shape == data.shape
    np.testing.assert_array_equal(s[0], data)
    np.testing.assert_array_equal(s.get_region(0, ((2, 5), (3, 9))), data[2:5, 3:9])
    np.testing.assert_array_equal(np.asarray(s), data[np.newaxis])


def test_frame_chunk_and_dask_chunks_follow_the_dataset(tmp_path):
    data = frames(9, (16, 24))
    s = pipeline.open(hexrd_h5(tmp_path / "c.h5", data, chunks=(4, 16, 24)), "hdf5",
                      path="imageseries")
    assert s.frame_chunk == 4
    assert all(c % 4 == 0 for c in s.to_dask().chunks[0][:-1])


def test_unordered_repeated_frames_read_in_order(tmp_path):
    data = frames()
    s = pipeline.open(hexrd_h5(tmp_path / "s.h5", data), "hdf5", path="imageseries")
    pick = [4, 1, 4, 0]
    np.testing.assert_array_equal(s.read(np.array(pick), ((0, 20), (5, 9))),
                                  data[pick][:, :, 5:9])
    np.testing.assert_array_equal(s[pick].to_dask().compute(), data[pick])


def test_open_without_path_finds_the_dataset_and_detects_the_format(tmp_path):
    data = frames()
    path = hexrd_h5(tmp_path / "auto.h5", data, group="/a/b")
    s = pipeline.open(path)
    assert s.description()["group"] == "/a/b"
    np.testing.assert_array_equal(np.asarray(s), data)


@pytest.mark.parametrize("kwargs, match", [
    ({"path": "nothere"}, "no group 'nothere'"),
    ({"path": "imageseries", "dataname": "frames"}, "no dataset 'imageseries/frames'"),
])
def test_missing_group_or_dataset_names_the_file(tmp_path, kwargs, match):
    path = hexrd_h5(tmp_path / "bad.h5", frames())
    with pytest.raises(MissingDatasetError, match=match) as info:
        pipeline.open(path, "hdf5", **kwargs)
    assert "bad.h5" in str(info.value)


def test_write_is_hexrd_layout_with_options(tmp_path):
    data = frames()
    src = pipeline.from_array(data, dict(META, extra={"a": [1, 2]}, label=np.array(["x", "y"])))
    out = pipeline.write(src, tmp_path / "w.h5", path="/entry", dataname="imgs", gzip=4,
                         chunk_rows=5)
    with h5py.File(tmp_path / "w.h5", "r") as f:
        ds = f["/entry/imgs"]
        assert ds.shape == data.shape and ds.chunks == (1, 5, 30)
        assert ds.compression == "gzip" and ds.compression_opts == 4 and ds.shuffle
        np.testing.assert_array_equal(ds[...], data)
        np.testing.assert_array_equal(f["/entry"].attrs["omega"], META["omega"])
    np.testing.assert_array_equal(np.asarray(out), data)
    assert out.metadata["extra"] == {"a": [1, 2]}
    np.testing.assert_array_equal(out.metadata["label"], ["x", "y"])


def test_write_compression_mapping_and_no_gzip(tmp_path):
    src = pipeline.from_array(frames())
    pipeline.write(src, tmp_path / "lzf.h5", compression={"compression": "lzf"}, shuffle=False)
    pipeline.write(src, tmp_path / "none.h5", gzip=0)
    with h5py.File(tmp_path / "lzf.h5", "r") as f:
        assert f["imageseries/images"].compression == "lzf"
    with h5py.File(tmp_path / "none.h5", "r") as f:
        assert f["imageseries/images"].compression is None


def test_write_hexrd_call_form(tmp_path):
    # hexrd: write(ims, fname, "hdf5", path="/imageseries")
    data = frames()
    pipeline.write(pipeline.from_array(data), tmp_path / "h.hdf5", "hdf5", path="/imageseries")
    s = pipeline.open(tmp_path / "h.hdf5", "hdf5", path="/imageseries")
    np.testing.assert_array_equal(np.asarray(s), data)


def test_write_refuses_existing_file_and_leaves_it_untouched(tmp_path):
    path = hexrd_h5(tmp_path / "keep.h5", frames())
    before = path.read_bytes()
    with pytest.raises(StoreExistsError, match="overwrite=True"):
        pipeline.write(pipeline.from_array(frames(2)), path)
    assert path.read_bytes() == before
    pipeline.write(pipeline.from_array(frames(2)), path, overwrite=True)
    assert len(pipeline.open(path)) == 2


def test_failed_write_leaves_nothing(tmp_path):
    data = frames()
    src = pipeline.from_function(Exploding(data, 4), len(data), data.shape[1:], data.dtype)
    with pytest.raises(RuntimeError, match="frame 4"):
        pipeline.write(src, tmp_path / "dead.h5")
    assert siblings(tmp_path / "dead.h5") == []


def test_bad_gzip_level_fails_before_writing(tmp_path):
    with pytest.raises(ValueError, match="gzip=10"):
        pipeline.write(pipeline.from_array(frames()), tmp_path / "g.h5", gzip=10)
    assert siblings(tmp_path / "g.h5") == []


def test_unknown_file_lists_the_formats_tried(tmp_path):
    path = tmp_path / "mystery.h5"
    path.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(UnknownFormatError, match="tried: hdf5.*frame-cache"):
        pipeline.open(path)


def test_missing_h5py_names_the_extra(tmp_path, monkeypatch):
    path = hexrd_h5(tmp_path / "x.h5", frames())
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"lazyseries\[hdf5\]"):
        pipeline.open(path, "hdf5", path="imageseries")

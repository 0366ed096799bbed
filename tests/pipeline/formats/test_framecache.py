"""hexrd frame caches, npz and fch5 styles: reading, sparse lookups, writing, bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import pipeline
from pipeline.errors import NotASeriesError, StoreExistsError, WrongFormatError
from pipeline.formats.framecache import FrameCacheSeries
from pipeline.testing import SeriesConformance
from tests.pipeline.formats._data import META, Exploding, siblings, sparse_frames


def hexrd_npz(path, data, meta=META, nframes=None):
    """As hexrd's WriteFrameCache (npz): {i}_row/_col (uint16), {i}_data, shape, nframes, dtype."""
    arrd = {}
    for i, frame in enumerate(data):
        rows, cols = np.nonzero(frame)
        arrd[f"{i}_row"] = rows.astype(np.uint16)
        arrd[f"{i}_col"] = cols.astype(np.uint16)
        arrd[f"{i}_data"] = frame[rows, cols]
    arrd["shape"] = data.shape[1:]
    arrd["nframes"] = len(data) if nframes is None else nframes
    arrd["dtype"] = str(data.dtype).encode()
    arrd.update(meta)
    np.savez_compressed(path, **arrd)
    return path


def hexrd_fch5(path, data, meta=META, version=1):
    """As hexrd's fch5 writer: data (m,1), indices (m,2) uint16, frame_ids (2n,) uint64.

    Frames are stored in reverse order, as hexrd's threads may store them, so
    that only frame_ids says where each one is.
    """
    n, shape = len(data), data.shape[1:]
    vals, idx, ids, pos = [], [], np.zeros(2 * n, np.uint64), 0
    for i in reversed(range(n)):
        rows, cols = np.nonzero(data[i])
        vals.append(data[i][rows, cols][:, None])
        idx.append(np.stack([rows, cols], 1).astype(np.uint16))
        ids[2 * i:2 * i + 2] = pos, pos + len(rows)
        pos += len(rows)
    with h5py.File(path, "w") as f:
        f.attrs["HEXRD_FRAMECACHE_VERSION"] = version
        f["shape"] = shape
        f["nframes"] = n
        f["dtype"] = str(data.dtype).encode("utf-8")
        g = f.create_group("metadata")
        for key, value in meta.items():
            g.create_dataset(key, data=value if isinstance(value, str) else np.atleast_1d(value))
        f.create_dataset("data", data=np.concatenate(vals), maxshape=(None, 1))
        f.create_dataset("indices", data=np.concatenate(idx), maxshape=(None, 2))
        f.create_dataset("frame_ids", data=ids)
    return path


class TestNpzCache(SeriesConformance):
    def make(self, tmp_path):
        data = sparse_frames()
        return pipeline.open(hexrd_npz(tmp_path / "c.npz", data)), data, META


class TestFch5Cache(SeriesConformance):
    def make(self, tmp_path):
        data = sparse_frames()
        return pipeline.open(hexrd_fch5(tmp_path / "c.fch5", data)), data, META


@pytest.fixture(params=["npz", "fch5"])
def cache(request, tmp_path):
    data = sparse_frames()
    make = hexrd_npz if request.param == "npz" else hexrd_fch5
    return pipeline.open(make(tmp_path / f"c.{request.param}", data)), data


def test_style_is_read_from_the_content(tmp_path):
    data = sparse_frames()
    s = pipeline.open(hexrd_fch5(tmp_path / "cache.h5", data))  # .h5: sniffed, not hdf5
    assert isinstance(s, FrameCacheSeries) and s.style == "fch5"
    s = pipeline.open(hexrd_npz(tmp_path / "x.npz", data), "frame-cache")
    assert s.style == "npz"


def test_fancy_index_answers_from_sparse_entries(cache, monkeypatch):
    s, data = cache
    rows, cols = np.array([[0, 5], [19, -1]]), np.array([[3, 3], [29, 0]])
    expect = data[2][rows, cols]
    monkeypatch.setattr(s, "read", lambda *a: pytest.fail("densified a frame"))
    np.testing.assert_array_equal(s[2, rows, cols], expect)
    nz = np.nonzero(data[4])
    np.testing.assert_array_equal(s[4, nz[0], nz[1]], data[4][nz])
    with pytest.raises(IndexError, match="20"):
        s[2, np.array([20]), np.array([0])]


def test_nframes_disagreeing_with_keys_names_the_file(tmp_path):
    path = hexrd_npz(tmp_path / "bad.npz", sparse_frames(), nframes=8)
    with pytest.raises(NotASeriesError, match=r"bad.npz.*nframes is 8.*6 frames"):
        pipeline.open(path)


def test_unsupported_version_and_foreign_hdf5(tmp_path):
    path = hexrd_fch5(tmp_path / "v2.fch5", sparse_frames(), version=2)
    with pytest.raises(NotASeriesError, match="version 2"):
        pipeline.open(path)
    with h5py.File(tmp_path / "plain.fch5", "w") as f:
        f["x"] = np.zeros((3, 4, 4))
    with pytest.raises(WrongFormatError, match="HEXRD_FRAMECACHE_VERSION"):
        pipeline.open(tmp_path / "plain.fch5", "frame-cache")


def test_npz_with_pickled_metadata_is_refused(tmp_path):
    path = hexrd_npz(tmp_path / "p.npz", sparse_frames(), meta={"obj": np.array([{}], object)})
    with pytest.raises(ValueError, match="allow_pickle"):
        pipeline.open(path)


@pytest.mark.parametrize("name, style", [("w.npz", "npz"), ("w.fch5", "fch5"),
                                         ("w.h5", "fch5"), ("w.cache", "npz")])
def test_write_threshold_keeps_values_strictly_above(tmp_path, name, style):
    data = sparse_frames()
    meta = dict(META, nested={"a": 1, "b": "two"})
    out = pipeline.write(pipeline.from_array(data, meta), tmp_path / name, "frame-cache",
                         threshold=3600, style=style if name == "w.cache" else None)
    assert out.style == style
    expect = np.where(data > 3600, data, 0)
    assert ((data > 0) & (data <= 3600)).any()  # the threshold drops something
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / name, "frame-cache")),
                                  expect)
    np.testing.assert_equal(out.metadata["omega"], META["omega"])
    assert out.metadata["nested"] == {"a": 1, "b": "two"}


def test_write_default_is_lossless_and_reads_like_hexrd(tmp_path):
    data = sparse_frames()
    pipeline.write(pipeline.from_array(data, dict(META)), tmp_path / "l.npz")
    with np.load(tmp_path / "l.npz", allow_pickle=False) as z:
        assert int(z["nframes"]) == len(data) and tuple(z["shape"]) == data.shape[1:]
        assert z["dtype"].tobytes().decode() == "uint16" and z["3_row"].dtype == np.uint16
        dense = np.zeros(data.shape[1:], data.dtype)
        dense[z["3_row"], z["3_col"]] = z["3_data"]
        np.testing.assert_array_equal(dense, data[3])


def test_indices_widen_for_wide_frames(tmp_path):
    data = np.zeros((2, 2, 70_000), np.uint16)
    data[1, 1, 69_999] = 7
    for name in ("wide.npz", "wide.fch5"):
        out = pipeline.write(pipeline.from_array(data), tmp_path / name)
        assert out[1][1, 69_999] == 7 and out[1, np.array([1]), np.array([69_999])][0] == 7
    with np.load(tmp_path / "wide.npz") as z:
        assert z["1_col"].dtype == np.uint32


def test_write_refuses_existing_and_failed_write_leaves_nothing(tmp_path):
    data = sparse_frames()
    path = hexrd_npz(tmp_path / "keep.npz", data)
    before = path.read_bytes()
    with pytest.raises(StoreExistsError):
        pipeline.write(pipeline.from_array(data), path)
    assert path.read_bytes() == before
    bad = pipeline.from_function(Exploding(data, 3), len(data), data.shape[1:], data.dtype)
    with pytest.raises(RuntimeError, match="frame 3"):
        pipeline.write(bad, tmp_path / "dead.fch5")
    assert siblings(path) == ["keep.npz"]


def test_three_d_frames_are_refused(tmp_path):
    with pytest.raises(ValueError, match="2-d frames"):
        pipeline.write(pipeline.from_array(np.zeros((2, 3, 4, 5))), tmp_path / "x.npz")

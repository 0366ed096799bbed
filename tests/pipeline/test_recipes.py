"""A series pickles as a recipe: never its source's metadata arrays, only the caller's changes."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest

import pipeline

SHAPE = (256, 320)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A Zarr store whose metadata holds a dark frame as large as a frame, and omega."""
    path = tmp_path_factory.mktemp("recipes") / "raw.zarr"
    pipeline.write(pipeline.synthetic(12, SHAPE, seed=2), path)
    return path


@pytest.fixture
def raw(store):
    raw = pipeline.open(store)
    assert raw.metadata["dark"].nbytes == SHAPE[0] * SHAPE[1] * 2  # read in this process
    return raw


def _meta_equal(a, b):
    assert set(a) == set(b)
    for key in a:
        np.testing.assert_equal(a[key], b[key])


@pytest.mark.parametrize("make", [
    lambda raw: raw.process([("flip", "v")]),
    lambda raw: raw[:10],
    lambda raw: raw[[3, 1, 2]],
    lambda raw: raw.process([("flip", "h")])[2:5],
], ids=["flip", "slice", "frame-list", "slice-of-processed"])
def test_pickle_carries_no_metadata_arrays(raw, make):
    series = make(raw)
    series.metadata  # noqa: B018  (the copy is made, and still not pickled)
    payload = pickle.dumps(series)
    assert len(payload) < 4096, len(payload)
    again = pickle.loads(payload)
    _meta_equal(again.metadata, series.metadata)  # re-read from the store where unpickled
    np.testing.assert_array_equal(again[1], series[1])


def test_omega_is_selected_with_the_frames(raw):
    sub = raw[[5, 2, 7]]
    np.testing.assert_array_equal(sub.metadata["omega"], raw.metadata["omega"][[5, 2, 7]])
    again = pickle.loads(pickle.dumps(sub[1:]))
    np.testing.assert_array_equal(again.metadata["omega"], raw.metadata["omega"][[2, 7]])


def test_the_callers_changes_travel(raw):
    ps = raw.process([("flip", "v")])
    ps.metadata["dark"] = np.zeros((2, 2), np.uint8)
    del ps.metadata["seed"]
    ps.metadata["note"] = {"by": "caller"}
    payload = pickle.dumps(ps)
    assert len(payload) < 4096
    again = pickle.loads(payload)
    assert "seed" not in again.metadata and again.metadata["note"] == {"by": "caller"}
    np.testing.assert_array_equal(again.metadata["dark"], np.zeros((2, 2), np.uint8))
    np.testing.assert_array_equal(again.metadata["omega"], raw.metadata["omega"])
    assert "seed" in raw.metadata and raw.metadata["dark"].shape == SHAPE  # the source's stay


def test_changes_follow_a_sub_series(raw):
    ps = raw.process([("flip", "v")])
    ps.metadata["omega"] = np.arange(12.0) * 10
    ps.metadata["tag"] = "x"
    sub = ps[[4, 0]]
    np.testing.assert_array_equal(sub.metadata["omega"], [40.0, 0.0])
    assert sub.metadata["tag"] == "x"
    again = pickle.loads(pickle.dumps(sub))
    np.testing.assert_array_equal(again.metadata["omega"], [40.0, 0.0])


def test_metadata_is_still_a_copy(raw):
    ps = raw[1:4]
    ps.metadata["dark"][0, 0] = 9999
    assert raw.metadata["dark"][0, 0] != 9999
    assert ps[1:].metadata["dark"][0, 0] == 9999  # a sub-series sees its parent's changes


def test_slicing_does_not_copy_metadata():
    big = np.zeros((2048, 2048, 8), np.uint8)  # 32 MiB
    source = pipeline.from_array(np.zeros((40, 4, 4), np.uint8), metadata={"big": big})
    start = time.perf_counter()
    subs = [source[j : j + 2] for j in range(20)]
    assert time.perf_counter() - start < 0.5  # 20 deep copies of 32 MiB take seconds
    assert all(sub._meta is None for sub in subs)
    assert subs[3].metadata["big"] is not big and subs[3].metadata["big"].shape == big.shape


def test_plan_cache_is_bounded():
    from pipeline.series import PLAN_CACHE_SIZE

    frames = np.arange(2 * 30 * 30, dtype=np.uint16).reshape(2, 30, 30)
    ps = pipeline.from_array(frames).process([("flip", "v")])
    for j in range(200):
        region = ((j % 29, 30), (0, 1 + j % 29))
        np.testing.assert_array_equal(ps.get_region(1, region),
                                      frames[1][:, ::-1][region[0][0]:, : region[1][1]])
    assert len(ps._plans) <= PLAN_CACHE_SIZE


def test_in_memory_series_carries_its_data():
    frames = np.arange(3 * 8 * 8, dtype=np.uint16).reshape(3, 8, 8)
    ps = pipeline.from_array(frames, metadata={"dark": np.ones((8, 8))}).process([("flip", "v")])
    again = pickle.loads(pickle.dumps(ps))
    np.testing.assert_array_equal(np.asarray(again), frames[..., ::-1])
    np.testing.assert_array_equal(again.metadata["dark"], np.ones((8, 8)))


def test_hdf5_series_leaves_its_metadata_arrays_behind(tmp_path):
    h5py = pytest.importorskip("h5py")
    frames = np.arange(4 * 16 * 16, dtype=np.uint16).reshape(4, 16, 16)
    dark = np.random.default_rng(0).random((64, 64))
    with h5py.File(tmp_path / "x.h5", "w") as f:
        group = f.create_group("imageseries")
        group.create_dataset("images", data=frames)
        group.attrs["dark"] = dark
    raw = pipeline.open(tmp_path / "x.h5")
    np.testing.assert_array_equal(raw.metadata["dark"], dark)
    for series in (raw, raw[:2], raw.process([("flip", "v")])):
        payload = pickle.dumps(series)
        assert len(payload) < dark.nbytes // 8, len(payload)
        again = pickle.loads(payload)
        np.testing.assert_array_equal(again.metadata["dark"], dark)  # re-read from the file
        np.testing.assert_array_equal(again[1], series[1])

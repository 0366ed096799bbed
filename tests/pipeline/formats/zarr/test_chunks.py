"""The direct chunk path: byte for byte what zarr-python writes and reads, or no grid."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import zarr
import zarr.codecs as zc
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeline
from pipeline import errors, storage
from pipeline.formats.zarr import store
from pipeline.formats.zarr.layout import grid_of


def plan(array, strict=False):
    """The direct chunk path's grid of a ``zarr.Array`` of a local store (None: zarr-python's)."""
    return grid_of(array, storage.locate(str(array.store.root)).child(array.path), strict)


def read(grid, frames, region):
    """What a series' read asks of its grid."""
    rest = [slice(0, n) for n in grid.shape[1 + len(region):]]
    return grid.read((frames, *(slice(a, b) for a, b in region), *rest))

CODECS = {
    "none": None,
    "blosc-lz4-bitshuffle": zc.BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle"),
    "blosc-zstd-shuffle": zc.BloscCodec(cname="zstd", clevel=1, shuffle="shuffle"),
    "blosc-noshuffle": zc.BloscCodec(cname="blosclz", clevel=9, shuffle="noshuffle"),
    "zstd": zc.ZstdCodec(level=3),
    "zstd-checksum": zc.ZstdCodec(level=1, checksum=True),
    "gzip": zc.GzipCodec(level=4),
}
KEYS = {"default/": {"name": "default", "separator": "/"},
        "default.": {"name": "default", "separator": "."},
        "v2.": {"name": "v2", "separator": "."}}
LAYOUTS = {"frames": ((11, 6, 7), (3, 6, 7)), "tiles": ((7, 9, 10), (2, 4, 4))}


def _create(path, shape, chunks, dtype, codec, keys, empty=True):
    return zarr.create_array(os.fspath(path), shape=shape, chunks=chunks, dtype=dtype,
                             compressors=codec, fill_value=0, chunk_key_encoding=keys,
                             config={"write_empty_chunks": empty})


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 3000, shape) * (rng.random(shape) < 0.7)).astype(dtype)


def _chunk_files(root):
    return {os.path.relpath(os.path.join(d, f), root): os.path.join(d, f)
            for d, _, files in os.walk(root) for f in files if f != "zarr.json"}


def _payload(path, gzip):
    with open(path, "rb") as fh:
        data = fh.read()
    # gzip's header holds the second it was written at (numcodecs sets no mtime), for zarr too
    return data[:4] + data[8:] if gzip else data


@pytest.mark.parametrize("dtype", ["u2", "f4", "i1"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("keys", KEYS)
@pytest.mark.parametrize("codec", CODECS)
def test_both_ways_byte_identical(tmp_path, codec, keys, layout, dtype):
    shape, chunks = LAYOUTS[layout]
    data = _data(shape, dtype)
    theirs = _create(tmp_path / "zarr.zarr", shape, chunks, dtype, CODECS[codec], KEYS[keys])
    theirs[...] = data
    ours = _create(tmp_path / "ours.zarr", shape, chunks, dtype, CODECS[codec], KEYS[keys])
    grid = plan(ours)
    assert grid is not None
    grid[tuple(slice(0, n) for n in shape)] = data
    a, b = _chunk_files(tmp_path / "zarr.zarr"), _chunk_files(tmp_path / "ours.zarr")
    assert sorted(a) == sorted(b) and len(a) == np.prod([-(-n // c) for n, c in
                                                         zip(shape, chunks)])
    for key in a:
        assert _payload(a[key], codec == "gzip") == _payload(b[key], codec == "gzip"), key
    # zarr-python reads ours, ours reads zarr-python's
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "ours.zarr")[...], data)
    theirs_grid = plan(zarr.open_array(tmp_path / "zarr.zarr"))
    region = tuple((1, n - 1) for n in shape[1:])
    np.testing.assert_array_equal(read(theirs_grid, slice(1, shape[0]), region),
                                  data[1:, 1:-1, 1:-1])
    frames = np.array([shape[0] - 1, 0, 4, 3, 4])
    np.testing.assert_array_equal(read(theirs_grid, frames, region), data[frames, 1:-1, 1:-1])


def test_empty_chunks_skipped_as_zarr_skips_them(tmp_path):
    data = np.zeros((9, 4, 4), np.uint16)
    data[4] = 7
    theirs = _create(tmp_path / "a.zarr", data.shape, (3, 4, 4), "u2", CODECS["zstd"],
                     KEYS["default/"], empty=False)
    theirs[...] = data
    ours = _create(tmp_path / "b.zarr", data.shape, (3, 4, 4), "u2", CODECS["zstd"],
                   KEYS["default/"], empty=False)
    plan(ours)[:] = np.ones_like(data)  # every chunk written, then emptied again
    plan(ours)[:] = data
    assert sorted(_chunk_files(tmp_path / "a.zarr")) == sorted(_chunk_files(tmp_path / "b.zarr"))
    assert sorted(_chunk_files(tmp_path / "b.zarr")) == ["c/1/0/0"]
    np.testing.assert_array_equal(read(plan(ours), slice(0, 9),
                                                ((0, 4), (0, 4))), data)


def test_write_refuses_a_box_that_splits_chunks(tmp_path):
    grid = plan(_create(tmp_path / "a.zarr", (9, 4, 4), (3, 4, 4), "u2", None,
                        KEYS["default/"]))
    with pytest.raises(ValueError, match="whole chunks"):
        grid[1:3, :, :] = np.zeros((2, 4, 4), np.uint16)


@pytest.mark.parametrize("make", [
    lambda p: zarr.create_array(p, shape=(8, 4, 4), chunks=(1, 4, 4), dtype="u2",
                                filters=[zc.TransposeCodec(order=(0, 2, 1))]),
    lambda p: zarr.create_array(p, shape=(8, 4, 4), chunks=(1, 4, 4), dtype=">u2",
                                serializer=zc.BytesCodec(endian="big")),
    lambda p: zarr.create_array(p, shape=(8, 4, 4), chunks=(1, 4, 4), dtype="u2",
                                zarr_format=2),
    lambda p: zarr.create_array(p, shape=(8, 4, 4), chunks=(1, 4, 4), dtype="u2",
                                compressors=[zc.LZ4()] if hasattr(zc, "LZ4") else
                                [zc.ZstdCodec(), zc.ZstdCodec()]),
], ids=["transpose", "big-endian", "format-2", "other-codecs"])
def test_unusual_arrays_are_left_to_zarr(tmp_path, make):
    arr = make(os.fspath(tmp_path / "a.zarr"))
    assert plan(arr) is None


def test_series_of_unusual_layout_reads_through_zarr(tmp_path):
    frames = _data((10, 6, 8), np.uint16)
    pipeline.write(pipeline.from_array(frames), tmp_path / "s.zarr")
    zarr.create_array(tmp_path / "s.zarr" / "0", shape=frames.shape, chunks=(2, 6, 8),
                      dtype="u2", filters=[zc.TransposeCodec(order=(0, 2, 1))],
                      overwrite=True)[...] = frames
    back = pipeline.open(tmp_path / "s.zarr")
    np.testing.assert_array_equal(back[3], frames[3])
    assert back._grid is False  # fell back, and said so once
    np.testing.assert_array_equal(np.asarray(back.process([("flip", "v")])),
                                  frames[:, :, ::-1])


SHARDED = {"end-crc": {}, "start": {"index_location": "start"},
           "no-crc": {"index_codecs": [zc.BytesCodec()]}}


@pytest.mark.parametrize("codec", ["none", "blosc-lz4-bitshuffle", "zstd"])
@pytest.mark.parametrize("index", SHARDED)
def test_sharded_arrays_read_as_zarr_reads_them(tmp_path, codec, index):
    data = _data((13, 6, 10), np.uint16, seed=4)
    data[4:6] = 0  # inner chunks of the fill value: left out of their shard
    sharding = zc.ShardingCodec(chunk_shape=(1, 3, 5), codecs=[
        zc.BytesCodec(), *([CODECS[codec]] if CODECS[codec] else [])], **SHARDED[index])
    arr = zarr.create_array(tmp_path / "a.zarr", shape=data.shape, chunks=(4, 6, 10),
                            dtype="u2", serializer=sharding, compressors=None)
    arr[...] = data
    chunk_plan = plan(arr)
    assert chunk_plan is not None and chunk_plan.shard == (4, 6, 10)
    region = ((1, 6), (2, 9))
    np.testing.assert_array_equal(read(chunk_plan, slice(0, 13), region),
                                  data[:, 1:6, 2:9])
    frames = np.array([12, 4, 0, 7])
    np.testing.assert_array_equal(read(chunk_plan, frames, ((0, 6), (0, 10))),
                                  data[frames])


def test_sharded_series_missing_shard_and_damaged_index(tmp_path):
    frames = _data((12, 8, 8), np.uint16, seed=6)
    back = pipeline.write(pipeline.from_array(frames), tmp_path / "s.zarr", chunks=(1, 8, 8),
                          shards=(4, 8, 8))
    np.testing.assert_array_equal(back[5], frames[5])
    assert back._chunk_grid.shard == (4, 8, 8)
    np.testing.assert_array_equal(np.asarray(back), frames)
    shard = tmp_path / "s.zarr" / "0" / "c" / "2" / "0" / "0"
    raw = bytearray(shard.read_bytes())
    raw[-10] ^= 0xFF  # inside the index: its checksum no longer matches
    shard.write_bytes(bytes(raw))
    with pytest.raises(errors.DamagedChunkError, match="(?i)checksum|crc"):
        pipeline.open(tmp_path / "s.zarr")[9]
    os.remove(tmp_path / "s.zarr" / "0" / "c" / "1" / "0" / "0")
    with pytest.raises(errors.NotASeriesError, match="missing"):
        pipeline.open(tmp_path / "s.zarr")[5]


@pytest.mark.parametrize("codec", ["default", "zstd", "gzip", "none"])
def test_written_series_matches_zarr_python(tmp_path, codec):
    frames = _data((37, 20, 24), np.uint16, seed=3)  # 37: an edge chunk in the frames axis
    ps = pipeline.from_array(frames).process([("flip", "v")])
    back = pipeline.write(ps, tmp_path / "s.zarr", codec=codec, chunks=(4, 20, 24))
    stored = zarr.open_array(tmp_path / "s.zarr" / "0")
    np.testing.assert_array_equal(stored[...], frames[:, :, ::-1])
    np.testing.assert_array_equal(back[36], frames[36, :, ::-1])
    assert back._chunk_grid  # the read went through chunk I/O
    np.testing.assert_array_equal(back.get_region(5, ((2, 9), (3, 20))),
                                  frames[5, 2:9, ::-1][:, 3:20])
    np.testing.assert_array_equal(np.asarray(back[[30, 2, 3]]), frames[[30, 2, 3], :, ::-1])
    np.testing.assert_array_equal(back.process([("flip", "h")]).to_dask().compute(),
                                  frames[:, ::-1, ::-1])


def _lazyseries_store(tmp_path):
    frames = _data((12, 8, 8), np.uint16, seed=5)
    pipeline.write(pipeline.from_array(frames), tmp_path / "s.zarr", chunks=(3, 8, 8))
    return frames, tmp_path / "s.zarr"


def test_missing_chunk_of_a_complete_store_raises(tmp_path):
    frames, path = _lazyseries_store(tmp_path)
    os.remove(path / "0" / "c" / "2" / "0" / "0")
    series = pipeline.open(path)
    np.testing.assert_array_equal(series[2], frames[2])
    with pytest.raises(errors.NotASeriesError, match=r"c/2/0/0.*missing"):
        series[7]
    with pytest.raises(errors.NotASeriesError, match="missing"):
        series.to_dask().compute()


def test_missing_chunk_of_a_foreign_array_is_the_fill_value(tmp_path):
    arr = zarr.create_array(tmp_path / "a.zarr", shape=(6, 4, 4), chunks=(2, 4, 4),
                            dtype="u2", fill_value=9)
    arr[:2] = 1
    series = pipeline.open(tmp_path / "a.zarr")
    np.testing.assert_array_equal(np.asarray(series), arr[...])
    assert series._chunk_grid and not series._chunk_grid.strict


def test_plan_and_series_pickle_as_recipes(tmp_path):
    frames, path = _lazyseries_store(tmp_path)
    series = pipeline.open(path)
    series[0]
    grid = series._chunk_grid
    assert "_decoder" in grid.codec.__dict__  # built by the read, and not pickled
    again = pickle.loads(pickle.dumps(grid))
    assert "_decoder" not in again.codec.__dict__ and again == grid
    np.testing.assert_array_equal(read(again, slice(4, 9), ((0, 8), (0, 8))),
                                  frames[4:9])
    copy = pickle.loads(pickle.dumps(series))
    assert copy._grid is None
    np.testing.assert_array_equal(copy[11], frames[11])


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_random_selections_read_as_zarr_reads_them(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("fuzz")
    shape = (data.draw(st.integers(1, 9)), data.draw(st.integers(1, 7)),
             data.draw(st.integers(1, 7)))
    chunks = tuple(data.draw(st.integers(1, n + 2)) for n in shape)
    arr = _create(root / "a.zarr", shape, chunks, "u2", CODECS["blosc-lz4-bitshuffle"],
                  KEYS["default/"])
    values = _data(shape, np.uint16, seed=shape[0])
    arr[...] = values
    region = tuple(sorted(data.draw(st.lists(st.integers(0, n), min_size=2, max_size=2)))
                   for n in shape[1:])
    frames = np.array(data.draw(st.lists(st.integers(0, shape[0] - 1), max_size=6)), np.intp)
    index = tuple(slice(a, b) for a, b in region)
    grid = plan(arr)
    np.testing.assert_array_equal(read(grid, frames, region),
                                  arr.oindex[(frames, *index)])
    a = data.draw(st.integers(0, shape[0]))
    np.testing.assert_array_equal(read(grid, slice(a, shape[0]), region),
                                  arr[(slice(a, shape[0]), *index)])


@pytest.mark.parametrize("shape,dtype", [((3000,), "f8"), ((700, 900), "u2"), ((5, 3, 2), "i4"),
                                         ((), "f4")])
@pytest.mark.parametrize("compressors", ["auto", CODECS["blosc-lz4-bitshuffle"]],
                         ids=["zarr-default", "blosc"])
def test_metadata_arrays_as_zarr_makes_them(tmp_path, shape, dtype, compressors):
    data = _data(shape, dtype, seed=9) if shape else np.array(2.5, dtype)
    group = zarr.open_group(tmp_path / "g.zarr", mode="w")
    group.create_array("theirs", data=data, overwrite=True, compressors=compressors)
    store.write_array(group, storage.locate(tmp_path / "g.zarr"), "ours", data, compressors)
    a, b = _chunk_files(tmp_path / "g.zarr" / "theirs"), _chunk_files(tmp_path / "g.zarr" / "ours")
    assert sorted(a) == sorted(b)
    assert all(_payload(a[k], False) == _payload(b[k], False) for k in a)
    meta = [json.loads((tmp_path / "g.zarr" / n / "zarr.json").read_text())
            for n in ("theirs", "ours")]
    assert meta[0] == meta[1]
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "g.zarr" / "ours")[...], data)


def test_frames_written_through_a_sharded_series_read_back(tmp_path):
    frames = _data((8, 6, 6), np.uint16, seed=8)
    pipeline.write(pipeline.from_array(frames), tmp_path / "s.zarr", chunks=(1, 6, 6),
                   shards=(4, 6, 6))
    series = pipeline.open(tmp_path / "s.zarr", mode="r+")
    np.testing.assert_array_equal(series[2], frames[2])  # the shard's index is now kept
    series[2] = np.full((6, 6), 77, np.uint16)  # zarr rewrites the shard: a new index
    np.testing.assert_array_equal(series[2], np.full((6, 6), 77))
    np.testing.assert_array_equal(series[3], frames[3])


def test_metadata_arrays_read_through_chunk_io_as_zarr_reads_them(tmp_path):
    rng = np.random.default_rng(7)
    meta = {"dark": rng.integers(0, 400, (300, 200)).astype(np.uint16),
            "gain": rng.random(30_000), "mask": rng.random((600, 500)) < 0.3,
            "phase": (rng.random(9000) + 1j * rng.random(9000)).astype(np.complex64)}
    pipeline.write(pipeline.from_array(np.zeros((2, 4, 4), np.uint16), meta), tmp_path / "s.zarr")
    group = zarr.open_group(tmp_path / "s.zarr" / "_arrays", mode="r")
    stored = {arr.dtype: arr[...] for _, arr in group.arrays()}
    assert len(stored) == len(meta)
    back = pipeline.open(tmp_path / "s.zarr").metadata
    for key, value in meta.items():
        assert back[key].dtype == value.dtype and back[key].shape == value.shape
        np.testing.assert_array_equal(back[key], value)
        np.testing.assert_array_equal(back[key], stored[value.dtype])


def test_uncompressed_chunk_cut_short_is_a_damaged_chunk(tmp_path):
    frames = _data((4, 8, 8), np.uint16, seed=2)
    pipeline.write(pipeline.from_array(frames), tmp_path / "s.zarr", codec="none",
                   chunks=(1, 8, 8), shards=None)
    chunk = tmp_path / "s.zarr" / "0" / "c" / "2" / "0" / "0"
    chunk.write_bytes(chunk.read_bytes()[:-6])
    series = pipeline.open(tmp_path / "s.zarr")
    np.testing.assert_array_equal(series[1], frames[1])
    for read in (lambda: series[2], lambda: np.asarray(series[1:3])):
        with pytest.raises(errors.DamagedChunkError, match="damaged") as info:
            read()
        assert isinstance(info.value, RuntimeError | errors.NotASeriesError)

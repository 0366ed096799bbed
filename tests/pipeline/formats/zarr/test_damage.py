"""Stores changed, damaged or forged under a reader: an error naming the cause, never wrong pixels.

Each case is one the second round of fault injection found returning another
frame's pixels, zeros, or a bare error from the codec: shards rewritten by
another handle, stores rewritten on a reused inode, chunks of another size,
flipped bytes, deleted chunks on URL stores, and hostile ``zarr.json`` files.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid

import fsspec
import numpy as np
import pytest
import zarr

import pipeline
from pipeline import errors


def _frames(n=12, shape=(8, 10), seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, 4000, (n, *shape), dtype=np.uint16)


def _chunk_files(root):
    return sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files
                  if f != "zarr.json")


# -- 7: an all-zero frame written into a store of plain chunks -----------------------------


def test_a_zero_frame_written_through_r_plus_is_kept_as_written(tmp_path):
    frames = _frames()
    pipeline.write(pipeline.from_array(frames), tmp_path / "s.zarr", chunks=(1, 8, 10))
    series = pipeline.open(tmp_path / "s.zarr", mode="r+")
    series[4] = np.zeros((8, 10), np.uint16)
    frames[4] = 0
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "s.zarr")), frames)
    copy = pipeline.write(pipeline.open(tmp_path / "s.zarr"), tmp_path / "copy.zarr")
    np.testing.assert_array_equal(np.asarray(copy), frames)


def test_a_zero_frame_zarr_python_left_out_reads_with_missing_fill(tmp_path):
    frames = _frames()
    pipeline.write(pipeline.from_array(frames), tmp_path / "s.zarr", chunks=(1, 8, 10))
    zarr.open_array(tmp_path / "s.zarr" / "0", mode="r+")[4] = 0  # chunk left out
    frames[4] = 0
    with pytest.raises(errors.MissingChunkError, match=r"c/4/0/0.*missing='fill'"):
        np.asarray(pipeline.open(tmp_path / "s.zarr"))
    filled = pipeline.open(tmp_path / "s.zarr", missing="fill")
    np.testing.assert_array_equal(np.asarray(filled), frames)
    copy = pipeline.write(filled, tmp_path / "copy.zarr")
    np.testing.assert_array_equal(np.asarray(copy), frames)


# -- 8: a shard rewritten by another handle --------------------------------------------------


def test_an_open_series_reads_a_shard_rewritten_by_another_handle(tmp_path):
    frames = _frames(32)
    pipeline.write(pipeline.from_array(frames), tmp_path / "s.zarr", chunks=(1, 8, 10),
                   shards=(32, 8, 10))
    reader = pipeline.open(tmp_path / "s.zarr")
    np.testing.assert_array_equal(reader[0], frames[0])  # the shard's index is now kept
    writer = pipeline.open(tmp_path / "s.zarr", mode="r+")
    writer[5] = np.full((8, 10), 7, np.uint16)  # the shard is rewritten: offsets move
    frames[5] = 7
    for j in range(32):
        np.testing.assert_array_equal(reader[j], frames[j])
    np.testing.assert_array_equal(np.asarray(reader), frames)


# -- 9: a store rewritten at the same path, on a reused inode --------------------------------


def test_a_store_rewritten_in_place_is_a_changed_store_whatever_the_inode(tmp_path):
    path = tmp_path / "s.zarr"
    pipeline.write(pipeline.from_array(_frames(seed=1)), path)
    reader = pipeline.open(path)
    reader[0]  # noqa: B018
    inode = os.stat(path).st_ino
    for attempt in range(50):  # ext4 hands a freed inode to the next directory made
        shutil.rmtree(path)
        pipeline.write(pipeline.from_array(_frames(seed=2 + attempt)), path)
        if os.stat(path).st_ino == inode:
            break
    with pytest.raises(errors.StoreChangedError):
        reader[1]


def test_a_sharded_store_replaced_under_a_reader_is_a_changed_store(tmp_path):
    path = tmp_path / "s.zarr"
    pipeline.write(pipeline.from_array(_frames(32, seed=3)), path)
    reader = pipeline.open(path)
    np.testing.assert_array_equal(reader[1], _frames(32, seed=3)[1])
    pipeline.write(pipeline.from_array(_frames(32, (4, 5), seed=4)), path, overwrite=True)
    with pytest.raises(errors.StoreChangedError):
        reader[2]


# -- 10, 12: bytes that do not decode to this chunk --------------------------------------


@pytest.mark.parametrize("checksum", [True, False])
def test_a_chunk_of_another_array_is_a_damaged_chunk_not_old_pixels(tmp_path, checksum):
    frames = _frames(4, (16, 16))
    pipeline.write(pipeline.from_array(frames), tmp_path / "a.zarr", chunks=(1, 16, 16),
                   checksum=checksum)
    pipeline.write(pipeline.from_array(_frames(4, (8, 8))), tmp_path / "b.zarr",
                   chunks=(1, 8, 8), checksum=checksum)
    small = tmp_path / "b.zarr" / "0" / "c" / "2" / "0" / "0"
    shutil.copy(small, tmp_path / "a.zarr" / "0" / "c" / "2" / "0" / "0")
    series = pipeline.open(tmp_path / "a.zarr")
    np.testing.assert_array_equal(series[1], frames[1])  # the buffer now holds frame 1
    for read in (lambda: series[2], lambda: np.asarray(series)):
        with pytest.raises(errors.DamagedChunkError, match="c/2/0/0"):
            read()


def test_a_widened_data_type_in_zarr_json_is_a_damaged_chunk(tmp_path):
    pipeline.write(pipeline.from_array(_frames(4)), tmp_path / "a.zarr", chunks=(1, 8, 10),
                   checksum=False)
    meta_path = tmp_path / "a.zarr" / "0" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["data_type"] = "uint32"
    for codec in meta["codecs"]:
        if codec["name"] == "blosc":
            codec["configuration"]["typesize"] = 4
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(errors.DamagedChunkError):
        pipeline.open(tmp_path / "a.zarr")[0]


def test_every_flipped_byte_of_a_chunk_is_an_error_naming_it(tmp_path):
    frames = _frames(2, (32, 32))
    pipeline.write(pipeline.from_array(frames), tmp_path / "a.zarr", chunks=(1, 32, 32))
    chunk = tmp_path / "a.zarr" / "0" / "c" / "1" / "0" / "0"
    good = chunk.read_bytes()
    rng = np.random.default_rng(0)
    for offset in rng.choice(np.arange(16, len(good)), size=80, replace=False):
        bad = bytearray(good)
        bad[offset] ^= 1 << int(rng.integers(8))
        chunk.write_bytes(bytes(bad))
        with pytest.raises(errors.DamagedChunkError, match="c/1/0/0"):
            pipeline.open(tmp_path / "a.zarr")[1]
    chunk.write_bytes(good[:len(good) // 2])  # cut short
    with pytest.raises(errors.DamagedChunkError, match="c/1/0/0"):
        pipeline.open(tmp_path / "a.zarr")[1]


def test_a_zero_length_shard_is_a_damaged_chunk(tmp_path):
    pipeline.write(pipeline.from_array(_frames(16)), tmp_path / "s.zarr", chunks=(1, 8, 10),
                   shards=(8, 8, 10))
    (tmp_path / "s.zarr" / "0" / "c" / "1" / "0" / "0").write_bytes(b"")
    with pytest.raises(errors.DamagedChunkError, match="c/1/0/0"):
        pipeline.open(tmp_path / "s.zarr")[9]


def test_a_shard_index_pointing_past_its_end_is_a_damaged_chunk(tmp_path):
    pipeline.write(pipeline.from_array(_frames(16)), tmp_path / "s.zarr", chunks=(1, 8, 10),
                   shards=(8, 8, 10), checksum=False)
    meta = json.loads((tmp_path / "s.zarr" / "0" / "zarr.json").read_text())
    assert meta["codecs"][0]["configuration"]["index_codecs"][-1]["name"] == "crc32c"
    shard = tmp_path / "s.zarr" / "0" / "c" / "0" / "0" / "0"
    raw = bytearray(shard.read_bytes())
    index = np.frombuffer(bytes(raw[-(16 * 8 + 4):-4]), "<u8").reshape(8, 2).copy()
    index[3, 1] = 10**6
    raw[-(16 * 8 + 4):-4] = index.tobytes()
    from pipeline.formats.zarr.codec import crc32c

    raw[-4:] = crc32c(bytes(raw[-(16 * 8 + 4):-4]))
    shard.write_bytes(bytes(raw))
    with pytest.raises(errors.DamagedChunkError, match="past its end"):
        pipeline.open(tmp_path / "s.zarr")[3]


# -- 11: URL stores are checked as local ones are -----------------------------------------


def _memory_store(layout):
    """A store in fsspec's memory file system; its URL, frames and frames array's URL."""
    url = f"memory://{uuid.uuid4().hex}/s.zarr"
    frames = _frames(16)
    pipeline.write(pipeline.from_array(frames), url, **layout)
    root = json.loads(fsspec.filesystem("memory").cat(f"{url}/zarr.json"))
    return url, frames, f"{url}/{root['attributes']['lazyseries']['array']}"


@pytest.mark.parametrize("layout", [{"chunks": (1, 8, 10)},
                                    {"chunks": (1, 8, 10), "shards": (8, 8, 10)}],
                         ids=["chunks", "shards"])
def test_a_deleted_chunk_of_a_url_store_is_missing_not_zeros(layout):
    url, frames, images = _memory_store(layout)
    fs = fsspec.filesystem("memory")
    key = "c/1/0/0" if "shards" in layout else "c/9/0/0"
    fs.rm(f"{images}/{key}")
    series = pipeline.open(url)
    np.testing.assert_array_equal(series[0], frames[0])
    with pytest.raises(errors.MissingChunkError, match=key):
        series[9]


def test_an_empty_shard_of_a_url_store_is_a_damaged_chunk():
    url, _, images = _memory_store({"chunks": (1, 8, 10), "shards": (8, 8, 10)})
    fsspec.filesystem("memory").pipe(f"{images}/c/1/0/0", b"")
    with pytest.raises(errors.DamagedChunkError, match="c/1/0/0"):
        pipeline.open(url)[9]


# -- hostile zarr.json: refused when the store opens, naming it ---------------------------


def _forge(tmp_path, change):
    pipeline.write(pipeline.from_array(_frames(4)), tmp_path / "s.zarr", chunks=(1, 8, 10),
                   shards=(2, 8, 10))
    path = tmp_path / "s.zarr" / "0" / "zarr.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))
    return tmp_path / "s.zarr"


def _sharding(meta):
    return meta["codecs"][0]["configuration"]


HOSTILE = {
    "shards-of-2**40-frames": lambda m: (m["chunk_grid"]["configuration"].update(
        chunk_shape=[2**40, 8, 10]), m.update(shape=[2**41, 8, 10])),
    "zero-size-inner-chunks": lambda m: _sharding(m).update(chunk_shape=[0, 8, 10]),
    "2**62-frames": lambda m: m.update(shape=[2**62, 8, 10]),
    "100000-squared-frames": lambda m: (m.update(shape=[4, 100000, 100000]),
                                        m["chunk_grid"]["configuration"].update(
                                            chunk_shape=[2, 100000, 100000]),
                                        _sharding(m).update(chunk_shape=[1, 100000, 100000])),
    "unknown-codec": lambda m: _sharding(m)["codecs"].__setitem__(1, {"name": "lzma-9000"}),
    "nan-fill-for-uint16": lambda m: m.update(fill_value="NaN"),
    "one-dimensional": lambda m: (m.update(shape=[4]), m["chunk_grid"]["configuration"].update(
        chunk_shape=[2]), _sharding(m).update(chunk_shape=[1])),
    "climbing-separator": lambda m: m["chunk_key_encoding"].update(
        configuration={"separator": "/../"}),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_array_document_is_not_a_series_naming_the_store(tmp_path, name):
    path = _forge(tmp_path, HOSTILE[name])
    with pytest.raises(errors.NotASeriesError) as info:
        series = pipeline.open(path)
        series[0]
        np.asarray(series[:2])
    assert "s.zarr" in str(info.value)

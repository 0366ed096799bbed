"""Sharded arrays written without zarr-python: byte for byte the shards zarr-python writes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import zarr
import zarr.codecs as zc
from zarr.core.indexing import morton_order_iter

import pipeline
from pipeline.formats.zarr.chunks import morton_order
from pipeline.formats.zarr.layout import codec_names, resolve_codec
from tests.pipeline.formats.zarr.test_chunks import plan, read

# every codec the writer offers, as it builds them (with the checksum it writes, and without)
CODECS = {**{name: resolve_codec(name) for name in codec_names()},
          **{f"{name}-no-crc": resolve_codec(name, checksum=False) for name in ("default",
                                                                                  "gzip", "none")}}
INDEX = {"end-crc": {}, "start-crc": {"index_location": "start"},
         "end-plain": {"index_codecs": [zc.BytesCodec()]}}
# (shape, inner chunks, shards): whole frames with an edge shard; tiles with edge inner chunks
LAYOUTS = {"frames": ((13, 6, 10), (1, 6, 10), (4, 6, 10)),
           "tiles": ((7, 9, 10), (2, 4, 4), (4, 8, 8))}


def _create(path, layout, codec, index, empty, dtype="u2"):
    shape, inner, shards = LAYOUTS[layout]
    compressors = CODECS[codec]
    sharding = zc.ShardingCodec(chunk_shape=inner, codecs=[zc.BytesCodec(), *compressors],
                                **INDEX[index])
    return zarr.create_array(os.fspath(path), shape=shape, chunks=shards, dtype=dtype,
                             serializer=sharding, compressors=None, fill_value=0,
                             config={"write_empty_chunks": empty})


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    data = (rng.integers(0, 3000, shape) * (rng.random(shape) < 0.7)).astype(dtype)
    data[2] = 0  # inner chunks of the fill value: left out unless empty chunks are written
    return data


def _shards(root):
    return {os.path.relpath(os.path.join(d, f), root): os.path.join(d, f)
            for d, _, files in os.walk(root) for f in files if f != "zarr.json"}


def _parts(path, plan):
    """A shard's index and its inner chunks' bytes (gzip's header time masked, as zarr's is)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    size = 16 * int(np.prod(plan.per_shard)) + 4 * plan.index_crc
    index_bytes = raw[-size:] if plan.index_at_end else raw[:size]
    index = np.frombuffer(index_bytes[:16 * int(np.prod(plan.per_shard))], "<u8").reshape(-1, 2)
    gzip = (plan.codec.compressor or {}).get("name") == "gzip"
    chunks = [raw[o:o + n] for o, n in index.tolist() if o != 2**64 - 1]
    # gzip's header holds the second it was written at; a checksum after it covers that too
    end = -4 if plan.codec.crc else None
    return index_bytes, [c[:4] + c[8:end] if gzip else c for c in chunks]


@pytest.mark.parametrize("empty", [True, False], ids=["empty-written", "empty-skipped"])
@pytest.mark.parametrize("index", INDEX)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("codec", CODECS)
def test_shards_byte_identical_both_ways(tmp_path, codec, layout, index, empty):
    shape = LAYOUTS[layout][0]
    data = _data(shape, "u2")
    theirs = _create(tmp_path / "zarr.zarr", layout, codec, index, empty)
    theirs[...] = data
    ours = _create(tmp_path / "ours.zarr", layout, codec, index, empty)
    grid = plan(ours)
    assert grid is not None and grid.shard is not None
    grid[...] = np.ones_like(data)  # written, then rewritten: each shard replaced whole
    grid[...] = data
    a, b = _shards(tmp_path / "zarr.zarr"), _shards(tmp_path / "ours.zarr")
    assert sorted(a) == sorted(b) and a
    for key in a:
        assert _parts(a[key], grid) == _parts(b[key], grid), key
        if not codec.startswith("gzip"):
            with open(a[key], "rb") as fa, open(b[key], "rb") as fb:
                assert fa.read() == fb.read(), key
    # zarr-python reads ours; ours reads zarr-python's
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "ours.zarr")[...], data)
    theirs_grid = plan(zarr.open_array(tmp_path / "zarr.zarr"))
    np.testing.assert_array_equal(read(theirs_grid, slice(0, shape[0]),
                                       tuple((0, n) for n in shape[1:])), data)
    region = tuple((1, n - 1) for n in shape[1:])
    frames = np.array([shape[0] - 1, 0, 2, 5, 2])
    np.testing.assert_array_equal(read(theirs_grid, frames, region), data[frames, 1:-1, 1:-1])
    for j in (0, 2, shape[0] - 1):
        np.testing.assert_array_equal(theirs_grid.read_frame(j)[0], data[j])


def test_a_shard_all_fill_is_removed_as_zarr_removes_it(tmp_path):
    data = np.zeros((13, 6, 10), np.uint16)
    data[9] = 3
    ours = _create(tmp_path / "ours.zarr", "frames", "zstd", "end-crc", empty=False)
    grid = plan(ours)
    grid[...] = np.ones_like(data)
    grid[...] = data
    assert sorted(_shards(tmp_path / "ours.zarr")) == ["c/2/0/0"]
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "ours.zarr")[...], data)


def test_writes_cover_whole_shards(tmp_path):
    grid = plan(_create(tmp_path / "a.zarr", "frames", "none", "end-crc", True))
    with pytest.raises(ValueError, match="whole chunks"):
        grid[1:4] = np.zeros((3, 6, 10), np.uint16)
    grid[12:13] = np.full((1, 6, 10), 5, np.uint16)  # the edge shard's frames: to the end
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "a.zarr")[12], 5)


@pytest.mark.parametrize("grid", [(4, 1, 1), (5, 3, 1), (2, 4, 4), (1, 7, 3), (3, 3, 3), (1,)])
def test_morton_order_is_zarrs(grid):
    assert [tuple(map(int, c)) for c in morton_order(grid)] == \
        list(morton_order_iter(grid))


def test_damaged_index_is_refused(tmp_path):
    frames = _data((12, 8, 8), np.uint16, seed=6)
    pipeline.write(pipeline.from_array(frames), tmp_path / "s.zarr", chunks=(1, 8, 8),
                   shards=(4, 8, 8))
    shard = tmp_path / "s.zarr" / "0" / "c" / "1" / "0" / "0"
    raw = bytearray(shard.read_bytes())
    raw[-10] ^= 0xFF
    shard.write_bytes(bytes(raw))
    series = pipeline.open(tmp_path / "s.zarr")
    for read in (lambda: series[5], lambda: np.asarray(series[4:8])):
        with pytest.raises(pipeline.errors.DamagedChunkError, match="checksum"):
            read()
    np.testing.assert_array_equal(series[9], frames[9])


WRITER = """
import sys, time
import numpy as np
import pipeline
from pipeline.persist.faults import phase

data = np.load(sys.argv[2])
def frame(j):
    if j == 70:
        phase("chunks")  # paused here (LAZYSERIES_PAUSE_AT), then killed
    return data[j]
pipeline.write(pipeline.from_function(frame, len(data), shape=data.shape[1:], dtype=data.dtype),
               sys.argv[1])
"""


@pytest.mark.slow
def test_killed_sharded_write_opens_incomplete_and_a_rerun_finishes_it(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    frames = _data((96, 256, 256), np.uint16, seed=11)  # default layout: 3 shards of 32 frames
    np.save(tmp_path / "frames.npy", frames)
    target, marker = tmp_path / "t.zarr", tmp_path / "paused"
    env = {**os.environ, "LAZYSERIES_PAUSE_AT": "chunks", "LAZYSERIES_PAUSE_FILE": str(marker),
           "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(),
                                                       os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target),
                             str(tmp_path / "frames.npy")], env=env)
    try:
        end = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < end, "the writer did not pause"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with pytest.raises(pipeline.errors.IncompleteStoreError):
        pipeline.open(target)
    back = pipeline.write(pipeline.from_array(frames), target)
    assert back.zarr_array.shards == (32, 256, 256)
    np.testing.assert_array_equal(np.asarray(back), frames)
    reference = pipeline.write(pipeline.from_array(frames), tmp_path / "ref.zarr")
    a, b = _shards(target / "0"), _shards(reference.path + "/0")
    assert sorted(a) == sorted(b) == ["c/0/0/0", "c/1/0/0", "c/2/0/0"]
    for key in a:
        with open(a[key], "rb") as fa, open(b[key], "rb") as fb:
            assert fa.read() == fb.read(), key
    np.testing.assert_array_equal(zarr.open_array(target / "0")[...], frames)


GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "golden", "v1-sharded")


@pytest.mark.parametrize("name", ["raw.zarr", "processed.zarr", "shards.zarr"])
def test_golden_sharded_stores_are_what_zarr_python_reads_and_writes(tmp_path, name):
    import shutil

    path = os.path.join(GOLDEN, name)
    theirs = zarr.open_array(os.path.join(path, "images"), mode="r")
    assert theirs.shards is not None and theirs.chunks == (1, *theirs.shape[1:])
    series = pipeline.open(path)
    np.testing.assert_array_equal(np.asarray(series), theirs[...])
    for j in range(len(series)):
        np.testing.assert_array_equal(series[j], theirs[j])
    assert series._chunk_grid.shard is not None
    # zarr-python writing the same frames into the same array metadata: the same shards
    copy = tmp_path / "copy"
    os.makedirs(copy)
    shutil.copy(os.path.join(path, "images", "zarr.json"), copy / "zarr.json")
    again = zarr.open_array(copy, mode="r+")
    again[...] = theirs[...]
    a, b = _shards(os.path.join(path, "images")), _shards(copy)
    assert sorted(a) == sorted(b)
    for key in a:
        with open(a[key], "rb") as fa, open(b[key], "rb") as fb:
            assert fa.read() == fb.read(), key


@pytest.mark.slow
def test_sharded_write_on_a_cluster_writes_whole_shards(tmp_path):
    distributed = pytest.importorskip("distributed")
    frames = _data((100, 64, 96), np.uint16, seed=12)
    series = pipeline.from_array(frames).process([("flip", "v")])
    local = pipeline.write(series, tmp_path / "local.zarr", chunks=(1, 64, 96),
                           shards=(16, 64, 96))
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                  dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as ts:
            back = pipeline.write(series, tmp_path / "cluster.zarr", chunks=(1, 64, 96),
                                  shards=(16, 64, 96))
        workers = {t["worker"] for t in ts.data}
        assert workers and workers <= set(client.scheduler_info()["workers"])
    np.testing.assert_array_equal(np.asarray(back), frames[:, :, ::-1])
    a, b = _shards(local.path + "/0"), _shards(back.path + "/0")
    assert sorted(a) == sorted(b) and len(a) == 7  # 6 whole shards and an edge shard
    for key in a:  # each shard written whole by one task: the same bytes as a local write
        with open(a[key], "rb") as fa, open(b[key], "rb") as fb:
            assert fa.read() == fb.read(), key

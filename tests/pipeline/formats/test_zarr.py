"""Zarr persistence: round trips, provenance, codecs, layouts, safety, opening bad stores."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import zarr

import pipeline
from pipeline import errors
from pipeline.series import ImageSeries

SHAPE = (12, 16)


@pytest.fixture
def frames():
    return np.random.default_rng(21).integers(0, 4000, (9, *SHAPE), dtype=np.uint16)


def _same(path, frames):
    back = pipeline.open(path)
    assert len(back) == len(frames) and back.dtype == frames.dtype
    np.testing.assert_array_equal(np.asarray(back), frames)
    return back


# -- round trips ----------------------------------------------------------------------


def test_write_reopen_with_metadata(tmp_path, frames):
    big = np.random.default_rng(0).normal(size=(100, 100))  # 80 kB: stored as its own array
    assert big.nbytes > 64 * 1024
    meta = {
        "omega": np.arange(18.0).reshape(9, 2),
        "mask": np.array([[True, False], [False, True]]),
        "counts": np.arange(5, dtype=np.int32),
        "big": big,
        "name": "scan 7",
        "n": 3,
        "gain": 1.5,
        "bad": float("nan"),
        "limits": [float("inf"), -float("inf")],
        "nested": {"a": {"b": [1, "two", None, {"c": np.float32(2.5)}]}, "empty": {}},
        "nothing": None,
        "flag": True,
    }
    out = pipeline.write(pipeline.from_array(frames, metadata=meta), tmp_path / "a.zarr")
    assert isinstance(out, ImageSeries)
    back = _same(tmp_path / "a.zarr", frames)
    got = back.metadata
    assert set(got) == set(meta)
    for key in ("omega", "mask", "counts", "big"):
        assert isinstance(got[key], np.ndarray)
        assert got[key].dtype == meta[key].dtype and got[key].shape == meta[key].shape
        np.testing.assert_array_equal(got[key], meta[key])
    assert got["name"] == "scan 7" and got["n"] == 3 and got["gain"] == 1.5
    assert np.isnan(got["bad"]) and got["limits"] == [np.inf, -np.inf]
    assert got["nested"] == {"a": {"b": [1, "two", None, {"c": 2.5}]}, "empty": {}}
    assert got["nothing"] is None and got["flag"] is True


def test_processed_series_round_trip_and_provenance(tmp_path, frames):
    dark = np.full(SHAPE, 100, np.uint16)
    src = pipeline.write(pipeline.from_array(frames), tmp_path / "raw.zarr")
    ps = src.process([("dark", dark), ("flip", "v"), ("rectangle", ((1, 10), (2, 14)))],
                     frame_list=[0, 2, 4])
    pipeline.write(ps, tmp_path / "out.zarr")
    back = _same(tmp_path / "out.zarr", np.stack([ps[j] for j in range(3)]))
    prov = back.provenance
    assert prov["source"] == {"format": "zarr", "path": os.fspath(tmp_path / "raw.zarr")}
    assert prov["frame_list"] == [0, 2, 4]
    assert [op["name"] for op in prov["ops"]] == ["dark", "flip", "rectangle"]
    np.testing.assert_array_equal(prov["ops"][0]["param"], dark)
    assert prov["ops"][0]["param"].dtype == np.uint16
    assert prov["ops"][1]["param"] == "v"
    import ops

    rebuilt = [ops.Op.from_config(c) for c in prov["ops"]]
    assert tuple(rebuilt) == ps.chain


def test_provenance_of_a_foreign_store(tmp_path, frames):
    zarr.create_array(tmp_path / "plain.zarr", data=frames)
    assert pipeline.open(tmp_path / "plain.zarr").provenance is None


@pytest.mark.filterwarnings("ignore:Numcodecs codecs are not in the Zarr")
@pytest.mark.parametrize("codec", [
    "default", "none", None, "blosc-lz4", "zstd", "compact",
    pytest.param("bloscodec", id="zarr-BloscCodec"),
    pytest.param("numcodecs-zstd", id="numcodecs-Zstd"),
    pytest.param("numcodecs-lz4", id="numcodecs-LZ4"),
])
def test_codecs(tmp_path, frames, codec):
    import numcodecs

    if codec == "bloscodec":
        codec = zarr.codecs.BloscCodec(cname="lz4", clevel=1)
    elif codec == "numcodecs-zstd":
        codec = numcodecs.Zstd(level=1)
    elif codec == "numcodecs-lz4":
        codec = numcodecs.LZ4()
    pipeline.write(pipeline.from_array(frames), tmp_path / "c.zarr", codec=codec)
    back = _same(tmp_path / "c.zarr", frames)
    compressors = back.zarr_array.compressors
    # every chunk carries zarr's crc32c checksum after its compressor
    assert type(compressors[-1]).__name__ == "Crc32cCodec"
    assert len(compressors) == (1 if codec in ("none", None) else 2)


@pytest.mark.parametrize(("given", "spec"), [
    ("zstd", "ZstdCodec"), ("blosc", "BloscCodec"), ("gzip", "GzipCodec"),
])
def test_numcodecs_codecs_become_spec_codecs(tmp_path, frames, given, spec):
    """numcodecs' Zstd, Blosc and GZip are written as the Zarr 3 spec's own codecs."""
    import warnings

    import numcodecs

    codec = {"zstd": numcodecs.Zstd(level=2), "gzip": numcodecs.GZip(level=2),
             "blosc": numcodecs.Blosc(cname="zstd", clevel=2, shuffle=numcodecs.Blosc.BITSHUFFLE)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not in the Zarr 3 specification" warning
        pipeline.write(pipeline.from_array(frames), tmp_path / "c.zarr", codec=codec[given])
    back = _same(tmp_path / "c.zarr", frames)
    compressor, checksum = back.zarr_array.compressors
    assert type(compressor).__name__ == spec and type(checksum).__name__ == "Crc32cCodec"


def test_bad_codec_name_creates_nothing(tmp_path, frames):
    with pytest.raises(ValueError, match="'lzma9'") as info:
        pipeline.write(pipeline.from_array(frames), tmp_path / "bad.zarr", codec="lzma9")
    assert "blosc-lz4" in str(info.value)
    assert not os.path.exists(tmp_path / "bad.zarr")


def test_unstorable_metadata_creates_nothing(tmp_path, frames):
    with pytest.raises(TypeError, match="when"):
        pipeline.write(pipeline.from_array(frames, metadata={"when": object()}),
                       tmp_path / "bad.zarr")
    assert not os.path.exists(tmp_path / "bad.zarr")


class _Recording(ImageSeries):
    """Frames from an array, recording which frames each read asked for."""

    def __init__(self, data):
        self.data, self.reads = data, []

    def __len__(self):
        return len(self.data)

    shape = property(lambda self: self.data.shape[1:])
    dtype = property(lambda self: self.data.dtype)

    def read(self, frames, region):
        self.reads.append((frames.start, frames.stop) if isinstance(frames, slice)
                          else tuple(frames))
        return self.data[frames][(slice(None), *(slice(a, b) for a, b in region))]


@pytest.mark.parametrize(("chunks", "shards", "step"), [
    ((1, *SHAPE), None, 1),
    ((2, 6, 8), None, 2),
    ((1, *SHAPE), (3, *SHAPE), 3),
    (2, 2, 4),
])
def test_chunks_and_shards(tmp_path, frames, chunks, shards, step):
    series = _Recording(frames)
    pipeline.write(series, tmp_path / "l.zarr", chunks=chunks, shards=shards)
    back = _same(tmp_path / "l.zarr", frames)
    arr = back.zarr_array
    full_chunks = (chunks, *SHAPE) if isinstance(chunks, int) else chunks
    assert arr.chunks == full_chunks
    if shards is None:
        assert arr.shards is None
    else:
        assert arr.shards[0] == step
    assert back.frame_chunk == step
    # each writing task covers whole shards (or chunks): no two tasks share one
    spans = sorted(series.reads)
    assert spans[0][0] == 0 and spans[-1][1] == 9
    assert all(stop == start for (_, stop), (start, _) in zip(spans, spans[1:]))
    assert all(start % step == 0 for start, _ in spans)


def test_default_layout_batches_small_frames(tmp_path, frames):
    series = _Recording(frames)
    back = pipeline.write(series, tmp_path / "d.zarr")
    arr = back.zarr_array
    assert arr.chunks[1:] == SHAPE  # whole frames per chunk
    if arr.shards is not None:
        assert arr.shards[1:] == SHAPE and arr.shards[0] % arr.chunks[0] == 0
    step = (arr.shards or arr.chunks)[0]
    assert back.frame_chunk == step
    assert sorted(series.reads) == [(a, min(a + step, 9)) for a in range(0, 9, step)]


# -- safety ---------------------------------------------------------------------------


def test_existing_path_is_refused_and_left_intact(tmp_path, frames):
    path = tmp_path / "x.zarr"
    pipeline.write(pipeline.from_array(frames), path)
    other = pipeline.from_array(frames[::-1].copy())
    with pytest.raises(errors.StoreExistsError, match="overwrite=True") as info:
        pipeline.write(other, path)
    assert isinstance(info.value, FileExistsError) and "x.zarr" in str(info.value)
    _same(path, frames)
    pipeline.write(other, path, overwrite=True)
    _same(path, frames[::-1])


def test_existing_file_is_refused(tmp_path, frames):
    path = tmp_path / "notes.zarr"
    path.write_text("keep me")
    with pytest.raises(FileExistsError):
        pipeline.write(pipeline.from_array(frames), path)
    assert path.read_text() == "keep me"


def test_write_over_own_source_is_refused(tmp_path, frames):
    path = tmp_path / "src.zarr"
    src = pipeline.write(pipeline.from_array(frames), path)
    ps = src.process([("flip", "v")])
    for overwrite in (False, True):
        with pytest.raises(errors.SourceTargetError, match="source"):
            pipeline.write(ps, path, overwrite=overwrite)
    _same(path, frames)


KILLED_WRITE = textwrap.dedent("""
    import os, sys, dask, numpy as np, pipeline

    def frame(j):
        if j == {kill_at} and {kill}:
            sys.stdout.flush()
            os._exit(1)
        return np.full({shape}, j, np.uint16)

    series = pipeline.from_function(frame, {n}, shape={shape}, dtype=np.uint16)
    with dask.config.set(scheduler="synchronous"):
        pipeline.write(series, sys.argv[1], chunks=(1, *{shape}), shards=None)
""")


def test_killed_write_is_incomplete_and_a_repeated_write_finishes_it(tmp_path):
    n, shape, path = 40, (64, 64), tmp_path / "killed.zarr"
    script = KILLED_WRITE.format(kill_at=25, kill=True, shape=shape, n=n)
    proc = subprocess.run([sys.executable, "-c", script, os.fspath(path)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert os.path.isdir(path)
    with pytest.raises(errors.IncompleteStoreError, match="incomplete"):
        pipeline.open(path)
    with pytest.raises(errors.IncompleteStoreError):
        pipeline.open(path, format="zarr")

    def frame(j):
        return np.full(shape, j, np.uint16)

    series = pipeline.from_function(frame, n, shape=shape, dtype=np.uint16)
    pipeline.write(series, path, chunks=(1, *shape), shards=None)
    back = pipeline.open(path)
    assert len(back) == n
    np.testing.assert_array_equal(np.asarray(back), np.asarray(series))


def test_incomplete_store_of_other_frames_is_not_resumed(tmp_path, frames):
    path = tmp_path / "inc.zarr"
    pipeline.write(pipeline.from_array(frames), path)
    group = zarr.open_group(path, mode="r+")
    record = dict(group.attrs["lazyseries"])
    record["complete"] = False
    group.attrs["lazyseries"] = record
    with pytest.raises(errors.StoreExistsError):
        pipeline.write(pipeline.from_array(frames[:3]), path)


# -- opening --------------------------------------------------------------------------


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.zarr"):
        pipeline.open(tmp_path / "nothing.zarr")
    with pytest.raises(FileNotFoundError):
        pipeline.open(tmp_path / "nothing.zarr", format="zarr")


def test_unknown_format(tmp_path, frames):
    pipeline.write(pipeline.from_array(frames), tmp_path / "f.zarr")
    with pytest.raises(errors.UnknownFormatError, match="'jpeg2000'") as info:
        pipeline.open(tmp_path / "f.zarr", format="jpeg2000")
    assert "zarr" in str(info.value) and "array" in str(info.value)
    assert isinstance(info.value, ValueError)


def _empty_dir(tmp_path):
    os.mkdir(tmp_path / "e.zarr")
    return tmp_path / "e.zarr"


def _corrupt_json(tmp_path):
    path = tmp_path / "c.zarr"
    os.mkdir(path)
    (path / "zarr.json").write_bytes(b"\x00\xff garbage {{{")
    return path


def _group_without_frames(tmp_path):
    path = tmp_path / "g.zarr"
    group = zarr.open_group(path, mode="w")
    group.create_array("line", data=np.arange(10))
    group.attrs["x"] = 1
    return path


def _json_not_zarr(tmp_path):
    path = tmp_path / "j.zarr"
    os.mkdir(path)
    (path / "zarr.json").write_text('{"hello": "world"}')
    return path


def _one_d_array(tmp_path):
    path = tmp_path / "a.zarr"
    zarr.create_array(path, data=np.arange(10))
    return path


@pytest.mark.parametrize("make", [_empty_dir, _corrupt_json, _group_without_frames,
                                  _json_not_zarr, _one_d_array])
@pytest.mark.parametrize("fmt", [None, "zarr"])
def test_not_a_series(tmp_path, make, fmt):
    path = make(tmp_path)
    if make is _empty_dir and fmt is None:
        # nothing there for any reader to recognise: detection says which it tried
        with pytest.raises(errors.UnknownFormatError, match="format="):
            pipeline.open(path)
        return
    with pytest.raises(errors.NotASeriesError) as info:
        pipeline.open(path, format=fmt)
    assert isinstance(info.value, ValueError)
    assert os.fspath(path) in str(info.value)


def test_zarr_format_2_is_readable(tmp_path, frames):
    zarr.create_array(tmp_path / "v2.zarr", shape=frames.shape, dtype=frames.dtype,
                      chunks=(2, *SHAPE), zarr_format=2)[...] = frames
    _same(tmp_path / "v2.zarr", frames)
    group = zarr.open_group(tmp_path / "g2.zarr", mode="w", zarr_format=2)
    group.create_array("images", shape=frames.shape, dtype=frames.dtype)[...] = frames
    group.attrs["energy"] = 71.6
    back = _same(tmp_path / "g2.zarr", frames)
    assert back.metadata["energy"] == 71.6


def test_plain_array_opens(tmp_path, frames):
    arr = zarr.create_array(tmp_path / "p.zarr", data=frames, chunks=(3, *SHAPE))
    arr.attrs["units"] = "counts"
    back = _same(tmp_path / "p.zarr", frames)
    assert back.metadata["units"] == "counts" and back.frame_chunk == 3
    np.testing.assert_array_equal(back.get_region(4, ((2, 5), (3, 9))), frames[4, 2:5, 3:9])


def test_named_array_in_a_group(tmp_path, frames):
    group = zarr.open_group(tmp_path / "two.zarr", mode="w")
    group.create_array("a", data=frames)
    group.create_array("b", data=frames[::-1].copy())
    with pytest.raises(errors.NotASeriesError, match="array="):
        pipeline.open(tmp_path / "two.zarr")
    chosen = pipeline.open(tmp_path / "two.zarr", array="b")
    np.testing.assert_array_equal(np.asarray(chosen), frames[::-1])


def test_read_write_mode(tmp_path, frames):
    path = tmp_path / "rw.zarr"
    pipeline.write(pipeline.from_array(frames), path)
    ro = pipeline.open(path)
    with pytest.raises(errors.ReadOnlyError, match="r\\+"):
        ro[2, 3, 4] = 7
    assert isinstance(errors.ReadOnlyError("x"), PermissionError)
    rw = pipeline.open(path, mode="r+")
    rw[2, 3, 4] = 7
    rw[-1, 0:2, 0:3] = 9
    expected = frames.copy()
    expected[2, 3, 4] = 7
    expected[-1, 0:2, 0:3] = 9
    _same(path, expected)

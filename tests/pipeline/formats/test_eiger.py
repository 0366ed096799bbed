"""Eiger stream files (v1 and v2), written here the way the Dectris stream writer stores them."""

from __future__ import annotations

import io
import pickle
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import pipeline
from pipeline.errors import NotASeriesError, SeriesOptionError, UnsupportedCompressionError
from pipeline.formats import eiger, eiger_stream_v1, eiger_stream_v2
from pipeline.testing import SeriesConformance
from tests.pipeline.formats._data import frames

h5py = pytest.importorskip("h5py")
hdf5plugin = pytest.importorskip("hdf5plugin")
pytest.importorskip("dectris.compression")

START = {"series_unique_id": "scan-0007", "count_time": 0.25,
         "threshold_energy": {"threshold_1": 6000.0, "threshold_2": 9000.0}}


def _chunk_bytes(frame: np.ndarray, compression) -> bytes:
    """``frame`` encoded by an HDF5 filter, as the one chunk the detector sends (HDF5 framing)."""
    with h5py.File(io.BytesIO(), "w") as f:
        ds = f.create_dataset("x", data=frame, chunks=frame.shape, **compression)
        return ds.id.read_direct_chunk((0,) * frame.ndim)[1]


def _csrnpz(frame: np.ndarray) -> bytes:
    from scipy.sparse import csr_matrix, save_npz

    buf = io.BytesIO()
    buf.write(frame.nbytes.to_bytes(8, "big"))  # the stream's 8-byte size, then the NPZ
    save_npz(buf, csr_matrix(frame))
    return buf.getvalue()


def _lz4_blocks(frame: np.ndarray, block: int = 1024) -> bytes:
    """LZ4 in the HDF5 framing, built with the lz4 package: total size, block size, blocks.

    As the HDF5 LZ4 filter, a block that does not shrink is stored as it is.
    """
    import lz4.block

    raw = frame.tobytes()
    out = [len(raw).to_bytes(8, "big"), block.to_bytes(4, "big")]
    for start in range(0, len(raw), block):
        piece = raw[start:start + block]
        packed = lz4.block.compress(piece, store_size=False)
        packed = piece if len(packed) >= len(piece) else packed
        out += [len(packed).to_bytes(4, "big"), packed]
    return b"".join(out)


def encode(frame: np.ndarray, encoding: str | None) -> bytes:
    if encoding == "bslz4":
        return _chunk_bytes(frame, hdf5plugin.Bitshuffle(cname="lz4"))
    if encoding == "bszstd":
        return _chunk_bytes(frame, hdf5plugin.Bitshuffle(cname="zstd"))
    if encoding == "lz4":
        return _chunk_bytes(frame, hdf5plugin.LZ4(nbytes=4096))  # several LZ4 blocks
    if encoding == "lz4-by-hand":
        return _lz4_blocks(frame)
    if encoding == "csrnpz":
        return _csrnpz(frame)
    return frame.tobytes()


def put_frame(group, frame: np.ndarray, encoding: str | None) -> None:
    if encoding is not None:
        group.create_dataset("compression_type", data=encoding)
    group.create_dataset("dtype", data=frame.dtype.str)
    group.create_dataset("shape", data=frame.shape)
    group.create_dataset("elem_size", data=frame.dtype.itemsize)
    group.create_dataset("data", data=np.void(encode(frame, encoding)))


def put_meta(group, d: dict) -> None:
    for key, value in d.items():
        if isinstance(value, dict):
            put_meta(group.create_group(key), value)
        else:
            group.create_dataset(key, data=value)


def write_v1(path, data: np.ndarray, encoding: str | None = "bslz4", meta=START):
    with h5py.File(path, "w") as f:
        for j, frame in enumerate(data):
            put_frame(f.create_group(f"data/{j}"), frame, encoding)
        put_meta(f.create_group("metadata/start"), meta)
    return path


def write_v2(path, t1: np.ndarray, t2: np.ndarray, encoding: str | None = "bslz4"):
    with h5py.File(path, "w") as f:
        for j in range(len(t1)):
            put_frame(f.create_group(f"data/{j}/threshold_1"), t1[j], encoding)
            put_frame(f.create_group(f"data/{j}/threshold_2"), t2[j], encoding)
        put_meta(f.create_group("metadata/start"), START)
        put_meta(f.create_group("metadata/output_metadata"), {"compression": encoding or "none"})
    return path


def two_thresholds(n=5, shape=(24, 18)):
    t1 = frames(n, shape, "uint32")
    return t1, (t1 // 3 + 7).astype("uint32")


class TestEigerStreamV1(SeriesConformance):
    def make(self, tmp_path):
        data = frames(6, (20, 30), "uint16")
        s = pipeline.open(write_v1(tmp_path / "v1.h5", data), "eiger-stream-v1")
        return s, data, {"start": START}


class TestEigerStreamV2(SeriesConformance):
    def make(self, tmp_path):
        t1, t2 = two_thresholds()
        s = pipeline.open(write_v2(tmp_path / "v2.h5", t1, t2, "lz4"), "eiger-stream-v2")
        return s, t1, {"start": START}


@pytest.mark.parametrize("encoding", [None, "lz4", "lz4-by-hand", "bslz4", "bszstd", "csrnpz"])
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "int32", "float32"])
def test_every_encoding_decodes_to_the_raw_frame(encoding, dtype):
    frame = frames(1, (33, 47), dtype)[0]
    frame[frame < 2000] = 0
    payload = encode(frame, encoding)
    encoding = "lz4" if encoding == "lz4-by-hand" else encoding
    d = {"compression_type": encoding, "dtype": frame.dtype.str, "shape": frame.shape,
         "elem_size": frame.dtype.itemsize, "data": np.void(payload)}
    got = eiger.decompress_frame(d)
    assert got.dtype == frame.dtype and got.shape == frame.shape
    np.testing.assert_array_equal(got, frame)


@pytest.mark.parametrize("encoding", [None, "lz4", "bslz4", "csrnpz"])
def test_v1_file_frames_equal_the_raw_arrays(tmp_path, encoding):
    data = frames(4, (40, 16), "uint32")
    s = pipeline.open(write_v1(tmp_path / "a.h5", data, encoding), "eiger-stream-v1")
    np.testing.assert_array_equal(np.asarray(s), data)
    np.testing.assert_array_equal(s.to_dask().compute(), data)


def test_unknown_encoding_is_named_with_the_known_ones():
    d = {"compression_type": "zfp", "dtype": "<u2", "shape": (2, 2), "elem_size": 2,
         "data": np.void(b"\0" * 8)}
    with pytest.raises(UnsupportedCompressionError, match="Unsupported compression type: zfp.*bslz4"):
        eiger.decompress_frame(d)
    assert issubclass(UnsupportedCompressionError, ValueError)


def test_open_reads_only_the_header_and_each_read_decodes_one_frame(tmp_path):
    data = frames(3, (10, 12), "uint16")
    path = write_v1(tmp_path / "c.h5", data)
    with h5py.File(path, "r+") as f:  # frame 1's bytes are garbage: only a read of it may fail
        del f["data/1/data"]
        f["data/1/data"] = np.void(b"\x00\x00\x00\x00\x00\x00\x01\x00garbage!")
    s = pipeline.open(path, "eiger-stream-v1")
    assert (len(s), s.shape, s.dtype) == (3, (10, 12), np.dtype("uint16"))
    np.testing.assert_array_equal(s[2], data[2])
    with pytest.raises(NotASeriesError, match="frame 1 cannot be decoded"):
        s[1]


def test_a_missing_frame_entry_is_named(tmp_path):
    path = write_v1(tmp_path / "gap.h5", frames(3, (8, 8)))
    with h5py.File(path, "r+") as f:
        f.move("data/2", "data/7")
    s = pipeline.open(path, "eiger-stream-v1")
    with pytest.raises(NotASeriesError, match="no frame '2'"):
        s[2]


def test_formats_are_detected_and_plain_hdf5_declines(tmp_path):
    t1, t2 = two_thresholds(2)
    v1 = pipeline.open(write_v1(tmp_path / "one.h5", t1))
    v2 = pipeline.open(write_v2(tmp_path / "two.h5", t1, t2))
    assert isinstance(v1, eiger_stream_v1.EigerStreamV1Series)
    assert isinstance(v2, eiger_stream_v2.EigerStreamV2Series)
    with pytest.raises(pipeline.errors.NotMyFormat, match="not an Eiger stream v1"):
        eiger_stream_v1.open(tmp_path / "two.h5")


def test_v1_has_no_options(tmp_path):
    s = eiger_stream_v1.open(write_v1(tmp_path / "o.h5", frames(1, (4, 4))))
    assert s.option_values() == {}
    with pytest.raises(SeriesOptionError, match="'threshold_setting'"):
        s.set_option("threshold_setting", "threshold_2")
    with pytest.raises(SeriesOptionError, match="takes no options"):
        eiger_stream_v1.open(tmp_path / "o.h5", threshold_setting="threshold_1")


def test_an_open_h5py_file_is_used(tmp_path):
    data = frames(2, (6, 9))
    with h5py.File(write_v1(tmp_path / "f.h5", data), "r") as f:
        s = eiger_stream_v1.open(f)
        np.testing.assert_array_equal(s[1], data[1])
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(s))[0], data[0])


def test_v2_thresholds_switched_at_run_time_as_hexrd(tmp_path):
    t1, t2 = two_thresholds()
    ims = pipeline.open(write_v2(tmp_path / "v2.h5", t1, t2), "eiger-stream-v2")
    assert ims.metadata["output_metadata"] == {"compression": "bslz4"}
    assert ims.option_values() == {"threshold_setting": "threshold_1", "multiplier": 1.0}
    np.testing.assert_array_equal(ims[0], t1[0])
    ims.set_option("threshold_setting", "threshold_2")
    assert ims.dtype == np.uint32
    np.testing.assert_array_equal(ims[3], t2[3])
    ims.set_option("threshold_setting", "man_diff")
    ims.set_option("multiplier", 0.75)
    assert ims.option_values() == {"threshold_setting": "man_diff", "multiplier": 0.75}
    assert ims.dtype == np.float64
    want = t1.astype(np.float64) - 0.75 * t2
    np.testing.assert_array_equal(ims[2], want[2])
    np.testing.assert_array_equal(ims.to_dask().compute(), want)
    again = pickle.loads(pickle.dumps(ims))  # a recipe: path and options
    assert again.option_values() == ims.option_values()
    np.testing.assert_array_equal(again[4], want[4])


def test_v2_options_as_open_keywords_and_with_options(tmp_path):
    t1, t2 = two_thresholds(3)
    path = write_v2(tmp_path / "v2.h5", t1, t2, "csrnpz")
    two = pipeline.open(path, "eiger-stream-v2", threshold_setting="threshold_2")
    np.testing.assert_array_equal(np.asarray(two), t2)
    diff = two.with_options(threshold_setting="man_diff", multiplier=2)
    assert two.threshold_setting == "threshold_2"
    np.testing.assert_array_equal(np.asarray(diff), t1 - 2.0 * t2)
    assert diff.to_dask().name != two.to_dask().name


@pytest.mark.parametrize("key, value, match", [
    ("threshold_setting", "threshold_3", "possible values are: threshold_1, threshold_2, man_diff"),
    ("gain", 2, "'gain' is not an option"),
    ("multiplier", "lots", "must be a number"),
])
def test_v2_bad_options_are_series_option_errors(tmp_path, key, value, match):
    t1, t2 = two_thresholds(1)
    ims = eiger_stream_v2.open(write_v2(tmp_path / "v2.h5", t1, t2))
    with pytest.raises(SeriesOptionError, match=match) as info:
        ims.set_option(key, value)
    assert isinstance(info.value, ValueError)  # hexrd's NotImplementedError no longer
    assert ims.option_values() == {"threshold_setting": "threshold_1", "multiplier": 1.0}


def test_v2_setting_needs_its_channel(tmp_path):
    t1, _ = two_thresholds(2)
    with h5py.File(tmp_path / "one.h5", "w") as f:
        for j in range(2):
            put_frame(f.create_group(f"data/{j}/threshold_1"), t1[j], "lz4")
    ims = eiger_stream_v2.open(tmp_path / "one.h5")
    np.testing.assert_array_equal(ims[1], t1[1])
    with pytest.raises(NotASeriesError, match="needs channel.*threshold_2"):
        ims.set_option("threshold_setting", "man_diff")


def test_missing_dectris_compression_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dectris.compression", None)
    d = {"compression_type": "bslz4", "dtype": "<u2", "shape": (2, 2), "elem_size": 2,
         "data": np.void(b"\0" * 16)}
    with pytest.raises(ImportError, match=r"lazyseries\[eiger\]"):
        eiger.decompress_frame(d)


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(encoding=st.sampled_from(["lz4", "lz4-by-hand", "bslz4", "bszstd", "csrnpz", None]),
       dtype=st.sampled_from(["uint8", "uint16", "int32", "uint32", "float64"]),
       rows=st.integers(1, 40), cols=st.integers(1, 40), seed=st.integers(0, 2**16),
       cut=st.floats(0.05, 0.95))
def test_fuzz_round_trip_and_truncated_bytes(tmp_path_factory, encoding, dtype, rows, cols,
                                             seed, cut):
    frame = np.random.default_rng(seed).integers(0, 200, (rows, cols)).astype(dtype)
    payload = encode(frame, encoding)
    encoding = "lz4" if encoding == "lz4-by-hand" else encoding
    d = {"compression_type": encoding, "dtype": frame.dtype.str, "shape": frame.shape,
         "elem_size": frame.dtype.itemsize, "data": np.void(payload)}
    np.testing.assert_array_equal(eiger.decompress_frame(d), frame)
    # a frame cut short never decodes to something: the read names the frame
    assume(len(payload) >= 2)  # a one-byte payload cannot be cut short
    keep = min(len(payload) - 1, max(1, int(len(payload) * cut)))
    path = tmp_path_factory.mktemp("fuzz") / "cut.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("data/0")
        put_frame(g, frame, encoding)
        del g["data"]
        g["data"] = np.void(payload[:keep])
    with pytest.raises(NotASeriesError, match="frame 0"):
        eiger_stream_v1.open(path)[0]

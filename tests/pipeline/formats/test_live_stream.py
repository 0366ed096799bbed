"""DECTRIS streams (V1, V2) as live series, against a replay sender process on 127.0.0.1."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeline
from pipeline.errors import (
    DroppedFrameError,
    FrameReleasedError,
    LiveTimeoutError,
    MissingOptionError,
    OptionValueError,
    StreamMessageError,
)
from pipeline.formats.live import dectris, replay

pytest.importorskip("zmq")
pytest.importorskip("cbor2")

SHAPE = (64, 96)


@pytest.fixture
def opened():
    """Opens streams (``opened(address, format, **options)``); closes each at the end."""
    series = []

    def open_(address: str, version: int = 2, **options):
        s = pipeline.open(address, format=f"dectris-stream-v{version}", **options)
        series.append(s)
        return s

    yield open_
    for s in series:
        s.close()


def follow(s, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not s.ended:
        assert time.monotonic() < deadline, f"{s!r} did not end in {timeout} s"
        s.wait(timeout=1)


def shape_args(n: int, *more: str) -> tuple[str, ...]:
    return ("--frames", str(n), "--shape", ",".join(map(str, SHAPE)), *more)


@pytest.mark.parametrize("version,encoding", [(2, "bslz4"), (2, "lz4"), (2, "raw"),
                                              (1, "bslz4"), (1, "lz4-block"), (1, "raw")])
def test_a_stream_gives_the_frames_sent_and_the_start_messages_metadata(
        sender, opened, version, encoding):
    address = sender(*shape_args(40, "--version", str(version), "--encoding", encoding,
                                 "--omega", "10,0.25", "--rate", "400"))
    s = opened(address, version, idle=10)
    assert (s.shape, s.dtype, s.expected) == (SHAPE, np.dtype("uint16"), 40)
    follow(s)
    assert (len(s), s.ended_by, list(s.dropped)) == (40, "end", [])
    ref = replay.frames(40, SHAPE)
    np.testing.assert_array_equal(np.asarray(s), ref)  # through dask, decoded per frame
    np.testing.assert_array_equal(s[7, 10:20, 5:9], ref[7, 10:20, 5:9])
    omega = s.metadata["omega"]
    assert omega.shape == (40, 2) and omega[0].tolist() == [10.0, 10.25]
    assert pipeline.OmegaImageSeries(s).omega_to_frame(12.6)[0] == 10
    assert s.description()["address"] == address


def test_frames_that_never_arrive_are_named_never_shifted(sender, opened):
    s = opened(sender(*shape_args(30, "--skip", "5,6,29", "--rate", "500")), idle=10)
    follow(s)
    # 29 was the last: the series ends at 29 frames known, none after it to show the gap
    assert len(s) == 29 and s.dropped.tolist() == [5, 6]
    ref = replay.frames(30, SHAPE)
    np.testing.assert_array_equal(s[7], ref[7])
    with pytest.raises(DroppedFrameError, match="frame 5 .* lost"):
        s[5]


def test_a_consumer_behind_by_the_whole_buffer_loses_frames_by_number(sender, opened):
    frame_bytes = len(dectris.encode_frame(replay.frames(1, SHAPE)[0]).data)
    s = opened(sender(*shape_args(60)), idle=10, buffer=5 * frame_bytes + 10)
    follow(s)
    kept = [j for j in range(len(s)) if j not in set(s.dropped.tolist())]
    # the first frames fill the buffer; every later one is listed as lost, none silently gone
    assert len(s) == 60 and kept == list(range(len(kept))) and 3 <= len(kept) <= 6
    assert len(kept) + len(s.dropped) == 60
    ref = replay.frames(60, SHAPE)
    for j in kept:
        np.testing.assert_array_equal(s[j], ref[j])
    s.release(kept[-1] + 1)
    with pytest.raises(FrameReleasedError, match=f"frame {kept[0]} .* released"):
        s[kept[0]]


def test_on_full_block_holds_the_sender_back_and_loses_nothing(sender, opened):
    frame_bytes = len(dectris.encode_frame(replay.frames(1, SHAPE)[0]).data)
    s = opened(sender(*shape_args(200)), idle=10, buffer=4 * frame_bytes, on_full="block")
    ref, done = replay.frames(200, SHAPE), 0
    deadline = time.monotonic() + 60
    while not (s.ended and done == len(s)):
        assert time.monotonic() < deadline
        n = s.wait(timeout=1)
        if n > done:
            np.testing.assert_array_equal(s[done:n].load().data, ref[done:n])
            s.release(n)
            done = n
    assert done == 200 and len(s.dropped) == 0


def test_a_receiver_joining_a_running_series_takes_the_frames_shape(sender, opened):
    s = opened(sender(*shape_args(10, "--no-start", "--version", "2")), idle=10)
    assert s.shape == SHAPE and s.expected is None and s.metadata == {}
    follow(s)
    np.testing.assert_array_equal(np.asarray(s), replay.frames(10, SHAPE))


def test_a_lost_end_message_ends_the_series_after_idle_seconds(sender, opened):
    s = opened(sender(*shape_args(5, "--no-end")), idle=0.5)
    t = time.monotonic()
    follow(s, timeout=30)
    assert (s.ended_by, len(s)) == ("idle", 5) and time.monotonic() - t < 20


def test_a_message_that_is_not_of_the_stream_is_an_error_naming_it(sender, opened):
    s = opened(sender(*shape_args(10, "--garbage", "4", "--rate", "200")), idle=10)
    with pytest.raises(StreamMessageError, match="a Stream V2 message is a map"):
        follow(s)


@pytest.mark.parametrize("sent,read,match", [(1, 2, "dectris-stream-v1"),
                                            (2, 1, "dectris-stream-v2")])
def test_the_other_versions_stream_says_which_format_reads_it(sender, opened, sent, read, match):
    address = sender(*shape_args(3, "--version", str(sent)))
    with pytest.raises(StreamMessageError, match=match):
        opened(address, read, start_timeout=30)


def test_no_series_beginning_in_time_is_a_timeout_naming_the_address():
    t = time.monotonic()
    with pytest.raises(LiveTimeoutError, match="tcp://127.0.0.1:9 within 0.3 s"):
        pipeline.open("tcp://127.0.0.1:9", format="dectris-stream-v2", start_timeout=0.3)
    assert time.monotonic() - t < 5


def test_an_address_is_read_only_by_the_format_named():
    with pytest.raises(MissingOptionError, match="dectris-stream-v1.*dectris-stream-v2"):
        pipeline.open("tcp://127.0.0.1:9")


@pytest.mark.parametrize("address,options,match", [
    ("tcp:/127.0.0.1:5", {}, "not a stream address"),
    ("tcp://127.0.0.1:70000", {}, "not a stream address"),
    ("tcp://127.0.0.1:5", {"buffer": -1}, "buffer=-1"),
    ("tcp://127.0.0.1:5", {"buffer": "lots"}, "buffer='lots'"),
    ("tcp://127.0.0.1:5", {"on_full": "wait"}, "on_full='wait'"),
    ("tcp://127.0.0.1:5", {"idle": 0}, "idle=0"),
    ("tcp://127.0.0.1:5", {"idle": float("inf")}, "idle=inf"),
    ("tcp://127.0.0.1:5", {"count": 0}, "count=0"),
    ("tcp://127.0.0.1:5", {"start_timeout": -1}, "idle=-1"),
])
def test_bad_options_are_refused_before_connecting(address, options, match):
    with pytest.raises(OptionValueError, match=match):
        pipeline.open(address, format="dectris-stream-v2", **options)


def test_a_stream_is_not_sent_to_another_process(sender, opened):
    import pickle

    s = opened(sender(*shape_args(2)), idle=10)
    with pytest.raises(TypeError, match="cannot be sent to another process"):
        pickle.dumps(s)


# -- the messages themselves ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32"])
@pytest.mark.parametrize("encoding", ["bslz4", "lz4", "lz4-block", None])
def test_frames_encode_and_decode_to_the_same_pixels(rng, dtype, encoding):
    top = np.iinfo(dtype).max
    for pixels in (rng.poisson(3, (50, 70)).astype(dtype),
                   rng.integers(0, top, (33, 17), dtype=dtype, endpoint=True)):
        frame = dectris.encode_frame(pixels, encoding)
        out = dectris.decode_frame(frame)
        assert out.dtype == pixels.dtype
        np.testing.assert_array_equal(out, pixels)


def test_the_v2_image_message_is_laid_out_as_the_specification_says(rng):
    cbor2 = pytest.importorskip("cbor2")
    pixels = rng.poisson(2, (8, 12)).astype("uint16")
    raw = dectris.encode_v2("image", {"image_id": 3, "series_id": 1, "series_unique_id": "u"},
                            {"threshold_1": dectris.encode_frame(pixels)})
    assert raw[:3] == b"\xd9\xd9\xf7"  # self-described CBOR
    doc = cbor2.loads(raw)
    assert list(doc)[0] == "type" and doc["type"] == "image"
    tag = doc["data"]["threshold_1"]
    assert tag.tag == 40 and list(tag.value[0]) == [8, 12]
    typed = tag.value[1]
    assert typed.tag == 69  # uint16, little-endian (RFC 8746)
    algorithm, elem_size, blob = typed.value.value if typed.value.tag == 56500 else (None,) * 3
    assert (typed.value.tag, algorithm, elem_size) == (56500, "bslz4", 2)
    assert int.from_bytes(blob[:8], "big") == pixels.nbytes  # the HDF5 filter's framing
    assert int.from_bytes(blob[8:12], "big") == 8192


def test_a_frame_declaring_another_size_is_refused_before_decoding():
    frame = dectris.encode_frame(np.zeros((4, 4), np.uint16))
    bad = dectris.EncodedFrame((4000, 4000), frame.dtype, "bslz4", 2, frame.data)
    with pytest.raises(StreamMessageError, match="hold 32"):
        dectris.decode_frame(bad)
    huge = dectris.EncodedFrame((2**20, 2**20), frame.dtype, "bslz4", 2, frame.data)
    with pytest.raises(StreamMessageError, match="not one a detector sends"):
        dectris.decode_frame(huge)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_hostile_v2_messages_raise_only_stream_message_errors(raw):
    try:
        message = dectris.decode_v2(raw)
    except StreamMessageError:
        return
    for frame in message.frames.values():
        try:
            dectris.decode_frame(frame)
        except StreamMessageError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80) | st.sampled_from(
    [b'{"htype": "dimage-1.0", "frame": 1}', b'{"htype": "dheader-1.0", "header_detail": "all"}',
     b'{"htype": "dimage_d-1.0", "shape": [4, 2], "type": "uint16", "encoding": "bs16-lz4<"}',
     b'{"htype": "dimage_d-1.0", "shape": [4, 2], "type": "float64", "encoding": "lz4<"}',
     b'{"htype": "dflatfield-1.0", "shape": [2, 2], "type": "float32"}', b"{}"]),
    max_size=6))
def test_hostile_v1_messages_raise_only_stream_message_errors(parts):
    try:
        message = dectris.decode_v1(parts)
    except StreamMessageError:
        return
    for frame in message.frames.values():
        try:
            dectris.decode_frame(frame)
        except StreamMessageError:
            pass


# -- the same chain, live ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["max_iter", "min_iter", "sum_iter", "average_iter"])
def test_running_statistics_follow_a_stream_chunk_by_chunk(sender, opened, name):
    from pipeline import stats

    s = opened(sender(*shape_args(40, "--rate", "300", "--skip", "13")), idle=10)
    ps = s.process([("flip", "v")])
    results = list(getattr(stats, name)(ps, nchunk=4))
    ref = replay.frames(40, SHAPE)[:, :, ::-1]
    numpy = {"max_iter": np.max, "min_iter": np.min, "sum_iter": np.sum,
             "average_iter": np.mean}[name]
    assert len(results) == 4
    for k, result in enumerate(results):
        frames = [j for j in range(10 * (k + 1)) if j != 13]  # the lost frame left out
        np.testing.assert_allclose(result, numpy(ref[frames].astype(np.float64), axis=0),
                                   rtol=1e-6)


def test_omega_wedges_of_a_stream_cover_the_frames_announced_while_it_grows(sender, opened):
    s = opened(sender(*shape_args(40, "--rate", "100", "--omega=-10,0.5")), idle=10)
    s.wait(3)
    assert len(s) < 40
    om = pipeline.OmegaImageSeries(s)
    assert om.nwedges == 1 and om.omega.shape == (40, 2)
    assert om.omega_to_frame(9.8)[0] == 39
    follow(s)
    np.testing.assert_array_equal(om[39], replay.frames(40, SHAPE)[39])


def test_a_running_statistic_of_a_stream_without_a_count_needs_nframes(sender, opened):
    from pipeline import stats

    s = opened(sender(*shape_args(8, "--no-start")), idle=10)
    with pytest.raises(OptionValueError, match="needs nframes="):
        next(stats.max_iter(s, 2))
    assert len(list(stats.max_iter(s, 2, nframes=8))) == 2

"""Writing live series: the same bytes as offline, readable while it grows, resumed after a
kill."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

import pipeline
from pipeline.errors import (
    DroppedFrameError,
    FramesDroppedWarning,
    OptionValueError,
    StoreChangedError,
)
from pipeline.formats.live import replay
from tests._files import tree

pytest.importorskip("zmq")
pytest.importorskip("cbor2")

SHAPE = (48, 80)
OPS = [("flip", "v"), ("add", 1)]


def stream_args(n: int, *more: str) -> tuple[str, ...]:
    return ("--frames", str(n), "--shape", ",".join(map(str, SHAPE)), "--distinct", str(n),
            *more)


def reference(n: int) -> np.ndarray:
    return np.asarray(pipeline.from_array(replay.frames(n, SHAPE, distinct=n)).process(OPS))


def document(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@pytest.mark.parametrize("version", [2, 1])
def test_a_live_write_holds_the_bytes_an_offline_write_of_the_frames_holds(
        tmp_path, sender, version):
    address = sender(*stream_args(60, "--rate", "300", "--version", str(version),
                                  "--omega", "5,0.5"))
    seen = []
    with pipeline.open(address, format=f"dectris-stream-v{version}", idle=10) as s:
        live = pipeline.write(s.process(OPS), tmp_path / "live.zarr",
                              progress=lambda status, written: seen.append(written))
        meta = s.metadata
    frames = replay.frames(60, SHAPE, distinct=60)
    offline = pipeline.write(pipeline.from_array(frames, metadata=meta).process(OPS),
                             tmp_path / "offline.zarr")
    np.testing.assert_array_equal(np.asarray(live), np.asarray(offline))
    assert tree(tmp_path / "live.zarr", "0/c") == tree(tmp_path / "offline.zarr", "0/c")
    for name in ("0/zarr.json",):
        with open(tmp_path / "live.zarr" / name, "rb") as a, \
                open(tmp_path / "offline.zarr" / name, "rb") as b:
            assert a.read() == b.read()
    live_attrs = document(str(tmp_path / "live.zarr/zarr.json"))["attributes"]
    offline_attrs = document(str(tmp_path / "offline.zarr/zarr.json"))["attributes"]
    assert live_attrs["metadata"] == offline_attrs["metadata"]
    named = ({**image, "name": "x"} for image in (live_attrs["ome"]["multiscales"][0],
                                                   offline_attrs["ome"]["multiscales"][0]))
    assert next(named) == next(named)  # the image's name is the store's
    # display windows: the frames' range, as the offline write computes in its graph
    assert live_attrs["ome"]["omero"]["channels"][0]["window"] == \
        offline_attrs["ome"]["omero"]["channels"][0]["window"]
    record = live_attrs["lazyseries"]
    assert record["complete"] is True
    assert {k: v for k, v in record["live"].items() if k != "ranges"} == \
        {"committed": 60, "dropped": [], "expected": 60, "ended": "end"}
    assert record["provenance"]["source"]["address"] == address
    assert seen[-1] == 60 and seen == sorted(seen)
    np.testing.assert_array_equal(live.metadata["omega"][:, 0], 5 + 0.5 * np.arange(60))


@pytest.mark.parametrize("layout", [{"chunks": (1, 24, 40)},
                                    {"chunks": (1, 24, 40), "shards": (8, 48, 80)}])
def test_frames_split_into_several_chunks_are_written_live_as_offline(tmp_path, sender, layout):
    address = sender(*stream_args(20, "--rate", "300"))
    with pipeline.open(address, format="dectris-stream-v2", idle=10) as s:
        pipeline.write(s.process(OPS), tmp_path / "live.zarr", **layout)
        meta = s.metadata
    frames = replay.frames(20, SHAPE, distinct=20)
    pipeline.write(pipeline.from_array(frames, metadata=meta).process(OPS),
                   tmp_path / "offline.zarr", **layout)
    live = tree(tmp_path / "live.zarr", "0/c")
    assert len(live) > 2 and live == tree(tmp_path / "offline.zarr", "0/c")


READER_WRITER = """
import sys, pipeline
address, target = sys.argv[1:3]
with pipeline.open(address, format="dectris-stream-v2", idle=20, start_timeout=60) as s:
    pipeline.write(s.process([("flip", "v"), ("add", 1)]), target)
print("written", flush=True)
"""


def test_a_reader_sees_only_whole_committed_frames_while_the_store_grows(
        tmp_path, sender, processes):
    zarr = pytest.importorskip("zarr")
    n = 240
    target = str(tmp_path / "grow.zarr")
    writer = processes(READER_WRITER, sender(*stream_args(n, "--rate", "120")), target)
    ref = reference(n)
    lengths, foreign = [], []
    deadline = time.monotonic() + 120
    while writer.poll() is None:
        assert time.monotonic() < deadline
        if not os.path.exists(os.path.join(target, "zarr.json")):
            time.sleep(0.01)
            continue
        s = pipeline.open(target)  # never IncompleteStoreError: a live store opens as it grows
        k = len(s)
        if not s.growing:  # finished meanwhile
            assert k == n and s.ended
            break
        assert k <= (s.expected or n)
        lengths.append(k)
        if k:  # the last frame committed and a random one: whole, the frames sent
            j = int(np.random.default_rng(k).integers(0, k))
            np.testing.assert_array_equal(s[k - 1], ref[k - 1])
            np.testing.assert_array_equal(s[j], ref[j])
            with pytest.raises(IndexError):
                s[k]
        grown = s.wait(k + 1, timeout=0.2)  # the same series, refreshed
        if grown > k:
            np.testing.assert_array_equal(s[grown - 1], ref[grown - 1])
        arr = zarr.open_group(target, mode="r")["0"]  # knows nothing of the record
        m = arr.shape[0]
        foreign.append(m)
        if m:
            np.testing.assert_array_equal(arr[m - 1], ref[m - 1])
        time.sleep(0.02)
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert lengths == sorted(lengths) and len(set(lengths)) >= 5, lengths  # it did grow
    assert max(foreign) <= n
    final = pipeline.open(target)
    assert not final.growing and final.ended and len(final) == n
    np.testing.assert_array_equal(np.asarray(final), ref)


RESUMABLE_WRITER = """
import sys, pipeline
address, target = sys.argv[1:3]
with pipeline.open(address, format="dectris-stream-v2", idle=20, start_timeout=60) as s:
    print("open", flush=True)
    pipeline.write(s.process([("flip", "v"), ("add", 1)]), target)
print("written", flush=True)
"""


def _committed(target: str) -> int:
    try:
        return int(document(os.path.join(target, "zarr.json"))["attributes"]["lazyseries"]
                   ["live"]["committed"])
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.parametrize("kill_after", [1, 30, 90])
def test_a_writer_killed_and_started_again_goes_on_naming_the_frames_it_missed(
        tmp_path, sender, processes, kill_after):
    n = 200
    target = str(tmp_path / "resumed.zarr")
    address = sender(*stream_args(n, "--rate", "150"))
    first = processes(RESUMABLE_WRITER, address, target)
    deadline = time.monotonic() + 60
    while _committed(target) < kill_after:
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    kept = _committed(target)
    during = pipeline.open(target)  # what the killed writer committed, readable
    assert len(during) == kept and during.growing
    second = processes(RESUMABLE_WRITER, address, target)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    store = pipeline.open(target)
    lost = set(store.dropped.tolist())
    ref = reference(n)
    # the frames sent while no writer ran are named; every other frame is the one sent
    assert len(store) == n and lost and min(lost) >= kept
    assert lost == set(range(min(lost), max(lost) + 1))  # one gap: the restart's
    for j in range(n):
        if j in lost:
            with pytest.raises(DroppedFrameError, match=f"frame {j} was lost"):
                store[j]
        else:
            np.testing.assert_array_equal(store[j], ref[j])
    record = document(os.path.join(target, "zarr.json"))["attributes"]["lazyseries"]
    assert record["complete"] and record["live"]["expected"] == n  # kept from the first run
    assert store.metadata["number_of_images"] == n  # the start message's, kept


def test_lost_frames_are_written_as_fill_and_listed_and_warned(tmp_path, sender):
    address = sender(*stream_args(20, "--skip", "3,4,11", "--rate", "300"))
    with pipeline.open(address, format="dectris-stream-v2", idle=10) as s:
        with pytest.warns(FramesDroppedWarning, match="3 of 20 frames were lost"):
            store = pipeline.write(s, tmp_path / "lost.zarr")
    assert store.dropped.tolist() == [3, 4, 11]
    with pytest.raises(DroppedFrameError, match="frame 3 was lost"):
        np.asarray(store)
    filled = pipeline.open(tmp_path / "lost.zarr", missing="fill")
    ref = replay.frames(20, SHAPE, distinct=20)
    got = np.asarray(filled)
    assert not got[[3, 4, 11]].any()
    keep = [j for j in range(20) if j not in (3, 4, 11)]
    np.testing.assert_array_equal(got[keep], ref[keep])
    record = document(str(tmp_path / "lost.zarr/zarr.json"))["attributes"]["lazyseries"]
    assert record["live"]["dropped"] == [[3, 5], [11, 12]]


def test_a_live_series_goes_only_where_it_can_grow(tmp_path, sender):
    with pipeline.open(sender(*stream_args(3)), format="dectris-stream-v2", idle=10) as s:
        for target, options, match in [
                (tmp_path / "x.h5", {}, "Zarr store as its frames arrive"),
                (tmp_path / "x.zarr", {"compute": False}, "without compute=False"),
                (tmp_path / "x.zarr", {"levels": 1}, "levels=1: a live series is written"),
        ]:
            with pytest.raises(OptionValueError, match=match):
                pipeline.write(s, target, **options)
        with pytest.raises(OptionValueError, match="written whole"):
            pipeline.write(s[0:2], tmp_path / "y.zarr")
        assert not os.path.exists(tmp_path / "x.zarr")


def test_a_store_replaced_under_a_reader_of_a_growing_one_is_said(tmp_path, sender):
    address = sender(*stream_args(10, "--rate", "300"))
    with pipeline.open(address, format="dectris-stream-v2", idle=10) as s:
        pipeline.write(s, tmp_path / "a.zarr")
    reader = pipeline.open(tmp_path / "a.zarr")
    pipeline.write(pipeline.from_array(np.zeros((10, *SHAPE), np.uint16)), tmp_path / "a.zarr",
                   overwrite=True)
    with pytest.raises(StoreChangedError):
        reader[0]

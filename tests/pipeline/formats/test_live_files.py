"""Growing files as live series: an HDF5 dataset appended under SWMR, files arriving in a
directory, a store another process writes; each written live, read while it grows, resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

import pipeline
from pipeline.errors import LiveTimeoutError, NotASeriesError, OptionValueError
from pipeline.formats.live import replay
from tests._files import tree

h5py = pytest.importorskip("h5py")
pytest.importorskip("hdf5plugin")

SHAPE = (40, 56)
OPS = [("flip", "h"), ("rectangle", ((2, 38), (0, 50)))]

SWMR_WRITER = """
import sys, time
import h5py, hdf5plugin
from pipeline.formats.live.replay import frames
path, n, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
data = frames(n, (40, 56), distinct=n)
with h5py.File(path, "w", libver="latest") as f:
    g = f.create_group("entry/data")
    ds = g.create_dataset("data", shape=(0, 40, 56), maxshape=(None, 40, 56), chunks=(1, 40, 56),
                          dtype="uint16", **hdf5plugin.Bitshuffle(cname="lz4"))
    done = g.create_dataset("done", data=0)
    g.attrs["exposure"] = 0.25
    g.attrs["detector"] = "pilatus-like"
    f.swmr_mode = True
    print("swmr", flush=True)
    for j in range(n):
        ds.resize(j + 1, axis=0)
        ds[j] = data[j]
        ds.flush()
        time.sleep(1 / rate)
    done[()] = 1
    done.flush()
print("done", flush=True)
"""

LATE_SWMR_WRITER = """
import sys, time
import h5py
path = sys.argv[1]
with h5py.File(path, "w", libver="latest") as f:
    ds = f.create_dataset("images", shape=(0, 4, 5), maxshape=(None, 4, 5), dtype="uint16")
    print("open", flush=True)
    time.sleep(1.0)  # the file held for writing, SWMR not on yet
    f.swmr_mode = True
    for j in range(3):
        ds.resize(j + 1, axis=0)
        ds[j] = j
        ds.flush()
    time.sleep(30)
"""

FILE_DROPPER = """
import os, sys, time
import tifffile
from pipeline.formats.live.replay import frames
folder, n, rate, marker = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
data = frames(n, (40, 56), distinct=n)
for j in range(n):
    hidden = os.path.join(folder, f".img{j}.tif.part")
    tifffile.imwrite(hidden, data[j])
    os.rename(hidden, os.path.join(folder, f"img{j}.tif"))  # img2 before img10: natural order
    time.sleep(1 / rate)
if marker:
    open(os.path.join(folder, marker), "w").close()
print("done", flush=True)
"""

LIVE_WRITER = """
import sys, json, pipeline
path, fmt, options, target = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
source = pipeline.open(path, format=fmt, **options)
print("open", flush=True)
pipeline.write(source.process([("flip", "h"), ("rectangle", ((2, 38), (0, 50)))]), target)
print("written", flush=True)
"""

SOURCES = {
    "hdf5": ("hdf5-live", {"path": "/entry/data", "dataname": "data", "marker": "done",
                           "idle": 20}),
    "files": ("files-live", {"marker": "DONE", "idle": 20}),
}


def grow(kind: str, tmp_path, processes, n: int, rate: float
         ) -> tuple[str, subprocess.Popen]:
    """Start a process growing a source of ``kind``; the path to open it at, and the process."""
    if kind == "hdf5":
        path = str(tmp_path / "scan.h5")
        proc = processes(SWMR_WRITER, path, str(n), str(rate))
        assert proc.stdout.readline().strip() == "swmr"  # the file exists in SWMR mode
        return path, proc
    folder = tmp_path / "frames"
    folder.mkdir()
    return str(folder), processes(FILE_DROPPER, str(folder), str(n), str(rate), "DONE")


def offline(kind: str, path: str) -> pipeline.ImageSeries:
    if kind == "hdf5":
        return pipeline.open(path, format="hdf5", path="/entry/data", dataname="data")
    return pipeline.open(os.path.join(path, "*.tif"))


def reference(n: int) -> np.ndarray:
    return np.asarray(pipeline.from_array(replay.frames(n, SHAPE, distinct=n)).process(OPS))


def _committed(target: str) -> int:
    try:
        with open(os.path.join(target, "zarr.json"), encoding="utf-8") as fh:
            return int(json.load(fh)["attributes"]["lazyseries"]["live"]["committed"])
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_a_growing_file_source_grows_and_ends_by_its_marker(tmp_path, processes, kind):
    path, _ = grow(kind, tmp_path, processes, 30, 60)
    fmt, options = SOURCES[kind]
    s = pipeline.open(path, format=fmt, **options)
    assert s.shape == SHAPE and s.dtype == np.uint16
    lengths = [len(s)]
    deadline = time.monotonic() + 60
    while not s.ended:
        assert time.monotonic() < deadline
        lengths.append(s.wait(timeout=1))
    assert s.ended_by == "marker" and len(s) == 30
    assert lengths == sorted(lengths) and len(set(lengths)) > 3  # seen growing
    np.testing.assert_array_equal(np.asarray(s), replay.frames(30, SHAPE, distinct=30))


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_a_live_write_of_a_growing_file_equals_the_offline_write_of_the_file(
        tmp_path, processes, kind):
    path, grower = grow(kind, tmp_path, processes, 40, 80)
    fmt, options = SOURCES[kind]
    # small frames go in shards sized by the frame count: known (count=), the layout is the
    # offline write's; a partly filled shard is rewritten whole as frames arrive
    live = pipeline.write(pipeline.open(path, format=fmt, count=40, **options).process(OPS),
                          tmp_path / "live.zarr")
    # ended by its count, the live write may finish before the writer closes the file (HDF5
    # opens a file held for writing under SWMR readers only)
    assert grower.wait(timeout=60) == 0
    done = offline(kind, path)
    off = pipeline.write(done.process(OPS), tmp_path / "offline.zarr")
    assert tree(tmp_path / "live.zarr", "0") == tree(tmp_path / "offline.zarr", "0")
    np.testing.assert_array_equal(np.asarray(live), reference(40))
    assert live.metadata == off.metadata
    if kind == "hdf5":  # its provenance is the file's, which reopens offline
        assert live.provenance == off.provenance
        assert live.metadata["exposure"] == 0.25


@pytest.mark.parametrize("kind", sorted(SOURCES))
@pytest.mark.parametrize("kill_at", [3, 25])
def test_a_live_write_killed_and_started_again_has_no_gap(tmp_path, processes, kind, kill_at):
    n = 60
    path, _ = grow(kind, tmp_path, processes, n, 15)  # the writer starts (seconds, under load)
    # while few frames are there, so that its first commit does not take them all
    fmt, options = SOURCES[kind]
    target = str(tmp_path / "out.zarr")
    first = processes(LIVE_WRITER, path, fmt, json.dumps(options), target)
    deadline = time.monotonic() + 60
    while _committed(target) < kill_at:
        assert time.monotonic() < deadline and first.poll() is None, first.stderr.read()
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    kept = _committed(target)
    second = processes(LIVE_WRITER, path, fmt, json.dumps(options), target)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    store = pipeline.open(target)
    assert kept >= kill_at and len(store) == n and len(store.dropped) == 0
    np.testing.assert_array_equal(np.asarray(store), reference(n))


def test_a_store_being_written_is_itself_a_live_source(tmp_path, processes):
    """A second process follows the first one's store as it grows and writes its own."""
    path, _ = grow("hdf5", tmp_path, processes, 50, 15)  # slow enough to be followed under load
    fmt, options = SOURCES["hdf5"]
    first = str(tmp_path / "first.zarr")
    writer = processes(LIVE_WRITER, path, fmt, json.dumps(options), first)
    assert writer.stdout.readline().strip() == "open"
    deadline = time.monotonic() + 60
    while _committed(first) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    growing = pipeline.open(first, idle=20)
    assert growing.growing and len(growing) < 50
    second = pipeline.write(growing.process([("flip", "v")]), tmp_path / "second.zarr")
    assert growing.ended_by == "end" and len(second) == 50
    np.testing.assert_array_equal(np.asarray(second),
                                  np.asarray(pipeline.from_array(reference(50))
                                             .process([("flip", "v")])))


def test_a_file_held_by_a_writer_that_turns_swmr_on_late_opens(tmp_path, processes):
    path = str(tmp_path / "late.h5")
    proc = processes(LATE_SWMR_WRITER, path)
    assert proc.stdout.readline().strip() == "open"
    s = pipeline.open(path, format="hdf5-live", count=3, idle=20)
    s.wait(3, timeout=20)
    np.testing.assert_array_equal(np.asarray(s), np.arange(3)[:, None, None] * np.ones((4, 5)))


def test_files_end_by_count_or_by_idle(tmp_path, processes):
    folder = tmp_path / "frames"
    folder.mkdir()
    processes(FILE_DROPPER, str(folder), "12", "200", "")
    counted = pipeline.open(folder, format="files-live", count=5)
    counted.wait(5, timeout=30)
    assert counted.ended_by == "count" and len(counted) == 5
    idle = pipeline.open(folder, format="files-live", idle=0.5)
    deadline = time.monotonic() + 30
    while not idle.ended:
        assert time.monotonic() < deadline
        idle.wait(timeout=1)
    assert idle.ended_by == "idle" and len(idle) == 12


def test_a_file_still_being_written_is_not_taken_and_a_file_unlike_the_first_is_an_error(
        tmp_path):
    tifffile = pytest.importorskip("tifffile")
    frames = replay.frames(3, SHAPE, distinct=3)
    tifffile.imwrite(tmp_path / "a1.tif", frames[0])
    s = pipeline.open(tmp_path, format="files-live", idle=5)
    assert len(s) == 1
    with open(tmp_path / "a2.tif", "wb") as fh:  # half a file: its size changes between looks
        fh.write(b"II*\x00")
    time.sleep(0.05)
    assert s.refresh() == 1
    tifffile.imwrite(tmp_path / "a2.tif", frames[1])
    assert s.wait(2, timeout=10) == 2
    np.testing.assert_array_equal(s[1], frames[1])
    tifffile.imwrite(tmp_path / "a3.tif", np.zeros((5, 5), np.uint16))
    with pytest.raises(NotASeriesError, match="a3.tif.* holds frames of \\(5, 5\\)"):
        s.wait(3, timeout=10)


def test_no_file_arriving_in_time_is_a_timeout(tmp_path):
    with pytest.raises(LiveTimeoutError, match="no file arrived"):
        pipeline.open(tmp_path, format="files-live", start_timeout=0.2)


@pytest.mark.parametrize("options,match", [({"count": -1}, "count=-1"),
                                           ({"marker": "a/b"}, "marker='a/b'"),
                                           ({"idle": -2}, "idle=-2")])
def test_bad_end_rules_are_refused(tmp_path, options, match):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["images"] = np.zeros((2, 4, 4), np.uint8)
    with pytest.raises(OptionValueError, match=match):
        pipeline.open(tmp_path / "x.h5", format="hdf5-live", **options)

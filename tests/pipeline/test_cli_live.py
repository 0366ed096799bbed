"""``lazyseries process`` and ``lazyseries stats`` on live sources, end to end: a replay
sender, an h5py SWMR writer and a process dropping files, each started here and ended by its
pid; the command run as a process of its own."""

from __future__ import annotations

import fcntl
import functools
import json
import os
import pty
import selectors
import struct
import subprocess
import sys
import termios
import time

import numpy as np
import pytest

import pipeline
from pipeline.formats.live import dectris, replay
from tests._files import tree

pytest.importorskip("zmq")
pytest.importorskip("cbor2")

SHAPE = (32, 48)

SWMR_WRITER = """
import sys, time
import h5py
from pipeline.formats.live.replay import frames
path, n, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
data = frames(n, (32, 48), distinct=n)
with h5py.File(path, "w", libver="latest") as f:
    ds = f.create_group("entry").create_dataset(
        "images", shape=(0, 32, 48), maxshape=(None, 32, 48), chunks=(1, 32, 48),
        dtype="uint16")
    ds.attrs["done"] = 0
    f.swmr_mode = True
    print("swmr", flush=True)
    for j in range(n):
        ds.resize(j + 1, axis=0)
        ds[j] = data[j]
        ds.flush()
        time.sleep(1 / rate)
    ds.attrs["done"] = 1
    ds.flush()
print("done", flush=True)
"""

FILE_DROPPER = """
import os, sys, time
import tifffile
from pipeline.formats.live.replay import frames
folder, n, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
data = frames(n, (32, 48), distinct=n)
for j in range(n):
    hidden = os.path.join(folder, f".img{j}.tif.part")
    tifffile.imwrite(hidden, data[j])
    os.rename(hidden, os.path.join(folder, f"img{j}.tif"))
    time.sleep(1 / rate)
open(os.path.join(folder, "DONE"), "w").close()
print("done", flush=True)
"""

SLOW_OP = """
import time
import ops

@ops.register("slow", per_frame=True)
def slow(frame, seconds):
    time.sleep(float(seconds))
    return frame
"""


@pytest.fixture
def sender(sender):
    """Replay senders of frames of SHAPE (the suite's ``sender``)."""
    return functools.partial(sender, "--shape", ",".join(map(str, SHAPE)))


def lazyseries(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def record(store) -> dict:
    with open(os.path.join(store, "zarr.json"), encoding="utf-8") as fh:
        return json.load(fh)["attributes"]["lazyseries"]


def test_process_writes_a_stream_as_it_arrives_with_the_offline_bytes(tmp_path, sender):
    address = sender("--frames", "80", "--rate", "400", "--distinct", "80")
    done = lazyseries("process", address, "live.zarr", "--source-format", "dectris-stream-v2",
                      "--op", "flip=v", "--op", "add=2", "--idle", "10", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote 80 frames" in done.stdout and "received 80, dropped 0" in done.stdout
    assert "frames/s" in done.stdout and "(ended by end)" in done.stdout
    np.save(tmp_path / "frames.npy", replay.frames(80, SHAPE, distinct=80))
    offline = lazyseries("process", "frames.npy", "offline.zarr", "--op", "flip=v",
                         "--op", "add=2", cwd=tmp_path)
    assert offline.returncode == 0, offline.stderr
    live = tree(tmp_path / "live.zarr", "0")
    assert len(live) > 1 and live == tree(tmp_path / "offline.zarr", "0")
    grown = record(tmp_path / "live.zarr")["live"]
    assert {k: v for k, v in grown.items() if k != "ranges"} == \
        {"committed": 80, "dropped": [], "expected": 80, "ended": "end"}


def test_frames_lost_on_the_way_are_reported_and_listed(tmp_path, sender):
    address = sender("--frames", "40", "--rate", "400", "--skip", "9,30")
    done = lazyseries("process", address, "out.zarr", "--source-format", "dectris-stream-v2",
                      "--op", "flip=v", "--idle", "10", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote 40 frames" in done.stdout and "received 38, dropped 2" in done.stdout
    assert "2 of 40 frames were lost" in done.stderr  # the warning, folded to one line
    store = pipeline.open(tmp_path / "out.zarr", missing="fill")
    ref = pipeline.from_array(replay.frames(40, SHAPE)).process([("flip", "v")])
    keep = [j for j in range(40) if j not in (9, 30)]
    np.testing.assert_array_equal(np.asarray(store)[keep], np.asarray(ref)[keep])
    assert store.dropped.tolist() == [9, 30]
    assert record(tmp_path / "out.zarr")["live"]["dropped"] == [[9, 10], [30, 31]]


def test_a_writer_behind_by_the_whole_buffer_drops_frames_by_number(tmp_path, sender):
    # a writer slowed to 20 frames/s, a sender at 2000/s, a buffer of four frames: the
    # frames past the bound are dropped, each named in the record and counted in the summary
    (tmp_path / "slow.py").write_text(SLOW_OP)
    frame = len(dectris.encode_frame(replay.frames(1, SHAPE)[0], "bslz4").data)
    address = sender("--frames", "60", "--rate", "2000", "--distinct", "60")
    done = lazyseries("process", address, "out.zarr", "--source-format", "dectris-stream-v2",
                      "--import", "slow.py", "--op", "slow=0.05", "--idle", "5",
                      "--buffer", str(4 * frame + 16), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    store = pipeline.open(tmp_path / "out.zarr", missing="fill")
    lost = store.dropped.tolist()
    kept = [j for j in range(60) if j not in lost]
    assert len(store) == 60 and 10 <= len(lost) <= 57 and kept[:3] == [0, 1, 2]
    assert f"received {len(kept)}, dropped {len(lost)}" in done.stdout
    assert f"{len(lost)} of 60 frames were lost" in done.stderr
    np.testing.assert_array_equal(np.asarray(store)[kept],
                                  replay.frames(60, SHAPE, distinct=60)[kept])
    assert not np.asarray(store)[lost].any()


def test_stats_of_a_stream_leave_lost_frames_out(tmp_path, sender):
    address = sender("--frames", "60", "--rate", "400", "--skip", "3,4")
    done = lazyseries("stats", address, "--format", "dectris-stream-v2", "--max", "--mean",
                      "--median", "-o", "s.npz", "--idle", "10", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "max of 58 frames" in done.stdout and "received 58, dropped 2" in done.stdout
    ref = replay.frames(60, SHAPE)[[j for j in range(60) if j not in (3, 4)]]
    with np.load(tmp_path / "s.npz") as found:
        np.testing.assert_array_equal(found["max"], ref.max(axis=0))
        np.testing.assert_allclose(found["mean"], ref.mean(axis=0), rtol=1e-6)
        np.testing.assert_array_equal(found["median"], np.median(ref, axis=0))


def test_progress_on_a_terminal_shows_received_dropped_and_the_rate(tmp_path, sender):
    address = sender("--frames", "300", "--rate", "200", "--skip", "7")
    master, slave = pty.openpty()
    # a terminal 160 columns wide (tqdm sizes its bar to it)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "process", address, "out.zarr",
                             "--source-format", "dectris-stream-v2", "--idle", "10"],
                            stdout=subprocess.PIPE, stderr=slave, cwd=tmp_path)
    os.close(slave)
    shown = b""
    try:
        deadline = time.monotonic() + 120
        with selectors.DefaultSelector() as sel:
            sel.register(master, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if sel.select(1):
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:  # the command ended and closed its end
                        break
                    if not chunk:
                        break
                    shown += chunk
                elif proc.poll() is not None:
                    break
        assert proc.wait(timeout=60) == 0, shown.decode(errors="replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
    text = shown.decode(errors="replace")
    assert "written" in text and "frames/s" in text  # the frames written and their rate
    assert "received=300" in text and "dropped=1" in text  # its last state
    assert "300/300" in text  # the frames announced, all written


@pytest.mark.parametrize("kind", ["hdf5-live", "files-live"])
def test_process_and_stats_follow_a_growing_file_source(tmp_path, processes, kind):
    if kind == "hdf5-live":
        pytest.importorskip("h5py")
        source = str(tmp_path / "scan.h5")
        proc = processes(SWMR_WRITER, source, "40", "100")
        assert proc.stdout.readline().strip() == "swmr"
    else:
        pytest.importorskip("tifffile")
        source = str(tmp_path / "frames")
        os.mkdir(source)
        proc = processes(FILE_DROPPER, source, "40", "100")
    ops = ["--op", "flip=h", "--op", "rectangle=2:30,0:40"]
    # small frames go in shards sized by the frame count: given, the layout is the offline one
    marker = "done" if kind == "hdf5-live" else "DONE"
    done = lazyseries("process", source, "live.zarr", "--source-format", kind, "--count", "40",
                      "--marker", marker, "--idle", "20", *ops, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote 40 frames" in done.stdout and "(ended by count)" in done.stdout
    assert proc.wait(timeout=60) == 0
    offline = pipeline.open(source, format="hdf5", path="/entry", dataname="images") \
        if kind == "hdf5-live" else pipeline.open(os.path.join(source, "*.tif"))
    pipeline.write(offline.process([("flip", "h"), ("rectangle", ((2, 30), (0, 40)))]),
                   tmp_path / "offline.zarr")
    assert tree(tmp_path / "live.zarr", "0") == tree(tmp_path / "offline.zarr", "0")
    # the source is complete now: stats on it as a live source end at once by its marker
    done = lazyseries("stats", source, "--format", kind, "--marker", marker, "--max",
                      "-o", "max.npy", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "received 40, dropped 0" in done.stdout and "(ended by marker)" in done.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "max.npy"), np.asarray(offline).max(0))


def test_a_stream_that_does_not_begin_exits_2_with_one_line(tmp_path):
    done = lazyseries("process", "tcp://127.0.0.1:9", "out.zarr", "--source-format",
                      "dectris-stream-v2", "--start-timeout", "0.3", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1  # input: nothing to read
    assert "no series began on tcp://127.0.0.1:9" in done.stderr
    assert not os.path.exists(tmp_path / "out.zarr")


def test_live_flags_a_source_does_not_take_are_refused(tmp_path):
    np.save(tmp_path / "frames.npy", np.zeros((3, 4, 5), np.uint16))
    done = lazyseries("stats", "frames.npy", "--buffer", "1MiB", "--max", cwd=tmp_path)
    assert done.returncode == 2 and "buffer=" in done.stderr


def test_a_statistic_as_an_op_parameter_over_a_live_source_is_refused_before_writing(tmp_path):
    pytest.importorskip("tifffile")
    import tifffile

    folder = tmp_path / "frames"
    folder.mkdir()
    for j, frame in enumerate(replay.frames(4, SHAPE, distinct=4)):
        tifffile.imwrite(folder / f"img{j}.tif", frame)
    (folder / "DONE").touch()
    (tmp_path / "p.yaml").write_text(
        f"source: {{path: {folder}, format: files-live, options: {{marker: DONE}}}}\n"
        "ops: [{name: dark, param: {stat: median}}]\noutput: out.zarr\n")
    done = lazyseries("run", "p.yaml", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "not computed over a live source" in done.stderr
    assert not os.path.exists(tmp_path / "out.zarr")
    # the same pipeline with the statistic given as an array writes
    np.save(tmp_path / "dark.npy", np.median(replay.frames(4, SHAPE, distinct=4), axis=0)
            .astype(np.uint16))
    (tmp_path / "p.yaml").write_text(
        f"source: {{path: {folder}, format: files-live, options: {{marker: DONE}}}}\n"
        "ops: [{name: dark, param: dark.npy}]\noutput: out.zarr\n")
    done = lazyseries("run", "p.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote 4 frames" in done.stdout

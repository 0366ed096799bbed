"""Fault injection: SIGKILLs at spread instants and at every phase, races, full disks.

Each killed write must leave its target absent, the old series untouched, or
(a new Zarr store) a store that opens as incomplete and says how to finish
it; repeating the write must then give what an uninterrupted write gives,
bit for bit, and leave nothing else behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import pipeline
from pipeline import errors
from tests._files import tree
from tests.pipeline.persist import _jobs

pytestmark = pytest.mark.slow

FORMATS = {"zarr": "t.zarr", "hdf5": "t.h5", "tiff": "t.tif", "npz": "t.npz", "fch5": "t.fch5"}
WRITER = {"zarr": "zarr", "hdf5": "hdf5", "tiff": "tiff", "npz": "frame-cache",
          "fch5": "frame-cache"}
OLD, NEW = 1, 2


class Zygote:
    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [os.getcwd(), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.proc = subprocess.Popen([sys.executable, _jobs.__file__], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout.readline().strip() == "ready"

    def start(self, **job) -> int:
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def zygote():
    z = Zygote()
    yield z
    z.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while _alive(pid):
        assert time.monotonic() < end, f"writer {pid} did not finish"
        time.sleep(0.01)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _wait_gone(pid)


def _job(tmp_path, fmt, case, overwrite, **extra):
    home = tmp_path / case
    home.mkdir()
    target = home / FORMATS[fmt]
    if overwrite:
        template = tmp_path / f"old-{FORMATS[fmt]}"
        if not template.exists():
            pipeline.write(_jobs.make_series(OLD), template, format=WRITER[fmt],
                           **_jobs.OPTIONS[WRITER[fmt]])
        copy = shutil.copytree if template.is_dir() else shutil.copyfile
        copy(template, target)
    return target, dict(target=os.fspath(target), format=WRITER[fmt], seed=NEW,
                        overwrite=overwrite, result=os.fspath(tmp_path / f"{case}.result"),
                        **extra)


def _check_after_kill(target, overwrite):
    """What a kill may leave: the old series, nothing, or an incomplete new store."""
    try:
        got = np.asarray(pipeline.open(target))
    except FileNotFoundError:
        assert not overwrite, "the old series is gone"
        return "absent"
    except errors.IncompleteStoreError as err:
        assert not overwrite and target.suffix == ".zarr", err
        assert "write the same series to it again" in str(err)
        return "incomplete"
    for seed, label in ((OLD, "old"), (NEW, "new")):
        if np.array_equal(got, _jobs.frames(seed)):
            assert overwrite or label == "new"
            return label
    raise AssertionError(f"{target} holds frames of neither write")


def _finish_and_compare(target, fmt, overwrite, reference):
    try:
        pipeline.write(_jobs.make_series(NEW), target, format=WRITER[fmt],
                       overwrite=overwrite, **_jobs.OPTIONS[WRITER[fmt]])
    except errors.StoreExistsError:
        assert not overwrite  # the killed write had finished: nothing to repeat
    back = pipeline.open(target)
    np.testing.assert_array_equal(np.asarray(back), _jobs.frames(NEW))
    assert back.metadata["NX_class"] == "NXimageseries"
    np.testing.assert_array_equal(back.metadata["large"], _jobs.META["large"])
    assert sorted(os.listdir(target.parent)) == [target.name]  # no claim, no staged leftovers
    if fmt == "zarr":
        assert _chunks(target) == _chunks(reference)


def _chunks(store):
    out = {}
    base = store / "0" / "c"
    for root, _, files in os.walk(base):
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                out[os.path.relpath(os.path.join(root, name), base)] = fh.read()
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    home = tmp_path_factory.mktemp("reference")
    pipeline.write(_jobs.make_series(NEW), home / "ref.zarr", **_jobs.OPTIONS["zarr"])
    return home / "ref.zarr"


FINISH = float("inf")
"""A 'delay' that lets the write finish: the sweep always includes a write that completed."""
ZARR_DELAYS = [0.0, 0.03, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5, FINISH]
FILE_DELAYS = [0.01, 0.1, 0.3, 0.7, FINISH]


def _sweep(tmp_path, zygote, reference, fmt, overwrite, delays, phases):
    """Start every write at once, kill each at its instant or phase, then check them all."""
    jobs = []
    for k, delay in enumerate(delays):
        jobs.append((*_job(tmp_path, fmt, f"d{k}", overwrite), delay, None))
    for name in phases:
        marker = tmp_path / f"{name}.reached"
        jobs.append((*_job(tmp_path, fmt, f"p-{name}", overwrite, pause_frame=_jobs.N // 2,
                           env={"LAZYSERIES_PAUSE_AT": name,
                                "LAZYSERIES_PAUSE_FILE": os.fspath(marker)}), None, marker))
    killers = []  # all targets ready first; each kill on its own thread, on time
    for target, job, delay, marker in jobs:
        pid = zygote.start(**job)
        killer = threading.Thread(target=_kill_when, args=(pid, delay, marker))
        killer.start()
        killers.append(killer)
    for killer in killers:
        killer.join()
    seen = [_check_after_kill(target, overwrite) for target, *_ in jobs]
    for target, *_ in jobs:
        _finish_and_compare(target, fmt, overwrite, reference)
    return seen


def _kill_when(pid, delay, marker):
    if delay == FINISH:
        _wait_gone(pid)
    elif marker is None:
        time.sleep(delay)
    else:
        end = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < end:
            time.sleep(0.005)
    _kill(pid)
    if marker is not None:
        assert marker.exists(), f"{marker.name} never reached"


@pytest.mark.parametrize("overwrite", [False, True], ids=["new", "overwrite"])
def test_zarr_writes_killed_anywhere_recover(tmp_path, zygote, reference, overwrite):
    phases = ["staged", "metadata", "array", "chunks", "complete"] + (
        ["swap"] if overwrite else ["placed"])
    seen = _sweep(tmp_path, zygote, reference, "zarr", overwrite, ZARR_DELAYS, phases)
    # the sweep really hit the write at different stages
    assert set(seen) >= ({"absent", "incomplete", "new"} if not overwrite else {"old", "new"})


@pytest.mark.parametrize("fmt", ["hdf5", "tiff", "npz", "fch5"])
def test_single_file_writes_killed_anywhere_recover(tmp_path, zygote, reference, fmt):
    seen = _sweep(tmp_path, zygote, reference, fmt, True, FILE_DELAYS,
                  ["staged", "blocks", "encoded"])
    assert set(seen) == {"old", "new"}


@pytest.mark.parametrize("fmt", ["zarr", "hdf5"])
def test_two_concurrent_writers_one_wins_whole(tmp_path, zygote, fmt):
    target = tmp_path / FORMATS[fmt]
    pids = []
    for seed in (OLD, NEW):
        pids.append(zygote.start(target=os.fspath(target), format=WRITER[fmt], seed=seed,
                                 sleep=0.05, result=os.fspath(tmp_path / f"{seed}.result")))
    for pid in pids:
        _wait_gone(pid)
    results = sorted((tmp_path / f"{seed}.result").read_text() for seed in (OLD, NEW))
    # the loser finds the target claimed (or, on a very slow machine, already written)
    assert results[1] == "ok", results
    assert results[0].startswith(("TargetBusyError", "StoreExistsError")), results
    if results[0].startswith("TargetBusyError"):
        assert "is being written by process" in results[0]
    got = np.asarray(pipeline.open(target))
    assert any(np.array_equal(got, _jobs.frames(seed)) for seed in (OLD, NEW))


def test_reading_while_a_store_is_overwritten_never_mixes(tmp_path, zygote):
    target, job = _job(tmp_path, "zarr", "read", True, sleep=0.02)
    old = pipeline.open(target)
    want = _jobs.frames(OLD)
    np.testing.assert_array_equal(old[0], want[0])
    pid = zygote.start(**job)
    reads = changed = 0
    rng = np.random.default_rng(0)
    while _alive(pid) or reads < 20:
        j = int(rng.integers(_jobs.N))
        try:
            np.testing.assert_array_equal(old[j], want[j])
            reads += 1
        except errors.StoreChangedError:
            changed += 1
            fresh = np.asarray(pipeline.open(target))
            assert np.array_equal(fresh, _jobs.frames(NEW)), "a reopened store mixes writes"
            break
    _wait_gone(pid)
    with pytest.raises(errors.StoreChangedError):
        old[0]
    np.testing.assert_array_equal(np.asarray(pipeline.open(target)), _jobs.frames(NEW))


def test_a_deleted_chunk_is_never_read_as_zeros(tmp_path):
    target = pipeline.write(_jobs.make_series(NEW), tmp_path / "d.zarr", chunks=(3, *_jobs.SHAPE))
    os.remove(tmp_path / "d.zarr" / "0" / "c" / "4" / "0" / "0")
    s = pipeline.open(target.path)
    want = _jobs.frames(NEW)
    for j in range(_jobs.N):
        if j // 3 == 4:
            with pytest.raises(errors.MissingChunkError, match="'c/4/0/0'"):
                s[j]
        else:
            np.testing.assert_array_equal(s[j], want[j])
    with pytest.raises(errors.MissingChunkError):
        pipeline.write(s, tmp_path / "copy.h5")
    assert not (tmp_path / "copy.h5").exists()


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "small"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", os.fspath(where)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr!r}")
    yield where
    subprocess.run(["umount", "-l", os.fspath(where)], check=False)


def test_a_full_disk_gives_a_clear_error_and_keeps_what_was_there(small_disk):
    rng = np.random.default_rng(5)
    big = pipeline.from_array(rng.integers(0, 2**16, size=(80, 128, 128), dtype=np.uint16))
    keep = pipeline.from_array(np.ones((2, 16, 16), np.uint16))
    names = {"hdf5": "x.h5", "tiff": "x.tif", "npz": "x.npz", "fch5": "x.fch5"}
    for fmt, name in names.items():
        pipeline.write(keep, small_disk / name)
    for fmt, name in names.items():
        options = {"gzip": 0} if fmt == "hdf5" else {}
        with pytest.raises(errors.DiskFullError, match=name) as info:
            pipeline.write(big, small_disk / name, overwrite=True, **options)
        assert "bytes" in str(info.value) or "disk filled" in str(info.value), fmt
        np.testing.assert_array_equal(np.asarray(pipeline.open(small_disk / name)), keep[:])
    with pytest.raises(errors.DiskFullError, match="x.h5"):
        pipeline.write(big, small_disk / "x.h5", overwrite=True)  # gzip: checked block by block
    zarr_keep = pipeline.write(keep, small_disk / "x.zarr")
    with pytest.raises(errors.DiskFullError, match="x.zarr"):
        pipeline.write(big, small_disk / "x.zarr", overwrite=True, codec="none")
    np.testing.assert_array_equal(np.asarray(pipeline.open(zarr_keep.path)), keep[:])
    assert sorted(os.listdir(small_disk)) == sorted([*names.values(), "x.zarr"])
    # with room made, the same writes work
    for name in [*names.values(), "x.zarr"]:
        pipeline.write(keep, small_disk / name, overwrite=True)


def test_many_threads_of_one_process_one_target(tmp_path):
    target = tmp_path / "t.zarr"
    outcomes: list[str] = []

    def write(seed):
        try:
            pipeline.write(_jobs.make_series(seed, 0.002), target, **_jobs.OPTIONS["zarr"])
            outcomes.append("ok")
        except errors.StoreExistsError as err:
            outcomes.append(type(err).__name__)

    threads = [threading.Thread(target=write, args=(s,)) for s in (OLD, NEW, OLD)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1, outcomes
    got = np.asarray(pipeline.open(target))
    assert any(np.array_equal(got, _jobs.frames(s)) for s in (OLD, NEW))


ZARR_PHASES = ["staged", "metadata", "array", "placed", "chunks", "complete", "swap"]
FILE_PHASES = ["staged", "blocks", "encoded"]


def _wait_result(path, timeout=120):
    end = time.monotonic() + timeout
    while not os.path.exists(path) or not path.read_text():
        assert time.monotonic() < end, "the writer did not finish"
        time.sleep(0.05)
    return path.read_text()


@pytest.mark.parametrize(("fmt", "phase", "overwrite"), [
    *[("zarr", p, False) for p in ZARR_PHASES if p != "swap"],
    *[("zarr", p, True) for p in ZARR_PHASES if p != "placed"],
    *[("hdf5", p, True) for p in FILE_PHASES],
])
def test_a_parent_swapped_for_a_link_mid_write_never_touches_the_other_folder(
        tmp_path, zygote, fmt, phase, overwrite):
    """Between two phases the target's folder becomes a link to another folder holding a
    complete store of the same name: that store stays bit for bit as it was, and the writer
    either finishes in the folder it began in and says it moved, or fails leaving it."""
    name = FORMATS[fmt]
    home, other = tmp_path / "A", tmp_path / "B"
    home.mkdir()
    other.mkdir()
    victim = pipeline.write(_jobs.make_series(OLD, 0), other / name, format=WRITER[fmt],
                            **_jobs.OPTIONS[WRITER[fmt]])
    if overwrite:
        pipeline.write(_jobs.make_series(OLD, 0), home / name, format=WRITER[fmt],
                       **_jobs.OPTIONS[WRITER[fmt]])
    before = tree(other)
    marker, result = tmp_path / "paused", tmp_path / "result"
    zygote.start(target=os.fspath(home / name), format=WRITER[fmt], seed=NEW, sleep=0.005,
                 overwrite=overwrite, result=os.fspath(result),
                 pause_frame=5 if phase == "chunks" else None,
                 env={"LAZYSERIES_PAUSE_AT": phase, "LAZYSERIES_PAUSE_FILE": os.fspath(marker),
                      "LAZYSERIES_PAUSE_SECONDS": "1.5"})
    end = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < end, f"the writer never reached {phase!r}"
        time.sleep(0.02)
    os.rename(home, tmp_path / "A.moved")
    os.symlink(other, home)
    outcome = _wait_result(result)
    assert tree(other) == before, outcome
    np.testing.assert_array_equal(np.asarray(pipeline.open(victim.path)), _jobs.frames(OLD))
    moved = tmp_path / "A.moved" / name
    assert outcome.startswith("TargetMovedError"), outcome
    assert "moved or replaced" in outcome
    np.testing.assert_array_equal(np.asarray(pipeline.open(moved)), _jobs.frames(NEW))

"""Targets however spelled, hostile things at a claim's name, foreign stores: nothing lost.

Each case is one the second round of fault injection found losing or mixing
data: URL spellings of a source, stores of other writers under
``overwrite=True``, FIFOs and links where a claim goes, unbounded layouts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pytest
import zarr

import pipeline
from pipeline import errors, storage
from pipeline.persist import claim as claims
from tests._files import tree


@pytest.fixture
def frames():
    return np.arange(6 * 8 * 10, dtype=np.uint16).reshape(6, 8, 10)


# -- 1, 2: a source spelled as a URL is still the source ----------------------------------


@pytest.mark.parametrize("spelling", ["file://./s.zarr", "file://../d/s.zarr", "local://s.zarr",
                                      "local:///{d}/s.zarr", "file:///{d}/s.zarr/"])
def test_a_source_spelled_as_a_url_is_never_its_own_target(tmp_path, frames, monkeypatch,
                                                          spelling):
    home = tmp_path / "d"
    home.mkdir()
    monkeypatch.chdir(home)
    src = pipeline.write(pipeline.from_array(frames), home / "s.zarr")
    before = tree(home / "s.zarr")
    target = spelling.format(d=os.fspath(home).lstrip("/"))
    with pytest.raises(errors.SourceTargetError, match="a source of the series"):
        pipeline.write(src.process([("flip", "v")]), target, overwrite=True)
    assert tree(home / "s.zarr") == before
    np.testing.assert_array_equal(np.asarray(pipeline.open(home / "s.zarr")), frames)


def test_the_cli_refuses_a_source_spelled_as_a_url(tmp_path, frames):
    pipeline.write(pipeline.from_array(frames), tmp_path / "s.zarr")
    before = tree(tmp_path / "s.zarr")
    out = subprocess.run([sys.executable, "-m", "pipeline", "process", "s.zarr",
                          "file://./s.zarr", "--op", "flip=v", "--overwrite"],
                         cwd=tmp_path, capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 2 and "a source of the series" in out.stderr, out.stderr
    assert tree(tmp_path / "s.zarr") == before


def test_the_working_directory_spelled_file_dot_is_the_source_it_is(tmp_path, frames):
    pipeline.write(pipeline.from_array(frames), tmp_path / "s.zarr")
    before = tree(tmp_path / "s.zarr")
    out = subprocess.run([sys.executable, "-m", "pipeline", "process", ".", "file://.",
                          "--op", "flip=v", "--overwrite"],
                         cwd=tmp_path / "s.zarr", capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 2 and "a source of the series" in out.stderr, out.stderr
    assert tree(tmp_path / "s.zarr") == before


def test_memory_urls_that_name_one_object_are_one_target(frames):
    name = uuid.uuid4().hex
    src = pipeline.write(pipeline.from_array(frames), f"memory://{name}/a.zarr")
    assert storage.locate(f"memory://{name}/a.zarr") == storage.locate(f"memory:///{name}/a.zarr")
    with pytest.raises(errors.SourceTargetError):
        pipeline.write(src.process([("flip", "v")]), f"memory:///{name}/a.zarr", overwrite=True)
    np.testing.assert_array_equal(np.asarray(pipeline.open(f"memory://{name}/a.zarr")), frames)


def test_storage_options_for_a_local_path_are_refused_not_ignored(tmp_path, frames):
    with pytest.raises(errors.OptionValueError, match="storage_options"):
        pipeline.write(pipeline.from_array(frames), tmp_path / "x.zarr",
                       storage_options={"anon": True})
    assert not (tmp_path / "x.zarr").exists()


# -- 3: one writer at a time on a URL target too ------------------------------------------


def test_two_writers_of_one_url_target_never_mix(frames):
    target = f"memory://{uuid.uuid4().hex}/t.zarr"
    outcomes: list[str] = []

    def slow(seed):
        def frame(j):
            time.sleep(0.01)
            return frames[j] + seed
        return pipeline.from_function(frame, len(frames), shape=frames.shape[1:],
                                      dtype=frames.dtype)

    def write(seed):
        try:
            pipeline.write(slow(seed), target, chunks=(1, 8, 10))
            outcomes.append(f"ok{seed}")
        except errors.StoreExistsError as err:
            outcomes.append(type(err).__name__)

    threads = [threading.Thread(target=write, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [o for o in outcomes if o.startswith("ok")]
    assert len(winners) == 1 and len(outcomes) == 2, outcomes
    seed = int(winners[0][2:])
    np.testing.assert_array_equal(np.asarray(pipeline.open(target)), frames + seed)


# -- 6: overwrite replaces only a store this project may replace --------------------------


def _group_with(path, extra):
    group = zarr.open_group(path, mode="w")
    group.create_array("images", data=np.zeros((2, 4, 4), np.uint16))
    for name, text in extra.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return group


@pytest.mark.parametrize("make", ["group-with-user-file", "plate-of-arrays", "stray-zarr-json"])
def test_overwrite_leaves_foreign_zarr_directories_alone(tmp_path, frames, make):
    target = tmp_path / "t.zarr"
    if make == "group-with-user-file":
        _group_with(target, {"notes.txt": "keep"})
    elif make == "plate-of-arrays":
        group = zarr.open_group(target, mode="w")
        for well in ("A1", "B2"):
            group.create_array(well, data=np.ones((2, 3, 3), np.uint8))
        (target / "README").write_text("a plate")
    else:
        target.mkdir()
        (target / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group"}))
        (target / "docs").mkdir()
        (target / "docs" / "thesis.tex").write_text("years of work")
    before = tree(target)
    with pytest.raises(errors.TargetRefusedError, match="left untouched"):
        pipeline.write(pipeline.from_array(frames), target, overwrite=True)
    assert tree(target) == before


def test_overwrite_replaces_a_plain_array_store_zarr_python_made(tmp_path, frames):
    zarr.create_array(tmp_path / "a.zarr", data=np.ones((3, 4, 4), np.uint8))
    back = pipeline.write(pipeline.from_array(frames), tmp_path / "a.zarr", overwrite=True)
    np.testing.assert_array_equal(np.asarray(back), frames)


# -- 14 and the claim bullets: what is at a claim's name is never trusted ----------------


def _claim(target):
    return claims.claim_location(storage.locate(target)).local


@pytest.mark.parametrize("kind", ["fifo", "dev-zero-link", "dangling-link", "huge-file"])
def test_a_hostile_object_at_the_claim_name_fails_at_once_naming_it(tmp_path, frames, kind):
    target = tmp_path / "x.zarr"
    where = _claim(target)
    if kind == "fifo":
        os.mkfifo(where)
    elif kind == "dev-zero-link":
        os.symlink("/dev/zero", where)
    elif kind == "dangling-link":
        os.symlink(tmp_path / "nowhere", where)
    else:
        with open(where, "wb") as fh:
            fh.truncate(10**9)  # sparse: no disk, but a gigabyte to whoever reads it all
    start = time.monotonic()
    with pytest.raises(errors.TargetBusyError, match=os.path.basename(where)):
        pipeline.write(pipeline.from_array(frames), target)
    assert time.monotonic() - start < 5
    assert not target.exists()


@pytest.mark.parametrize("length", [230, 240, 250])
def test_long_target_names_are_claimed_and_written(tmp_path, frames, length):
    name = "x" * (length - len(".zarr")) + ".zarr"
    back = pipeline.write(pipeline.from_array(frames), tmp_path / name)
    np.testing.assert_array_equal(np.asarray(back), frames)
    assert sorted(os.listdir(tmp_path)) == [name]
    again = pipeline.write(pipeline.from_array(frames + 1), tmp_path / name, overwrite=True)
    np.testing.assert_array_equal(np.asarray(again), frames + 1)


@pytest.fixture
def read_only_dir(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    where = tmp_path / "ro"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs",
                           os.fspath(where)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr!r}")
    yield where
    subprocess.run(["umount", "-l", os.fspath(where)], check=False)


def test_a_read_only_directory_is_a_clear_error_naming_the_target(read_only_dir, frames):
    for name in ("x.zarr", "x.h5"):
        with pytest.raises(errors.StorageError, match=name) as info:
            pipeline.write(pipeline.from_array(frames), read_only_dir / name)
        assert "Read-only" in str(info.value) and ".partial" not in str(info.value)


def _fill(folder) -> None:
    """Take every free block of ``folder``'s file system."""
    fd = os.open(os.path.join(folder, "filler"), os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\xff" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def _small_disk(tmp_path, size):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "small"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                           os.fspath(where)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr!r}")
    yield where
    subprocess.run(["umount", "-l", os.fspath(where)], check=False)


@pytest.fixture
def full_disk(tmp_path):
    for where in _small_disk(tmp_path, "64k"):
        _fill(where)
        yield where


@pytest.fixture
def small_disk(tmp_path):
    yield from _small_disk(tmp_path, "8m")


FILL_MID_WRITE = """
import sys, numpy as np, pipeline
from tests.pipeline.persist.test_spellings import _fill
folder, name = sys.argv[1], sys.argv[2]
data = np.random.default_rng(0).random((20, 128, 128)) + 0.5
def frame(j):
    if j == 8:  # the disk fills up half way, as another writer of the disk would fill it
        _fill(folder)
    return data[j]
s = pipeline.open(None, "function", func=frame, nframes=20, shape=(128, 128), dtype="float64")
try:
    pipeline.write(s, folder + "/" + name, **({"threshold": 0} if name.endswith(
        (".npz", ".fch5")) else {}))
except pipeline.errors.DiskFullError as err:
    print("DiskFullError:", err)
"""


@pytest.mark.parametrize("name", ["x.fch5", "x.npz", "x.h5", "x.tif", "x.zarr"])
def test_a_disk_filling_up_mid_write_ends_in_one_error_and_leaves_nothing(small_disk, name):
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", FILL_MID_WRITE,
                           os.fspath(small_disk), name], capture_output=True, text=True,
                          timeout=120, check=False, cwd=os.getcwd())
    # the process ends by itself: no crash at exit from a library's file left half closed
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.startswith("DiskFullError:") and name in done.stdout, done.stdout
    assert sorted(os.listdir(small_disk)) == ["filler"]


def test_a_disk_full_before_the_frames_names_the_target_and_leaves_nothing(full_disk, frames):
    with pytest.raises(errors.DiskFullError, match="x.zarr"):
        pipeline.write(pipeline.from_array(frames), full_disk / "x.zarr")
    assert sorted(os.listdir(full_disk)) == ["filler"]


# -- 17: layouts are bounded at the front door --------------------------------------------


@pytest.mark.parametrize(("chunks", "shards"), [
    (10**7, None), ((10**7, 8, 10), None), (0, None), (False, None), (1.5, None), ("3", None),
    ((1, 8), None), ((1, 8, 10), 10**6), ((1, 8, 10), (12, 8, 10)), ((2, 8, 10), 0),
    ((1, 4, 10), (1, 6, 10)),
])
def test_bad_chunks_and_shards_are_refused_before_any_work(tmp_path, frames, chunks, shards):
    with pytest.raises(errors.OptionValueError, match="chunks|shards") as info:
        pipeline.write(pipeline.from_array(frames), tmp_path / "x.zarr", chunks=chunks,
                       shards=shards)
    assert repr(chunks if "chunks=" in str(info.value) else shards) in str(info.value)
    assert not (tmp_path / "x.zarr").exists()


def test_numpy_integers_are_sizes_too(tmp_path, frames):
    back = pipeline.write(pipeline.from_array(frames), tmp_path / "x.zarr",
                          chunks=np.int64(3), shards=np.int32(2))
    assert back.zarr_array.shards == (6, 8, 10) and back.zarr_array.chunks == (3, 8, 10)
    np.testing.assert_array_equal(np.asarray(back), frames)

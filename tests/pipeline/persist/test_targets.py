"""Where a write may go: overwrite policy, own sources in every spelling, claims, leftovers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys

import numpy as np
import pytest
import tifffile
import zarr

import pipeline
from pipeline import errors, pipelinefile, storage
from pipeline.persist import claim as claims
from tests._files import tree

SINGLE = ["out.h5", "out.tif", "out.npz", "out.fch5"]
ALL = ["out.zarr", *SINGLE]


@pytest.fixture
def frames():
    return np.arange(6 * 8 * 10, dtype=np.uint16).reshape(6, 8, 10)


@pytest.fixture
def series(frames):
    return pipeline.from_array(frames)


# -- overwrite replaces only a series of the target's format -----------------------------


@pytest.mark.parametrize("name", ALL)
def test_overwrite_refuses_a_directory_that_is_not_a_store(tmp_path, series, name):
    target = tmp_path / name
    (target / "sub").mkdir(parents=True)
    (target / "notes.txt").write_text("keep")
    (target / "sub" / "data.bin").write_bytes(b"\x00" * 10)
    before = tree(target)
    with pytest.raises(errors.TargetRefusedError, match="left untouched") as info:
        pipeline.write(series, target, overwrite=True)
    assert name in str(info.value) and isinstance(info.value, FileExistsError)
    assert tree(target) == before


@pytest.mark.parametrize("name", ALL)
def test_overwrite_refuses_a_file_of_another_kind(tmp_path, series, name):
    target = tmp_path / name
    target.write_text("my thesis")
    with pytest.raises(errors.TargetRefusedError, match="not a"):
        pipeline.write(series, target, overwrite=True)
    assert target.read_text() == "my thesis"


def test_overwrite_refuses_a_series_of_another_format(tmp_path, series):
    tifffile.imwrite(tmp_path / "t.h5", np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(errors.TargetRefusedError, match="not a hdf5 series"):
        pipeline.write(series, tmp_path / "t.h5", overwrite=True)
    pipeline.write(series, tmp_path / "t.zarr")
    with pytest.raises(errors.TargetRefusedError, match="directory"):
        pipeline.write(series, tmp_path / "t.zarr", format="hdf5", overwrite=True)
    assert pipeline.open(tmp_path / "t.zarr").shape == (8, 10)


@pytest.mark.parametrize("name", ALL)
def test_overwrite_replaces_a_series_of_the_format(tmp_path, frames, name):
    target = tmp_path / name
    pipeline.write(pipeline.from_array(frames), target)
    pipeline.write(pipeline.from_array(frames[::-1].copy()), target, overwrite=True)
    np.testing.assert_array_equal(np.asarray(pipeline.open(target)), frames[::-1])
    assert sorted(os.listdir(tmp_path)) == [name]  # no staged file, no claim left


@pytest.mark.parametrize("spelling", [".", "..", "{cwd}", "{cwd}/", "file://{cwd}"])
def test_the_working_directory_is_never_a_target(tmp_path, series, monkeypatch, spelling):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("keep")
    monkeypatch.chdir(work)
    target = spelling.format(cwd=os.fspath(work))
    with pytest.raises(errors.TargetRefusedError, match="current directory"):
        pipeline.write(series, target, format="zarr", overwrite=True)
    assert os.listdir(work) == ["keep.txt"]


# -- never onto a source -----------------------------------------------------------------


SPELLINGS = ["{p}", "{d}/x/../{n}", "file://{p}", "{p}/", "{d}/link", "{d}", "{p}/inside.zarr"]


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("overwrite", [False, True])
def test_own_zarr_source_in_every_spelling_is_refused(tmp_path, frames, spelling, overwrite):
    src = tmp_path / "scan.zarr"
    pipeline.write(pipeline.from_array(frames), src)
    os.symlink(src, tmp_path / "link")
    before = tree(src)
    ps = pipeline.open(src).process([("flip", "v")])
    target = spelling.format(p=os.fspath(src), d=os.fspath(tmp_path), n="scan.zarr")
    with pytest.raises(errors.SourceTargetError, match="source of the series") as info:
        pipeline.write(ps, target, format="zarr", overwrite=overwrite)
    assert isinstance(info.value, errors.TargetRefusedError)
    assert not isinstance(info.value, ValueError)  # one family: an OSError, as shutil's
    assert tree(src) == before
    np.testing.assert_array_equal(np.asarray(pipeline.open(src)), frames)


@pytest.mark.parametrize("name", SINGLE)
def test_own_single_file_source_is_refused(tmp_path, frames, name):
    src = tmp_path / name
    pipeline.write(pipeline.from_array(frames), src)
    before = src.read_bytes()
    ps = pipeline.open(src).process([("flip", "h")])[1:4]
    for target in (src, f"file://{src}", tmp_path / "x" / ".." / name):
        with pytest.raises(errors.SourceTargetError):
            pipeline.write(ps, target, overwrite=True)
    assert src.read_bytes() == before


def test_every_file_of_an_image_files_list_is_a_source(tmp_path, frames):
    (tmp_path / "imgs").mkdir()
    for k in range(3):
        tifffile.imwrite(tmp_path / "imgs" / f"f{k}.tif", frames[k])
    (tmp_path / "list.yml").write_text("image-files: {directory: imgs, files: '*.tif'}\n")
    src = pipeline.open(tmp_path / "list.yml")
    with pytest.raises(errors.SourceTargetError, match="f1.tif"):
        pipeline.write(src, tmp_path / "imgs" / "f1.tif", overwrite=True)
    with pytest.raises(errors.SourceTargetError, match="contains"):
        pipeline.write(src, tmp_path / "imgs", format="zarr", overwrite=True)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "imgs" / "f1.tif"), frames[1])


# -- umask, leftovers, empty series ------------------------------------------------------


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_files_honour_the_umask(tmp_path, series, mask):
    old = os.umask(mask)
    try:
        for name in ALL:
            pipeline.write(series, tmp_path / name)
    finally:
        os.umask(old)
    for name in SINGLE:
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~mask, name
    for root, dirs, files in os.walk(tmp_path / "out.zarr"):
        for f in files:
            assert stat.S_IMODE(os.stat(os.path.join(root, f)).st_mode) == 0o666 & ~mask


@pytest.mark.parametrize("name", ALL)
def test_leftovers_of_killed_writes_are_removed_by_the_next_write(tmp_path, series, name):
    junk = [tmp_path / f".{name}.k3j2h1.partial", tmp_path / f".{name}.lazyseries-staged"]
    junk[0].write_bytes(b"\x00" * 1000)
    (tmp_path / f".{name}.lazyseries-claim.1f2e3d").write_text("{")  # killed while claiming
    junk[1].mkdir() if name.endswith(".zarr") else junk[1].write_bytes(b"half")
    pipeline.write(series, tmp_path / name)
    assert sorted(os.listdir(tmp_path)) == [name]


def test_an_old_store_moved_aside_by_a_killed_swap_comes_back(tmp_path, frames):
    target = tmp_path / "s.zarr"
    pipeline.write(pipeline.from_array(frames), target)
    os.rename(target, tmp_path / ".s.zarr.lazyseries-old")  # killed between the two renames
    with pytest.raises(errors.StoreExistsError):
        pipeline.write(pipeline.from_array(frames[:2]), target)
    np.testing.assert_array_equal(np.asarray(pipeline.open(target)), frames)


@pytest.mark.parametrize("name", ALL)
def test_an_empty_series_is_a_valid_empty_file_or_a_clear_error(tmp_path, name):
    empty = pipeline.from_array(np.zeros((0, 4, 5), np.uint8))
    if name.endswith(".tif"):
        with pytest.raises(errors.EmptySeriesError, match="no frames"):
            pipeline.write(empty, tmp_path / name)
        assert os.listdir(tmp_path) == []
        return
    pipeline.write(empty, tmp_path / name)
    back = pipeline.open(tmp_path / name)
    assert len(back) == 0 and back.shape == (4, 5)


# -- one writer at a time ----------------------------------------------------------------


def _claim_file(target, **record):
    path = claims.claim_location(storage.locate(target)).local
    with open(path, "w") as fh:
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": "then",
                   "write_id": "other", **record}, fh)
    return path


@pytest.mark.parametrize("name", ALL)
def test_a_held_target_is_refused_naming_its_holder(tmp_path, series, name):
    path = _claim_file(tmp_path / name)
    with pytest.raises(errors.TargetBusyError, match=f"process {os.getpid()} on host") as info:
        pipeline.write(series, tmp_path / name)
    assert "started 'then'" in str(info.value)
    _claim_file(tmp_path / name, host="elsewhere.example")
    with pytest.raises(errors.TargetBusyError, match="remove"):
        pipeline.write(series, tmp_path / name)
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(path)]


@pytest.mark.parametrize("name", ALL)
def test_the_claim_of_a_dead_writer_is_broken(tmp_path, series, name):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    _claim_file(tmp_path / name, pid=int(dead.stdout))
    pipeline.write(series, tmp_path / name)
    assert sorted(os.listdir(tmp_path)) == [name]


def test_an_unrun_write_task_holds_the_target_until_it_runs(tmp_path, series):
    task = pipeline.write(series, tmp_path / "t.zarr", compute=False)
    with pytest.raises(errors.TargetBusyError):
        pipeline.write(series, tmp_path / "t.zarr", overwrite=True)
    task.compute()
    pipeline.write(series, tmp_path / "t.zarr", overwrite=True)
    dropped = pipeline.write(series, tmp_path / "u.zarr", compute=False)
    del dropped  # never run: the claim goes with it
    pipeline.write(series, tmp_path / "u.zarr")


# -- readers notice replaced stores and lost chunks --------------------------------------


def test_a_series_open_on_a_replaced_store_raises_instead_of_mixing(tmp_path, frames):
    target = tmp_path / "r.zarr"
    pipeline.write(pipeline.from_array(frames), target, chunks=(1, 8, 10))
    old = pipeline.open(target)
    np.testing.assert_array_equal(old[0], frames[0])
    pipeline.write(pipeline.from_array(frames + 1), target, overwrite=True, chunks=(1, 8, 10))
    with pytest.raises(errors.StoreChangedError, match="replaced or is being rewritten"):
        _ = old[1]
    with pytest.raises(errors.StoreChangedError):
        np.asarray(old)
    with pytest.raises(errors.StoreChangedError):
        _ = old.metadata  # read lazily: never the new store's
    np.testing.assert_array_equal(np.asarray(pipeline.open(target)), frames + 1)


def test_a_chunk_missing_from_a_complete_store_raises_naming_it(tmp_path, frames):
    target = tmp_path / "m.zarr"
    pipeline.write(pipeline.from_array(frames), target, chunks=(2, 8, 10))
    os.remove(target / "0" / "c" / "1" / "0" / "0")
    s = pipeline.open(target)
    np.testing.assert_array_equal(s[1], frames[1])
    with pytest.raises(errors.MissingChunkError, match="chunk 'c/1/0/0'.*frames from 2"):
        s[3]
    with pytest.raises(errors.MissingChunkError):
        np.asarray(s)
    with pytest.raises(errors.MissingChunkError):
        s[2, 1:3, 4:6]


@pytest.mark.slow  # a console-script subprocess
def test_cli_process_of_a_store_with_a_lost_chunk_fails(tmp_path, frames):
    pipeline.write(pipeline.from_array(frames), tmp_path / "m.zarr", chunks=(2, 8, 10))
    shutil.rmtree(tmp_path / "m.zarr" / "0" / "c" / "2")
    out = subprocess.run([sys.executable, "-m", "pipeline", "process", "m.zarr", "o.zarr", "-q"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode != 0 and "c/2/0/0" in out.stderr
    # the failed run removes the output it created: nothing half-written is left behind
    assert not (tmp_path / "o.zarr").exists()


@pytest.mark.slow  # a console-script subprocess
def test_cli_process_overwrite_refuses_a_non_store_directory(tmp_path, frames):
    pipeline.write(pipeline.from_array(frames), tmp_path / "in.zarr")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "keep.txt").write_text("keep")
    out = subprocess.run([sys.executable, "-m", "pipeline", "process", "in.zarr", "results",
                          "--format", "zarr", "--overwrite", "-q"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode != 0 and "not a zarr series" in out.stderr
    assert os.listdir(tmp_path / "results") == ["keep.txt"]


@pytest.mark.parametrize("body, message", [
    ("[1, 2]", "not a readable Zarr store"),
    (('{"zarr_format": 3, "node_type": "group", "attributes": {"lazyseries": '
      '{"complete": "false", "array": "images"}}}'), "incomplete"),
    ('{"zarr_format": 3, "node_type": "group", "attributes": {"lazyseries": [1]}}',
     "not a mapping"),
    ('{"zarr_format": 3, "node_type": "group", "attributes": {"deep": '
     + "[" * 50_000 + "]" * 50_000 + "}}", "nests deeper"),
])
def test_store_records_that_do_not_say_complete_are_refused(tmp_path, body, message):
    target = tmp_path / "j.zarr"
    target.mkdir()
    (target / "zarr.json").write_text(body)
    with pytest.raises(errors.NotASeriesError, match=message):
        pipeline.open(target, format="zarr")


def test_a_complete_string_false_is_not_complete(tmp_path, frames):
    target = tmp_path / "s.zarr"
    pipeline.write(pipeline.from_array(frames), target)
    group = zarr.open_group(target, mode="r+")
    group.attrs["lazyseries"] = {**group.attrs["lazyseries"], "complete": "false"}
    with pytest.raises(errors.IncompleteStoreError):
        pipeline.open(target)


# -- pipeline files ----------------------------------------------------------------------


def test_a_pipeline_file_output_cannot_escape_its_folder(tmp_path, frames):
    home = tmp_path / "a" / "b"
    home.mkdir(parents=True)
    pipeline.write(pipeline.from_array(frames), home / "raw.zarr")
    (home / "p.yml").write_text("source: raw.zarr\noutput: {path: ../../x.zarr}\n")
    with pytest.raises(errors.PipelineFileError, match="outside the pipeline file's folder"):
        pipelinefile.run(home / "p.yml")
    assert not (tmp_path / "x.zarr").exists()
    (home / "q.yml").write_text(f"source: raw.zarr\noutput: {{path: {tmp_path / 'y.zarr'}}}\n")
    pipelinefile.run(home / "q.yml")  # an absolute path says where in full
    (home / "r.yml").write_text("source: raw.zarr\noutput: {path: sub/../z.zarr}\n")
    pipelinefile.run(home / "r.yml")
    assert (home / "z.zarr").is_dir()


def test_overwrite_without_an_atomic_exchange_moves_the_old_store_aside(tmp_path, frames,
                                                                         monkeypatch):
    from pipeline.storage.local import LocalBackend

    target = tmp_path / "x.zarr"
    pipeline.write(pipeline.from_array(frames), target)
    monkeypatch.setattr(LocalBackend, "exchange", lambda self, a, b: False)  # e.g. NFS
    pipeline.write(pipeline.from_array(frames + 3), target, overwrite=True)
    np.testing.assert_array_equal(np.asarray(pipeline.open(target)), frames + 3)
    assert sorted(os.listdir(tmp_path)) == ["x.zarr"]


def test_data_files_linked_from_a_nexus_master_are_sources(tmp_path):
    pytest.importorskip("hdf5plugin")
    from tests.pipeline.formats.test_hdf5_detector import eiger_master, vds_master

    master, _ = eiger_master(tmp_path)
    part = tmp_path / "scan_data_000002.h5"
    before = part.read_bytes()
    with pytest.raises(errors.SourceTargetError, match="scan_data_000002.h5"):
        pipeline.write(pipeline.open(master), part, format="hdf5", overwrite=True)
    assert part.read_bytes() == before
    (tmp_path / "v").mkdir()
    vds, _ = vds_master(tmp_path / "v")
    with pytest.raises(errors.SourceTargetError, match="d_1.h5"):
        pipeline.write(pipeline.open(vds), tmp_path / "v" / "d_1.h5", overwrite=True)


def _fails_half_way(frames):
    """The series of ``frames`` whose frame 4 raises when computed (after others are written)."""
    def frame(j):
        if j == 4:
            raise RuntimeError("frame 4 failed")
        return frames[j]
    return pipeline.open(None, "function", func=frame, nframes=len(frames),
                         shape=frames.shape[1:], dtype=frames.dtype)


@pytest.mark.parametrize("name", ALL)
def test_a_failed_write_from_python_leaves_nothing_new_and_the_old_whole(tmp_path, frames,
                                                                          name):
    bad = _fails_half_way(frames)
    with pytest.raises(RuntimeError, match="frame 4 failed"):
        pipeline.write(bad, tmp_path / name, chunks=1) if name.endswith(".zarr") else \
            pipeline.write(bad, tmp_path / name)
    assert os.listdir(tmp_path) == []  # as the command line: nothing left that it made
    pipeline.write(pipeline.from_array(frames[:2]), tmp_path / name)
    before = tree(tmp_path)
    with pytest.raises(RuntimeError, match="frame 4 failed"):
        pipeline.write(bad, tmp_path / name, overwrite=True)
    assert tree(tmp_path) == before

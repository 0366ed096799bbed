"""A write interrupted half way is finished by the same write: chunks written are kept, not
recomputed (counted), and the store ends byte for byte as one uninterrupted write makes it."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest

import ops
import pipeline
from pipeline import errors

# 2 MiB frames: a write task holds 4 of them (about 8 MiB, pipeline.graph), one stored chunk
FRAMES = np.random.default_rng(11).integers(0, 4000, (40, 1024, 1024), dtype=np.uint16)
SEEN: list[int] = []
STOP_AT: list[int] = []
"""The count of blocks processed at which the write stops (empty: it does not)."""
LOCK = threading.Lock()


@pytest.fixture
def counted():
    """An op that records the first frame of every block it processes, and stops the write
    (as Ctrl-C does) at the STOP_AT[0]-th block it processes: which block that is, dask's
    order says (the write's task names are its own each run)."""
    SEEN.clear()
    STOP_AT.clear()

    @ops.register("count_blocks")
    def count_blocks(block, param):
        first = int(block[0, 0, 0])  # frame numbers are stamped into pixel (0, 0)
        with LOCK:
            SEEN.append(first)
            stop = bool(STOP_AT) and len(SEEN) == STOP_AT[0]
        if stop:
            raise KeyboardInterrupt
        return block

    frames = FRAMES.copy()
    frames[:, 0, 0] = np.arange(len(frames))
    return pipeline.from_array(frames).process([("count_blocks", 0), ("flip", "v")])


def _files(path):
    found = {}
    for root, _, names in os.walk(path):
        for name in names:
            full = os.path.join(root, name)
            with open(full, "rb") as fh:
                found[os.path.relpath(full, path)] = (os.stat(full).st_ino, fh.read())
    return found


def _one_thread():
    """The interrupted write on dask's synchronous scheduler: on the threaded one, blocks
    already running go on after the interrupt and would be counted with the next write."""
    import dask

    return dask.config.set(scheduler="synchronous")


def _write(series, path, **kw):
    return pipeline.write(series, path, chunks=(4, 1024, 1024), shards=None, **kw)


def _window(path) -> dict:
    with open(os.path.join(path, "zarr.json"), encoding="utf-8") as fh:
        return json.load(fh)["attributes"]["ome"]["omero"]["channels"][0]["window"]


def test_an_interrupted_write_keeps_its_chunks_and_the_rerun_computes_only_the_rest(
        counted, tmp_path):
    whole = _write(counted, tmp_path / "whole.zarr")
    SEEN.clear()
    STOP_AT.append(6)  # the sixth of 10 blocks of 4 frames
    with pytest.raises(KeyboardInterrupt), _one_thread():
        pipeline.write(counted, tmp_path / "out.zarr", chunks=(4, 1024, 1024), shards=None)
    with pytest.raises(errors.IncompleteStoreError):
        pipeline.open(tmp_path / "out.zarr")
    before = {k: v for k, v in _files(tmp_path / "out.zarr").items() if k.startswith("0/c")}
    kept = sorted(int(k.split("/")[2]) * 4 for k in before)
    assert kept and SEEN[-1] not in kept and len(kept) < 10
    STOP_AT.clear()
    SEEN.clear()
    out = _write(counted, tmp_path / "out.zarr")
    assert sorted(SEEN) == sorted(set(range(0, 40, 4)) - set(kept))  # only the rest computed
    after = _files(tmp_path / "out.zarr")
    for name, (inode, _) in before.items():
        assert after[name][0] == inode  # kept, not rewritten
    np.testing.assert_array_equal(np.asarray(out), np.asarray(whole))
    assert _window(tmp_path / "out.zarr") == _window(tmp_path / "whole.zarr") == {
        "min": 0.0, "max": float(FRAMES.max()), "start": 0.0, "end": float(FRAMES.max())}
    ours = {k: v[1] for k, v in after.items() if k != "zarr.json"}
    assert ours == {k: v[1] for k, v in _files(tmp_path / "whole.zarr").items()
                    if k != "zarr.json"}


def test_a_resumed_write_folds_the_ranges_of_the_blocks_it_kept(counted, tmp_path):
    STOP_AT.append(6)
    with pytest.raises(KeyboardInterrupt), _one_thread():
        _write(counted, tmp_path / "out.zarr")
    # each block's channel ranges are kept beside its chunks, named by its frames
    ranges = tmp_path / "out.zarr" / "_ranges"
    kept = sorted(os.listdir(ranges))
    assert kept and f"{SEEN[-1]}-{SEEN[-1] + 4}" not in kept
    # one kept block's ranges made wider than any frame: the rerun must fold the kept ones
    (ranges / kept[0]).write_bytes(np.array([-5.0, 99999.0], "<f8").tobytes())
    STOP_AT.clear()
    _write(counted, tmp_path / "out.zarr")
    assert _window(tmp_path / "out.zarr") == {"min": -5.0, "max": 99999.0, "start": -5.0,
                                              "end": 99999.0}
    assert not ranges.exists()  # folded into the windows, then removed


def test_another_jobs_incomplete_store_is_rebuilt_whole(counted, tmp_path):
    STOP_AT.append(4)
    with pytest.raises(KeyboardInterrupt), _one_thread():
        _write(counted, tmp_path / "out.zarr")
    STOP_AT.clear()
    other = pipeline.from_array(FRAMES).process([("flip", "h")])  # same frames' shape, not job
    out = _write(other, tmp_path / "out.zarr")
    # no chunk of the other job kept: each of those holds flip v of stamped frames
    np.testing.assert_array_equal(np.asarray(out), FRAMES[:, ::-1])


def test_leftovers_of_killed_chunk_writes_are_removed_on_resume(counted, tmp_path):
    STOP_AT.append(3)
    with pytest.raises(KeyboardInterrupt), _one_thread():
        _write(counted, tmp_path / "out.zarr")
    STOP_AT.clear()
    partial = tmp_path / "out.zarr" / "0" / "c" / ".7.0123456789ab.partial"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"half a chunk")
    _write(counted, tmp_path / "out.zarr")
    assert not partial.exists()


def test_the_scheduler_holds_bounded_batches(monkeypatch, tmp_path):
    from pipeline.persist import stores

    sizes = []
    real = stores._batches
    monkeypatch.setattr(stores, "BATCH", 3)
    monkeypatch.setattr(stores, "_batches", lambda tasks: (sizes.append(len(b)) or b
                                                            for b in real(tasks)))
    series = pipeline.from_array(FRAMES)
    out = pipeline.write(series, tmp_path / "o.zarr", chunks=(4, 1024, 1024), shards=None)
    assert sizes == [3, 3, 3, 1]
    np.testing.assert_array_equal(np.asarray(out), FRAMES)

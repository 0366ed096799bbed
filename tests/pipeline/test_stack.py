"""ImageStack: list semantics while spilling, the memory budget, the scratch store's lifetime."""

from __future__ import annotations

import gc
import os
import pickle
import tracemalloc

import numpy as np
import pytest

import pipeline
from pipeline.stack import ImageStack, convert, memory_budget
from pipeline.testing import SeriesConformance

META = {"omega": np.arange(24.0).reshape(12, 2), "name": "stack"}


def _frames() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 4000, (12, 20, 30), dtype=np.uint16)


class TestImageStack(SeriesConformance):
    """A stack holding 3 of its 12 frames in memory is a series like any other."""

    file_backed = False

    def make(self, tmp_path):
        frames = _frames()
        st = ImageStack(max_memory_mb=3 * frames[0].nbytes / 2**20, scratch_dir=tmp_path / "scr",
                        metadata=dict(META))
        st.extend(frames)
        assert st.nspilled == 9
        return st, frames, META


def _frame(rng, value=None):
    return rng.integers(0, 60000, (16, 24), dtype=np.uint16)


def test_list_semantics_while_spilling(tmp_path, rng):
    budget = 4 * 16 * 24 * 2 / 2**20  # room for 4 frames
    st = ImageStack(max_memory_mb=budget, scratch_dir=tmp_path)
    ref: list[np.ndarray] = []
    for _ in range(10):
        f = _frame(rng)
        st.append(f)
        ref.append(f)
    for step in range(40):
        action = step % 5
        if action == 0:
            j = int(rng.integers(len(ref)))
            f = _frame(rng)
            st[j] = f
            ref[j] = f
        elif action == 1:
            j = int(rng.integers(-len(ref), len(ref)))
            del st[j]
            del ref[j]
        elif action == 2:
            j = int(rng.integers(len(ref) + 1))
            f = _frame(rng)
            st.insert(j, f)
            ref.insert(j, f)
        elif action == 3:
            fs = [_frame(rng) for _ in range(2)]
            st.extend(fs)
            ref.extend(fs)
        else:
            j = int(rng.integers(len(ref)))
            np.testing.assert_array_equal(st[j], ref[j])  # brings a spilled frame back
        assert len(st) == len(ref)
        assert st.memory_bytes <= st.budget_bytes
    assert st.nspilled > 0
    np.testing.assert_array_equal(np.asarray(st), np.stack(ref))
    np.testing.assert_array_equal(np.stack(list(st)), np.stack(ref))
    del st[2:5]
    del ref[2:5]
    np.testing.assert_array_equal(st.to_dask().compute(), np.stack(ref))
    # one task per frame: threads read back and evict concurrently
    np.testing.assert_array_equal(st.to_dask(frames_per_chunk=1).compute(), np.stack(ref))
    assert st.memory_bytes <= st.budget_bytes


def test_caller_frames_are_copied(tmp_path):
    f = np.ones((4, 5), np.uint8)
    st = ImageStack(max_memory_mb=1, scratch_dir=tmp_path)
    st.append(f)
    f[:] = 9
    got = st[0]
    got[:] = 7
    np.testing.assert_array_equal(st[0], np.ones((4, 5)))


def test_read_back_frame_stays_in_memory_until_budget(tmp_path):
    frames = np.arange(6 * 8 * 8, dtype=np.float64).reshape(6, 8, 8)
    st = ImageStack(max_memory_mb=2 * frames[0].nbytes / 2**20, scratch_dir=tmp_path)
    st.extend(frames)
    assert st.nspilled == 4 and not st.in_memory
    np.testing.assert_array_equal(st[0], frames[0])  # least recent frame, back in memory
    assert 0 in [st._order.index(k) for k in st._memory]
    np.testing.assert_array_equal(st[1], frames[1])
    np.testing.assert_array_equal(st[2], frames[2])  # the budget pushes frame 0 out again
    assert 0 not in [st._order.index(k) for k in st._memory]
    assert st.memory_bytes <= st.budget_bytes


def test_region_of_spilled_frame_reads_from_disk(tmp_path):
    frames = np.arange(4 * 8 * 8, dtype=np.uint16).reshape(4, 8, 8)
    st = ImageStack(max_memory_mb=0, scratch_dir=tmp_path)
    st.extend(frames)
    assert st.nspilled == 4
    np.testing.assert_array_equal(st.get_region(1, ((2, 5), (1, 7))), frames[1, 2:5, 1:7])
    np.testing.assert_array_equal(st.region(2, (1, 0), (3, 4), (2, 2)), frames[2, 1:7:2, 0:8:2])
    assert st.nspilled == 4


def test_memory_stays_near_budget(tmp_path):
    frame_bytes = 256 * 1024
    budget = 2 * 2**20
    st = ImageStack(max_memory_mb=2, scratch_dir=tmp_path)
    tracemalloc.start()
    try:
        for i in range(48):  # 12 MiB of frames
            st.append(np.full((512, 512), i, np.uint8))
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert st.memory_bytes <= budget
    assert current < budget + 4 * frame_bytes
    assert peak < 3 * budget  # transient copies while a frame is written; far below 12 MiB
    np.testing.assert_array_equal(st[7], np.full((512, 512), 7, np.uint8))
    assert st.nspilled >= 40


def test_slots_are_reused(tmp_path):
    st = ImageStack(max_memory_mb=0, scratch_dir=tmp_path)
    st.extend(np.zeros((16, 4, 4), np.int32))
    size = os.path.getsize(st._disk)
    for _ in range(3):
        del st[:8]
        st.extend(np.ones((8, 4, 4), np.int32))
    assert os.path.getsize(st._disk) == size == 16 * 4 * 4 * 4  # 16 slots, no more
    assert len(st) == 16
    np.testing.assert_array_equal(np.asarray(st)[8:], 1)


def test_scratch_removed_on_collect_and_close(tmp_path):
    st = ImageStack(max_memory_mb=0, scratch_dir=tmp_path)
    st.extend(np.zeros((3, 8, 8), np.uint8))
    home = st.scratch_path
    assert home is not None and os.path.dirname(home) == str(tmp_path)
    assert os.path.getsize(os.path.join(home, "frames.bin")) > 0
    del st
    gc.collect()
    assert not os.path.exists(home)

    with ImageStack(max_memory_mb=0, scratch_dir=tmp_path) as st:
        st.append(np.zeros((8, 8), np.uint8))
        home = st.scratch_path
        assert os.path.isdir(home)
    assert not os.path.exists(home)
    with pytest.raises(ValueError, match="closed"):
        st.append(np.zeros((8, 8), np.uint8))


def test_written_copy_survives(tmp_path):
    frames = _frames()
    st = ImageStack(max_memory_mb=0, scratch_dir=tmp_path / "scr")
    st.extend(frames)
    home = st.scratch_path
    pipeline.write(st, tmp_path / "saved.zarr")
    del st
    gc.collect()
    assert not os.path.exists(home)
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "saved.zarr")), frames)


def test_token_changes_with_frames(tmp_path):
    st = ImageStack(max_memory_mb=1, scratch_dir=tmp_path)
    st.extend(np.zeros((3, 4, 4)))
    before = st.to_dask().name
    st[1] = np.ones((4, 4))
    after = st.to_dask().name
    assert before != after
    np.testing.assert_array_equal(st.to_dask().compute()[1], np.ones((4, 4)))
    ps = st.process([("flip", "v")])
    st[1] = np.full((4, 4), 2.0)
    assert ps[1][0, 0] == 2.0


def test_pickle_materialises_an_independent_stack(tmp_path):
    frames = _frames()
    st = ImageStack(max_memory_mb=0.002, scratch_dir=tmp_path, metadata={"a": 1})
    st.extend(frames)
    again = pickle.loads(pickle.dumps(st))
    assert isinstance(again, ImageStack) and again.metadata == {"a": 1}
    assert again.budget_bytes == st.budget_bytes and again.scratch_path != st.scratch_path
    np.testing.assert_array_equal(np.asarray(again), frames)
    again[0] = np.zeros((20, 30))
    np.testing.assert_array_equal(st[0], frames[0])


def _spilled_stack(tmp_path, n=24, shape=(128, 128)):
    frames = np.random.default_rng(5).integers(0, 60000, (n, *shape), dtype=np.uint16)
    st = ImageStack(max_memory_mb=frames[0].nbytes * 4 / 2**20, scratch_dir=tmp_path)
    st.extend(frames)
    assert st.nspilled == n - 4
    return st, frames


def _peak(work):
    tracemalloc.start()
    try:
        out = work()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_pickle_hands_over_frames_as_they_are_without_reading_spilled_ones_back(tmp_path):
    st, frames = _spilled_stack(tmp_path)
    held = list(st._memory)
    buffers: list[pickle.PickleBuffer] = []
    data, peak = _peak(lambda: pickle.dumps(st, protocol=5, buffer_callback=buffers.append))
    # one buffer per frame, none copied: the pickle itself is a few hundred bytes
    assert len(buffers) == len(st) and len(data) < 4096
    assert sum(memoryview(b).nbytes for b in buffers) == frames.nbytes
    assert peak < 0.05 * frames.nbytes
    assert list(st._memory) == held and st.nspilled == len(st) - 4  # nothing read back
    again = pickle.loads(data, buffers=buffers)
    np.testing.assert_array_equal(np.asarray(again), frames)
    assert again.scratch_path != st.scratch_path and again.budget_bytes == st.budget_bytes


def test_pickle_in_band_costs_no_more_than_pickling_the_frames_alone(tmp_path):
    st, frames = _spilled_stack(tmp_path)
    plain, plain_peak = _peak(lambda: pickle.dumps(frames, protocol=5))
    data, peak = _peak(lambda: pickle.dumps(st, protocol=5))
    assert len(data) < len(plain) + 8192  # the frames and a small header
    assert peak < 1.1 * plain_peak  # stacking them first cost two more copies
    np.testing.assert_array_equal(np.asarray(pickle.loads(data)), frames)


def test_freed_slots_are_not_rewritten_while_a_pickle_reads_them(tmp_path):
    st, frames = _spilled_stack(tmp_path, n=8, shape=(16, 16))
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(st, protocol=5, buffer_callback=buffers.append)
    del st[0:3]  # spilled frames: their slots are free now
    st.extend(np.full((6, 16, 16), 7, np.uint16))  # spills again
    np.testing.assert_array_equal(np.asarray(pickle.loads(data, buffers=buffers)), frames)
    del data, buffers
    gc.collect()
    free = list(st._free)
    st.extend(np.full((5, 16, 16), 9, np.uint16))
    assert free and set(free) - set(st._free)  # with no pickle left, freed slots are reused
    np.testing.assert_array_equal(np.asarray(st)[-5:], np.full((5, 16, 16), 9, np.uint16))


def _received(st):
    return np.asarray(st), st.scratch_path, os.getpid()


@pytest.mark.slow
def test_a_spilled_stack_reaches_cluster_workers_intact(tmp_path):
    distributed = pytest.importorskip("distributed")
    from distributed.protocol import serialize

    st, frames = _spilled_stack(tmp_path)
    (_, parts), peak = _peak(lambda: serialize(st))
    assert sum(memoryview(p).nbytes for p in parts) < frames.nbytes + 8192
    assert peak < 0.05 * frames.nbytes  # frames go out as they are, not stacked first
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        got, scratch, pid = client.submit(_received, st, pure=False).result()
        np.testing.assert_array_equal(got, frames)
        assert pid != os.getpid() and scratch not in (None, st.scratch_path)
        flipped = st.process([("flip", "v")]).to_dask().compute(scheduler=client)
        np.testing.assert_array_equal(flipped, frames[:, :, ::-1])
    np.testing.assert_array_equal(np.asarray(st), frames)  # the sender's stack is unchanged


def test_dtype_and_shape_rules(tmp_path):
    st = ImageStack(dtype=np.uint8, max_memory_mb=1, scratch_dir=tmp_path)
    st.append(np.array([[1.4, 2.6], [0, 255]]))
    np.testing.assert_array_equal(st[0], [[1, 3], [0, 255]])
    assert st.dtype == np.uint8
    with pytest.raises(ValueError, match=r"\[-1.0, 300.0\].*uint8.*\[0, 255\]"):
        st.append(np.array([[-1.0, 300.0], [0, 0]]))
    with pytest.raises(ValueError, match="NaN"):
        st.append(np.array([[np.nan, 0], [0, 0]]))
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 2\)"):
        st.append(np.zeros((3, 2), np.uint8))
    with pytest.raises(ValueError, match="2 or more"):
        st.append(np.zeros(4, np.uint8))
    with pytest.raises(TypeError, match="complex"):
        st.append(np.zeros((2, 2), complex))
    assert len(st) == 1
    np.testing.assert_array_equal(st[0], [[1, 3], [0, 255]])


def test_first_frame_sets_dtype(tmp_path):
    st = ImageStack(max_memory_mb=1, scratch_dir=tmp_path)
    with pytest.raises(ValueError, match="no frame shape"):
        _ = st.shape
    st.append(np.zeros((2, 3), np.int16))
    st.append(np.full((2, 3), 7, np.uint8))
    st.append(np.full((2, 3), -5.0))
    assert st.dtype == np.int16 and st[2][0, 0] == -5
    with pytest.raises(ValueError, match="int16"):
        st.append(np.full((2, 3), 40000, np.int64))


def test_convert_float_range():
    with pytest.raises(ValueError, match="float32"):
        convert(np.array([[1e300, 0.0]]), np.dtype(np.float32))
    out = convert(np.array([[np.inf, 1.0]]), np.dtype(np.float32))
    assert out.dtype == np.float32 and np.isinf(out[0, 0])


@pytest.mark.parametrize("mb, fraction, match", [
    (1, 0.5, "not both"), (-1, None, "max_memory_mb"), (None, 1.5, "max_memory_fraction"),
    (None, 0, "max_memory_fraction"),
])
def test_bad_budget(mb, fraction, match):
    with pytest.raises(ValueError, match=match):
        memory_budget(mb, fraction)


def test_fraction_budget_is_of_available_memory():
    from pipeline.stack import available_memory

    st = ImageStack(max_memory_fraction=0.01)
    assert 0 < st.budget_bytes <= available_memory() * 0.011


@pytest.fixture
def small_scratch(tmp_path):
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "small"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", os.fspath(where)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr!r}")
    yield where
    subprocess.run(["umount", "-l", os.fspath(where)], check=False)


def test_spilling_onto_a_full_disk_keeps_every_frame_readable(small_scratch):
    from pipeline import errors

    rng = np.random.default_rng(3)
    frames = rng.integers(0, 60000, size=(80, 64, 64), dtype=np.uint16)  # 8 KiB each
    st = pipeline.ImageStack(dtype="uint16", max_memory_mb=0.05, scratch_dir=small_scratch)
    added = 0
    with pytest.raises(errors.DiskFullError, match="disk is full") as info:
        for frame in frames:
            st.append(frame)
            added += 1
    assert isinstance(info.value, OSError) and 0 < added < len(frames)
    assert len(st) == added  # the frame that did not fit was not added
    for j in range(added):  # every frame back, spilled or held
        np.testing.assert_array_equal(st[j], frames[j])
    np.testing.assert_array_equal(np.asarray(st), frames[:added])
    st.close()

"""Disk-backed results: scratch directory, materialize, load, in_memory."""

from __future__ import annotations

import gc
import os
import pickle

import dask.array as da
import numpy as np
import pytest

import pipeline
from pipeline.formats.zarr import ZarrSeries


@pytest.fixture
def scratch(tmp_path):
    pipeline.set_scratch_dir(tmp_path / "scratch")
    yield tmp_path / "scratch"
    pipeline.set_scratch_dir(None)


def test_scratch_dir_default_and_reset(tmp_path):
    import tempfile

    assert pipeline.get_scratch_dir() == tempfile.gettempdir()
    pipeline.set_scratch_dir(tmp_path / "a" / "b")
    try:
        assert pipeline.get_scratch_dir() == str(tmp_path / "a" / "b")
        assert os.path.isdir(tmp_path / "a" / "b")
    finally:
        pipeline.set_scratch_dir(None)
    assert pipeline.get_scratch_dir() == tempfile.gettempdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="file"):
        pipeline.set_scratch_dir(tmp_path / "file")


def test_materialize_removed_with_it_while_load_survives(scratch, frames_u16):
    ps = pipeline.from_array(frames_u16, {"name": "scan"}).process([("flip", "v")])
    m = pipeline.materialize(ps)
    assert isinstance(m, ZarrSeries) and not m.in_memory
    (home,) = os.listdir(scratch)
    assert os.listdir(scratch / home)
    np.testing.assert_array_equal(np.asarray(m), frames_u16[..., ::-1])
    assert m.metadata["name"] == "scan"
    sub = m[2:5]
    copy = m.load()
    assert copy.in_memory and copy.metadata == {"name": "scan"}
    del m
    gc.collect()
    assert os.listdir(scratch)  # the sub-series keeps its source alive
    np.testing.assert_array_equal(np.asarray(sub), frames_u16[2:5, :, ::-1])
    del sub
    gc.collect()
    assert not os.listdir(scratch)
    np.testing.assert_array_equal(np.asarray(copy), frames_u16[..., ::-1])


def test_materialize_options_and_saving(scratch, frames_u16, tmp_path):
    m = pipeline.materialize(pipeline.from_array(frames_u16), codec="none", chunks=(4, 20, 30))
    assert m.frame_chunk == 4
    pipeline.write(m, tmp_path / "kept.zarr")
    del m
    gc.collect()
    assert not os.listdir(scratch)
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "kept.zarr")), frames_u16)


def test_pickled_materialized_series_does_not_own_the_store(scratch, frames_u16):
    m = pipeline.materialize(pipeline.from_array(frames_u16))
    again = pickle.loads(pickle.dumps(m))
    del again
    gc.collect()
    assert os.listdir(scratch)
    np.testing.assert_array_equal(m[3], frames_u16[3])


def test_failed_materialize_leaves_nothing(scratch, frames_u16):
    with pytest.raises(ValueError, match="codec"):
        pipeline.materialize(pipeline.from_array(frames_u16), codec="no-such-codec")
    assert not os.listdir(scratch)


def test_load_keeps_axes_and_copies_metadata(frames_u16):
    arr = np.stack([frames_u16[:4]] * 3, axis=1)  # T C Y X
    s = pipeline.from_array(arr, {"omega": np.arange(4.0)}, axes="TCYX")
    loaded = s.load()
    assert loaded.axes == "TCYX" and loaded.shape == (3, 20, 30)
    loaded.metadata["omega"][0] = 99
    assert s.metadata["omega"][0] == 0
    assert not np.shares_memory(loaded.data, arr)


def test_in_memory(tmp_path, frames_u16):
    arr = pipeline.from_array(frames_u16)
    assert arr.in_memory and arr.process([("flip", "h")]).in_memory
    assert not pipeline.from_array(da.from_array(frames_u16)).in_memory
    z = pipeline.write(arr, tmp_path / "z.zarr")
    assert not z.in_memory and not z.process([("flip", "h")]).in_memory
    st = pipeline.ImageStack(max_memory_mb=2 * frames_u16[0].nbytes / 2**20,
                             scratch_dir=tmp_path)
    st.extend(frames_u16[:2])
    assert st.in_memory
    st.append(frames_u16[2])
    assert not st.in_memory

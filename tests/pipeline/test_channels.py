"""Frames with channels: axes strings, zero-copy reordering, ops on Y and X only."""

from __future__ import annotations

import numpy as np
import pytest

import pipeline
from pipeline.errors import AxesError
from pipeline.axes import as_frames, default_axes, frame_order, parse_axes


@pytest.fixture
def tcyx():
    return np.random.default_rng(5).integers(0, 4000, (5, 3, 12, 16), dtype=np.uint16)


@pytest.mark.parametrize("axes, to_tcyx", [
    ("TCYX", lambda a: a),
    ("CTYX", lambda a: a.transpose(1, 0, 2, 3)),
    ("YXTC", lambda a: a.transpose(2, 3, 0, 1)),
    ("TYXC", lambda a: a.transpose(0, 2, 3, 1)),
    ("ctyx", lambda a: a.transpose(1, 0, 2, 3)),
])
def test_from_array_any_order_without_copy(tcyx, axes, to_tcyx):
    stored = np.ascontiguousarray(to_tcyx(tcyx))
    s = pipeline.from_array(stored, axes=axes)
    assert s.axes == "TCYX" and len(s) == 5 and s.shape == (3, 12, 16)
    assert np.shares_memory(s.data, stored)
    # a frame is a copy of that frame only (the caller may edit it), never of the whole
    assert not np.shares_memory(s[2], stored) and s[2].nbytes == stored.nbytes // 5
    np.testing.assert_array_equal(s[2], tcyx[2])
    np.testing.assert_array_equal(np.asarray(s), tcyx)
    np.testing.assert_array_equal(s.get_region(4, ((2, 7), (1, 9))), tcyx[4, :, 2:7, 1:9])


def test_time_last_is_read_plane_by_plane():
    stored = np.arange(8 * 9 * 6, dtype=np.float32).reshape(8, 9, 6)  # Y X T
    s = pipeline.from_array(stored, axes="YXT")
    assert s.axes == "TYX" and s.shape == (8, 9) and len(s) == 6
    frame = s[3]
    assert not np.shares_memory(frame, stored) and frame.shape == (8, 9)
    np.testing.assert_array_equal(frame, stored[..., 3])
    np.testing.assert_array_equal(s.to_dask().compute(), np.moveaxis(stored, -1, 0))


def test_no_time_axis_is_one_frame(tcyx):
    vol = tcyx[0]  # C Y X
    s = pipeline.from_array(vol, axes="CYX")
    assert len(s) == 1 and s.axes == "TCYX" and np.shares_memory(s.data, vol)
    z = pipeline.from_array(np.zeros((4, 3, 6, 7)), axes="ZCYX")
    assert len(z) == 1 and z.axes == "TZCYX" and z.shape == (4, 3, 6, 7)


def test_default_axes(tcyx):
    assert pipeline.from_array(tcyx[:, 0]).axes == "TYX"
    assert pipeline.from_array(tcyx).axes == "TCYX"
    assert pipeline.from_array(tcyx[..., None, :, :]).axes == "TCZYX"
    assert default_axes(2) == "TYX" and default_axes(5)[0] == "T"


@pytest.mark.parametrize("axes, error, match", [
    ("TTYX", ValueError, "twice"),
    ("TQYX", ValueError, r"\['Q'\]"),
    ("TCZY", ValueError, "Y and X"),
    ("TYX", ValueError, "3 axes but the array has 4"),
    (3, AxesError, "string"),
])
def test_bad_axes(tcyx, axes, error, match):
    with pytest.raises(error, match=match):
        pipeline.from_array(tcyx, axes=axes)


def test_axes_helpers():
    assert parse_axes("yxt", 3) == "YXT"
    assert frame_order("YXT") == ((2, 0, 1), "TYX")
    assert frame_order("XYCT") == ((3, 2, 1, 0), "TCYX")
    data, axes = as_frames(np.zeros((2, 3, 4)), "XYT")
    assert axes == "TYX" and data.shape == (4, 3, 2)


def test_ops_act_on_y_and_x_only(tcyx):
    s = pipeline.from_array(tcyx.transpose(1, 0, 2, 3), axes="CTYX")
    cases = {
        "flip v": ([("flip", "v")], tcyx[..., ::-1]),
        "flip h": ([("flip", "h")], tcyx[..., ::-1, :]),
        "transpose": ([("flip", "t")], np.swapaxes(tcyx, -1, -2)),
        "r90": ([("flip", "r90")], np.rot90(tcyx, 1, axes=(-2, -1))),
        "crop": ([("rectangle", ((2, 9), (3, 15)))], tcyx[..., 2:9, 3:15]),
        "flip+crop": ([("flip", "v"), ("rectangle", ((1, 5), (0, 4)))],
                      tcyx[..., ::-1][..., 1:5, 0:4]),
    }
    for name, (oplist, ref) in cases.items():
        ps = s.process(oplist)
        assert ps.shape == ref.shape[1:], name
        assert ps.axes == "TCYX", name
        np.testing.assert_array_equal(np.stack([ps[j] for j in range(len(ps))]), ref, name)
        np.testing.assert_array_equal(ps.to_dask().compute(), ref, name)


def test_dark_full_shape_or_broadcast(tcyx):
    s = pipeline.from_array(tcyx)
    plane = np.full((12, 16), 1000, np.uint16)
    full = np.stack([plane * 0, plane, plane * 2])
    for dark in (plane, full):
        ref = np.maximum(tcyx.astype(np.int64) - dark, 0).astype(np.uint16)
        ps = s.process([("dark", dark), ("rectangle", ((1, 10), (2, 12)))])
        np.testing.assert_array_equal(ps[3], ref[3, :, 1:10, 2:12])
        np.testing.assert_array_equal(ps.to_dask().compute(), ref[..., 1:10, 2:12])
    with pytest.raises(ValueError, match=r"\(3, 16\)"):
        s.process([("dark", np.zeros((3, 16)))])


def test_regions_and_patches_select_channels(tcyx, tmp_path):
    z = pipeline.write(pipeline.from_array(tcyx), tmp_path / "c.zarr", chunks=(1, 1, 6, 8),
                       shards=None)
    for s in (pipeline.from_array(tcyx), z):
        np.testing.assert_array_equal(s.region(1, (2, 3), (4, 5), (2, 2)),
                                      tcyx[1, :, 2:10:2, 3:13:2])
        np.testing.assert_array_equal(s.region(1, (2, 3), (4, 5), (2, 2), channels=2),
                                      tcyx[1, 2, 2:10:2, 3:13:2])
        np.testing.assert_array_equal(s.region(1, (0, 0), None, (3, 3), channels=[2, 0]),
                                      tcyx[1, [2, 0], ::3, ::3])
        np.testing.assert_array_equal(s.region(0, (1, 1), (2, 2), channels=slice(1, None)),
                                      tcyx[0, 1:, 1:3, 1:3])
        np.testing.assert_array_equal(s.patches([4, 0], (3, 3), (2, 5), channels=-1),
                                      tcyx[[4, 0], -1, 3:5, 3:8])
    with pytest.raises(IndexError, match="channel 3"):
        z.region(0, channels=3)


def test_channel_frames_round_trip_zarr(tcyx, tmp_path):
    s = pipeline.from_array(tcyx.transpose(2, 3, 0, 1), axes="YXTC")
    back = pipeline.open(pipeline.write(s, tmp_path / "rgb.zarr").path)
    assert back.shape == (3, 12, 16) and back.axes == "TCYX"
    np.testing.assert_array_equal(np.asarray(back), tcyx)
    np.testing.assert_array_equal(back.load().region(2, channels=1), tcyx[2, 1])


def test_written_store_names_its_dimensions_like_to_xarray(tmp_path):
    data = np.arange(2 * 3 * 4 * 5, dtype=np.uint16).reshape(2, 3, 4, 5)
    series = pipeline.from_array(data, axes="TCYX")
    stored = pipeline.write(series, tmp_path / "c.zarr")
    assert stored.zarr_array.metadata.dimension_names == ("frame", "channel", "y", "x")
    assert series.to_xarray().dims == ("frame", "channel", "y", "x")

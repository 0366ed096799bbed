"""ProcessedImageSeries: copying, frame lists, flattening, laziness, push-down, dask graphs."""

from __future__ import annotations

import dask
import numpy as np
import pytest

import ops
import pipeline
from pipeline import ProcessedImageSeries
from pipeline.testing import NUMPY_FLIPS

SHAPE = (16, 24)


@pytest.fixture
def frames():
    return np.random.default_rng(11).integers(0, 4000, (10, *SHAPE), dtype=np.uint16)


@pytest.fixture
def dark():
    return np.random.default_rng(12).integers(0, 300, SHAPE, dtype=np.uint16)


def _dark_ref(frames, dark):
    return np.clip(frames.astype(np.int64) - dark, 0, None).astype(np.uint16)


def _all(ps):
    return np.stack([ps[j] for j in range(len(ps))])


# -- construction ---------------------------------------------------------------------


def test_oplist_is_copied(frames):
    oplist = [("flip", "v"), ("rectangle", ((0, 4), (0, 5)))]
    ps = ProcessedImageSeries(pipeline.from_array(frames), oplist)
    before = ps.oplist
    oplist.append(("flip", "h"))
    oplist[0] = ("flip", "t")
    assert ps.oplist == before == [("flip", "v"), ("rectangle", ((0, 4), (0, 5)))]
    assert ps.shape == (4, 5)
    np.testing.assert_array_equal(ps[0], frames[0][:, ::-1][:4, :5])


@pytest.mark.parametrize("frame_list", [
    [1, 3, 8], (1, 3, 8), np.array([1, 3, 8]), [1, -7, -2], np.array([1, 3, 8], np.uint8),
], ids=["list", "tuple", "array", "negative", "uint8"])
def test_frame_list_forms(frames, frame_list):
    omega = np.arange(20.0).reshape(10, 2)
    source = pipeline.from_array(frames, metadata={"omega": omega, "name": "x"})
    ps = ProcessedImageSeries(source, [("flip", "h")], frame_list=frame_list)
    assert len(ps) == 3
    ref = frames[[1, 3, 8]][:, ::-1]
    np.testing.assert_array_equal(_all(ps), ref)
    np.testing.assert_array_equal(ps.to_dask().compute(), ref)
    np.testing.assert_array_equal(ps.metadata["omega"], omega[[1, 3, 8]])
    assert ps.metadata["name"] == "x"


def test_frame_list_out_of_range(frames):
    with pytest.raises(IndexError, match="10"):
        ProcessedImageSeries(pipeline.from_array(frames), [], frame_list=[0, 10])


def test_metadata_is_a_copy(frames):
    meta = {"omega": np.arange(20.0).reshape(10, 2), "tags": ["a"], "n": 1}
    source = pipeline.from_array(frames, metadata=meta)
    ps = ProcessedImageSeries(source, [("flip", "v")])
    ps.metadata["n"] = 2
    ps.metadata["tags"].append("b")
    ps.metadata["omega"][0, 0] = -1
    ps.metadata["new"] = True
    assert source.metadata["n"] == 1 and source.metadata["tags"] == ["a"]
    assert source.metadata["omega"][0, 0] == 0 and "new" not in source.metadata


def test_nested_series_flatten(frames, dark):
    raw = pipeline.from_array(frames)
    ps1 = ProcessedImageSeries(raw, [("dark", dark), ("flip", "v")], frame_list=[9, 7, 5, 3, 1])
    ps2 = ProcessedImageSeries(ps1, [("rectangle", ((2, 10), (3, 20)))], frame_list=[4, 0, 2])
    assert ps2.source is raw
    assert ps2.oplist[:2] == ps1.oplist and len(ps2.oplist) == 3
    assert ps2.oplist[2] == ("rectangle", ((2, 10), (3, 20)))
    np.testing.assert_array_equal(ps2.frame_list, [1, 9, 5])
    ref = _dark_ref(frames, dark)[[1, 9, 5]][:, :, ::-1][:, 2:10, 3:20]
    np.testing.assert_array_equal(_all(ps2), ref)
    np.testing.assert_array_equal(ps2.to_dask().compute(), ref)
    ps3 = ps2.process([("flip", "t")])
    assert ps3.source is raw and len(ps3.chain) == 4
    np.testing.assert_array_equal(ps3[2], ref[2].T)


def test_sub_series_of_a_processed_series(frames):
    ps = ProcessedImageSeries(pipeline.from_array(frames), [("flip", "h")])
    sub = ps[2:8:2]
    assert isinstance(sub, ProcessedImageSeries) and sub.source is ps.source
    np.testing.assert_array_equal(_all(sub), frames[2:8:2, ::-1])


class _Counter:
    def __init__(self, frames, fail=False):
        self.frames, self.calls, self.fail = frames, 0, fail

    def __call__(self, j):
        self.calls += 1
        if self.fail:
            raise AssertionError("a frame was read")
        return self.frames[j]


def test_shape_and_dtype_known_without_reading_a_frame(frames, dark):
    func = _Counter(frames, fail=True)
    source = pipeline.from_function(func, len(frames), shape=SHAPE, dtype=np.uint16)
    ps = ProcessedImageSeries(source, [("dark", dark.astype(np.float32)), ("flip", "r90"),
                                       ("rectangle", ((1, 20), (2, 9))), ("add-column", 0)])
    assert ps.shape == (19, 8) and ps.dtype == np.float32 and len(ps) == 10
    arr = ps.to_dask()
    assert arr.shape == (10, 19, 8) and arr.dtype == np.float32
    assert arr._meta.dtype == np.float32 and arr._meta.shape == (0, 0, 0)
    assert sum(arr.chunks[0]) == 10 and arr.chunks[1:] == ((19,), (8,))
    repr(ps), ps.metadata, ps.description()
    assert func.calls == 0


def test_counted_reads(frames):
    func = _Counter(frames)
    source = pipeline.from_function(func, len(frames), shape=SHAPE, dtype=np.uint16)
    ps = ProcessedImageSeries(source, [("flip", "v")])
    ps.to_dask()
    assert func.calls == 0
    ps[3]
    assert func.calls == 1


def test_hexrd_addop(frames):
    ps = ProcessedImageSeries(pipeline.from_array(frames), [])
    ps.addop("double", lambda frame, factor: frame * factor)
    ps2 = ps.process([("double", 2), ("flip", "v")])
    np.testing.assert_array_equal(ps2[4], (frames[4] * 2)[:, ::-1])
    np.testing.assert_array_equal(ps2.to_dask().compute(), (frames * 2)[:, :, ::-1])
    assert "double" not in ops.registry  # known to this series only
    with pytest.raises(ops.UnknownOpError):
        pipeline.from_array(frames).process([("double", 2)])


# -- crop push-down -------------------------------------------------------------------

FULL = SHAPE[0] * SHAPE[1]


def _area(region):
    return np.prod([hi - lo for lo, hi in region])


def _check_pushed(ps, ref):
    region, plan = ps._plan_region(None)
    assert _area(region) < FULL, region
    assert not any(op.name == "rectangle" for op in plan)
    np.testing.assert_array_equal(_all(ps), ref)
    np.testing.assert_array_equal(ps.to_dask(frames_per_chunk=3).compute(), ref)
    return region


@pytest.mark.parametrize("code", sorted(NUMPY_FLIPS))
def test_push_down_dark_flip_rectangle(frames, dark, code):
    ps = ProcessedImageSeries(pipeline.from_array(frames), [
        ("dark", dark), ("flip", code), ("rectangle", ((3, 11), (2, 13)))])
    ref = NUMPY_FLIPS[code](_dark_ref(frames, dark))[:, 3:11, 2:13]
    region = _check_pushed(ps, ref)
    assert _area(region) == 8 * 11


@pytest.mark.parametrize("code", sorted(NUMPY_FLIPS))
def test_push_down_rectangle_flip_rectangle(frames, code):
    ps = ProcessedImageSeries(pipeline.from_array(frames), [
        ("rectangle", ((2, 14), (1, 21))), ("flip", code), ("rectangle", ((1, 7), (2, 9)))])
    ref = NUMPY_FLIPS[code](frames[:, 2:14, 1:21])[:, 1:7, 2:9]
    assert _area(_check_pushed(ps, ref)) == 6 * 7


@pytest.mark.parametrize("row", [0, 3, 5, 9, 16])
def test_push_down_add_row_before_rectangle(frames, row):
    ps = ProcessedImageSeries(pipeline.from_array(frames), [
        ("add-row", row), ("add-column", 24), ("rectangle", ((3, 9), (20, 25)))])
    ref = np.insert(np.insert(frames, row, 0, axis=1), 24, 0, axis=2)[:, 3:9, 20:25]
    _check_pushed(ps, ref)


def test_push_down_reads_only_the_region(frames):
    read = []
    source = pipeline.from_array(frames)
    original = source.read

    def spy(sel, region):
        read.append(region)
        return original(sel, region)

    source.read = spy
    ps = source.process([("flip", "v"), ("rectangle", ((3, 11), (2, 13)))])
    ps[0]
    assert read == [((3, 11), (24 - 13, 24 - 2))]


@pytest.mark.parametrize("oplist", [
    [("flip", "r90")],
    [("dark", "DARK"), ("flip", "v")],
    [("rectangle", ((2, 14), (3, 20))), ("flip", "t")],
    [("add-row", 4), ("add", 1.5)],
    [("gauss_laplace", 1.0), ("flip", "v")],
    [("flip", "h"), ("gauss_laplace", 1.0), ("rectangle", ((1, 12), (2, 20)))],
], ids=["r90", "dark-flip", "rect-t", "addrow-add", "gl-flip", "flip-gl-rect"])
def test_get_region_equals_indexing_the_frame(frames, dark, oplist):
    oplist = [(n, dark if p == "DARK" else p) for n, p in oplist]
    ps = ProcessedImageSeries(pipeline.from_array(frames), oplist)
    h, w = ps.shape
    for j, region in ((0, ((1, h - 2), (3, w - 1))), (5, ((0, h), (0, w))),
                      (9, ((h // 2, h // 2 + 1), (0, 2)))):
        (r0, r1), (c0, c1) = region
        np.testing.assert_array_equal(ps.get_region(j, region), ps[j][r0:r1, c0:c1])
        np.testing.assert_array_equal(ps[j, r0:r1, c0:c1], ps[j][r0:r1, c0:c1])


def test_push_down_stops_at_a_filter(frames):
    ps = ProcessedImageSeries(pipeline.from_array(frames.astype(np.float32)), [
        ("gauss_laplace", 1.0), ("rectangle", ((2, 8), (2, 8)))])
    region, plan = ps._plan_region(None)
    assert _area(region) == FULL  # a neighbourhood filter needs the whole frame
    assert plan[0].name == "gauss_laplace"


def test_fancy_index_applies_all_ops_then_indexes(frames, dark):
    ps = ProcessedImageSeries(pipeline.from_array(frames), [("dark", dark), ("flip", "r90")])
    full = ps[6]
    np.testing.assert_array_equal(ps[6, 2:9, ::3], full[2:9, ::3])
    np.testing.assert_array_equal(ps[6, [0, 5, 2]], full[[0, 5, 2]])
    np.testing.assert_array_equal(ps[6, :, 4], full[:, 4])
    np.testing.assert_array_equal(ps[-1, 1:3, 1:3], ps[9][1:3, 1:3])


# -- the dask graph -------------------------------------------------------------------


def _zarr_source(tmp_path, frames, name="src.zarr"):
    pipeline.write(pipeline.from_array(frames), tmp_path / name, chunks=(2, *SHAPE), shards=None)
    return pipeline.open(tmp_path / name)


def test_one_task_per_chunk(tmp_path, frames, dark):
    source = _zarr_source(tmp_path, frames)
    ps = source.process([("dark", dark), ("flip", "v"), ("rectangle", ((1, 9), (2, 20))),
                         ("add", 1)])
    default = ps.to_dask()
    bounds = np.cumsum(default.chunks[0])
    assert (bounds[:-1] % source.frame_chunk == 0).all()  # whole storage chunks per task
    arr = ps.to_dask(frames_per_chunk=2)
    nchunks = len(arr.chunks[0])
    assert arr.chunks[0] == (2, 2, 2, 2, 2)
    assert len(dict(arr.__dask_graph__())) == nchunks + 2  # + the source and the op plan
    (optimized,) = dask.optimize(arr)
    assert len(dict(optimized.__dask_graph__())) <= nchunks + 2
    ref = (_dark_ref(frames, dark)[:, :, ::-1][:, 1:9, 2:20]).astype(np.float32) + 1
    np.testing.assert_array_equal(optimized.compute(), ref)
    np.testing.assert_array_equal(arr.compute(), _all(ps))


def test_deterministic_names(tmp_path, frames, dark):
    source = _zarr_source(tmp_path, frames)
    oplist = [("dark", dark), ("flip", "v")]
    a = source.process(oplist).to_dask()
    b = source.process(oplist).to_dask()
    assert a.name == b.name
    again = pipeline.open(tmp_path / "src.zarr")
    assert again.process(oplist).to_dask().name == a.name
    assert pipeline.open(tmp_path / "src.zarr").to_dask().name == source.to_dask().name
    assert source.process([("dark", dark), ("flip", "h")]).to_dask().name != a.name
    assert source.process([("dark", dark + 1), ("flip", "v")]).to_dask().name != a.name
    assert source.process(oplist, frame_list=[0, 1]).to_dask().name != a.name
    other = _zarr_source(tmp_path, frames, "other.zarr")
    assert other.process(oplist).to_dask().name != a.name


def test_graph_build_computes_nothing(frames):
    func = _Counter(frames, fail=True)
    source = pipeline.from_function(func, len(frames), shape=SHAPE, dtype=np.uint16)
    arr = source.process([("flip", "t"), ("add", 1)]).to_dask(frames_per_chunk=3)
    assert arr.dtype == np.float32 and arr.shape == (10, 24, 16)
    assert arr.chunks == ((3, 3, 3, 1), (24,), (16,))
    dask.optimize(arr)
    assert func.calls == 0


def test_dask_source_maps_the_chain(frames):
    import dask.array as da

    source = pipeline.from_array(da.from_array(frames, chunks=(4, *SHAPE)))
    ps = source.process([("flip", "v"), ("rectangle", ((0, 5), (0, 6)))], frame_list=[9, 0, 3])
    ref = frames[[9, 0, 3]][:, :, ::-1][:, :5, :6]
    np.testing.assert_array_equal(ps.to_dask().compute(), ref)
    np.testing.assert_array_equal(_all(ps), ref)


def test_series_of_no_frames(tmp_path):
    empty = pipeline.from_array(np.zeros((0, *SHAPE), np.uint16)).process([("flip", "t")])
    arr = empty.to_dask()
    assert arr.shape == (0, SHAPE[1], SHAPE[0])
    assert arr.compute().shape == (0, SHAPE[1], SHAPE[0])
    back = pipeline.write(empty, tmp_path / "empty.zarr")
    assert len(back) == 0 and back.shape == (SHAPE[1], SHAPE[0])


def test_addop_series_pickles(frames):
    import pickle

    ps = ProcessedImageSeries(pipeline.from_array(frames), [])
    ps.addop("neg", np.negative)
    again = pickle.loads(pickle.dumps(ps.process([("neg", None), ("flip", "v")])))
    np.testing.assert_array_equal(again[3], np.negative(frames[3])[:, ::-1])

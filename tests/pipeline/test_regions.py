"""Strided regions and patches equal numpy slicing on every format that reads regions."""

from __future__ import annotations

import numpy as np
import pytest

import pipeline
from pipeline import regions
from pipeline.errors import RegionError
from pipeline.series import ImageSeries, region_index

SHAPE = (40, 44, 50)  # 40 frames: more than one dask task of patches


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(3).integers(0, 60000, SHAPE, dtype=np.uint16)


def _numpy(frames, tmp_path):
    return pipeline.from_array(frames)


def _zarr(frames, tmp_path):
    return pipeline.write(pipeline.from_array(frames), tmp_path / "f.zarr",
                          chunks=(1, 11, 10), shards=None)


def _processed(frames, tmp_path):
    return pipeline.from_array(frames[:, ::-1].copy()).process([("flip", "h")])


def _stack(frames, tmp_path):
    st = pipeline.ImageStack(max_memory_mb=4 * frames[0].nbytes / 2**20, scratch_dir=tmp_path)
    st.extend(frames)
    return st


def _hdf5(frames, tmp_path):
    pytest.importorskip("pipeline.formats.hdf5")
    return pipeline.write(pipeline.from_array(frames), tmp_path / "f.h5")


def _tiff(frames, tmp_path):
    pytest.importorskip("pipeline.formats.tiff")
    return pipeline.write(pipeline.from_array(frames), tmp_path / "f.tif")


@pytest.fixture(scope="module", params=[_numpy, _zarr, _processed, _stack, _hdf5, _tiff],
                ids=["numpy", "zarr", "processed", "stack", "hdf5", "tiff"])
def source(request, frames, tmp_path_factory):
    # built once per format: the tests only read
    return request.param(frames, tmp_path_factory.mktemp(request.param.__name__.strip("_")))


REGIONS = [
    ((0, 0), None, (1, 1)),
    ((3, 5), (7, 9), (1, 1)),
    ((2, 1), (10, 6), (3, 7)),
    ((43, 49), (1, 1), (5, 5)),
    ((1, 0), None, (2, 3)),
    ((10, 10), (0, 4), (1, 2)),
]


@pytest.mark.parametrize("offset, size, stride", REGIONS)
def test_region_equals_numpy(source, frames, offset, size, stride):
    (y, x), (sy, sx) = offset, stride
    if size is None:
        ref = frames[5][y::sy, x::sx]
    else:
        h, w = size
        ref = frames[5][y : y + h * sy : sy, x : x + w * sx : sx]
    got = source.region(5, offset=offset, size=size, stride=stride)
    assert got.dtype == frames.dtype
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(source.region(-35, offset, size, stride),
                                  regions.region(source, 5, offset, size, stride))


def test_patches_equal_numpy(source, frames):
    picks = [3, 0, 17, 3]
    got = source.patches(picks, (4, 6), (5, 7))
    np.testing.assert_array_equal(got, frames[picks, 4:9, 6:13])
    corners = np.array([[0, 0], [39, 43], [10, 2], [1, 1]])
    got = source.patches(picks, corners, (5, 7))
    ref = np.stack([frames[j, y : y + 5, x : x + 7] for j, (y, x) in zip(picks, corners)])
    np.testing.assert_array_equal(got, ref)


def test_many_patches_through_dask(source, frames):
    every = np.arange(len(frames))
    np.testing.assert_array_equal(source.patches(slice(None), (2, 3), (4, 4)), frames[:, 2:6, 3:7])
    corners = np.stack([every % 30, (every * 7) % 40], axis=1)
    got = source.patches(every[::-1], corners, (3, 9))
    ref = np.stack([frames[j, y : y + 3, x : x + 9] for j, (y, x) in zip(every[::-1], corners)])
    np.testing.assert_array_equal(got, ref)


class _Recorder(ImageSeries):
    """A series over an array that records every region it is asked to read."""

    def __init__(self, data):
        self.data, self.reads = data, []

    def __len__(self):
        return len(self.data)

    @property
    def shape(self):
        return self.data.shape[1:]

    @property
    def dtype(self):
        return self.data.dtype

    def read(self, frames, region):
        self.reads.append(region)
        return self.data[(frames, *region_index(region))]


def test_only_the_bounding_region_is_read(frames):
    rec = _Recorder(frames)
    rec.region(2, (3, 4), (5, 6), (2, 3))
    assert rec.reads == [((3, 12), (4, 20))]
    rec.reads.clear()
    rec.patches([1, 2, 3], (7, 8), (2, 2))
    assert rec.reads == [((7, 9), (8, 10))]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"offset": (40, 0), "size": (5, 1)}, ValueError, "outside"),
    ({"offset": (0, 0), "size": (3, 3), "stride": (0, 1)}, ValueError, "stride"),
    ({"offset": (-1, 0)}, ValueError, "offset"),
    ({"offset": "ab"}, RegionError, "offset"),
    ({"offset": (0, 0), "channels": 0}, ValueError, "channel"),
])
def test_bad_regions(frames, kwargs, error, match):
    with pytest.raises(error, match=match):
        pipeline.from_array(frames).region(0, **kwargs)


def test_bad_patches(frames):
    s = pipeline.from_array(frames)
    with pytest.raises(ValueError, match=r"\(40, 0\)"):
        s.patches([0, 1], [[0, 0], [40, 0]], (5, 5))
    with pytest.raises(ValueError, match="3 pairs"):
        s.patches([0, 1, 2], [[0, 0], [1, 1]], (5, 5))
    with pytest.raises(IndexError, match="40"):
        s.patches([40], (0, 0), (2, 2))


# -- fuzzed arguments: a result equal to numpy's, or a project error naming the value ------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pipeline import errors as _errors  # noqa: E402

_FRAMES = np.arange(3 * 9 * 11, dtype=np.uint16).reshape(3, 9, 11)
_SCALARS = st.one_of(st.integers(-3, 14), st.booleans(), st.floats(-2, 12), st.text(max_size=2),
                     st.none(), st.just(np.int64(2)), st.just(np.float32(1.0)))
_PAIRS = st.one_of(st.tuples(_SCALARS, _SCALARS), st.lists(_SCALARS, max_size=3), _SCALARS)
_PROJECT = (_errors.RegionError, _errors.FrameIndexError, _errors.OptionValueError,
            _errors.FrameSelectionError)


def _ints(pair):
    return isinstance(pair, tuple | list) and len(pair) == 2 and all(
        isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) for v in pair)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offset=_PAIRS, size=_PAIRS, stride=_PAIRS)
def test_region_of_fuzzed_arguments_is_numpy_or_a_project_error(offset, size, stride):
    series = pipeline.from_array(_FRAMES)
    try:
        got = series.region(1, offset=offset, size=size, stride=stride)
    except _PROJECT as err:
        assert isinstance(err, ValueError | TypeError | IndexError)
        return
    # only integers get through (size None: as many pixels as fit)
    assert _ints(offset) and (size is None or _ints(size)) and _ints(stride)
    (y, x), (sy, sx) = offset, stride
    want = _FRAMES[1][y::sy, x::sx]
    if size is not None:
        want = want[:size[0], :size[1]]
        assert want.shape == tuple(size)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(coords=_PAIRS, size=_PAIRS)
def test_patches_of_fuzzed_arguments_are_numpy_or_a_project_error(coords, size):
    series = pipeline.from_array(_FRAMES)
    try:
        got = series.patches([0, 2], coords, size)
    except _PROJECT as err:
        assert isinstance(err, ValueError | TypeError | IndexError)
        return
    assert _ints(coords) and _ints(size)
    (y, x), (h, w) = coords, size
    np.testing.assert_array_equal(got, _FRAMES[[0, 2], y:y + h, x:x + w])

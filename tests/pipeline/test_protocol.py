"""hexrd's series protocol: objects offering len, [i], shape, dtype, metadata are series."""

from __future__ import annotations

import pickle
import warnings

import h5py
import numpy as np
import pytest

import pipeline
from pipeline import stats
from pipeline.series import ProtocolSeries, as_series
from pipeline.omega import OmegaImageSeries, OmegaWedges
from pipeline.processed import ProcessedImageSeries

DATA = np.random.default_rng(3).integers(0, 1000, (6, 8, 10)).astype(np.uint16)


class Wrapped:
    """What hexrdgui and user code write: a class over frames offering hexrd's protocol."""

    def __init__(self, data, region=True):
        self._data = data
        self.shape = data.shape[1:]
        self.dtype = data.dtype
        self.metadata = {"omega": _omegas(len(data))}
        self.reads: list[object] = []
        if region:
            self.get_region = self._get_region

    def __len__(self):
        return len(self._data)

    def __getitem__(self, key):
        if not isinstance(key, int):  # as hexrd's adapters: int keys only
            raise TypeError(f"only int keys, got {key!r}")
        self.reads.append(key)
        return self._data[key]  # a view of its own data, as many wrappers do

    def _get_region(self, j, region):
        self.reads.append(("region", j, region))
        (r0, r1), (c0, c1) = region
        return self._data[j, r0:r1, c0:c1]


def _omegas(n):
    w = OmegaWedges(n)
    w.addwedge(0.0, float(n), n)
    return w.omegas


def test_wrapping_reads_no_frame():
    obj = Wrapped(DATA)
    s = as_series(obj)
    assert isinstance(s, ProtocolSeries)
    assert (len(s), s.shape, s.dtype) == (6, (8, 10), np.dtype(np.uint16))
    assert s.metadata is obj.metadata
    assert obj.reads == []
    assert as_series(s) is s


def test_shape_and_dtype_probed_from_frame_0_only_when_missing():
    class Bare:
        def __len__(self):
            return 3

        def __getitem__(self, j):
            return np.full((4, 5), j, np.float32)

    s = as_series(Bare())
    assert (s.shape, s.dtype, s.metadata) == ((4, 5), np.float32, {})
    np.testing.assert_array_equal(np.asarray(s), np.stack([Bare()[j] for j in range(3)]))


def test_arrays_are_frames_along_axis_0(tmp_path):
    s = as_series(DATA)
    assert (len(s), s.shape) == (6, (8, 10))
    with h5py.File(tmp_path / "a.h5", "w") as f:
        ds = f.create_dataset("images", data=DATA)
        h = as_series(ds)
        assert (len(h), h.shape) == (6, (8, 10))
        np.testing.assert_array_equal(h[2], DATA[2])


@pytest.mark.parametrize("bad", [42, "scan.h5", {"a": 1}, None])
def test_not_a_series(bad):
    with pytest.raises(TypeError, match="expected an image series"):
        as_series(bad)


def test_frames_are_copies_of_the_objects_data():
    obj = Wrapped(DATA.copy())
    s = as_series(obj)
    frame = s[1]
    frame[0, 0] = 7
    assert obj._data[1, 0, 0] == DATA[1, 0, 0]
    np.testing.assert_array_equal(s[1], DATA[1])


def test_processing_equals_numpy_and_a_rectangle_reads_only_the_region():
    obj = Wrapped(DATA)
    dark = np.full((8, 10), 100, np.uint16)
    ps = ProcessedImageSeries(obj, [("rectangle", ((2, 6), (1, 9))), ("dark", dark[2:6, 1:9]),
                                    ("flip", "v")], frame_list=[0, 2, 4])
    ref = np.stack([np.where(f[2:6, 1:9] > 100, f[2:6, 1:9] - 100, 0)[:, ::-1]
                    for f in DATA[[0, 2, 4]]])
    np.testing.assert_array_equal(ps[1], ref[1])
    assert obj.reads == [("region", 2, ((2, 6), (1, 9)))]
    np.testing.assert_array_equal(ps.to_dask().compute(), ref)
    np.testing.assert_array_equal(ps.metadata["omega"], obj.metadata["omega"][[0, 2, 4]])


def test_a_get_region_giving_the_wrong_shape_is_not_trusted():
    obj = Wrapped(DATA)
    obj.get_region = lambda j, region: np.zeros((2, 2))
    ps = ProcessedImageSeries(obj, [("rectangle", ((0, 4), (0, 4)))])
    with pytest.warns(RuntimeWarning, match="returned shape"):
        np.testing.assert_array_equal(ps[0], DATA[0, :4, :4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once found wrong, no longer asked
        np.testing.assert_array_equal(ps[1], DATA[1, :4, :4])


def test_omega_stats_and_write(tmp_path):
    obj = Wrapped(DATA)
    oms = OmegaImageSeries(obj)
    assert oms.nwedges == 1 and oms.omega_to_frame(2.5) == (2, 0)
    np.testing.assert_array_equal(stats.max(obj), DATA.max(axis=0))
    np.testing.assert_allclose(stats.average(obj), DATA.mean(axis=0, dtype=np.float64)
                               .astype(np.float32))
    np.testing.assert_array_equal(stats.median(obj, nframes=4),
                                  np.median(DATA[:4], axis=0).astype(np.float32))
    back = pipeline.write(obj, tmp_path / "w.h5", "hdf5", path="imageseries")
    with h5py.File(tmp_path / "w.h5", "r") as f:
        np.testing.assert_array_equal(f["imageseries/images"][()], DATA)
        np.testing.assert_array_equal(f["imageseries"].attrs["omega"], obj.metadata["omega"])
    np.testing.assert_array_equal(np.asarray(back), DATA)
    np.testing.assert_array_equal(as_series(obj).to_dask().compute(), DATA)


def test_a_protocol_series_pickles_with_its_object():
    s = as_series(Wrapped(DATA, region=False))
    back = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(back[3], DATA[3])


def test_array_series_frames_are_copies():
    data = DATA.copy()
    s = pipeline.open(None, "array", data=data)
    frame = s[0]
    frame[0, 0] = 999
    assert s[0][0, 0] == DATA[0, 0, 0] and data[0, 0, 0] == DATA[0, 0, 0]
    sub = s[1:3][0]
    sub[:] = 0
    np.testing.assert_array_equal(data[1], DATA[1])
    # the series still sees changes the caller makes to the array itself
    data[2, 0, 0] = 5
    assert s[2][0, 0] == 5


def test_as_series_is_public():
    assert pipeline.as_series is as_series and "as_series" in pipeline.__all__

"""HDF5 and TIFF files through fsspec URLs (file://, memory://), with storage_options."""

from __future__ import annotations

import pickle
import uuid

import fsspec
import h5py
import numpy as np
import pytest
import tifffile

import pipeline
from pipeline.formats.hdf5 import HDF5Series
from pipeline.formats.tiff import TiffSeries
from pipeline.testing import SeriesConformance
from tests.pipeline.formats._data import frames


def write_h5(path, data):
    with h5py.File(path, "w") as f:
        f.create_dataset("imageseries/images", data=data, chunks=(1, *data.shape[1:]))
        f["imageseries"].attrs["name"] = "scan"


def in_memory(local_path, name):
    """A copy of a local file in fsspec's memory file system; its URL."""
    url = f"memory://{uuid.uuid4().hex}/{name}"
    fsspec.filesystem("memory").pipe(url, local_path.read_bytes())
    return url


class TestHdf5FileUrl(SeriesConformance):
    def make(self, tmp_path):
        data = frames()
        write_h5(tmp_path / "s.h5", data)
        url = (tmp_path / "s.h5").as_uri()  # file:///...
        return pipeline.open(url, storage_options={"auto_mkdir": False}), data, {"name": "scan"}


class TestHdf5Memory(SeriesConformance):
    other_processes = False  # memory:// is this process's

    def make(self, tmp_path):
        data = frames()
        write_h5(tmp_path / "s.h5", data)
        return pipeline.open(in_memory(tmp_path / "s.h5", "s.h5")), data, {"name": "scan"}


class TestTiffFileUrl(SeriesConformance):
    def make(self, tmp_path):
        data = frames()
        tifffile.imwrite(tmp_path / "s.tif", data, photometric="minisblack")
        url = "file://" + str(tmp_path / "s.tif")
        return pipeline.open(url, storage_options={"auto_mkdir": False}), data, {}


class TestTiffMemory(SeriesConformance):
    other_processes = False  # memory:// is this process's

    def make(self, tmp_path):
        data = frames(5, (3, 16, 24)).reshape(5, 3, 16, 24)
        tifffile.imwrite(tmp_path / "s.ome.tif", data, metadata={"axes": "TCYX"})
        return pipeline.open(in_memory(tmp_path / "s.ome.tif", "s.ome.tif")), data, {}

    def test_fancy_index_within_frame(self, case):
        s, frames, _ = case
        np.testing.assert_array_equal(s[4, 1, 2:5, 1:4], frames[4, 1, 2:5, 1:4])


def test_urls_read_what_the_libraries_read(tmp_path):
    data = frames()
    write_h5(tmp_path / "a.h5", data)
    tifffile.imwrite(tmp_path / "a.tif", data)
    h5 = pipeline.open(in_memory(tmp_path / "a.h5", "a.h5"))
    tif = pipeline.open(in_memory(tmp_path / "a.tif", "a.tif"))
    assert isinstance(h5, HDF5Series) and isinstance(tif, TiffSeries)
    with h5py.File(tmp_path / "a.h5") as f:
        np.testing.assert_array_equal(np.asarray(h5), f["imageseries/images"][...])
    np.testing.assert_array_equal(np.asarray(tif), tifffile.imread(tmp_path / "a.tif"))


def test_a_url_series_pickles_as_url_and_options(tmp_path):
    data = frames()
    write_h5(tmp_path / "p.h5", data)
    options = {"auto_mkdir": False}
    s = pipeline.open((tmp_path / "p.h5").as_uri(), format="hdf5", storage_options=options)
    s[0]  # an open file object is held now; it must not travel
    payload = pickle.dumps(s)
    assert len(payload) < 2000
    again = pickle.loads(payload)
    assert again._handle is None and again._storage_options == options
    np.testing.assert_array_equal(again[5], data[5])


def test_a_changed_file_gets_a_new_dask_name(tmp_path):
    data = frames()
    write_h5(tmp_path / "c.h5", data)
    url = in_memory(tmp_path / "c.h5", "c.h5")
    before = pipeline.open(url).to_dask().name
    write_h5(tmp_path / "c.h5", data[:3])
    fsspec.filesystem("memory").pipe(url, (tmp_path / "c.h5").read_bytes())
    assert pipeline.open(url).to_dask().name != before


def test_storage_options_for_a_local_path_are_refused(tmp_path):
    write_h5(tmp_path / "l.h5", frames())
    with pytest.raises(ValueError, match=r"storage_options=\{'anon': True\} apply to URLs"):
        pipeline.open(tmp_path / "l.h5", format="hdf5", storage_options={"anon": True})


def test_a_missing_url(tmp_path):
    with pytest.raises(FileNotFoundError):
        pipeline.open(f"memory://{uuid.uuid4().hex}/none.h5", format="hdf5")
    with pytest.raises(FileNotFoundError):
        pipeline.open(f"memory://{uuid.uuid4().hex}/none.tif", format="tiff")

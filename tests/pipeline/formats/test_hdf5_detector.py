"""HDF5 as detectors write it: compressed by hdf5plugin's filters, NeXus master files, links, VDS."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pipeline
from pipeline.errors import MissingDatasetError, NotASeriesError
from pipeline.formats._nexus import LinkedSeries
from pipeline.formats.hdf5 import HDF5Series
from pipeline.testing import SeriesConformance
from tests.pipeline.formats._data import frames

h5py = pytest.importorskip("h5py")
hdf5plugin = pytest.importorskip("hdf5plugin")

FILTERS = {
    "bitshuffle-lz4": (lambda: hdf5plugin.Bitshuffle(cname="lz4"), 32008),
    "blosc-zstd": (lambda: hdf5plugin.Blosc(cname="zstd", shuffle=hdf5plugin.Blosc.BITSHUFFLE),
                   32001),
    "zstd": (lambda: hdf5plugin.Zstd(clevel=5), 32015),
    "lz4": (lambda: hdf5plugin.LZ4(), 32004),
}


def _filter_ids(ds) -> list[int]:
    plist = ds.id.get_create_plist()
    return [plist.get_filter(k)[0] for k in range(plist.get_nfilters())]


@pytest.mark.slow
def test_filtered_datasets_read_in_a_fresh_process(tmp_path):
    """A process that never imports hdf5plugin itself (a dask worker, say) reads them."""
    data = frames(4, (16, 20), "uint16")
    np.save(tmp_path / "want.npy", data)
    for name, (make, _) in FILTERS.items():
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            f.create_dataset("imageseries/images", data=data, chunks=(1, 16, 20), **make())
    pipeline.write(pipeline.from_array(data), tmp_path / "cache.fch5", "frame-cache",
                   style="fch5", threshold=0)
    with h5py.File(tmp_path / "cache.fch5", "r+") as f:  # compressed as hexrd's writer does
        for key in ("data", "indices"):
            values = f[key][()]
            del f[key]
            f.create_dataset(key, data=values, chunks=True, maxshape=(None, values.shape[1]),
                             **hdf5plugin.Blosc(cname="zstd", clevel=5))
    script = textwrap.dedent(f"""
        import sys, h5py, numpy as np
        want = np.load({str(tmp_path / 'want.npy')!r})
        names = {sorted(FILTERS)!r}
        with h5py.File({str(tmp_path)!r} + "/bitshuffle-lz4.h5", "r") as f:
            try:
                f["imageseries/images"][0]
                print("READ WITHOUT PLUGINS")
            except OSError:
                pass
        assert "hdf5plugin" not in sys.modules
        import pipeline
        cache = pipeline.open({str(tmp_path)!r} + "/cache.fch5")  # first: nothing else loaded
        assert np.array_equal(np.asarray(cache), want)
        for name in names:
            s = pipeline.open({str(tmp_path)!r} + "/" + name + ".h5")
            assert np.array_equal(np.asarray(s), want), name
            assert np.array_equal(s[2], want[2]), name
        print("OK", len(names))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("HDF5_PLUGIN_PATH", None)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["OK", str(len(FILTERS))]


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_write_with_an_hdf5plugin_filter(tmp_path, name):
    make, filter_id = FILTERS[name]
    data = frames(5, (12, 18), "uint32")
    out = pipeline.write(pipeline.from_array(data), tmp_path / "c.h5", compression=dict(make()))
    with h5py.File(tmp_path / "c.h5", "r") as f:
        ds = f["imageseries/images"]
        assert filter_id in _filter_ids(ds)
        np.testing.assert_array_equal(ds[()], data)
    np.testing.assert_array_equal(np.asarray(out), data)


# -- NeXus master files ------------------------------------------------------------------


def eiger_master(tmp_path, parts=(3, 4, 2), shape=(10, 14), dtype="uint32", name="scan"):
    """A master file as an Eiger writes it: /entry/data/data_00000k -> data_00000k.h5."""
    data = frames(sum(parts), shape, dtype)
    start = 0
    master = tmp_path / f"{name}_master.h5"
    with h5py.File(master, "w") as f:
        f.attrs["default"] = "entry"
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        det = entry.create_group("instrument/detector")
        det.attrs["NX_class"] = "NXdetector"
        det["count_time"] = 0.1
        group = entry.create_group("data")
        group.attrs["NX_class"] = "NXdata"
        for k, n in enumerate(parts, 1):
            part = f"{name}_data_{k:06d}.h5"
            with h5py.File(tmp_path / part, "w") as g:
                g.create_dataset("entry/data/data", data=data[start:start + n],
                                 chunks=(1, *shape), **hdf5plugin.Bitshuffle(cname="lz4"))
            group[f"data_{k:06d}"] = h5py.ExternalLink(part, "/entry/data/data")
            start += n
    return master, data


class TestEigerMaster(SeriesConformance):
    def make(self, tmp_path):
        master, data = eiger_master(tmp_path)
        s = pipeline.open(master)
        assert isinstance(s, LinkedSeries)
        return s, data, {"NX_class": "NXdata"}


def test_master_reads_across_part_boundaries_from_any_directory(tmp_path, monkeypatch):
    master, data = eiger_master(tmp_path)
    monkeypatch.chdir(tmp_path.parent)
    s = pipeline.open(master)
    assert len(s) == 9 and s.frame_chunk == 1
    np.testing.assert_array_equal(np.asarray(s[2:8]), data[2:8])
    pick = [8, 0, 3, 3, 7, 2]
    np.testing.assert_array_equal(np.asarray(s[pick]), data[pick])
    np.testing.assert_array_equal(s.get_region(6, ((2, 5), (1, 9))), data[6, 2:5, 1:9])


def test_master_group_given_as_path(tmp_path):
    master, data = eiger_master(tmp_path, parts=(2, 3))
    s = pipeline.open(master, "hdf5", path="/entry/data")
    assert isinstance(s, LinkedSeries) and s.description()["parts"] == ["data_000001",
                                                                         "data_000002"]
    np.testing.assert_array_equal(np.asarray(s), data)
    with pytest.raises(MissingDatasetError, match="pass dataname="):
        pipeline.open(master, "hdf5", path="/entry/instrument/detector")


def test_missing_data_file_is_named(tmp_path):
    master, _ = eiger_master(tmp_path)
    os.remove(tmp_path / "scan_data_000002.h5")
    with pytest.raises(NotASeriesError, match="scan_data_000002.h5"):
        pipeline.open(master)


def test_parts_that_disagree_are_refused(tmp_path):
    master, _ = eiger_master(tmp_path, parts=(2, 2))
    with h5py.File(tmp_path / "scan_data_000002.h5", "r+") as g:
        del g["entry/data/data"]
        g["entry/data/data"] = np.zeros((2, 10, 15), "uint32")
    with pytest.raises(NotASeriesError, match="disagree"):
        pipeline.open(master)


def vds_master(tmp_path, parts=(3, 2), shape=(8, 6)):
    data = frames(sum(parts), shape, "uint16")
    layout = h5py.VirtualLayout((sum(parts), *shape), "uint16")
    start = 0
    for k, n in enumerate(parts, 1):
        with h5py.File(tmp_path / f"d_{k}.h5", "w") as g:
            g["data"] = data[start:start + n]
        layout[start:start + n] = h5py.VirtualSource(f"d_{k}.h5", "data", shape=(n, *shape))
        start += n
    with h5py.File(tmp_path / "vds.nxs", "w") as f:
        group = f.create_group("entry/data")
        f["entry"].attrs["NX_class"] = "NXentry"
        group.attrs.update({"NX_class": "NXdata", "signal": "frames"})
        group.create_virtual_dataset("frames", layout, fillvalue=0)
        group["x"] = np.arange(shape[1])
    return tmp_path / "vds.nxs", data


def test_virtual_dataset_found_by_signal(tmp_path, monkeypatch):
    path, data = vds_master(tmp_path)
    monkeypatch.chdir(tmp_path.parent)
    s = pipeline.open(path)
    assert isinstance(s, HDF5Series) and s.description()["dataname"] == "frames"
    np.testing.assert_array_equal(np.asarray(s), data)
    np.testing.assert_array_equal(s.to_dask().compute(), data)


def test_virtual_dataset_with_a_missing_source_is_refused(tmp_path):
    path, _ = vds_master(tmp_path)
    os.remove(tmp_path / "d_2.h5")  # HDF5 itself would read zeros
    with pytest.raises(NotASeriesError, match=r"missing: \['d_2.h5'\]"):
        pipeline.open(path)
    with pytest.raises(NotASeriesError, match="d_2.h5"):
        pipeline.open(path, "hdf5", path="/entry/data", dataname="frames")


def test_default_attributes_choose_among_nxdata_groups(tmp_path):
    a, b = frames(2, (5, 6)), frames(3, (4, 4), "int32")
    with h5py.File(tmp_path / "two.nxs", "w") as f:
        for name, arr in (("raw", a), ("reduced", b)):
            group = f.create_group(f"entry/{name}")
            group.attrs.update({"NX_class": "NXdata", "signal": "counts"})
            group["counts"] = arr
        f.attrs["default"] = "entry"
        f["entry"].attrs.update({"NX_class": "NXentry", "default": "reduced"})
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "two.nxs")), b)


def test_older_signal_form_and_nxdetector_data(tmp_path):
    a = frames(2, (5, 6))
    with h5py.File(tmp_path / "old.h5", "w") as f:
        group = f.create_group("entry/plot")
        group.attrs["NX_class"] = b"NXdata"
        group["axis"] = np.arange(6)
        group["counts"] = a
        group["counts"].attrs["signal"] = 1
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "old.h5")), a)
    with h5py.File(tmp_path / "det.h5", "w") as f:
        det = f.create_group("entry/instrument/pilatus")
        det.attrs["NX_class"] = "NXdetector"
        det["data"] = a + 1
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "det.h5")), a + 1)


def test_hexrd_layout_wins_over_nexus(tmp_path):
    a = frames(2, (5, 6))
    with h5py.File(tmp_path / "both.h5", "w") as f:
        f["imageseries/images"] = a
        group = f.create_group("entry/data")
        group.attrs.update({"NX_class": "NXdata", "signal": "data"})
        group["data"] = a * 0
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "both.h5")), a)

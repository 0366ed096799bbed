"""hexrd's reader and writer options, with hexrd's keyword names, on real files."""

from __future__ import annotations

import pickle
import warnings

import h5py
import numpy as np
import pytest
import yaml

import pipeline
from pipeline.errors import (
    DenseFrameWarning,
    MissingOptionError,
    NotASeriesError,
    OptionValueError,
    StoreExistsError,
    UnsupportedVersionError,
    ValueRangeError,
)
from pipeline.formats import framecache, function, hdf5, imagefiles, raw
from pipeline.formats.imagefiles import yaml_metadata


def sparse(n=4, shape=(16, 12), seed=0):
    rng = np.random.default_rng(seed)
    data = np.zeros((n, *shape), np.uint16)
    data[:, ::5, ::4] = rng.integers(1, 4000, data[:, ::5, ::4].shape)
    return data


def array_series(data, **meta):
    return pipeline.open(None, "array", data=data, meta=meta)


# -- frame caches: cache_file, open h5py files and groups, yml, density --------------------


@pytest.mark.parametrize("style, ext", [("npz", "npz"), ("fch5", "fch5")])
def test_cache_file_is_where_the_frames_go(tmp_path, style, ext):
    data = sparse()
    (tmp_path / "sub").mkdir()
    pipeline.write(array_series(data), str(tmp_path / "sub" / "scan.yml"), "frame-cache",
                   style=style, threshold=0, cache_file=f"frames.{ext}")
    assert not (tmp_path / "sub" / "scan.yml").exists()
    back = pipeline.open(str(tmp_path / "sub" / f"frames.{ext}"), "frame-cache", style=style)
    np.testing.assert_array_equal(np.asarray(back), data)
    absolute = tmp_path / f"abs.{ext}"
    pipeline.write(array_series(data), "elsewhere/x.yml", "frame-cache", style=style,
                   threshold=0, cache_file=str(absolute))
    np.testing.assert_array_equal(np.asarray(pipeline.open(absolute)), data)


def test_fch5_into_an_open_file_group_and_back(tmp_path):
    data = sparse()
    path = tmp_path / "state.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("other", data=np.arange(3))
        out = pipeline.write(array_series(data, note="x"), f, "frame-cache", style="fch5",
                             threshold=0, path="images/det")
        assert f["images/det"].attrs["HEXRD_FRAMECACHE_VERSION"] == 1
        np.testing.assert_array_equal(out[2], data[2])
        with pytest.raises(StoreExistsError, match="images/det"):
            pipeline.write(array_series(data), f, "frame-cache", threshold=0, path="images/det")
        pipeline.write(array_series(data[:2]), f, "frame-cache", threshold=0,
                       path="images/det", overwrite=True)
        with pytest.raises(StoreExistsError, match="not a frame cache"):
            pipeline.write(array_series(data), f, "frame-cache", threshold=0, path="other",
                           overwrite=True)
    assert f.id.valid is False or not f  # the caller's with-block closed it, not us
    with h5py.File(path, "r") as f:
        # what h5py itself reads: hexrd's layout inside the group
        g = f["images/det"]
        assert int(g["nframes"][()]) == 2 and tuple(g["shape"][()]) == data.shape[1:]
        s = pipeline.open(f, "frame-cache", style="fch5", path="images/det")
        np.testing.assert_array_equal(np.asarray(s), data[:2])
        np.testing.assert_array_equal(f["other"][()], np.arange(3))
    # after the caller closed the file the series reopens it by name, and pickles as a recipe
    np.testing.assert_array_equal(s[1], data[1])
    again = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(again[0], data[0])
    assert s.description()["group"] == "/images/det"


def test_fch5_into_a_read_only_file_is_refused(tmp_path):
    with h5py.File(tmp_path / "r.h5", "w"):
        pass
    with h5py.File(tmp_path / "r.h5", "r") as f, pytest.raises(ValueError, match="read-only"):
        pipeline.write(array_series(sparse()), f, "frame-cache", threshold=0, path="c")


def test_yml_cache_read(tmp_path):
    data = sparse()
    pipeline.write(array_series(data), tmp_path / "c.npz", threshold=0)
    np.save(tmp_path / "omega.npy", np.arange(8.0).reshape(4, 2))
    doc = {"data": {"file": "c.npz", "nframes": 4, "shape": [16, 12], "dtype": "uint16"},
           "meta": {"omega": "! load-numpy-array omega.npy", "who": "me"}}
    (tmp_path / "c.yml").write_text(yaml.safe_dump(doc))
    s = pipeline.open(tmp_path / "c.yml", "frame-cache", style="yml")
    assert s.style == "yml" and s.metadata["who"] == "me"
    np.testing.assert_array_equal(s.metadata["omega"], np.arange(8.0).reshape(4, 2))
    np.testing.assert_array_equal(np.asarray(s), data)
    # the style is found from the content too
    assert pipeline.open(tmp_path / "c.yml", "frame-cache").style == "yml"
    doc["data"]["nframes"] = 5
    (tmp_path / "bad.yml").write_text(yaml.safe_dump(doc))
    with pytest.raises(NotASeriesError, match="describes 5 frames.*holds 4 frames"):
        pipeline.open(tmp_path / "bad.yml", "frame-cache", style="yaml")


def test_bad_style_is_a_type_error_as_in_hexrd(tmp_path):
    with pytest.raises(TypeError, match="style='bad'"):
        framecache.open(tmp_path / "t.npz", style="bad")
    with pytest.raises(OptionValueError, match="Unknown file style"):
        pipeline.write(array_series(sparse()), tmp_path / "t.npz", "frame-cache", style="x")
    assert issubclass(OptionValueError, ValueError) and not (tmp_path / "t.npz").exists()


@pytest.mark.parametrize("style", ["npz", "fch5"])
def test_a_dense_frame_warns(tmp_path, style):
    data = sparse()
    data[2] = 9  # every pixel above threshold 0
    with pytest.warns(DenseFrameWarning, match=r"frame 2 is 0\.00% sparse") as record:
        pipeline.write(array_series(data), tmp_path / f"d.{style}", threshold=0)
    assert len(record) == 1  # only the dense frame
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline.write(array_series(data), tmp_path / f"t.{style}", threshold=100)


# -- HDF5: open h5py files, hdf5plugin filters, closing ---------------------------------------


def test_hdf5_through_an_open_file(tmp_path):
    data = sparse().astype(np.int32)
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        pipeline.write(array_series(data, a=1), f, "hdf5", path="entry")
        with pytest.raises(StoreExistsError, match="entry/images"):
            pipeline.write(array_series(data), f, "hdf5", path="entry")
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["entry/images"][()], data)
        s = pipeline.open(f, "hdf5", path="entry")
        assert s.metadata["a"] == 1
        np.testing.assert_array_equal(s[3], data[3])
        group = pipeline.open(f["entry"], "hdf5")  # a group: path relative to it
        np.testing.assert_array_equal(group[1], data[1])
    np.testing.assert_array_equal(s[2], data[2])  # reopened by name once closed
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(s))[0], data[0])


def test_close_when_finished_closes_the_callers_file(tmp_path):
    pipeline.write(array_series(sparse()), tmp_path / "a.h5")
    f = h5py.File(tmp_path / "a.h5", "r")
    s = hdf5.open(f, path="imageseries")
    s[0]
    s.close()
    assert f  # left open by default
    t = hdf5.open(f, path="imageseries", close_when_finished=True)
    t.close()
    assert not f


def test_hdf5plugin_filters_as_compression(tmp_path):
    hdf5plugin = pytest.importorskip("hdf5plugin")
    data = sparse()
    for name, spec in [("blosc", hdf5plugin.Blosc(cname="zstd", clevel=5)),
                       ("lz4", hdf5plugin.Bitshuffle(cname="lz4")), ("lzf", "lzf")]:
        out = pipeline.write(array_series(data), tmp_path / f"{name}.h5", compression=spec)
        with h5py.File(tmp_path / f"{name}.h5", "r") as f:
            ds = f["imageseries/images"]
            np.testing.assert_array_equal(ds[()], data)
            # as hexrd: the spec is used as it is, without gzip or a shuffle of its own
            assert not ds.shuffle and ds.compression != "gzip"
        np.testing.assert_array_equal(np.asarray(out), data)
    with pytest.raises(TypeError, match="hdf5plugin filter"):
        pipeline.write(array_series(data), tmp_path / "x.h5", compression=3)


def test_a_failing_close_warns_when_collected(tmp_path):
    pipeline.write(array_series(sparse()), tmp_path / "a.h5")
    s = pipeline.open(tmp_path / "a.h5")

    def bad_close():
        raise RuntimeError("boom")

    s._release = bad_close  # what the collector's close (__del__) calls
    with pytest.warns(UserWarning, match="could not close.*boom"):
        s.__del__()
    del s._release  # the series' own again, for when it is collected


# -- YAML given as text, yamlmeta, raw --------------------------------------------------------


def test_image_files_yaml_as_text(tmp_path, monkeypatch):
    tifffile = pytest.importorskip("tifffile")
    data = sparse(3)
    for j, frame in enumerate(data):
        tifffile.imwrite(tmp_path / f"f{j}.tif", frame)
    text = yaml.safe_dump({"image-files": {"directory": str(tmp_path), "files": "f*.tif"},
                           "options": {}, "meta": {"info": "test"}})
    s = imagefiles.open(text)
    assert s.fname == text and s.metadata == {"info": "test"}
    np.testing.assert_array_equal(np.asarray(s), data)
    np.testing.assert_array_equal(np.asarray(pipeline.open(text, "image-files")), data)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(s))[2], data[2])
    monkeypatch.chdir(tmp_path)  # a relative directory is the working directory's
    rel = imagefiles.open("image-files: {directory: ., files: f1.tif}\n")
    np.testing.assert_array_equal(rel[0], data[1])


def test_raw_yaml_as_text_and_big_endian(tmp_path, monkeypatch):
    data = sparse(2).astype(">u2")
    (tmp_path / "d.bin").write_bytes(b"\0" * 100 + data.tobytes())
    monkeypatch.chdir(tmp_path)
    text = ("filename: d.bin\nshape: 16 12\nskip: 100\n"
            "scalar: {type: i, bytes: 2, signed: false, endian: big}\n")
    s = raw.open(text)
    assert s.dtype == np.dtype(">u2") and s[1].dtype == np.dtype(">u2")
    np.testing.assert_array_equal(np.asarray(s), data)
    np.testing.assert_array_equal(s[0], np.frombuffer(data[0].tobytes(), ">u2").reshape(16, 12))
    (tmp_path / "odd.bin").write_bytes(b"\0" * 101 + data.tobytes())
    with pytest.raises(ValueError, match="Total number of bytes"):
        raw.open(text.replace("d.bin", "odd.bin"))
    with pytest.raises(ValueError, match='endian must be "big"'):
        raw.open(text.replace("endian: big", "endian: mixed"))


def test_yaml_metadata_triggers(tmp_path):
    np.save(tmp_path / "om.npy", np.arange(4.0))
    meta = {"a": 1, "om": "! load-numpy-array om.npy", "x": "++np.array", "x-array": [1, 2],
            "bang": "!", "word": "!load-numpy-array"}
    out = yaml_metadata(meta, path=str(tmp_path / "c.yml"))
    np.testing.assert_array_equal(out["om"], np.arange(4.0))
    np.testing.assert_array_equal(out["x"], [1, 2])
    assert "x-array" not in out and "x-array" in meta  # the caller's dict is left alone
    assert (out["a"], out["bang"], out["word"]) == (1, "!", "!load-numpy-array")
    with pytest.warns(UserWarning, match="unknown trigger"):
        assert "k" not in yaml_metadata({"k": "! frobnicate it"})
    with pytest.raises(ValueError, match="needs a file name"):
        yaml_metadata({"k": "! load-numpy-array"})


def test_function_options_missing_are_key_errors():
    with pytest.raises(KeyError, match="func="):
        function.open(None, num_frames=2)
    with pytest.raises(MissingOptionError, match="num_frames="):
        function.open(None, func=np.zeros)
    assert str(MissingOptionError("plain")) == "plain"


def test_unknown_fch5_version_is_an_unsupported_version(tmp_path):
    pipeline.write(array_series(sparse()), tmp_path / "c.fch5", threshold=0)
    with h5py.File(tmp_path / "c.fch5", "a") as f:
        f.attrs["HEXRD_FRAMECACHE_VERSION"] = 99
    with pytest.raises(UnsupportedVersionError, match="version 99") as info:
        pipeline.open(tmp_path / "c.fch5", "frame-cache", style="fch5")
    assert isinstance(info.value, NotASeriesError)  # hexrd's NotImplementedError no longer


def test_values_beyond_the_asked_dtype_are_a_value_range_error(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "big.tif", np.full((4, 4), 300, np.int32))
    s = imagefiles.open(f"image-files: {{directory: {tmp_path}, files: big.tif}}\n"
                        "options: {dtype: uint8}\n")
    with pytest.raises(ValueRangeError, match="do not fit the dtype uint8") as info:
        s[0]
    assert isinstance(info.value, ValueError)  # hexrd's RuntimeError no longer


def test_frame_cache_entries_are_kept_within_a_budget(tmp_path, monkeypatch):
    data = sparse(6)
    s = pipeline.write(array_series(data), tmp_path / "c.npz", threshold=0)
    per_frame = sum(p.nbytes for p in s._entries(0))
    monkeypatch.setattr(framecache, "SPARSE_CACHE_BYTES", 3 * per_frame)
    for j in range(6):
        np.testing.assert_array_equal(s[j], data[j])
    assert sorted(s._sparse) == [3, 4, 5]  # the oldest dropped first
    vals = s.sparse_frame(4)[2]
    with pytest.raises(ValueError, match="read-only"):
        vals[0] = 1  # shared by later reads: never changed by a caller
    assert pickle.loads(pickle.dumps(s)).__dict__.get("_sparse") is None  # left behind

"""The one metadata codec, and the same metadata through every writer: values and types back."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
import tifffile
import zarr

import pipeline
from pipeline import _json
from pipeline.errors import MetadataError
from tests.pipeline.formats.test_framecache import hexrd_fch5, hexrd_npz

WRITERS = ["out.zarr", "out.h5", "out.tif", "out.npz", "out.fch5"]

META = {
    "int": 3,
    "big_int": 2**70,
    "float": 2.5,
    "nan": float("nan"),
    "inf": float("-inf"),
    "bool": True,
    "none": None,
    "text": "hé, ünïcode",
    "json_looking": "json:{not really}",
    "bytes_utf8": b"NXimageseries",
    "bytes_raw": b"\xff\x00\xfe",
    "f32": np.float32(1.25),
    "i8": np.int8(-3),
    "u64": np.uint64(2**63 + 1),
    "c64": np.complex64(1 + 2j),
    "bool_": np.bool_(False),
    "zero_d": np.asarray(7, np.int16),
    "one": np.asarray([5.5], np.float32),
    "omega": np.linspace(0, 360, 20, dtype=np.float64).reshape(10, 2),
    "large": np.arange(40_000, dtype=np.float64),  # 320 KB: above every inline limit
    "names": np.asarray(["ab", "c"]),
    "raw_names": np.asarray([b"ab", b"c"]),
    "list": [1, 2.5, "x", None, [True, np.float32(3)]],
    "tuple": (1, 2),
    "nested": {"a": {"b": {"c": np.arange(3, dtype=np.uint8)}}, "empty": {}},
    "empty_list": [],
}

EXPECTED = {**META, "bytes_utf8": "NXimageseries", "tuple": [1, 2]}


def assert_same(got, want, where="metadata"):
    assert type(got) is type(want), f"{where}: {type(got).__name__} != {type(want).__name__}"
    if isinstance(want, np.ndarray | np.generic):
        assert got.dtype == want.dtype and np.shape(got) == np.shape(want), where
        np.testing.assert_array_equal(got, want)
    elif isinstance(want, dict):
        assert sorted(got) == sorted(want), where
        for key in want:
            assert_same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and math.isnan(want):
        assert math.isnan(got), where
    else:
        assert got == want, where


def test_codec_round_trip_keeps_values_and_types():
    sunk: dict[str, np.ndarray] = {}

    def sink(arr):
        sunk[str(len(sunk))] = arr
        return str(len(sunk) - 1)

    encoded = _json.encode(META, sink)
    back = _json.decode(json.loads(json.dumps(encoded)), sunk.__getitem__)
    assert_same(back, EXPECTED)
    assert list(sunk) == ["0"]  # only the large array left the JSON


@pytest.mark.parametrize("bad, match", [
    ({"obj": object()}, "obj: cannot store object"),
    ({"a": {1: 2}}, "keys must be strings, got 1"),
    ({"arr": np.array([object()])}, "dtype object"),
    ({"when": np.datetime64("2020-01-01")}, "dtype datetime64"),
])
def test_codec_names_what_it_cannot_store(bad, match):
    with pytest.raises(MetadataError, match=match) as info:
        _json.check(bad)
    assert isinstance(info.value, TypeError)


def test_deep_and_cyclic_metadata_are_refused_clearly():
    deep: dict = {}
    node = deep
    for _ in range(500):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(MetadataError, match="nested deeper than 64"):
        _json.check(deep)
    loop: list = []
    loop.append(loop)
    with pytest.raises(MetadataError, match="nested deeper"):
        _json.check({"loop": loop})


@pytest.fixture
def series():
    frames = np.arange(3 * 12 * 16, dtype=np.uint16).reshape(3, 12, 16)
    return pipeline.from_array(frames, metadata=META)


@pytest.mark.parametrize("name", WRITERS)
def test_same_metadata_back_from_every_writer(tmp_path, series, name):
    back = pipeline.write(series, tmp_path / name)
    assert_same(pipeline.open(tmp_path / name).metadata, EXPECTED)
    assert_same(back.metadata, EXPECTED)
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / name)),
                                  np.asarray(series))


def test_hdf5_keeps_large_arrays_in_datasets_and_plain_values_as_hexrd_attributes(
        tmp_path, series):
    pipeline.write(series, tmp_path / "x.h5")
    with h5py.File(tmp_path / "x.h5", "r") as f:
        attrs = f["imageseries"].attrs
        # what hexrd reads directly: numeric arrays and strings as plain attributes
        np.testing.assert_array_equal(attrs["omega"], META["omega"])
        assert attrs["text"] == META["text"] and attrs["bytes_utf8"] == "NXimageseries"
        sizes = [ds.size for ds in f["imageseries/_lazyseries_arrays"].values()]
        assert 40_000 in sizes  # the large array is a dataset, not an attribute


def test_what_a_container_cannot_hold_is_named_before_any_frame(tmp_path):
    computed = []

    def frame(j):
        computed.append(j)
        return np.zeros((4, 4), np.uint8)

    bad = pipeline.from_function(frame, 3, shape=(4, 4), dtype=np.uint8,
                                 metadata={"ok": 1, "bad": {"deeper": object()}})
    for name in WRITERS:
        with pytest.raises(MetadataError, match="bad.deeper"):
            pipeline.write(bad, tmp_path / name)
        assert not (tmp_path / name).exists()
    assert computed == []


HEXRD_META = {"NX_class": np.asarray(b"NXimageseries"), "omega": np.arange(8.0).reshape(4, 2),
              "panel_id": np.asarray(b"ff1")}


def _hexrd_caches(tmp_path):
    data = np.zeros((4, 10, 12), np.uint16)
    data[:, 2, 3] = [1, 2, 3, 4]
    data[1, 7, 9] = 500
    npz = hexrd_npz(tmp_path / "hexrd.npz", data, meta=HEXRD_META)
    fch5 = hexrd_fch5(tmp_path / "hexrd.fch5", data,
                      meta={"omega": HEXRD_META["omega"], "panel_id": b"ff1"})
    with h5py.File(fch5, "r+") as f:  # hexrd keeps NX_class as a bytes attribute-like value
        f["metadata"].create_dataset("NX_class", data=b"NXimageseries")
    return data, [npz, fch5]


@pytest.mark.parametrize("name", WRITERS)
def test_real_hexrd_frame_caches_with_bytes_metadata_write_everywhere(tmp_path, name):
    data, caches = _hexrd_caches(tmp_path)
    for k, cache in enumerate(caches):
        source = pipeline.open(cache)
        assert any(isinstance(v, bytes | np.ndarray) for v in source.metadata.values())
        out = tmp_path / f"{k}_{name}"
        pipeline.write(source, out)
        back = pipeline.open(out)
        np.testing.assert_array_equal(np.asarray(back), data)
        assert back.metadata["NX_class"] == "NXimageseries"
        assert back.metadata["panel_id"] == "ff1"
        np.testing.assert_array_equal(back.metadata["omega"], HEXRD_META["omega"])


def test_formats_own_libraries_read_the_metadata(tmp_path, series):
    pipeline.write(series, tmp_path / "m.zarr")
    pipeline.write(series, tmp_path / "m.tif")
    group = zarr.open_group(tmp_path / "m.zarr", mode="r")
    assert group.attrs["metadata"]["text"] == META["text"]
    with tifffile.TiffFile(tmp_path / "m.tif") as tf:
        from pipeline.formats._tiffmeta import JSON_TAG

        assert json.loads(tf.pages[0].tags[JSON_TAG].value)["int"] == 3

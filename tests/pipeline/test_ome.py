"""Every written store is an OME-Zarr image (NGFF 0.5): validated, levels, other tools' images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader
from ome_zarr_models.v05.image import Image

import pipeline
from pipeline import ome

MICRO = {"physical_size": {"x": 0.5, "y": 0.25, "z": 2.0},
         "physical_unit": {"x": "µm", "y": "µm", "z": "µm"},
         "time_increment": 1.5, "time_unit": "ms", "channel_names": ["DAPI", "GFP"]}


def _data(shape, seed=3):
    return np.random.default_rng(seed).integers(0, 4000, shape).astype("uint16")


def _pool(a, times):
    """The 2 x 2 mean over the last two axes, ``times`` times, rounded half up like the writer."""
    for _ in range(times):
        ny, nx = a.shape[-2] // 2 * 2, a.shape[-1] // 2 * 2
        b = a[..., :ny, :nx].reshape(*a.shape[:-2], ny // 2, 2, nx // 2, 2)
        a = np.floor(b.mean(axis=(-3, -1)) + 0.5).astype(a.dtype)
    return a


def _attrs(path):
    with open(f"{path}/zarr.json") as f:
        return json.load(f)["attributes"]


@pytest.mark.parametrize("axes, shape", [
    ("TYX", (5, 33, 40)), ("TCYX", (4, 2, 33, 40)), ("TZYX", (3, 4, 24, 20)),
    ("TCZYX", (3, 2, 4, 24, 20)),
])
@pytest.mark.parametrize("levels", [0, 2])
def test_written_store_is_a_valid_ome_zarr_image(tmp_path, axes, shape, levels):
    data = _data(shape)
    path = tmp_path / "s.zarr"
    pipeline.write(pipeline.from_array(data, dict(MICRO), axes=axes), path, levels=levels)

    image = Image.from_zarr(zarr.open_group(path, mode="r"))  # raises when invalid
    multiscale = image.ome_attributes.multiscales[0]
    names = [a.name for a in multiscale.axes]
    assert names == [{"T": "frame", "C": "channel"}.get(a, a.lower()) for a in axes]
    types = {"T": "time", "C": "channel"}
    assert [a.type for a in multiscale.axes] == [types.get(a, "space") for a in axes]
    units = {"T": "millisecond", "C": None}
    assert [a.unit for a in multiscale.axes] == [units.get(a, "micrometer") for a in axes]
    step = {"T": 1.5, "C": 1.0, "Z": 2.0, "Y": 0.25, "X": 0.5}
    for k, dataset in enumerate(multiscale.datasets):
        factor = [2**k if a in "YX" else 1 for a in axes]
        assert dataset.coordinateTransformations[0].scale == [step[a] * f for a, f in
                                                               zip(axes, factor)]
        if k:  # a pooled pixel's centre lies between the pixels it pools
            assert dataset.coordinateTransformations[1].translation == [
                step[a] * (f - 1) / 2 for a, f in zip(axes, factor)]
    assert [d.path for d in multiscale.datasets] == ["images"] + [
        f"levels/{k}" for k in range(1, levels + 1)]
    attrs = _attrs(path)
    assert attrs["lazyseries"]["complete"] is True and "provenance" in attrs["lazyseries"]
    if "C" in axes:
        assert [c["label"] for c in attrs["ome"]["omero"]["channels"]] == ["DAPI", "GFP"]

    nodes = list(Reader(parse_url(str(path)))())
    assert len(nodes) == 1
    for k, level in enumerate(nodes[0].data):
        np.testing.assert_array_equal(np.asarray(level), _pool(data, k))
    if "C" in axes:
        assert nodes[0].metadata["channel_names"] == ["DAPI", "GFP"]


def test_levels_open_with_their_pixel_sizes_and_match_numpy(tmp_path):
    data = _data((4, 2, 37, 50))
    path = tmp_path / "s.zarr"
    s = pipeline.from_array(data, dict(MICRO), axes="TCYX")
    pipeline.write(s, path, levels=3)
    top = pipeline.open(path)
    assert top.axes == "TCYX" and top.metadata["physical_size"] == MICRO["physical_size"]
    for k in range(4):
        level = pipeline.open(path, level=k)
        np.testing.assert_array_equal(np.asarray(level), _pool(data, k))
        assert level.metadata["physical_size"] == {"x": 0.5 * 2**k, "y": 0.25 * 2**k, "z": 2.0}
        assert level.description()["level"] == k
    with pytest.raises(ValueError, match=r"no level 4; the image has levels 0\.\.3"):
        pipeline.open(path, level=4)
    with pytest.raises(ValueError, match="array=.*or level="):
        pipeline.open(path, array="images", level=1)


def test_levels_are_computed_in_the_same_graph_each_frame_read_once(tmp_path):
    data = _data((6, 32, 32))
    reads = []

    def frame(j):
        reads.append(j)
        return data[j]

    s = pipeline.open(None, "function", func=frame, num_frames=6)
    reads.clear()  # opening read frame 0 for its shape
    task = pipeline.write(s, tmp_path / "s.zarr", levels=2, compute=False)
    task.compute(scheduler="sync")
    assert sorted(reads) == list(range(6))
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "s.zarr", level=2)),
                                  _pool(data, 2))


@pytest.mark.parametrize("levels, message", [
    (-1, "whole number >= 0"), (True, "whole number"), ("2", "whole number"),
    (6, r"below one pixel; at most 5"),
])
def test_bad_levels_fail_before_anything_is_written(tmp_path, levels, message):
    s = pipeline.from_array(_data((2, 40, 33)))
    with pytest.raises(ValueError, match=message):
        pipeline.write(s, tmp_path / "s.zarr", levels=levels)
    assert not (tmp_path / "s.zarr").exists()


def test_axes_ome_cannot_describe_write_a_plain_store(tmp_path):
    data = _data((2, 3, 2, 10, 12))  # depth before channel: not an OME-Zarr order
    s = pipeline.from_array(data, axes="TZCYX")
    out = pipeline.write(s, tmp_path / "s.zarr")
    assert "ome" not in _attrs(tmp_path / "s.zarr")
    np.testing.assert_array_equal(np.asarray(out), data)
    with pytest.raises(ValueError, match="cannot describe axes 'TZCYX'"):
        pipeline.write(s, tmp_path / "l.zarr", levels=1)


def test_store_with_levels_still_opens_in_xarray_as_one_array(tmp_path):
    xr = pytest.importorskip("xarray")
    data = _data((3, 2, 16, 20))
    pipeline.write(pipeline.from_array(data, axes="TCYX"), tmp_path / "s.zarr", levels=2)
    ds = xr.open_zarr(tmp_path / "s.zarr", consolidated=False)
    assert list(ds.data_vars) == ["images"]
    np.testing.assert_array_equal(ds["images"].values, data)


def test_ome_zarr_py_image_opens_as_a_series(tmp_path):
    from ome_zarr.writer import write_image

    data = _data((3, 2, 4, 64, 48))
    group = zarr.open_group(tmp_path / "o.zarr", mode="w")
    write_image(data, group, axes="tczyx", scale_factors=[2, 4],
                scale={"z": 2.0, "y": 0.5, "x": 0.5},
                axes_units={"t": "second", "z": "micrometer", "y": "micrometer",
                            "x": "micrometer"})
    s = pipeline.open(tmp_path / "o.zarr")
    assert (len(s), s.shape, s.axes) == (3, (2, 4, 64, 48), "TCZYX")
    np.testing.assert_array_equal(np.asarray(s), data)
    assert s.metadata["physical_size"] == {"z": 2.0, "y": 0.5, "x": 0.5}
    assert s.metadata["physical_unit"]["x"] == "micrometer"
    level = pipeline.open(tmp_path / "o.zarr", level=1)
    np.testing.assert_array_equal(np.asarray(level), np.asarray(group["s1"]))
    assert level.metadata["physical_size"] == {"z": 2.0, "y": 1.0, "x": 1.0}


def test_golden_v1_store_has_no_levels_but_opens():
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "data" / "golden" / "v1" / "raw.zarr"
    s = pipeline.open(path)
    np.testing.assert_array_equal(np.asarray(pipeline.open(path, level=0)), np.asarray(s))
    with pytest.raises(ValueError, match="not an OME-Zarr image"):
        pipeline.open(path, level=1)


def test_cli_process_writes_levels(tmp_path, capsys):
    from pipeline.cli import main

    data = _data((3, 32, 40))
    pipeline.write(pipeline.from_array(data), tmp_path / "in.zarr")
    args = ["process", str(tmp_path / "in.zarr"), str(tmp_path / "out.zarr"), "--op", "flip=v",
            "--quiet"]
    assert main([*args, "--levels", "2"]) == 0
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "out.zarr", level=2)),
                                  _pool(data[..., ::-1], 2))
    assert main([*args, "--levels", "9", "--overwrite"]) == 2
    assert "levels=9" in capsys.readouterr().err


def test_describable_and_axes_of():
    assert ome.describable("TCZYX") and ome.describable("TYX") and not ome.describable("TZCYX")
    assert not ome.describable("TAYX")
    assert ome.axes_of(("t", "c", "z", "y", "x")) == "TCZYX"
    assert ome.axes_of(("frame", "y", "x")) == "TYX"
    assert ome.axes_of(("z", "y", "x")) is None and ome.axes_of(None) is None


def test_golden_ome_store_opens_with_its_levels_and_metadata():
    import importlib.util
    import pathlib

    golden = pathlib.Path(__file__).parents[1] / "data" / "golden"
    spec = importlib.util.spec_from_file_location("make_golden_ome",
                                                  golden / "make_golden_ome.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    path = golden / "ome-v1" / "image.zarr"
    Image.from_zarr(zarr.open_group(path, mode="r"))
    s = pipeline.open(path)
    np.testing.assert_array_equal(np.asarray(s), maker.frames())
    assert s.metadata == maker.metadata() and s.axes == "TCYX"
    level = pipeline.open(path, level=1)
    np.testing.assert_array_equal(np.asarray(level), _pool(maker.frames(), 1))
    assert level.metadata["physical_size"] == {"x": 1.0, "y": 0.5}


def test_ome_zarr_py_v04_image_on_zarr_2_opens(tmp_path):
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    data = _data((3, 2, 64, 48))
    group = zarr.open_group(tmp_path / "o.zarr", mode="w", zarr_format=2)
    write_image(data, group, axes="tcyx", fmt=FormatV04(), scale_factors=[2],
                scale={"y": 0.5, "x": 0.5})
    assert "ome" not in group.attrs and group.attrs["multiscales"][0]["version"] == "0.4"
    s = pipeline.open(tmp_path / "o.zarr")
    np.testing.assert_array_equal(np.asarray(s), data)
    assert s.metadata["physical_size"] == {"y": 0.5, "x": 0.5}
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "o.zarr", level=1)),
                                  np.asarray(group["s1"]))


@pytest.mark.slow
def test_levels_written_on_a_cluster_of_processes(tmp_path):
    distributed = pytest.importorskip("distributed")

    data = _data((8, 2, 40, 36))
    s = pipeline.from_array(data, dict(MICRO), axes="TCYX").process([("flip", "t")])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster):
        pipeline.write(s, tmp_path / "s.zarr", levels=2)
    turned = np.swapaxes(data, -1, -2)
    for k in range(3):
        level = pipeline.open(tmp_path / "s.zarr", level=k)
        np.testing.assert_array_equal(np.asarray(level), _pool(turned, k))
    Image.from_zarr(zarr.open_group(tmp_path / "s.zarr", mode="r"))
    assert pipeline.open(tmp_path / "s.zarr").metadata["physical_size"]["x"] == 0.25


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "int32", "float32"])
def test_pooling_is_the_mean_rounded_half_up_for_every_dtype(dtype):
    low, high = (np.iinfo(dtype).min, np.iinfo(dtype).max) if dtype != "float32" else (-1e6, 1e6)
    data = np.random.default_rng(1).uniform(low, high, (2, 7, 9)).astype(dtype)
    quads = data[:, :6, :8].astype(np.float64).reshape(2, 3, 2, 4, 2).sum(axis=(2, 4))
    expected = np.floor((quads + 2) / 4) if np.dtype(dtype).kind in "iu" else quads / 4
    got = ome._pool(data, np.dtype(dtype))
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(dtype), rtol=1e-6)

"""Microscopy metadata in and out: OME-TIFF and ImageJ files, processing, OME-Zarr, xarray."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

import ops
import pipeline
from pipeline import microscopy

SIZES = {"x": 0.5, "y": 0.25, "z": 2.0}


def _data(shape, dtype="uint16"):
    return np.random.default_rng(5).integers(0, 4000, shape).astype(dtype)


@pytest.fixture
def ome_tiff(tmp_path):
    """A TZCYX OME-TIFF written by tifffile, with sizes, units, time increment, channels."""
    data = _data((3, 4, 2, 16, 20))
    path = tmp_path / "s.ome.tif"
    tifffile.imwrite(path, data, ome=True, metadata={
        "axes": "TZCYX", "PhysicalSizeX": 0.5, "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": 0.25, "PhysicalSizeYUnit": "µm", "PhysicalSizeZ": 2.0,
        "PhysicalSizeZUnit": "nm", "TimeIncrement": 1.5, "TimeIncrementUnit": "ms",
        "Channel": {"Name": ["DAPI", "GFP"]}})
    return path, data


@pytest.fixture
def imagej_tiff(tmp_path):
    """A TZCYX ImageJ hyperstack written by tifffile."""
    data = _data((3, 4, 2, 16, 20))
    path = tmp_path / "s.tif"
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.5, 1 / 0.25), metadata={
        "axes": "TZCYX", "spacing": 2.0, "unit": "micron", "finterval": 1.5,
        "Labels": ["DAPI", "GFP"] * 12})
    return path, data


def test_ome_tiff_frames_are_t_with_z_in_the_frame_and_metadata_as_tifffile_reads(ome_tiff):
    path, data = ome_tiff
    s = pipeline.open(path)
    assert (len(s), s.shape, s.axes) == (3, (2, 4, 16, 20), "TCZYX")
    np.testing.assert_array_equal(np.asarray(s), data.transpose(0, 2, 1, 3, 4))
    np.testing.assert_array_equal(s[1, 0, 3], data[1, 3, 0])
    with tifffile.TiffFile(path) as tf:
        pixels = tifffile.xml2dict(tf.ome_metadata)["OME"]["Image"]["Pixels"]
    m = s.metadata
    assert m["physical_size"] == {a.lower(): pixels[f"PhysicalSize{a}"] for a in "XYZ"}
    assert m["physical_unit"] == {"x": "micrometer", "y": "micrometer", "z": "nanometer"}
    assert (m["time_increment"], m["time_unit"]) == (pixels["TimeIncrement"], "millisecond")
    assert m["channel_names"] == [c["Name"] for c in pixels["Channel"]]


def test_imagej_tiff_metadata_as_tifffile_reads(imagej_tiff):
    path, data = imagej_tiff
    s = pipeline.open(path)
    assert (len(s), s.shape, s.axes) == (3, (2, 4, 16, 20), "TCZYX")
    np.testing.assert_array_equal(np.asarray(s), data.transpose(0, 2, 1, 3, 4))
    with tifffile.TiffFile(path) as tf:
        ij = tf.imagej_metadata
        xres = tf.pages[0].tags["XResolution"].value
    m = s.metadata
    assert m["physical_size"]["x"] == pytest.approx(xres[1] / xres[0])
    assert m["physical_size"]["y"] == pytest.approx(0.25)
    assert m["physical_size"]["z"] == ij["spacing"]
    assert m["physical_unit"] == {"x": "micrometer", "y": "micrometer", "z": "micrometer"}
    assert m["time_increment"] == ij["finterval"] and m["time_unit"] == "second"
    assert m["channel_names"] == ij["Labels"][:2]


def test_a_crop_keeps_and_a_transpose_swaps_pixel_sizes(ome_tiff):
    s = pipeline.open(ome_tiff[0])
    crop = s.process([("rectangle", ((2, 10), (4, 12)))])
    assert crop.metadata["physical_size"] == {"x": 0.5, "y": 0.25, "z": 2.0}
    for code in ("t", "r90", "cw90"):
        turned = s.process([("flip", code)])
        assert turned.metadata["physical_size"] == {"x": 0.25, "y": 0.5, "z": 2.0}, code
    assert s.process([("flip", "v")]).metadata["physical_size"]["x"] == 0.5
    back = s.process([("flip", "t")]).process([("rectangle", ((0, 4), (0, 4))), ("flip", "t")])
    assert back.metadata["physical_size"] == {"x": 0.5, "y": 0.25, "z": 2.0}
    assert s.metadata["physical_size"]["x"] == 0.5  # the source's own is untouched


def test_a_user_op_declares_how_it_moves_axes():
    registry = ops.registry.child()
    registry.register("swap", lambda b, p: np.swapaxes(b, -1, -2), per_frame=False,
                      resolve=lambda p, spec: ops.FrameSpec(spec.shape[::-1], spec.dtype),
                      axes=lambda p, ndim: (1, 0))
    s = pipeline.from_array(_data((2, 6, 8)), {"physical_size": {"x": 1.0, "y": 3.0}})
    chain = [ops.Op(registry.lookup("swap"))]
    assert s.process(chain).metadata["physical_size"] == {"x": 3.0, "y": 1.0}


def test_an_op_changing_the_frame_dimensions_unannounced_drops_the_sizes():
    registry = ops.registry.child()
    registry.register("stack", lambda b, p: np.stack([b, b], axis=1), per_frame=False,
                      resolve=lambda p, spec: ops.FrameSpec((2, *spec.shape), spec.dtype))
    s = pipeline.from_array(_data((2, 6, 8)), {"physical_size": {"x": 1.0}, "name": "n"})
    out = s.process([ops.Op(registry.lookup("stack"))])
    assert out.shape == (2, 6, 8) and out.metadata == {"name": "n"}


def test_ome_tiff_written_reads_back_in_tifffile(ome_tiff, tmp_path):
    s = pipeline.open(ome_tiff[0]).process([("flip", "t")])
    out = pipeline.write(s, tmp_path / "w.ome.tif")
    with tifffile.TiffFile(tmp_path / "w.ome.tif") as tf:
        assert tf.is_ome and tf.series[0].axes == "TCZYX"
        np.testing.assert_array_equal(tf.asarray(), np.asarray(s))
        pixels = tifffile.xml2dict(tf.ome_metadata)["OME"]["Image"]["Pixels"]
    assert (pixels["PhysicalSizeX"], pixels["PhysicalSizeY"]) == (0.25, 0.5)
    assert (pixels["PhysicalSizeZ"], pixels["PhysicalSizeZUnit"]) == (2.0, "nm")
    assert (pixels["TimeIncrement"], pixels["TimeIncrementUnit"]) == (1.5, "ms")
    assert [c["Name"] for c in pixels["Channel"]] == ["DAPI", "GFP"]
    assert out.metadata == s.metadata and out.axes == "TCZYX"


def test_imagej_tiff_written_reads_back_in_tifffile(ome_tiff, tmp_path):
    s = pipeline.open(ome_tiff[0])
    pipeline.write(s, tmp_path / "w.tif", style="imagej")
    with tifffile.TiffFile(tmp_path / "w.tif") as tf:
        assert tf.is_imagej and tf.series[0].axes == "TZCYX"
        np.testing.assert_array_equal(tf.asarray(), np.asarray(s).transpose(0, 2, 1, 3, 4))
        ij = tf.imagej_metadata
        xres = tf.pages[0].tags["XResolution"].value
    assert ij["unit"] == "micron"
    assert ij["spacing"] == pytest.approx(2.0e-3)  # 2 nm in ImageJ's one unit, x's
    assert ij["finterval"] == pytest.approx(1.5e-3)  # ImageJ keeps seconds
    assert ij["Labels"][:2] == ["DAPI", "GFP"]
    assert xres[1] / xres[0] == pytest.approx(0.5)
    back = pipeline.open(tmp_path / "w.tif")
    np.testing.assert_array_equal(np.asarray(back), np.asarray(s))
    assert back.metadata == s.metadata


def test_imagej_refuses_float64_before_writing(tmp_path):
    s = pipeline.from_array(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="ImageJ TIFFs hold uint8.*float64"):
        pipeline.write(s, tmp_path / "w.tif", style="imagej")
    with pytest.raises(ValueError, match="unknown TIFF style 'png'"):
        pipeline.write(s, tmp_path / "w.tif", style="png")
    assert not list(tmp_path.iterdir())


def test_tiff_to_ome_zarr_keeps_the_metadata(ome_tiff, tmp_path):
    import zarr
    from ome_zarr_models.v05.image import Image

    s = pipeline.open(ome_tiff[0])
    out = pipeline.write(s, tmp_path / "s.zarr")
    image = Image.from_zarr(zarr.open_group(tmp_path / "s.zarr", mode="r"))
    ms = image.ome_attributes.multiscales[0]
    assert [a.name for a in ms.axes] == ["frame", "channel", "z", "y", "x"]
    assert [a.unit for a in ms.axes] == ["millisecond", None, "nanometer", "micrometer",
                                         "micrometer"]
    assert ms.datasets[0].coordinateTransformations[0].scale == [1.5, 1.0, 2.0, 0.25, 0.5]
    assert out.metadata == s.metadata and out.axes == "TCZYX"
    with open(tmp_path / "s.zarr" / "zarr.json") as f:
        channels = json.load(f)["attributes"]["ome"]["omero"]["channels"]
    assert [c["label"] for c in channels] == ["DAPI", "GFP"]


def test_to_xarray_has_physical_coordinates(ome_tiff):
    pytest.importorskip("xarray")
    s = pipeline.open(ome_tiff[0])
    da = s.to_xarray()
    assert da.dims == ("frame", "channel", "z", "y", "x")
    np.testing.assert_allclose(da["x"].values, np.arange(20) * 0.5)
    np.testing.assert_allclose(da["y"].values, np.arange(16) * 0.25)
    assert da["x"].attrs["units"] == "micrometer" and da["z"].attrs["units"] == "nanometer"
    np.testing.assert_allclose(da["time"].values, [0.0, 1.5, 3.0])
    assert da["time"].dims == ("frame",) and da["time"].attrs["units"] == "millisecond"
    assert list(da["channel"].values) == ["DAPI", "GFP"]
    np.testing.assert_array_equal(da.sel(channel="GFP").isel(frame=1).values,
                                  np.asarray(s[1])[1])


@pytest.mark.parametrize("text, name", [
    ("µm", "micrometer"), ("um", "micrometer"), ("micron", "micrometer"),
    ("\\u00B5m", "micrometer"), ("nm", "nanometer"), ("Å", "angstrom"), ("s", "second"),
    ("ms", "millisecond"), ("sec", "second"), ("pixel", None), ("", None), ("furlong", "furlong"),
])
def test_unit_names(text, name):
    assert microscopy.unit_name(text) == name


@pytest.mark.parametrize("meta", [
    {"physical_size": 0.5}, {"physical_size": {"x": "big", "y": -1}},
    {"time_increment": "soon", "channel_names": "DAPI"}, {"physical_unit": ["um"]},
    {"physical_size": {"x": float("nan")}, "time_increment": float("inf")},
])
def test_metadata_that_only_shares_the_names_writes_and_processes(tmp_path, meta):
    s = pipeline.from_array(_data((2, 2, 8, 8)), dict(meta), axes="TCYX")
    turned = s.process([("flip", "t")])
    out = pipeline.write(turned, tmp_path / "s.zarr", levels=1)
    assert out.metadata.keys() == meta.keys()
    assert microscopy.clean(meta) == {}
    lvl = pipeline.open(tmp_path / "s.zarr", level=1).metadata
    assert lvl.keys() - {"physical_size"} == meta.keys() - {"physical_size"}
    np.testing.assert_equal(lvl["physical_size"],
                            turned.metadata.get("physical_size", {"x": 2.0, "y": 2.0}))
    pipeline.write(s, tmp_path / "s.ome.tif")


def test_frame_selection_scales_the_time_increment(ome_tiff):
    s = pipeline.open(ome_tiff[0])  # 3 frames, 1.5 ms apart
    assert s[::2].metadata["time_increment"] == 3.0
    assert s[1:].metadata["time_increment"] == 1.5
    assert s[::2].process([], frame_list=[0, 1]).metadata["time_increment"] == 3.0
    uneven = s[[0, 2, 1]]
    assert "time_increment" not in uneven.metadata and "time_unit" not in uneven.metadata
    assert uneven.metadata["physical_size"] == s.metadata["physical_size"]
    assert s.metadata["time_increment"] == 1.5

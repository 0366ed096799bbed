"""OME-Zarr metadata judged by the specification's own documents and schemas (NGFF 0.5).

Every invalid image document of the specification's test suite, put on a real
store, is warned about by the rule it breaks (refused with ``strict=True``)
and its broken part is not used; every valid one opens without a word; and
every store lazyseries writes validates against the strict schema.
"""

from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
import pytest
import zarr

import pipeline
from pipeline import ngff
from pipeline.errors import InvalidMetadataError, InvalidMetadataWarning

SPEC = pathlib.Path(__file__).parents[1] / "data" / "ngff-0.5"


def _suite(name):
    doc = json.loads((SPEC / "tests" / f"{name}.json").read_text())
    return [pytest.param(t["data"], t["valid"], id=t["formerly"]) for t in doc["tests"]]


CASES = _suite("image_suite") + _suite("strict_image_suite")
INVALID = [c for c in CASES if not c.values[1]]
VALID = [c for c in CASES if c.values[1]]


def _validator(schema="strict_image"):
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    pytest.importorskip("referencing.jsonschema")
    resources = []
    for path in (SPEC / "schemas").glob("*.schema"):
        contents = json.loads(path.read_text())
        # strict_image.schema names no dialect: it is the 2020-12 of the one it refines
        resources.append((contents["$id"], referencing.Resource.from_contents(
            contents, default_specification=referencing.jsonschema.DRAFT202012)))
    registry = referencing.Registry().with_resources(resources)
    root = json.loads((SPEC / "schemas" / f"{schema}.schema").read_text())
    return jsonschema.Draft202012Validator(root, registry=registry)


def _store(tmp_path, attrs):
    """A store holding the document's attributes and an array at each path it names."""
    image = (attrs["ome"].get("multiscales") or [{}])[0]
    axes = image.get("axes") if isinstance(image, dict) else None
    names = [a.get("name") for a in axes] if isinstance(axes, list) and all(
        isinstance(a, dict) for a in axes) else []
    ndim = len(names) if len(names) >= 2 else 3
    dims = names if len(set(names)) == len(names) == ndim and all(
        isinstance(n, str) for n in names) else None
    group = zarr.open_group(tmp_path / "i.zarr", mode="w")
    datasets = image.get("datasets") if isinstance(image, dict) else None
    paths = [d["path"] for d in datasets or [] if isinstance(d, dict)
             and isinstance(d.get("path"), str)] or ["0"]
    shape = (2, 3, 4, 6, 8)[-ndim:] if ndim <= 5 else (2,) * (ndim - 2) + (6, 8)
    for path in paths:
        group.create_array(path, data=np.arange(np.prod(shape), dtype=np.uint16)
                           .reshape(shape), dimension_names=dims)
    group.attrs.update(attrs)
    return tmp_path / "i.zarr"


@pytest.mark.parametrize(("attrs", "valid"), INVALID)
def test_each_invalid_document_is_warned_about_by_its_rule_and_refused_when_strict(
        tmp_path, attrs, valid):
    path = _store(tmp_path, attrs)
    found = ngff.problems(attrs)
    assert found, "the rules miss what makes this document invalid"
    with pytest.raises(InvalidMetadataError, match="NGFF 0.5: ") as info:
        pipeline.open(path, strict=True)
    assert repr(str(path)) in str(info.value)
    with pytest.warns(InvalidMetadataWarning, match="NGFF 0.5: .*not used") as caught:
        s = pipeline.open(path)
    assert ngff.describe(found) in str(caught[0].message)
    assert caught[0].filename == __file__  # the warning points at the line that opened it
    if "multiscales" in found:  # pixel sizes from broken transformations are not made up
        assert "physical_size" not in s.metadata and "time_increment" not in s.metadata
    np.testing.assert_array_equal(s[0], np.asarray(zarr.open_group(path)["0"])[
        (0,) * (zarr.open_group(path)["0"].ndim - len(s.shape))])


@pytest.mark.parametrize(("attrs", "valid"), VALID)
def test_each_valid_document_opens_without_a_word(tmp_path, attrs, valid):
    path = _store(tmp_path, attrs)
    assert ngff.problems(attrs) == {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", InvalidMetadataWarning)
        s = pipeline.open(path, strict=True)
    image = attrs["ome"]["multiscales"][0]
    scale = np.asarray(image["datasets"][0]["coordinateTransformations"][0]["scale"], float)
    for t in image.get("coordinateTransformations", []):  # the image-wide scale applies too
        scale = scale * (t["scale"] if t["type"] == "scale" else 1)
    sizes = {a["name"]: float(v) for a, v in zip(image["axes"], scale)
             if a.get("type") == "space" and a["name"] in ("z", "y", "x")}
    assert s.metadata.get("physical_size", {}) == {k: v for k, v in sizes.items()}


def test_a_six_dimensional_image_is_not_taken_for_frames_of_five_quietly(tmp_path):
    attrs = next(c.values[0] for c in INVALID if c.id == "invalid/too_many_axes.json")
    path = _store(tmp_path, attrs)
    with pytest.warns(InvalidMetadataWarning, match=r"'axes' must name 2 to 5 axes, got 6"):
        s = pipeline.open(path)
    assert s.shape == (2, 2, 2, 6, 8)


def test_a_malformed_scale_gives_no_pixel_sizes(tmp_path):
    attrs = {"ome": {"version": "0.5", "multiscales": [{
        "axes": [{"name": "y", "type": "space", "unit": "micrometer"},
                 {"name": "x", "type": "space", "unit": "micrometer"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [0.5, 0.5, 0.5]}]}]}]}}
    path = _store(tmp_path, attrs)
    with pytest.raises(InvalidMetadataError, match=r"one number per axis \(2\), got 3"):
        pipeline.open(path, strict=True)


@pytest.mark.parametrize("strict", ["yes", 1, None])
def test_strict_is_true_or_false(tmp_path, strict):
    pipeline.write(pipeline.from_array(np.zeros((2, 4, 4), np.uint8)), tmp_path / "s.zarr")
    with pytest.raises(ValueError, match="strict="):
        pipeline.open(tmp_path / "s.zarr", strict=strict)


@pytest.mark.parametrize(("axes", "shape", "levels"), [
    ("TYX", (3, 16, 20), 0), ("TCYX", (3, 2, 16, 20), 2), ("TZYX", (2, 3, 16, 16), 1),
    ("TCZYX", (2, 2, 3, 8, 8), 1)])
def test_written_stores_validate_against_the_strict_schema(tmp_path, axes, shape, levels):
    validator = _validator()
    meta = {"physical_size": {"x": 0.5, "y": 0.5, "z": 2.0}, "physical_unit": {"x": "µm"},
            "time_increment": 0.1, "time_unit": "s"}
    data = np.random.default_rng(0).integers(0, 4095, shape).astype(np.uint16)
    s = pipeline.from_array(data, meta, axes=axes).process([("rectangle", ((2, 8), (1, 7)))])
    pipeline.write(s, tmp_path / "s.zarr", levels=levels)
    attrs = json.loads((tmp_path / "s.zarr" / "zarr.json").read_text())["attributes"]
    validator.validate(attrs)
    assert ngff.problems(attrs, len(shape)) == {}
    # the windows are the frames' own range, computed as they were written
    crop = data[..., 2:8, 1:7]
    channels = attrs["ome"]["omero"]["channels"]
    per_channel = np.moveaxis(crop, axes.index("C"), 0).reshape(shape[axes.index("C")], -1) \
        if "C" in axes else crop.reshape(1, -1)
    for channel, values in zip(channels, per_channel):
        assert (channel["window"]["start"], channel["window"]["end"]) == (
            float(values.min()), float(values.max()))

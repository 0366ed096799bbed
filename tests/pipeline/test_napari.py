"""The napari reader: a valid npe2 manifest, called the way napari calls it."""

from __future__ import annotations

import pathlib
import tomllib
from importlib.metadata import entry_points

import dask.array as da
import numpy as np
import pytest
import tifffile

import pipeline
from pipeline import napari_plugin
from pipeline.formats import registry

npe2 = pytest.importorskip("npe2")

ROOT = pathlib.Path(__file__).parents[2]
MANIFEST = ROOT / "pipeline" / "napari.yaml"
META = {"physical_size": {"x": 0.5, "y": 0.25}, "physical_unit": {"x": "µm", "y": "µm"},
        "time_increment": 2.0, "channel_names": ["DAPI", "GFP"]}


def _data(shape):
    return np.random.default_rng(9).integers(0, 4000, shape).astype("uint16")


@pytest.fixture(scope="module")
def manager():
    """A plugin manager holding only this manifest, as napari's would after discovery."""
    pm = npe2.PluginManager()
    pm.register(npe2.PluginManifest.from_file(MANIFEST))
    pm.activate("lazyseries")  # napari activates a plugin before running its commands
    return pm


def _napari_read(path, pm):
    from npe2.io_utils import _read

    return _read([str(path)], stack=False, plugin_name="lazyseries", _pm=pm)


def test_manifest_is_valid_and_its_command_imports():
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    assert manifest.name == "lazyseries"
    manifest.validate_imports()  # raises when python_name does not resolve
    reader = manifest.contributions.readers[0]
    assert reader.accepts_directories and reader.command == "lazyseries.get_reader"
    # every extension a lazyseries reader claims is offered to napari
    patterns = set(reader.filename_patterns)
    for name in registry:
        for ext in registry.lookup(name).extensions:
            assert f"*{ext}" in patterns, ext


def test_pyproject_declares_the_manifest_entry_point():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    value = project["project"]["entry-points"]["napari.manifest"]["lazyseries"]
    assert value == "pipeline:napari.yaml"
    assert "napari.yaml" in project["tool"]["setuptools"]["package-data"]["pipeline"]


@pytest.mark.skipif(not entry_points(group="napari.manifest", name="lazyseries"),
                    reason="lazyseries installed without its napari entry point; reinstall")
def test_installed_plugin_is_discovered(tmp_path):
    pm = npe2.PluginManager()
    pm.discover(include_npe1=False)
    assert pm.get_manifest("lazyseries").contributions.readers
    pipeline.write(pipeline.from_array(_data((2, 8, 8))), tmp_path / "s.zarr")
    offered = [r.command for r in pm.iter_compatible_readers([str(tmp_path / "s.zarr")])]
    assert "lazyseries.get_reader" in offered


def test_store_with_levels_is_a_scaled_multiscale_layer_per_channel(tmp_path, manager):
    data = _data((3, 2, 32, 40))
    pipeline.write(pipeline.from_array(data, dict(META), axes="TCYX"), tmp_path / "s.zarr",
                   levels=2)
    [(layers, kwargs, kind)] = _napari_read(tmp_path / "s.zarr", manager)
    assert kind == "image" and kwargs["multiscale"] is True
    assert [a.shape for a in layers] == [(3, 2, 32, 40), (3, 2, 16, 20), (3, 2, 8, 10)]
    assert all(isinstance(a, da.Array) for a in layers)
    np.testing.assert_array_equal(layers[0].compute(), data)
    assert kwargs["channel_axis"] == 1 and kwargs["name"] == ["DAPI", "GFP"]
    assert kwargs["scale"] == (2.0, 0.25, 0.5)  # the channel axis is split off


def test_ome_tiff_and_pipeline_file_open_as_layers(tmp_path, manager):
    data = _data((4, 3, 16, 20))
    tifffile.imwrite(tmp_path / "s.ome.tif", data, ome=True, metadata={
        "axes": "TZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "PhysicalSizeZ": 3.0})
    [(arr, kwargs, _)] = _napari_read(tmp_path / "s.ome.tif", manager)
    assert arr.shape == (4, 3, 16, 20) and "channel_axis" not in kwargs
    assert kwargs["scale"] == (1.0, 3.0, 0.5, 0.5) and kwargs["name"] == "s.ome.tif"

    (tmp_path / "p.yml").write_text(
        "source: s.ome.tif\nops:\n  - {name: flip, param: v}\n"
        "  - {name: rectangle, param: [[2, 10], [0, 8]]}\n")
    [(arr, kwargs, _)] = _napari_read(tmp_path / "p.yml", manager)
    np.testing.assert_array_equal(arr.compute(), data[..., 2:10, ::-1][..., 0:8])
    assert kwargs["scale"] == (1.0, 3.0, 0.5, 0.5)


def test_deciding_on_a_pipeline_file_computes_nothing(tmp_path, manager, monkeypatch):
    """napari asks every reader whether it reads a path: a median dark must not be computed
    for the asking (hours on a real scan), and only once when the file is read."""
    from pipeline import stats

    data = _data((6, 16, 20))
    pipeline.write(pipeline.from_array(data), tmp_path / "raw.zarr")
    (tmp_path / "p.yml").write_text(
        "source: raw.zarr\nops:\n  - {name: dark, param: {stat: median, nframes: 4}}\n")
    computed = []
    compute = stats.compute
    monkeypatch.setattr(stats, "compute", lambda *a, **k: computed.append(1) or compute(*a, **k))
    assert napari_plugin.get_reader(str(tmp_path / "p.yml")) is napari_plugin.read
    assert computed == []
    [(arr, _, _)] = _napari_read(tmp_path / "p.yml", manager)
    assert computed == [1]
    dark = np.median(data[:4], axis=0)
    np.testing.assert_allclose(arr.compute(), np.clip(data - dark, 0, None))


def test_reader_declines_what_lazyseries_cannot_open(tmp_path):
    (tmp_path / "notes.yml").write_text("just: some notes\n")
    (tmp_path / "empty.zarr").mkdir()
    for path in (tmp_path / "notes.yml", tmp_path / "empty.zarr", tmp_path / "missing.tif"):
        assert napari_plugin.get_reader(str(path)) is None, path
    assert napari_plugin.get_reader([str(tmp_path / "a.tif"), str(tmp_path / "b.tif")]) is None


@pytest.mark.parametrize("name", ["s.h5", "s.npz"])
def test_other_formats_open_as_dask_layers(tmp_path, manager, name):
    data = _data((4, 12, 10))
    pipeline.write(pipeline.from_array(data), tmp_path / name)
    [(arr, kwargs, kind)] = _napari_read(tmp_path / name, manager)
    assert isinstance(arr, da.Array) and kind == "image" and kwargs["name"] == name
    np.testing.assert_array_equal(arr.compute(), data)
    assert kwargs["scale"] == (1.0, 1.0, 1.0)


LIVE_WRITER = """
import sys, pipeline
address, target = sys.argv[1:3]
with pipeline.open(address, format="dectris-stream-v2", idle=20, start_timeout=60) as s:
    pipeline.write(s.process([("flip", "v")]), target)
print("written", flush=True)
"""


def _committed(target) -> int:
    import json

    try:
        doc = json.loads((target / "zarr.json").read_text())
        return int(doc["attributes"]["lazyseries"]["live"]["committed"])
    except (OSError, ValueError, KeyError):
        return 0


def test_a_store_being_written_shows_its_committed_frames(tmp_path, manager):
    """napari reading a store a live write is filling: the frames committed, whole, and
    never one past them; read again, more; once the write ends, all of them."""
    import subprocess
    import sys
    import time

    pytest.importorskip("zmq")
    pytest.importorskip("cbor2")
    from pipeline.formats.live import replay

    n, target = 120, tmp_path / "grow.zarr"
    sender, address = replay.launch("--frames", str(n), "--rate", "40", "--shape", "24,40",
                                    "--distinct", str(n))
    writer = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, address, str(target)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ref = np.asarray(pipeline.from_array(replay.frames(n, (24, 40), distinct=n))
                     .process([("flip", "v")]))
    try:
        seen = []
        deadline = time.monotonic() + 120
        while len(seen) < 3 and writer.poll() is None:
            assert time.monotonic() < deadline
            before = _committed(target)
            if before < 1:
                time.sleep(0.02)
                continue
            [(data, kwargs, kind)] = _napari_read(target, manager)
            after = _committed(target)
            k = data.shape[0]
            if "live" not in kwargs["metadata"]:  # finished meanwhile (a loaded machine)
                break
            assert kind == "image" and before <= k <= after  # never past the committed
            assert kwargs["metadata"]["live"] == {"frames": k, "dropped": 0, "expected": n,
                                                  "ended": False}
            np.testing.assert_array_equal(data.compute(), ref[:k])  # whole frames, the sent
            seen.append(k)
            time.sleep(0.3)
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    finally:
        for proc in (writer, sender):
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)
    assert len(seen) >= 2 and seen == sorted(seen) and seen[0] < seen[-1], seen
    [(data, kwargs, _)] = _napari_read(target, manager)
    assert data.shape[0] == n and "live" not in kwargs["metadata"]
    np.testing.assert_array_equal(data.compute(), ref)

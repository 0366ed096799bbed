"""What a person sees in napari: a real napari on a virtual X display (Xvfb), opening stores
the way a user does, with each reader it may pick.

napari runs in a process of its own (its settings in the test's directory, never the
user's); it reports each layer as JSON and saves a screenshot of its canvas as a PNG in
the test's directory.  Qt's ``offscreen`` platform draws napari's OpenGL canvas black
(no readable framebuffer with Mesa), so the window is shown on Xvfb (``xcb``) instead:
headless all the same.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

import pipeline

pytest.importorskip("napari")

META = {"physical_size": {"x": 0.5, "y": 0.25}, "physical_unit": {"x": "µm", "y": "µm"},
        "time_increment": 2.0, "time_unit": "s", "channel_names": ["DAPI", "GFP"]}

OPEN = """
import json, sys
import numpy as np
import napari
from napari.settings import get_settings
from qtpy.QtWidgets import QApplication

path, plugin, shot = sys.argv[1:4]
if plugin == "preferred":  # the user's choice, as napari's settings remember it
    get_settings().plugins.extension2reader = {"*.zarr/": "lazyseries"}
    plugin = None
viewer = napari.Viewer(show=True)
layers = viewer.open(path, plugin=plugin)
viewer.dims.current_step = (0,) * viewer.dims.ndim
viewer.reset_view()
for _ in range(10):  # let the canvas draw what is loaded
    QApplication.processEvents()
shot_data = viewer.screenshot(shot, canvas_only=True, flash=False)
out = []
for layer in layers:
    level0 = layer.data[0] if layer.multiscale else layer.data
    out.append({"name": layer.name, "multiscale": bool(layer.multiscale),
                "levels": len(layer.data) if layer.multiscale else 1,
                "shape": list(level0.shape), "rgb": bool(layer.rgb),
                "scale": [float(v) for v in layer.scale],
                "first_pixel": [float(v) for v in layer.data_to_world((0,) * layer.ndim)],
                "axis_labels": list(layer.axis_labels), "units": [str(u) for u in layer.units],
                "contrast_limits": [float(v) for v in layer.contrast_limits]})
print(json.dumps({"layers": out, "screen_mean": float(np.asarray(shot_data)[..., :3].mean())}))
viewer.close()
"""


@pytest.fixture(scope="module")
def display():
    """A virtual X display (Xvfb) for napari's OpenGL canvas; ended by the pid it recorded."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb; .ci/run installs it)")
    read, write = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", "800x600x24",
                             "-nolisten", "tcp"], pass_fds=(write,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()  # Xvfb writes it once it is ready
        if not number.isdigit():
            raise RuntimeError(f"Xvfb did not start: {number!r}")
        yield f":{number}"
    finally:
        proc.kill()
        proc.wait(timeout=30)


def _napari(display, tmp_path, path, plugin):
    """The layers napari shows for ``path`` read by ``plugin``, and its screenshot's mean."""
    shot = tmp_path / f"napari-{plugin}-{os.path.basename(str(path))}.png"
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb",
           "NAPARI_CONFIG": str(tmp_path / "napari-settings.yaml"),
           "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", OPEN, str(path), plugin, str(shot)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert shot.stat().st_size > 0
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def crop_store(tmp_path_factory):
    """A 12-bit camera's two channels, cropped, written with one level."""
    tmp = tmp_path_factory.mktemp("store")
    data = np.random.default_rng(4).integers(0, 4096, (3, 2, 64, 80)).astype(np.uint16)
    data[:, 1] //= 4  # a dimmer channel: its own window
    source = pipeline.from_array(data, dict(META), axes="TCYX")
    crop = source.process([("rectangle", ((8, 56), (12, 76)))])
    pipeline.write(crop, tmp / "scan.zarr", levels=1)
    return tmp / "scan.zarr", data[..., 8:56, 12:76]


@pytest.mark.slow
@pytest.mark.parametrize("plugin", ["lazyseries", "napari-ome-zarr", "preferred"])
def test_napari_shows_level_0_placed_labelled_and_contrasted(display, tmp_path, crop_store,
                                                             plugin):
    if plugin == "napari-ome-zarr":
        pytest.importorskip("napari_ome_zarr")
    path, data = crop_store
    seen = _napari(display, tmp_path, path, plugin)
    layers = seen["layers"]
    assert [layer["name"].split(": ")[-1] for layer in layers] == ["DAPI", "GFP"]
    for c, layer in enumerate(layers):
        assert layer["multiscale"] and layer["levels"] == 2
        assert layer["shape"] == [3, 48, 64]  # full resolution first
        assert layer["scale"] == [2.0, 0.25, 0.5]
        # the crop lies where it lay in its source: its first pixel at row 8, column 12
        # (napari-ome-zarr 0.10 applies only the first transformation of level 0, its scale)
        if plugin != "napari-ome-zarr":
            assert layer["first_pixel"] == [0.0, 8 * 0.25, 12 * 0.5]
        assert layer["axis_labels"] == ["frame", "y", "x"]
        assert layer["units"] == ["second", "micrometer", "micrometer"]
        assert layer["contrast_limits"] == [float(data[:, c].min()), float(data[:, c].max())]
    # a 12-bit image in a window of its own range is not a near-black picture
    assert seen["screen_mean"] > 20


@pytest.mark.slow
def test_napari_built_in_reader_shows_full_resolution_first(display, tmp_path, crop_store):
    """napari's own reader knows no OME-Zarr: it shows the arrays, level 0 first, unscaled."""
    path, data = crop_store
    [layer] = _napari(display, tmp_path, path, "napari")["layers"]
    assert layer["multiscale"] and layer["levels"] == 2
    assert layer["shape"] == list(data.shape)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["c.mp4"])  # every colour format: test_napari.py
def test_colour_pictures_are_one_rgb_layer(display, tmp_path, name):
    frames = np.zeros((4, 32, 48, 3), np.uint8)
    frames[..., :16, :, 0] = 255  # red top, green middle, blue bottom
    frames[..., 16:24, :, 1] = 255
    frames[..., 24:, :, 2] = 255
    if name.endswith(".png"):
        iio.imwrite(tmp_path / name, frames[0])
    elif name.endswith(".gif"):
        iio.imwrite(tmp_path / name, frames, loop=0)
    else:
        iio.imwrite(tmp_path / name, frames, fps=4, macro_block_size=1)
    [layer] = _napari(display, tmp_path, tmp_path / name, "lazyseries")["layers"]
    assert layer["rgb"] and layer["shape"][-3:] == [32, 48, 3]
    assert layer["axis_labels"] == ["frame", "y", "x"]
    assert layer["contrast_limits"] == [0.0, 255.0]

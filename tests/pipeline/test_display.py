"""The Jupyter view: a thumbnail of one frame, chunking, the op chain, omega wedges."""

from __future__ import annotations

import base64
import html.parser
import io
import os
import shutil
import subprocess

import h5py
import imageio.v3 as iio
import numpy as np
import pytest

import pipeline
from pipeline import _thumbnail, display, graph
from pipeline.display import thumbnail
from pipeline.series import plan_of
from pipeline.omega import OmegaImageSeries, OmegaWedges


class Page(html.parser.HTMLParser):
    """The parts of the view a test looks at: images, table rows, list items."""

    def __init__(self, text):
        super().__init__()
        self.images, self.rows, self.items, self._cell = [], {}, [], None
        self._label, self._text = None, []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        if tag in ("th", "td", "li"):
            self._cell, self._text = tag, []

    def handle_endtag(self, tag):
        if tag == self._cell:
            text = "".join(self._text).strip()
            if tag == "th":
                self._label = text
            elif tag == "td" and self._label is not None:
                self.rows[self._label], self._label = text, None
            elif tag == "li":
                self.items.append(text)
                self._cell = "td"  # the list lives inside the ops cell
                return
            self._cell = None

    def handle_data(self, data):
        if self._cell:
            self._text.append(data)


def decode(uri):
    assert uri.startswith("data:image/png;base64,")
    return iio.imread(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), extension=".png")


def summary(series):
    """The view's rows, as ImageSeries._repr_html_ asks for them."""
    work = plan_of(series)
    return display.summary(series, work, graph.frames_per_chunk(series, work.source))


def spot_frames(n=8, rows=300, cols=200):
    y, x = np.mgrid[0:rows, 0:cols]
    return np.stack([(3000 * np.exp(-((y - 150) ** 2 + (x - 20 * k - 30) ** 2) / 400) + 100)
                     .astype(np.uint16) for k in range(n)])


class Counting:
    """A frame function that counts its calls: how many frames a view reads."""

    def __init__(self, data):
        self.data, self.calls = data, 0

    def __call__(self, j):
        self.calls += 1
        return self.data[j]


def test_the_view_reads_one_frame_and_only_when_rendered():
    data = spot_frames()
    source = Counting(data)
    s = pipeline.from_function(source, len(data), data.shape[1:], data.dtype)
    ps = s.process([("flip", "h"), ("rectangle", ((10, 290), (0, 150)))])
    summary(ps)
    assert source.calls == 0  # the table needs no pixel
    page = Page(ps._repr_html_())
    assert source.calls == 1
    (img,) = page.images
    picture = decode(img["src"])
    expected = _thumbnail.picture(ps[len(ps) // 2], "YX")
    np.testing.assert_array_equal(picture, expected)
    assert max(picture.shape) <= _thumbnail.MAX_SIDE and picture.shape == (94, 50)  # 280 x 150 by 3, partial blocks kept
    assert img["alt"] == "frame 4" and int(img["height"]) == 160


def test_rows_say_chain_storage_and_dask_chunks(tmp_path):
    data = spot_frames(6)
    s = pipeline.write(pipeline.from_array(data), tmp_path / "s.zarr",
                       chunks=(1, 100, 200), shards=(2, 300, 200))
    ps = s.process([("flip", "t"), ("rectangle", ((0, 100), (0, 300)))])
    page = Page(ps._repr_html_())
    assert page.rows["storage chunks"] == "zarr chunks 1 × 100 × 200 in shards 2 × 300 × 200"
    blocks = ps.to_dask().chunks[0]  # the view says what to_dask() makes
    plural = "s" if len(blocks) > 1 else ""
    assert page.rows["dask chunks"] == (f"{len(blocks)} chunk{plural} of up to "
                                        f"{max(blocks)} × 100 × 300, one task each")
    assert page.items == ["Op('flip', 't') → 200 × 300 uint16",
                          "Op('rectangle', ((0, 100), (0, 300))) → 100 × 300 uint16"]
    assert page.rows["frames"] == "6" and page.rows["axes"] == "TYX"


def test_hdf5_and_in_memory_storage(tmp_path):
    data = spot_frames(4, 40, 30)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f.create_dataset("imageseries/images", data=data, chunks=(1, 20, 30))
        f.create_dataset("flat/images", data=data)
    chunked = pipeline.open(tmp_path / "c.h5", path="imageseries")
    flat = pipeline.open(tmp_path / "c.h5", path="flat")
    assert dict(summary(chunked))["storage chunks"] == "hdf5 chunks 1 × 20 × 30"
    assert dict(summary(flat))["storage chunks"].startswith("not chunked")
    assert dict(summary(pipeline.from_array(data)))["storage chunks"] == "in memory"


def test_omega_range_and_wedges():
    wedges = OmegaWedges(8)
    wedges.addwedge(0.0, 20.0, 4)
    wedges.addwedge(90.0, 110.0, 4)
    s = pipeline.from_array(spot_frames(8), {"omega": wedges.omegas})
    for view in (s, OmegaImageSeries(s.process([("flip", "v")]))):
        rows = Page(view._repr_html_()).rows
        assert rows["omega"] == "0° to 110° in 2 wedges"
        assert rows["wedges"] == "0°→20° in 4 steps of 5°; 90°→110° in 4 steps of 5°"
    omega_view = Page(OmegaImageSeries(s.process([("flip", "v")]))._repr_html_())
    assert omega_view.rows["type"] == "OmegaImageSeries over ProcessedImageSeries"
    assert omega_view.items == ["Op('flip', 'v') → 300 × 200 uint16"]
    steps = np.cumsum(np.arange(1, 12))  # each frame a step of its own size: 10 wedges
    ragged = pipeline.from_array(spot_frames(10), {"omega": np.stack([steps[:-1], steps[1:]], 1)})
    assert Page(ragged._repr_html_()).rows["wedges"].endswith("; and 2 more")
    bad = pipeline.from_array(spot_frames(2), {"omega": [1, 2, 3]})
    assert Page(bad._repr_html_()).rows["omega"].startswith("not usable: omega metadata")


def test_colour_frames_are_shown_in_colour(tmp_path):
    rgb = np.zeros((2, 60, 90, 3), np.uint8)
    rgb[..., :30, 0] = 255  # red left third, blue right third
    rgb[..., 60:, 2] = 255
    for j, frame in enumerate(rgb):
        iio.imwrite(tmp_path / f"c{j}.png", frame)
    s = pipeline.open(str(tmp_path / "c*.png"))
    picture = decode(Page(s._repr_html_()).images[0]["src"])
    np.testing.assert_array_equal(picture, rgb[1])


def test_a_frame_that_cannot_be_read_still_renders():
    def broken(j):
        raise OSError(f"frame {j} is on a disk that went away")

    s = pipeline.from_function(broken, 3, (8, 8), np.uint8)
    text = s._repr_html_()
    assert "no preview: OSError: frame 1 is on a disk that went away" in text
    assert Page(text).rows["frames"] == "3"
    assert thumbnail(pipeline.from_array(np.zeros((0, 4, 4)))) is None


@pytest.mark.parametrize("shape", [(7, 5), (33, 17, 3)])
def test_png_encoder_is_read_back_exactly(shape):
    image = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    np.testing.assert_array_equal(iio.imread(_thumbnail.png(image), extension=".png"), image)


def test_downsample_is_a_block_max_and_stretch_ignores_nan():
    data = np.arange(300 * 260, dtype=np.float64).reshape(300, 260)
    small = _thumbnail.downsample(data, 128)
    assert small.shape == (100, 87)  # factor 3, the last partial block kept
    np.testing.assert_allclose(small[4, 5], data[12:15, 15:18].max())
    assert small[0, 86] == data[2, 259]
    data[0, 0] = np.nan
    assert _thumbnail.downsample(data, 128)[0, 0] == data[2, 2]  # NaN ignored
    assert _thumbnail.stretch(data).dtype == np.uint8
    ints = np.arange(300 * 260, dtype=np.uint16).reshape(300, 260)
    assert _thumbnail.downsample(ints, 128).dtype == np.uint16  # no float copy of a frame


def diffraction_frame(shape=(2048, 2048), spots=25, background=3.0, width=3, seed=1):
    """A detector frame of sparse bright spots over a dim background; the spots' centres."""
    rng = np.random.default_rng(seed)
    frame = rng.poisson(background, shape).astype(np.uint16)
    centres = rng.integers(8, min(shape) - 8, (spots, 2))
    half = width // 2
    for r, c in centres:
        frame[r - half:r + half + 1, c - half:c + half + 1] = rng.integers(20000, 60000)
    return frame, centres


@pytest.mark.parametrize(("background", "width"), [(3.0, 3), (0.0, 1), (40.0, 3)])
def test_a_diffraction_frame_shows_its_spots_and_its_background(background, width, tmp_path):
    """Sparse bright spots: each one shows, the picture is neither black nor a field of noise."""
    frame, centres = diffraction_frame(background=background, width=width)
    s = pipeline.from_array(np.stack([frame] * 3))
    picture = decode(Page(s._repr_html_()).images[0]["src"])
    (tmp_path / "thumbnail.png").write_bytes(_thumbnail.png(picture))  # as the notebook shows it
    assert picture.shape == (128, 128)
    factor = 2048 // 128
    for r, c in centres:
        assert picture[r // factor, c // factor] >= 200, (r, c)
    assert (picture >= 128).mean() < 0.01  # the spots stand out: few bright pixels
    if background:
        assert 10 < np.median(picture) < 100  # the background is seen, darker than the spots
    else:
        assert np.median(picture) == 0


def test_a_frame_of_spread_values_keeps_its_linear_percentile_stretch():
    y, x = np.mgrid[0:300, 0:400]
    frame = (y * 10 + x).astype(np.uint16)
    picture = _thumbnail.picture(frame, "YX")
    assert picture.min() == 0 and picture.max() == 255
    assert abs(int(picture[37, 50]) - 128) < 8  # the middle value sits in the middle


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_chromium_draws_the_thumbnail(tmp_path):
    """Headless Chromium renders the view: the thumbnail shows the frame's dark and bright halves."""
    frame = np.zeros((60, 80), np.uint16)
    frame[:, 40:] = 4000
    s = pipeline.from_array(np.stack([frame] * 3))
    page = tmp_path / "view.html"
    page.write_text(f"<html><body style='margin:0'>{s._repr_html_()}</body></html>")
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=900,700", page.as_uri()],
        check=True, capture_output=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)},
    )
    pixels = iio.imread(shot)[..., :3].astype(int)
    # the image is 160 x 120 CSS pixels at the top left, inside a 1-pixel border
    dark, bright = pixels[60, 30], pixels[60, 130]
    assert dark.max() < 40 and bright.min() > 215
    assert pixels[:130, 200:].std() > 0  # the table is drawn beside it

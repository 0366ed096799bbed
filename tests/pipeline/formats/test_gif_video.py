"""Animated GIFs and videos: a header at open, one frame per read, frames as imageio reads them."""

from __future__ import annotations

import pickle

import imageio.v3 as iio
import numpy as np
import pytest

import pipeline
from pipeline.errors import UnknownFormatError
from pipeline.formats.gif import GifSeries
from pipeline.testing import SeriesConformance


def blocky(n, rows=48, cols=64, channels=3, seed=7):
    """Frames of 8 x 8 blocks: codecs keep them close to what was written."""
    small = np.random.default_rng(seed).integers(0, 255, (n, rows // 8, cols // 8, channels))
    return np.repeat(np.repeat(small.astype(np.uint8), 8, 1), 8, 2)


def as_frames(images):
    return np.moveaxis(np.asarray(images), -1, 1)


def video_frames(path):
    """Every frame of a video, decoded by ffmpeg itself into RGB images, as frames (3, Y, X).

    ffmpeg is run as imageio's reader runs it, to 8-bit RGB, but keeping every
    frame the file holds (no frame made up or dropped to fit a declared rate)
    and through ``subprocess.run``, which closes its pipes (imageio-ffmpeg
    leaves those of an ffmpeg that has finished to the garbage collector).
    """
    import re
    import subprocess

    import imageio_ffmpeg

    out = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path),
                          "-fps_mode", "passthrough", "-f", "image2pipe", "-vcodec", "ppm", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout
    images, start = [], 0
    while start < len(out):  # binary PPMs, one after another: "P6 <w> <h> 255\n" and pixels
        head = re.compile(rb"P6\s+(\d+)\s+(\d+)\s+255\s").match(out, start)
        cols, rows = int(head[1]), int(head[2])
        start = head.end() + rows * cols * 3
        images.append(np.frombuffer(out[head.end():start], np.uint8).reshape(rows, cols, 3))
    return as_frames(images)


class ColourConformance(SeriesConformance):
    """Frames (3, Y, X): indexing within a frame names the channel first."""

    def test_fancy_index_within_frame(self, case):
        s, frames, _ = case
        j = len(frames) - 1
        np.testing.assert_array_equal(s[j, 2, 2:5, 1:4], frames[j, 2, 2:5, 1:4])
        idx = (np.array([0, 2, 1]), np.array([0, 3, 1]), np.array([2, 2, 0]))
        np.testing.assert_array_equal(s[(j, *idx)], frames[j][idx])


class TestAnimatedGif(ColourConformance):
    def make(self, tmp_path):
        path = tmp_path / "a.gif"
        iio.imwrite(path, blocky(6), loop=0, duration=80)
        return pipeline.open(path), as_frames(iio.imread(path, index=...)), {"loop": 0}


def test_grey_gif(tmp_path):
    """imageio reads a grey GIF's palette as RGB; so does the series, frame after frame."""
    path = tmp_path / "g.gif"
    iio.imwrite(path, blocky(4, channels=1)[..., 0])
    s = pipeline.open(path)
    assert isinstance(s, GifSeries) and len(s) == 4
    np.testing.assert_array_equal(np.asarray(s), as_frames(iio.imread(path, index=...)))


@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    """One video for the module's tests (they only read it): encoding it is the slow part."""
    pytest.importorskip("imageio_ffmpeg", reason="the video format needs imageio-ffmpeg")
    path = tmp_path_factory.mktemp("video") / "v.mp4"
    iio.imwrite(path, blocky(24), fps=12, plugin="FFMPEG")
    return path


class TestMp4(ColourConformance):
    @pytest.fixture
    def case(self, mp4):
        return pipeline.open(mp4), video_frames(mp4), {"fps": 12.0}


def webm_off_its_rate(path, n=48, declared=30, actual=32):
    """A WebM declaring ``declared`` frames a second whose frames are ``actual`` a second
    apart, without a duration (as a browser's recording is): a frame's number over the
    declared rate is not its time, so a reader seeking by ``index / fps`` lands elsewhere."""
    import subprocess

    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt",
           "rgb24", "-s", "64x48", "-r", str(declared), "-i", "-",
           "-vf", f"setpts='N/{actual}/TB'", "-fps_mode", "passthrough",
           "-c:v", "libvpx", "-g", "8", "-b:v", "1M", "-f", "webm", "-"]
    data = subprocess.run(cmd, input=blocky(n).tobytes(), capture_output=True,
                          check=True).stdout
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def webm(tmp_path_factory):
    pytest.importorskip("imageio_ffmpeg", reason="the video format needs imageio-ffmpeg")
    return webm_off_its_rate(tmp_path_factory.mktemp("webm") / "w.webm")


class TestWebmOffItsDeclaredRate(ColourConformance):
    """Every frame, in any order and by any scheduler, is the frame at its place."""

    @pytest.fixture
    def case(self, webm):
        return pipeline.open(webm), video_frames(webm), {"fps": 30.0}


def test_webm_frames_read_backwards_and_by_threads_are_the_files(webm):
    truth = video_frames(webm)
    s = pipeline.open(webm)
    assert len(s) == len(truth) == 48
    for j in (47, 3, 40, 0, 22, 21, 46, 12):
        np.testing.assert_array_equal(s[j], truth[j], err_msg=f"frame {j}")
    for _ in range(3):  # threads race for the decoder differently each time
        np.testing.assert_array_equal(pipeline.open(webm).to_dask(1).compute(), truth)
    s.close()


@pytest.mark.parametrize("ext", [".mov", ".avi"])
def test_other_containers(tmp_path, ext):
    pytest.importorskip("imageio_ffmpeg", reason="the video format needs imageio-ffmpeg")
    path = tmp_path / f"v{ext}"
    codec = {".avi": "mjpeg", ".mov": "libx264"}[ext]
    iio.imwrite(path, blocky(10), fps=5, plugin="FFMPEG", codec=codec)
    s = pipeline.open(path)
    truth = video_frames(path)
    assert len(s) == len(truth) == 10 and s.shape == (3, 48, 64)
    np.testing.assert_array_equal(s[7], truth[7])


def test_video_frames_in_any_order(tmp_path):
    """Jumps back and forth seek the decoder (keyframes every 5 frames, NTSC's 29.97 fps)
    and still land on the frame asked for."""
    pytest.importorskip("imageio_ffmpeg", reason="the video format needs imageio-ffmpeg")
    path = tmp_path / "g.mp4"
    iio.imwrite(path, blocky(40), fps=29.97, plugin="FFMPEG", output_params=["-g", "5"])
    s = pipeline.open(path)
    truth = video_frames(path)
    assert len(s) == len(truth) == 40
    for j in (31, 3, 39, 0, 22, 21, 38, 12):
        np.testing.assert_array_equal(s[j], truth[j], err_msg=f"frame {j}")
    np.testing.assert_array_equal(np.asarray(s[[9, 2, 27]]), truth[[9, 2, 27]])


def test_video_opens_without_a_decoder_and_pickles_without_one(mp4):
    s = pipeline.open(mp4)
    assert s._handle is None  # the header came from ffmpeg's probe; no decoder is running
    s[4]
    assert s._handle is not None
    again = pickle.loads(pickle.dumps(s))
    assert again._handle is None and len(pickle.dumps(s)) < 2000
    np.testing.assert_array_equal(again[4], s[4])
    s.close()


def test_a_file_named_like_a_video_that_is_not_one(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    (tmp_path / "fake.mp4").write_bytes(b"\x00" * 4096)
    with pytest.raises(UnknownFormatError, match=r"video said: .*FFMPEG.*tried: video"):
        pipeline.open(tmp_path / "fake.mp4")

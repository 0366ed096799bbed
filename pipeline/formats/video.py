"""Videos (MP4, MOV, AVI, MKV...) through imageio's ffmpeg plugin, a frame per read.

Opening runs ffmpeg on the header only: the frame size and rate, and the
number of frames counted from the stream's packets (no frame is decoded).
A read decodes the frames asked for; reading in order continues the running
decoder, a jump seeks.  Frames are RGB, ``(3, Y, X)`` uint8.  The metadata
holds ``fps``, ``duration`` (seconds) and ``codec``.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np

from ops import require
from pipeline.errors import NotASeriesError
from pipeline.formats._imageio import PluginSeries
from pipeline.formats._plugin import Format

META_KEYS = ("fps", "duration", "codec")
EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")


class _Decoder:
    """imageio's ffmpeg reader, kept running between reads, closed with every pipe it opened.

    imageio v3's ``read(index=)`` on the ffmpeg plugin starts a new ffmpeg
    for every call (tens of milliseconds each); its legacy reader, kept
    open, continues decoding where the last read stopped and seeks only on
    a jump, starting a new ffmpeg.  imageio-ffmpeg closes an ffmpeg's pipes
    only if the process is still running when it stops it (its issue 61), so
    a short video, decoded to its end before the reader is closed, would leave
    them to the garbage collector: every ffmpeg the reader started is kept
    here, and its pipes closed once it is done with.
    """

    def __init__(self, plugin: Any) -> None:
        self._reader = plugin.legacy_get_reader()
        self._processes: list[Any] = []
        self._track()

    def read(self, index: int) -> np.ndarray:
        frame = self._reader.get_data(index)[:]  # a plain array, not imageio's wrapper
        self._track()
        return frame

    def meta(self) -> dict[str, Any]:
        return dict(self._reader.get_meta_data())

    def _track(self) -> None:
        frame = getattr(getattr(self._reader, "_read_gen", None), "gi_frame", None)
        process = frame.f_locals.get("process") if frame is not None else None
        if process is not None and all(p is not process for p in self._processes):
            for done in self._processes:  # a seek stopped the ffmpeg before this one
                _close_pipes(done)
            self._processes = [process]

    def close(self) -> None:
        try:
            self._reader.close()
        finally:
            for process in self._processes:
                _close_pipes(process)
            self._processes = []


def _close_pipes(process: Any) -> None:
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None and not pipe.closed:
            with contextlib.suppress(OSError):
                pipe.close()


class VideoSeries(PluginSeries):
    """The frames of a video file.

    Parameters
    ----------
    path
        The video file.
    """

    format_name = "video"
    plugin = "FFMPEG"
    extra = "video"

    def _header(self, plugin: Any) -> None:
        # first a probe that raises for a file ffmpeg does not read, its pipes closed: a
        # reader that fails to start leaves the ones of its finished ffmpeg open
        ffmpeg = require("imageio_ffmpeg", "video", "video files")
        self._nframes = int(ffmpeg.count_frames_and_secs(self._path)[0])  # packets, not decoded
        with contextlib.closing(_Decoder(plugin)) as decoder:
            info = decoder.meta()
            cols, rows = info["size"]
        if self._nframes < 1:
            raise NotASeriesError(f"{self._path!r} holds no video frames")
        self._shape, self._dtype = (3, int(rows), int(cols)), np.dtype(np.uint8)
        self._meta = {k: info[k] for k in META_KEYS if isinstance(info.get(k), int | float | str)}

    def open_handle(self, stack: contextlib.ExitStack) -> Any:
        plugin = stack.enter_context(self._imopen())
        return stack.enter_context(contextlib.closing(_Decoder(plugin)))


def open(path: str | os.PathLike[str]) -> VideoSeries:
    """A video file, lazily: its header now, a frame per read."""
    return VideoSeries(path)


def sniff(path: str) -> bool:
    """ffmpeg reads nearly anything, images too: detection takes only video extensions."""
    return path.lower().endswith(EXTENSIONS)


class VideoFormat(Format):
    """Video files ffmpeg reads (:func:`open`)."""

    name = "video"
    aliases = ("ffmpeg", "movie")
    extensions = EXTENSIONS
    requires = ("imageio", "imageio_ffmpeg")
    extra = "video"
    open = staticmethod(open)
    sniff = staticmethod(sniff)


FORMAT = VideoFormat()

__all__ = ["FORMAT", "VideoFormat", "VideoSeries", "open", "sniff"]

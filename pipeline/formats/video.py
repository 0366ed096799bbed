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

from pipeline.errors import NotASeriesError
from pipeline.formats._imageio import PluginSeries
from pipeline.formats._plugin import Format

META_KEYS = ("fps", "duration", "codec")
EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")


class _Decoder:
    """imageio's ffmpeg reader, kept running between reads.

    imageio v3's ``read(index=)`` on the ffmpeg plugin starts a new ffmpeg
    for every call (tens of milliseconds each); its legacy reader, kept
    open, continues decoding where the last read stopped and seeks only on
    a jump.
    """

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    def read(self, index: int) -> np.ndarray:
        return self._reader.get_data(index)[:]  # a plain array, not imageio's wrapper


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
        with contextlib.closing(plugin.legacy_get_reader()) as reader:
            info = reader.get_meta_data()
            cols, rows = info["size"]
            self._nframes = int(reader.count_frames())  # packets, not decoded frames
        if self._nframes < 1:
            raise NotASeriesError(f"{self._path!r} holds no video frames")
        self._shape, self._dtype = (3, int(rows), int(cols)), np.dtype(np.uint8)
        self._meta = {k: info[k] for k in META_KEYS if isinstance(info.get(k), int | float | str)}

    def open_handle(self, stack: contextlib.ExitStack) -> Any:
        plugin = stack.enter_context(self._imopen())
        return _Decoder(stack.enter_context(contextlib.closing(plugin.legacy_get_reader())))


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

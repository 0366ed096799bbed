"""Videos (MP4, MOV, AVI, MKV, WebM...) through imageio-ffmpeg, frames decoded in order.

Opening runs ffmpeg once over the stream's packets, copying them without
decoding: their number is the number of frames, their presentation times say
where each frame is.  A read decodes the frames asked for: reading in order
continues the running decoder; a jump starts ffmpeg at the frame's own time
(``-ss``, which decodes from the keyframe before it and drops what comes
earlier), never at ``index / fps``, which for a stream whose declared rate is
rounded or variable lands on a neighbouring frame.  A stream whose packets
carry no usable times is decoded from its start on a jump back: slow, exact.

Frames are RGB, ``(3, Y, X)`` uint8.  The metadata holds ``fps``,
``duration`` (seconds) and ``codec``, as ffmpeg states them.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from ops import Region, require
from pipeline.errors import NotASeriesError, NotMyFormat, UnreadableFrameError
from pipeline.formats._imageio import first_line
from pipeline.formats._plugin import Format
from pipeline.formats.base import FileSeries, frame_numbers, output
from pipeline.series import FrameSelection, region_index

META_KEYS = ("fps", "duration", "codec")
EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")

AHEAD = 64
"""A jump forward of at most this many frames decodes through them rather than seeking."""
FRAMES_PER_TASK = 16
"""Frames a dask task decodes in one run (seeking once), rather than one each."""
PROBE_SECONDS = 600
"""The packet scan of one file is given up after this long (a hung ffmpeg never blocks)."""

_TB = re.compile(rb"^#tb 0: (\d+)/(\d+)", re.M)
_START = re.compile(rb"\bstart: (-?[0-9.]+)")


def _ffmpeg() -> Any:
    return require("imageio_ffmpeg", "video", "video files")


def frame_times(path: str) -> tuple[int, np.ndarray | None]:
    """The number of frames of the first video stream, and each frame's time in seconds
    from the file's start, in display order (None when the packets carry no usable times).

    One ffmpeg run copies the packets to ``framecrc`` (one line each); nothing is decoded.
    """
    cmd = [_ffmpeg().get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path,
           "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=PROBE_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise NotASeriesError(f"{path!r}: ffmpeg did not finish reading the video's packets "
                              f"within {PROBE_SECONDS} s") from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise NotMyFormat(f"{path!r} is not a video ffmpeg (FFMPEG) reads: {tail[0]}")
    lines = [line for line in done.stdout.splitlines() if line and not line.startswith(b"#")]
    tb, start = _TB.search(done.stdout), _START.search(done.stderr)
    pts: list[int] = []
    for line in lines:
        fields = line.split(b",")
        try:
            pts.append(int(fields[2]))
        except (IndexError, ValueError):
            return len(lines), None
    if tb is None or start is None or not pts or min(pts) < -2**62 or len(set(pts)) != len(pts):
        return len(lines), None  # no times, or times that do not tell frames apart
    seconds = np.sort(np.array(pts, dtype=np.float64)) * (int(tb[1]) / int(tb[2]))
    return len(pts), seconds - float(start[1])


class _Decoder:
    """One ffmpeg decoding the video to RGB, started at a frame and read forward.

    imageio-ffmpeg closes an ffmpeg's pipes only if the process is still
    running when it stops it (its issue 61), so those of every ffmpeg started
    here are closed when it is done with.
    """

    def __init__(self, video: _Decoders) -> None:
        self._video = video
        self._frames: Iterator[bytes] | None = None
        self._process: Any = None
        self._log: Any = None
        self.pos = -1  # the frame the last read returned
        self._seeked = False  # the running ffmpeg jumped and has given no frame yet

    def reaches(self, j: int) -> bool:
        """Whether frame ``j`` is ahead of this decoder, near enough to decode through."""
        times = self._video.times
        return self._frames is not None and self.pos < j and (
            j <= self.pos + AHEAD or times is None)

    def read(self, j: int) -> np.ndarray:
        if not self.reaches(j):
            self._start(j)
        assert self._frames is not None
        data = b""
        while self.pos < j:
            data = next(self._frames, b"")
            if not data and self._seeked:  # ffmpeg stopped at a frame it could not decode
                self._video.times = None
                self._start(j)
                continue
            if not data:
                raise UnreadableFrameError(f"{self._video.path!r}: the video ends before "
                                           f"frame {j}")
            self.pos, self._seeked = self.pos + 1, False
        cols, rows = self._video.size
        return np.frombuffer(data, np.uint8).reshape(rows, cols, 3)

    def _start(self, j: int) -> None:
        """A new ffmpeg whose first frame is frame ``j`` (or frame 0 without usable times)."""
        self.close()
        times, seek = self._video.times, []
        first, out = 0, ["-fps_mode", "passthrough"]  # every decoded frame once, none made up
        if j > 0 and times is not None:
            # half way between the frame before and this one: the first frame ffmpeg keeps
            # (it drops those before the time) is frame j, whatever the rounding; a frame that
            # does not decode cleanly from there stops ffmpeg (-xerror) instead of coming out
            seek, first = ["-ss", f"{(times[j - 1] + times[j]) / 2:.6f}"], j
            out = [*out, "-xerror"]
        try:
            self._frames, self._process, self._log, _ = _started(
                self._video.path, input_params=seek, output_params=out)
        except OSError:
            if not seek:
                raise
            self._video.times = None  # a keyframe that is no clean entry point: from the start
            return self._start(j)
        self.pos, self._seeked = first - 1, bool(seek)

    def close(self) -> None:
        frames, process, log = self._frames, self._process, self._log
        self._frames, self._process, self._log, self.pos = None, None, None, -1
        if frames is not None:
            _stop(frames, process, log)


class _Decoders:
    """A few decoders of one video: each read goes to the one it continues, so runs of frames
    read in turn (a threaded scheduler's tasks) each keep decoding forward.

    ``times`` are the frames' times; None once a jump did not decode cleanly (a keyframe
    that is no clean entry point), from then on every decoder starts at frame 0.
    """

    KEPT = 3

    def __init__(self, path: str, times: np.ndarray | None, size: tuple[int, int]) -> None:
        self.path, self.times, self.size = path, times, size
        self._decoders: list[_Decoder] = []

    def read(self, j: int) -> np.ndarray:
        going = [d for d in self._decoders if d.reaches(j)]
        if going:
            decoder = max(going, key=lambda d: d.pos)
        elif len(self._decoders) < self.KEPT:
            decoder = _Decoder(self)
        else:  # the one used longest ago starts again
            decoder = self._decoders[0]
        if decoder in self._decoders:
            self._decoders.remove(decoder)
        self._decoders.append(decoder)  # most recently used last
        return decoder.read(j)

    def close(self) -> None:
        decoders, self._decoders = self._decoders, []
        with contextlib.ExitStack() as stack:
            for decoder in decoders:
                stack.callback(decoder.close)


def _started(path: str, **params: Any) -> tuple[Iterator[bytes], Any, Any, dict[str, Any]]:
    """imageio-ffmpeg's frame generator for ``path``, started: it, its ffmpeg, the thread
    reading ffmpeg's messages, and ffmpeg's header."""
    frames = _ffmpeg().read_frames(path, pix_fmt="rgb24", **params)
    try:
        meta = dict(next(frames))
    except BaseException:
        frames.close()
        raise
    state = frames.gi_frame.f_locals if getattr(frames, "gi_frame", None) is not None else {}
    return frames, state.get("process"), state.get("log_catcher"), meta


def _stop(frames: Any, process: Any, log: Any) -> None:
    """Stop an ffmpeg started by :func:`_started` and close its pipes.

    Its messages' pipe is closed once the thread reading it is done (closing it
    under that thread blocks).  At interpreter exit no pipe is closed: threads
    never run again there, and a pipe one of them holds would abort the exit.
    """
    frames.close()
    if sys.is_finalizing():
        return
    if log is not None:
        log.join(timeout=2.0)
    pipes = [getattr(process, name, None) for name in ("stdin", "stdout")]
    if log is None or not log.is_alive():
        pipes.append(getattr(process, "stderr", None))
    for pipe in pipes:
        if pipe is not None and not pipe.closed:
            with contextlib.suppress(OSError):
                pipe.close()


class VideoSeries(FileSeries):
    """The frames of a video file.

    Parameters
    ----------
    path
        The video file.
    """

    format_name = "video"
    transient = ("_times",)  # found again where it is needed (one packet scan)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        if not os.path.isfile(self._path):
            raise NotMyFormat(f"{self._path!r} is not a file")
        self._nframes, self._times = frame_times(self._path)
        self._timed = self._times is not None
        if self._nframes < 1:
            raise NotASeriesError(f"{self._path!r} holds no video frames")
        info = self._header()
        cols, rows = info["size"]
        self._shape, self._dtype = (3, int(rows), int(cols)), np.dtype(np.uint8)
        self._meta = {k: info[k] for k in META_KEYS if isinstance(info.get(k), int | float | str)}

    def _header(self) -> dict[str, Any]:
        """What ffmpeg says of the stream as it starts (size, rate, codec)."""
        try:
            frames, process, log, meta = _started(self._path)
        except (OSError, RuntimeError, StopIteration) as err:
            raise NotMyFormat(f"{self._path!r} is not a video ffmpeg (FFMPEG) reads: "
                              f"{first_line(err)}") from err
        _stop(frames, process, log)
        return meta

    @property
    def frame_chunk(self) -> int | None:
        return FRAMES_PER_TASK

    def open_handle(self, stack: contextlib.ExitStack) -> Any:
        if self._timed and self._times is None:  # left behind by pickling
            self._times = frame_times(self._path)[1]
        decoders = _Decoders(self._path, self._times, (self._shape[2], self._shape[1]))
        return stack.enter_context(contextlib.closing(decoders))

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        indices = frame_numbers(frames, len(self))
        out = output(indices, region, self.dtype)
        index = region_index(region)
        with self.lock:  # the decoders are one state: a run of frames is decoded in order
            decoder = self.handle
            for k, j in enumerate(indices):
                try:
                    image = decoder.read(int(j))
                except UnreadableFrameError:
                    raise
                except (OSError, RuntimeError) as err:
                    raise UnreadableFrameError(f"{self._path!r}: frame {j} cannot be read: "
                                               f"{first_line(err)}") from err
                out[k] = np.moveaxis(image, -1, 0)[index]
        return out


def open(path: str | os.PathLike[str]) -> VideoSeries:
    """A video file, lazily: its packets counted now, frames decoded as they are read."""
    return VideoSeries(path)


def sniff(path: str) -> bool:
    """ffmpeg reads nearly anything, images too: detection takes only video extensions."""
    return path.lower().endswith(EXTENSIONS)


class VideoFormat(Format):
    """Video files ffmpeg reads (:func:`open`)."""

    name = "video"
    aliases = ("ffmpeg", "movie")
    extensions = EXTENSIONS
    requires = ("imageio_ffmpeg",)
    extra = "video"
    open = staticmethod(open)
    sniff = staticmethod(sniff)


FORMAT = VideoFormat()

__all__ = ["FORMAT", "VideoFormat", "VideoSeries", "frame_times", "open", "sniff"]

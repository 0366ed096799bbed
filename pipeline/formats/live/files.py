"""Files arriving in a directory as a live series: the ``files-live`` format.

``pipeline.open("run42/", format="files-live", marker="DONE")`` follows a
directory (or a glob, ``"run42/*.cbf"``) into which a camera or a detector's
software drops files, one or more frames each, in any format lazyseries reads
(TIFF, CBF, EDF, HDF5, PNG...; ``file_format=`` names it, else each file's is
found as :func:`pipeline.open` finds it).  Files are taken in natural order
(``img2`` before ``img10``), once each has kept its size between two looks
(so that one still being written is not read half way); hidden files (a
name starting with ``.``, where writers put what they have not finished) and
the marker are left out.  The series ends after ``count`` frames, when the
file ``marker`` appears in the directory, or after ``idle`` seconds without a
new file.
"""

from __future__ import annotations

import glob
import os
import time
from typing import Any

import numpy as np

from ops import Region, require
from pipeline.errors import LiveTimeoutError, NotASeriesError, OptionValueError
from pipeline.formats._plugin import Format
from pipeline.formats.base import FileSeries, frame_numbers, output
from pipeline.formats.live.growth import DEFAULT_IDLE, POLL, Growing, Watch, end_rule
from pipeline.formats.opening import open as open_series
from pipeline.series import FrameSelection

DEFAULT_START_TIMEOUT = 600.0
"""Seconds :class:`ArrivingFiles` waits for the first file."""


class ArrivingFiles(Growing, FileSeries):
    """The frames of the files arriving at ``path`` (see the module's docstring).

    Parameters
    ----------
    path
        A directory (every file in it) or a glob pattern.
    file_format
        The files' format (default: found for each file).
    count, marker, idle
        When the series is complete (:class:`~.growth.EndRule`).
    start_timeout
        Seconds to wait for the first file, which gives the frames' shape.
    """

    format_name = "files-live"

    def __init__(self, path: str | os.PathLike[str], file_format: str | None = None,
                 count: int | None = None, marker: str | None = None,
                 idle: float = DEFAULT_IDLE, start_timeout: float = DEFAULT_START_TIMEOUT
                 ) -> None:
        self._path = os.fspath(path)
        self._rule = end_rule(count, marker, idle)
        waiting = end_rule(idle=start_timeout).idle
        if file_format is not None and not isinstance(file_format, str):
            raise OptionValueError(f"file_format={file_format!r}: expected a format name")
        self._file_format = file_format
        self._watch = Watch(self._rule)
        self._files: list[tuple[str, int]] = []  # (file, frames in it), in frame order
        self._sizes: dict[str, tuple[int, int]] = {}  # last look at files not yet taken
        self._nframes, self._meta = 0, {}
        deadline = time.monotonic() + waiting
        while not self._files:
            self._look()
            if self._files:
                break
            if time.monotonic() > deadline:
                raise LiveTimeoutError(f"no file arrived at {self._path!r} within {waiting:g} s; "
                                       "check the path, or give start_timeout=")
            time.sleep(POLL * 5)
        self.refresh()

    def _pattern(self) -> str:
        return os.path.join(glob.escape(self._path), "*") if os.path.isdir(self._path) \
            else self._path

    def _open(self, name: str) -> Any:
        return open_series(name, format=self._file_format)

    def _look(self) -> bool:
        """Take the files that arrived and settled since the last look; whether the marker is
        there."""
        natsort = require("natsort", "images", "the 'files-live' format")
        names = [n for n in glob.glob(self._pattern()) if os.path.isfile(n)
                 and not os.path.basename(n).startswith(".")
                 and os.path.basename(n) != self._rule.marker]
        taken = {name for name, _ in self._files}
        last = self._files[-1][0] if self._files else None
        for name in natsort.natsorted(n for n in names if n not in taken):
            if last is not None and natsort.natsorted([name, last])[0] == name:
                raise NotASeriesError(
                    f"{name!r} arrived after {last!r}, which it sorts before; the frames of "
                    f"{self._path!r} are numbered in natural order as the files arrive")
            st = os.stat(name)
            stamp = (st.st_size, st.st_mtime_ns)
            if self._sizes.get(name) != stamp:  # new, or still being written: look again
                self._sizes[name] = stamp
                break
            del self._sizes[name]
            self._files.append((name, self._check(name)))
            last = name
        return self._rule.marker is not None and os.path.exists(
            os.path.join(os.path.dirname(self._pattern()), self._rule.marker))

    def _check(self, name: str) -> int:
        """The frames in file ``name``, checked against the first file's (which sets them)."""
        series = self._open(name)
        try:
            spec = (tuple(series.shape), np.dtype(series.dtype))
            if not self._files:
                self._shape, self._dtype = spec
            elif spec != (self._shape, self._dtype):
                raise NotASeriesError(f"{name!r} holds frames of {spec[0]} {spec[1]}, the "
                                      f"series' are {self._shape} {self._dtype}")
            return len(series)
        finally:
            _close(series)

    # -- the live protocol -----------------------------------------------------------

    def refresh(self) -> int:
        marker = self._look()
        if marker:  # the files before the marker are all there: take those still settling
            for _ in range(len(self._sizes) + 1):
                self._look()
        total = sum(n for _, n in self._files)
        self._nframes = self._watch.observe(total, marker and not self._sizes)
        return self._nframes

    @property
    def ended(self) -> bool:
        return self._watch.ended_by is not None

    @property
    def ended_by(self) -> str | None:
        return self._watch.ended_by

    @property
    def expected(self) -> int | None:
        return self._rule.count

    # -- the series ------------------------------------------------------------------

    @property
    def files(self) -> list[str]:
        """The files taken so far, in frame order."""
        return [name for name, _ in self._files]

    def source_paths(self) -> list[str]:
        return self.files

    def stamped_files(self) -> list[str]:
        return self.files

    @property
    def frame_chunk(self) -> int | None:
        return 1

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        indices = frame_numbers(frames, len(self))
        out = output(indices, region, self._dtype)
        starts = np.cumsum([0] + [n for _, n in self._files])
        for k, j in enumerate(indices):
            f = int(np.searchsorted(starts, j, side="right")) - 1
            series = self._open(self._files[f][0])
            try:
                local = int(j - starts[f])
                out[k] = series.read(slice(local, local + 1), region)[0]
            finally:
                _close(series)
        return out

    def options(self) -> dict[str, Any]:
        return {} if self._file_format is None else {"file_format": self._file_format}

    def __repr__(self) -> str:
        state = f"ended ({self.ended_by})" if self.ended else "growing"
        return (f"<ArrivingFiles {self._path!r}: {len(self)} frames of {self.shape} "
                f"{self.dtype} in {len(self._files)} files, {state}>")


def _close(series: Any) -> None:
    if isinstance(series, FileSeries):
        series.close()


def open(path: str | os.PathLike[str], file_format: str | None = None,
         count: int | None = None, marker: str | None = None, idle: float = DEFAULT_IDLE,
         start_timeout: float = DEFAULT_START_TIMEOUT) -> ArrivingFiles:
    """The files arriving at ``path`` (a directory or a glob), as frames."""
    return ArrivingFiles(path, file_format=file_format, count=count, marker=marker, idle=idle,
                         start_timeout=start_timeout)


class ArrivingFilesFormat(Format):
    """Files arriving in a directory, each read by its own format: :func:`open`."""

    name = "files-live"
    aliases = ("directory-live",)
    requires = ("natsort",)
    extra = "images"
    open = staticmethod(open)

    def sniff(self, path: str) -> bool:
        return False  # a directory is live only when the caller says so


FORMAT = ArrivingFilesFormat()

__all__ = ["ArrivingFiles", "ArrivingFilesFormat", "FORMAT", "open"]

"""What every file-backed series shares: its path, its dask token, its description, its pickling.

A format reading files subclasses :class:`FileSeries` and states, instead of
overriding ``_dask_token``/``description``/``__getstate__`` ad hoc:

- :attr:`FileSeries.format_name` and ``_path`` (a local path or URL; with
  ``_storage_options`` for URLs);
- :meth:`FileSeries.options`, the options that, with the path, make the
  recipe the series pickles as and describes itself by;
- :meth:`FileSeries.stamped_files`, the files whose change makes new data
  (default: the path itself);
- :attr:`FileSeries.transient`, attributes that never travel (handles,
  caches), reopened or re-read where the series is unpickled;
- :meth:`FileSeries.read_frames`, given frame numbers already normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ops import Region
from pipeline.formats import _fsspec
from pipeline.series import FrameSelection, HeaderSeries

FrameNumbers = range | np.ndarray
"""Frame numbers to read: a ``range`` (step 1) for a slice, else a 1-d int64 array."""


def frame_numbers(frames: FrameSelection, n: int) -> FrameNumbers:
    """The frame numbers a selection of a series of ``n`` frames names."""
    return range(*frames.indices(n)) if isinstance(frames, slice) else frames


def output(indices: FrameNumbers | Sequence[int], region: Region, dtype: np.dtype) -> np.ndarray:
    """The array a read of ``indices`` restricted to ``region`` fills."""
    return np.empty((len(indices), *(hi - lo for lo, hi in region)), dtype)


def file_token(kind: str, path: str, *extra: Any,
               storage_options: dict[str, Any] | None = None) -> str:
    """A dask token that changes when the file at ``path`` does, with ``extra``.

    The one rule for every format: the absolute path with the file's mtime
    and size (a URL with what its file system says of it), see
    :func:`pipeline.formats._fsspec.token`.
    """
    from dask.base import tokenize

    return tokenize(kind, _fsspec.token(path, storage_options), *extra)


class FileSeries(HeaderSeries):
    """A series read from a file (or a set of files) at ``_path``."""

    format_name: ClassVar[str]
    """The registered name of the format, as descriptions give it."""

    transient: ClassVar[tuple[str, ...]] = ()
    """Attributes left behind by pickling (set to None), reopened or re-read on first use."""

    _path: str
    _storage_options: dict[str, Any] | None = None

    @property
    def path(self) -> str:
        """The path (or URL) the series reads."""
        return self._path

    def options(self) -> dict[str, Any]:
        """The reader options beyond the path, as a JSON-able dict (default: none)."""
        return {}

    def stamped_files(self) -> Sequence[str]:
        """The files whose change changes the data (default: the path itself)."""
        return (self._path,)

    def _dask_token(self) -> str:
        from dask.base import tokenize

        stamps = [_fsspec.token(f, self._storage_options) for f in self.stamped_files()]
        return tokenize(self.format_name, stamps, sorted(self.options().items()))

    def description(self) -> dict[str, Any]:
        return {"format": self.format_name, "path": self._path, **self.options()}

    def __getstate__(self) -> dict[str, Any]:
        state = HeaderSeries.__getstate__(self)  # metadata stays behind where it re-reads
        for cls in type(self).__mro__:
            for name in vars(cls).get("transient", ()):
                state[name] = None
        return state

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        return self.read_frames(frame_numbers(frames, len(self)), region)

    def read_frames(self, indices: FrameNumbers, region: Region) -> np.ndarray:
        """The frames ``indices`` (in range, in the order given) restricted to ``region``."""
        raise NotImplementedError

    def output(self, indices: FrameNumbers | Sequence[int], region: Region) -> np.ndarray:
        """An empty array for :meth:`read_frames` to fill."""
        return output(indices, region, self.dtype)


__all__ = ["FileSeries", "FrameNumbers", "file_token", "frame_numbers", "output"]

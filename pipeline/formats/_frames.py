"""What the readers that read one frame at a time share: the read loop and the file token."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ops import Region
from pipeline.series import FrameSelection, HeaderSeries


def frame_indices(frames: FrameSelection, n: int) -> Sequence[int]:
    """The frame numbers a selection names (a slice of a series of ``n`` frames, or a list)."""
    return range(*frames.indices(n)) if isinstance(frames, slice) else frames


def output(indices: Sequence[int], region: Region, dtype: np.dtype) -> np.ndarray:
    """The array a read of ``indices`` restricted to ``region`` fills."""
    return np.empty((len(indices), *(hi - lo for lo, hi in region)), dtype)


def file_token(kind: str, path: str, *extra: Any) -> str:
    """A dask token that changes when the file at ``path`` does (its mtime), with ``extra``."""
    from dask.base import tokenize

    try:
        stamp: int | None = os.stat(path).st_mtime_ns
    except OSError:
        stamp = None
    return tokenize(kind, os.path.abspath(path), stamp, *extra)


class FrameAtATime(HeaderSeries):
    """A series whose reads decode one whole frame after another (:meth:`_read_one`).

    Dask chunks hold one frame each, so a frame is never decoded twice for
    one computation.
    """

    @property
    def frame_chunk(self) -> int | None:
        return 1

    def _read_one(self, j: int, region: Region) -> np.ndarray:
        """Frame ``j`` restricted to ``region``."""
        raise NotImplementedError

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        indices = frame_indices(frames, len(self))
        out = output(indices, region, self.dtype)
        for k, j in enumerate(indices):
            out[k] = self._read_one(int(j), region)
        return out


__all__ = ["FrameAtATime", "file_token", "frame_indices", "output"]

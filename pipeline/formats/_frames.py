"""Readers that decode one whole frame after another: the read loop they share."""

from __future__ import annotations

import numpy as np

from ops import Region
from pipeline.formats._file import FileSeries, FrameNumbers


class FrameAtATime(FileSeries):
    """A file series whose reads decode one whole frame after another (:meth:`_read_one`).

    Dask chunks hold one frame each, so a frame is never decoded twice for
    one computation.
    """

    @property
    def frame_chunk(self) -> int | None:
        return 1

    def _read_one(self, j: int, region: Region) -> np.ndarray:
        """Frame ``j`` restricted to ``region``."""
        raise NotImplementedError

    def read_frames(self, indices: FrameNumbers, region: Region) -> np.ndarray:
        out = self.output(indices, region)
        for k, j in enumerate(indices):
            out[k] = self._read_one(int(j), region)
        return out


__all__ = ["FrameAtATime"]

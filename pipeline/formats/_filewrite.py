"""What every single-file writer shares: frames in blocks, the metadata to write.

Targets, staging, renames and clean-up are :mod:`pipeline.persist`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from pipeline.series import ImageSeries

BLOCK_BYTES = 16 * 2**20
"""Frames are computed in blocks of about this many bytes."""


def iter_blocks(series: ImageSeries, frames_per_block: int | None = None,
                parallel: int = 4) -> Iterator[tuple[int, np.ndarray]]:
    """``(first_frame, block)`` for consecutive blocks of ``series``, in order.

    Blocks are computed ``parallel`` at a time through dask and handed back
    one by one, so a caller writing to a handle that is not thread-safe (h5py,
    a zip file) writes from one thread while the frames are computed in many.
    """
    import dask

    if frames_per_block is None:
        frame_bytes = max(1, int(np.prod(series.shape)) * series.dtype.itemsize)
        frames_per_block = max(1, BLOCK_BYTES // frame_bytes)
    arr = series.to_dask(frames_per_chunk=frames_per_block)
    blocks = [arr.blocks[i] for i in range(arr.numblocks[0])] if len(series) else []
    start = 0
    for first in range(0, len(blocks), parallel):
        for block in dask.compute(*blocks[first:first + parallel]):
            yield start, np.asarray(block)
            start += len(block)


def frame_metadata(series: ImageSeries) -> dict[str, Any]:
    """The series' metadata as a plain dict (a copy the writer may change)."""
    return dict(series.metadata or {})

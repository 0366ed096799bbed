"""What every single-file writer shares: refusing existing paths, atomic renames, frame blocks.

A single-file writer writes into a temporary sibling of its target and renames
it into place only when the write finished, so a write that fails leaves
nothing half-written behind and never touches an existing file it was not
allowed to replace.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from pipeline.errors import StoreExistsError
from pipeline.series import ImageSeries

BLOCK_BYTES = 16 * 2**20
"""Frames are computed in blocks of about this many bytes."""


def check_target(path: str | os.PathLike[str], overwrite: bool) -> str:
    """``path`` as text, after refusing an existing one unless ``overwrite``."""
    text = os.fspath(path)
    if os.path.lexists(text) and not overwrite:
        raise StoreExistsError(
            f"{text!r} exists; pass overwrite=True to replace it, or write to another path"
        )
    if os.path.isdir(text):
        raise IsADirectoryError(f"{text!r} is a directory; a single-file format needs a file path")
    return text


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds."""
    target = check_target(path, overwrite)
    directory, name = os.path.split(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=directory)
    os.close(fd)
    try:
        yield tmp
        check_target(target, overwrite)  # someone may have created it meanwhile
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


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

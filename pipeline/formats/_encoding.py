"""What a format's writer hands the persistence layer: how to encode a series into one file.

A format only encodes; where the file goes, the overwrite policy, staging and
renaming are :mod:`pipeline.persist`'s, which calls
:meth:`pipeline.formats._plugin.Format.encoder` and runs the encoding it gets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from pipeline.series import ImageSeries

Blocks = Iterator[tuple[int, np.ndarray]]
"""``(first_frame, block)`` pairs, in order."""


@dataclass(frozen=True)
class FileEncoding:
    """A single-file format's encoding of one series, its options and metadata already checked.

    Attributes
    ----------
    format
        The format's name, for messages.
    encode
        ``encode(path, blocks)`` writes the frames (``(first, block)`` pairs,
        in order) and the metadata into the (existing, empty) file ``path``.
    is_container
        Whether an existing file is a series container of this format (only
        those are replaced by ``overwrite=True``).
    reopen
        Opens the written file as a series.
    estimate
        Bytes the file needs at most, where known (0: unknown).
    check_blocks
        Whether free space is checked before each block (for HDF5, which a
        full disk leaves unrecoverable).
    empty_ok
        Whether the container holds a series of no frames.
    """

    format: str
    encode: Callable[[str, Blocks], None]
    is_container: Callable[[str], bool]
    reopen: Callable[[str], ImageSeries]
    estimate: int = 0
    check_blocks: bool = False
    empty_ok: bool = True


__all__ = ["Blocks", "FileEncoding"]

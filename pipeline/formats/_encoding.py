"""What a format's writer hands the persistence layer: how to encode a series into its container.

A format only encodes; where the container goes, the overwrite policy, the
claim, staging, completion and swapping into place are :mod:`pipeline.persist`'s,
which calls :meth:`pipeline.formats._plugin.Format.encoder` for every format
alike and runs the encoding it gets.  There are two kinds of container:

- one file (:class:`FileEncoding`: HDF5, TIFF, frame caches), written from
  this process block after block while dask computes the frames;
- a directory store of chunks (:class:`StoreEncoding`: Zarr), written by
  many dask tasks at once, each writing whole stored objects, on the local
  scheduler or on a cluster's workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.series import ImageSeries

Blocks = Iterator[tuple[int, np.ndarray]]
"""``(first_frame, block)`` pairs, in order."""


def _never(location: Any) -> bool:
    return False


def _not_resumed(location: Any, frames: Any) -> None:
    return None


def _none_written(targets: Any, start: int, stop: int) -> bool:
    return False


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


@dataclass(frozen=True)
class Versions:
    """How a store format keeps versions where nothing can be renamed (object stores).

    Each write builds a whole store under a prefix of the target named by
    :attr:`name`, and :attr:`publish` makes it the one readers open with one
    conditional write of the object they start from.

    Attributes
    ----------
    name
        ``name(number, write_id)``: the prefix of a version, unique to its write.
    owns
        ``owns(name)``: whether an entry of the target is a version prefix.
    committed
        ``committed(target)``: the root record (None if none or not versioned) and
        the root object's version (None if there is no root).
    publish
        ``publish(target, name, number, previous, kept)``: point the root at the
        complete version ``name``, conditional on the root's version ``previous``
        (None: create it); False if another writer changed it meanwhile.
    """

    name: Callable[[int, str], str]
    owns: Callable[[str], bool]
    committed: Callable[[Any], tuple[dict[str, Any] | None, str | None]]
    publish: Callable[[Any, str, int, str | None, list[str]], bool]


@dataclass(frozen=True)
class Growth:
    """How a store format grows while it is written (a live series), readable at each commit.

    Attributes
    ----------
    resume
        ``resume(location)``: for an unfinished live store of this same job,
        the frames it committed, the numbers of those lost among them, the
        paths of its arrays and its record's live part (None for anything
        else).
    commit
        ``commit(location, paths, nframes, live)``: the arrays at ``paths``
        hold ``nframes`` frames (their chunks written), and the store's record
        says ``live`` (committed count, frames lost, frames announced).
    finish
        ``finish(location, paths, nframes, live, metadata, windows)``: the last
        commit, with the series' final metadata (None: the store's kept) and the
        frames' display windows (:func:`pipeline.ome.ranges` of every frame
        written; None: the default kept), marking the store complete.
    """

    resume: Callable[[Any], tuple[int, np.ndarray, list[str], dict[str, Any]] | None]
    commit: Callable[[Any, list[str], int, dict[str, Any]], None]
    finish: Callable[[Any, list[str], int, dict[str, Any], Any, Any], None]


@dataclass(frozen=True)
class StoreEncoding:
    """A directory store's encoding of one series, its options and metadata already checked.

    Attributes
    ----------
    format
        The format's name, for messages.
    stored
        Frames in one stored object: each write task writes whole ones, so
        no task waits for another (no locks).
    create
        ``create(location, frames, write_id, phase)`` makes the store's header
        at ``location`` (marked incomplete) for the dask array ``frames`` and
        returns the dask arrays to store and the paths of the arrays they go to.
    targets
        ``targets(location, paths)``: the objects those arrays are written
        through, taking ``target[box] = block`` for whole stored objects, once
        the store is at ``location`` (it may be moved after ``create``).
    complete
        ``complete(location)`` marks the filled store complete: the last step.
    is_container
        Whether what is at a location is a series container of this format
        that ``overwrite=True`` may replace.
    resumable
        Whether what is at a location is an incomplete store of the same
        frames (shape and dtype), which a repeated write finishes or rebuilds
        without ``overwrite``.
    resume
        ``resume(location, frames)``: for the incomplete store at ``location``
        of this very job (same source, ops, frames and layout), what ``create``
        would return for it, without touching it; None for another job's.
    written
        ``written(targets, start, stop)``: whether frames ``start:stop`` are
        stored in every target already (a resumed write leaves them be).
    reopen
        Opens the written store as a series.
    versions
        How the format keeps versions on a backend that cannot rename.
    growth
        How a store grows while a live series is written (None: it does not).
    """

    format: str
    stored: int
    create: Callable[[Any, Any, str, Callable[[str], None]], tuple[list[Any], list[str]]]
    targets: Callable[[Any, list[str]], list[Any]]
    complete: Callable[[Any], None]
    is_container: Callable[[Any], bool]
    reopen: Callable[[Any], ImageSeries]
    versions: Versions
    resumable: Callable[[Any], bool] = _never
    resume: Callable[[Any, Any], tuple[list[Any], list[str]] | None] = _not_resumed
    written: Callable[[list[Any], int, int], bool] = _none_written
    growth: Growth | None = None


Encoding = FileEncoding | StoreEncoding
"""What :meth:`~pipeline.formats._plugin.Format.encoder` returns."""

__all__ = ["Blocks", "Encoding", "FileEncoding", "Growth", "StoreEncoding", "Versions"]

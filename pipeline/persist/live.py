"""Writing a live series: frames stored as they arrive, committed so that readers follow.

The store is claimed and its header made as for any store write
(:func:`pipeline.persist.stores.begin`); then, as long as the source grows,
each batch of new frames goes through the series' fused chain and is written
as whole stored objects by a pool of threads, and is then **committed**: the
chunks made durable (on a local disk, each written file and its directory
synced), each array's shape grown to cover them, and last the store's record
updated with the committed count, the frames lost so far and the frames
announced.  A reader never sees a frame past the committed count, nor a half
written one.  When the source ends the store is finished with the series'
final metadata and marked complete: its chunks and arrays are then those an
offline write of the same frames makes, byte for byte.

A write killed at any instant leaves the frames it committed; writing the
same live series to the same target again goes on after them.  A file source
gives the frames between again, so none is missing; a stream has moved on, so
the frames it sent meanwhile are listed as lost, and frames numbered below the
committed count are never written twice.  A frame the source lost is written
as the fill value and listed in the record (reading it raises
:class:`~pipeline.errors.DroppedFrameError`); the write ends with a
:class:`~pipeline.errors.FramesDroppedWarning` naming how many.

On an object store, which cannot rename, the store is built as a new version
(as every write there is) and published when the source ends: readers see it
whole then, not as it grows.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from pipeline import ome
from pipeline.errors import FramesDroppedWarning, OptionValueError, TargetBusyError
from pipeline.formats._encoding import Growth, StoreEncoding
from pipeline.formats.live.growth import Growing, LiveStatus, as_ranges, live_source
from pipeline.persist.faults import phase
from pipeline.persist.stores import Started, begin
from pipeline.plan import run_block
from pipeline.series import ImageSeries, plan_of, region_plan
from pipeline.storage import Location

LATENCY = 0.05
"""Seconds a batch waits for more frames once one has arrived (frames are committed within
about this much of their arrival, plus their processing)."""
MAX_BATCH_BYTES = 256 * 2**20
"""Processed bytes written between two commits at most."""
IO_THREADS_PER_CORE = 4
"""Writer threads per core: each processes, encodes and writes a stored object, then waits on
the disk for its fsync, so more threads than cores keep the cores busy."""

LiveProgress = Callable[[LiveStatus, int], None]
"""``progress(status, written)``: where the source stands and the frames committed so far."""


def write_live(series: ImageSeries, location: Location, encoding: StoreEncoding,
               overwrite: bool, progress: LiveProgress | None = None, durable: bool = True
               ) -> Any:
    """Write the live ``series`` to the store at ``location`` as its frames arrive; return the
    finished store reopened (see the module's docstring)."""
    source = live_source(series)
    growth = encoding.growth
    if source is None or growth is None:
        raise OptionValueError(f"{location.text!r}: a live series is written to a store that "
                               "grows (Zarr); name the target with .zarr")
    if plan_of(series).frames is not None:
        raise OptionValueError("a live series is written whole, as its frames arrive: select "
                               "frames of the written store afterwards, not of the live series")
    shape = (0, *series.shape)
    started = begin(series, location, encoding, overwrite, 0, False,
                    np.empty(shape, series.dtype), live=True)
    try:
        writer = _Writer(series, source, started, growth, durable)
        writer.run(progress)
        writer.finish()
    except BaseException:
        started.abandon()
        raise
    started.abandon()
    if len(writer.dropped):
        warnings.warn(FramesDroppedWarning(
            f"{location.text!r}: {len(writer.dropped)} of {writer.committed} frames were lost by "
            f"the live source (first: {writer.dropped[:5].tolist()}); the store's record lists "
            "them and reading one raises DroppedFrameError"), stacklevel=3)
    return encoding.reopen(location)


class _Writer:
    """One live write: the frames committed so far and how the next ones are written."""

    def __init__(self, series: ImageSeries, source: Growing, started: Started, growth: Growth,
                 durable: bool) -> None:
        self.series, self.source, self.growth = series, source, growth
        self.job, self.paths = started.job, started.paths
        self.region, self.chain = region_plan(series, None)
        resumed: tuple[int, np.ndarray, dict[str, Any]] = \
            started.resumed or (0, np.empty(0, np.int64), {})
        self.committed, self.dropped, before = resumed
        # each channel's range over the frames written (the display windows an offline write
        # computes in its graph), kept in the record so that a resumed write goes on with it
        kept = before.get("ranges")
        self.ranges: np.ndarray | None = None if kept is None else \
            np.array(kept, dtype=np.float64)
        self.ranges_lock = threading.Lock()
        # a stream joined half way has no start message: what the first run knew stands
        self.expected = source.expected or before.get("expected")
        self.resumed = started.resumed is not None
        self.durable = durable and self.job.build.local is not None
        grid = self.job.encoding.targets(self.job.build, self.paths)[0]
        self.grid = grid
        self.stored = int(grid.stored[0])
        # processed frames of a stored object begun but not full (kept to rewrite it whole)
        self.carry = np.empty((0, *series.shape), series.dtype)
        if self.committed % self.stored:  # resumed inside a shard: its frames read back
            first = self.committed - self.committed % self.stored
            self.carry = grid.read((slice(first, self.committed),
                                    *(slice(0, n) for n in series.shape)))
        self.source.start_at(self.committed)
        frame_bytes = max(1, int(np.prod(series.shape)) * series.dtype.itemsize)
        self.batch = max(self.stored, MAX_BATCH_BYTES // frame_bytes)
        # more threads than cores: each also waits on the disk for its chunk's fsync
        self.pool = ThreadPoolExecutor(IO_THREADS_PER_CORE * (os.cpu_count() or 2),
                                       thread_name_prefix="live-write")
        self.times: list[tuple[int, float]] = []
        """``(frames committed, time.time())`` at each commit."""

    def run(self, progress: LiveProgress | None) -> None:
        """Write and commit frames as they arrive, until the source ends and all are written."""
        try:
            while True:
                known = self.source.wait(self.committed + 1)
                if known > self.committed:
                    # a short pause lets a burst become one batch (one commit)
                    known = self.source.wait(self.committed + self.batch, LATENCY)
                    self._write(min(known, self.committed + self.batch))
                if progress is not None:
                    progress(self.source.status(), self.committed)
                if self.source.ended and self.committed >= len(self.source):
                    return
        finally:
            self.pool.shutdown(wait=True)

    def _write(self, stop: int) -> None:
        start = self.committed - len(self.carry)  # the first frame of an object begun
        lost = self.source.dropped
        lost = lost[(lost >= self.committed) & (lost < stop)]
        grid = dataclasses.replace(self.grid, shape=(stop, *self.grid.shape[1:]))
        edges = list(range(start, stop, self.stored)) + [stop]
        pieces = list(zip(edges[:-1], edges[1:]))
        written = list(self.pool.map(lambda p: self._piece(grid, p[0], p[1], lost), pieces))
        last = pieces[-1]
        self.carry = written[-1] if last[1] - last[0] < self.stored else \
            np.empty((0, *self.series.shape), self.series.dtype)
        self.dropped = np.union1d(self.dropped, lost)
        self._commit(stop, grid, pieces)

    def _piece(self, grid: Any, a: int, b: int, lost: np.ndarray) -> np.ndarray:
        """Frames ``a:b`` (one stored object, or its beginning) processed and written."""
        block = np.zeros((b - a, *self.series.shape), self.series.dtype)
        old = min(len(self.carry), max(0, self.committed - a))
        block[:old] = self.carry[:old]
        fresh = np.arange(max(a, self.committed), b)
        fresh = fresh[~np.isin(fresh, lost)]
        if len(fresh):
            frames = slice(int(fresh[0]), int(fresh[-1]) + 1) \
                if fresh[-1] - fresh[0] + 1 == len(fresh) else fresh
            block[fresh - a] = run_block(plan_of(self.series).source, frames, self.region,
                                         self.chain, self.series.dtype)
            found = ome.ranges(block[fresh - a], self.series.axes)
            with self.ranges_lock:
                self.ranges = found if self.ranges is None else ome.merged([self.ranges, found])
        grid.write((slice(a, b),), block)
        if self.durable:  # here, in the pool: the disk's waits overlap
            _sync(_objects(grid, a), directories=False)
        return block

    def _commit(self, stop: int, grid: Any, pieces: list[tuple[int, int]]) -> None:
        if self.durable:  # the chunks were synced as they were written; now their folders
            _sync([where for a, _ in pieces for where in _objects(grid, a)], files=False)
        if not self.job.claim.holds():
            raise TargetBusyError(f"{self.job.target.text!r}: this write's claim was taken by "
                                  "another writer; frames after "
                                  f"{self.committed} are not committed")
        phase("commit")
        self.growth.commit(self.job.build, self.paths, stop, self._record(stop, False))
        self.committed = stop
        self.times.append((stop, time.time()))
        self.source.release(stop)

    def _record(self, stop: int, ended: bool) -> dict[str, Any]:
        record = {"committed": int(stop), "dropped": as_ranges(self.dropped),
                  "expected": self.expected,
                  "ended": self.source.ended_by if ended else None}
        if self.ranges is not None:  # JSON has no NaN: a channel with nothing finite is null
            record["ranges"] = [[float(v) if np.isfinite(v) else None for v in pair]
                                for pair in self.ranges]
        return record

    def finish(self) -> None:
        """The last commit: final metadata, the store marked complete and put in place (as
        every store write finishes: :meth:`pipeline.persist.stores._Job.finish`)."""
        final: dict[str, Any] | None = self.series.metadata
        if self.resumed and not final:  # a stream joined half way: the store's metadata stands
            final = None
        record = self._record(self.committed, True)
        shown = final if final is not None else self.series.metadata
        windows = self.ranges if self.ranges is not None and ome.measured_windows(
            self.series.axes, shown, (self.committed, *self.series.shape),
            self.series.dtype) else None
        self.job.finish(None, lambda build: self.growth.finish(
            build, self.paths, self.committed, record, final, windows))


def _objects(grid: Any, first: int) -> list[Location]:
    """The stored objects holding the frames from ``first`` on (one, unless a frame is split
    into several objects)."""
    counts = [-(-n // k) for n, k in zip(grid.shape[1:], grid.stored[1:])]
    return [grid.location((first // grid.stored[0], *place))
            for place in itertools.product(*(range(c) for c in counts))]


def _sync(locations: list[Location], files: bool = True, directories: bool = True) -> None:
    """Make the files at ``locations`` (local) durable, and the directories holding them."""
    folders = set()
    for where in locations:
        path = where.local
        if path is None or not os.path.exists(path):
            continue
        folders.add(os.path.dirname(path))
        if not files:
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for directory in folders if directories else ():
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


__all__ = ["LATENCY", "LiveProgress", "write_live"]

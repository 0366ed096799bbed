"""What a series that grows while it is read offers, and the rules that end it.

A live series is an :class:`~pipeline.series.ImageSeries` that is also
:class:`Growing`.  Its ``len()`` is the number of frames known at its last
:meth:`Growing.refresh`, so that a graph built on it, a sub-series or a loop
sees one fixed length; :meth:`Growing.wait` refreshes until more frames are
there or the source has ended.  Frames are numbered as the source numbers them
(a detector's image number, a dataset's row): a frame the source lost is
listed in :attr:`Growing.dropped` and reading it raises
:class:`~pipeline.errors.DroppedFrameError`, never gives zeros.

A source ends when it says so (a stream's ``end`` message, a store marked
complete) or by an :class:`EndRule` the caller gives: a number of frames, a
marker (a file that appears, an attribute set), or ``idle`` seconds without a
new frame.  ``idle`` is always finite, so that every wait ends.
"""

from __future__ import annotations

import abc
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.errors import OptionValueError
from pipeline.series import ImageSeries, plan_of

POLL = 0.01
"""Seconds between the first looks at a growing source (a file, a store)."""
POLL_MAX = 0.25
"""The longest pause between two looks: a source that stopped growing is looked at this often."""
DEFAULT_IDLE = 60.0
"""Seconds without a new frame after which a live source is taken as ended, unless told."""


@dataclass(frozen=True)
class EndRule:
    """When a live source is complete.

    Attributes
    ----------
    count
        The source holds this many frames when complete (more are not read).
    marker
        What says it is complete: for a directory, a file of this name
        appearing in it; for an HDF5 dataset, an attribute of this name set
        on it (or on its file) to a true value.
    idle
        Seconds without a new frame after which the source is taken as
        ended (finite, so that waiting on a source always ends).
    """

    count: int | None = None
    marker: str | None = None
    idle: float = DEFAULT_IDLE


def end_rule(count: Any = None, marker: Any = None, idle: Any = DEFAULT_IDLE) -> EndRule:
    """An :class:`EndRule` from a reader's options, each checked (the error names the value)."""
    if count is not None and (isinstance(count, bool) or not isinstance(count, int | np.integer)
                              or count < 1):
        raise OptionValueError(f"count={count!r}: expected a whole number of frames >= 1, or "
                               "None (no count)")
    if marker is not None and (not isinstance(marker, str) or not marker
                               or "/" in marker or "\\" in marker):
        raise OptionValueError(f"marker={marker!r}: expected a name (a file name in the "
                               "directory, an attribute name of the dataset), or None")
    if isinstance(idle, bool) or not isinstance(idle, int | float) or not math.isfinite(idle) \
            or idle <= 0:
        raise OptionValueError(f"idle={idle!r}: expected a finite number of seconds > 0 (how "
                               "long without a new frame ends the source)")
    return EndRule(None if count is None else int(count), marker, float(idle))


@dataclass(frozen=True)
class LiveStatus:
    """Where a live source stands: what a progress display shows."""

    received: int
    """Frames known (the series' length at its last refresh)."""
    dropped: int
    """Frames lost among them."""
    ended: bool
    expected: int | None
    ended_by: str | None


class Growing(abc.ABC):
    """A series whose frames arrive while it is read (mixed into an ImageSeries).

    Implementers owe
    ----------------
    :meth:`refresh`
        Look at the source again and return the frames known now, which
        ``len()`` then gives (never fewer than before).
    :attr:`ended`
        Whether the source has said it is complete, or an end rule says so.

    and may override :attr:`expected` (frames announced), :attr:`dropped`,
    :attr:`ended_by`, :meth:`release` and :meth:`start_at` (a stream frees
    and skips frames), and :meth:`wait` (a stream is woken by its receiver
    rather than looking again).
    """

    if TYPE_CHECKING:  # what the ImageSeries it is mixed into gives (not shadowed here)
        def __len__(self) -> int: ...

        def close(self) -> None: ...

    @abc.abstractmethod
    def refresh(self) -> int:
        """Look at the source again; the number of frames known now."""

    @property
    @abc.abstractmethod
    def ended(self) -> bool:
        """Whether the source is complete (as of the last :meth:`refresh`)."""

    @property
    def growing(self) -> bool:
        """Whether this series grows (a format whose series may or may not, such as a store
        that was being written when it was opened, says which)."""
        return True

    @property
    def ended_by(self) -> str | None:
        """What ended it: ``"end"`` (the source said so), ``"count"``, ``"marker"``,
        ``"idle"``; None while it runs."""
        return None

    @property
    def expected(self) -> int | None:
        """The number of frames the source announced, if it did."""
        return None

    @property
    def dropped(self) -> np.ndarray:
        """Numbers of the frames below ``len()`` that the source lost (sorted)."""
        return np.empty(0, np.int64)

    def release(self, upto: int) -> None:
        """Say frames below ``upto`` are no longer needed (a stream then frees them)."""

    def start_at(self, first: int) -> None:
        """Say frames below ``first`` are not wanted (they were kept by an earlier run)."""

    def wait(self, n: int | None = None, timeout: float | None = None) -> int:
        """Refresh until at least ``n`` frames are known (default: one more than now) or the
        source ended, or ``timeout`` seconds passed; the number of frames known.

        The source's end rule bounds the wait: ``idle`` seconds without a new
        frame end it.
        """
        want = len(self) + 1 if n is None else int(n)
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        delay = POLL
        while True:
            got = self.refresh()
            if got >= want or self.ended:
                return got
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return got
            pause = delay if deadline is None else min(delay, deadline - now)
            time.sleep(max(pause, 0.0))
            delay = min(delay * 1.5, POLL_MAX)

    def status(self) -> LiveStatus:
        """Where the source stands, as of the last refresh."""
        return LiveStatus(len(self), len(self.dropped), self.ended, self.expected,
                          self.ended_by)


class Watch:
    """Applies an :class:`EndRule` to what a file source's refreshes see."""

    def __init__(self, rule: EndRule) -> None:
        self.rule = rule
        self.count = 0
        self.last_growth = time.monotonic()
        self.ended_by: str | None = None

    def observe(self, n: int, marker: bool = False) -> int:
        """Note ``n`` frames seen now (and whether the marker is there); the frames the
        series holds (at most the rule's count)."""
        now = time.monotonic()
        if self.rule.count is not None:
            n = min(n, self.rule.count)
        if n > self.count:
            self.count, self.last_growth = n, now
        if self.ended_by is None:
            if self.rule.count is not None and self.count >= self.rule.count:
                self.ended_by = "count"
            elif marker:
                self.ended_by = "marker"
            elif now - self.last_growth >= self.rule.idle:
                self.ended_by = "idle"
        return self.count


def live_source(series: Any) -> Growing | None:
    """The growing source ``series`` reads (itself, or the source of a processed series), or
    None for a series that does not grow."""
    source = plan_of(series).source if isinstance(series, ImageSeries) else series
    return source if isinstance(source, Growing) and source.growing else None


def as_ranges(frames: np.ndarray) -> list[list[int]]:
    """Sorted frame numbers as ``[start, stop)`` runs: how a record lists lost frames."""
    frames = np.unique(np.asarray(frames, np.int64))
    if not len(frames):
        return []
    breaks = np.flatnonzero(np.diff(frames) != 1) + 1
    return [[int(run[0]), int(run[-1]) + 1] for run in np.split(frames, breaks)]


def from_ranges(runs: Any) -> np.ndarray:
    """The frame numbers of ``[start, stop)`` runs (as :func:`as_ranges` makes them)."""
    parts = [np.arange(int(a), int(b), dtype=np.int64) for a, b in runs or []]
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


__all__ = ["DEFAULT_IDLE", "EndRule", "Growing", "LiveStatus", "Watch", "as_ranges",
           "end_rule", "from_ranges", "live_source"]

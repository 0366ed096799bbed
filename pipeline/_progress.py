"""Progress while dask work computes: the one place that follows it, for Python and the shell.

Work is followed as its tasks finish, on the local schedulers through a dask
callback (:class:`TaskProgress`), on a ``dask.distributed`` client through
its futures.  Two kinds of listener consume it:

- a callable ``progress(done, total)``, which :mod:`pipeline.stats` calls as
  the blocks of a statistic finish (:func:`persist_with_progress`);
- a bar on a terminal, frames done, rate and time left (:class:`FrameProgress`,
  or :func:`bar` which picks what is installed), which the command line shows.

A live source's work is not one dask computation: :class:`LiveBar` follows it
by what the source says (frames received, dropped) and the frames done.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import time
from collections.abc import Callable, Collection, Iterator
from typing import IO, Any

from dask.callbacks import Callback

Progress = Callable[[int, int], None]


def current_client() -> Any:
    """The ``distributed`` client dask's active scheduler belongs to, or None."""
    if "distributed" not in sys.modules:  # no client without it; importing it costs ~70 MB
        return None
    from dask.base import get_scheduler

    owner = getattr(get_scheduler(), "__self__", None)
    try:
        from distributed import Client
    except ImportError:
        return None
    return owner if isinstance(owner, Client) else None


class TaskProgress(Callback):
    """Calls ``progress(done, total)`` as tasks finish on dask's local schedulers.

    Parameters
    ----------
    progress
        Called once per finished task counted, from the scheduler's own thread.
    keys
        Count only these tasks (the blocks of a collection); by default every
        task of each computation.
    """

    def __init__(self, progress: Progress, keys: Collection[Any] | None = None) -> None:
        super().__init__()
        self._progress = progress
        self._keys = None if keys is None else set(keys)
        self._total = self._done = 0

    def _start(self, dsk: Any) -> None:
        self._total = len(dsk) if self._keys is None else len(self._keys)
        self._done = 0

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        # posttask runs in the scheduler's own thread: no lock needed
        if self._keys is None or key in self._keys:
            self._done += 1
            self._progress(self._done, self._total)


def persist_with_progress(collection: Any, progress: Progress) -> Any:
    """Compute the blocks of ``collection`` on the active scheduler, reporting each.

    ``progress(done, total)`` is called once per finished block (``total``
    blocks), in order of completion, from the calling thread or the local
    scheduler's.  Returns the persisted collection: its blocks are computed
    and held.
    """
    client = current_client()
    if client is not None:
        from distributed import as_completed, futures_of

        persisted = client.persist(collection)
        futures = futures_of(persisted)
        for done, _ in enumerate(as_completed(futures), 1):
            progress(done, len(futures))
        return persisted
    import dask
    from dask.core import flatten

    with TaskProgress(progress, keys=list(flatten(collection.__dask_keys__()))):
        (persisted,) = dask.persist(collection)
    return persisted


class FrameProgress(TaskProgress):
    """A tqdm bar for dask's local schedulers: frames done, rate, time left.

    Frames are counted as the share of finished tasks times ``nframes`` (each
    task of a write handles a whole chunk of frames); without ``nframes`` the
    bar counts tasks.
    """

    def __init__(self, nframes: int | None = None, stream: IO[str] | None = None) -> None:
        super().__init__(self._advance)
        self._nframes = nframes
        self._stream = stream
        self._bar: Any = None

    def _start(self, dsk: Any) -> None:
        from tqdm import tqdm

        super()._start(dsk)
        unit, total = ("frames", self._nframes) if self._nframes else ("tasks", self._total)
        self._bar = tqdm(total=total, unit=unit, file=self._stream or sys.stderr,
                         dynamic_ncols=True, leave=True)

    def _finish(self, dsk: Any, state: Any, errored: bool) -> None:
        if not errored:
            self._advance(self._total, self._total)
        self._bar.close()

    def _advance(self, done: int, total: int) -> None:
        # whole frames only: a task finishing part of a chunk moves the bar by its share
        step = int(self._bar.total * done / max(total, 1)) - self._bar.n
        if step > 0:
            self._bar.update(step)


@contextlib.contextmanager
def bar(nframes: int | None = None) -> Iterator[None]:
    """A progress bar on stderr for the dask work done inside, on the local schedulers.

    :class:`FrameProgress` with tqdm; dask's own bar (no rate or time left) without.
    """
    if importlib.util.find_spec("tqdm") is None:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            yield
        return
    with FrameProgress(nframes):
        yield


def follow(future: Any) -> None:
    """A progress bar on stderr for a ``distributed`` future, until it finishes."""
    import distributed

    distributed.progress(future)
    sys.stderr.write("\n")


class LiveBar:
    """Frames of a live source done (written, or folded into statistics), received and
    dropped, and the rate: a tqdm bar on stderr when ``show``, and a closing summary.

    ``update(status, done)`` takes the source's status (``received``, ``dropped``, as
    :class:`pipeline.formats.live.growth.LiveStatus` gives) and the frames done so far.
    """

    def __init__(self, expected: int | None, show: bool, stream: IO[str] | None = None
                 ) -> None:
        self._bar: Any = None
        self._began = time.monotonic()
        self._first: float | None = None
        if show:
            from tqdm import tqdm

            self._bar = tqdm(total=expected, unit="frames", file=stream or sys.stderr,
                             dynamic_ncols=True, leave=True, desc="written")

    def update(self, status: Any, done: int) -> None:
        if status.received and self._first is None:
            self._first = time.monotonic()
        if self._bar is None:
            return
        self._bar.set_postfix(received=status.received, dropped=status.dropped,
                              refresh=False)
        self._bar.update(done - self._bar.n)

    def summary(self, status: Any, done: int) -> str:
        """``received N, dropped D (numbers in ...), R frames/s``: the closing line's words."""
        seconds = time.monotonic() - (self._first or self._began)
        rate = f", {done / seconds:.0f} frames/s" if done and seconds > 0 else ""
        return (f"received {status.received - status.dropped}, dropped {status.dropped}"
                f"{rate}" + (f" (ended by {status.ended_by})" if status.ended_by else ""))

    def __enter__(self) -> LiveBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.close()


def show_progress(quiet: bool = False, stream: IO[str] | None = None) -> bool:
    """Whether to show progress: on a terminal, unless asked to be quiet."""
    stream = stream if stream is not None else sys.stderr
    return not quiet and bool(getattr(stream, "isatty", lambda: False)())

"""Following dask work while it computes: progress, checks, and how it reaches a cluster.

The one place that follows work, for Python and the shell, on every scheduler
(dask's local ones through a dask callback, a ``dask.distributed`` client
through its futures):

- listeners: a callable ``progress(done, total)`` (what :mod:`pipeline.stats`
  takes), and bars on a terminal, one per phase of a run (a dark computed, the
  frames written), each showing frames done, their rate and the time left
  (:func:`phase`), when the command line turned them on (:func:`shown`);
- :func:`compute`, :func:`persist_with_progress` and :func:`run_batches`, which
  compute on the active scheduler reporting as blocks finish; on a cluster
  they send each large value a graph holds (a dark frame, an in-memory source)
  to the workers once (:func:`submit`), and :func:`run_batches` gives the
  scheduler at most two batches of tasks at a time, whatever the series' length;
- checks that may end the work (:func:`watched`, :func:`check`): a batch
  cluster without workers, say; the loops here call them as they wait.

A live source's work is not one dask computation: :class:`LiveBar`, beside
the phase bars, follows it by what the source says (frames received, dropped)
and the frames done.
"""

from __future__ import annotations

import contextlib
import contextvars
import pickle
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import IO, Any

from dask.callbacks import Callback

Progress = Callable[[int, int], None]
Check = Callable[[], None]

POLL = 0.5
"""Seconds between checks while waiting for a cluster's tasks."""
SHIP_BYTES = 2**20
"""A value a graph holds (not computes) larger than this goes to the workers once, ahead."""

_BARS: contextvars.ContextVar[IO[str] | None] = contextvars.ContextVar("bars", default=None)
_CHECKS: list[Check] = []


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


# -- checks ------------------------------------------------------------------------------------


@contextlib.contextmanager
def watched(check: Check) -> Iterator[None]:
    """``check()`` is called by the loops waiting for work inside; it raises to end the work."""
    _CHECKS.append(check)
    try:
        yield
    finally:
        _CHECKS.remove(check)


def check() -> None:
    """Run the active checks (each raises what ends the work)."""
    for func in list(_CHECKS):
        func()


# -- bars --------------------------------------------------------------------------------------


@contextlib.contextmanager
def shown(stream: IO[str] | None = None) -> Iterator[None]:
    """Every phase of the work inside shows a bar on ``stream`` (default stderr)."""
    token = _BARS.set(stream if stream is not None else sys.stderr)
    try:
        yield
    finally:
        _BARS.reset(token)


def show_progress(quiet: bool = False, stream: IO[str] | None = None) -> bool:
    """Whether to show progress: on a terminal, unless asked to be quiet."""
    stream = stream if stream is not None else sys.stderr
    return not quiet and bool(getattr(stream, "isatty", lambda: False)())


class _Bar:
    """A frames bar (tqdm, or a line per tenth without it), moved by the share of blocks done."""

    def __init__(self, label: str, nframes: int | None, stream: IO[str], initial: int = 0
                 ) -> None:
        self.nframes, self.stream, self.label = nframes, stream, label
        self.shown = initial
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar: Any = None
            return
        unit, total = ("frames", nframes) if nframes else ("blocks", None)
        self.bar = tqdm(total=total, unit=unit, desc=label, file=stream, dynamic_ncols=True,
                        leave=True, mininterval=0.2, initial=initial)

    def __call__(self, done: int, total: int) -> None:
        # whole frames only: a block finishing part of a chunk moves the bar by its share
        count = int((self.nframes or total) * done / max(total, 1))
        if self.bar is None:
            if count * 10 // max(self.nframes or total, 1) > self.shown * 10 // max(
                    self.nframes or total, 1) or done == total:
                print(f"{self.label}: {count}/{self.nframes or total}", file=self.stream)
            self.shown = count
            return
        if self.bar.total is None:
            self.bar.total = total
        step = count - self.bar.n
        if step > 0:
            self.bar.update(step)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextlib.contextmanager
def phase(label: str, nframes: int | None = None, initial: int = 0
          ) -> Iterator[Progress | None]:
    """A bar for one phase of work (``label``: "write out.zarr", "median of 100 frames") while
    bars are shown, ``initial`` frames done already: yields the ``progress(done, total)``
    listener that moves it, else None."""
    stream = _BARS.get()
    if stream is None:
        yield None
        return
    bar = _Bar(label, nframes, stream, initial)
    try:
        yield bar
    finally:
        bar.close()


class LiveBar:
    """Frames of a live source done (written, or folded into statistics), received and
    dropped, and the rate: a tqdm bar while bars are shown (:func:`shown`), and a closing
    summary.

    ``update(status, done)`` takes the source's status (``received``, ``dropped``, as
    :class:`pipeline.formats.live.growth.LiveStatus` gives) and the frames done so far.
    """

    def __init__(self, expected: int | None) -> None:
        self._bar: Any = None
        self._began = time.monotonic()
        self._first: float | None = None
        stream = _BARS.get()
        if stream is not None:
            from tqdm import tqdm

            self._bar = tqdm(total=expected, unit="frames", file=stream, dynamic_ncols=True,
                             leave=True, desc="written")

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


# -- on the local schedulers -------------------------------------------------------------------


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


def _keys_of(collections: Iterable[Any]) -> list[Any]:
    from dask.core import flatten

    return [k for c in collections for k in flatten(c.__dask_keys__())]


# -- on a cluster ------------------------------------------------------------------------------


def _pickled_bytes(value: Any) -> int:
    """What sending ``value`` costs: its pickle, arrays counted without copying them."""
    buffers: list[pickle.PickleBuffer] = []
    try:
        main = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    except Exception:  # noqa: BLE001  (not picklable by pickle: distributed uses cloudpickle)
        return 0
    return len(main) + sum(b.raw().nbytes for b in buffers)


def submit(client: Any, collections: Sequence[Any], shipped: dict[Any, Any] | None = None
           ) -> list[Any]:
    """Futures of the keys of ``collections`` (flattened, in order), computed on ``client``.

    Each value the graph holds rather than computes (a dark frame inside an op
    chain, an in-memory source) larger than :data:`SHIP_BYTES` is sent to the
    workers once, ahead of the graph, and the graph refers to it: the graph
    stays small (no "large graph" warning), and ``shipped`` (a dict kept from
    one call to the next) sends it only once over many batches.
    """
    from dask._task_spec import Alias, DataNode

    shipped = {} if shipped is None else shipped
    graph = _graph(collections)
    for key, node in list(graph.items()):
        if not isinstance(node, DataNode) or key not in shipped and \
                _pickled_bytes(node.value) <= SHIP_BYTES:
            continue
        if key not in shipped:
            (shipped[key],) = client.scatter([node.value], hash=True)
        future = shipped[key]
        graph[key] = Alias(key, future.key)
        graph[future.key] = future
    keys = _keys_of(collections)
    return list(client.get(graph, keys, sync=False))


def _graph(collections: Sequence[Any]) -> dict[Any, Any]:
    import dask

    graph: dict[Any, Any] = {}
    seen: set[int] = set()
    for c in dask.optimize(*collections):  # one merged graph, usually shared by all
        part = c.__dask_graph__()
        if id(part) not in seen:
            seen.add(id(part))
            graph.update(part)
    return graph


def follow(futures: Iterable[Any], progress: Progress | None = None,
           on_done: Callable[[Any], None] | None = None) -> None:
    """Wait for ``futures``, calling ``progress(done, total)`` and ``on_done(future)`` as each
    finishes and :func:`check` between; the first that failed raises its error."""
    from distributed import wait

    pending, done = set(futures), 0
    total = len(pending)
    while pending:
        check()
        try:
            finished = wait(pending, timeout=POLL, return_when="FIRST_COMPLETED").done
        except TimeoutError:
            continue
        for future in finished:
            if future.status != "finished":
                future.result()  # raises the task's error (or CancelledError)
            pending.discard(future)
            done += 1
            if on_done is not None:
                on_done(future)
            if progress is not None:
                progress(done, total)


def _scheduler_feed(client: Any, futures: list[Any], progress: Progress) -> None:
    """``progress(done, total)`` over every task ``futures`` wait for (not only the last
    ones), as the scheduler counts them: distributed's own progress feed, on the client's
    event loop."""
    from distributed.diagnostics.progressbar import ProgressBar

    class Feed(ProgressBar):
        def _draw_bar(self, remaining: int, all: int, **kwargs: Any) -> None:
            progress(all - remaining, all)

    feed = Feed(futures, scheduler=client.scheduler.address, interval="200ms")
    client.loop.add_callback(feed.listen)


# -- computing ---------------------------------------------------------------------------------


def persist_with_progress(collection: Any, progress: Progress) -> Any:
    """Compute the blocks of ``collection`` on the active scheduler, reporting each.

    ``progress(done, total)`` is called once per finished block (``total``
    blocks), in order of completion, from the calling thread or the local
    scheduler's.  Returns the persisted collection: its blocks are computed
    and held.
    """
    client = current_client()
    if client is not None:
        futures = submit(client, [collection])
        follow(futures, progress)
        rebuild, args = collection.__dask_postpersist__()
        return rebuild({f.key: f for f in futures}, *args)
    import dask

    with TaskProgress(progress, keys=_keys_of([collection])):
        (persisted,) = dask.persist(collection)
    return persisted


def compute(*collections: Any, label: str = "", nframes: int | None = None) -> tuple[Any, ...]:
    """``dask.compute(*collections)`` on the active scheduler, a bar following their tasks
    while bars are shown, large values sent to a cluster's workers once."""
    import dask

    client = current_client()
    with phase(label, nframes) as progress:
        if client is None and progress is None:
            return tuple(dask.compute(*collections))
        if client is None:
            assert progress is not None
            with TaskProgress(progress):  # the share of all tasks done: every step counts
                results = tuple(dask.compute(*collections))
            progress(1, 1)
            return results
        futures = submit(client, list(collections))
        if progress is not None:
            _scheduler_feed(client, futures, progress)
        follow(futures)
        if progress is not None:
            progress(1, 1)
        by_key = {f.key: f for f in futures}
        persisted = []
        for c in collections:
            rebuild, args = c.__dask_postpersist__()
            persisted.append(rebuild({k: by_key[k] for k in _keys_of([c])}, *args))
        return tuple(dask.compute(*persisted))


def run_batches(batches: Iterable[list[tuple[Any, int]]], label: str, nframes: int,
                initial: int = 0) -> None:
    """Compute dask tasks batch after batch on the active scheduler, a bar counting frames.

    Each batch is a list of ``(task, frames)``: a dask collection of one key
    and the frames it covers.  On a cluster the scheduler holds at most two
    batches at once (the next is submitted when the one before is under way),
    so the tasks it holds are bounded whatever the number of frames; locally
    the batches run one after the other on the threads.  ``initial`` frames
    are done already (a write resumed).
    """
    client = current_client()
    with phase(label, nframes, initial) as bar:
        done = [initial]

        def counted(frames: int) -> None:
            done[0] += frames
            if bar is not None:
                bar(done[0], max(nframes, 1))

        if client is None:
            _run_local(batches, counted)
        else:
            _run_on(client, batches, counted)


def _run_local(batches: Iterable[list[tuple[Any, int]]], counted: Callable[[int], None]
               ) -> None:
    import dask

    for batch in batches:
        check()
        frames = {_keys_of([task])[0]: n for task, n in batch}
        with _Finished(lambda key: counted(frames.get(key, 0))):
            dask.compute(*(task for task, _ in batch))


class _Finished(Callback):
    """Calls ``on_key(key)`` as each task finishes on dask's local schedulers."""

    def __init__(self, on_key: Callable[[Any], None]) -> None:
        super().__init__()
        self._on_key = on_key

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        self._on_key(key)


def _run_on(client: Any, batches: Iterable[list[tuple[Any, int]]],
            counted: Callable[[int], None]) -> None:
    shipped: dict[Any, Any] = {}
    frames: dict[Any, int] = {}
    pending: set[Any] = set()
    size = 0
    for batch in batches:  # the first batch, then one more whenever less than a batch is left
        size = max(size, len(batch))
        futures = submit(client, [task for task, _ in batch], shipped)
        frames.update({f.key: n for f, (_, n) in zip(futures, batch, strict=True)})
        pending.update(futures)
        while len(pending) > size:
            _wait_some(pending, frames, counted)
    while pending:
        _wait_some(pending, frames, counted)


def _wait_some(pending: set[Any], frames: dict[Any, int], counted: Callable[[int], None]
               ) -> None:
    from distributed import wait

    check()
    try:
        finished = wait(list(pending), timeout=POLL, return_when="FIRST_COMPLETED").done
    except TimeoutError:
        return
    for future in finished:
        if future.status != "finished":
            future.result()
        pending.discard(future)
        counted(frames.pop(future.key, 0))
        future.release()


__all__ = ["Check", "LiveBar", "Progress", "TaskProgress", "check", "compute", "current_client",
           "follow", "persist_with_progress", "phase", "run_batches", "show_progress", "shown",
           "submit", "watched"]

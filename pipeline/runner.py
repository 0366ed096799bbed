"""Where and how long-running work runs: the scheduler, and progress on a terminal.

The default is dask's threaded scheduler (nothing to start).  ``scheduler=``
an address connects to an existing dask.distributed cluster; ``workers=N``
starts a local one.  Progress is shown on stderr when it is a terminal.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

from dask.callbacks import Callback

from pipeline.errors import SchedulerUnreachableError


class FrameProgress(Callback):
    """A tqdm bar for dask's local schedulers: frames done, rate, time left.

    Frames are counted as the share of finished tasks times ``nframes`` (each
    task of a write handles a whole chunk of frames); without ``nframes`` the
    bar counts tasks.
    """

    def __init__(self, nframes: int | None = None, stream: IO[str] | None = None) -> None:
        super().__init__()
        self._nframes = nframes
        self._stream = stream
        self._bar: Any = None
        self._tasks = self._done = 0

    def _start(self, dsk: Any) -> None:
        from tqdm import tqdm

        self._tasks, self._done = len(dsk), 0
        unit, total = ("frames", self._nframes) if self._nframes else ("tasks", self._tasks)
        self._bar = tqdm(total=total, unit=unit, file=self._stream or sys.stderr,
                         dynamic_ncols=True, leave=True)

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, id: Any) -> None:
        self._done += 1
        self._advance(self._bar.total * self._done / max(self._tasks, 1))

    def _finish(self, dsk: Any, state: Any, errored: bool) -> None:
        if not errored:
            self._advance(self._bar.total)
        self._bar.close()

    def _advance(self, done: float) -> None:
        # whole frames only: a task finishing part of a chunk moves the bar by its share
        step = int(done) - self._bar.n
        if step > 0:
            self._bar.update(step)


@contextlib.contextmanager
def scheduler(address: str | None = None, workers: int | None = None,
              quiet: bool = True, timeout: float = 5) -> Iterator[Any]:
    """A context in which dask work runs where asked; yields the distributed client or None.

    Parameters
    ----------
    address
        ``tcp://host:8786``: an existing dask.distributed scheduler.
    workers
        Start a ``distributed.LocalCluster`` of this many worker processes.
    quiet
        Without it, say where the work runs (and the dashboard link) on stderr.
    timeout
        Seconds to reach ``address``; then :class:`SchedulerUnreachableError`.
    """
    if address is None and not workers:
        yield None
        return
    from ops import require

    distributed = require("distributed", "distributed", "running on a dask cluster")
    with contextlib.ExitStack() as stack:
        if address is not None:
            try:
                client = stack.enter_context(distributed.Client(address, timeout=timeout))
            except (OSError, TimeoutError) as err:
                raise SchedulerUnreachableError(
                    f"cannot reach the dask scheduler at {address!r} within {timeout:g} s "
                    f"({type(err).__name__}); is it running, and is the address right?"
                ) from err
        else:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, dashboard_address=":0"))
            client = stack.enter_context(distributed.Client(cluster))
        if not quiet:
            print(f"dask cluster: {client.scheduler.address} (dashboard {client.dashboard_link})",
                  file=sys.stderr)
        yield client


def execute(task: Any, *, nframes: int | None = None, client: Any = None,
            progress: bool = False) -> Any:
    """Run ``task`` (a dask collection to compute, or a callable to call); return its result.

    With ``progress``, a bar on stderr: :class:`FrameProgress` on the local
    schedulers, ``distributed.progress`` on a cluster (dask collections only).
    """
    from dask.base import is_dask_collection

    if client is not None and is_dask_collection(task):
        future = client.compute(task)
        if progress:
            import distributed

            distributed.progress(future)
            sys.stderr.write("\n")
        return future.result()
    run: Callable[[], Any] = task.compute if is_dask_collection(task) else task
    if not progress or client is not None:
        return run()
    if importlib.util.find_spec("tqdm") is None:  # dask's own bar: no rate or time left
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            return run()
    with FrameProgress(nframes):
        return run()


def show_progress(quiet: bool = False, stream: IO[str] | None = None) -> bool:
    """Whether to show progress: on a terminal, unless asked to be quiet."""
    stream = stream if stream is not None else sys.stderr
    return not quiet and bool(getattr(stream, "isatty", lambda: False)())


__all__ = ["FrameProgress", "SchedulerUnreachableError", "execute", "scheduler", "show_progress"]

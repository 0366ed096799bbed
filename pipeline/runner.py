"""Where long-running work runs: the scheduler, and running a task there.

The default is dask's threaded scheduler (nothing to start).  ``scheduler=``
an address connects to an existing dask.distributed cluster; ``workers=N``
starts a local one.  Progress, when asked for, is followed by
:mod:`pipeline._progress`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from ops import require
from pipeline import _progress
from pipeline.errors import SchedulerUnreachableError


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

    With ``progress``, a bar on stderr (:func:`pipeline._progress.bar` on the
    local schedulers, :func:`pipeline._progress.follow` on a cluster, dask
    collections only there).
    """
    from dask.base import is_dask_collection

    if client is not None and is_dask_collection(task):
        future = client.compute(task)
        if progress:
            _progress.follow(future)
        return future.result()
    run: Callable[[], Any] = task.compute if is_dask_collection(task) else task
    if not progress or client is not None:
        return run()
    with _progress.bar(nframes):
        return run()


__all__ = ["SchedulerUnreachableError", "execute", "scheduler"]

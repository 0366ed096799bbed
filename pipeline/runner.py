"""Where long-running work runs: the scheduler, and running a task there.

The default is dask's threaded scheduler (nothing to start).  ``scheduler=``
an address (or a scheduler file, as ``dask-mpi`` and ``dask-scheduler
--scheduler-file`` write) connects to an existing dask.distributed cluster;
``workers=N`` starts a local one; ``cluster=`` a
:class:`~pipeline.clusters.ClusterSpec` submits batch jobs through
dask-jobqueue (:mod:`pipeline.clusters`).  Progress, when asked for, is shown
by :mod:`pipeline._progress`, phase by phase, on every one of them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from ops import require
from pipeline import _progress, clusters
from pipeline.clusters import ClusterSpec
from pipeline.errors import SchedulerUnreachableError


@contextlib.contextmanager
def scheduler(address: str | None = None, workers: int | None = None,
              cluster: ClusterSpec | None = None, quiet: bool = True, timeout: float = 5
              ) -> Iterator[Any]:
    """A context in which dask work runs where asked; yields the distributed client or None.

    Parameters
    ----------
    address
        ``tcp://host:8786``: an existing dask.distributed scheduler; or the path
        of a scheduler file (``scheduler.json``, as ``dask-mpi`` writes).
    workers
        Start a ``distributed.LocalCluster`` of this many worker processes.
    cluster
        Submit batch jobs (Slurm, PBS, ...) through dask-jobqueue; their jobs
        are cancelled when the context ends, however it ends.
    quiet
        Without it, say where the work runs (and the dashboard link) on stderr.
    timeout
        Seconds to reach ``address``; then :class:`SchedulerUnreachableError`.
    """
    if cluster is not None:
        with clusters.start(cluster, quiet=quiet) as client:
            yield client
        return
    if address is None and not workers:
        yield None
        return
    distributed = require("distributed", "distributed", "running on a dask cluster")
    with contextlib.ExitStack() as stack:
        if address is not None:
            where = {"scheduler_file": address} if os.path.isfile(address) else \
                {"address": address}
            try:
                client = stack.enter_context(distributed.Client(**where, timeout=timeout))
            except (OSError, TimeoutError, ValueError) as err:
                raise SchedulerUnreachableError(
                    f"cannot reach the dask scheduler at {address!r} within {timeout:g} s "
                    f"({type(err).__name__}); is it running, and is the address right?"
                ) from err
        else:
            cluster_ = stack.enter_context(distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, dashboard_address=":0"))
            client = stack.enter_context(distributed.Client(cluster_))
        if not quiet:
            print(f"dask cluster: {client.scheduler.address} (dashboard {client.dashboard_link})",
                  file=sys.stderr)
        yield client


def execute(task: Any, *, nframes: int | None = None, progress: bool = False,
            label: str = "") -> Any:
    """Run ``task`` (a dask collection to compute, or a callable to call) on the active
    scheduler; return its result.

    With ``progress``, every phase of the work shows a bar on stderr (frames,
    rate, time left): a collection's as ``label`` over ``nframes``, a
    callable's as each phase inside it reports (:func:`pipeline._progress.phase`).
    """
    from dask.base import is_dask_collection

    with _progress.shown() if progress else contextlib.nullcontext():
        if is_dask_collection(task):
            (result,) = _progress.compute(task, label=label, nframes=nframes)
            return result
        return task()


def cancel_jobs() -> None:
    """Cancel the batch jobs of every running cluster now (an interrupted run)."""
    clusters.cancel_all()


__all__ = ["SchedulerUnreachableError", "cancel_jobs", "execute", "scheduler"]

"""Progress while a dask collection computes, on the local scheduler or a cluster.

Long work reports ``progress(done, total)`` as the blocks of a collection
finish: through a dask callback on the local schedulers, through
``distributed.as_completed`` on a ``dask.distributed`` client.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

Progress = Callable[[int, int], None]


def persist_with_progress(collection: Any, progress: Progress) -> Any:
    """Compute the blocks of ``collection`` on the active scheduler, reporting each.

    ``progress(done, total)`` is called once per finished block (``total``
    blocks), in order of completion, from the calling thread.  Returns the
    persisted collection: its blocks are computed and held.
    """
    client = current_client()
    if client is not None:
        return _persist_distributed(client, collection, progress)
    return _persist_local(collection, progress)


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


def _persist_distributed(client: Any, partials: Any, progress: Progress) -> Any:
    from distributed import as_completed, futures_of

    persisted = client.persist(partials)
    futures = futures_of(persisted)
    for done, _ in enumerate(as_completed(futures), 1):
        progress(done, len(futures))
    return persisted


def _persist_local(partials: Any, progress: Progress) -> Any:
    import dask
    from dask.callbacks import Callback
    from dask.core import flatten

    keys = set(flatten(partials.__dask_keys__()))
    done = [0]

    def posttask(key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        # posttask runs in the scheduler's own thread: no lock needed
        if key in keys:
            done[0] += 1
            progress(done[0], len(keys))

    with Callback(posttask=posttask):
        (persisted,) = dask.persist(partials)
    return persisted


"""What a dask.distributed scheduler holds while work runs, for tests and benchmarks of clusters.

``with tasks_held(client) as held: ...`` then ``held.most`` (the most tasks the
scheduler held at once) and ``held.seen`` (every task it was given): a
scheduler plugin counts them on every transition, so no peak is missed
between polls.  It works on any scheduler a client reaches (a LocalCluster,
dask-jobqueue's, a remote one).  Needs ``distributed``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin


class _TaskCount(SchedulerPlugin):
    """Counts, on the scheduler, the most tasks held at once and the tasks given."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.most = 0
        self.seen = 0
        self.scheduler: Any = None

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.most = len(scheduler.tasks)

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if start == "released" and finish == "waiting":
            self.seen += 1
        self.most = max(self.most, len(self.scheduler.tasks))


@dataclass
class Held:
    """``most`` tasks held at once by the scheduler, ``seen`` tasks given to it."""

    most: int = 0
    seen: int = 0


@contextmanager
def tasks_held(client: Any) -> Iterator[Held]:
    """Count the tasks ``client``'s scheduler holds while the block runs (see module doc)."""
    name = f"lazyseries-task-count-{uuid.uuid4().hex}"
    client.register_plugin(_TaskCount(name), name=name)
    held = Held()

    def read(dask_scheduler: Any) -> tuple[int, int]:
        plugin = dask_scheduler.plugins[name]
        return plugin.most, plugin.seen

    try:
        yield held
    finally:
        held.most, held.seen = client.run_on_scheduler(read)
        client.unregister_scheduler_plugin(name)


__all__ = ["Held", "tasks_held"]

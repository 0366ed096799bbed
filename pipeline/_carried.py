"""A graph's source whose code the workers may lack: carried by value, never failing to unpickle.

An opened file pickles as its path and options, and lazyseries' own classes
are installed on every worker.  A source built on the client's own code (a
``function`` series over a notebook's function, an ImageSeries subclass from
a module only the client has) has that code carried by value, and a worker
that cannot unpickle a source, whatever the reason, gets a stand-in whose
reads raise :class:`~pipeline.errors.SourceUnavailableError`: a worker that
fails to unpickle a task dies, and the computation then waits for workers
forever.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ops import Region, transport
from pipeline.errors import SourceUnavailableError


class CarriedSource:
    """Wraps a graph's source for transport; :func:`unwrap` gives the series back."""

    def __init__(self, series: Any) -> None:
        self.series = series

    def __reduce__(self) -> tuple[Any, ...]:
        # this runs on workers too, when one sends the source to another: nothing here may
        # open a file (the series' repr would) or raise
        what = _what(self.series)
        carry = (self.series, *getattr(self.series, "__dict__", {}).values())
        buffers: list[Any] = []  # an in-memory source's pixels stay out of band, uncopied
        payload = transport.dumps(self.series, carry, buffers)
        return (_from_payload, (what, payload, *buffers))


class _Unreadable:
    """Stands in for a source that did not unpickle here; every read raises why."""

    closed = False

    def __init__(self, what: str, reason: str) -> None:
        self.what, self.reason = what, reason

    def description(self) -> dict[str, Any]:
        return {"format": "unavailable"}

    def read(self, frames: Any, region: Region) -> np.ndarray:
        raise SourceUnavailableError(
            f"the source {self.what} cannot be read in this process: {self.reason}. Define its "
            "code in the client (it then travels with the graph), or install it on every worker"
        )


def _what(series: Any) -> str:
    if isinstance(series, _Unreadable):
        return series.what
    try:
        desc = series.description()
    except Exception:  # noqa: BLE001  (a name is enough)
        desc = {}
    return f"{type(series).__name__} {desc!r:.200}"


def _from_payload(what: str, payload: bytes, *buffers: Any) -> CarriedSource:
    series, reason = transport.loads(payload, buffers)
    return CarriedSource(series if reason is None else _Unreadable(what, reason))


def carry(series: Any) -> CarriedSource:
    """``series`` wrapped for a graph: its code carried where needed, its unpickling safe."""
    return CarriedSource(series)


def unwrap(source: Any) -> Any:
    return source.series if isinstance(source, CarriedSource) else source

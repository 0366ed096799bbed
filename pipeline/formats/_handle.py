"""A file handle opened on first use, for readers whose library keeps files open."""

from __future__ import annotations

import threading
from typing import Any


class LazyHandle:
    """Mixin: one file handle per series, opened on first read, used under one lock.

    The handle is never pickled (a series pickles as a recipe): an unpickled
    copy, on a dask worker say, opens its own on its first read.  Subclasses
    implement :meth:`_open_handle` and call :meth:`_init_handle` in ``__init__``.
    """

    _handle: Any
    _lock: threading.Lock

    def _init_handle(self) -> None:
        self._handle = None
        self._lock = threading.Lock()

    def _open_handle(self) -> Any:
        raise NotImplementedError

    @property
    def handle(self) -> Any:
        """The open handle (opened now if need be); use it under ``self._lock``."""
        if self._handle is None:
            self._handle = self._open_handle()
        return self._handle

    def close(self) -> None:
        """Close the file (reopened on the next read)."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.close()

    def __getstate__(self) -> dict[str, Any]:
        getstate = getattr(super(), "__getstate__", None)  # the series' own rules (metadata)
        state = dict(getstate() if getstate is not None else self.__dict__)
        state["_handle"] = state["_lock"] = None  # reopened where it is unpickled
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

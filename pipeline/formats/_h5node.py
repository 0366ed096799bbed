"""Open h5py files and groups given in place of a file name (hexrd's ``open(f, "hdf5")``).

A reader given an open ``h5py.File`` or ``h5py.Group`` reads through it while
the caller keeps it open, and through its own handle, opened by file name,
once the caller has closed it; the series still pickles as the file name and
the group's path.  The caller's file is closed only when asked for
(``close_when_finished=True``).
"""

from __future__ import annotations

import contextlib
import posixpath
import sys
import warnings
from collections.abc import Iterator
from typing import Any

from pipeline.formats._handle import LazyHandle


def is_h5_node(obj: Any) -> bool:
    """Whether ``obj`` is an open h5py File or Group (h5py is not imported for a path)."""
    h5py = sys.modules.get("h5py")
    return h5py is not None and isinstance(obj, h5py.Group)


def node_location(node: Any, path: str | None) -> tuple[str, str]:
    """``(file name, absolute group path)`` of ``path`` inside the open group ``node``."""
    return node.file.filename, posixpath.join(node.name, path) if path else node.name


@contextlib.contextmanager
def opened(where: Any, mode: str = "r", name: str | None = None) -> Iterator[Any]:
    """The h5py File at file name ``where``, or ``where`` itself if it is open (left open).

    A file that will not open for reading is NotASeriesError naming it
    (``name`` when ``where`` is a file object).
    """
    if is_h5_node(where):
        yield where
        return
    from pipeline.formats._h5 import h5py, open_file  # hdf5plugin's filters registered

    f = open_file(where, name=name) if mode == "r" else h5py("HDF5 files").File(where, mode)
    with f:
        yield f


class BorrowedHandle(LazyHandle):
    """A :class:`LazyHandle` that reads through the caller's open file while it stays open.

    Subclasses set ``_borrowed`` (the caller's ``h5py.File`` or None) and
    ``_close_borrowed`` after :meth:`_init_handle`.
    """

    _borrowed: Any = None
    _close_borrowed: bool = False

    @property
    def handle(self) -> Any:
        borrowed = self._borrowed
        if borrowed is not None and borrowed:  # an h5py File is true while open
            return borrowed
        return LazyHandle.handle.fget(self)  # type: ignore[attr-defined]

    def node(self, path: str) -> Any:
        """The h5py object at ``path`` in the handle, looked up once per handle (use under the lock).

        A group or dataset lookup costs more than reading a small frame, so
        ``ps[j]`` must not repeat it.
        """
        handle = self.handle
        cache: tuple[Any, dict[str, Any]] | None = self.__dict__.get("_nodes")
        if cache is None or cache[0] is not handle:
            cache = self.__dict__["_nodes"] = (handle, {})
        nodes = cache[1]
        if path not in nodes:
            nodes[path] = handle[path]
        return nodes[path]

    def close(self) -> None:
        """Close this series' own handle, and the caller's file if ``close_when_finished``."""
        self.__dict__.pop("_nodes", None)
        borrowed, self._borrowed = self._borrowed, None
        if borrowed is not None and self._close_borrowed and borrowed:
            borrowed.close()
        LazyHandle.close(self)

    def __getstate__(self) -> dict[str, Any]:
        state = LazyHandle.__getstate__(self)
        state["_borrowed"] = None  # reopened by file name where it is unpickled
        state.pop("_nodes", None)
        return state

    def __del__(self) -> None:
        if "_lock" not in self.__dict__:
            return  # __init__ failed before there was anything to close
        try:
            self.close()
        except Exception as err:  # noqa: BLE001  (a finaliser must not raise: say it instead)
            with contextlib.suppress(Exception):
                warnings.warn(f"{type(self).__name__} could not close its HDF5 file: {err!r}",
                              UserWarning, stacklevel=2)


__all__ = ["BorrowedHandle", "is_h5_node", "node_location", "opened"]

"""What a storage backend owes: the operations the framework needs from wherever bytes live.

A backend is a small, picklable value naming a place (the local file system,
an fsspec file system with its options, an object store).  Paths are the
backend's own absolute, ``/``-separated names; every caller above the seam
goes through :class:`~pipeline.storage.Location`, which pairs a backend with
one path, so nothing above it asks whether a text is a URL.

The operations are zarr's ``Store`` ones (``get`` with a byte range, ``set``,
``set_if_not_exists``, ``delete``, ``list``) plus what writing safely needs:
a conditional replace (an object store's ``If-Match``), the version a replace
is conditional on, and a file object for libraries that read through one
(h5py, tifffile).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO


@dataclass(frozen=True)
class Stat:
    """What a backend says of one object: its size, whether it is a directory, its version.

    ``version`` changes whenever the object does (a local file's inode,
    modification time and size; an object's ETag): it is what a conditional
    replace compares and what tells a rewritten store from the one a series
    opened.
    """

    size: int
    is_dir: bool
    version: str


class Backend(abc.ABC):
    """A place bytes live in.

    Implementers owe
    ----------------
    ``scheme``
        The URL scheme a location of this backend is spelled with.
    :meth:`identity`
        What tells two backends apart (two endpoints of S3 are two places);
        equal identities and equal paths are the same object.
    :meth:`canonical`
        The backend's own absolute path for the text after the scheme, the
        way the backend's library resolves it (so that two spellings of one
        object compare equal).
    :meth:`read`, :meth:`stat`, :meth:`list`
        Reading: a whole object or a byte range of it, what it is, a
        directory's entries.
    :meth:`write`, :meth:`create`, :meth:`replace`, :meth:`remove`, :meth:`remove_tree`
        Writing: whole objects only, each atomic (a reader sees the old
        object or the new one, never part of either); ``create`` fails if
        the object exists, ``replace`` if its version is not the one given.
    :meth:`open_binary`, :meth:`zarr_store`
        For libraries: a seekable binary file object, and a zarr-python store.

    Implementers may also declare
    -----------------------------
    ``renames``
        Whether a directory can be renamed atomically (local file systems);
        a writer then stages beside a target and swaps it in, where an object
        store commits versions instead.
    ``process_local``
        Whether the place exists only inside this process (fsspec's memory
        file system): a dask worker in another process cannot reach it.
    ``conditional``
        Whether ``create`` and ``replace`` are atomic across processes (a file
        system's links and locks, an object store's ``If-None-Match`` and
        ``If-Match``); default True.
    :meth:`read_ranges`, :meth:`read_versioned`, :meth:`local_path`
        Defaults built on the owed operations.
    """

    scheme: str
    renames: bool = False
    process_local: bool = False
    conditional: bool = True

    @abc.abstractmethod
    def identity(self) -> tuple[Any, ...]:
        """What tells this place from another (equal identities: the same place)."""

    @abc.abstractmethod
    def canonical(self, rest: str) -> str:
        """The absolute path ``rest`` (a URL without its scheme, or a local path) names."""

    def url(self, path: str) -> str:
        """``path`` spelled as a URL (or, for local files, the path itself)."""
        return f"{self.scheme}://{path.lstrip('/') if self.scheme != 'memory' else path}"

    # -- reading ---------------------------------------------------------------------

    @abc.abstractmethod
    def read(self, path: str, start: int = 0, stop: int | None = None, *,
             limit: int | None = None, follow: bool = True) -> bytes:
        """Bytes ``start:stop`` of the object at ``path`` (a negative ``start``: the last
        ``-start`` bytes).

        Raises FileNotFoundError when there is no object, and
        :class:`~pipeline.errors.StorageError` when what is there is not a
        plain object (a directory, a FIFO, a device), holds more than
        ``limit`` bytes, or (with ``follow=False``, where there are links) is a
        link.
        """

    def read_ranges(self, path: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """Several byte ranges of one object, each ``(start, stop)``."""
        return [self.read(path, a, b) for a, b in ranges]

    def read_versioned(self, path: str, start: int = 0, stop: int | None = None
                       ) -> tuple[bytes, str]:
        """:meth:`read` and the version of the object the bytes came from."""
        stat = self.stat(path)
        if stat is None:
            raise FileNotFoundError(path)
        return self.read(path, start, stop), stat.version

    def read_many(self, requests: Sequence[tuple[str, int, int | None]]
                  ) -> list[tuple[bytes, str] | None]:
        """:meth:`read_versioned` of several ``(path, start, stop)`` (None for a missing
        object); a remote backend keeps them all in flight at once (default: one by one)."""
        out: list[tuple[bytes, str] | None] = []
        for path, start, stop in requests:
            try:
                out.append(self.read_versioned(path, start, stop))
            except FileNotFoundError:
                out.append(None)
        return out

    @abc.abstractmethod
    def stat(self, path: str) -> Stat | None:
        """What is at ``path``, or None when nothing is (a dangling link is something)."""

    @abc.abstractmethod
    def list(self, path: str) -> list[str]:
        """The names directly under ``path`` (empty when there is nothing)."""

    # -- writing ---------------------------------------------------------------------

    @abc.abstractmethod
    def write(self, path: str, data: bytes | memoryview) -> None:
        """Put ``data`` at ``path`` atomically, replacing any object there."""

    @abc.abstractmethod
    def create(self, path: str, data: bytes) -> bool:
        """Put ``data`` at ``path`` only if nothing is there; False if something is."""

    @abc.abstractmethod
    def replace(self, path: str, data: bytes, version: str) -> bool:
        """Put ``data`` at ``path`` only if the object there has ``version``; else False."""

    @abc.abstractmethod
    def remove(self, path: str) -> None:
        """Remove the object at ``path`` (nothing there: nothing to do)."""

    @abc.abstractmethod
    def remove_tree(self, path: str) -> None:
        """Remove ``path`` and everything under it."""

    def makedirs(self, path: str) -> None:
        """Make the directory ``path`` where the backend has directories (default: none)."""

    # -- for libraries ---------------------------------------------------------------

    @abc.abstractmethod
    def open_binary(self, path: str) -> BinaryIO:
        """A seekable binary file object reading ``path`` (closed by the caller)."""

    @abc.abstractmethod
    def zarr_store(self, path: str, read_only: bool) -> Any:
        """A zarr-python store rooted at ``path``."""

    def local_path(self, path: str) -> str | None:
        """The local file system path of ``path``, where there is one (default: None)."""
        return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Backend) and self.identity() == other.identity()

    def __hash__(self) -> int:
        return hash(self.identity())


__all__ = ["Backend", "Stat"]

"""Where bytes live: the one seam under every reader, writer and store.

A target or source, however the caller spells it (a path, ``file://``,
``local://``, ``memory://``, ``s3://`` with ``storage_options``), is parsed
once by :func:`locate` into a :class:`Location`: a backend (the local file
system, a file system of fsspec's, an object store) and the backend's own
canonical path, resolved as that backend's library resolves it.  Two
spellings of one object give equal locations, so a writer can tell that
``file://./scan.zarr`` is the ``scan.zarr`` it reads, and ``memory://a`` is
``memory:///a``.  Everything above this package asks a location; nothing
above it looks at the text of a URL.

Backends are listed in :data:`BACKENDS`, by URL scheme; a new one is one
module (a :class:`~pipeline.storage.base.Backend` subclass) and a line
here, proved by subclassing the store conformance tests.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from pipeline.errors import OptionValueError, StorageError
from pipeline.storage.base import Backend, Stat
from pipeline.storage.local import LocalBackend
from pipeline.storage.remote import FsspecBackend
from pipeline.storage.s3 import S3Backend

LOCAL = LocalBackend()
"""The local file system."""

LOCAL_SCHEMES = ("file", "local")
"""URL schemes naming local files (read as fsspec reads them: ``file://x`` is ``./x``)."""

LOCAL_OPTIONS = ("auto_mkdir",)
"""storage_options of fsspec's local file system, accepted (and moot) with ``file://`` URLs."""

BACKENDS: dict[str, Callable[[str, dict[str, Any]], Backend]] = {"s3": S3Backend}
"""Backends of URL schemes other than local files; any other scheme goes to fsspec."""

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*(?:::[A-Za-z][A-Za-z0-9+.\-]*)*)://(.*)$", re.S)


@dataclass(frozen=True)
class Location:
    """One object or directory of one backend: what every read and write is addressed to.

    Equal locations are the same place (backend identity and canonical path);
    :attr:`text` keeps the caller's spelling for messages.  A location pickles
    as its backend and path (the backend's options too, never a connection).
    """

    backend: Backend
    path: str
    given: str | None = field(default=None, compare=False)

    # -- naming ----------------------------------------------------------------------

    @property
    def text(self) -> str:
        """How the caller spelled it (or the URL, for derived locations)."""
        return self.given if self.given is not None else self.url

    @property
    def url(self) -> str:
        """The location as a URL (a plain path for local files)."""
        return self.backend.url(self.path)

    @property
    def local(self) -> str | None:
        """The local file system path, for local locations (else None)."""
        return self.backend.local_path(self.path)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path.rstrip("/"))

    @property
    def parent(self) -> Location:
        return Location(self.backend, posixpath.dirname(self.path.rstrip("/")) or "/")

    def child(self, *keys: str) -> Location:
        """The location ``keys`` (``/``-separated parts) below this one."""
        parts = [k.strip("/") for k in keys if k.strip("/")]
        if any(p in (".", "..") or "/../" in f"/{p}/" or "/./" in f"/{p}/" for p in parts):
            raise OptionValueError(f"{'/'.join(parts)!r}: keys below a location may not "
                                   "contain '.' or '..' parts")
        return Location(self.backend, "/".join([self.path.rstrip("/"), *parts]))

    __truediv__ = child

    def sibling(self, name: str) -> Location:
        """The location ``name`` beside this one (same parent)."""
        return self.parent.child(name)

    def contains(self, other: Location) -> bool:
        """Whether ``other`` is this location or lies below it."""
        if self.backend != other.backend:
            return False
        here = self.path.rstrip("/")
        return other.path == self.path or other.path.startswith(here + "/") or here == ""

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Location({self.url!r})"

    # -- the backend's operations, at this location ---------------------------------

    def read(self, start: int = 0, stop: int | None = None, *, limit: int | None = None,
             follow: bool = True) -> bytes:
        return self.backend.read(self.path, start, stop, limit=limit, follow=follow)

    def read_versioned(self, start: int = 0, stop: int | None = None) -> tuple[bytes, str]:
        return self.backend.read_versioned(self.path, start, stop)

    def read_ranges(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return self.backend.read_ranges(self.path, ranges)

    def stat(self) -> Stat | None:
        return self.backend.stat(self.path)

    def exists(self) -> bool:
        """Whether anything (an object, a directory, a dangling link) is here."""
        return self.backend.stat(self.path) is not None

    def is_dir(self) -> bool:
        found = self.backend.stat(self.path)
        return found is not None and found.is_dir

    def list(self) -> list[str]:
        return self.backend.list(self.path)

    def write(self, data: bytes | memoryview) -> None:
        self.backend.write(self.path, data)

    def create(self, data: bytes) -> bool:
        return self.backend.create(self.path, data)

    def replace(self, data: bytes, version: str) -> bool:
        return self.backend.replace(self.path, data, version)

    def remove(self) -> None:
        self.backend.remove(self.path)

    def remove_tree(self) -> None:
        self.backend.remove_tree(self.path)

    def makedirs(self) -> None:
        self.backend.makedirs(self.path)

    def open_binary(self) -> BinaryIO:
        return self.backend.open_binary(self.path)

    def openable(self) -> str | BinaryIO:
        """What a library that opens paths or file objects should get: the local path, or an
        open binary file (closed when the reader holding it drops it)."""
        return self.local if self.local is not None else self.open_binary()

    def zarr_store(self, read_only: bool = True) -> Any:
        """A zarr-python store rooted here."""
        return self.backend.zarr_store(self.path, read_only)

    def token(self) -> str:
        """A string that changes when the object here does (for deterministic dask names)."""
        from dask.base import tokenize

        try:
            found = self.stat()
        except OSError:
            found = None
        return str(tokenize(self.backend.identity(), self.path,
                            None if found is None else found.version))


def is_url(text: str) -> bool:
    """Whether ``text`` spells a URL (``scheme://...``) rather than a local path."""
    return _URL.match(text) is not None


def is_local(text: str) -> bool:
    """Whether ``text`` names a local file: a path, or a ``file://`` or ``local://`` URL."""
    m = _URL.match(text)
    return m is None or m[1].lower() in LOCAL_SCHEMES


def relative_path(text: str) -> str | None:
    """The relative local path ``text`` spells (a bare path or a ``file://`` URL), or None
    when it names no local path relative to anything: an absolute path, a URL of another
    scheme.  ``~`` counts as absolute."""
    if not is_local(text):
        return None
    m = _URL.match(text)
    rest = text if m is None else m[2]
    return None if os.path.isabs(os.path.expanduser(rest)) else rest


def locate(target: str | os.PathLike[str] | Location, storage_options: dict[str, Any] | None = None,
           *, base: str | None = None) -> Location:
    """The :class:`~pipeline.storage.Location` ``target`` names.

    Parameters
    ----------
    target
        A local path (relative ones to ``base``, default the working
        directory; ``~`` expanded; links followed), a ``file://`` or
        ``local://`` URL (read as fsspec reads it), any other URL fsspec or a
        backend of :data:`BACKENDS` knows, or a Location (returned as is).
    storage_options
        Options of a URL's file system (credentials, endpoint).  Refused for
        local files, where they would be silently ignored.
    base
        The directory relative local paths are relative to.
    """
    if isinstance(target, Location):
        return target
    if not isinstance(target, str | os.PathLike):
        raise OptionValueError(f"a path or URL is a string or path-like object, got "
                               f"{type(target).__name__} {target!r:.80}")
    text = os.fspath(target)
    if not isinstance(text, str):
        raise OptionValueError(f"a path or URL must be text, got {text!r:.80}")
    if "\x00" in text:
        raise OptionValueError(f"{text!r:.80}: a path cannot contain a NUL character")
    m = _URL.match(text)
    if m is None or m[1].lower() in LOCAL_SCHEMES:
        # fsspec's local file system's one option means nothing here (directories are made
        # as needed); anything else given for a local file would be silently ignored
        unused = {k: v for k, v in (storage_options or {}).items()
                  if m is None or k not in LOCAL_OPTIONS}
        if unused:
            raise OptionValueError(
                f"storage_options={unused!r} apply to URLs (s3://, memory://, ...), "
                f"not to the local path {text!r}; leave them out"
            )
        rest = relative_path(text)
        if rest is None:
            rest = text if m is None else m[2]
        elif base is not None:
            rest = os.path.join(base, rest)
        return Location(LOCAL, LOCAL.canonical(rest), text)
    scheme = m[1].lower()
    make = BACKENDS.get(scheme, FsspecBackend)
    backend = make(scheme, dict(storage_options or {}))
    try:
        path = backend.canonical(m[2])
    except ValueError as err:
        raise OptionValueError(f"{text!r} is not a URL {scheme}:// can resolve: {err}") from None
    return Location(backend, path, text)


__all__ = ["BACKENDS", "LOCAL", "Backend", "Location", "Stat", "StorageError", "is_local",
           "is_url", "locate", "relative_path"]

"""Any file system fsspec reaches (``memory://``, ``s3://``, ``gs://``, ``zip::``...) as a backend.

Paths are the file system's own (``fs._strip_protocol`` of the URL), so
``memory://a.zarr`` and ``memory:///a.zarr``, which fsspec resolves to one
object, are one location here too.  A backend pickles as its protocol and
options; the file system object is made where it is first used.

fsspec promises no conditional write across processes in general, so
:attr:`FsspecBackend.conditional` is False here, and ``create``/``replace``
are made atomic only within this process (one lock): enough for the memory
file system, which lives in one process anyway.  Object stores with real
conditional writes have their own backend (:mod:`pipeline.storage.s3`).
"""

from __future__ import annotations

import errno
import json
import threading
from typing import Any, BinaryIO

from ops import require
from pipeline.errors import StorageError
from pipeline.storage.base import Backend, Stat

_LOCK = threading.Lock()  # create and replace, atomic within this process

_WHERE = ("endpoint_url", "host", "port", "project", "account_name", "url")
"""storage_options naming which server a URL's bucket is on (credentials are not a place)."""

_VERSION_KEYS = ("ETag", "etag", "mtime", "LastModified", "modified", "created", "size")


def _where(options: dict[str, Any]) -> str:
    found = {k: options[k] for k in _WHERE if k in options}
    client = options.get("client_kwargs") or {}
    found.update({k: client[k] for k in _WHERE if k in client})
    return json.dumps(found, sort_keys=True, default=str)


class FsspecBackend(Backend):
    """A file system of fsspec's, by protocol and ``storage_options``."""

    conditional = False  # atomic within this process only (one lock)

    def __init__(self, protocol: str, storage_options: dict[str, Any] | None = None) -> None:
        self.protocol = self.scheme = protocol
        self.process_local = protocol == "memory"
        self.storage_options = dict(storage_options or {})
        self._fs: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fs": None}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.protocol}://>"

    @property
    def fs(self) -> Any:
        if self._fs is None:
            self._fs = self._filesystem(**self.storage_options)
        return self._fs

    def _filesystem(self, **options: Any) -> Any:
        fsspec = require("fsspec", "remote", f"reaching {self.protocol}:// locations")
        return fsspec.filesystem(self.protocol, **options)

    def identity(self) -> tuple[Any, ...]:
        return (self.protocol, _where(self.storage_options))

    def canonical(self, rest: str) -> str:
        return str(self.fs._strip_protocol(f"{self.protocol}://{rest}"))

    def url(self, path: str) -> str:
        return str(self.fs.unstrip_protocol(path))

    # -- reading ---------------------------------------------------------------------

    def read(self, path: str, start: int = 0, stop: int | None = None, *,
             limit: int | None = None, follow: bool = True) -> bytes:
        if limit is not None:
            found = self.stat(path)
            if found is not None and found.size > limit:
                raise StorageError(errno.EFBIG, f"{self.url(path)!r} holds {found.size} bytes, "
                                   f"more than the {limit} expected")
        try:
            return bytes(self.fs.cat_file(path, start=start or None, end=stop))
        except IsADirectoryError:
            raise StorageError(errno.EISDIR, f"{self.url(path)!r} is a directory, not a file") \
                from None

    def read_ranges(self, path: str, ranges: Any) -> list[bytes]:
        if not ranges:
            return []
        starts, stops = zip(*ranges)
        return [bytes(b) for b in self.fs.cat_ranges([path] * len(ranges), list(starts),
                                                      list(stops))]

    def _info(self, path: str) -> dict[str, Any]:
        return dict(self.fs.info(path))

    def _version_of(self, info: dict[str, Any]) -> str:
        """What changes when the object does, among what the file system says of it."""
        return json.dumps([(k, str(info[k])) for k in _VERSION_KEYS if k in info])

    def stat(self, path: str) -> Stat | None:
        try:
            info = self._info(path)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StorageError(err.errno or errno.EIO,
                               f"cannot look at {self.url(path)!r}: {err}") from None
        return Stat(int(info.get("size") or 0), info.get("type") == "directory",
                    self._version_of(info))

    def list(self, path: str) -> list[str]:
        try:
            entries = self.fs.ls(path, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted({str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries
                       if str(e).rstrip("/") != path.rstrip("/")})

    # -- writing ---------------------------------------------------------------------

    def write(self, path: str, data: bytes | memoryview) -> None:
        self.fs.pipe_file(path, bytes(data))

    def create(self, path: str, data: bytes) -> bool:
        with _LOCK:
            if self.fs.exists(path):
                return False
            self.fs.pipe_file(path, data)
            return True

    def replace(self, path: str, data: bytes, version: str) -> bool:
        with _LOCK:
            found = self.stat(path)
            if found is None or found.version != version:
                return False
            self.fs.pipe_file(path, data)
            return True

    def remove(self, path: str) -> None:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass

    def remove_tree(self, path: str) -> None:
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    # -- for libraries ---------------------------------------------------------------

    def open_binary(self, path: str) -> BinaryIO:
        return self.fs.open(path, "rb")  # type: ignore[no-any-return]

    def zarr_store(self, path: str, read_only: bool) -> Any:
        import zarr.storage

        return zarr.storage.FsspecStore.from_url(self.url(path), read_only=read_only,
                                                 storage_options=self.storage_options or None)


__all__ = ["FsspecBackend"]

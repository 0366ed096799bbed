"""Files anywhere the storage seam reaches, for readers whose library takes a file object.

A local path stays a path (h5py and tifffile open those fastest themselves);
a URL (``file://``, ``memory://``, ``s3://``...) is opened through its
backend as a seekable binary file object.  A series keeps the URL and its
``storage_options``, never the file object, so it pickles as a recipe.
"""

from __future__ import annotations

from typing import Any

from pipeline import storage


def is_url(path: str) -> bool:
    """Whether ``path`` is a URL rather than a local path."""
    return storage.is_url(path)


def openable(path: str, storage_options: dict[str, Any] | None = None) -> Any:
    """``path`` itself for a local file, an open binary file object for a URL.

    The file object is closed when the reader holding it is dropped, so
    callers need not track it.
    """
    location = storage.locate(path, storage_options)
    return path if location.local is not None and not storage.is_url(path) else \
        location.openable()


def open_binary(path: str, storage_options: dict[str, Any] | None = None) -> Any:
    """A binary file object for a local path or a URL (a context manager either way)."""
    return storage.locate(path, storage_options).open_binary()


def starts_with(path: str, signature: bytes,
                storage_options: dict[str, Any] | None = None) -> bool:
    """Whether the file at ``path`` begins with ``signature``; a missing file is an error."""
    return storage.locate(path, storage_options).read(0, len(signature)) == signature


def exists(path: str, storage_options: dict[str, Any] | None = None) -> bool:
    """Whether a local path or a URL names something that exists."""
    return storage.locate(path, storage_options).exists()


def token(path: str, storage_options: dict[str, Any] | None = None) -> str:
    """A string that changes when the file does: the one rule every file-backed series uses."""
    return storage.locate(path, storage_options).token()


__all__ = ["exists", "is_url", "open_binary", "openable", "starts_with", "token"]

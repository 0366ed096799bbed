"""Files anywhere fsspec reaches, for readers whose library takes a file object (h5py, tifffile).

A local path stays a path (the libraries open those fastest themselves); a
URL (``file://``, ``memory://``, ``s3://``...) is opened with fsspec as a
seekable binary file object.  A series keeps the URL and its
``storage_options``, never the file object, so it pickles as a recipe.
"""

from __future__ import annotations

import os
from typing import Any

from pipeline.errors import OptionValueError


def is_url(path: str) -> bool:
    """Whether ``path`` is an fsspec URL rather than a local path."""
    return "://" in path


def _fs(url: str, storage_options: dict[str, Any] | None) -> tuple[Any, str]:
    from ops import require

    fsspec = require("fsspec", "remote", f"reading {url!r}")
    return fsspec.core.url_to_fs(url, **(storage_options or {}))


def openable(path: str, storage_options: dict[str, Any] | None = None) -> Any:
    """``path`` itself for a local file, an open binary file object for a URL.

    The file object is closed when the reader holding it is dropped (fsspec
    files close themselves when garbage-collected), so callers need not track it.
    """
    if not is_url(path):
        if storage_options:
            raise OptionValueError(
                f"storage_options={storage_options!r} apply to URLs (file://, s3://, ...), "
                f"not to the local path {path!r}"
            )
        return path
    fs, fs_path = _fs(path, storage_options)
    return fs.open(fs_path, "rb")


def open_binary(path: str, storage_options: dict[str, Any] | None = None) -> Any:
    """A binary file object for a local path or a URL (a context manager either way)."""
    import builtins

    if not is_url(path):
        return builtins.open(path, "rb")
    return openable(path, storage_options)


def starts_with(path: str, signature: bytes,
                storage_options: dict[str, Any] | None = None) -> bool:
    """Whether the file at ``path`` begins with ``signature``; a missing file is an error."""
    with open_binary(path, storage_options) as fh:
        return bool(fh.read(len(signature)) == signature)


def exists(path: str, storage_options: dict[str, Any] | None = None) -> bool:
    """Whether a local path or a URL names something that exists."""
    if not is_url(path):
        return os.path.lexists(path)
    fs, fs_path = _fs(path, storage_options)
    return bool(fs.exists(fs_path))


def token(path: str, storage_options: dict[str, Any] | None = None) -> str:
    """A string that changes when the file does: the one rule every file-backed series uses.

    A local file: its absolute path, mtime and size (None for a file that is
    gone); a URL: the URL and what its file system says of the file.
    """
    from dask.base import tokenize

    if not is_url(path):
        try:
            stat = os.stat(path)
            stamp: Any = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        return tokenize(os.path.abspath(path), stamp)
    fs, fs_path = _fs(path, storage_options)
    try:
        info = fs.info(fs_path)
    except (OSError, ValueError):
        info = {}
    # the fields object stores and file systems use to say a file changed
    keys = ("size", "mtime", "modified", "LastModified", "ETag", "etag", "created")
    return tokenize(path, sorted((k, str(info[k])) for k in keys if k in info))


__all__ = ["exists", "is_url", "open_binary", "openable", "starts_with", "token"]

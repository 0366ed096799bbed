"""Disk-backed results: a scratch directory, and series materialised in it.

``pipeline.materialize(series)`` computes a series into a temporary Zarr store
in the scratch directory and returns it opened as a series; the store is
removed when that object is garbage-collected.  ``pipeline.write`` of it to a
path of your own is an ordinary copy, which survives.  ``series.load()`` goes
the other way: an in-memory copy of any series.

Every scratch entry carries its owner in its name (pid, host, the process's
start time): the next use of a scratch directory removes entries whose owner
has died (killed, crashed, or exited before it could clean up), never those
of a live process or of another host.  On a normal exit a process removes
what it still owns.

A materialised series pickles as a recipe (its store's path), like any Zarr
series: an unpickled copy does not own the store, and stops working once the
original is collected.  Keep the original alive while copies are in use (for
instance while a dask.distributed graph over it runs), or ``pipeline.write``
it to a path that outlives it.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import uuid
import weakref
from typing import Any

from pipeline import liveness
from pipeline.errors import OptionValueError
from pipeline.io import write
from pipeline.series import ImageSeries

_scratch_dir: str | None = None


def set_scratch_dir(path: str | os.PathLike[str] | None) -> None:
    """Where temporary stores go (made if missing); ``None`` resets it to the system's temp dir."""
    global _scratch_dir
    if path is None:
        _scratch_dir = None
        return
    if not isinstance(path, str | os.PathLike):
        raise OptionValueError(f"a scratch directory is a path (str or path-like) or None, got "
                               f"{type(path).__name__} {path!r:.80}")
    text = os.fspath(path)
    if os.path.exists(text) and not os.path.isdir(text):
        raise NotADirectoryError(f"scratch directory {text!r} exists and is not a directory")
    os.makedirs(text, exist_ok=True)
    _scratch_dir = text


def get_scratch_dir() -> str:
    """The directory temporary stores go to (default: the system's temporary directory)."""
    return _scratch_dir if _scratch_dir is not None else tempfile.gettempdir()


SCRATCH_PREFIX = "lazyseries-"
"""Every scratch entry's name starts with this; nothing else in a scratch directory is touched."""

_OWNER = re.compile(r"\.p(\d+)\.t(\d+)\.h([0-9a-f]{8})\.")
_owned: set[str] = set()  # this process's entries, removed at exit


def _host() -> str:
    return hashlib.sha1(liveness.host().encode()).hexdigest()[:8]


def owner_tag() -> str:
    """``.p<pid>.t<start>.h<host>.``: what a scratch name says about its owner."""
    _, pid, ticks = liveness.me()
    return f".p{pid}.t{ticks}.h{_host()}."


def owner_alive(name: str) -> bool:
    """Whether the process that made scratch entry ``name`` still runs (or may, elsewhere).

    Entries without an owner tag, or made on another host, count as alive:
    they are not ours to judge.
    """
    m = _OWNER.search(name)
    if m is None or m[3] != _host():
        return True
    return not liveness.gone(liveness.host(), int(m[1]), int(m[2]))


def sweep_scratch(where: str | os.PathLike[str] | None = None) -> list[str]:
    """Remove the scratch entries in ``where`` whose owner died; return their paths."""
    root = os.fspath(where) if where is not None else get_scratch_dir()
    try:
        names = [n for n in os.listdir(root) if n.startswith(SCRATCH_PREFIX)]
    except OSError:
        return []
    removed = []
    for name in names:
        if not owner_alive(name):
            path = os.path.join(root, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.remove(path)
            removed.append(path)
    return removed


def scratch_name(prefix: str, scratch_dir: str | os.PathLike[str] | None = None) -> str:
    """A new, not yet existing path for a scratch entry of this process (see :func:`claim_scratch`)."""
    where = os.fspath(scratch_dir) if scratch_dir is not None else get_scratch_dir()
    return os.path.join(where, f"{prefix}{owner_tag()}{uuid.uuid4().hex[:12]}")


def claim_scratch(path: str) -> str:
    """Make the directory ``path`` (from :func:`scratch_name`), sweeping dead owners' entries first."""
    where = os.path.dirname(path)
    os.makedirs(where, exist_ok=True)
    sweep_scratch(where)
    os.makedirs(path, mode=0o700, exist_ok=True)  # private, as mkdtemp's
    _owned.add(path)
    return path


def make_scratch(prefix: str, scratch_dir: str | os.PathLike[str] | None = None) -> str:
    """A new private directory in ``scratch_dir`` (default: :func:`get_scratch_dir`).

    Its name records this process as its owner; making it first removes the
    entries of owners that died.
    """
    return claim_scratch(scratch_name(prefix, scratch_dir))


def remove_scratch(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    _owned.discard(path)


@atexit.register
def remove_owned_scratch() -> None:
    """Remove every scratch entry this process still owns (run at exit)."""
    for path in list(_owned):
        remove_scratch(path)


def materialize(series: ImageSeries, **write_options: Any) -> ImageSeries:
    """``series`` computed into a temporary Zarr store and opened from it.

    The store lives in a private directory under :func:`get_scratch_dir` and
    is removed when the returned series is garbage-collected (series built
    on it, such as ``m[2:5]`` or ``m.process(...)``, keep it alive).
    ``write_options`` go to the Zarr writer (``codec``, ``chunks``, ...).
    """
    home = make_scratch("lazyseries-materialized-")
    try:
        result = write(series, os.path.join(home, "series.zarr"), format="zarr", **write_options)
    except BaseException:
        remove_scratch(home)
        raise
    weakref.finalize(result, remove_scratch, home)
    return result

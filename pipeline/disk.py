"""Disk-backed results: a scratch directory, materialised series, in-memory copies.

``series.materialize()`` computes a series into a temporary Zarr store in the
scratch directory and returns it opened as a series; the store is removed
when that object is garbage-collected.  ``pipeline.write`` of it to a path of
your own is an ordinary copy, which survives.  ``series.load()`` goes the
other way: an in-memory copy of any series.

A materialised series pickles as a recipe (its store's path), like any Zarr
series: an unpickled copy does not own the store, and stops working once the
original is collected.  Keep the original alive while copies are in use (for
instance while a dask.distributed graph over it runs), or ``pipeline.write``
it to a path that outlives it.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import weakref
from typing import Any

import numpy as np

from pipeline.series import ImageSeries

_scratch_dir: str | None = None


def set_scratch_dir(path: str | os.PathLike[str] | None) -> None:
    """Where temporary stores go (made if missing); ``None`` resets it to the system's temp dir."""
    global _scratch_dir
    if path is None:
        _scratch_dir = None
        return
    text = os.fspath(path)
    if os.path.exists(text) and not os.path.isdir(text):
        raise NotADirectoryError(f"scratch directory {text!r} exists and is not a directory")
    os.makedirs(text, exist_ok=True)
    _scratch_dir = text


def get_scratch_dir() -> str:
    """The directory temporary stores go to (default: the system's temporary directory)."""
    return _scratch_dir if _scratch_dir is not None else tempfile.gettempdir()


def make_scratch(prefix: str, scratch_dir: str | os.PathLike[str] | None = None) -> str:
    """A new private directory in ``scratch_dir`` (default: :func:`get_scratch_dir`)."""
    where = os.fspath(scratch_dir) if scratch_dir is not None else get_scratch_dir()
    os.makedirs(where, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix, dir=where)


def remove_scratch(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def materialize(series: ImageSeries, **write_options: Any) -> ImageSeries:
    """``series`` computed into a temporary Zarr store and opened from it.

    The store lives in a private directory under :func:`get_scratch_dir` and
    is removed when the returned series is garbage-collected (series built
    on it, such as ``m[2:5]`` or ``m.process(...)``, keep it alive).
    ``write_options`` go to the Zarr writer (``codec``, ``chunks``, ...).
    """
    from pipeline.io import write

    home = make_scratch("lazyseries-materialized-")
    try:
        result = write(series, os.path.join(home, "series.zarr"), format="zarr", **write_options)
    except BaseException:
        remove_scratch(home)
        raise
    weakref.finalize(result, remove_scratch, home)
    return result


def load(series: ImageSeries) -> ImageSeries:
    """An in-memory copy of ``series``: its frames in one numpy array, its metadata copied."""
    from pipeline.axes import AXIS_LETTERS
    from pipeline.formats.array import from_array

    frames = np.asarray(series)
    axes = series.axes if set(series.axes) <= set(AXIS_LETTERS) else None
    return from_array(frames, metadata=copy.deepcopy(series.metadata), axes=axes)


def in_memory(series: ImageSeries) -> bool:
    """True when reading a frame of ``series`` touches no disk.

    Numpy-backed array series: True.  Dask-backed ones: False (their graph
    may read anything).  A processed series: as its source.  An
    :class:`~pipeline.stack.ImageStack`: True while none of its frames is
    spilled to disk.  Any other source: its ``_in_memory()`` if it has one,
    else False.
    """
    from pipeline.formats.array import ArraySeries
    from pipeline.processed import ProcessedImageSeries

    if isinstance(series, ProcessedImageSeries):
        return in_memory(series.source)
    if isinstance(series, ArraySeries):
        return isinstance(series.data, np.ndarray)
    probe = getattr(series, "_in_memory", None)
    return bool(probe()) if probe is not None else False

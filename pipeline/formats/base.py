"""What every file-backed series shares: one read hook, one pickling rule, one open file.

A format reading files subclasses :class:`FileSeries`.  As it opens the file
it sets the recipe and the header:

``_path`` (and ``_storage_options`` for a URL)
    where the frames are; :meth:`FileSeries.options` gives the reader
    options that, with the path, reopen the same series;
``_nframes``, ``_shape``, ``_dtype``
    the header (or it overrides ``__len__``, ``shape``, ``dtype``);
``_meta``
    the metadata, unless it implements :meth:`FileSeries.read_metadata`,
    which reads it on first use.

and owes **one read hook**, the :meth:`~pipeline.series.ImageSeries.read` of
every series: ``read(frames, region)``, the frames asked for (a step-1 slice or
an array of indices) restricted to ``region``, reading only what they need
where the file allows.  A reader that can only decode one whole frame after
another declares so and writes the frame's decoding alone::

    @frame_by_frame
    def read(self, j: int, region: Region) -> np.ndarray:
        return decode(self.handle, j)[region_index(region)]

**One pickling rule**: a series pickles as a recipe, its path, options and
header.  What it holds open never travels: the file handle (opened again by
:attr:`FileSeries.handle` on first use where it lands), a file the caller
lent it (:meth:`FileSeries.borrow`), what was read from the handle
(:meth:`FileSeries.from_handle`) and the caches the format names in
:attr:`FileSeries.transient`.  Metadata travels only where the format cannot
read it again.  :meth:`FileSeries.close` drops the same open state for good:
a closed series refuses every read.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, overload

import numpy as np

from ops import Region
from pipeline.formats import _fsspec
from pipeline._selection import FrameNumbers, FrameSelection, frame_numbers
from pipeline.series import ImageSeries

OPEN_STATE = ("_handle", "_closer", "_borrowed", "_kept")
"""What every file series holds open (set to None by pickling and by ``close``)."""


def output(indices: FrameNumbers | Sequence[int], region: Region, dtype: np.dtype) -> np.ndarray:
    """The array a read of ``indices`` restricted to ``region`` fills."""
    return np.empty((len(indices), *(hi - lo for lo, hi in region)), dtype)


class FileSeries(ImageSeries):
    """A series read from a file (or a set of files) at ``_path``; see the module's docstring.

    Implementers may also declare
    -----------------------------
    :meth:`options`
        Reader options beyond the path (default none).
    :meth:`stamped_files`
        The files whose change makes new data (default: the path).
    :meth:`open_handle`
        The file opened for reads, kept by :attr:`handle` (default: none kept).
    :meth:`read_metadata`
        The metadata read again from the file; then it never travels.
    :attr:`transient`
        Attributes of the format's own caches, left behind by pickling.
    """

    format_name: ClassVar[str]
    """The registered name of the format, as descriptions give it."""

    transient: ClassVar[tuple[str, ...]] = ()
    """The format's own caches: left behind by pickling and :meth:`close` (set to None)."""

    _path: str
    _storage_options: dict[str, Any] | None = None
    _nframes: int
    _shape: tuple[int, ...]
    _dtype: np.dtype
    _meta: dict[str, Any] | None = None
    _handle: Any = None
    _closer: contextlib.ExitStack | None = None
    _borrowed: Any = None
    _kept: tuple[Any, dict[Any, Any]] | None = None
    _close_borrowed: bool = False

    # -- the header ------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The path (or URL) the series reads."""
        return self._path

    def __len__(self) -> int:
        return self._nframes

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def metadata(self) -> dict[str, Any]:
        if self._meta is None:  # not read yet, or left behind by pickling
            self._meta = self.read_metadata()
        return self._meta

    def read_metadata(self) -> dict[str, Any]:
        """The metadata, read from the file again (a format that can implements it)."""
        raise NotImplementedError

    def _rereads_metadata(self) -> bool:
        return type(self).read_metadata is not FileSeries.read_metadata

    @property
    def frame_chunk(self) -> int | None:
        # a frame-by-frame reader decodes whole frames: one per dask chunk, none decoded twice
        return 1 if isinstance(type(self).read, frame_by_frame) else None

    # -- the recipe ------------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        """The reader options beyond the path, as a JSON-able dict (default: none)."""
        return {}

    def stamped_files(self) -> Sequence[str]:
        """The files whose change changes the data (default: the path itself)."""
        return (self._path,)

    def _dask_token(self) -> str:
        from dask.base import tokenize

        # the one rule for every format: the files' paths, sizes and mtimes, and the options
        stamps = [_fsspec.token(f, self._storage_options) for f in self.stamped_files()]
        return str(tokenize(self.format_name, stamps, sorted(self.options().items())))

    def description(self) -> dict[str, Any]:
        return {"format": self.format_name, "path": self._path, **self.options()}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in (*OPEN_STATE, *self.transient):
            if name in state:
                state[name] = None
        state.pop("_lock", None)  # a new one where it lands
        if self._rereads_metadata():
            state["_meta"] = None  # metadata arrays stay behind; read again if asked for
        return state

    # -- the open file ---------------------------------------------------------------

    def open_handle(self, stack: contextlib.ExitStack) -> Any:
        """The file opened for reading, kept by :attr:`handle`.

        Whatever must be closed with it is entered into ``stack`` (the handle
        itself, the fsspec file under it), which :meth:`close` closes.
        """
        raise NotImplementedError

    @property
    def lock(self) -> threading.Lock:
        """The lock reads through :attr:`handle` hold (one handle per series)."""
        found = self.__dict__.get("_lock")
        # setdefault is atomic: threads racing here all get the same lock
        return found if found is not None else self.__dict__.setdefault("_lock", threading.Lock())

    @property
    def handle(self) -> Any:
        """The caller's file while it is open, else this series' own, opened now if need be.

        Use it under :attr:`lock`.  The own handle is closed by :meth:`close`, or
        when the series is collected.
        """
        borrowed = self._borrowed
        if borrowed is not None and borrowed:  # an h5py File is true while open
            return borrowed
        if self._handle is None:
            with contextlib.ExitStack() as stack:
                handle = self.open_handle(stack)
                self._closer = stack.pop_all()
            self._handle = handle
        return self._handle

    def borrow(self, file: Any, close_when_finished: bool = False) -> None:
        """Read through ``file``, the caller's open file, while the caller keeps it open.

        Once it is closed, :attr:`handle` opens the file by name.  The caller's
        file is closed by :meth:`close` (or when the series is collected) only
        with ``close_when_finished``.
        """
        self._borrowed = file
        self._close_borrowed = bool(close_when_finished)

    def from_handle(self, key: Any, make: Callable[[Any], Any]) -> Any:
        """``make(handle)``, kept until the handle changes (use under :attr:`lock`).

        For what is read from the open file and costs more than a frame to
        find again: h5py groups and datasets, indexes.
        """
        handle = self.handle
        kept = self._kept
        if kept is None or kept[0] is not handle:
            kept = self._kept = (handle, {})
        if key not in kept[1]:
            kept[1][key] = make(handle)
        return kept[1][key]

    def close(self) -> None:
        """Close the file, and the caller's if it was lent to close; reading the series
        afterwards raises :class:`~pipeline.errors.ClosedSeriesError`."""
        super().close()
        self._release()

    def _release(self) -> None:
        """Close what the series holds open; the next read opens it again."""
        closer, borrowed = self._closer, self._borrowed
        for name in (*OPEN_STATE, *self.transient):
            setattr(self, name, None)
        if closer is not None:
            closer.close()
        if borrowed is not None and self._close_borrowed and borrowed:  # h5py: true while open
            borrowed.close()

    def __del__(self) -> None:
        # a collected series closes what it holds open (hexrd's adapters do too); a finaliser
        # must not raise, so a failure is said as a warning
        try:
            self._release()
        except Exception as err:  # noqa: BLE001  (whatever the library raises, say it)
            with contextlib.suppress(Exception):  # at interpreter exit warnings may be gone
                warnings.warn(f"{type(self).__name__} of {self.__dict__.get('_path', '?')!r} "
                              f"could not close its file: {err!r}", UserWarning, stacklevel=2)


def readable(path: str, storage_options: dict[str, Any] | None, stack: contextlib.ExitStack
             ) -> Any:
    """``path`` itself for a local file; for a URL, an fsspec file object closed with ``stack``."""
    where = _fsspec.openable(path, storage_options)
    return where if isinstance(where, str) else stack.enter_context(where)


class frame_by_frame:  # a decorator, named as one (like property)
    """Declares a reader that decodes one whole frame after another.

    ``read_frame(series, j, region)`` gives frame ``j`` restricted to
    ``region``; the series' read hook calls it for each frame asked for, and
    its :attr:`~pipeline.series.ImageSeries.frame_chunk` is 1.
    """

    def __init__(self, read_frame: Callable[[Any, int, Region], np.ndarray]) -> None:
        self.read_frame = read_frame
        functools.update_wrapper(self, read_frame)

    @overload
    def __get__(self, series: None, owner: type | None = None) -> frame_by_frame: ...

    @overload
    def __get__(self, series: FileSeries, owner: type | None = None
                ) -> Callable[[FrameSelection, Region], np.ndarray]: ...

    def __get__(self, series: FileSeries | None, owner: type | None = None) -> Any:
        return self if series is None else types.MethodType(self, series)

    def __call__(self, series: FileSeries, frames: FrameSelection, region: Region) -> np.ndarray:
        indices = frame_numbers(frames, len(series))
        out = output(indices, region, series.dtype)
        for k, j in enumerate(indices):
            out[k] = self.read_frame(series, int(j), region)
        return out


__all__ = ["FileSeries", "FrameNumbers", "frame_by_frame", "frame_numbers", "output",
           "readable"]

"""An HDF5 dataset appended while it is read (SWMR) as a live series: the ``hdf5-live`` format.

``pipeline.open("scan.h5", format="hdf5-live", path="/entry/data", dataname="data")``
follows a dataset whose first axis grows: a detector's writer appending frames
under HDF5's single-writer/multiple-reader mode (the file opened with
``swmr=True``, ``libver="latest"``), or one that closes and reopens the file
between frames.  Each :meth:`LiveHDF5Series.refresh` looks at the dataset's
length again.  The series ends after ``count`` frames, when ``marker`` (a
scalar dataset beside the frames, which a SWMR writer may set, or an attribute
of the frames or their group) holds a true value, or after ``idle`` seconds
without a new frame.

Its description is the ``hdf5`` format's, so a store written from it records
the file, which reopens offline once complete.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import time
from typing import Any

import numpy as np

from ops import Region
from pipeline.errors import MissingDatasetError, NotASeriesError, NotMyFormat
from pipeline.formats import _h5, _nexus
from pipeline.formats._plugin import Format
from pipeline.formats.base import FileSeries
from pipeline.formats.live.growth import DEFAULT_IDLE, Growing, Watch, end_rule
from pipeline.series import FrameSelection, region_index

WRITER_HOLDS = ("already open for write", "unable to lock file")
"""What HDF5 says opening a file that a writer holds without SWMR."""

WRITER_SWMR_WAIT = 10.0
"""Seconds to wait for a writer that holds the file open to turn SWMR mode on (an h5py
writer creates its datasets first), bounded also by the series' ``idle``."""


class LiveHDF5Series(Growing, FileSeries):
    """Frames of an HDF5 dataset as they are appended (see the module's docstring).

    Parameters
    ----------
    filename
        The HDF5 file.
    path, dataname
        The group holding the frames and the dataset's name, as for the
        ``hdf5`` format (no ``path``: the only dataset called ``dataname``).
    count, marker, idle
        When the series is complete (:class:`~.growth.EndRule`).
    """

    format_name = "hdf5-live"
    transient = ("_swmr",)

    def __init__(self, filename: str | os.PathLike[str], path: str | None = None,
                 dataname: str = "images", count: int | None = None, marker: str | None = None,
                 idle: float = DEFAULT_IDLE) -> None:
        self._path = os.fspath(filename)
        if not _h5.is_hdf5(self._path):
            raise NotMyFormat(f"{self._path!r} is not an HDF5 file")
        self._rule = end_rule(count, marker, idle)
        self._watch = Watch(self._rule)
        self._dataname = dataname
        with self.lock:
            f = self.handle
            self._group = path if path is not None else _only_group(f, dataname, self._path)
            ds = _frames(f, self._group, dataname, self._path)
            self._shape = tuple(int(n) for n in ds.shape[1:])
            self._dtype = np.dtype(ds.dtype)
            self._chunks = ds.chunks
        self._nframes = 0
        self.refresh()

    def open_handle(self, stack: contextlib.ExitStack) -> Any:
        h5py = _h5.h5py("the 'hdf5-live' format")
        deadline = time.monotonic() + min(self._rule.idle, WRITER_SWMR_WAIT)
        while True:
            try:  # a file its writer holds in SWMR mode
                f = h5py.File(self._path, "r", libver="latest", swmr=True)
                self._swmr = True
                break
            except OSError:
                pass
            try:  # one written without SWMR: opened again at each look
                f = _h5.open_file(self._path, "the 'hdf5-live' format")
                self._swmr = False
                break
            except NotASeriesError as err:
                # its writer holds it and has not turned SWMR on yet (or was between two
                # writes as the SWMR open looked): look again, for a bounded time
                held = any(words in str(err) for words in WRITER_HOLDS)
                if not held or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return stack.enter_context(f)

    @property
    def _dspath(self) -> str:
        return posixpath.join(self._group, self._dataname)

    # -- the live protocol -----------------------------------------------------------

    def refresh(self) -> int:
        with self.lock:
            if not self.__dict__.get("_swmr"):
                self.close()  # without SWMR, only a file opened again shows new frames
            f = self.handle
            ds = self.from_handle(self._dspath, lambda f: f[self._dspath])
            if self._swmr:
                ds.refresh()
            n = int(ds.shape[0])
            done = self._marker(f)
        before = self._nframes
        self._nframes = self._watch.observe(n, done)
        if self._nframes != before or self.ended:
            self._meta = None  # read again: a writer may add to it before it ends
        return self._nframes

    def _marker(self, f: Any) -> bool:
        name = self._rule.marker
        if name is None:
            return False
        group = f[self._group]
        node = group.get(name)
        if node is not None and hasattr(node, "shape"):
            if self._swmr:
                node.refresh()
            value = node[()]
        else:
            value = f[self._dspath].attrs.get(name, group.attrs.get(name))
        return bool(np.all(np.asarray(value))) if value is not None else False

    @property
    def ended(self) -> bool:
        return self._watch.ended_by is not None

    @property
    def ended_by(self) -> str | None:
        return self._watch.ended_by

    @property
    def expected(self) -> int | None:
        return self._rule.count

    # -- the series ------------------------------------------------------------------

    def read_metadata(self) -> dict[str, Any]:
        with self.lock:
            group = self.from_handle(self._group, lambda f: f[self._group])
            return _h5.read_attrs(group.attrs, group)

    @property
    def frame_chunk(self) -> int | None:
        return int(self._chunks[0]) if self._chunks else None

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        index = () if region == self.spec.full_region else region_index(region)
        with self.lock:
            ds = self.from_handle(self._dspath, lambda f: f[self._dspath])
            return _h5.read_frames(ds, frames, index, region, self._dtype)

    def options(self) -> dict[str, Any]:
        return {"group": self._group, "dataname": self._dataname}

    def description(self) -> dict[str, Any]:
        # the offline format's: a store written live records the file, reopened offline
        return {"format": "hdf5", "path": self._path, **self.options()}

    def __repr__(self) -> str:
        state = f"ended ({self.ended_by})" if self.ended else "growing"
        return (f"<LiveHDF5Series {self._path!r}:{self._dspath}: {len(self)} frames of "
                f"{self.shape} {self.dtype}, {state}>")


def _only_group(f: Any, dataname: str, filename: str) -> str:
    found = _nexus.datasets_named(f, dataname)
    if len(found) != 1:
        raise NotASeriesError(f"{filename!r}: found {len(found)} datasets named {dataname!r} "
                              f"({found}); pass path= (the group) and dataname= to choose one")
    return "/" + found[0].rpartition("/")[0]


def _frames(f: Any, group: str, dataname: str, filename: str) -> Any:
    node = f.get(posixpath.join(group, dataname))
    if node is None or not hasattr(node, "shape"):
        raise MissingDatasetError(f"{filename!r} has no dataset "
                                  f"{posixpath.join(group, dataname)!r}; pass path= (the group) "
                                  "and dataname=")
    if node.ndim < 3:
        raise NotASeriesError(f"{filename!r}: dataset {node.name!r} has shape {node.shape}; a "
                              "growing series has frames along a first axis (3 or more "
                              "dimensions)")
    return node


def open(filename: str | os.PathLike[str], path: str | None = None, dataname: str = "images",
         count: int | None = None, marker: str | None = None, idle: float = DEFAULT_IDLE
         ) -> LiveHDF5Series:
    """The dataset ``path/dataname`` of ``filename`` as it grows."""
    return LiveHDF5Series(filename, path=path, dataname=dataname, count=count, marker=marker,
                          idle=idle)


class LiveHDF5Format(Format):
    """An HDF5 dataset appended while it is read (SWMR): :func:`open`."""

    name = "hdf5-live"
    aliases = ("hdf5-swmr",)
    requires = ("h5py",)
    extra = "hdf5"
    open = staticmethod(open)

    def sniff(self, path: str) -> bool:
        return False  # a file is live only when the caller says so


FORMAT = LiveHDF5Format()

__all__ = ["FORMAT", "LiveHDF5Format", "LiveHDF5Series", "open"]

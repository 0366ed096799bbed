"""HDF5 files laid out as hexrd writes them: a group holding a frames dataset, metadata as attrs.

``open(f, "hdf5", path="imageseries", dataname="images")`` reads the dataset
``/imageseries/images``: a 2-d dataset is one frame, a 3-d (or higher) one has
frames on axis 0.  The group's attributes are the metadata.  Only the frames
and the region asked for are read from the file.  A file without hexrd's
layout opens the frames its NeXus attributes point to (:mod:`._nexus`).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from typing import Any

import numpy as np

from ops import Region
from pipeline import _json
from pipeline.errors import MissingDatasetError, NotASeriesError, NotMyFormat
from pipeline.formats import _fsspec, _h5, _nexus
from pipeline.formats._encoding import FileEncoding
from pipeline.formats._filewrite import frame_metadata
from pipeline.formats._plugin import Format
from pipeline.formats.base import FileSeries, frame_numbers, readable
from pipeline.series import FrameSelection, ImageSeries, counted, region_index

DEFAULT_GROUP = "imageseries"
DEFAULT_DATANAME = "images"


class HDF5Series(FileSeries):
    """Frames of one HDF5 dataset.

    Parameters
    ----------
    filename
        The HDF5 file, or an open ``h5py.File`` (or group) to read through
        while it stays open (hexrd's ``open(f, "hdf5", path=...)``).
    path
        The group holding the dataset (hexrd's ``path``), relative to an open
        group given as ``filename``; ``None`` finds the only dataset called
        ``dataname`` in the file.
    dataname
        The dataset's name inside the group (default ``"images"``).
    close_when_finished
        Close an open file given as ``filename`` when this series is closed
        or collected (hexrd's option; default False: the caller's file stays
        the caller's).
    storage_options
        Passed to fsspec when ``filename`` is a URL (``s3://``, ``memory://``...).
    """

    format_name = "hdf5"

    def __init__(self, filename: Any, path: str | None = None,
                 dataname: str = DEFAULT_DATANAME, close_when_finished: bool = False,
                 storage_options: dict[str, Any] | None = None) -> None:
        self._storage_options = storage_options
        self._dataname = dataname
        with contextlib.ExitStack() as stack:
            if _h5.is_h5_node(filename):
                self.borrow(filename.file, close_when_finished)
                self._path, base = _h5.node_location(filename, None)
                f = filename.file
                path = None if path is None else posixpath.join(base, path)
            else:
                self._path = os.fspath(filename)
                if not (_fsspec.starts_with(self._path, _h5.SIGNATURE, storage_options)
                        if _fsspec.is_url(self._path) else _h5.h5py().is_hdf5(self._path)):
                    raise NotMyFormat(f"{self._path!r} is not an HDF5 file")
                f = self.open_handle(stack)
            self._read_header(f, path)

    def _read_header(self, f: Any, path: str | None) -> None:
        self._group = path if path is not None else _find_group(f, self._dataname, self._path)
        ds = _dataset(f, self._group, self._dataname, self._path)
        _nexus.check_virtual_sources(ds, self._path)
        self._ndim = ds.ndim
        self._dshape = tuple(int(n) for n in ds.shape)
        self._dtype = np.dtype(ds.dtype)
        self._chunks = ds.chunks
        self._nframes = 1 if self._ndim == 2 else self._dshape[0]
        self._shape = self._dshape if self._ndim == 2 else self._dshape[1:]
        self._meta = _h5.read_attrs(f[self._group].attrs, f[self._group])

    def open_handle(self, stack: contextlib.ExitStack) -> Any:
        where = readable(self._path, self._storage_options, stack)
        return stack.enter_context(_h5.open_file(where, "the 'hdf5' format", name=self._path))

    def read_metadata(self) -> dict[str, Any]:
        with self.lock:
            group = self.from_handle(self._group, lambda f: f[self._group])
            return _h5.read_attrs(group.attrs, group)

    @property
    def frame_chunk(self) -> int | None:
        if self._ndim == 2:
            return 1
        return int(self._chunks[0]) if self._chunks else None

    @property
    def storage_chunks(self) -> tuple[int, ...] | None:
        if not self._chunks:  # a contiguous dataset
            return None
        return (1, *self._chunks) if self._ndim == 2 else tuple(int(n) for n in self._chunks)

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        # whole frames are asked without in-frame slices: h5py's fastest selection
        index = () if region == self.spec.full_region else region_index(region)
        dspath = posixpath.join(self._group, self._dataname)
        with self.lock, _h5.reading(self._path):  # one handle per series (h5py serialises)
            # a dataset lookup costs more than reading a small frame: once per handle
            ds = self.from_handle(dspath, lambda f: f[dspath])
            if self._ndim == 2:
                n = len(frame_numbers(frames, 1))
                return np.repeat(np.asarray(ds[index])[np.newaxis], n, axis=0)
            return _h5.read_frames(ds, frames, index, region, self._dtype)

    def options(self) -> dict[str, Any]:
        return {"group": self._group, "dataname": self._dataname}

    def __repr__(self) -> str:
        return (f"<HDF5Series {self._path!r}:{self._group}/{self._dataname}: "
                f"{counted(len(self), 'frame')} of {self.shape} {self.dtype}>")


def _find_group(f: Any, dataname: str, filename: str) -> str:
    """The group of the only dataset called ``dataname``, for ``open`` without ``path=``."""
    found = _nexus.datasets_named(f, dataname)
    if len(found) != 1:
        raise NotASeriesError(
            f"{filename!r}: found {len(found)} datasets named {dataname!r} ({found}); "
            "pass path= (the group) and dataname= to choose one"
        )
    return "/" + found[0].rpartition("/")[0]


def _dataset(f: Any, group: str, dataname: str, filename: str) -> Any:
    full = f"{group.rstrip('/')}/{dataname}"
    if group not in f:
        raise MissingDatasetError(
            f"{filename!r} has no group {group!r}; its top-level groups are {sorted(f)}"
        )
    node = f[group]
    if dataname not in node or not hasattr(node[dataname], "shape"):
        raise MissingDatasetError(
            f"{filename!r} has no dataset {full!r}; group {group!r} holds {sorted(node)}; "
            "pass dataname= to choose one"
        )
    ds = node[dataname]
    if ds.ndim < 2:
        raise NotASeriesError(
            f"{filename!r}: dataset {full!r} has shape {ds.shape}; frames need 2 or more "
            "dimensions"
        )
    return ds


def open(filename: Any, path: str | None = None, dataname: str = DEFAULT_DATANAME,
         close_when_finished: bool = False, storage_options: dict[str, Any] | None = None
         ) -> FileSeries:
    """hexrd's ``open(f, "hdf5", path="group", dataname="images")``, lazily; URLs via fsspec.

    ``filename`` is a file name or an open ``h5py.File``/group.  Without
    ``path`` (or with a group that has no ``images``), a file with no
    ``images`` dataset opens the frames its NeXus attributes point to, across
    linked data files (:mod:`._nexus`; local files only).
    """
    if dataname == DEFAULT_DATANAME:
        found = _nexus.find_frames(filename, dataname, path)
        if found is not None:
            group, names = found
            if len(names) > 1:
                return _nexus.LinkedSeries(os.fspath(filename), group, names)
            path, dataname = group, names[0]
    return HDF5Series(filename, path=path, dataname=dataname,
                      close_when_finished=close_when_finished, storage_options=storage_options)


def sniff(path: str) -> bool:
    """An HDF5 file that is not a hexrd frame cache nor an Eiger stream (their own formats)."""
    return _h5.layout(path) == "hdf5"


def write_into(series: ImageSeries, node: Any, path: str = DEFAULT_GROUP,
               dataname: str = DEFAULT_DATANAME, gzip: int = 1, shuffle: bool = True,
               chunk_rows: int = 0, compression: Any = None,
               overwrite: bool = False) -> HDF5Series:
    """Write ``series`` into the caller's open, writable ``h5py.File`` (hexrd's form), in place.

    The options are those of :func:`encoder`; ``overwrite=True`` replaces the
    dataset ``path/dataname``.  The file is left open.
    """
    options = _h5.dataset_options(tuple(series.shape), gzip, shuffle, chunk_rows, compression)
    group = _h5.target_group(node, path, dataname, overwrite)
    _h5.write_group(series, group, dataname, options, frame_metadata(series))
    return HDF5Series(node, path=path, dataname=dataname)


def encoder(series: ImageSeries, target: str = "", path: str = DEFAULT_GROUP,
            dataname: str = DEFAULT_DATANAME, gzip: int = 1, shuffle: bool = True,
            chunk_rows: int = 0, compression: Any = None) -> FileEncoding:
    """Encode ``series`` as hexrd does: dataset ``path/dataname`` (N, rows, cols), metadata as attrs.

    Parameters
    ----------
    path, dataname
        Group and dataset name (hexrd's ``path``; ``dataname`` default ``images``).
    gzip
        gzip level, 0 (none) to 9; default 1 as in hexrd.
    shuffle
        The HDF5 shuffle filter (default on).
    chunk_rows
        Rows per chunk; 0 (default) or too many means whole frames.
    compression
        Replaces the gzip and shuffle options, as in hexrd: an hdf5plugin
        filter (``hdf5plugin.Blosc(cname="zstd", clevel=5)``), a filter name
        (``"lzf"``) or a mapping of h5py ``create_dataset`` options.

    Frames arrive in blocks computed in parallel and are written from one
    thread (h5py does not allow parallel writes); :mod:`pipeline.persist`
    stages the file and renames it into place.
    """
    h5py = _h5.h5py("the 'hdf5' format")
    shape = tuple(series.shape)
    options = _h5.dataset_options(shape, gzip, shuffle, chunk_rows, compression)
    meta = frame_metadata(series)
    _json.check(meta)
    n, dtype = len(series), np.dtype(series.dtype)
    if n == 0:  # HDF5 chunks cannot exceed an empty dataset: a contiguous empty one
        options = {}

    def encode(tmp: str, blocks: Any) -> None:
        with h5py.File(tmp, "w") as f:
            group = f.require_group(path)
            ds = group.create_dataset(dataname, (n, *shape), dtype, **options)
            _h5.write_attrs(group, meta)
            for start, block in blocks:
                ds[start:start + len(block)] = block

    raw = options.get("compression") is None
    return FileEncoding("hdf5", encode, _h5.is_hdf5,
                        lambda p: HDF5Series(p, path=path, dataname=dataname),
                        estimate=series.nbytes if raw else 0, check_blocks=True)


class HDF5Format(Format):
    """hexrd's HDF5 layout and NeXus files (:func:`open`, :func:`encoder`)."""

    name = "hdf5"
    aliases = ("h5",)
    extensions = (".h5", ".hdf5", ".hdf", ".nxs")
    requires = ("h5py",)
    extra = "hdf5"
    writes = "file"
    open = staticmethod(open)
    sniff = staticmethod(sniff)
    encoder = staticmethod(encoder)
    write_into = staticmethod(write_into)


FORMAT = HDF5Format()

__all__ = ["FORMAT", "HDF5Format", "HDF5Series", "encoder", "open", "sniff", "write_into"]

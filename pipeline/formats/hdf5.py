"""HDF5 files laid out as hexrd writes them: a group holding a frames dataset, metadata as attrs.

``open(f, "hdf5", path="imageseries", dataname="images")`` reads the dataset
``/imageseries/images``: a 2-d dataset is one frame, a 3-d (or higher) one has
frames on axis 0.  The group's attributes are the metadata.  Only the frames
and the region asked for are read from the file.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

import numpy as np

from ops import Region
from pipeline.errors import MissingDatasetError, NotASeriesError, NotMyFormat
from pipeline.formats import _fsspec
from pipeline.formats._encoding import FileEncoding
from pipeline.formats._file import FileSeries, FrameNumbers
from pipeline.formats._filewrite import frame_metadata
from pipeline.formats._h5meta import read_attrs
from pipeline.formats._h5node import BorrowedHandle, is_h5_node, node_location, opened
from pipeline.formats._h5write import h5_options, target_group, write_group
from pipeline.formats._plugin import Format
from pipeline.series import ImageSeries, region_index

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
DEFAULT_GROUP = "imageseries"
DEFAULT_DATANAME = "images"


def _h5py() -> Any:
    from pipeline.formats._h5 import h5py

    return h5py("the 'hdf5' format")  # with hdf5plugin's filters registered, when installed


def is_hdf5(path: str) -> bool:
    """Whether ``path`` is an HDF5 file (by its signature, read from the first bytes)."""
    try:
        with open_binary(path) as fh:
            return fh.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


def open_binary(path: str) -> Any:
    import builtins

    return builtins.open(path, "rb")


class HDF5Series(BorrowedHandle, FileSeries):
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
        self._init_handle()
        where: Any
        if is_h5_node(filename):
            self._borrowed, self._close_borrowed = filename.file, bool(close_when_finished)
            self._path, base = node_location(filename, None)
            where = filename.file
            path = None if path is None else posixpath.join(base, path)
        else:
            self._path = os.fspath(filename)
            if not (_fsspec.starts_with(self._path, HDF5_SIGNATURE, storage_options)
                    if _fsspec.is_url(self._path) else _h5py().is_hdf5(self._path)):
                raise NotMyFormat(f"{self._path!r} is not an HDF5 file")
            where = _fsspec.openable(self._path, storage_options)
        with opened(where, name=self._path) as f:
            self._group = path if path is not None else _find_group(f, dataname, self._path)
            ds = _dataset(f, self._group, dataname, self._path)
            from pipeline.formats._nexus import check_virtual_sources

            check_virtual_sources(ds, self._path)
            self._ndim = ds.ndim
            self._dshape = tuple(int(n) for n in ds.shape)
            self._dtype = np.dtype(ds.dtype)
            self._chunks = ds.chunks
            self._meta = read_attrs(f[self._group].attrs, f[self._group])

    # -- opening ---------------------------------------------------------------------

    def _open_handle(self) -> Any:
        from pipeline.formats._h5 import open_file

        return open_file(_fsspec.openable(self._path, self._storage_options), "the 'hdf5' format",
                         name=self._path)

    # -- the interface ---------------------------------------------------------------

    def __len__(self) -> int:
        return 1 if self._ndim == 2 else self._dshape[0]

    @property
    def shape(self) -> tuple[int, ...]:
        return self._dshape if self._ndim == 2 else self._dshape[1:]

    @property
    def _dspath(self) -> str:
        return posixpath.join(self._group, self._dataname)

    @property
    def _full(self) -> Region:
        return tuple((0, n) for n in self.shape)  # type: ignore[return-value]

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

    def read_frames(self, indices: FrameNumbers, region: Region) -> np.ndarray:
        # whole frames are asked without in-frame slices: h5py's fastest selection
        index = () if region == self._full else region_index(region)
        with self._lock:  # one handle per series; h5py serialises calls anyway
            ds = self.node(self._dspath)
            if self._ndim == 2:
                return np.repeat(np.asarray(ds[index])[np.newaxis], len(indices), axis=0)
            if isinstance(indices, range):
                return np.asarray(ds[(slice(indices.start, indices.stop), *index)])
            # h5py wants strictly increasing indices: read each frame once, in order
            wanted, back = np.unique(indices, return_inverse=True)
            if len(wanted) == 0:
                return self.output(indices, region)
            return np.asarray(ds[(wanted, *index)])[back]

    def _reread_metadata(self) -> dict[str, Any]:
        with self._lock:
            return read_attrs(self.handle[self._group].attrs, self.handle[self._group])

    def options(self) -> dict[str, Any]:
        return {"group": self._group, "dataname": self._dataname}

    def __repr__(self) -> str:
        return (f"<HDF5Series {self._path!r}:{self._group}/{self._dataname}: "
                f"{len(self)} frames of {self.shape} {self.dtype}>")


def _find_group(f: Any, dataname: str, filename: str) -> str:
    """The group of the only dataset called ``dataname``, for ``open`` without ``path=``."""
    found: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if name.rsplit("/", 1)[-1] == dataname and hasattr(obj, "shape"):
            found.append(name)

    f.visititems(visit)
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
         ) -> HDF5Series:
    """hexrd's ``open(f, "hdf5", path="group", dataname="images")``, lazily; URLs via fsspec.

    ``filename`` is a file name or an open ``h5py.File``/group.  Without
    ``path`` (or with a group that has no ``images``), a file with no
    ``images`` dataset opens the frames its NeXus attributes point to, across
    linked data files (:mod:`._nexus`; local files only).
    """
    if dataname == DEFAULT_DATANAME:
        from pipeline.formats._nexus import open_frames

        found = open_frames(filename, dataname, path, HDF5Series)
        if found is not None:
            return found  # type: ignore[return-value]
    return HDF5Series(filename, path=path, dataname=dataname,
                      close_when_finished=close_when_finished, storage_options=storage_options)


def sniff(path: str) -> bool:
    """An HDF5 file that is not a hexrd frame cache nor an Eiger stream (their own formats)."""
    if not is_hdf5(path):
        return False
    from pipeline.formats._h5 import open_file
    from pipeline.formats.eiger import stream_version

    with open_file(path, "the 'hdf5' format") as f:
        return "HEXRD_FRAMECACHE_VERSION" not in f.attrs and stream_version(f) is None


def write_into(series: ImageSeries, node: Any, path: str = DEFAULT_GROUP,
               dataname: str = DEFAULT_DATANAME, gzip: int = 1, shuffle: bool = True,
               chunk_rows: int = 0, compression: Any = None,
               overwrite: bool = False) -> HDF5Series:
    """Write ``series`` into the caller's open, writable ``h5py.File`` (hexrd's form), in place.

    The options are those of :func:`encoder`; ``overwrite=True`` replaces the
    dataset ``path/dataname``.  The file is left open.
    """
    options = h5_options(tuple(series.shape), gzip, shuffle, chunk_rows, compression)
    group = target_group(node, path, dataname, overwrite)
    write_group(series, group, dataname, options, frame_metadata(series))
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
    from pipeline import _json

    h5py = _h5py()
    shape = tuple(series.shape)
    options = h5_options(shape, gzip, shuffle, chunk_rows, compression)
    meta = frame_metadata(series)
    _json.check(meta)
    n, dtype = len(series), np.dtype(series.dtype)
    if n == 0:  # HDF5 chunks cannot exceed an empty dataset: a contiguous empty one
        options = {}

    def encode(tmp: str, blocks: Any) -> None:
        with h5py.File(tmp, "w") as f:
            group = f.require_group(path)
            ds = group.create_dataset(dataname, (n, *shape), dtype, **options)
            from pipeline.formats._h5meta import write_attrs

            write_attrs(group, meta)
            for start, block in blocks:
                ds[start:start + len(block)] = block

    raw = options.get("compression") is None
    return FileEncoding("hdf5", encode, is_hdf5,
                        lambda p: HDF5Series(p, path=path, dataname=dataname),
                        estimate=series.nbytes if raw else 0, check_blocks=True)


class HDF5Format(Format):
    """hexrd's HDF5 layout (:func:`open`, :func:`encoder`)."""

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

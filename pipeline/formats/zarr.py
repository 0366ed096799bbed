"""Zarr stores (format 3 written, formats 2 and 3 read): the format every other converts to.

A store written here is a group holding the frames as one array ``images``
of shape ``(N, *frame_shape)``, the series' metadata, and a ``lazyseries``
attribute recording the layout version, where the frames came from and
whether the write finished; and it is an OME-Zarr image (``ome`` attribute,
optional downsampled levels: :mod:`pipeline.ome`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ops import FrameSpec, Region
from pipeline import _json, ome
from pipeline.errors import IncompleteStoreError, NotASeriesError, OptionValueError, ReadOnlyError
from pipeline.formats import _chunkio, _zarrstate
from pipeline.formats._plugin import Format
from pipeline.formats.base import FileSeries
from pipeline.series import FrameSelection, region_index

FORMAT_VERSION = 1
ARRAY_NAME = "images"
ATTR = "lazyseries"


def _zarr() -> Any:
    import zarr

    return zarr


def _is_url(path: str) -> bool:
    return "://" in path


def exists(path: str, storage_options: dict[str, Any] | None = None) -> bool:
    if _is_url(path):
        import fsspec

        fs, fs_path = fsspec.core.url_to_fs(path, **(storage_options or {}))
        return bool(fs.exists(fs_path))
    return os.path.lexists(path)


class ZarrSeries(FileSeries):
    """A series over a Zarr array, read lazily.

    Parameters
    ----------
    path
        A local path or an fsspec URL of a group or an array.
    mode
        ``"r"`` (default) or ``"r+"``, which lets ``s[j, rows, cols] = value``
        write through to the store.
    array
        The array's name inside a group; default: the store's recorded array,
        else level 0 of an OME-Zarr image, else ``images``, else the group's
        only array of 2 or more dimensions.
    level
        The level of an OME-Zarr image (0, full resolution, by default); its
        metadata gives that level's pixel sizes.
    storage_options
        Passed to fsspec for URLs.
    """

    format_name = "zarr"
    transient = ("_handle", "_meta", "_load_meta", "_chunk_plan")  # reopened where unpickled

    def __init__(self, path: str | os.PathLike[str], mode: str = "r", array: str | None = None,
                 storage_options: dict[str, Any] | None = None, level: int | None = None
                 ) -> None:
        if mode not in ("r", "r+"):
            raise OptionValueError(f"mode must be 'r' or 'r+', got {mode!r}")
        if array is not None and level is not None:
            raise OptionValueError(f"pass array= ({array!r}) or level= ({level!r}), not both")
        self._level = level
        self._path = os.fspath(path)
        self._mode = mode
        self._name = array
        self._storage_options = storage_options
        self._handle: Any = None
        self._meta: dict[str, Any] | None = None
        self._load_meta: Callable[[], dict[str, Any]] | None = None
        self._chunk_plan: Any = None  # chunk I/O without zarr-python (False: not possible)
        self._spec_len: tuple[FrameSpec, int] | None = None
        self._local = _zarrstate.local_root(self._path)
        self._identity: tuple[Any, ...] | None = None
        self._check_chunks = False
        if not exists(self._path, storage_options):
            raise FileNotFoundError(f"no such Zarr store: {self._path!r}")
        arr = self._array
        if arr.ndim < 2:
            raise NotASeriesError(
                f"{self._path!r}: array {arr.path or '/'!r} has shape {arr.shape}; "
                "a series needs 2 or more dimensions"
            )

    # -- opening ---------------------------------------------------------------------

    @property
    def _array(self) -> Any:
        if self._handle is None:
            for _ in range(3):  # a store swapped while opening it: open the new one
                before = _zarrstate.identity(self._local)
                handle, self._load_meta, record = _open_frames(
                    self._path, self._mode, self._name, self._storage_options, self._level)
                if _zarrstate.identity(self._local) == before:
                    break
            self._handle = handle
            identity = (*before, record.get("write_id") if record else None)
            if self._identity is None:
                self._identity = identity
            elif identity != self._identity:
                self._handle = None
                raise _zarrstate.changed(self._path)
            # stores lazyseries completed hold every chunk: a missing one is lost data
            self._check_chunks = bool(record) and self._local is not None
        return self._handle

    @property
    def _axes(self) -> str | None:
        return ome.axes_of(getattr(self._array.metadata, "dimension_names", None))

    def _check_same_store(self) -> None:
        """Raise if the store was replaced, or is being rewritten, since it was opened."""
        if self._identity is not None and self._local is not None and \
                _zarrstate.identity(self._local) != self._identity[:-1]:
            raise _zarrstate.changed(self._path)

    def __len__(self) -> int:
        return self._fixed[1]

    @property
    def shape(self) -> tuple[int, ...]:
        return self._fixed[0].shape

    @property
    def dtype(self) -> np.dtype:
        return self._fixed[0].dtype

    @property
    def spec(self) -> FrameSpec:
        return self._fixed[0]

    @property
    def _fixed(self) -> tuple[FrameSpec, int]:
        """The frame spec and length, fixed once opened: asked on every ``s[j]``, so kept."""
        if self._spec_len is None:
            shape = self._array.shape
            self._spec_len = (FrameSpec(tuple(shape[1:]) if len(shape) > 2 else tuple(shape),
                                        np.dtype(self._array.dtype)),
                              int(shape[0]) if len(shape) > 2 else 1)
        return self._spec_len

    @property
    def metadata(self) -> dict[str, Any]:
        if self._meta is None:
            self._array  # noqa: B018  (opening gives the metadata's loader)
            assert self._load_meta is not None
            meta = self._load_meta()
            self._check_same_store()  # read lazily: it must be the opened store's metadata
            self._meta = meta
        return self._meta

    @property
    def frame_chunk(self) -> int | None:
        arr = self._array
        if arr.ndim == 2:
            return 1
        return int((arr.shards or arr.chunks)[0])

    @property
    def storage_chunks(self) -> tuple[int, ...] | None:
        """The array's chunks (inside its shards, when it has shards)."""
        chunks = tuple(int(n) for n in self._array.chunks)
        return (1, *chunks) if self._array.ndim == 2 else chunks

    @property
    def path(self) -> str:
        return self._path

    @property
    def zarr_array(self) -> Any:
        """The underlying ``zarr.Array``."""
        return self._array

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        chunk_plan = self._chunk_plan
        if chunk_plan is None:
            arr = self._array
            # a complete lazyseries store holds every chunk: the plan raises on a missing one
            chunk_plan = self._chunk_plan = arr.ndim > 2 and _chunkio.plan(
                arr, strict=self._check_chunks) or False
        if chunk_plan:
            out = _chunkio.read(chunk_plan, frames, region)
        else:
            arr = self._array
            if self._check_chunks:  # zarr-python would give the fill value
                _zarrstate.require_chunks(arr, self._local, frames, region, self._path)
            out = self._read_array(arr, frames, region)
        # after the read: a store swapped or removed meanwhile may have given other frames
        self._check_same_store()
        return out

    def _read_array(self, arr: Any, frames: FrameSelection, region: Region) -> np.ndarray:
        index = region_index(region)
        if arr.ndim == 2:
            return np.asarray(arr[index])[np.newaxis][frames]
        if isinstance(frames, slice):
            if frames.stop - frames.start == 1:  # zarr's integer path is the faster one
                return np.asarray(arr[(frames.start, *index)])[np.newaxis]
            return np.asarray(arr[(frames, *index)])
        return np.asarray(arr.oindex[(frames, *index)])

    def __setitem__(self, key: Any, value: Any) -> None:
        """``s[j] = frame`` or ``s[j, rows, cols] = value``, written to the store (mode ``r+``)."""
        if self._mode != "r+":
            raise ReadOnlyError(
                f"{self._path!r} is open read-only; open it with mode='r+' to write frames"
            )
        key = key if isinstance(key, tuple) else (key,)
        j = self._frame_index(key[0])
        self._chunk_plan = None  # its shard indexes are the old ones once zarr rewrites a shard
        if self._array.ndim == 2:
            self._array[key[1:]] = value
        else:
            self._array[(j, *key[1:])] = value

    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = {} if self._name is None else {"array": self._name}
        if self._level is not None:
            options["level"] = self._level
        if self._mode != "r":
            options["mode"] = self._mode
        return options

    def stamped_files(self) -> tuple[str, ...]:
        return (f"{self._path.rstrip('/')}/zarr.json",)  # rewritten when a write completes

    @property
    def provenance(self) -> dict[str, Any] | None:
        """What the store records of where its frames came from, if written by lazyseries."""
        group = _open_group(self._path, self._storage_options)
        if group is None or ATTR not in group.attrs:
            return None
        self._array  # noqa: B018  (the identity of the store opened)
        record = dict(group.attrs[ATTR])
        provenance = _json.decode(record.get("provenance"), _array_loader(group))
        self._check_same_store()
        return provenance

    def __repr__(self) -> str:
        return f"<ZarrSeries {self._path!r}: {len(self)} frames of {self.shape} {self.dtype}>"


def _open_group(path: str, storage_options: dict[str, Any] | None) -> Any:
    zarr = _zarr()
    try:
        return zarr.open_group(path, mode="r", storage_options=storage_options)
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, zarr.errors.ContainsArrayError):
        return None


def _open_frames(path: str, mode: str, name: str | None, storage_options: dict[str, Any] | None,
                 level: int | None = None
                 ) -> tuple[Any, Callable[[], dict], dict[str, Any] | None]:
    """The frames array of the store at ``path``, a function that decodes its metadata, and
    the store's ``lazyseries`` record (None for stores written by other tools).

    Metadata arrays are read only when the metadata is asked for, so opening a
    store (on every worker of a cluster) reads nothing but JSON.
    """
    zarr = _zarr()
    try:
        node = zarr.open(path, mode=mode, storage_options=storage_options)
    except (zarr.errors.NodeTypeValidationError, zarr.errors.GroupNotFoundError,
            ValueError, KeyError, TypeError, AttributeError) as err:
        raise NotASeriesError(f"{path!r} is not a readable Zarr store: {err}") from err
    except RecursionError:  # JSON nested deeper than the parser goes
        raise NotASeriesError(f"{path!r} is not a readable Zarr store: its zarr.json nests "
                              "deeper than a JSON parser can follow") from None
    if isinstance(node, zarr.Array):
        return node, lambda: dict(node.attrs), None
    record = node.attrs.get(ATTR)
    if record is not None:
        if not isinstance(record, dict):
            raise NotASeriesError(f"{path!r}: its {ATTR!r} record is {record!r:.80}, not a "
                                  "mapping; the store is corrupt, rewrite it")
        if record.get("complete") is not True:  # "false", 0, missing: not complete
            raise IncompleteStoreError(
                f"{path!r} is an incomplete store: the write that made it did not finish "
                "(or is still running); write the same series to it again to complete it, "
                "or remove it"
            )
        name = name or record.get("array", ARRAY_NAME)
    image = ome.multiscale(node.attrs)
    if image is None and level:
        raise NotASeriesError(f"{path!r} is not an OME-Zarr image: it has no level {level!r}")
    if image is not None and (level is not None or (name is None and record is None)):
        name = ome.dataset_path(image, level or 0, repr(path))
        return (ome.level_array(node, name, path),
                ome.level_metadata(node, image, record, level or 0, _array_loader(node)), record)
    arrays = {key: arr for key, arr in node.arrays() if arr.ndim >= 2}
    if name is None:
        name = ARRAY_NAME if ARRAY_NAME in arrays else (next(iter(arrays)) if len(arrays) == 1
                                                       else None)
    if name not in arrays:
        raise NotASeriesError(
            f"{path!r} holds no frames array {name!r}; arrays of 2 or more dimensions "
            f"found: {sorted(arrays)}; pass array= to choose one"
        )
    attrs = dict(node.attrs)
    meta = attrs.get("metadata") if record is not None else attrs
    return arrays[name], lambda: _json.decode(meta or {}, _array_loader(node)), record


def _array_loader(group: Any) -> Any:
    def load(key: str) -> np.ndarray:
        arr = group[key]
        chunk_plan = _chunkio.plan(arr) if arr.ndim else None
        if chunk_plan is None:
            return np.asarray(arr[...])
        return chunk_plan.read(tuple(slice(0, n) for n in arr.shape))

    return load


def open(path: str | os.PathLike[str], mode: str = "r", array: str | None = None,
         dataname: str | None = None, storage_options: dict[str, Any] | None = None,
         level: int | None = None) -> ZarrSeries:
    """Open a Zarr store as a series, reading nothing but its metadata."""
    return ZarrSeries(path, mode=mode, array=array or dataname, storage_options=storage_options,
                      level=level)


def sniff(path: str) -> bool:
    if _is_url(path):
        return any(exists(f"{path.rstrip('/')}/{name}") for name in ("zarr.json", ".zgroup"))
    return os.path.isdir(path) and any(
        os.path.exists(os.path.join(path, name)) for name in ("zarr.json", ".zgroup", ".zarray")
    )


class ZarrFormat(Format):
    """Zarr (format 3) groups, the default format every other converts to.

    Written by :mod:`pipeline.persist` (``writes = "store"``) with the
    encoding of :mod:`pipeline.formats._zarr_write`; its options: ``codec``
    (a name from :data:`pipeline.formats._zarr_write.CODECS`, ``"none"``, or
    any zarr 3 or numcodecs codec), ``chunks`` and ``shards`` (frames first;
    default :func:`pipeline.formats._zarr_write.default_layout`), ``levels``
    (downsampled OME-Zarr levels, :mod:`pipeline.ome`), ``storage_options``
    and ``compute=False`` (the dask task that writes the store and marks it
    complete; the target stays claimed until it has run or is dropped).
    """

    name = "zarr"
    extensions = (".zarr", ".zr3", ".zr")
    writes = "store"
    open = staticmethod(open)
    sniff = staticmethod(sniff)


FORMAT = ZarrFormat()

__all__ = ["FORMAT", "ZarrFormat", "ZarrSeries", "open", "sniff"]

"""Reading a Zarr array (format 3, or 2) as a series: lazily, and never another store's frames.

A store replaced since a series opened it raises
:class:`~pipeline.errors.StoreChangedError` instead of returning another
write's frames (its root ``zarr.json`` is a new object once rewritten, whatever
inode the file system hands out); a chunk missing from a complete lazyseries
store raises :class:`~pipeline.errors.MissingChunkError`, never zeros.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np

from ops import FrameSpec, Region
from pipeline import _json, ome
from pipeline.errors import (
    DroppedFrameError,
    IncompleteStoreError,
    MissingChunkError,
    NotASeriesError,
    NotMyFormat,
    OptionValueError,
    ReadOnlyError,
    StoreChangedError,
)
from pipeline.formats.base import FileSeries
from pipeline.formats.live.growth import DEFAULT_IDLE, Growing, Watch, end_rule, from_ranges
from pipeline.formats.zarr.chunks import ChunkGrid
from pipeline.formats.zarr.layout import grid_of
from pipeline.formats.zarr.store import (
    ARRAY_NAME,
    ATTR,
    committed_version,
    follow,
    is_version_name,
    open_group,
    read_array,
)
from pipeline.series import FrameSelection, counted, region_index
from pipeline.storage import Location, locate

MISSING = ("error", "fill")

PREFETCH = 16
"""Stored objects read ahead (at least) when iterating a series on an object store."""
PREFETCH_BYTES = 64 * 2**20
"""Bytes read ahead (about, up to 4 x :data:`PREFETCH` objects) when iterating one."""
"""What a chunk missing from a complete store reads as: an error, or the fill value."""


class ZarrSeries(Growing, FileSeries):
    """A series over a Zarr array, read lazily; a store being written live grows as it is read.

    Parameters
    ----------
    path
        A local path or URL of a group or an array.
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
        Options of the URL's file system (credentials, endpoint).
    missing
        A chunk missing from a complete lazyseries store is lost data and
        raises (``"error"``, the default); ``"fill"`` reads it as the fill
        value, as zarr-python does (for a store another writer changed with
        zarr-python, which leaves out chunks of all fill value).
    version
        On an object store, an older version the store keeps
        (``write(..., keep_versions=)``; default: the committed one).
    idle
        For a store being written from a live series: seconds without a new
        frame committed after which it is taken as ended (its writer gone).

    A store a live write is still writing opens with the frames its writer
    has committed (never one past them); :meth:`refresh` (or :meth:`wait`)
    looks again, and the series ends when the writer marks the store
    complete.  Frames its source lost (listed in the record) raise
    :class:`~pipeline.errors.DroppedFrameError` when read, unless
    ``missing="fill"``.
    """

    format_name = "zarr"
    transient = ("_handle", "_meta", "_load_meta", "_grid")  # reopened where unpickled

    def __init__(self, path: str | os.PathLike[str] | Location, mode: str = "r",
                 array: str | None = None,
                 storage_options: dict[str, Any] | None = None, level: int | None = None,
                 missing: str = "error", version: str | None = None,
                 idle: float = DEFAULT_IDLE) -> None:
        if mode not in ("r", "r+"):
            raise OptionValueError(f"mode must be 'r' or 'r+', got {mode!r}")
        if array is not None and level is not None:
            raise OptionValueError(f"pass array= ({array!r}) or level= ({level!r}), not both")
        if missing not in MISSING:
            raise OptionValueError(f"missing={missing!r}: expected one of {MISSING}")
        self._level, self._mode, self._name, self._missing = level, mode, array, missing
        self._version = version
        self._location: Location = locate(path, storage_options)
        self._path = self._location.text if isinstance(path, Location) else os.fspath(path)
        self._storage_options = storage_options
        self._handle: Any = None
        self._meta: dict[str, Any] | None = None  # type: ignore[assignment]
        self._load_meta: Callable[[], dict[str, Any]] | None = None
        self._grid: ChunkGrid | bool | None = None  # the direct chunk path (False: zarr-python's)
        self._spec_len: tuple[FrameSpec, int] | None = None
        self._identity: tuple[Any, ...] | None = None
        self._strict = False
        self._live: dict[str, Any] | None = None  # a store being written: its record's live part
        self._watch = Watch(end_rule(idle=idle))
        self._growing = self._complete = False
        if self._root() is None:  # no zarr.json (one read): a format 2 store, or nothing
            found = self._location.stat()
            if found is None:
                raise FileNotFoundError(f"no such Zarr store: {self._path!r}")
            if not found.is_dir and self._location.local is not None:
                raise NotMyFormat(f"{self._path!r} is a file, not a Zarr store (a directory)")
        arr = self._array
        if arr.ndim < 2:
            raise NotASeriesError(f"{self._path!r}: array {arr.path or '/'!r} has shape "
                                  f"{arr.shape}; a series needs 2 or more dimensions")

    # -- opening ---------------------------------------------------------------------

    def _stamp(self) -> str | None:
        """The version of the root's metadata: a new object whenever the store is rewritten."""
        backend, paths = self._location.backend, self.__dict__.get("_stamp_paths")
        if paths is None:  # kept: asked on every read
            paths = self.__dict__["_stamp_paths"] = [
                self._location.child(name).path for name in ("zarr.json", ".zgroup", ".zarray")]
        for path in paths:
            found = backend.stat(path)
            if found is not None:
                return found.version
        return None

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        for kept in ("_root_doc", "_stamp_paths"):  # read again where it is unpickled
            state.pop(kept, None)
        return state

    def _root(self) -> tuple[dict[str, Any], str] | None:
        """The root's ``zarr.json`` document and its version, read once (None: there is none,
        or it is not a Zarr 3 document)."""
        if "_root_doc" not in self.__dict__:
            try:
                data, version = self._location.child("zarr.json").read_versioned()
                doc = json.loads(data)
                self.__dict__["_root_doc"] = (doc, version) if isinstance(doc, dict) else None
            except (FileNotFoundError, ValueError):
                self.__dict__["_root_doc"] = None
            except RecursionError:  # JSON nested deeper than the parser goes
                raise NotASeriesError(f"{self._path!r} is not a readable Zarr store: its "
                                      "zarr.json nests deeper than a JSON parser can follow") \
                    from None
            except OSError as err:  # a directory, a FIFO named zarr.json
                if err.errno == errno.ENOTDIR:  # the store's path is a file: not a store
                    self.__dict__["_root_doc"] = None
                    return None
                raise NotASeriesError(f"{self._path!r}: its zarr.json cannot be read: "
                                      f"{err}") from None
        return self.__dict__["_root_doc"]  # type: ignore[no-any-return]

    @property
    def _array(self) -> Any:
        if self._handle is None:
            for _ in range(3):  # a store swapped while opening it: open the new one
                root = self._root()
                before = root[1] if root is not None else self._stamp()
                handle, self._load_meta, record = _open_frames(
                    self._location, self._path, self._mode, self._name, self._level,
                    self._version, None if root is None else root[0])
                if self._stamp() == before:
                    break
                self.__dict__.pop("_root_doc", None)
            identity = (before, record.get("write_id") if record else None)
            if self._identity is not None and identity != self._identity:
                raise _changed(self._path)
            self._handle, self._identity = handle, identity
            grown = record.get("live") if record else None
            self._live = grown if isinstance(grown, dict) else None
            self._complete = record is not None and record.get("complete") is True
            self._growing = self._growing or (self._live is not None and not self._complete)
            # stores lazyseries completed hold every chunk: a missing one is lost data
            self._strict = bool(record) and self._missing == "error"
        return self._handle

    @property
    def _axes(self) -> str | None:  # type: ignore[override]
        return ome.axes_of(getattr(self._array.metadata, "dimension_names", None))

    def _check_same_store(self, always: bool = False) -> None:
        """Raise if the store was replaced, or is being rewritten, since it was opened.

        After every read where a store is replaced in place (a file system's rename);
        on an object store a series reads the version it opened, whose objects never
        change, so only when a read fails (``always``): its version may be gone.
        """
        if self._identity is not None and (always or self._location.backend.renames) and \
                self._stamp() != self._identity[0]:
            if self._growing and self._same_writer():
                # a commit of the live write it opened: the frames it read stand
                assert self._identity is not None
                self._identity = (self._stamp(), self._identity[1])
                return
            raise _changed(self._path)

    def _same_writer(self) -> bool:
        """Whether the store is still the one its live writer makes (it commits by rewriting
        the root's document, its write's id unchanged)."""
        try:
            doc = json.loads(self._location.child("zarr.json").read(limit=2**26))
            record = (doc.get("attributes") or {}).get(ATTR)
        except (OSError, ValueError, AttributeError):
            return False
        assert self._identity is not None
        return isinstance(record, dict) and record.get("write_id") == self._identity[1]

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
            n = int(shape[0]) if len(shape) > 2 else 1
            if self._growing and not self._complete:  # never a frame past those committed
                n = min(n, int((self._live or {}).get("committed") or 0))
            self._spec_len = (FrameSpec(tuple(shape[1:]) if len(shape) > 2 else tuple(shape),
                                        np.dtype(self._array.dtype)), n)
            self._watch.observe(n, marker=self._complete)
        return self._spec_len

    # -- a store being written live --------------------------------------------------

    @property
    def growing(self) -> bool:
        """Whether the store was being written from a live series when opened."""
        self._array  # noqa: B018  (the record read)
        return self._growing

    def refresh(self) -> int:
        """Look at the store again: the frames its live writer has committed by now."""
        if not self.growing or self._complete:
            return len(self)
        writer = self._identity
        for name in ("_handle", "_grid", "_spec_len", "_meta", "_load_meta"):
            setattr(self, name, None)
        self.__dict__.pop("_root_doc", None)
        self._identity = None
        self._array  # noqa: B018  (opened again)
        assert self._identity is not None and writer is not None
        if self._identity[1] != writer[1]:  # replaced by another write meanwhile
            raise _changed(self._path)
        return len(self)

    @property
    def ended(self) -> bool:
        self._fixed  # noqa: B018  (the end rule applied to what was seen)
        return self._complete or self._watch.ended_by is not None

    @property
    def ended_by(self) -> str | None:
        return "end" if self.ended and self._complete else self._watch.ended_by

    @property
    def expected(self) -> int | None:
        self._array  # noqa: B018  (the record read)
        found = (self._live or {}).get("expected")
        return int(found) if isinstance(found, int) else None

    @property
    def dropped(self) -> np.ndarray:
        """Frames the live source of this store lost (the record lists them)."""
        self._array  # noqa: B018  (the record read)
        lost = from_ranges((self._live or {}).get("dropped"))
        return lost[lost < len(self)]

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
        return 1 if arr.ndim == 2 else int((arr.shards or arr.chunks)[0])

    @property
    def storage_chunks(self) -> tuple[int, ...] | None:
        """The array's chunks (inside its shards, when it has shards)."""
        chunks = tuple(int(n) for n in self._array.chunks)
        return (1, *chunks) if self._array.ndim == 2 else chunks

    @property
    def frame_bytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    @property
    def zarr_array(self) -> Any:
        """The underlying ``zarr.Array``."""
        return self._array

    @property
    def location(self) -> Location:
        """Where the store is."""
        return self._location

    @property
    def store_version(self) -> str | None:
        """The version of the store this series reads: on an object store, the one
        committed when it was opened (or ``version=``); None for a store that keeps no
        versions (a local one is replaced whole)."""
        self._array  # noqa: B018  (the store opened)
        root = self._root()
        return _committed(None if root is None else root[0], self._version)

    @property
    def versions_kept(self) -> list[str]:
        """Older versions the store keeps besides the committed one (``keep_versions=``),
        any of which ``version=`` opens."""
        root = self._root()
        record = ((root[0] if root else {}).get("attributes") or {}).get(ATTR)
        kept = record.get("kept") if isinstance(record, dict) else None
        return [name for name in kept or [] if isinstance(name, str)]

    # -- reading ---------------------------------------------------------------------

    @property
    def _chunk_grid(self) -> ChunkGrid | None:
        if self._grid is None:
            arr = self._array
            self._grid = arr.ndim > 2 and grid_of(arr, self._location.child(arr.path),
                                                  strict=self._strict) or False
        return self._grid if isinstance(self._grid, ChunkGrid) else None

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        if self._live is not None and self._live.get("dropped") and self._missing == "error":
            self._refuse_dropped(frames)
        try:
            out = self._read(frames, region)
        except (NotASeriesError, OSError):
            if self._stamp() is not None:  # a store replaced meanwhile: that, not its symptom
                self._check_same_store(always=True)
            raise
        # after the read: a store swapped or removed meanwhile may have given other frames
        self._check_same_store()
        return out

    def _refuse_dropped(self, frames: FrameSelection) -> None:
        lost = self.dropped
        wanted = np.arange(frames.start, frames.stop) if isinstance(frames, slice) else frames
        hit = lost[np.isin(lost, wanted)]
        if len(hit):
            raise DroppedFrameError(
                f"{self._path!r}: frame {int(hit[0])} was lost by the live source this store was "
                f"written from ({len(lost)} lost, listed in its record); select other frames, or "
                "open the store with missing='fill' to read lost frames as the fill value")

    def _read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        grid = self._chunk_grid
        if grid is not None:
            if type(frames) is slice and frames.stop - frames.start == 1 and \
                    region == grid.full_region:
                out = grid.read_frame(frames.start)
            else:
                rest = [slice(0, n) for n in grid.shape[1 + len(region):]]
                out = grid.read((frames, *(slice(a, b) for a, b in region), *rest))
        else:
            arr = self._array
            if self._strict:  # zarr-python would give the fill value
                _require_chunks(arr, self._location, frames, region, self._path)
            out = _read_array(arr, frames, region)
        return out

    # -- an object store far away: requests kept in flight ---------------------------

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """All frames; from an object store in one read, every object's request in flight at
        once (the latency of one request, not of one per task of a dask graph)."""
        if self._location.local is not None:
            return super().__array__(dtype, copy)
        out = self.read(slice(0, len(self)), self.spec.full_region)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Frames in order; from an object store, the next stored objects are read while
        earlier frames are used (:data:`PREFETCH` requests in flight)."""
        if self._location.local is not None:
            yield from super().__iter__()
            return
        from concurrent.futures import ThreadPoolExecutor

        n, size = len(self), max(1, self.frame_chunk or 1)
        starts = iter(range(0, n, size))
        region = self.spec.full_region
        depth = max(PREFETCH, min(4 * PREFETCH, PREFETCH_BYTES // max(1, size * self.frame_bytes)))
        with ThreadPoolExecutor(depth) as pool:
            ahead = deque(pool.submit(self.read, slice(a, min(a + size, n)), region)
                          for a in itertools.islice(starts, depth))
            while ahead:
                block = ahead.popleft().result()
                for a in itertools.islice(starts, 1):
                    ahead.append(pool.submit(self.read, slice(a, min(a + size, n)), region))
                yield from block

    def __setitem__(self, key: Any, value: Any) -> None:
        """``s[j] = frame`` or ``s[j, rows, cols] = value``, written to the store (mode ``r+``).

        Every chunk is written, all fill value or not: a complete store holds them all.
        """
        if self._mode != "r+":
            raise ReadOnlyError(
                f"{self._path!r} is open read-only; open it with mode='r+' to write frames")
        key = key if isinstance(key, tuple) else (key,)
        j = self._frame_index(key[0])
        arr = self._array.with_config({"write_empty_chunks": True})
        if arr.ndim == 2:
            arr[key[1:]] = value
        else:
            arr[(j, *key[1:])] = value

    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = {} if self._name is None else {"array": self._name}
        if self._level is not None:
            options["level"] = self._level
        if self._mode != "r":
            options["mode"] = self._mode
        if self._missing != "error":
            options["missing"] = self._missing
        if self._version is not None:
            options["version"] = self._version
        if self._watch.rule.idle != DEFAULT_IDLE:
            options["idle"] = self._watch.rule.idle
        return options

    def stamped_files(self) -> tuple[str, ...]:
        return (f"{self._path.rstrip('/')}/zarr.json",)  # rewritten when a write completes

    def _dask_token(self) -> str:
        from dask.base import tokenize

        # the root's metadata is rewritten when a write completes
        return str(tokenize(self.format_name, self._location.child("zarr.json").token(),
                            sorted(self.options().items())))

    @property
    def provenance(self) -> dict[str, Any] | None:
        """What the store records of where its frames came from, if written by lazyseries."""
        self._array  # noqa: B018  (the identity of the store opened)
        try:
            group, found = follow(open_group(self._location), self._version)
        except Exception:  # noqa: BLE001  (an array, or anything else: no record)
            return None
        if found is None:
            return None
        record = dict(found)
        provenance = _json.decode(record.get("provenance"), _array_loader(group, self._location))
        self._check_same_store()
        return provenance

    def __repr__(self) -> str:
        return f"<ZarrSeries {self._path!r}: {counted(len(self), 'frame')} of {self.shape} {self.dtype}>"


def _changed(path: str) -> Exception:
    return StoreChangedError(
        f"{path!r} was replaced or is being rewritten since this series opened it; its frames "
        "may now be another write's; open it again")


def _read_array(arr: Any, frames: FrameSelection, region: Region) -> np.ndarray:
    index = region_index(region)
    if arr.ndim == 2:
        return np.asarray(arr[index])[np.newaxis][frames]
    if isinstance(frames, slice):
        if frames.stop - frames.start == 1:  # zarr's integer path is the faster one
            return np.asarray(arr[(frames.start, *index)])[np.newaxis]
        return np.asarray(arr[(frames, *index)])
    return np.asarray(arr.oindex[(frames, *index)])


def _require_chunks(arr: Any, location: Location, frames: FrameSelection, region: Region,
                    path: str) -> None:
    """Raise naming the first stored object of the read that is missing (zarr would give
    zeros); for the layouts zarr-python reads (the direct path checks its own)."""
    import itertools

    grid = arr.metadata.chunk_grid.chunk_shape  # stored objects: shards if sharded
    if isinstance(frames, slice):
        firsts: Any = range(frames.start // grid[0], (frames.stop - 1) // grid[0] + 1) \
            if frames.stop > frames.start else range(0)
    else:
        firsts = sorted({int(j) // grid[0] for j in np.asarray(frames).reshape(-1)})
    spans = [range(lo // g, (max(hi, lo + 1) - 1) // g + 1)
             for (lo, hi), g in zip(region, grid[1:])]
    spans += [range(-(-n // g)) for n, g in zip(arr.shape[1 + len(region):],
                                                   grid[1 + len(region):])]
    base = location.child(arr.path)
    for coords in itertools.product(firsts, *spans):
        key = arr.metadata.encode_chunk_key(coords)
        if not base.child(key).exists():
            raise MissingChunkError(
                f"{path!r}: chunk {key!r} of array {arr.path!r} (frames from "
                f"{coords[0] * grid[0]}) is missing from this complete store; the data is "
                "lost or the store was damaged; rewrite it from its source")


def _open_frames(location: Location, path: str, mode: str, name: str | None,
                 level: int | None, version: str | None, root: dict[str, Any] | None = None
                 ) -> tuple[Any, Callable[[], dict], dict[str, Any] | None]:
    """The frames array of the store, a function that decodes its metadata, and the store's
    ``lazyseries`` record (None for stores written by other tools).

    Metadata arrays are read only when the metadata is asked for, so opening a
    store (on every worker of a cluster) reads nothing but JSON.  Whatever
    zarr-python says of a document it cannot take, or a layout no reader should
    try, is a :class:`~pipeline.errors.NotASeriesError` naming the store.
    """
    try:
        found = _frames_array(location, path, mode, name, level, version, root)
        grid_of(found[0], location.child(found[0].path))  # refuses unreadable layouts now
        return found
    except (NotASeriesError, MissingChunkError):
        raise
    except RecursionError:  # JSON nested deeper than the parser goes
        raise NotASeriesError(f"{path!r} is not a readable Zarr store: its zarr.json nests "
                              "deeper than a JSON parser can follow") from None
    except Exception as err:  # noqa: BLE001  (zarr-python's complaints about metadata: any type)
        if not location.exists():  # removed since (on a worker: never reachable there)
            raise FileNotFoundError(f"no such Zarr store: {path!r}") from None
        entries = location.list()
        if entries and all(is_version_name(e) for e in entries):
            raise IncompleteStoreError(
                f"{path!r} is an incomplete store: the write that made it did not finish (or "
                "is still running); write the same series to it again to complete it, or "
                "remove it") from None
        raise NotASeriesError(f"{path!r} is not a readable Zarr store: "
                              f"{type(err).__name__}: {err}") from err


def _frames_array(location: Location, path: str, mode: str, name: str | None,
                  level: int | None, version: str | None, root: dict[str, Any] | None
                  ) -> tuple[Any, Callable[[], dict], dict[str, Any] | None]:
    import zarr

    store = location.zarr_store(read_only=mode == "r")
    how: Literal["r", "r+"] = "r+" if mode == "r+" else "r"
    kind = (root or {}).get("node_type")
    committed = _committed(root, version)
    node: Any
    if committed is not None:  # an object store's version: the root's document is read
        node = zarr.open_group(store, path=committed, mode=how, zarr_format=3)
        record = node.attrs.get(ATTR)
    else:  # the kind of node is known from the root's zarr.json: no probing for others
        if kind == "group":
            node = zarr.open_group(store, mode=how, zarr_format=3)
        elif kind == "array":
            node = zarr.open_array(store, mode=how, zarr_format=3)
        else:
            node = zarr.open(store, mode=how)
        if isinstance(node, zarr.Array):
            return node, lambda: dict(node.attrs), None
        node, record = follow(node, version)
    if record is not None:
        if not isinstance(record, dict):
            raise NotASeriesError(f"{path!r}: its {ATTR!r} record is {record!r:.80}, not a "
                                  "mapping; the store is corrupt, rewrite it")
        if record.get("complete") is not True and not isinstance(record.get("live"), dict):
            # "false", 0, missing: not complete (a live write's store grows, readable as it does)
            raise IncompleteStoreError(
                f"{path!r} is an incomplete store: the write that made it did not finish "
                "(or is still running); write the same series to it again to complete it, "
                "or remove it")
        name = name or record.get("array", ARRAY_NAME)
    loader = _array_loader(node, location)
    image = ome.multiscale(node.attrs)
    if image is None and level:
        raise NotASeriesError(f"{path!r} is not an OME-Zarr image: it has no level {level!r}")
    if image is not None and (level is not None or (name is None and record is None)):
        name = ome.dataset_path(image, level or 0, repr(path))
        return (ome.level_array(node, name, path),
                ome.level_metadata(node, image, record, level or 0, loader), record)
    if name is not None and record is not None:  # the record names it: no listing
        try:
            found = node[name]
        except KeyError:
            found = None
        if isinstance(found, zarr.Array) and found.ndim >= 2:
            meta = node.attrs.get("metadata")
            return found, lambda: _json.decode(meta or {}, loader), record
    arrays = {key: arr for key, arr in node.arrays() if arr.ndim >= 2}
    if name is None:
        name = ARRAY_NAME if ARRAY_NAME in arrays else (next(iter(arrays)) if len(arrays) == 1
                                                       else None)
    if name not in arrays:
        raise NotASeriesError(
            f"{path!r} holds no frames array {name!r}; arrays of 2 or more dimensions "
            f"found: {sorted(arrays)}; pass array= to choose one")
    meta = node.attrs.get("metadata") if record is not None else dict(node.attrs)
    return arrays[name], lambda: _json.decode(meta or {}, loader), record


def _committed(root: dict[str, Any] | None, version: str | None) -> str | None:
    """The version of a versioned store to open, from its root's document (checked)."""
    record = ((root or {}).get("attributes") or {}).get(ATTR)
    if root is None or not isinstance(record, dict) or "version" not in record:
        return None
    return committed_version(record, version)


def _array_loader(group: Any, location: Location) -> Callable[[str], np.ndarray]:
    def load(key: str) -> np.ndarray:
        return read_array(group, location, key)

    return load


__all__ = ["MISSING", "ZarrSeries"]

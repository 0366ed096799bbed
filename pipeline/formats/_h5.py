"""What every reader and writer of HDF5 files shares: h5py, files, layouts, metadata attributes.

Used by the ``hdf5`` format (hexrd's layout and NeXus files), the Eiger stream
formats and the fch5 frame caches; none of them imports another.

- h5py, with the compression filters of hdf5plugin registered whenever it is
  installed (detector HDF5 is compressed with bitshuffle-LZ4, Blosc, zstd), so
  that a series unpickled on a dask worker reads what it read where it was
  opened;
- opening a file (a file HDF5 cannot open is a damaged file of this format),
  or reading through an open ``h5py.File``/``Group`` the caller holds
  (hexrd's ``open(f, "hdf5")``);
- which of the known layouts an HDF5 file holds (an fch5 frame cache, an Eiger
  stream of version 1 or 2), for each format's detection;
- series metadata in attributes, through the one codec (:mod:`pipeline._json`):
  a value HDF5 gives back exactly is an ordinary attribute, as hexrd writes
  them; any other is ``"json:"`` plus its encoding, and arrays too large for an
  attribute header are datasets in the group ``_lazyseries_arrays``;
- hexrd's dataset options (``gzip``, ``shuffle``, ``chunk_rows``,
  ``compression``) and writing into a group.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import posixpath
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ops import require
from pipeline import _json
from pipeline.errors import (
    NotASeriesError,
    OptionValueError,
    StoreExistsError,
    UnreadableFrameError,
    WriteTargetError,
)
from pipeline.formats._filewrite import iter_blocks
from pipeline.series import ImageSeries

SIGNATURE = b"\x89HDF\r\n\x1a\n"
FRAMECACHE_ATTR = "HEXRD_FRAMECACHE_VERSION"
"""The root attribute that makes an HDF5 file an fch5 frame cache."""

_plugins_loaded: bool | None = None


# -- h5py and files --------------------------------------------------------------------


def h5py(purpose: str = "HDF5 files") -> Any:
    """The h5py module (ImportError naming the ``hdf5`` extra if missing), filters registered."""
    module = require("h5py", "hdf5", purpose)
    register_plugins()
    return module


def register_plugins() -> bool:
    """Import hdf5plugin once, if installed, registering its filters; whether it is."""
    global _plugins_loaded
    if _plugins_loaded is None:
        try:
            import hdf5plugin  # noqa: F401  (importing registers the filters)
        except ImportError:
            _plugins_loaded = False
        else:
            _plugins_loaded = True
    return _plugins_loaded


def is_hdf5(path: str) -> bool:
    """Whether the local file ``path`` starts with the HDF5 signature."""
    try:
        with builtins.open(path, "rb") as fh:
            return fh.read(8) == SIGNATURE
    except OSError:
        return False


def open_file(path: Any, purpose: str = "HDF5 files", name: str | None = None) -> Any:
    """``h5py.File(path, "r")``; a file HDF5 cannot open is NotASeriesError naming it.

    ``path`` may be an open binary file object (an fsspec URL's); ``name``
    then says which file it is.  HDF5 says "truncated file", "bad superblock"
    and the like as a bare OSError; a file that starts as HDF5 but will not
    open is a corrupt file of this format, not another format's.
    """
    module = h5py(purpose)
    try:
        return module.File(path, "r")
    except OSError as err:
        where = path if name is None else name
        raise NotASeriesError(f"{where!r} is not a readable HDF5 file: {err}") from err


@contextlib.contextmanager
def reading(name: str, what: str = "frames") -> Iterator[None]:
    """Reads of ``what`` from the HDF5 file ``name``: what HDF5 says of bytes it cannot give
    (a virtual dataset's short source, a damaged chunk, a link cycle: a bare OSError or
    RuntimeError) is an UnreadableFrameError naming the file."""
    try:
        yield
    except (OSError, RuntimeError) as err:
        raise UnreadableFrameError(f"{name!r}: its {what} cannot be read: {err}") from err


def read_frames(ds: Any, frames: Any, index: tuple[Any, ...],
                region: Any, dtype: Any) -> np.ndarray:
    """Frames ``frames`` (a slice, or numbers in any order, repeats allowed) of the h5py
    dataset ``ds``, each cut by ``index`` (``()``: whole; the cut of ``region``).

    h5py wants strictly increasing indices: each frame is read once, in order,
    then put where it was asked.
    """
    if isinstance(frames, slice):
        return np.asarray(ds[(frames, *index)])
    wanted, back = np.unique(frames, return_inverse=True)
    if len(wanted) == 0:
        return np.empty((0, *(hi - lo for lo, hi in region)), dtype)
    return np.asarray(ds[(wanted, *index)])[back]


def is_h5_node(obj: Any) -> bool:
    """Whether ``obj`` is an open h5py File or Group (h5py is not imported for a path)."""
    module = sys.modules.get("h5py")
    return module is not None and isinstance(obj, module.Group)


def node_location(node: Any, path: str | None) -> tuple[str, str]:
    """``(file name, absolute group path)`` of ``path`` inside the open group ``node``."""
    return node.file.filename, posixpath.join(node.name, path) if path else node.name


@contextlib.contextmanager
def opened(where: Any, mode: str = "r", name: str | None = None) -> Iterator[Any]:
    """The h5py File at file name ``where``, or ``where`` itself if it is open (left open)."""
    if is_h5_node(where):
        yield where
        return
    f = open_file(where, name=name) if mode == "r" else h5py().File(where, mode)
    with f:
        yield f


# -- layouts ---------------------------------------------------------------------------


def stream_version(f: Any) -> int | None:
    """1 or 2 for an open HDF5 file laid out as an Eiger stream, else None."""
    data = f.get("data")
    if data is None or not hasattr(data, "keys") or "0" not in data:
        return None
    first = data["0"]
    if not hasattr(first, "keys"):
        return None
    if "data" in first and "dtype" in first:
        return 1
    for channel in first.values():
        if hasattr(channel, "keys") and "data" in channel and "dtype" in channel:
            return 2
    return None


def layout(path: str) -> str | None:
    """The layout the HDF5 file at ``path`` holds: ``"fch5"``, ``"eiger-stream-v1"``,
    ``"eiger-stream-v2"``, ``"hdf5"`` (any other), or None for a file that is not HDF5."""
    if not is_hdf5(path):
        return None
    try:
        with h5py("HDF5 files").File(path, "r") as f:
            if FRAMECACHE_ATTR in f.attrs:
                return "fch5"
            version = stream_version(f)
    except OSError:
        return "hdf5"  # a damaged HDF5 file: the hdf5 reader says what is wrong with it
    return "hdf5" if version is None else f"eiger-stream-v{version}"


# -- metadata in attributes --------------------------------------------------------------

JSON_PREFIX = "json:"
ARRAYS = "_lazyseries_arrays"
ATTR_LIMIT = 16 * 1024
"""Attribute values up to this many bytes; larger ones go to datasets (HDF5 caps near 64 KiB)."""

JSON_REF = "__json_ref__"


def _native(value: Any) -> bool:
    """Whether HDF5 gives ``value`` back as it is, type, dtype and shape included."""
    if isinstance(value, np.generic):
        return value.dtype.kind in "biufc"
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biufc" and value.ndim >= 1 and value.size >= 1 \
            and value.nbytes <= ATTR_LIMIT
    return isinstance(value, str) and not value.startswith(JSON_PREFIX)


def write_attrs(group: Any, meta: dict[str, Any]) -> None:
    """``meta`` as attributes of ``group`` (large arrays as datasets beside it)."""
    from dask.base import tokenize

    def sink(arr: np.ndarray) -> str:
        key = f"{ARRAYS}/{tokenize(arr.dtype.str, arr.shape, arr)[:16]}"
        if key not in group:
            group.create_dataset(key, data=np.ascontiguousarray(arr))
        return key

    for key, value in meta.items():
        if isinstance(value, bytes):
            value = _json.decode(_json.encode(value))  # str when UTF-8
        if _native(value):
            group.attrs[key] = value
            continue
        text = json.dumps(_json.encode(value, sink, key, inline_limit=ATTR_LIMIT // 2))
        if len(text) > ATTR_LIMIT:
            ref = f"{ARRAYS}/json-{tokenize(text)[:16]}"
            if ref not in group:
                group.create_dataset(ref, data=np.frombuffer(text.encode(), np.uint8))
            text = json.dumps({JSON_REF: ref})
        group.attrs[key] = JSON_PREFIX + text


def _decode_attr(value: str, group: Any) -> Any:
    doc = json.loads(value[len(JSON_PREFIX):])
    if isinstance(doc, dict) and set(doc) == {JSON_REF}:
        doc = json.loads(np.asarray(group[doc[JSON_REF]][()]).tobytes().decode())
    if group is None:
        return _json.decode(doc)
    return _json.decode(doc, lambda key: np.asarray(group[key][()]))


def read_attrs(attrs: Any, group: Any = None) -> dict[str, Any]:
    """HDF5 attributes as metadata: byte strings decoded, JSON-encoded values restored."""
    meta: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, np.ndarray) and value.dtype.kind == "S":
            value = value.astype(str)
        elif isinstance(value, np.ndarray) and value.dtype.kind == "O":
            value = np.array([v.decode() if isinstance(v, bytes) else v for v in value.ravel()]
                             ).reshape(value.shape)
        if isinstance(value, str) and value.startswith(JSON_PREFIX):
            value = _decode_attr(value, group)
        meta[key] = value
    return meta


# -- hexrd's datasets ----------------------------------------------------------------------


def dataset_options(shape: tuple[int, ...], gzip: int, shuffle: bool, chunk_rows: int,
                    compression: Any) -> dict[str, Any]:
    """h5py ``create_dataset`` options from hexrd's writer arguments, checked."""
    if not 0 <= int(gzip) <= 9:
        raise OptionValueError(f"gzip={gzip!r}: the gzip level must be 0 (none) to 9")
    rows = int(chunk_rows)
    rows = shape[-2] if rows < 1 or rows > shape[-2] else rows
    options: dict[str, Any] = {"chunks": (1, *shape[:-2], rows, shape[-1])}
    if compression is not None:
        # as hexrd: an explicit spec is used as it is, with its own shuffle, no gzip
        options.update(compression_options(compression))
        return options
    options["shuffle"] = bool(shuffle)
    if gzip > 0:
        options.update(compression="gzip", compression_opts=int(gzip))
    return options


def compression_options(compression: Any) -> dict[str, Any]:
    """h5py options from a filter name, a mapping or an hdf5plugin filter (a mapping of them)."""
    if isinstance(compression, str):
        return {"compression": compression}
    if isinstance(compression, Mapping) and "compression" in compression:
        return dict(compression)
    raise OptionValueError(
        f"compression={compression!r} must be a filter name ('lzf', 'gzip'), a mapping of "
        "h5py create_dataset options such as {'compression': 'lzf'}, or an hdf5plugin "
        "filter such as hdf5plugin.Blosc(cname='zstd', clevel=5)"
    )


def write_group(series: ImageSeries, group: Any, dataname: str, options: dict[str, Any],
                meta: dict[str, Any]) -> None:
    """``series`` as the dataset ``dataname`` of ``group``, its metadata as the group's attrs."""
    _json.check(meta)
    ds = group.create_dataset(dataname, (len(series), *series.shape), series.dtype, **options)
    write_attrs(group, meta)
    for start, block in iter_blocks(series):
        ds[start:start + len(block)] = block


def writable(node: Any, what: str) -> None:
    """Refuse an open file the caller opened read-only."""
    if node.file.mode != "r+":
        raise WriteTargetError(f"{node.file.filename!r} is open read-only; open it with mode "
                               f"'a' or 'w' to write {what} into it")


def target_group(node: Any, path: str, dataname: str, overwrite: bool) -> Any:
    """The group ``path`` of an open file to write ``dataname`` into, after the overwrite check."""
    writable(node, "a series")
    group = node.require_group(path)
    if dataname in group:
        if not overwrite:
            raise StoreExistsError(
                f"{node.file.filename!r} already holds {group.name}/{dataname}; pass "
                "overwrite=True to replace it, or choose another path= or dataname="
            )
        del group[dataname]
    return group

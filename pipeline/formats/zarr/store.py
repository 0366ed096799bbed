"""A lazyseries Zarr store as a container: its header, its record, its completion.

A store is a group holding the frames as one array ``0`` of shape
``(N, *frame_shape)`` (``images`` in stores of layout version 1), the
series' metadata, and a ``lazyseries`` attribute (the record) giving the
layout version, where the frames came from, the
write's id and whether the write finished; and it is an OME-Zarr image
(:mod:`pipeline.ome`).  Every array of it is written by
:class:`~pipeline.formats.zarr.chunks.ChunkGrid`, level 0 and the OME levels
alike; zarr-python writes only the JSON.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from pipeline import _json, ome
from pipeline.axes import dimension_names
from pipeline.formats.zarr.chunks import ChunkGrid
from pipeline.formats.zarr.layout import Layout, grid_of, resolve_codec
from pipeline.errors import NotASeriesError
from pipeline.storage import Location

FORMAT_VERSION = 2
"""Layout versions: 1, frames ``images`` and OME levels ``levels/N``; 2, frames and levels
``0``, ``1``, ... at the root, as NGFF readers expect them by convention."""
ARRAY_NAME = "0"
V1_ARRAY_NAME = "images"
"""The frames array of a store of layout version 1 (read; never written)."""
ATTR = "lazyseries"
METADATA_FILES = ("zarr.json", ".zgroup", ".zarray")
"""What makes a directory a Zarr node (format 3, or format 2's group or array)."""


def open_group(location: Location, mode: Literal["r", "r+", "w"] = "r") -> Any:
    """zarr-python's group at ``location`` (``mode`` as ``zarr.open_group`` takes it)."""
    import zarr

    return zarr.open_group(location.zarr_store(read_only=mode == "r"), mode=mode,
                           zarr_format=3 if mode == "w" else None)


WINDOWS = "#omero-windows"
"""Stands, among the paths :func:`create_store` returns, for the channels' display windows."""


def create_store(location: Location, frames: Any, layout: Layout, axes: str,
                 record: dict[str, Any], metadata: Any,
                 phase: Callable[[str], None] = lambda name: None, name: str = "image"
                 ) -> tuple[list[Any], list[str]]:
    """A new store at ``location``: header, metadata, and the empty arrays ``frames`` go to.

    ``record`` (the ``lazyseries`` attribute) and ``metadata`` are encoded with
    the one codec of :mod:`pipeline._json`, their large arrays stored beside the
    frames.  Returns the dask arrays to store (the frames, then any OME-Zarr
    levels computed from them in the same graph, then the channels' display
    windows, :data:`WINDOWS`) and the paths of their arrays.
    """
    full_shape, dtype, dims = tuple(frames.shape), np.dtype(frames.dtype), dimension_names(axes)
    ome_attrs = ome.image_attrs(axes, metadata, layout.levels, full_shape, dtype, name)
    group = open_group(location, mode="w")
    sink = _array_sink(group, location)
    record = {**record, "provenance": _json.encode(record.get("provenance"), sink)}
    group.attrs.update({ATTR: record, "metadata": _json.encode(metadata, sink), **ome_attrs})
    phase("metadata")
    group.create_array(
        ARRAY_NAME, shape=full_shape, dtype=dtype, chunks=layout.chunks, shards=layout.shards,
        compressors=layout.compressors, fill_value=0, overwrite=True, dimension_names=dims,
        config={"write_empty_chunks": True},
    )
    ome.create_levels(group, frames, layout.levels, layout.stored,
                      compressors=layout.compressors, fill_value=0, dimension_names=dims,
                      config={"write_empty_chunks": True})
    phase("array")
    return stored_arrays(frames, layout, axes, metadata)


RANGES = "_ranges"
"""Where, in a store being written, each block of frames' channel ranges is kept until the
store completes (folded then into its display windows, :func:`set_complete`)."""


class _Windows:
    """Where the display windows are computed in the write's graph: from each block of frames
    as it is stored, its channels' ranges (:func:`pipeline.ome.ranges`) an object of their own
    beside the arrays, so that a write resumed after a kill keeps those of the blocks it kept;
    folded into the store's ``omero`` when it completes (:func:`set_complete`)."""

    def __init__(self, location: Location, axes: str) -> None:
        self.location, self.axes = location, axes

    def part(self, start: int, stop: int) -> Location:
        return self.location.child(RANGES, f"{start}-{stop}")

    def __setitem__(self, key: Any, frames: np.ndarray) -> None:
        rows = key[0]
        found = ome.ranges(frames, self.axes)
        self.part(rows.start, rows.stop).write(np.asarray(found, "<f8").tobytes())


def open_targets(location: Location, paths: list[str], axes: str) -> list[Any]:
    """What the arrays at ``paths`` of the store at ``location`` (of frames with ``axes``) are
    written through: their :class:`ChunkGrid`, or the zarr-python array for a codec the direct
    path does not cover, and for :data:`WINDOWS` what keeps each block's ranges.

    Every chunk is written, zeros too: a complete store holds them all, so a
    missing one is lost data.
    """
    group = open_group(location, mode="r+")
    targets: list[Any] = []
    for path in paths:
        if path == WINDOWS:
            targets.append(_Windows(location, axes))
            continue
        array = group[path]
        grid = grid_of(array, location.child(path))
        if grid is None:
            targets.append(array.with_config({"write_empty_chunks": True}))
        else:
            grid.write_empty = True
            targets.append(grid)
    return targets


def stored_arrays(frames: Any, layout: Layout, axes: str, metadata: Any
                  ) -> tuple[list[Any], list[str]]:
    """What :func:`create_store` returns for a store it made with ``layout``: the dask arrays
    to store (the frames, then each OME-Zarr level pooled from the one before, then the frames
    again, whose blocks' ranges give the display windows, :data:`WINDOWS`) and the paths of
    their arrays, computed without touching the store."""
    sources, current = [frames], frames
    for _ in range(layout.levels):
        current = ome.downsample(current)
        sources.append(current)
    paths = [ome.level_path(k) for k in range(layout.levels + 1)]
    if ome.measured_windows(axes, metadata, frames.shape, frames.dtype):
        sources.append(frames)  # their ranges, from the blocks the write stores
        paths.append(WINDOWS)
    return sources, paths


def written(targets: list[Any], start: int, stop: int) -> bool:
    """Whether frames ``start:stop`` are stored in every one of ``targets`` already: each
    stored object they cover exists (objects are written whole, or not at all)."""
    for target in targets:
        if isinstance(target, _Windows):
            if not target.part(start, stop).exists():
                return False
            continue
        if not isinstance(target, ChunkGrid):
            return False  # zarr-python's arrays: no such promise, write them again
        size = target.stored[0]
        rest = [range(-(-n // s)) for n, s in zip(target.shape[1:], target.stored[1:])]
        for first in range(start // size, -(-stop // size)):
            for coords in itertools.product([first], *rest):
                if not target.location(coords).exists():
                    return False
    return True


def _array_sink(group: Any, location: Location) -> Callable[[np.ndarray], str]:
    """Stores large metadata arrays beside the frames, each distinct array once.

    A dark frame is often both in the metadata and in the recorded op chain;
    it is stored once, named by its content.
    """

    def sink(arr: np.ndarray) -> str:
        from dask.base import tokenize

        key = f"_arrays/{tokenize(arr.dtype.str, arr.shape, arr)[:16]}"
        if key not in group:
            write_array(group, location, key, np.ascontiguousarray(arr))
        return key

    return sink


def write_array(group: Any, location: Location, key: str, data: np.ndarray,
                compressors: Any = None) -> Any:
    """``group.create_array(key, data=data, compressors=compressors)``, its chunks written
    through the direct chunk path (zarr-python's choice of chunks, empty chunks left out as
    zarr-python leaves them out, byte for byte).

    ``compressors`` default to the frames' default codec: an 8 MB dark frame in
    10 ms, where zarr's default (Zstd level 0) takes 70 ms, at about the same size.
    """
    compressors = resolve_codec("default") if compressors is None else compressors
    array = group.create_array(key, shape=data.shape, dtype=data.dtype, overwrite=True,
                               compressors=compressors, config={"write_empty_chunks": False})
    grid = grid_of(array, location.child(key)) if data.ndim else None
    if grid is None:
        array[...] = data
        return array
    size = grid.stored[0]
    for a in range(0, data.shape[0], size):
        grid.write((slice(a, min(a + size, data.shape[0])),), data[a:a + size])
    return array


def read_array(group: Any, location: Location, key: str) -> np.ndarray:
    """A metadata array ``key`` of ``group`` (a group of the store at ``location``), whole."""
    arr = group[key]
    grid = grid_of(arr, location.child(arr.path)) if arr.ndim else None
    if grid is None:
        return np.asarray(arr[...])
    return grid.read(tuple(slice(0, n) for n in arr.shape))


def read_record(location: Location) -> dict[str, Any] | None:
    """The store's ``lazyseries`` record with the frames' shape and dtype, or None (no store,
    not one of ours, unreadable)."""
    try:
        doc = json.loads(location.child("zarr.json").read(limit=2**26))
        record = doc.get("attributes", {}).get(ATTR)
        if not isinstance(record, dict):
            return None
        name = str(record.get("array", V1_ARRAY_NAME))
        array = json.loads(location.child(name, "zarr.json").read(limit=2**26))
        out = dict(record)
        out["_shape"] = tuple(int(n) for n in array["shape"])
        out["_dtype"] = np.dtype(array["data_type"]).str
        return out
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None  # anything unreadable is not a store of ours to resume


def set_complete(location: Location) -> None:
    """Mark the store at ``location`` complete, its display windows the frames' ranges folded
    from each block's (:class:`_Windows`): the last step of a write."""
    kept = location.child(RANGES)
    parts = [np.frombuffer(kept.child(name).read(), "<f8").reshape(-1, 2)
             for name in kept.list()]
    update_record(location, complete=True, windows=ome.merged(parts) if parts else None)
    kept.remove_tree()


# -- stores that grow while they are written (live series) ---------------------------------
#
# A live write commits frames as they arrive: the chunks first, then each array's shape, then
# the record's ``live`` part (``committed``, the frames lost, the frames announced), each
# document replaced whole in one write, so a reader sees a shape and a committed count that
# never run ahead of the chunks written, and a reader that knows nothing of lazyseries
# (zarr-python, napari-ome-zarr) sees only the frames committed.


def _document(location: Location) -> dict[str, Any]:
    doc = json.loads(location.child("zarr.json").read(limit=2**26))
    if not isinstance(doc, dict):
        raise NotASeriesError(f"{location.text!r}: its zarr.json is not a JSON object")
    return doc


def _put(location: Location, doc: dict[str, Any]) -> None:
    # zarr-python's own layout of the document (indent 2), so a store grown to N frames holds
    # the same bytes as one written with N frames at once
    location.child("zarr.json").write(json.dumps(doc, indent=2).encode())


def resize(location: Location, paths: list[str], nframes: int) -> None:
    """Make the arrays at ``paths`` of the store at ``location`` hold ``nframes`` frames (their
    chunks already written); each array's document is replaced whole."""
    for path in paths:
        where = location.child(path)
        doc = _document(where)
        if doc["shape"][0] != nframes:
            doc["shape"][0] = int(nframes)
            _put(where, doc)


def update_record(location: Location, live: dict[str, Any] | None = None,
                  complete: bool | None = None, metadata: Any = None,
                  windows: np.ndarray | None = None) -> None:
    """Replace the store's root document with its record's ``live`` part, its completion,
    its metadata (large arrays stored beside the frames first) and its channels' display
    windows (:func:`pipeline.ome.ranges`) changed as given."""
    encoded = None
    if metadata is not None:
        encoded = _json.encode(metadata, _array_sink(open_group(location, mode="r+"), location))
    doc = _document(location)
    attrs = doc.setdefault("attributes", {})
    record = dict(attrs.get(ATTR) or {})
    if live is not None:
        record["live"] = live
    if complete is not None:
        record["complete"] = complete
    attrs[ATTR] = record
    if encoded is not None:
        attrs["metadata"] = encoded
    if windows is not None and (found := ome.set_windows(attrs, windows)) is not None:
        attrs["ome"] = found
    _put(location, doc)


# -- versions on object stores -------------------------------------------------------------
#
# An object store cannot rename a directory, so a store there is versioned: each write builds
# a complete store under a prefix of its own (``<target>/<version>/``), and becomes visible by
# one conditional write of the root's ``zarr.json``, whose record names the committed version
# and whose OME-Zarr ``multiscales`` point into it, so NGFF readers (napari-ome-zarr,
# ome-zarr-py, bioio) find exactly the committed frames; zarr-python and xarray read the
# version the record names (``zarr.open_group(url)[record["array"]]``).  Objects of a version
# are never rewritten.

VERSION_PREFIX = "v"


def version_name(number: int, write_id: str) -> str:
    """The prefix of a store's ``number``-th version, unique to the write that makes it."""
    return f"{VERSION_PREFIX}{number}-{write_id[:12]}"


def is_version_name(name: str) -> bool:
    head, _, tail = name.partition("-")
    return head[:1] == VERSION_PREFIX and head[1:].isdigit() and len(tail) == 12 and \
        all(c in "0123456789abcdef" for c in tail)


def committed_version(record: dict[str, Any], version: str | None = None) -> str:
    """The version of a versioned store's root ``record`` to open: the committed one, or
    ``version`` if the store keeps it."""
    kept = [record["version"], *(record.get("kept") or [])]
    name = record["version"] if version is None else version
    if name not in kept or not isinstance(name, str) or not is_version_name(name):
        raise NotASeriesError(f"no version {name!r} in this store; it keeps {kept}")
    return name


def follow(node: Any, version: str | None = None) -> tuple[Any, dict[str, Any] | None]:
    """The group holding the frames of the store whose root group is ``node`` and its record:
    for a versioned store, the committed version (or ``version``, one it keeps)."""
    record = node.attrs.get(ATTR)
    if not isinstance(record, dict) or "version" not in record:
        if version is not None:
            raise NotASeriesError(f"{version!r}: this store keeps no versions")
        return node, record
    group = node[committed_version(record, version)]
    inner = group.attrs.get(ATTR)
    return group, (inner if isinstance(inner, dict) else None)


def committed(target: Location) -> tuple[dict[str, Any] | None, str | None]:
    """The root record of a versioned store at ``target`` and the version (ETag) of its
    ``zarr.json``; ``(None, version)`` for a root that is not a versioned store's, and
    ``(None, None)`` when there is no root."""
    root = target.child("zarr.json")
    try:
        data, version = root.read_versioned()
    except FileNotFoundError:
        return None, None
    try:
        record = json.loads(data).get("attributes", {}).get(ATTR)
    except (ValueError, AttributeError):
        return None, version
    return (record if isinstance(record, dict) and "version" in record else None), version


def publish(target: Location, version: str, number: int, previous: str | None,
            kept: list[str]) -> bool:
    """Point ``target``'s root at its complete version ``version``: one conditional write of
    its ``zarr.json`` (created when ``previous`` is None, else replacing that version of it).
    False if another writer changed the root meanwhile."""
    doc = json.loads(target.child(version, "zarr.json").read(limit=2**26))
    attrs = dict(doc.get("attributes") or {})
    inner = dict(attrs.get(ATTR) or {})
    record = {"format_version": FORMAT_VERSION, "complete": True, "version": version,
              "number": number, "array": f"{version}/{inner.get('array', V1_ARRAY_NAME)}",
              "kept": kept, "write_id": inner.get("write_id")}
    root_attrs: dict[str, Any] = {ATTR: record}
    if "ome" in attrs:  # NGFF readers follow the datasets' paths into the version
        ome_attrs = json.loads(json.dumps(attrs["ome"]))
        for image in ome_attrs.get("multiscales") or []:
            for dataset in image.get("datasets") or []:
                dataset["path"] = f"{version}/{dataset['path']}"
        root_attrs["ome"] = ome_attrs
    body = json.dumps({"zarr_format": 3, "node_type": "group", "attributes": root_attrs},
                      indent=2).encode()
    root = target.child("zarr.json")
    return root.create(body) if previous is None else root.replace(body, previous)


def is_zarr_node(location: Location) -> bool:
    """Whether ``location`` is a directory holding a Zarr group or array (format 2 or 3)."""
    if not location.is_dir():
        return False
    for name in METADATA_FILES:
        try:
            doc = json.loads(location.child(name).read(limit=2**26))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and (name != "zarr.json" or
                                      doc.get("node_type") in ("group", "array")):
            return True
    return False


__all__ = ["ARRAY_NAME", "ATTR", "FORMAT_VERSION", "RANGES", "V1_ARRAY_NAME", "WINDOWS",
           "committed", "committed_version", "create_store", "follow", "is_version_name",
           "is_zarr_node", "open_group", "open_targets", "publish", "read_array", "read_record",
           "resize", "set_complete", "stored_arrays", "update_record", "version_name",
           "write_array", "written"]

"""Zarr stores (format 3 written, formats 2 and 3 read): the format every other converts to.

A store written here is a group holding the frames as one array ``0`` of
shape ``(N, *frame_shape)`` (OME-Zarr levels ``1``, ``2``... beside it), the series' metadata, and a ``lazyseries``
attribute recording the layout version, where the frames came from and
whether the write finished; and it is an OME-Zarr image (``ome`` attribute,
optional downsampled levels: :mod:`pipeline.ome`).

The pieces: :mod:`.codec` (one chunk's bytes), :mod:`.chunks` (reading and
writing stored objects through the storage seam), :mod:`.layout` (chunks,
shards and codecs, planned and read back), :mod:`.store` (the container:
header, record, completion) and :mod:`.series` (reading a store as a series).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline import _json
from pipeline.errors import OptionValueError
from pipeline.formats._encoding import Growth, StoreEncoding, Versions
from pipeline.formats._plugin import Format
from pipeline.formats.live.growth import DEFAULT_IDLE, from_ranges, live_source
from pipeline.formats.zarr import store
from pipeline.formats.zarr.layout import CODECS, codec_names, plan_layout
from pipeline.formats.zarr.series import ZarrSeries
from pipeline.formats.zarr.store import ARRAY_NAME, ATTR, FORMAT_VERSION
from pipeline.series import ImageSeries
from pipeline.storage import Location, locate

_CHUNK_KEY = re.compile(r"^[0-9]+([./][0-9]+)*$")
LIVE_LAYOUT_FRAMES = 2**31
"""The frames a live series' layout is planned for when its source announces none."""


def open(path: str | os.PathLike[str] | Location, mode: str = "r", array: str | None = None,
         dataname: str | None = None, storage_options: dict[str, Any] | None = None,
         level: int | None = None, missing: str = "error", version: str | None = None,
         idle: float = DEFAULT_IDLE, strict: bool = False) -> ZarrSeries:
    """Open a Zarr store as a series, reading nothing but its metadata."""
    return ZarrSeries(path, mode=mode, array=array or dataname, storage_options=storage_options,
                      level=level, missing=missing, version=version, idle=idle, strict=strict)


def sniff(path: str) -> bool:
    location = locate(path)
    return location.is_dir() and any(location.child(name).exists()
                                      for name in store.METADATA_FILES)


def replaceable(location: Location) -> bool:
    """Whether ``overwrite=True`` may replace what is at ``location``: a store lazyseries
    wrote, or a store zarr-python opens as one array series with nothing else in it (never a
    group of other arrays, a user's files, a directory that merely holds a ``zarr.json``)."""
    doc = _node(location)
    if doc is None:
        return False
    if isinstance((doc.get("attributes") or {}).get(ATTR), dict):
        return True
    entries = location.list()
    if doc.get("node_type") == "array" or doc.get("zarr_format") == 2 and ".zarray" in entries:
        return _only_chunks(location, entries)
    arrays = [name for name in entries if name not in store.METADATA_FILES + (".zattrs",)]
    if len(arrays) != 1:
        return False
    child = _node(location.child(arrays[0]))
    return child is not None and (child.get("node_type") == "array" or ".zarray" in
                                  location.child(arrays[0]).list()) and \
        _only_chunks(location.child(arrays[0]), location.child(arrays[0]).list())


def _node(location: Location) -> dict[str, Any] | None:
    """A Zarr node's metadata document (format 2's ``.zgroup``/``.zarray`` too), or None."""
    if not location.is_dir():
        return None
    for name in store.METADATA_FILES:
        try:
            doc = json.loads(location.child(name).read(limit=2**26))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict):
            return doc if name == "zarr.json" else {"zarr_format": 2, **doc}
    return None


def _only_chunks(location: Location, entries: list[str]) -> bool:
    """Whether an array's directory holds nothing but its metadata and chunks."""
    keep = {*store.METADATA_FILES, ".zattrs", "c"}
    return all(name in keep or _CHUNK_KEY.match(name) for name in entries)


def encoder(series: ImageSeries, target: Any = "", codec: Any = "default", chunks: Any = None,
            shards: Any = None, levels: int = 0, checksum: bool = True) -> StoreEncoding:
    """How ``series`` is written as a Zarr store; every option checked before any work.

    ``codec`` is a name of :data:`~pipeline.formats.zarr.layout.CODECS`,
    ``"none"``, or a zarr 3 or numcodecs codec; ``chunks`` and ``shards``
    (frames first; default :func:`~pipeline.formats.zarr.layout.default_layout`);
    ``levels``, downsampled OME-Zarr levels (:mod:`pipeline.ome`); ``checksum``
    (default True), zarr's ``crc32c`` after the codec, so that a damaged chunk
    is an error naming it rather than wrong pixels.
    """
    n, shape, dtype = len(series), tuple(series.shape), np.dtype(series.dtype)
    live = live_source(series)
    if live is not None and levels:
        raise OptionValueError(f"levels={levels!r}: a live series is written without levels; "
                               "write the finished store again with levels= to add them")
    planned = n if live is None else live.expected or LIVE_LAYOUT_FRAMES
    layout = plan_layout(planned, shape, dtype, codec, chunks, shards, levels, series.axes,
                         checksum)
    metadata, provenance = series.metadata, series.description()
    _json.check(metadata, "metadata")
    _json.check(provenance, "provenance")
    from dask.base import tokenize

    # names the job in the record: an incomplete store of the same job is finished in place,
    # and a live one is taken up again by its job where it committed
    encoded = _json.encode(provenance, lambda a: tokenize(a))
    fingerprint = tokenize(encoded, n, shape, dtype.str, layout.config()) if live is None else \
        tokenize(encoded, "live", shape, dtype.str)
    header = {"format_version": FORMAT_VERSION, "complete": False, "array": ARRAY_NAME,
              "provenance": provenance, "fingerprint": fingerprint}
    if live is not None:
        header["live"] = {"committed": 0, "dropped": [], "expected": live.expected,
                          "ended": None}
    axes, full_shape = series.axes, (n, *shape)
    name = _image_name(target)

    def create(location: Location, frames: Any, write_id: str,
               phase: Callable[[str], None]) -> tuple[list[Any], list[str]]:
        return store.create_store(location, frames, layout, axes,
                                  {**header, "write_id": write_id}, metadata, phase, name)

    def resumable(location: Location) -> bool:
        # the frames' shape and dtype must agree (a store of other frames is someone else's
        # unfinished work, replaced only with overwrite=True)
        record = store.read_record(location)
        return record is not None and record.get("complete") is not True and \
            record.get("_shape") == full_shape and record.get("_dtype") == dtype.str

    def resume(location: Location, frames: Any) -> tuple[list[Any], list[str]] | None:
        # added to only by the same job (its fingerprint), so frames of two jobs never mix;
        # another job's incomplete store is rebuilt from scratch (a live one is taken up by
        # its live job only: ``taken_up``)
        record = store.read_record(location)
        if live is not None or record is None or record.get("fingerprint") != fingerprint:
            return None
        return store.stored_arrays(frames, layout, axes, metadata)

    def taken_up(location: Location) -> tuple[int, np.ndarray, list[str], dict[str, Any]] | None:
        # a live store of this same job, unfinished: its frames are kept and it goes on
        record = store.read_record(location)
        grown = None if record is None else record.get("live")
        if record is None or record.get("complete") is True or not isinstance(grown, dict) \
                or record.get("fingerprint") != fingerprint or record.get("_dtype") != dtype.str \
                or tuple(record["_shape"][1:]) != shape:
            return None
        committed = min(int(grown.get("committed") or 0), int(record["_shape"][0]))
        dropped = from_ranges(grown.get("dropped"))
        return (committed, dropped[dropped < committed], [str(record.get("array", ARRAY_NAME))],
                grown)

    def commit(location: Location, paths: list[str], nframes: int, grown: dict[str, Any]
               ) -> None:
        store.resize(location, paths, nframes)
        store.update_record(location, live=grown)

    def finish(location: Location, paths: list[str], nframes: int, grown: dict[str, Any],
               final: Any, windows: Any) -> None:
        store.resize(location, paths, nframes)
        store.update_record(location, live=grown, complete=True, metadata=final,
                            windows=windows)
        # the metadata and windows as an offline write of these frames records them

    def targets(location: Location, paths: list[str]) -> list[Any]:
        return store.open_targets(location, paths, axes)

    growth = None if live is None else Growth(taken_up, commit, finish)
    return StoreEncoding("zarr", layout.stored, create, targets, store.set_complete,
                         replaceable, ZarrSeries, VERSIONS, resumable, resume, store.written,
                         growth)


def _image_name(target: Any) -> str:
    """The OME-Zarr image's name: the target's file name without ``.zarr``."""
    text = target.text if isinstance(target, Location) else os.fspath(target or "")
    base = os.path.basename(str(text).rstrip("/\\"))
    for ext in ZarrFormat.extensions:
        base = base.removesuffix(ext)
    return base or "image"


VERSIONS = Versions(store.version_name, store.is_version_name, store.committed, store.publish)
"""How a Zarr store keeps versions on an object store (:mod:`.store`)."""


class ZarrFormat(Format):
    """Zarr (format 3) groups, the default format every other converts to.

    Written by :mod:`pipeline.persist` like every format, with :func:`encoder`
    (``codec``, ``chunks``, ``shards``, ``levels``, ``checksum``); the writer's
    own options are ``storage_options`` and ``compute=False`` (the dask task
    that writes the store and marks it complete; the target stays claimed until
    it has run or is dropped).
    """

    name = "zarr"
    extensions = (".zarr", ".zr3", ".zr")
    writes = "store"
    open = staticmethod(open)
    sniff = staticmethod(sniff)
    encoder = staticmethod(encoder)


FORMAT = ZarrFormat()

__all__ = ["ARRAY_NAME", "ATTR", "CODECS", "FORMAT", "FORMAT_VERSION", "ZarrFormat",
           "ZarrSeries", "codec_names", "encoder", "open", "replaceable", "sniff"]

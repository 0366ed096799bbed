"""Encoding a series into a Zarr (format 3) store: codecs, layout, header, completion.

Where a store goes, whether it may replace what is there, who may write it
and when it counts as complete are decided by :mod:`pipeline.persist`; this
module only lays frames and metadata out in the container.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline import _json, ome
from pipeline.axes import dimension_names
from pipeline.errors import OptionValueError
from pipeline.formats import _chunkio
from pipeline.formats.zarr import ARRAY_NAME, ATTR

CHUNK_BYTES = 2**20
"""Frames smaller than this go one per inner chunk, in shards of :data:`SHARD_BYTES`."""

SHARD_BYTES = 2**22
"""Small frames are batched into shards of about this many bytes (whole frames each).

Measured (benchmarks/README.md, ``random_access``): one frame read from a
shard through the direct chunk path (the shard's index read once per open
series, then one ``pread`` and one decode of the frame's own bytes) costs
about what h5py's read of a one-frame chunk does, where a plain chunk of
32 small frames decodes 32 to return one (8x h5py).  Writing a shard costs
one file like a plain chunk of as many bytes; 4 MiB keeps the shards of a
store few (an index read on first touch) and a write task's frames modest.
"""

CODECS: dict[str, tuple[str, dict[str, Any]]] = {
    # chosen by measurement (benchmarks/README.md, "codecs"): on detector frames Blosc lz4
    # with bit-shuffle keeps 98% of Blosc zstd's compression at 2.4x its encode speed
    "default": ("blosc", {"cname": "lz4", "clevel": 5, "shuffle": "bitshuffle"}),
    "blosc-lz4": ("blosc", {"cname": "lz4", "clevel": 5, "shuffle": "bitshuffle"}),
    "blosc-zstd": ("blosc", {"cname": "zstd", "clevel": 3, "shuffle": "bitshuffle"}),
    "compact": ("blosc", {"cname": "zstd", "clevel": 1, "shuffle": "shuffle"}),
    "zstd": ("zstd", {"level": 3}),
    "gzip": ("gzip", {"level": 4}),
}


def codec_names() -> list[str]:
    return [*CODECS, "none"]


_BLOSC_SHUFFLES = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle"}


def _spec_codec(kind: str, options: dict[str, Any]) -> Any:
    """A codec of the Zarr 3 spec (read by every Zarr 3 implementation)."""
    import zarr.codecs as zc

    make = {"blosc": zc.BloscCodec, "zstd": zc.ZstdCodec, "gzip": zc.GzipCodec}[kind]
    return make(**options)


def resolve_codec(codec: Any) -> Any:
    """A zarr ``compressors`` value for ``codec``: a name, a zarr codec or a numcodecs codec.

    numcodecs' Blosc, Zstd and GZip become the Zarr 3 spec's own codecs, so
    any Zarr 3 reader opens the store; other numcodecs codecs are wrapped.
    """
    if codec is None or codec == "none":
        return None
    if isinstance(codec, str):
        if codec not in CODECS:
            raise OptionValueError(f"unknown codec {codec!r}; known codecs are {codec_names()}")
        return _spec_codec(*CODECS[codec])
    if isinstance(codec, list | tuple):
        return [resolve_codec(c) for c in codec]
    import numcodecs.abc

    if not isinstance(codec, numcodecs.abc.Codec):
        return codec
    config = codec.get_config()
    kind = config.pop("id", None)
    if kind == "blosc" and config.get("shuffle") in _BLOSC_SHUFFLES:
        config["shuffle"] = _BLOSC_SHUFFLES[config["shuffle"]]
        return _spec_codec(kind, config)
    if kind in ("zstd", "gzip"):
        return _spec_codec(kind, config)
    import zarr.codecs as zc

    wrapper = getattr(zc, type(codec).__name__, None)
    if wrapper is None:
        raise OptionValueError(f"numcodecs codec {codec!r} has no zarr 3 wrapper; give a zarr "
                               f"codec or one of {codec_names()}")
    return wrapper(**config)


def default_layout(
    nframes: int, shape: tuple[int, ...], dtype: np.dtype
) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """``(chunks, shards)`` for ``nframes`` frames, adapted to the frame size.

    One frame per chunk, so that reading one frame decodes one frame; frames
    smaller than :data:`CHUNK_BYTES` batched into shards of about
    :data:`SHARD_BYTES`, so that per-file costs do not dominate writing.
    """
    frame_bytes = max(1, int(np.prod(shape)) * dtype.itemsize)
    per_shard = max(1, min(max(nframes, 1), SHARD_BYTES // frame_bytes))
    if frame_bytes >= CHUNK_BYTES or per_shard == 1:
        return (1, *shape), None
    return (1, *shape), (per_shard, *shape)


def _check_layout(chunks: Any, shards: Any, nframes: int, shape: tuple[int, ...]
                  ) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    full = (max(nframes, 1), *shape)
    if isinstance(chunks, int):
        chunks = (chunks, *shape)
    chunks = tuple(int(c) for c in chunks)
    if len(chunks) != len(full) or any(c < 1 for c in chunks):
        raise OptionValueError(f"chunks {chunks!r} must be {len(full)} positive sizes for {full}")
    if shards is not None:
        if isinstance(shards, int):
            shards = (shards * chunks[0], *shape)
        shards = tuple(int(s) for s in shards)
        if len(shards) != len(full) or any(s % c for s, c in zip(shards, chunks)):
            raise OptionValueError(f"shards {shards!r} must be whole multiples of chunks {chunks!r}")
    return chunks, shards


@dataclass(frozen=True)
class Layout:
    """How the frames are laid out: chunks, shards, codecs, and frames per write task."""

    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None
    compressors: Any
    levels: int = 0
    """Downsampled levels of the OME-Zarr image (see :mod:`pipeline.ome`)."""

    @property
    def stored(self) -> int:
        """Frames in one stored object (a shard, else a chunk): a write task writes whole ones."""
        return (self.shards or self.chunks)[0]

    def config(self) -> dict[str, Any]:
        return {"chunks": list(self.chunks), "shards": self.shards and list(self.shards),
                "compressors": repr(self.compressors), "levels": self.levels}


def plan_layout(nframes: int, shape: tuple[int, ...], dtype: np.dtype, codec: Any = "default",
                chunks: Any = None, shards: Any = None, levels: int = 0, axes: str = ""
                ) -> Layout:
    """The checked layout for ``nframes`` frames; raises on a bad option before any work."""
    compressors = resolve_codec(codec)
    if chunks is None and shards is None:
        chunks, shards = default_layout(nframes, shape, dtype)
    else:
        chunks, shards = _check_layout(chunks or (1, *shape), shards, nframes, shape)
    return Layout(chunks, shards, compressors, ome.check_levels(levels, axes, shape))


def create_store(location: str, frames: Any, layout: Layout, axes: str, record: dict[str, Any],
                 metadata: Any, storage_options: dict[str, Any] | None = None,
                 phase: Callable[[str], None] = lambda name: None
                 ) -> tuple[list[Any], list[str]]:
    """A new store at ``location``: header, metadata, and the empty arrays ``frames`` go to.

    ``record`` (the ``lazyseries`` attribute) and ``metadata`` are encoded
    with the one codec here, their large arrays stored beside the frames.
    Returns the dask arrays to store (the frames, then any OME-Zarr levels
    computed from them in the same graph) and the paths of their arrays.
    """
    import zarr

    full_shape, dtype, dims = tuple(frames.shape), np.dtype(frames.dtype), dimension_names(axes)
    ome_attrs = ome.image_attrs(axes, metadata, layout.levels, full_shape, dtype, ARRAY_NAME)
    group = zarr.open_group(location, mode="w", storage_options=storage_options, zarr_format=3)
    sink = _array_sink(group)
    record = {**record, "provenance": _json.encode(record.get("provenance"), sink)}
    group.attrs.update({ATTR: record, "metadata": _json.encode(metadata, sink), **ome_attrs})
    phase("metadata")
    array = group.create_array(
        ARRAY_NAME, shape=full_shape, dtype=dtype, chunks=layout.chunks, shards=layout.shards,
        compressors=layout.compressors, fill_value=0, overwrite=True, dimension_names=dims,
        config={"write_empty_chunks": True},
    )
    sources, targets = ome.create_levels(
        group, frames, layout.levels, layout.stored, compressors=layout.compressors,
        fill_value=0, dimension_names=dims, config={"write_empty_chunks": True})
    phase("array")
    return [frames, *sources], [array.path, *(t.path for t in targets)]


def open_arrays(location: str, paths: list[str],
                storage_options: dict[str, Any] | None = None) -> list[Any]:
    """The arrays at ``paths`` of the store at ``location``, for writing."""
    import zarr

    # every chunk written, zeros too: a complete store holds them all, so a missing one is lost
    arrays = [zarr.open_array(f"{location.rstrip('/')}/{path}", mode="r+",
                              storage_options=storage_options).with_config(
                                  {"write_empty_chunks": True})  # open_array drops config=
              for path in paths]
    # the frames through chunk I/O where it can (local plain chunks), the levels through zarr
    return [_chunkio.store_target(arrays[0]), *arrays[1:]] if arrays else arrays


def _array_sink(group: Any) -> Callable[[np.ndarray], str]:
    """Stores large metadata arrays beside the frames, each distinct array once.

    A dark frame is often both in the metadata and in the recorded op chain;
    it is stored once, named by its content.
    """

    def sink(arr: np.ndarray) -> str:
        from dask.base import tokenize

        key = f"_arrays/{tokenize(arr.dtype.str, arr.shape, arr)[:16]}"
        if key not in group:
            # the frames' default codec: an 8 MB dark frame in 10 ms, where zarr's default
            # (Zstd level 0) takes 70 ms, at about the same size
            _chunkio.create_filled(group, key, np.ascontiguousarray(arr),
                                   compressors=resolve_codec("default"))
        return key

    return sink


def read_record(location: str, storage_options: dict[str, Any] | None = None
                ) -> dict[str, Any] | None:
    """The store's ``lazyseries`` attribute, or None (no store, not ours, unreadable)."""
    import zarr

    try:
        group = zarr.open_group(location, mode="r", storage_options=storage_options)
        record = group.attrs.get(ATTR)
        arr = group.get(str(record.get("array", ARRAY_NAME))) if isinstance(record, dict) \
            else None
    except Exception:  # noqa: BLE001  (anything unreadable is not ours)
        return None
    if not isinstance(record, dict):
        return None
    out = dict(record)
    if isinstance(arr, zarr.Array):
        out["_shape"], out["_dtype"] = tuple(arr.shape), np.dtype(arr.dtype).str
    return out


def set_complete(location: str, storage_options: dict[str, Any] | None = None) -> None:
    """Mark the store at ``location`` complete: the last step of a write."""
    import zarr

    group = zarr.open_group(location, mode="r+", storage_options=storage_options)
    found = group.attrs.get(ATTR)
    record: dict[str, Any] = dict(found) if isinstance(found, dict) else {}
    record["complete"] = True
    group.attrs.update({ATTR: record})


def is_store(local: str) -> bool:
    """Whether the local path ``local`` is a Zarr group or array (format 2 or 3)."""
    if not os.path.isdir(local):
        return False
    for name in ("zarr.json", ".zgroup", ".zarray"):
        try:
            with open(os.path.join(local, name), encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and (name != "zarr.json" or
                                      doc.get("node_type") in ("group", "array")):
            return True
    return False

"""How frames are laid out in a Zarr array: codecs, chunks and shards, checked at the front door.

:func:`plan_layout` turns a writer's options into a checked :class:`Layout`
before any work (every bad ``codec``, ``chunks`` or ``shards`` is an
:class:`~pipeline.errors.OptionValueError` naming it); :func:`grid_of` reads
an existing array's layout back into the :class:`~pipeline.formats.zarr.chunks.ChunkGrid`
that reads and writes it, or says zarr-python must.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline import ome
from pipeline.errors import NotASeriesError, OptionValueError
from pipeline.formats.zarr.chunks import MAX_CHUNK_BYTES, MAX_CHUNKS_PER_SHARD, ChunkGrid
from pipeline.formats.zarr.codec import ChunkCodec
from pipeline.storage import Location

MAX_ARRAY_BYTES = 2**62
"""No store holds more (4 EiB): a larger shape in a ``zarr.json`` is damage or forgery."""

CHUNK_BYTES = 2**20
"""Frames smaller than this go one per inner chunk, in shards of :data:`SHARD_BYTES`."""

SHARD_BYTES = 2**22
"""Small frames are batched into shards of about this many bytes (whole frames each).

Measured (benchmarks/README.md, ``random_access``): one frame read from a
shard through the direct chunk path (the shard's index read once per open
series, then one ranged read and one decode of the frame's own bytes) costs
about what h5py's read of a one-frame chunk does, where a plain chunk of 32
small frames decodes 32 to return one.  4 MiB keeps a store's shards few and a
write task's frames modest.
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

_BLOSC_SHUFFLES = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle"}


def codec_names() -> list[str]:
    return [*CODECS, "none"]


def _spec_codec(kind: str, options: dict[str, Any]) -> Any:
    """A codec of the Zarr 3 spec (read by every Zarr 3 implementation)."""
    import zarr.codecs as zc

    make = {"blosc": zc.BloscCodec, "zstd": zc.ZstdCodec, "gzip": zc.GzipCodec}[kind]
    return make(**options)


def resolve_codec(codec: Any, checksum: bool = True) -> list[Any]:
    """zarr's ``compressors`` for ``codec`` (a name, a zarr codec or a numcodecs codec), with
    zarr's ``crc32c`` checksum after it unless ``checksum`` is False.

    numcodecs' Blosc, Zstd and GZip become the Zarr 3 spec's own codecs, so any
    Zarr 3 reader opens the store; other numcodecs codecs are wrapped.
    """
    import zarr.codecs as zc

    if not isinstance(checksum, bool):
        raise OptionValueError(f"checksum={checksum!r}: expected True or False")
    found = _compressors(codec)
    return [*found, zc.Crc32cCodec()] if checksum else found


def _compressors(codec: Any) -> list[Any]:
    if codec is None or codec == "none":
        return []
    if isinstance(codec, str):
        if codec not in CODECS:
            raise OptionValueError(f"unknown codec {codec!r}; known codecs are {codec_names()}")
        return [_spec_codec(*CODECS[codec])]
    if isinstance(codec, list | tuple):
        return [c for item in codec for c in _compressors(item)]
    import numcodecs.abc

    if not isinstance(codec, numcodecs.abc.Codec):
        return [codec]
    config = codec.get_config()
    kind = config.pop("id", None)
    if kind == "blosc" and config.get("shuffle") in _BLOSC_SHUFFLES:
        config["shuffle"] = _BLOSC_SHUFFLES[config["shuffle"]]
        return [_spec_codec(kind, config)]
    if kind in ("zstd", "gzip"):
        return [_spec_codec(kind, config)]
    import zarr.codecs as zc

    wrapper = getattr(zc, type(codec).__name__, None)
    if wrapper is None:
        raise OptionValueError(f"numcodecs codec {codec!r} has no zarr 3 wrapper; give a zarr "
                               f"codec or one of {codec_names()}")
    return [wrapper(**config)]


def default_layout(nframes: int, shape: tuple[int, ...], dtype: np.dtype
                   ) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """``(chunks, shards)`` for ``nframes`` frames: one frame per chunk, so that reading a
    frame decodes that frame; frames under :data:`CHUNK_BYTES` batched into shards of about
    :data:`SHARD_BYTES`, so that per-object costs do not dominate writing."""
    frame_bytes = max(1, int(np.prod(shape)) * dtype.itemsize)
    per_shard = max(1, min(max(nframes, 1), SHARD_BYTES // frame_bytes))
    if frame_bytes >= CHUNK_BYTES or per_shard == 1:
        return (1, *shape), None
    return (1, *shape), (per_shard, *shape)


def _sizes(value: Any, name: str, full: tuple[int, ...]) -> tuple[int, ...]:
    """``value`` (one int for the frames axis, or one per axis) as positive sizes."""
    items = list(value) if isinstance(value, list | tuple | np.ndarray) else [value]
    if not items or any(isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer)
                        or v < 1 for v in items):
        raise OptionValueError(f"{name}={value!r}: expected a positive integer, or one per "
                               f"axis of the frames {full}")
    if len(items) not in (1, len(full)):
        raise OptionValueError(f"{name}={value!r}: expected {len(full)} sizes for the frames "
                               f"{full}, got {len(items)}")
    return tuple(int(v) for v in items)


def check_layout(chunks: Any, shards: Any, nframes: int, shape: tuple[int, ...],
                 dtype: np.dtype) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """``chunks`` and ``shards`` checked for frames ``(nframes, *shape)``; raise naming the
    first bad value (the bounds keep a typo from allocating gigabytes)."""
    full = (max(nframes, 1), *shape)
    sizes = _sizes((1, *shape) if chunks is None else chunks, "chunks", full)
    chunk = sizes + tuple(shape) if len(sizes) == 1 else sizes
    for axis, (c, n) in enumerate(zip(chunk, full)):
        if c > n:
            raise OptionValueError(f"chunks={chunks!r}: {c} along axis {axis} is more than the "
                                   f"{n} there are; chunks are at most the frames' shape {full}")
    if int(np.prod(chunk)) * dtype.itemsize > MAX_CHUNK_BYTES:
        raise OptionValueError(f"chunks={chunks!r}: a chunk of {chunk} {dtype} is more than "
                               f"{MAX_CHUNK_BYTES} bytes; choose smaller chunks")
    if shards is None:
        return chunk, None
    sizes = _sizes(shards, "shards", full)
    shard = (sizes[0] * chunk[0], *chunk[1:]) if len(sizes) == 1 else sizes
    if any(s % c for s, c in zip(shard, chunk)):
        raise OptionValueError(f"shards={shards!r}: shards {shard} must be whole multiples of "
                               f"the chunks {chunk}")
    if shard[0] > -(-full[0] // chunk[0]) * chunk[0] or any(s > -(-n // c) * c for s, n, c
                                                           in zip(shard[1:], full[1:], chunk[1:])):
        raise OptionValueError(f"shards={shards!r}: shards {shard} are larger than the frames "
                               f"{full} need")
    return chunk, shard


@dataclass(frozen=True)
class Layout:
    """How the frames are laid out: chunks, shards, codecs, and downsampled levels."""

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
                chunks: Any = None, shards: Any = None, levels: int = 0, axes: str = "",
                checksum: bool = True) -> Layout:
    """The checked layout for ``nframes`` frames; raises on a bad option before any work."""
    compressors = resolve_codec(codec, checksum)
    if chunks is None and shards is None:
        chunk, shard = default_layout(nframes, shape, dtype)
    else:
        chunk, shard = check_layout(chunks, shards, nframes, shape, dtype)
    return Layout(chunk, shard, compressors, ome.check_levels(levels, axes, shape))


# -- reading a layout back ---------------------------------------------------------------


def _key_encoding(keys: dict[str, Any]) -> tuple[str, str] | None:
    name = keys.get("name", "default")
    separator = (keys.get("configuration") or {}).get("separator")
    if separator not in (None, "/", "."):
        return None
    if name == "default":
        return "c" + (separator or "/"), separator or "/"
    if name == "v2":
        return "", separator or "."
    return None


def _sharding(codecs: list[dict[str, Any]]) -> dict[str, Any] | bool | None:
    """The inner layout of a ``sharding_indexed`` array; None if not sharded; False if unusual."""
    if len(codecs) != 1 or codecs[0].get("name") != "sharding_indexed":
        return None
    conf = codecs[0].get("configuration") or {}
    index = [c.get("name") for c in conf.get("index_codecs") or []]
    endian = ((conf.get("index_codecs") or [{}])[0].get("configuration") or {}).get("endian")
    location = conf.get("index_location", "end")
    if index not in (["bytes"], ["bytes", "crc32c"]) or endian not in (None, "little") or \
            location not in ("start", "end"):
        return False
    return {"chunk_shape": conf.get("chunk_shape"), "codecs": conf.get("codecs") or [],
            "at_end": location == "end", "crc": index == ["bytes", "crc32c"]}


def grid_of(array: Any, root: Location, strict: bool = False) -> ChunkGrid | None:
    """The :class:`ChunkGrid` of the ``zarr.Array`` ``array`` stored at ``root``, or None where
    zarr-python must read it (format 2, filters, transposes, other codecs).

    Raises :class:`~pipeline.errors.NotASeriesError` for a layout no reader should try
    (shards of millions of chunks, chunks of gigabytes, empty chunks).
    """
    meta = array.metadata
    if meta.zarr_format != 3 or array.ndim < 1:
        return None
    doc = meta.to_dict()
    dtype = np.dtype(array.dtype)
    if dtype.hasobject or dtype.kind not in "biufc" or array.order != "C":
        return None
    codecs = doc.get("codecs") or []
    sharding = _sharding(codecs)
    grid, keys = doc.get("chunk_grid") or {}, _key_encoding(doc.get("chunk_key_encoding") or {})
    if sharding is False or keys is None or grid.get("name") != "regular":
        return None
    stored = tuple(int(c) for c in grid["configuration"]["chunk_shape"])
    inner = stored if not isinstance(sharding, dict) else tuple(
        int(c) for c in sharding["chunk_shape"] or ())
    codec = ChunkCodec.of(sharding["codecs"] if isinstance(sharding, dict) else codecs, dtype)
    if codec is None or len(inner) != len(stored) or any(s % c for s, c in zip(stored, inner)):
        return None
    _check_grid(root, tuple(int(n) for n in array.shape), inner, stored, dtype)
    common = {"root": root, "shape": tuple(int(n) for n in array.shape), "dtype": dtype,
              "fill_value": meta.fill_value, "codec": codec, "key_prefix": keys[0],
              "separator": keys[1], "write_empty": bool(array.config.write_empty_chunks),
              "strict": strict}
    if not isinstance(sharding, dict):
        return ChunkGrid(chunks=stored, **common)
    return ChunkGrid(chunks=inner, shard=stored, index_at_end=sharding["at_end"],
                     index_crc=sharding["crc"], **common)


def _check_grid(root: Location, shape: tuple[int, ...], inner: tuple[int, ...],
                stored: tuple[int, ...], dtype: np.dtype) -> None:
    if int(np.prod(shape, dtype=object)) * dtype.itemsize > MAX_ARRAY_BYTES:
        raise NotASeriesError(f"{root.text!r}: an array of shape {shape} {dtype} would hold "
                              f"more than {MAX_ARRAY_BYTES} bytes; not a store to read")
    if any(c < 1 for c in inner):
        raise NotASeriesError(f"{root.text!r}: chunks of shape {inner}; every chunk size must "
                              "be positive; the store's metadata is damaged")
    if int(np.prod(inner)) * dtype.itemsize > MAX_CHUNK_BYTES:
        raise NotASeriesError(f"{root.text!r}: chunks of {inner} {dtype} hold more than "
                              f"{MAX_CHUNK_BYTES} bytes each; not a store to read")
    if int(np.prod([s // c for s, c in zip(stored, inner)])) > MAX_CHUNKS_PER_SHARD:
        raise NotASeriesError(f"{root.text!r}: shards of {stored} hold more than "
                              f"{MAX_CHUNKS_PER_SHARD} chunks of {inner} each; their index "
                              "alone would not fit in memory; not a store to read")


__all__ = ["CHUNK_BYTES", "CODECS", "SHARD_BYTES", "Layout", "check_layout", "codec_names",
           "default_layout", "grid_of", "plan_layout", "resolve_codec"]

"""Reads of sharded Zarr 3 arrays (``sharding_indexed``) without zarr-python's per-chunk path.

A shard is one file holding its inner chunks' codec output and an index of
``(offset, nbytes)`` per inner chunk (``2**64 - 1`` twice for one left out as
all fill value), at its end or start, with a CRC-32C after it.  The index of
each shard is read once per plan (per open series), so one inner chunk costs
one ``pread`` and one decode of its own bytes, as a chunk of HDF5 does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.formats._chunkio import ChunkPlan, _missing

_EMPTY = 2**64 - 1


@dataclass
class ShardPlan(ChunkPlan):
    """Reads of an array in shards (``sharding_indexed``): ``chunks`` are the inner chunks.

    Each shard's index is read once and kept, so reading one inner chunk (one
    frame, in lazyseries' layouts) reads and decodes that chunk's bytes
    alone, as HDF5 does.  Writes stay with zarr-python.
    """

    shard: tuple[int, ...] = ()
    writable = False
    index_at_end: bool = True
    index_crc: bool = True
    _indexes: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict, repr=False,
                                                        compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_indexes": {}}

    def write(self, key: tuple[slice, ...], block: np.ndarray) -> None:
        raise NotImplementedError("sharded arrays are written by zarr-python")

    def _index(self, coords: tuple[int, ...], fd: int) -> np.ndarray:
        index = self._indexes.get(coords)
        if index is None:
            per = [s // c for s, c in zip(self.shard, self.chunks)]
            size = 16 * int(np.prod(per)) + 4 * self.index_crc
            start = os.fstat(fd).st_size - size if self.index_at_end else 0
            raw = os.pread(fd, size, start)
            if self.index_crc:
                from numcodecs.checksum32 import CRC32C

                raw = CRC32C().decode(raw)  # raises on a damaged index, as zarr-python does
            index = np.frombuffer(raw, "<u8").reshape(*per, 2)
            self._indexes[coords] = index
        return index

    def _decode_into(self, coords: tuple[int, ...], out: np.ndarray) -> None:
        outer = tuple(c * i // s for c, i, s in zip(coords, self.chunks, self.shard))
        path = self.chunk_path(outer)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            if self.strict:
                raise _missing(coords, self) from None
            out[...] = self.fill_value
            return
        try:
            local = tuple(c % (s // i) for c, i, s in zip(coords, self.chunks, self.shard))
            offset, nbytes = (int(v) for v in self._index(outer, fd)[local])
            if offset == _EMPTY:  # an inner chunk all fill value, left out by zarr
                out[...] = self.fill_value
                return
            data = os.pread(fd, nbytes, offset)
        finally:
            os.close(fd)
        if self.codec is None:
            out[...] = np.frombuffer(data, self.dtype).reshape(out.shape)
        else:
            self.codec.decode(data, out=out)




def shard_plan(sharding: dict[str, Any], stored: tuple[int, ...], common: dict[str, Any]
               ) -> ShardPlan | None:
    """The plan of a sharded array of shards ``stored``, or None if its inner grid is unusual."""
    inner = tuple(int(c) for c in sharding["chunk_shape"])
    if len(inner) != len(stored) or any(s % c for s, c in zip(stored, inner)):
        return None
    return ShardPlan(chunks=inner, shard=stored, index_at_end=sharding["at_end"],
                     index_crc=sharding["crc"], **common)


def sharding_of(codecs: list[dict[str, Any]]) -> dict[str, Any] | bool | None:
    """The inner layout of a ``sharding_indexed`` array; None if not sharded; False if unusual."""
    if len(codecs) != 1 or codecs[0].get("name") != "sharding_indexed":
        return None
    conf = codecs[0].get("configuration") or {}
    index = [c.get("name") for c in conf.get("index_codecs") or []]
    endian = ((conf.get("index_codecs") or [{}])[0].get("configuration") or {}).get("endian")
    if index not in (["bytes"], ["bytes", "crc32c"]) or endian not in (None, "little"):
        return False
    location = conf.get("index_location", "end")
    if location not in ("start", "end"):
        return False
    return {"chunk_shape": conf["chunk_shape"], "codecs": conf.get("codecs") or [],
            "at_end": location == "end", "crc": index == ["bytes", "crc32c"]}

"""Sharded Zarr 3 arrays (``sharding_indexed``) read and written without zarr-python's per-chunk path.

A shard is one file holding its inner chunks' codec output, in Morton order
of the inner grid, and an index of ``(offset, nbytes)`` per inner chunk
(``2**64 - 1`` twice for one left out: all fill value, or wholly beyond the
array's end), at its end or start, with a CRC-32C after it.  The index of
each shard is read once per plan (per open series), so one inner chunk costs
one ``pread`` and one decode of its own bytes, as a chunk of HDF5 does.  A
shard is written whole, as zarr-python writes a whole shard: the same bytes
(tests/pipeline/formats/test_shardio.py), replaced atomically.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.errors import NotASeriesError
from pipeline.formats._chunkplan import ChunkPlan, _atomic_write, _missing, _scratch, _whole_box

_EMPTY = 2**64 - 1
_GAP = 2**16
"""Inner chunks of one shard whose bytes lie closer than this are read with one ``pread``."""


def morton_order(grid: tuple[int, ...]) -> np.ndarray:
    """The coordinates of a grid of ``grid`` inner chunks in Morton (Z) order, as zarr lays
    them out: bits interleaved lowest first, dimensions of one chunk taking no bits."""
    coords = np.indices(grid).reshape(len(grid), -1).T
    bits = [(n - 1).bit_length() for n in grid]
    code = np.zeros(len(coords), np.int64)
    out_bit = 0
    for bit in range(max(bits, default=0)):
        for dim, nbits in enumerate(bits):
            if bit < nbits:
                code |= ((coords[:, dim] >> bit) & 1) << out_bit
                out_bit += 1
    return coords[np.argsort(code, kind="stable")]


def _crc(data: bytes) -> bytes:
    import google_crc32c  # zarr-python's own checksum (a dependency of zarr)

    return np.uint32(google_crc32c.value(data)).astype("<u4").tobytes()


@dataclass
class ShardPlan(ChunkPlan):
    """An array in shards (``sharding_indexed``): ``chunks`` are the inner chunks.

    Each shard's index is read once and kept, so reading one inner chunk (one
    frame, in lazyseries' layouts) reads and decodes that chunk's bytes
    alone, as HDF5 does.  Writes cover whole shards.
    """

    shard: tuple[int, ...] = ()
    index_at_end: bool = True
    index_crc: bool = True
    _indexes: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict, repr=False,
                                                        compare=False)
    _flat: dict[int, tuple[str, memoryview]] = field(default_factory=dict, repr=False,
                                                     compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_indexes": {}, "_flat": {}}

    @property
    def per_shard(self) -> tuple[int, ...]:
        return tuple(s // c for s, c in zip(self.shard, self.chunks))

    # -- reading ---------------------------------------------------------------------

    def _index(self, outer: tuple[int, ...], fd: int) -> np.ndarray:
        index = self._indexes.get(outer)
        if index is None:
            per = self.per_shard
            size = 16 * int(np.prod(per)) + 4 * self.index_crc
            start = os.fstat(fd).st_size - size if self.index_at_end else 0
            raw = os.pread(fd, size, start)
            if self.index_crc:
                if len(raw) != size or _crc(raw[:-4]) != raw[-4:]:
                    raise NotASeriesError(f"{self.chunk_path(outer)!r}: the shard index's "
                                          "CRC-32C checksum does not match; the store is "
                                          "damaged, rewrite it from its source")
                raw = raw[:-4]
            index = np.frombuffer(raw, "<u8").reshape(*per, 2)
            self._indexes[outer] = index
        return index

    @functools.cached_property
    def _frame_inner(self) -> bool:
        """Whether each inner chunk is one whole frame, in shards of whole frames (the layout
        lazyseries writes): reads and writes then go frame by frame, without chunk arithmetic."""
        return self.chunks[0] == 1 and self.chunks[1:] == self.shape[1:] == self.shard[1:]

    def read_frame(self, j: int) -> np.ndarray:
        """Frame ``j`` whole, shape ``(1, *frame)``: the random-access case, kept short."""
        if not self._frame_inner:
            return super().read_frame(j)
        k, local = divmod(j, self.shard[0])
        path, flat = self._flat.get(k) or (self.chunk_path((k, *self._zeros)), None)
        out = np.empty(self.chunks, self.dtype)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return self._absent((j, *self._zeros), out)
        try:
            if flat is None:  # the index's own bytes, read as native ints: a cheap lookup
                index = self._index((k, *self._zeros), fd).astype(np.uint64, copy=False)
                flat = memoryview(np.ascontiguousarray(index)).cast("B").cast("Q")
                self._flat[k] = (path, flat)
            offset, nbytes = flat[2 * local], flat[2 * local + 1]
            if offset == _EMPTY:  # an inner chunk all fill value, left out by zarr
                out[...] = self.fill_value
                return out
            data = os.pread(fd, nbytes, offset)
        finally:
            os.close(fd)
        self._decode(data, out)
        return out

    def _read_box(self, out: np.ndarray, box: list[tuple[int, int]]) -> None:
        """Fill ``out`` within ``box``: each shard opened once, its nearby chunks read at once."""
        if self._frame_inner:
            self._read_frames(out, box)
            return
        ranges = [range(a // c, (b - 1) // c + 1) for (a, b), c in zip(box, self.chunks)]
        if any(not r for r in ranges):
            return
        per = self.per_shard
        shards: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
        for coords in np.ndindex(*(len(r) for r in ranges)):
            inner = tuple(r[i] for r, i in zip(ranges, coords))
            shards.setdefault(tuple(c // p for c, p in zip(inner, per)), []).append(inner)
        for outer, inners in shards.items():
            self._read_shard(out, box, outer, inners)

    def _read_frames(self, out: np.ndarray, box: list[tuple[int, int]]) -> None:
        """``_read_box`` for one-frame inner chunks: per shard one ``pread``, then frame by frame."""
        (a, b), per = box[0], self.shard[0]
        crop = None if box[1:] == list(self.full_region) else tuple(slice(lo, hi)
                                                                     for lo, hi in box[1:])
        for k in range(a // per, (b - 1) // per + 1 if b > a else 0):
            lo, hi = max(a, k * per), min(b, (k + 1) * per)
            try:
                fd = os.open(self.chunk_path((k, *self._zeros)), os.O_RDONLY)
            except FileNotFoundError:
                if self.strict:
                    raise _missing((lo, *self._zeros), self) from None
                out[lo - a:hi - a] = self.fill_value
                continue
            try:
                entries = self._index((k, *self._zeros), fd)[lo - k * per:hi - k * per,
                                                             *self._zeros].tolist()
                stored = [e for e in entries if e[0] != _EMPTY]
                start = min((o for o, _ in stored), default=0)
                stop = max((o + n for o, n in stored), default=0)
                data = memoryview(os.pread(fd, stop - start, start))
            finally:
                os.close(fd)
            self._decode_frames(out, lo - a, entries, data, start, crop)

    def _decode_frames(self, out: np.ndarray, first: int, entries: list[list[int]],
                       data: memoryview, start: int, crop: tuple[slice, ...] | None) -> None:
        """Decode one shard's frames ``entries`` (read from ``start`` on) into ``out[first:]``:
        whole, or through one scratch frame cut to ``crop``; the hot loop of a large read."""
        decode = self._decoder
        chunk = _scratch(self.chunks, self.dtype) if crop is not None else None
        part = chunk[(0, *crop)] if chunk is not None else None
        for i, (offset, nbytes) in enumerate(entries, first):
            if offset == _EMPTY:  # left out: all fill value
                out[i] = self.fill_value
            elif chunk is None:
                decode(data[offset - start:offset - start + nbytes], out[i:i + 1])
            else:
                decode(data[offset - start:offset - start + nbytes], chunk)
                out[i] = part

    def _read_shard(self, out: np.ndarray, box: list[tuple[int, int]], outer: tuple[int, ...],
                    inners: list[tuple[int, ...]]) -> None:
        try:
            fd = os.open(self.chunk_path(outer), os.O_RDONLY)
        except FileNotFoundError:
            for inner in inners:
                self._place(out, box, inner, None)
            return
        try:
            index, per = self._index(outer, fd), self.per_shard
            spans = [(int(o), int(n), inner) for inner in inners
                     for o, n in [index[tuple(c % p for c, p in zip(inner, per))]]]
            for inner in [s[2] for s in spans if s[0] == _EMPTY]:
                self._place(out, box, inner, b"")
            for group in _groups(sorted(s for s in spans if s[0] != _EMPTY)):
                start, stop = group[0][0], group[-1][0] + group[-1][1]
                data = memoryview(os.pread(fd, stop - start, start))
                for offset, nbytes, inner in group:
                    self._place(out, box, inner, data[offset - start:offset - start + nbytes])
        finally:
            os.close(fd)

    def _place(self, out: np.ndarray, box: list[tuple[int, int]], coords: tuple[int, ...],
               data: Any) -> None:
        """Decode inner chunk ``coords`` (None: its shard is absent; b"": left out) into ``out``."""
        origin = [i * c for i, c in zip(coords, self.chunks)]
        inner = tuple(slice(max(a, o) - o, min(b, o + c) - o)
                      for (a, b), o, c in zip(box, origin, self.chunks))
        target = out[tuple(slice(max(a, o) - a, min(b, o + c) - a)
                           for (a, b), o, c in zip(box, origin, self.chunks))]
        if data is None and self.strict:
            raise _missing(coords, self)
        if data is None or not len(data):
            target[...] = self.fill_value
            return
        whole = all(s.start == 0 and s.stop == c for s, c in zip(inner, self.chunks))
        if whole and target.flags.c_contiguous:
            self._decode(data, target)
            return
        chunk = _scratch(self.chunks, self.dtype)
        self._decode(data, chunk)
        target[...] = chunk[inner]

    def _decode_into(self, coords: tuple[int, ...], out: np.ndarray) -> None:
        self._read_shard(out, [(i * c, (i + 1) * c) for i, c in zip(coords, self.chunks)],
                         tuple(c // p for c, p in zip(coords, self.per_shard)), [coords])

    # -- writing ---------------------------------------------------------------------

    def write(self, key: Any, block: np.ndarray) -> None:
        """Write ``block`` at ``key``, which must cover whole shards (edge shards: to the end)."""
        block = np.asarray(block, dtype=self.dtype)
        box = _whole_box(key, self.shape, self.shard)
        ranges = [range(a // s, -(-b // s)) for (a, b), s in zip(box, self.shard)]
        for outer in np.ndindex(*(len(r) for r in ranges)):
            coords = tuple(r[i] for r, i in zip(ranges, outer))
            part = tuple(slice(i * s - a, min((i + 1) * s, b) - a)
                         for i, s, (a, b) in zip(coords, self.shard, box))
            self._write_shard(coords, block[part])

    def _inner_chunks(self, data: np.ndarray) -> Any:
        """``(local coords, chunk)`` of one shard's data in zarr's order, those wholly beyond
        the array's end left out as zarr leaves them out."""
        if self._frame_inner:  # Morton order of an (n, 1, ...) grid is frame order
            return (((i, *self._zeros), data[i:i + 1]) for i in range(len(data)))
        grid = [range(-(-n // c)) for n, c in zip(data.shape, self.chunks)]
        return ((tuple(local), data[tuple(slice(i * c, (i + 1) * c)
                                          for i, c in zip(local, self.chunks))])
                for local in morton_order(self.per_shard).tolist()
                if all(i in r for i, r in zip(local, grid)))

    def _write_shard(self, outer: tuple[int, ...], data: np.ndarray) -> None:
        index = np.full((*self.per_shard, 2), _EMPTY, "<u8")
        buffers: list[Any] = []
        start = 0
        for local, chunk in self._inner_chunks(data):
            payload = self._encode(chunk)
            if payload is None:
                continue
            index[local] = (start, len(payload))
            buffers.append(payload)
            start += len(payload)
        path = self.chunk_path(outer)
        if not buffers:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            return
        if not self.index_at_end:
            size = index.nbytes + 4 * self.index_crc
            index[index[..., 0] != _EMPTY, 0] += size
        raw = index.tobytes()
        raw += _crc(raw) if self.index_crc else b""
        _atomic_write(path, b"".join([*buffers, raw] if self.index_at_end else [raw, *buffers]))


def _groups(spans: list[tuple[int, int, Any]]) -> list[list[tuple[int, int, Any]]]:
    """Spans sorted by offset, in runs close enough to read at once."""
    groups: list[list[tuple[int, int, Any]]] = []
    for span in spans:
        if groups and span[0] - (groups[-1][-1][0] + groups[-1][-1][1]) <= _GAP:
            groups[-1].append(span)
        else:
            groups.append([span])
    return groups


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

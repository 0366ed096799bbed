"""Whole-chunk reads and writes of Zarr 3 arrays, on any storage backend, without zarr-python.

zarr-python's per-chunk path costs about 0.7 ms per read and 1 ms per write in
thread hand-offs to its event loop (benchmarks/README.md), more than decoding
a chunk.  For the arrays lazyseries writes (a regular grid, the ``bytes``
codec in native order, at most one of Blosc, Zstd or GZip, an optional
``crc32c``; plain chunks or ``sharding_indexed`` shards of them), a
:class:`ChunkGrid` reads and writes stored objects through the storage seam
directly: the same codecs, keys, edge padding and shard layout, byte for byte
(tests/pipeline/formats/zarr/test_chunks.py checks both directions).  On an
object store a frame read is one ranged GET.

A stored object is a chunk, or a shard holding chunks behind an index.  A
shard's index is read once and kept with the shard's version; a read that
finds the shard at another version (rewritten by another handle or process)
reads the index again, so no read ever mixes two shards.  Anything else
(format 2, filters, transposes, other codecs) is zarr-python's:
:func:`grid_of` returns None.
"""

from __future__ import annotations

import functools
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline import errors
from pipeline.formats.zarr.codec import ChunkCodec, crc32c
from pipeline.storage import Location

_EMPTY = 2**64 - 1
_ABSENT = memoryview(b"")
"""Stands for a stored object of no bytes (``b""`` itself means: all fill value)."""
_GAP = 2**16
"""Inner chunks of one shard whose bytes lie closer than this are read at once."""
MAX_CHUNKS_PER_SHARD = 2**22
"""A shard index of more entries than this (64 MiB) is not one lazyseries reads."""
MAX_CHUNK_BYTES = 2**32
"""A chunk larger than this is refused when a store opens: its decode would exhaust memory."""


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


@dataclass
class ChunkGrid:
    """Where an array's stored objects are and how they are encoded; picklable, a recipe.

    ``chunks`` are the (inner) chunks; ``shard`` the shards holding them (None:
    chunks are stored one per object).  ``strict``: a missing stored object is
    lost data (a complete lazyseries store holds every one) rather than the
    fill value.  Build one with :func:`grid_of`.
    """

    root: Location
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype
    fill_value: Any
    codec: ChunkCodec
    key_prefix: str
    separator: str
    shard: tuple[int, ...] | None = None
    index_at_end: bool = True
    index_crc: bool = True
    write_empty: bool = True
    strict: bool = False
    _indexes: dict[tuple[int, ...], tuple[str, np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False)
    _flat: dict[int, tuple[str, str, memoryview]] = field(
        default_factory=dict, repr=False, compare=False)
    """Per shard of whole frames: its path, version and index as native ints (``s[j]``)."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_paths", "_decoder")} | \
            {"_indexes": {}, "_flat": {}}

    @property
    def stored(self) -> tuple[int, ...]:
        """The shape of one stored object: a shard, else a chunk."""
        return self.shard or self.chunks

    @functools.cached_property
    def per_shard(self) -> tuple[int, ...]:
        return tuple(s // c for s, c in zip(self.stored, self.chunks))

    @functools.cached_property
    def full_region(self) -> tuple[tuple[int, int], ...]:
        """The region of a whole frame (every axis after the first)."""
        return tuple((0, n) for n in self.shape[1:])

    @functools.cached_property
    def _zeros(self) -> tuple[int, ...]:
        return (0,) * (len(self.shape) - 1)

    @functools.cached_property
    def frame_inner(self) -> bool:
        """Whether each chunk is one whole frame, in objects of whole frames (the layout
        lazyseries writes): reads and writes then go frame by frame."""
        return self.chunks[0] == 1 and self.chunks[1:] == self.shape[1:] == self.stored[1:]

    def key(self, coords: tuple[int, ...]) -> str:
        return self.key_prefix + self.separator.join(str(c) for c in coords)

    def location(self, coords: tuple[int, ...]) -> Location:
        """Where the stored object ``coords`` (object coordinates) lives."""
        return self.root.child(self.key(coords))

    def _where(self, coords: tuple[int, ...], what: str = "chunk") -> str:
        first = coords[0] * (self.chunks if what == "chunk" else self.stored)[0]
        return f"{self.root.text!r}: {what} {self.key(coords)!r} (frames from {first})"

    def _missing(self, coords: tuple[int, ...]) -> Exception:
        what = "chunk" if self.shard is None else "shard"
        return errors.MissingChunkError(
            f"{self._where(coords, what)} is missing from this complete store; the data is lost or "
            "the store was damaged; rewrite it from its source (or, if a writer left it out as "
            "all fill value, open the store with missing='fill')")

    # -- reading ---------------------------------------------------------------------

    def read(self, selection: tuple[slice | np.ndarray, ...]) -> np.ndarray:
        """``array[selection]`` (orthogonal: step-1 slices, or integer arrays on the first axis)."""
        first = selection[0]
        spans = [(s.start, s.stop) for s in selection[1:] if isinstance(s, slice)]
        if isinstance(first, slice):
            out = np.empty((first.stop - first.start, *(b - a for a, b in spans)), self.dtype)
            self.read_box(out, [(first.start, first.stop), *spans])
            return out
        frames = np.asarray(first, dtype=np.intp).reshape(-1)
        out = np.empty((len(frames), *(b - a for a, b in spans)), self.dtype)
        size = self.stored[0]
        for obj in np.unique(frames // size):  # each stored object of the selection read once
            where = np.flatnonzero(frames // size == obj)
            lo, hi = int(obj) * size, min((int(obj) + 1) * size, self.shape[0])
            box = np.empty((hi - lo, *out.shape[1:]), self.dtype)
            self.read_box(box, [(lo, hi), *spans])
            out[where] = box[frames[where] - lo]
        return out

    def read_frame(self, j: int) -> np.ndarray:
        """Frame ``j`` whole, shape ``(1, *frame)``: the random-access case, kept short."""
        out = np.empty((1, *self.shape[1:]), self.dtype)
        if not self.frame_inner:
            self.read_box(out, [(j, j + 1), *self.full_region])
        elif self.shard is None:
            self._decode_object((j, *self._zeros), out)
        else:
            self._frame_from_shard(j, out)
        return out

    @functools.cached_property
    def _paths(self) -> dict[tuple[int, ...], str]:
        return {}

    def _path(self, coords: tuple[int, ...]) -> str:
        """The backend path of stored object ``coords`` (kept: asked on every ``s[j]``)."""
        path = self._paths.get(coords)
        if path is None:
            path = self._paths[coords] = self.location(coords).path
        return path

    def _frame_from_shard(self, j: int, out: np.ndarray) -> None:
        """Frame ``j`` of a shard of whole frames: one ranged read of its own bytes, its
        offset looked up in the shard's index read once (again when the shard changed)."""
        k, local = divmod(j, self.stored[0])
        backend = self.root.backend
        for attempt in range(3):
            found = None if attempt else self._flat.get(k)
            if found is None:
                index = self._index((k, *self._zeros), refresh=attempt > 0)
                if index is None:
                    if self.strict:
                        raise self._missing((k, *self._zeros))
                    out[...] = self.fill_value
                    return
                flat = np.ascontiguousarray(index[1]).data.cast("B").cast("Q")
                found = self._flat[k] = (self._path((k, *self._zeros)), index[0], flat)
            path, version, flat = found
            offset, nbytes = flat[2 * local], flat[2 * local + 1]
            if offset == _EMPTY:  # left out by its writer: all fill value
                out[...] = self.fill_value
                return
            try:
                data, now = backend.read_versioned(path, offset, offset + nbytes)
            except FileNotFoundError:
                continue
            if now != version:
                continue  # rewritten since its index was read: read the index again
            if len(data) != nbytes:
                raise errors.DamagedChunkError(
                    f"{self._where((k, *self._zeros), 'shard')}: its index points past its end "
                    "; the store is damaged")
            self.codec.decode_into(data, out, lambda: self._where((j, *self._zeros)))
            return
        raise errors.StoreChangedError(f"{self._where((k, *self._zeros), 'shard')} keeps "
                                       "changing while it is read; another writer is "
                                       "rewriting it")

    def read_box(self, out: np.ndarray, box: list[tuple[int, int]]) -> None:
        """Fill ``out`` with the array within ``box`` (one ``(start, stop)`` per axis)."""
        if any(b <= a for a, b in box):
            return
        if self.frame_inner and self.shard is not None:
            crop = None if box[1:] == list(self.full_region) else tuple(
                slice(lo, hi) for lo, hi in box[1:])
            if box[0][1] - box[0][0] == 1:  # one frame (a crop of ps[j]): its own bytes only
                frame = _scratch(self.chunks, self.dtype) if crop else out
                self._frame_from_shard(box[0][0], frame)
                if crop:
                    out[0] = frame[0][crop]
                return
            self._read_shard_frames(out, box[0][0], box[0][1], crop)
            return
        inner = [range(a // c, (b - 1) // c + 1) for (a, b), c in zip(box, self.chunks)]
        by_object: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
        for coords in itertools.product(*inner):
            outer = tuple(c // p for c, p in zip(coords, self.per_shard))
            by_object.setdefault(outer, []).append(coords)
        if self.shard is not None:
            self._read_shards(out, box, by_object)
            return
        objects = list(by_object)  # every chunk's read in flight at once where it can be
        for coords, found in zip(objects, self.root.backend.read_many(
                [(self._path(c), 0, None) for c in objects])):
            if found is None:
                if self.strict:
                    raise self._missing(coords)
                self._place(out, box, coords, b"")
            else:
                self._place(out, box, coords, found[0] or _ABSENT)

    def _decode_object(self, coords: tuple[int, ...], out: np.ndarray) -> None:
        """Decode the unsharded chunk ``coords`` into ``out`` (the chunk's shape)."""
        try:
            data = self.root.backend.read(self._path(coords))
        except FileNotFoundError:
            if self.strict:
                raise self._missing(coords) from None
            out[...] = self.fill_value
            return
        self.codec.decode_into(data, out, lambda: self._where(coords))

    def _place(self, out: np.ndarray, box: list[tuple[int, int]], coords: tuple[int, ...],
               data: Any) -> None:
        """Chunk ``coords`` (its stored bytes ``data``, b"" for fill, :data:`_ABSENT` for a
        stored object of no bytes) into the part of ``out`` it covers."""
        origin = [i * c for i, c in zip(coords, self.chunks)]
        inner = tuple(slice(max(a, o) - o, min(b, o + c) - o)
                      for (a, b), o, c in zip(box, origin, self.chunks))
        target = out[tuple(slice(max(a, o) - a, min(b, o + c) - a)
                           for (a, b), o, c in zip(box, origin, self.chunks))]
        whole = all(s.start == 0 and s.stop == c for s, c in zip(inner, self.chunks))
        dest = target if whole and target.flags.c_contiguous else _scratch(self.chunks,
                                                                           self.dtype)
        if data is _ABSENT:  # an object of no bytes: not a chunk (the decoder says why)
            self.codec.decode_into(b"", dest, functools.partial(self._where, coords))
        elif not len(data):
            dest[...] = self.fill_value
        else:
            self.codec.decode_into(data, dest, functools.partial(self._where, coords))
        if dest is not target:
            target[...] = dest[inner]

    # -- shards ----------------------------------------------------------------------

    def _index_request(self, outer: tuple[int, ...]) -> tuple[str, int, int | None]:
        size = 16 * int(np.prod(self.per_shard)) + 4 * self.index_crc
        path = self._path(outer)
        return (path, -size, None) if self.index_at_end else (path, 0, size)

    def _keep_index(self, outer: tuple[int, ...], found: tuple[bytes, str] | None
                    ) -> tuple[str, np.ndarray] | None:
        """Check and keep shard ``outer``'s index from its read bytes (None: no shard)."""
        if found is None:
            self._indexes.pop(outer, None)
            return None
        raw, version = found
        size = 16 * int(np.prod(self.per_shard)) + 4 * self.index_crc
        where = self._where(outer, "shard")
        if len(raw) != size:
            raise errors.DamagedChunkError(f"{where} holds {len(raw)} bytes, fewer than its "
                                           f"{size}-byte index; the store is damaged")
        if self.index_crc:
            if crc32c(raw[:-4]) != raw[-4:]:
                raise errors.DamagedChunkError(f"{where}: the shard index's CRC-32C checksum "
                                               "does not match; the store is damaged, rewrite "
                                               "it from its source")
            raw = raw[:-4]
        index = np.frombuffer(raw, "<u8").astype(np.uint64).reshape(-1, 2)
        self._indexes[outer] = (version, index)
        if len(outer) and outer[0] in self._flat:
            del self._flat[outer[0]]
        return version, index

    def _index(self, outer: tuple[int, ...], refresh: bool = False) -> tuple[str, np.ndarray] | None:
        """``(version, index)`` of shard ``outer``, kept; None when the shard is absent."""
        if not refresh and outer in self._indexes:
            return self._indexes[outer]
        return self._keep_index(outer, self.root.backend.read_many([self._index_request(outer)])[0])

    def _shards(self, wanted: list[tuple[tuple[int, ...], Any]]
                ) -> list[tuple[np.ndarray, memoryview, int] | None]:
        """For each ``(shard, rows)``: the index entries ``rows`` and the bytes they span, read
        at the index's version (the index read again where the shard changed), or None for an
        absent shard.  All shards' reads are in flight at once where the backend can."""
        backend = self.root.backend
        done: dict[int, tuple[np.ndarray, memoryview, int] | None] = {}
        stale: set[tuple[int, ...]] = set()
        for _ in range(3):
            todo = [(i, outer, rows) for i, (outer, rows) in enumerate(wanted) if i not in done]
            if not todo:
                return [done[i] for i in range(len(wanted))]
            missing = sorted({o for _, o, _ in todo if o in stale or o not in self._indexes})
            for outer, found in zip(missing, backend.read_many(
                    [self._index_request(o) for o in missing])):
                self._keep_index(outer, found)
            stale.clear()
            requests, spans = [], []
            for i, outer, rows in todo:
                index = self._indexes.get(outer)
                if index is None:
                    done[i] = None
                    continue
                entries = index[1][rows]
                stored = entries[entries[:, 0] != _EMPTY]
                if not len(stored):
                    done[i] = (entries, memoryview(b""), 0)
                    continue
                start = int(stored[:, 0].min())
                stop = int((stored[:, 0] + stored[:, 1]).max())
                requests.append((self._path(outer), start, stop))
                spans.append((i, outer, entries, start, stop, index[0]))
            for (i, outer, entries, start, stop, version), found in zip(
                    spans, backend.read_many(requests)):
                if found is None or found[1] != version:
                    stale.add(outer)  # rewritten since its index was read: read it again
                    continue
                if len(found[0]) != stop - start:
                    raise errors.DamagedChunkError(
                        f"{self._where(outer, 'shard')}: its index points past its end "
                        f"({stop} bytes wanted, {start + len(found[0])} there); the store is "
                        "damaged")
                done[i] = (entries, memoryview(found[0]), start)
        raise errors.StoreChangedError(f"{self.root.text!r}: shards keep changing while they are "
                                       "read; another writer is rewriting them")

    def _read_shard_frames(self, out: np.ndarray, a: int, b: int,
                           crop: tuple[slice, ...] | None) -> None:
        """Frames ``a:b`` of one-frame chunks in shards into ``out``: one read per shard."""
        per = self.stored[0]
        spans = [(k, max(a, k * per), min(b, (k + 1) * per))
                 for k in range(a // per, (b - 1) // per + 1)]
        found_all = self._shards([((k, *self._zeros), slice(lo - k * per, hi - k * per))
                                  for k, lo, hi in spans])
        chunk = _scratch(self.chunks, self.dtype) if crop is not None else None
        for (k, lo, hi), found in zip(spans, found_all):
            if found is None:
                if self.strict:
                    raise self._missing((k, *self._zeros))
                out[lo - a:hi - a] = self.fill_value
                continue
            entries, data, start = found
            for i, (offset, nbytes) in enumerate(entries.tolist(), lo - a):
                if offset == _EMPTY:  # left out by its writer: all fill value
                    out[i] = self.fill_value
                    continue
                payload = data[offset - start:offset - start + nbytes]
                where = functools.partial(self._where, (a + i, *self._zeros))
                if chunk is None:
                    self.codec.decode_into(payload, out[i:i + 1], where)
                else:
                    self.codec.decode_into(payload, chunk, where)
                    out[i] = chunk[0][crop]

    def _read_shards(self, out: np.ndarray, box: list[tuple[int, int]],
                     by_shard: dict[tuple[int, ...], list[tuple[int, ...]]]) -> None:
        wanted = []
        for outer, chunks in by_shard.items():
            local = [tuple(c % p for c, p in zip(coords, self.per_shard)) for coords in chunks]
            wanted.append((outer, np.ravel_multi_index(np.array(local).T, self.per_shard)))
        for (outer, chunks), found in zip(by_shard.items(), self._shards(wanted)):
            if found is None:
                if self.strict:
                    raise self._missing(outer)
                for coords in chunks:
                    self._place(out, box, coords, b"")
                continue
            entries, data, start = found
            for coords, (offset, nbytes) in zip(chunks, entries.tolist()):
                payload = b"" if offset == _EMPTY else data[offset - start:offset - start + nbytes]
                self._place(out, box, coords, payload)

    # -- writing ---------------------------------------------------------------------

    def __setitem__(self, key: tuple[slice, ...], value: np.ndarray) -> None:
        """``grid[box] = block``: what ``dask.array.store`` calls; whole stored objects only."""
        self.write(key, value)

    def write(self, key: Any, block: np.ndarray) -> None:
        """Write ``block`` at ``key``, which must cover whole stored objects (edge ones: to
        the end of the array)."""
        block = np.asarray(block, dtype=self.dtype)
        box = whole_box(key, self.shape, self.stored)
        ranges = [range(a // s, -(-b // s)) for (a, b), s in zip(box, self.stored)]
        for coords in itertools.product(*ranges):
            part = tuple(slice(i * s - a, min((i + 1) * s, b) - a)
                         for i, s, (a, b) in zip(coords, self.stored, box))
            payload = self._encode_object(block[part])
            if payload is not None:
                self.location(coords).write(payload)
            else:
                self.location(coords).remove()

    def _encode_chunk(self, data: np.ndarray) -> bytes | None:
        """One chunk's stored bytes, as zarr makes them; None for one left out (all fill)."""
        if data.shape != self.chunks:  # an edge chunk: padded with the fill value, as zarr does
            full = np.full(self.chunks, self.fill_value, self.dtype)
            full[tuple(slice(0, n) for n in data.shape)] = data
            data = full
        if not self.write_empty and np.all(data == self.fill_value):
            return None
        return self.codec.encode(np.ascontiguousarray(data))

    def _encode_object(self, data: np.ndarray) -> bytes | None:
        if self.shard is None:
            return self._encode_chunk(data)
        index = np.full((*self.per_shard, 2), _EMPTY, "<u8")
        buffers: list[Any] = []
        start = 0
        for local, chunk in self._inner_chunks(data):
            payload = self._encode_chunk(chunk)
            if payload is None:
                continue
            index[local] = (start, len(payload))
            buffers.append(payload)
            start += len(payload)
        if not buffers:
            return None
        if not self.index_at_end:
            size = index.nbytes + 4 * self.index_crc
            index[index[..., 0] != _EMPTY, 0] += size
        raw = index.tobytes()
        raw += crc32c(raw) if self.index_crc else b""
        return b"".join([*buffers, raw] if self.index_at_end else [raw, *buffers])

    def _inner_chunks(self, data: np.ndarray) -> Any:
        """``(local coords, chunk)`` of one shard's data in zarr's order, those wholly beyond
        the array's end left out as zarr leaves them out."""
        if self.frame_inner:  # Morton order of an (n, 1, ...) grid is frame order
            return (((i, *self._zeros), data[i:i + 1]) for i in range(len(data)))
        grid = [range(-(-n // c)) for n, c in zip(data.shape, self.chunks)]
        return ((tuple(local), data[tuple(slice(i * c, (i + 1) * c)
                                          for i, c in zip(local, self.chunks))])
                for local in morton_order(self.per_shard).tolist()
                if all(i in r for i, r in zip(local, grid)))


def whole_box(key: Any, shape: tuple[int, ...], grid: tuple[int, ...]) -> list[tuple[int, int]]:
    """The ``(start, stop)`` per axis of ``key``, checked to cover whole cells of ``grid``."""
    key = () if key is Ellipsis else key if isinstance(key, tuple) else (key,)
    key = (*key, *(slice(None),) * (len(shape) - len(key)))
    box = [(s.start or 0, shape[i] if s.stop is None else s.stop) for i, s in enumerate(key)]
    for (a, b), c, n in zip(box, grid, shape):
        if a % c or (b % c and b != n):
            raise errors.RegionError(f"box {box!r} does not cover whole chunks {grid!r}; a "
                                     "write covers whole chunks (or shards), edge ones to "
                                     "the end")
    return box


_LOCAL = threading.local()


def _scratch(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A decode buffer kept per thread: a partly read chunk is copied out of it at once, so
    reusing it saves an allocation per chunk (every decode into it is size-checked first)."""
    key = (shape, dtype.str)
    buf = getattr(_LOCAL, "buffers", {}).get(key)
    if buf is None and int(np.prod(shape)) * dtype.itemsize > 2**26:
        return np.empty(shape, dtype)  # not kept: a thread would hold a huge buffer for good
    if buf is None:
        _LOCAL.buffers = {key: np.empty(shape, dtype)}  # one shape kept: chunks of one array
        buf = _LOCAL.buffers[key]
    return buf

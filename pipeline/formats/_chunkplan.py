"""The plan of a Zarr 3 array of plain chunks: where each chunk lives, how it is coded.

:class:`ChunkPlan` reads and writes whole chunks with numcodecs and plain
file I/O, byte for byte what zarr-python reads and writes (see
:mod:`pipeline.formats._chunkio`, which builds plans from ``zarr.Array``
objects, and :mod:`pipeline.formats._shardio` for shards).
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline import errors

_COMPRESSORS = ("blosc", "zstd", "gzip")
_SHUFFLES = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def _codec(spec: dict[str, Any]) -> Any:
    """The numcodecs codec zarr-python builds for the Zarr 3 codec ``spec``."""
    import numcodecs

    name, conf = spec["name"], dict(spec.get("configuration") or {})
    if name == "blosc":
        return numcodecs.Blosc(cname=conf["cname"], clevel=int(conf["clevel"]),
                               shuffle=_SHUFFLES[conf["shuffle"]],
                               blocksize=int(conf.get("blocksize", 0)),
                               typesize=int(conf["typesize"]))
    if name == "zstd":
        return numcodecs.Zstd(level=int(conf.get("level", 0)),
                              checksum=bool(conf.get("checksum", False)))
    return numcodecs.GZip(level=int(conf.get("level", 5)))


@dataclass
class ChunkPlan:
    """Where an array's chunks live and how they are encoded; picklable, a recipe.

    Build one with :func:`plan`; ``strict`` says a missing chunk is lost
    data (a complete lazyseries store holds every chunk) rather than the
    fill value.
    """

    root: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype
    fill_value: Any
    codec_spec: dict[str, Any] | None
    key_prefix: str
    separator: str
    write_empty_chunks: bool
    strict: bool = False
    _codec: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = {**self.__dict__, "_codec": None}
        for built in ("_decoder", "_encoder"):  # rebuilt where unpickled (they hold codecs)
            state.pop(built, None)
        return state

    @property
    def codec(self) -> Any:
        if self._codec is None and self.codec_spec is not None:
            self._codec = _codec(self.codec_spec)
        return self._codec

    def chunk_path(self, coords: tuple[int, ...]) -> str:
        key = self.key_prefix + self.separator.join(str(c) for c in coords)
        return os.path.join(self.root, *key.split("/"))

    # -- reading ---------------------------------------------------------------------

    def read(self, selection: tuple[slice | np.ndarray, ...]) -> np.ndarray:
        """``array[selection]`` (orthogonal: step-1 slices, or integer arrays on the first axis)."""
        first = selection[0]
        spans = [(s.start, s.stop) for s in selection[1:] if isinstance(s, slice)]
        if isinstance(first, slice):
            out = np.empty((first.stop - first.start, *(b - a for a, b in spans)), self.dtype)
            self._read_box(out, [(first.start, first.stop), *spans])
            return out
        frames = np.asarray(first, dtype=np.intp).reshape(-1)
        out = np.empty((len(frames), *(b - a for a, b in spans)), self.dtype)
        size = self.chunks[0]
        # frames grouped by chunk: each chunk of the selection read once
        for chunk in np.unique(frames // size):
            where = np.flatnonzero(frames // size == chunk)
            lo = int(chunk) * size
            hi = min(lo + size, self.shape[0])
            box = np.empty((hi - lo, *out.shape[1:]), self.dtype)
            self._read_box(box, [(lo, hi), *spans])
            out[where] = box[frames[where] - lo]
        return out

    @functools.cached_property
    def _zeros(self) -> tuple[int, ...]:
        return (0,) * (len(self.shape) - 1)

    @functools.cached_property
    def full_region(self) -> tuple[tuple[int, int], ...]:
        """The region of a whole frame (every axis after the first)."""
        return tuple((0, n) for n in self.shape[1:])

    def read_frame(self, j: int) -> np.ndarray:
        """Frame ``j`` whole, shape ``(1, *frame)``: the random-access case, kept short."""
        if self.chunks[0] != 1 or self.chunks[1:] != self.shape[1:]:
            out = np.empty((1, *self.shape[1:]), self.dtype)
            self._read_box(out, [(j, j + 1), *self.full_region])
            return out
        out = np.empty(self.chunks, self.dtype)
        self._decode_into((j, *self._zeros), out)  # one whole frame in a chunk of its own
        return out

    def _absent(self, coords: tuple[int, ...], out: np.ndarray) -> np.ndarray:
        """``out`` for a chunk that is not stored: lost data (``strict``), else the fill value."""
        if self.strict:
            raise _missing(coords, self)
        out[...] = self.fill_value
        return out

    def _decode(self, data: Any, out: np.ndarray) -> None:
        """Decode one stored chunk's bytes into ``out`` (C-contiguous, the chunk's shape)."""
        self._decoder(data, out)

    @functools.cached_property
    def _decoder(self) -> Callable[[Any, np.ndarray], Any]:
        spec = self.codec_spec
        if spec is None:
            return functools.partial(_copy_raw, self.root)
        if spec["name"] == "blosc":
            from numcodecs import blosc

            return blosc.decompress  # what Blosc.decode calls, without its checks' cost
        codec = self.codec
        return lambda data, out: codec.decode(data, out=out)

    def _read_box(self, out: np.ndarray, box: list[tuple[int, int]]) -> None:
        """Fill ``out`` with the array within ``box`` (one ``(start, stop)`` per axis)."""
        ranges = [range(a // c, (max(b, a + 1) - 1) // c + 1) if b > a else range(0)
                  for (a, b), c in zip(box, self.chunks)]
        for coords in itertools.product(*ranges):
            origin = [i * c for i, c in zip(coords, self.chunks)]
            inner = tuple(slice(max(a, o) - o, min(b, o + c) - o)
                          for (a, b), o, c in zip(box, origin, self.chunks))
            dest = tuple(slice(max(a, o) - a, min(b, o + c) - a)
                         for (a, b), o, c in zip(box, origin, self.chunks))
            target = out[dest]
            whole = all(s.start == 0 and s.stop == c for s, c in zip(inner, self.chunks))
            if whole and target.flags.c_contiguous:
                self._decode_into(coords, target)  # no intermediate buffer
            else:
                chunk = _scratch(self.chunks, self.dtype)
                self._decode_into(coords, chunk)
                target[...] = chunk[inner]

    def _decode_into(self, coords: tuple[int, ...], out: np.ndarray) -> None:
        path = self.chunk_path(coords)
        try:
            fh = open(path, "rb")  # noqa: SIM115  (closed below; readinto needs the handle)
        except FileNotFoundError:
            self._absent(coords, out)
            return
        with fh:
            if self.codec is None:
                if fh.readinto(out.data.cast("B")) != out.nbytes:
                    # zarr-python fails too (a wrong-sized buffer); its codecs' errors pass as is
                    raise errors.DamagedChunkError(f"chunk file {path!r} is shorter than its "
                                                   "chunk; the store is damaged, rewrite it")
                return
            data = fh.read()
        self._decode(data, out)

    # -- writing ---------------------------------------------------------------------

    def __setitem__(self, key: tuple[slice, ...], value: np.ndarray) -> None:
        """``plan[box] = block``: what ``dask.array.store`` calls; whole chunks only."""
        self.write(key, value)

    def write(self, key: Any, block: np.ndarray) -> None:
        """Write ``block`` at ``key``, which must cover whole chunks (edge chunks: to the end)."""
        block = np.asarray(block, dtype=self.dtype)
        box = _whole_box(key, self.shape, self.chunks)
        ranges = [range(a // c, -(-b // c)) for (a, b), c in zip(box, self.chunks)]
        for coords in itertools.product(*ranges):
            part = tuple(slice(i * c - a, min((i + 1) * c, b) - a)
                         for i, c, (a, b) in zip(coords, self.chunks, box))
            path = self.chunk_path(coords)
            payload = self._encode(block[part])
            if payload is not None:
                _atomic_write(path, payload)
                continue
            try:
                os.remove(path)
            except FileNotFoundError:
                pass

    def _encode(self, data: np.ndarray) -> Any:
        """One chunk's stored bytes, as zarr makes them; None for one left out (all fill)."""
        if data.shape != self.chunks:  # an edge chunk: padded with the fill value, as zarr does
            full = np.full(self.chunks, self.fill_value, self.dtype)
            full[tuple(slice(0, n) for n in data.shape)] = data
            data = full
        if not self.write_empty_chunks and np.all(data == self.fill_value):
            return None
        return self._encoder(np.ascontiguousarray(data))

    @functools.cached_property
    def _encoder(self) -> Callable[[np.ndarray], Any]:
        spec = self.codec_spec
        if spec is None:
            return np.ndarray.tobytes
        if spec["name"] == "blosc":
            from numcodecs import blosc

            # what Blosc.encode calls, without its argument checks (a contiguous chunk here)
            conf, codec = spec["configuration"], self.codec
            return functools.partial(blosc.compress, cname=conf["cname"].encode("ascii"),
                                     clevel=codec.clevel, shuffle=codec.shuffle,
                                     blocksize=codec.blocksize, typesize=int(conf["typesize"]))
        return self.codec.encode


def _copy_raw(root: str, data: Any, out: np.ndarray) -> None:
    """An uncompressed chunk's bytes into ``out``."""
    if len(data) != out.nbytes:
        # zarr-python fails too (a wrong-sized buffer)
        raise errors.DamagedChunkError(f"a chunk of {root!r} holds {len(data)} bytes, not "
                                       f"{out.nbytes}; the store is damaged, rewrite it")
    out.reshape(-1).view(np.uint8)[...] = np.frombuffer(data, np.uint8)


def _whole_box(key: Any, shape: tuple[int, ...], grid: tuple[int, ...]) -> list[tuple[int, int]]:
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
    reusing it saves an allocation (and the allocator's growth) per chunk."""
    key = (shape, dtype.str)
    buf = getattr(_LOCAL, "buffers", {}).get(key)
    if buf is None and int(np.prod(shape)) * dtype.itemsize > 2**26:
        return np.empty(shape, dtype)  # not kept: a thread would hold a huge buffer for good
    if buf is None:
        _LOCAL.buffers = {key: np.empty(shape, dtype)}  # one shape kept: chunks of one array
        buf = _LOCAL.buffers[key]
    return buf


def _atomic_write(path: str, payload: Any) -> None:
    """Write beside, then replace: a reader sees the old chunk or the new one, never half."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{uuid.uuid4().hex}.partial"
    try:
        with open(tmp, "wb") as fh:
            fh.write(payload.data.cast("B") if isinstance(payload, np.ndarray) else payload)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise


def _missing(coords: tuple[int, ...], plan: ChunkPlan) -> Exception:
    key = plan.key_prefix + plan.separator.join(str(c) for c in coords)
    return errors.MissingChunkError(
        f"{plan.root!r}: chunk {key!r} (frames from {coords[0] * plan.chunks[0]}) is missing "
        "from this complete store; the data is lost or the store was damaged; "
        "rewrite it from its source")

"""The dask graphs behind :mod:`pipeline.stats`, each sized to hold ``memory_limit``.

Memory goes to four places, and each is budgeted:

- the frames a task reads, including what the reader *decodes* to give them:
  a band of rows read from a chunk of whole frames decodes the whole chunk,
  so reads are sized by the storage chunk, not by the bytes they return;
- the accumulators of running reductions (float64 for sums);
- the blocks of all frames x a band of rows that a percentile needs at once;
- the result, and the pieces it is assembled from.

The budget is divided by the number of tasks that can run at once (the
local scheduler's threads, or a distributed worker's).  One more place is
the allocator's: zarr decodes in a pool of threads, and glibc gives each
thread an arena that keeps the buffers it freed, so every pool thread would
hold a chunk's worth of dead buffers; each task hands freed memory back
(``malloc_trim``) after its reads.  Reductions run as
a few sequential *chains* of read-and-fold tasks (one chain per thread), so
no read runs ahead of the fold that consumes it.  Percentiles read every
frame once per band of rows; when that would mean decoding the series many
times over, the frames are first copied once into a scratch store chunked
by bands (``transpose``), and each band then reads only its own bytes.
"""

from __future__ import annotations

import builtins
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.series import ImageSeries

if TYPE_CHECKING:
    import dask.array as da

SAFETY = 0.6
"""Share of ``memory_limit`` the plan fills: the rest covers Python, zarr and allocator overhead."""

TRANSPOSE_FROM_BANDS = 3
"""Percentile bands from which the frames are copied into a band-chunked scratch store first."""


@dataclass(frozen=True)
class Budget:
    """What one statistic may hold and what its reads cost, in bytes."""

    limit: int  # bytes the plan may fill (SAFETY x memory_limit)
    threads: int  # tasks that can run at once
    count: int  # frames used
    frame_in: int  # one source frame as read
    frame_out: int  # one frame of the series (after its ops)
    chained: bool  # ops run on each block: their intermediates count too
    unit_frames: int  # frames in one storage chunk (decoded together)
    unit_bytes: int  # bytes decoded for one storage chunk (0: nothing to decode)

    def read_cost(self, frames: int, fraction: float = 1.0) -> int:
        """Bytes held to read ``frames`` frames (``fraction`` of each frame's rows)."""
        units = math.ceil(frames / self.unit_frames)
        out = frames * (self.frame_in * fraction + (2 * self.frame_out * fraction
                                                    if self.chained else 0))
        return int(out + units * self.unit_bytes)


def budget(s: ImageSeries, limit: int) -> Budget:
    """The :class:`Budget` of statistics over ``s`` (its frames already selected)."""
    from pipeline.disk import in_memory
    from pipeline.processed import plan

    source, _, chain, _ = plan(s)
    frame_in = int(np.prod(source.shape)) * source.dtype.itemsize
    frame_out = int(np.prod(s.shape)) * s.dtype.itemsize
    unit_frames, unit_bytes = 1, frame_in
    arr = getattr(source, "zarr_array", None)
    if arr is not None and arr.ndim > 2:
        unit_frames = int(arr.chunks[0])  # inner chunks: a shard is read in parts
        unit_bytes = int(np.prod(arr.chunks)) * arr.dtype.itemsize
    elif source.frame_chunk:
        unit_frames = int(source.frame_chunk)
        unit_bytes = unit_frames * frame_in
    if in_memory(source):
        unit_frames, unit_bytes = 1, 0
    # a decoded chunk passes through a compressed buffer, a decoded one and a copy out
    return Budget(int(SAFETY * limit), threads(), len(s), frame_in, frame_out, bool(chain),
                  builtins.max(1, unit_frames), 3 * unit_bytes)


def threads() -> int:
    """Tasks that may run at once where the statistic will compute."""
    from pipeline._progress import current_client

    client = current_client()
    if client is not None:
        return builtins.max(1, *client.nthreads().values())
    import dask
    from dask.system import CPU_COUNT

    return int(dask.config.get("num_workers", None) or CPU_COUNT)


def _load_trim() -> Any:
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to hand back
        return None


_TRIM: list[Any] = []


def trim() -> None:
    """Give memory freed by this process's threads back to the system (glibc only)."""
    if not _TRIM:
        _TRIM.append(_load_trim())
    if _TRIM[0] is not None:
        _TRIM[0](0)


def read(s: ImageSeries, start: int, stop: int, region: Any = None) -> np.ndarray:
    """Frames ``start:stop`` of ``s`` (within ``region``), the reader's freed buffers handed back."""
    block = s._read(slice(start, stop), s.spec.full_region if region is None else region)
    trim()
    return block


# -- reductions: chains of read-and-fold tasks ---------------------------------------------


def reduce_plan(b: Budget, kind: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """``(chains, frames per step)`` for a reduction whose accumulator is ``kind``'s."""
    acc = int(np.prod(shape)) * 8 if kind in ("sum", "average") else b.frame_out
    least = b.read_cost(b.unit_frames)
    chains = builtins.max(1, builtins.min(b.threads, math.ceil(b.count / b.unit_frames)))
    # the final combination holds every chain's partial and the result
    while chains > 1 and chains * (acc + least) + acc > b.limit:
        chains -= 1
    per_chain = builtins.max(1, (b.limit - acc) // chains - acc)
    step = b.unit_frames
    while step + b.unit_frames <= b.count and b.read_cost(step + b.unit_frames) <= per_chain:
        step += b.unit_frames
    # at least a few steps per chain, so that progress has something to count
    few = math.ceil(b.count / (4 * chains) / b.unit_frames) * b.unit_frames
    return chains, builtins.max(b.unit_frames, builtins.min(step, few))


def reduce_graph(s: ImageSeries, kind: str, b: Budget) -> da.Array:
    """Partial images ``(chains, *shape)``: each chain folds its share of the frames in turn."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    chains, step = reduce_plan(b, kind, s.shape)
    dtype = np.dtype(np.float64) if kind in ("sum", "average") else s.dtype
    name = f"stats-{kind}-{tokenize(s._dask_token(), kind, chains, step, b.count)}"
    src = f"source-{name}"
    dsk: dict[Any, Any] = {src: s}
    zeros = (0,) * len(s.shape)
    starts = list(range(0, b.count, step))
    shares = np.array_split(np.arange(len(starts)), chains)
    for c, share in enumerate(shares):
        prev: Any = None
        for i, k in enumerate(share):
            start = starts[k]
            last = i == len(share) - 1
            key = (name, c, *zeros) if last else (f"{name}-step", c, i)
            dsk[key] = (_fold, prev, src, start, builtins.min(start + step, b.count), kind)
            prev = key
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
    chunks = ((1,) * len(shares), *((n,) for n in s.shape))
    return da.Array(graph, name, chunks, meta=np.empty((0,) * (len(s.shape) + 1), dtype))


def _fold(acc: np.ndarray | None, s: ImageSeries, start: int, stop: int,
          kind: str) -> np.ndarray:
    """``acc`` with frames ``start:stop`` folded in.

    The accumulator is updated in place: it is the previous step's result,
    which only this step consumes.
    """
    block = read(s, start, stop)
    if acc is None:
        if kind in ("sum", "average"):
            acc = np.zeros((1, *block.shape[1:]), np.float64)
        else:
            acc = block[:1].copy()
    ufunc = {"max": np.maximum, "min": np.minimum}.get(kind, np.add)
    for frame in block:  # frame by frame: no float64 copy of the whole block
        ufunc(acc[0], frame, out=acc[0])
    return acc


def combine(partials: da.Array, kind: str, count: int) -> da.Array:
    """The statistic from the chains' partial images, in one task folding them in place."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    name = f"stats-{kind}-combined-{tokenize(partials.name, count)}"
    ndim = partials.ndim - 1
    keys = [k for k in _flat(partials.__dask_keys__())]
    dsk = {(name, *(0,) * ndim): (_combine_parts, keys, kind, count)}
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[partials])
    dtype = np.dtype(np.float32) if kind == "average" else partials.dtype
    return da.Array(graph, name, tuple((n,) for n in partials.shape[1:]),
                    meta=np.empty((0,) * ndim, dtype))


def _flat(keys: Any) -> list[Any]:
    return [k for sub in keys for k in _flat(sub)] if isinstance(keys, list) else [keys]


def _combine_parts(parts: list[np.ndarray], kind: str, count: int) -> np.ndarray:
    # the partials are this task's alone: fold them into the first, no new image
    acc = parts[0][0]
    ufunc = {"max": np.maximum, "min": np.minimum}.get(kind, np.add)
    for part in parts[1:]:
        ufunc(acc, part[0], out=acc)
    if kind != "average":
        return acc
    np.divide(acc, count, out=acc)
    return acc.astype(np.float32)


# -- percentiles: all frames x a band of rows -----------------------------------------------


@dataclass(frozen=True)
class BandPlan:
    rows: int  # rows per band
    tasks: int  # bands computed at once
    read_frames: int  # frames per read of a band (direct) or per copy task (transpose)
    transpose: bool
    copy_chains: int = 1  # copy tasks running at once (each chain copies in turn)


def band_plan(s: ImageSeries, b: Budget, nq: int, out_dtype: np.dtype) -> BandPlan:
    """How to cut ``s`` into bands of rows so that each band's task fits its share."""
    from pipeline._progress import current_client

    height = s.shape[-2]
    row_out = b.frame_out // height  # one row of one frame
    row_result = int(np.prod(s.shape)) // height * nq * out_dtype.itemsize
    row_task = b.count * row_out + row_result // out_dtype.itemsize * 8  # band, float64 result
    result = height * row_result
    # read from the source: the result is assembled from band results held meanwhile (2x)
    rows, tasks = _rows(b, b.limit - 2 * result, row_task, b.read_cost(b.unit_frames, 0),
                        height)
    transpose = (math.ceil(height / rows) >= TRANSPOSE_FROM_BANDS and b.unit_bytes > 0
                 and current_client() is None)
    if not transpose:
        return BandPlan(rows, tasks, b.unit_frames, False)
    # read from the scratch file: a band is its own bytes; band results go to the file too
    rows, tasks = _rows(b, b.limit - result, row_task, 0, height)
    copy = b.read_cost(b.unit_frames) + b.unit_frames * b.frame_out
    chains = builtins.max(1, builtins.min(b.threads, b.limit // builtins.max(1, copy)))
    frames = b.unit_frames
    while frames + b.unit_frames <= math.ceil(b.count / chains) and chains * (
            b.read_cost(frames + b.unit_frames) + (frames + b.unit_frames) * b.frame_out
    ) <= b.limit:
        frames += b.unit_frames
    return BandPlan(rows, tasks, frames, True, chains)


def _rows(b: Budget, avail: int, row_task: int, read: int, height: int) -> tuple[int, int]:
    """Rows per band and bands at once, each task holding ``read`` + rows x ``row_task``."""
    avail = builtins.max(0, avail)
    tasks = builtins.max(1, builtins.min(b.threads, height))
    while tasks > 1 and tasks * (read + row_task) > avail:
        tasks -= 1
    rows = (avail // tasks - read) // builtins.max(1, row_task)
    return builtins.max(1, builtins.min(height, rows)), tasks


def percentile_graph(s: ImageSeries, q: np.ndarray, out_dtype: np.dtype,
                     b: Budget) -> tuple[da.Array, str | None]:
    """The result in bands of rows, one task per band holding all frames; and its scratch.

    With a transpose, the scratch store's directory is named now and made by
    the graph's first task; :func:`assemble` removes it.
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    from pipeline.disk import scratch_name

    p = band_plan(s, b, q.size, out_dtype)
    height = s.shape[-2]
    name = f"stats-percentile-{tokenize(s._dask_token(), q, out_dtype, p, b.count)}"
    src = f"source-{name}"
    dsk: dict[Any, Any] = {src: s}
    home = scratch_name("lazyseries-stats-") if p.transpose else None
    bands = [(r0, builtins.min(r0 + p.rows, height)) for r0 in range(0, height, p.rows)]
    if home is not None:
        made = f"{name}-store"
        dsk[made] = (_make_store, home, b.count * b.frame_out)
        starts = list(range(0, b.count, p.read_frames))
        ends = []
        for c, share in enumerate(np.array_split(np.arange(len(starts)), p.copy_chains)):
            prev: Any = made  # each chain copies in turn: a copy never runs ahead of its turn
            for i in share:
                key = (f"{name}-copy", c, int(i))
                start = starts[i]
                stop = builtins.min(start + p.read_frames, b.count)
                dsk[key] = (_copy_frames, prev, src, start, stop, b.count, bands)
                prev = key
            ends.append(prev)
        dsk[f"{name}-copied"] = (_all_done, ends, made)
    lead = (0,) * q.ndim
    rest = (0,) * (len(s.shape) - 2)
    for i, (r0, r1) in enumerate(bands):
        key = (name, *lead, *rest, i, 0)
        if home is not None:
            dsk[key] = (_band_from_store, f"{name}-copied", s.spec, b.count, r0, r1, q,
                        out_dtype, _result_offset(s, q, out_dtype, r0))
        else:
            dsk[key] = (_band_direct, src, b.count, r0, r1, p.read_frames, q, out_dtype)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
    chunks = (*((n,) for n in q.shape), *((n,) for n in s.shape[:-2]),
              tuple(r1 - r0 for r0, r1 in bands), (s.shape[-1],))
    meta = np.empty((0,) * (q.ndim + len(s.shape)), out_dtype)
    return da.Array(graph, name, chunks, meta=meta), home


def assemble(bands: da.Array, home: str | None) -> da.Array:
    """``bands`` as one block; with a scratch store, read from it and the store removed."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    if home is None:
        return bands
    name = f"stats-assembled-{tokenize(bands.name, home)}"
    key = (name, *(0,) * bands.ndim)
    rows = [int(r) for r in np.cumsum((0, *bands.chunks[-2]))]
    dsk = {key: (_assemble, _flat(bands.__dask_keys__()), home, bands.shape,
                 bands.dtype, rows)}
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[bands])
    return da.Array(graph, name, tuple((n,) for n in bands.shape), meta=bands._meta)


def _result_offset(s: ImageSeries, q: np.ndarray, dtype: np.dtype, r0: int) -> int:
    """Where the result of band ``r0:`` starts in the results file: bands one after another."""
    return q.size * int(np.prod(s.shape)) // s.shape[-2] * r0 * dtype.itemsize


def _assemble(_: list[None], home: str, shape: tuple[int, ...], dtype: np.dtype,
              rows: list[int]) -> np.ndarray:
    from pipeline.disk import remove_scratch

    out = np.empty(shape, dtype)
    try:
        with open(os.path.join(home, "result.bin"), "rb") as f:
            for r0, r1 in zip(rows, rows[1:], strict=False):
                piece = np.empty((*shape[:-2], r1 - r0, shape[-1]), dtype)
                f.readinto(piece.data)
                out[..., r0:r1, :] = piece
    finally:
        remove_scratch(home)
    return out


def _band_region(s: ImageSeries, r0: int, r1: int) -> tuple[tuple[int, int], ...]:
    full = list(s.spec.full_region)
    full[-2] = (r0, r1)
    return tuple(full)


def _band_direct(s: ImageSeries, count: int, r0: int, r1: int, read_frames: int,
                 q: np.ndarray, dtype: np.dtype) -> np.ndarray:
    region = _band_region(s, r0, r1)
    band = np.empty((count, *s.shape[:-2], r1 - r0, s.shape[-1]), s.dtype)
    for start in range(0, count, read_frames):
        stop = builtins.min(start + read_frames, count)
        band[start:stop] = read(s, start, stop, region)
    return percentile_block(band, q, dtype)


# The scratch copy is one plain file holding band after band, each band all frames x its
# rows, contiguous: a copy task writes its frames' slice of every band, a band task reads
# its bytes back in one go.  No chunk store: tens of thousands of small chunks would cost
# more in per-chunk overhead than the reads they save.


def _make_store(home: str, nbytes: int) -> str:
    from pipeline.disk import claim_scratch

    claim_scratch(home)
    path = os.path.join(home, "bands.bin")
    with open(path, "wb") as f:
        f.truncate(nbytes)
    open(os.path.join(home, "result.bin"), "wb").close()
    return path


def _band_offset(spec: Any, count: int, r0: int) -> tuple[int, int]:
    """Where band ``r0:`` starts in the scratch file, and the bytes of one frame's row."""
    row = int(np.prod(spec.shape)) // spec.shape[-2] * spec.dtype.itemsize
    return count * r0 * row, row


def _copy_frames(prev: Any, s: ImageSeries, start: int, stop: int, count: int,
                 bands: list[tuple[int, int]]) -> str:
    path = prev
    block = read(s, start, stop)
    with open(path, "r+b") as f:
        for r0, r1 in bands:
            offset, row = _band_offset(s.spec, count, r0)
            f.seek(offset + start * (r1 - r0) * row)
            f.write(np.ascontiguousarray(block[..., r0:r1, :]).data)
    return path


def _all_done(_: Any, path: str) -> str:
    return path


def _band_from_store(path: str, spec: Any, count: int, r0: int, r1: int, q: np.ndarray,
                     dtype: np.dtype, result_at: int) -> None:
    band = np.empty((count, *spec.shape[:-2], r1 - r0, spec.shape[-1]), spec.dtype)
    with open(path, "rb") as f:
        f.seek(_band_offset(spec, count, r0)[0])
        f.readinto(band.data)
    out = percentile_block(band, q, dtype)
    del band
    # the results go to the file, so the band results are not all held until assembled
    with open(os.path.join(os.path.dirname(path), "result.bin"), "r+b") as f:
        f.seek(result_at)
        f.write(np.ascontiguousarray(out).data)


def percentile_block(block: np.ndarray, q: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``numpy.percentile`` over axis 0, partitioning ``block`` in place (it is ours)."""
    out = np.percentile(block, q, axis=0, overwrite_input=True)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(dtype, copy=False)

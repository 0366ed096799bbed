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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline import plan
from pipeline._progress import current_client
from pipeline.series import ImageSeries

if TYPE_CHECKING:
    import dask.array as da

SAFETY = 0.6
"""Share of ``memory_limit`` the plan fills: the rest covers Python, zarr and allocator overhead."""


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
    source, _, chain, _ = plan.of(s)
    frame_in = int(np.prod(source.shape)) * source.dtype.itemsize
    frame_out = int(np.prod(s.shape)) * s.dtype.itemsize
    unit_frames, unit_bytes = 1, frame_in
    arr = source.zarr_array
    if arr is not None and arr.ndim > 2:
        unit_frames = int(arr.chunks[0])  # inner chunks: a shard is read in parts
        unit_bytes = int(np.prod(arr.chunks)) * arr.dtype.itemsize
    elif source.frame_chunk:
        unit_frames = int(source.frame_chunk)
        unit_bytes = unit_frames * frame_in
    if source.in_memory:
        unit_frames, unit_bytes = 1, 0
    # a decoded chunk passes through a compressed buffer, a decoded one and a copy out
    return Budget(int(SAFETY * limit), threads(), len(s), frame_in, frame_out, bool(chain),
                  builtins.max(1, unit_frames), 3 * unit_bytes)


def threads() -> int:
    """Tasks that may run at once where the statistic will compute."""
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
    block = s.read(slice(start, stop), s.spec.full_region if region is None else region)
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
    name = f"stats-{kind}-{tokenize(s, kind, chains, step, b.count)}"
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
    keys = [k for k in flat_keys(partials.__dask_keys__())]
    dsk = {(name, *(0,) * ndim): (_combine_parts, keys, kind, count)}
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[partials])
    dtype = np.dtype(np.float32) if kind == "average" else partials.dtype
    return da.Array(graph, name, tuple((n,) for n in partials.shape[1:]),
                    meta=np.empty((0,) * ndim, dtype))


def flat_keys(keys: Any) -> list[Any]:
    return [k for sub in keys for k in flat_keys(sub)] if isinstance(keys, list) else [keys]


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

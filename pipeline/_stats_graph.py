"""The dask graphs behind :mod:`pipeline.stats`, each sized to hold ``memory_limit``.

Memory goes to four places, and each is budgeted:

- the frames a task reads, including what the reader *decodes* to give them:
  a band of rows read from a chunk of whole frames decodes the whole chunk,
  so reads are sized by the storage chunk, not by the bytes they return;
- the accumulators of running reductions (as each :class:`~pipeline._statistic.Reduction`
  declares them);
- the blocks of all frames x a band of rows that a percentile needs at once;
- the result, and the pieces it is assembled from.

The budget is divided by the number of tasks that can run at once (the
local scheduler's threads, or a distributed worker's).  One more place is
the allocator's: zarr decodes in a pool of threads, and glibc gives each
thread an arena that keeps the buffers it freed, so every pool thread would
hold a chunk's worth of dead buffers; tasks hand freed memory back
(``malloc_trim``) after their reads (a reduction's chain only after its last
step, when the budget holds what its threads keep meanwhile).  Reductions run as
a few sequential *chains* of read-and-fold tasks (one chain per thread), so
no read runs ahead of the fold that consumes it.  Percentiles read every
frame once per band of rows; when that would mean decoding the series many
times over, the frames are first copied once into a scratch store chunked
by bands (``transpose``), and each band then reads only its own bytes.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline._progress import Progress, current_client, persist_with_progress
from pipeline._selection import check_open
from pipeline._statistic import Accumulator, Reduction
from pipeline.errors import EmptySeriesError, FrameShapeError, OptionValueError, SeriesTypeError
from pipeline.series import ArraySeries, ImageSeries, plan_of
from pipeline.series import as_series as protocol_series

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
    source, _, chain, _ = plan_of(s)
    frame_in = int(np.prod(source.shape)) * source.dtype.itemsize
    frame_out = int(np.prod(s.shape)) * s.dtype.itemsize
    unit_frames, unit_bytes = 1, frame_in
    chunks = source.storage_chunks
    if chunks is not None:
        unit_frames = int(chunks[0])  # chunks (inside any shards: a shard is read in parts)
        unit_bytes = int(np.prod(chunks)) * source.dtype.itemsize
    if source.in_memory:
        unit_frames, unit_bytes = 1, 0
    # a decoded chunk passes through a compressed buffer, a decoded one and a copy out
    return Budget(int(SAFETY * limit), threads(), len(s), frame_in, frame_out, bool(chain),
                  builtins.max(1, unit_frames), 3 * unit_bytes)


def threads() -> int:
    """Tasks that may run at once where the statistic will compute."""
    client = current_client()
    if client is not None:
        return builtins.max([1, *client.nthreads().values()])  # none joined yet: 1
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
    check_open(s)
    block = s.read(slice(start, stop), s.spec.full_region if region is None else region)
    trim()
    return block


# -- preparing the frames, running the graphs -----------------------------------------------


def parse_bytes(value: Any) -> int:
    """``1_000_000``, ``"512MB"``, ``"2 MiB"``, ``"1.5GB"`` as a number of bytes."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        nbytes = int(value)
    elif isinstance(value, str):
        from dask.utils import parse_bytes as dask_parse

        try:
            nbytes = int(dask_parse(value))
        except ValueError:
            nbytes = -1
    else:
        nbytes = -1
    if nbytes <= 0:
        raise OptionValueError(
            f"memory_limit {value!r} must be a positive number of bytes or a string such as "
            "'512MB' or '2GiB'"
        )
    return nbytes


def frame_count(total: int, nframes: Any) -> int:
    if isinstance(nframes, bool) or not isinstance(nframes, int | np.integer) or nframes < 0:
        raise OptionValueError(
            f"nframes must be 0 (all frames) or a positive frame count, got {nframes!r}"
        )
    count = total if nframes == 0 else builtins.min(total, int(nframes))
    if count == 0:
        raise EmptySeriesError(
            "a statistic over frames needs at least one frame; the series has none"
        )
    return count


def as_series(series: Any) -> ImageSeries:
    if not isinstance(series, ImageSeries) and hasattr(type(series), "__getitem__"):
        found = protocol_series(series)  # arrays and hexrd's series protocol
        if len(found.shape) < 2:
            raise FrameShapeError(f"statistics take frames of 2 or more dimensions; "
                                  f"{type(series).__name__} {series!r:.60} has frames of "
                                  f"shape {found.shape}")
        return found
    if isinstance(series, ImageSeries):
        check_open(series)
        return series
    if hasattr(series, "shape") and hasattr(series, "dtype"):
        return ArraySeries(series)
    raise SeriesTypeError(
        f"statistics take an image series or a numpy/dask array of frames, "
        f"got {type(series).__name__} ({series!r:.60})"
    )


def prepare(series: Any, nframes: Any, limit: int) -> tuple[ImageSeries, Budget]:
    """The frames to use as a series, and the :class:`Budget` of ``limit`` bytes of work on them."""
    s = as_series(series)
    count = frame_count(len(s), nframes)
    if count < len(s):
        s = s[:count]
    return s, budget(s, limit)


def run(partials: da.Array, finish: Callable[[da.Array], da.Array], lazy: bool,
        progress: Progress | None) -> Any:
    """``finish(partials)`` computed on the active scheduler (its dask array with ``lazy``),
    ``progress`` following the blocks of ``partials``."""
    if lazy:
        return finish(partials)
    if progress is not None:
        partials = persist_with_progress(partials, progress)
    result = finish(partials)
    if all(len(c) == 1 for c in result.chunks):
        # the one block as it is: computing the array would concatenate it, a copy
        (block,) = result.to_delayed().ravel()
        return np.asarray(block.compute())
    return np.asarray(result.compute())


# -- reductions: chains of read-and-fold tasks ---------------------------------------------


def reduce_plan(b: Budget, acc_bytes: int) -> tuple[int, int]:
    """``(chains, frames per step)`` for a reduction whose accumulator holds ``acc_bytes``."""
    least = b.read_cost(b.unit_frames)
    chains = builtins.max(1, builtins.min(b.threads, math.ceil(b.count / b.unit_frames)))
    # the final combination holds every chain's partial and the result
    while chains > 1 and chains * (acc_bytes + least) + acc_bytes > b.limit:
        chains -= 1
    per_chain = builtins.max(1, (b.limit - acc_bytes) // chains - acc_bytes)
    step = b.unit_frames
    while step + b.unit_frames <= b.count and b.read_cost(step + b.unit_frames) <= per_chain:
        step += b.unit_frames
    # at least a few steps per chain, so that progress has something to count
    few = math.ceil(b.count / (4 * chains) / b.unit_frames) * b.unit_frames
    return chains, builtins.max(b.unit_frames, builtins.min(step, few))


PIECE_BYTES = 4 * 2**20
"""Bytes of frames a fold reads at a time (at least one storage chunk)."""


def _read_plan(b: Budget, acc_bytes: int, chains: int, step: int) -> tuple[int, bool]:
    """Frames a fold reads at a time, and whether every step hands freed memory back."""
    units = builtins.max(1, PIECE_BYTES // builtins.max(1, b.unit_frames * b.frame_in))
    piece = builtins.min(step, units * b.unit_frames)
    # after a step its thread keeps what it freed (the last read, the fold's scratch) for
    # its next read: kept by every thread, would that pass the budget?
    kept = b.threads * (b.read_cost(piece) + acc_bytes)
    return piece, chains * acc_bytes + kept > b.limit


def reduce_graph(s: ImageSeries, red: Reduction, b: Budget) -> tuple[da.Array, list[int]]:
    """Each chain's accumulator ``(chains * planes, *shape)``, folding its share of the frames
    in turn; and the frames each chain folds."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    acc = red.accumulator(s.dtype, b.count)
    chains, step = reduce_plan(b, acc.nbytes(s.shape))
    piece, hand_back = _read_plan(b, acc.nbytes(s.shape), chains, step)
    name = f"stats-{red.name}-{tokenize(s, red, acc, chains, step, b.count)}"
    src = f"source-{name}"
    dsk: dict[Any, Any] = {src: s}
    zeros = (0,) * len(s.shape)
    starts = list(range(0, b.count, step))
    shares = [share for share in np.array_split(np.arange(len(starts)), chains) if share.size]
    counts = []
    for c, share in enumerate(shares):
        prev: Any = None
        first = starts[share[0]]
        for i, k in enumerate(share):
            start, stop = starts[k], builtins.min(starts[k] + step, b.count)
            last = i == len(share) - 1
            key = (name, c, *zeros) if last else (f"{name}-step", c, i)
            dsk[key] = (_fold, prev, src, start, stop, red, acc, start - first, piece,
                        hand_back or last)
            prev = key
        counts.append(stop - first)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
    chunks = ((acc.planes,) * len(shares), *((n,) for n in s.shape))
    return da.Array(graph, name, chunks, meta=np.empty((0,) * (len(s.shape) + 1), acc.dtype)), \
        counts


def _fold(acc: np.ndarray | None, s: ImageSeries, start: int, stop: int, red: Reduction,
          spec: Accumulator, seen: int, piece: int, hand_back: bool) -> np.ndarray:
    """``acc`` with frames ``start:stop`` folded in (``seen`` frames being in it already).

    The accumulator may be updated in place: it is the previous step's result,
    which only this step consumes.  With ``hand_back``, what the step freed is
    given back to the system (:func:`trim`): a chain does so after its last
    step, and after every step when the threads' freed buffers would not fit
    the budget; otherwise the next read reuses them, where memory given back
    is memory the kernel zeroes again (a tenth of a sum's time).
    """
    frames = _frames(s, start, stop, piece)
    if acc is None:
        acc, seen = red.start(next(frames), spec), seen + 1
    acc = red.fold(acc, frames, seen)
    if hand_back:
        trim()
    return acc


def _frames(s: ImageSeries, start: int, stop: int, piece: int) -> Iterator[np.ndarray]:
    """Frames ``start:stop`` of ``s``, read ``piece`` at a time.

    Pieces of a few megabytes are served again and again from the memory the
    last one freed, where a block of the whole step would be fresh memory that
    the kernel zeroes for every step.
    """
    region = s.spec.full_region
    check_open(s)
    for a in range(start, stop, piece):
        yield from s.read(slice(a, builtins.min(a + piece, stop)), region)


def combine(partials: da.Array, red: Reduction, counts: list[int], frame_dtype: np.dtype, *,
            finish: bool = True) -> da.Array:
    """The statistic from the chains' accumulators, in one task merging them in place.

    Without ``finish``, the merged accumulator ``(planes, *shape)`` instead.
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    planes = partials.chunks[0][0]
    name = f"stats-{red.name}-combined-{tokenize(partials.name, counts, finish)}"
    shape = partials.shape[1:] if finish else (planes, *partials.shape[1:])
    keys = flat_keys(partials.__dask_keys__())
    dsk: dict[Any, Any] = {(name, *(0,) * len(shape)): (_combine_parts, keys, red, counts, finish)}
    after: list[Any] = [partials]  # dask's stubs do not see an Array as a collection
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=after)
    dtype = red.result(np.dtype(frame_dtype)) if finish else partials.dtype
    return da.Array(graph, name, tuple((n,) for n in shape),
                    meta=np.empty((0,) * len(shape), dtype))


def flat_keys(keys: Any) -> list[Any]:
    return [k for sub in keys for k in flat_keys(sub)] if isinstance(keys, list) else [keys]


def _combine_parts(parts: list[np.ndarray], red: Reduction, counts: list[int],
                   finish: bool) -> np.ndarray:
    # the partials are this task's alone: merge them into the first, no new image
    acc, seen = parts[0], counts[0]
    for part, n in zip(parts[1:], counts[1:], strict=True):
        acc = red.merge(acc, part, seen, n)
        seen += n
    return red.finish(acc, seen) if finish else acc

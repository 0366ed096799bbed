"""Band statistics (percentiles) over all frames x a band of rows, within ``memory_limit``.

The memory plan is :mod:`pipeline._stats_graph`'s; what a band gives is the
:class:`~pipeline._statistic.BandStatistic`'s ``band``.

Read from the source, each band reads every frame again (restricted to the
band where the source allows).  When that would mean decoding the series
many times over, the frames are first copied once into a scratch file laid
out band after band, each band then reads only its own bytes, and the band
results go to the file too, so the result is assembled without holding
every band's result at once.
"""

from __future__ import annotations

import builtins
import itertools
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline._progress import current_client
from pipeline._statistic import BandStatistic
from pipeline._stats_graph import Budget, flat_keys, read
from pipeline.disk import claim_scratch, remove_scratch, scratch_name
from pipeline.dtypes import convert
from pipeline.series import ImageSeries

if TYPE_CHECKING:
    import dask.array as da

TRANSPOSE_FROM_BANDS = 3
"""Bands from which the frames are copied into a band-ordered scratch file first."""


@dataclass(frozen=True)
class BandPlan:
    rows: int  # rows per band
    tasks: int  # bands computed at once
    read_frames: int  # frames per read of a band (direct) or per copy task (transpose)
    transpose: bool
    copy_chains: int = 1  # copy tasks running at once (each chain copies in turn)


def band_plan(s: ImageSeries, b: Budget, nq: int, out_dtype: np.dtype) -> BandPlan:
    """How to cut ``s`` into bands of rows so that each band's task fits its share."""
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


def band_graph(s: ImageSeries, stat: BandStatistic, param: Any, out_dtype: np.dtype,
               b: Budget) -> tuple[da.Array, str | None]:
    """``stat`` in bands of rows, one task per band holding all frames; and its scratch.

    With a transpose, the scratch store's directory is named now and made by
    the graph's first task; :func:`assemble` removes it.
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    lead = tuple(stat.lead(param))
    nq = int(np.prod(lead))
    p = band_plan(s, b, nq, out_dtype)
    height = s.shape[-2]
    name = f"stats-{stat.name}-{tokenize(s, stat, param, out_dtype, p, b.count)}"
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
                key: tuple[Any, ...] = (f"{name}-copy", c, int(i))
                start = starts[i]
                stop = builtins.min(start + p.read_frames, b.count)
                dsk[key] = (_copy_frames, prev, src, start, stop, b.count, bands)
                prev = key
            ends.append(prev)
        dsk[f"{name}-copied"] = (_all_done, ends, made)
    rest = (0,) * (len(lead) + len(s.shape) - 2)
    for i, (r0, r1) in enumerate(bands):
        key = (name, *rest, i, 0)
        if home is not None:
            dsk[key] = (_band_from_store, f"{name}-copied", s.spec, b.count, r0, r1, stat,
                        param, out_dtype, _result_offset(s, nq, out_dtype, r0))
        else:
            dsk[key] = (_band_direct, src, b.count, r0, r1, p.read_frames, stat, param,
                        out_dtype)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
    chunks = (*((n,) for n in lead), *((n,) for n in s.shape[:-2]),
              tuple(r1 - r0 for r0, r1 in bands), (s.shape[-1],))
    meta = np.empty((0,) * (len(lead) + len(s.shape)), out_dtype)
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
    dsk: dict[Any, Any] = {key: (_assemble, flat_keys(bands.__dask_keys__()), home,
                                 bands.shape, bands.dtype, rows)}
    after: list[Any] = [bands]  # dask's stubs do not see an Array as a collection
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=after)
    return da.Array(graph, name, tuple((n,) for n in bands.shape), meta=bands._meta)


def _result_offset(s: ImageSeries, nq: int, dtype: np.dtype, r0: int) -> int:
    """Where the result of band ``r0:`` starts in the results file: bands one after another."""
    return nq * int(np.prod(s.shape)) // s.shape[-2] * r0 * dtype.itemsize


def _assemble(_: list[None], home: str, shape: tuple[int, ...], dtype: np.dtype,
              rows: list[int]) -> np.ndarray:
    out = np.empty(shape, dtype)
    try:
        with open(os.path.join(home, "result.bin"), "rb") as f:
            for r0, r1 in itertools.pairwise(rows):
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
                 stat: BandStatistic, param: Any, dtype: np.dtype) -> np.ndarray:
    region = _band_region(s, r0, r1)
    band = np.empty((count, *s.shape[:-2], r1 - r0, s.shape[-1]), s.dtype)
    for start in range(0, count, read_frames):
        stop = builtins.min(start + read_frames, count)
        band[start:stop] = read(s, start, stop, region)
    return stat.band(band, param, dtype)


# The scratch copy is one plain file holding band after band, each band all frames x its
# rows, contiguous: a copy task writes its frames' slice of every band, a band task reads
# its bytes back in one go.  No chunk store: tens of thousands of small chunks would cost
# more in per-chunk overhead than the reads they save.


def _make_store(home: str, nbytes: int) -> str:
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


def _band_from_store(path: str, spec: Any, count: int, r0: int, r1: int, stat: BandStatistic,
                     param: Any, dtype: np.dtype, result_at: int) -> None:
    band = np.empty((count, *spec.shape[:-2], r1 - r0, spec.shape[-1]), spec.dtype)
    with open(path, "rb") as f:
        f.seek(_band_offset(spec, count, r0)[0])
        f.readinto(band.data)
    out = stat.band(band, param, dtype)
    del band
    # the results go to the file, so the band results are not all held until assembled
    with open(os.path.join(os.path.dirname(path), "result.bin"), "r+b") as f:
        f.seek(result_at)
        f.write(np.ascontiguousarray(out).data)


PARTITION_BYTES = 8 * 2**20
"""Bytes of the pixels-first copy :func:`percentile_block` partitions at a time."""


def percentile_block(block: np.ndarray, q: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``numpy.percentile`` over axis 0 of ``block`` (frames first), the same values.

    Partitioning along axis 0 steps a whole frame between the values of one
    pixel.  A few megabytes of pixels at a time are copied pixels first (each
    pixel's values contiguous) and partitioned there in place: about 1.5x
    faster for a memory cost of :data:`PARTITION_BYTES`.
    """
    n = block.shape[0]
    flat = block.reshape(n, -1)
    step = builtins.max(1, PARTITION_BYTES // builtins.max(1, n * block.itemsize))
    if n == 0 or flat.shape[1] <= step:
        out = np.percentile(block, q, axis=0, overwrite_input=True)
        return convert(out, dtype, "clip", what="percentiles")
    out = None
    for i in range(0, flat.shape[1], step):
        pixels = np.ascontiguousarray(flat[:, i:i + step].T)
        part = np.percentile(pixels, q, axis=-1, overwrite_input=True)
        if out is None:  # numpy's result dtype (float64 for integers, kept for floats)
            out = np.empty((*q.shape, flat.shape[1]), part.dtype)
        out[..., i:i + step] = part
    return convert(out.reshape(*q.shape, *block.shape[1:]), dtype, "clip", what="percentiles")

"""Turning a series into a dask graph: chunking aligned with storage, one fused task per chunk.

Each task is :func:`pipeline.plan.run_block`, the function ``ps[j]`` calls for
one frame with no scheduler, so the two paths agree bit for bit by
construction.  :meth:`pipeline.series.ImageSeries.to_dask` calls :func:`to_dask`
with the series taken apart (its :class:`~pipeline.plan.Plan` and the region
and ops that give whole frames).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ops import FrameSpec, Op, Region
from pipeline import _carried
from pipeline._selection import SeriesLike, as_selection
from pipeline.plan import Plan, apply_checked, run_block

if TYPE_CHECKING:
    import dask.array as da

TARGET_CHUNK_BYTES = 8 * 2**20
"""Default bytes per dask chunk when storage does not dictate one."""


def frames_per_chunk(series: SeriesLike, source: SeriesLike,
                     target_bytes: int = TARGET_CHUNK_BYTES) -> int:
    """Frames per dask chunk of ``series`` (reading ``source``): whole storage chunks, about
    ``target_bytes`` each.

    A task holds both the frames it reads and those it makes, so the larger of
    the source's and the series' frame sizes counts (a crop reads more than
    it makes).
    """
    frame_bytes = max(1, *(int(np.prod(s.shape)) * s.dtype.itemsize for s in (series, source)))
    per_target = max(1, target_bytes // frame_bytes)
    stored = series.frame_chunk
    if stored is None:
        return per_target
    return stored * max(1, round(per_target / stored))


def chunk_bounds(n: int, size: int) -> list[tuple[int, int]]:
    # a series of no frames is still one (empty) chunk: dask expects a block per axis
    return [(start, min(start + size, n)) for start in range(0, n, size)] or [(0, 0)]


def to_dask(series: SeriesLike, work: Plan, region: Region, ops: tuple[Op, ...],
            size: int | None = None) -> da.Array:
    """A dask array over ``series``, one task per chunk of ``size`` frames running the fused
    chain: ``work`` is what the series does, ``region`` and ``ops`` what gives whole frames
    of it from its source (a crop pushed down)."""
    source, frame_list, chain, spec = work
    size = size or frames_per_chunk(series, source)
    native = source._as_dask()
    if native is not None:
        return _map_native(native, frame_list, chain, spec, size)
    return _fused_graph(series, work, region, ops, size)


def _fused_graph(series: SeriesLike, work: Plan, region: Region, plan_ops: tuple[Op, ...],
                 size: int) -> da.Array:
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    source, frame_list, chain, spec = work
    n = len(series)
    token = tokenize(source, frame_list, chain, size)
    name = f"{type(series).__name__.lower()}-{token}"
    src_key, ops_key = f"source-{name}", f"ops-{name}"
    dsk: dict[Any, Any] = {src_key: _carried.carry(source), ops_key: plan_ops}
    zeros = (0,) * len(spec.shape)
    for i, (start, stop) in enumerate(chunk_bounds(n, size)):
        frames = slice(start, stop) if frame_list is None else as_selection(frame_list[start:stop])
        dsk[(name, i, *zeros)] = (run_block, src_key, frames, region, ops_key, spec.dtype)
    chunks = (tuple(b - a for a, b in chunk_bounds(n, size)) or (0,),
              *((d,) for d in spec.shape))
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
    meta = np.empty((0,) * (len(spec.shape) + 1), spec.dtype)
    return da.Array(graph, name, chunks, meta=meta)


def _map_native(native: da.Array, frame_list: np.ndarray | None, chain: tuple[Op, ...],
                spec: FrameSpec, size: int) -> da.Array:
    """A source that is a dask array already: select, then map the fused chain over its blocks."""
    arr = native if frame_list is None else native[frame_list]
    arr = arr.rechunk({0: size, **{d: -1 for d in range(1, arr.ndim)}})
    if not chain:
        return arr
    return arr.map_blocks(
        apply_checked, chain, spec.dtype,
        dtype=spec.dtype, chunks=((*arr.chunks[0],), *((d,) for d in spec.shape)),
        meta=np.empty((0,) * (len(spec.shape) + 1), spec.dtype),
    )


__all__ = ["TARGET_CHUNK_BYTES", "chunk_bounds", "frames_per_chunk", "to_dask"]

"""Turning a series into work: op chains, crop push-down, fused blocks, dask graphs.

Both evaluation paths go through :func:`run_block`: ``ps[j]`` calls it for one
frame with no scheduler, ``to_dask()`` makes it the one task of each chunk.  So
the two agree bit for bit by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ops import FrameSpec, Op, OpKind, Region, Registry
from ops.registry import check_result
from pipeline import _carried
from pipeline.series import FrameSelection, as_selection, region_index

if TYPE_CHECKING:
    import dask.array as da

    from pipeline.series import ImageSeries

TARGET_CHUNK_BYTES = 8 * 2**20
"""Default bytes per dask chunk when storage does not dictate one."""


def build_chain(
    oplist: Sequence[Any], spec: FrameSpec, registry: Registry
) -> tuple[tuple[Op, ...], tuple[FrameSpec, ...]]:
    """Parse and validate ``oplist`` against the frame spec it will see.

    Returns the op values and the specs between them: ``specs[i]`` enters op
    ``i`` and ``specs[-1]`` leaves the chain.  Every error is raised here, at
    construction, never in a worker.
    """
    chain: list[Op] = []
    specs = [spec]
    for position, item in enumerate(oplist):
        op = _as_op(item, registry, position)
        op = op.validate(spec)
        spec = op.resolve(spec)
        chain.append(op)
        specs.append(spec)
    return tuple(chain), tuple(specs)


def _as_op(item: Any, registry: Registry, position: int) -> Op:
    if isinstance(item, Op):
        return item
    if isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
        name, param = item
        kind = name if isinstance(name, OpKind) else registry.lookup(name)
        return Op(kind, param)
    raise TypeError(
        f"oplist entry {position} is {item!r:.80}; expected a (name, param) pair or an Op"
    )


def _cut(block: np.ndarray, region: Region) -> np.ndarray:
    return block[(slice(None), *region_index(region))]


CUT = OpKind("cut", _cut)
"""Restricts frames to a region; appears only in execution plans, never in a recorded chain."""


def push_down(
    chain: Sequence[Op], specs: Sequence[FrameSpec], region: Region | None = None
) -> tuple[Region, tuple[Op, ...]]:
    """Carry ``region`` of the chain's output (and any rectangle in it) back to the source.

    Walks the chain from its end, asking each op how an output region maps to
    its input.  Returns the region of the source to read and the ops to run on
    it; where an op cannot say (a neighbourhood filter), the ops up to it run
    on full frames and the region is cut after it.
    """
    region = specs[-1].full_region if region is None else region
    tail: list[Op] = []
    for i in range(len(chain) - 1, -1, -1):
        pushed = chain[i].crop(specs[i], region)
        if pushed is None:
            head = list(chain[: i + 1])
            if region != specs[i + 1].full_region:
                head.append(Op(CUT, region))
            return specs[0].full_region, (*head, *tail)
        region, op = pushed
        if op is not None:
            tail.insert(0, op)
    return region, tuple(tail)


def run_block(
    source: ImageSeries, frames: FrameSelection, region: Region, chain: Sequence[Op],
    dtype: np.dtype | None = None,
) -> np.ndarray:
    """Read ``frames`` of ``source`` within ``region`` and run ``chain`` on them: one fused task."""
    block = raw = _carried.unwrap(source).read(frames, region)
    block = _apply(chain, block)
    if dtype is not None and block.dtype != dtype:
        _blame(raw, chain, block, dtype)
    return block


def _apply(chain: Sequence[Op], block: np.ndarray) -> np.ndarray:
    for position, op in enumerate(chain):
        try:
            block = op.apply(block)
        except Exception as err:
            # the type stays the caller's to catch; the note (kept through pickling to a
            # dask client) says which op of the chain raised
            names = [o.name for o in chain]
            note = f"raised by op {op.name!r} (position {position} of the chain {names})"
            if note not in getattr(err, "__notes__", ()):
                err.add_note(note)
            raise
    return block


def _blame(raw: np.ndarray, chain: Sequence[Op], out: np.ndarray, dtype: np.dtype) -> None:
    """Raise naming the op that broke its declared dtype (the last op may be innocent)."""
    # the error path only: re-run the chain checking each op against its own resolve
    block, spec = raw, FrameSpec(raw.shape[1:], raw.dtype)
    for op in chain:
        block, spec = op.apply(block), op.resolve(spec)
        if block.dtype != spec.dtype:
            check_result(op, block, spec, len(raw))
    check_result(chain[-1], out, FrameSpec(out.shape[1:], dtype), len(out))


def frames_per_chunk(series: ImageSeries, target_bytes: int = TARGET_CHUNK_BYTES) -> int:
    """Frames per dask chunk: whole storage chunks, about ``target_bytes`` each.

    A task holds both the frames it reads and those it makes, so the larger of
    the source's and the series' frame sizes counts (a crop reads more than
    it makes).
    """
    from pipeline.processed import plan

    source = plan(series)[0]
    frame_bytes = max(1, *(int(np.prod(s.shape)) * s.dtype.itemsize for s in (series, source)))
    per_target = max(1, target_bytes // frame_bytes)
    stored = series.frame_chunk
    if stored is None:
        return per_target
    return stored * max(1, round(per_target / stored))


def chunk_bounds(n: int, size: int) -> list[tuple[int, int]]:
    # a series of no frames is still one (empty) chunk: dask expects a block per axis
    return [(start, min(start + size, n)) for start in range(0, n, size)] or [(0, 0)]


def to_dask(series: ImageSeries, frames_per_chunk: int | None = None) -> da.Array:
    """A dask array over ``series`` with one task per chunk running the whole fused chain."""
    from pipeline.processed import plan

    source, frame_list, chain, spec = plan(series)
    size = frames_per_chunk or globals()["frames_per_chunk"](series)
    native = getattr(source, "_as_dask", lambda: None)()
    if native is not None:
        return _map_native(native, frame_list, chain, spec, size)
    return _fused_graph(series, source, frame_list, chain, spec, size)


def _fused_graph(
    series: ImageSeries, source: ImageSeries, frame_list: np.ndarray | None,
    chain: tuple[Op, ...], spec: FrameSpec, size: int,
) -> da.Array:
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    region, plan_ops = chain_plan(series)
    n = len(series)
    token = tokenize(source._dask_token(), frame_list, chain, size)
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


def _map_native(
    native: da.Array, frame_list: np.ndarray | None, chain: tuple[Op, ...], spec: FrameSpec,
    size: int,
) -> da.Array:
    """A source that is a dask array already: select, then map the fused chain over its blocks."""
    arr = native if frame_list is None else native[frame_list]
    arr = arr.rechunk({0: size, **{d: -1 for d in range(1, arr.ndim)}})
    if not chain:
        return arr
    return arr.map_blocks(
        _apply_chain, chain, spec.dtype,
        dtype=spec.dtype, chunks=((*arr.chunks[0],), *((d,) for d in spec.shape)),
        meta=np.empty((0,) * (len(spec.shape) + 1), spec.dtype),
    )


def _apply_chain(block: np.ndarray, chain: Sequence[Op], dtype: np.dtype) -> np.ndarray:
    raw, block = block, _apply(chain, block)
    if block.dtype != dtype:
        _blame(raw, chain, block, dtype)
    return block


def chain_plan(series: ImageSeries) -> tuple[Region, tuple[Op, ...]]:
    """Source region and ops for computing whole output frames of ``series``."""
    plan_for = getattr(series, "_plan_region", None)
    if plan_for is None:
        return series.spec.full_region, ()
    return plan_for(None)

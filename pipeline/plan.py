"""An op chain as work: parsing and validating it, pushing a crop down it, running it on a block.

Both evaluation paths run a chain through :func:`run_block`: ``ps[j]`` for one
frame with no scheduler, :mod:`pipeline.graph` as the one task of each chunk
of a dask graph, so the two agree bit for bit by construction.  A
:class:`Plan` is any series taken apart into the source it reads, the frames
it selects, the chain it runs and the spec it gives
(:func:`pipeline.series.plan_of`), so that the graph, statistics and writes
never need to know the processed series' class.  :func:`metadata_through`
carries metadata through a chain and a selection of frames.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ops import FrameSpec, Op, OpKind, OpParameterError, Region, Registry
from ops.registry import check_result
from pipeline import _carried, microscopy
from pipeline._selection import FrameSelection, SeriesLike, check_open, region_index


class Plan(NamedTuple):
    """What a series does: read ``frames`` of ``source`` and run ``chain``, giving ``spec``."""

    source: SeriesLike
    frames: np.ndarray | None
    chain: tuple[Op, ...]
    spec: FrameSpec


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
        spec = _named_like(op.resolve(spec), spec)
        chain.append(op)
        specs.append(spec)
    return tuple(chain), tuple(specs)


def _named_like(out: FrameSpec, spec: FrameSpec) -> FrameSpec:
    """``out`` with the axis and channel names of ``spec`` where an op that keeps the frame's
    dimensions gives none (axes keep their names by position, as a transpose's do)."""
    if out.axes is not None or spec.axes is None or len(out.shape) != len(spec.shape):
        return out
    channels = out.channels if out.channels is not None else spec.channels
    return dataclasses.replace(out, axes=spec.axes, channels=channels)


def _as_op(item: Any, registry: Registry, position: int) -> Op:
    if isinstance(item, Op):
        return item
    if isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
        name, param = item
        kind = name if isinstance(name, OpKind) else registry.lookup(name)
        return Op(kind, param)
    raise OpParameterError(
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
    source: SeriesLike, frames: FrameSelection, region: Region, chain: Sequence[Op],
    dtype: np.dtype | None = None,
) -> np.ndarray:
    """Read ``frames`` of ``source`` within ``region`` and run ``chain`` on them: one fused task."""
    series = _carried.unwrap(source)
    check_open(series)
    block = raw = series.read(frames, region)
    block = apply(chain, block)
    if dtype is not None and block.dtype != dtype:
        _blame(raw, chain, block, dtype)
    return block


def apply(chain: Sequence[Op], block: np.ndarray) -> np.ndarray:
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


def apply_checked(block: np.ndarray, chain: Sequence[Op], dtype: np.dtype) -> np.ndarray:
    raw, block = block, apply(chain, block)
    if block.dtype != dtype:
        _blame(raw, chain, block, dtype)
    return block


def metadata_through(meta: dict[str, Any], chain: Sequence[Op], specs: Sequence[FrameSpec],
                     axes: str, frames: np.ndarray | None) -> dict[str, Any]:
    """``meta`` (changed in place at its top level) for ``chain`` and a selection of frames.

    Per-axis metadata (pixel sizes) follows the ops' axes; ``omega`` and the
    time step follow the frames.
    """
    meta = microscopy.through_chain(meta, chain, specs, axes)
    if frames is not None and "omega" in meta:
        meta["omega"] = np.asarray(meta["omega"])[frames]
    if frames is not None:
        meta = microscopy.select_frames(meta, frames)
    return meta


def slice_text(key: slice) -> str:
    """``a:b:c`` for ``slice(a, b, c)`` (as a message shows a selection)."""
    text = ":".join("" if v is None else repr(v) for v in (key.start, key.stop, key.step))
    return text.removesuffix(":")

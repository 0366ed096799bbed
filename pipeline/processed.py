"""ProcessedImageSeries: a series plus a chain of ops, evaluated lazily.

hexrd's class of the same name, with its vocabulary (``oplist``,
``frame_list``, ``addop``), but with the chain validated and its output shape
and dtype known at construction, never by computing a frame.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import ops as _ops
from ops import FrameSpec, Op, Region
from pipeline import _generic, _metacopy, microscopy, plan
from pipeline.errors import FrameSelectionError, OpParameterError
from pipeline.formats.protocol import as_series
from pipeline.series import FrameSelection, ImageSeries, as_selection

PLAN_CACHE_SIZE = 64
"""Regions whose push-down plan a processed series keeps (``ps[j]`` uses one)."""


class ProcessedImageSeries(ImageSeries):
    """A series with operations applied to each frame.

    Parameters
    ----------
    series
        The series to process.  A processed series over a processed series
        is one flattened chain over the innermost source.
    oplist
        ``(name, param)`` pairs (or :class:`ops.Op` values) applied in order.
        The list is copied and validated here: a bad name or parameter raises
        now, naming the bad value.
    frame_list
        Frames of ``series`` to keep (any integer sequence or array); the
        ``omega`` metadata is selected with them.

    Notes
    -----
    ``ps[j]`` reads frame ``j`` and applies the chain in numpy, with no
    scheduler; ``ps.to_dask()`` runs the same function once per chunk of
    frames.  The two agree bit for bit.
    """

    FLIP = "flip"
    DARK = "dark"
    RECT = "rectangle"
    ADD = "add"
    GAUSS_LAPLACE = "gauss_laplace"

    def __init__(
        self, series: ImageSeries, oplist: Sequence[Any], frame_list: Any = None, **kwargs: Any
    ) -> None:
        if kwargs:
            raise TypeError(f"unexpected keyword arguments {sorted(kwargs)}")
        if isinstance(oplist, str | bytes) or not isinstance(oplist, Sequence | np.ndarray):
            raise OpParameterError(
                f"oplist must be a list of (name, param) pairs, got {oplist!r:.80}")
        series = as_series(series)  # hexrd's protocol: len, [i], shape, dtype, metadata
        if isinstance(frame_list, slice):  # hexrd's frame_list is a list of frame numbers
            raise FrameSelectionError(
                f"frame_list is a sequence of frame indices, got the slice {frame_list!r}; "
                f"use series[{_slice_text(frame_list)}].process(...) or list(range(...))"
            )
        frames = None if frame_list is None else series.frame_indices(frame_list)
        if isinstance(series, ProcessedImageSeries):
            # flatten: our ops follow the inner ones, our frames index the inner selection
            registry, source = series._registry, series._source
            inner_frames, inner_chain, inner_specs = series._frames, series._chain, series._specs
        else:
            registry, source = _ops.registry.child(), series
            inner_frames, inner_chain, inner_specs = None, (), (series.spec,)
        chain, specs = plan.build_chain(oplist, inner_specs[-1], registry)
        self._registry: _ops.Registry = registry
        self._source: ImageSeries = source
        self._frames: np.ndarray | None = inner_frames if frames is None else (
            frames if inner_frames is None else inner_frames[frames]
        )
        self._chain: tuple[Op, ...] = inner_chain + chain
        self._specs: tuple[FrameSpec, ...] = inner_specs + specs[1:]
        self._own_oplist = list(oplist)
        # metadata is copied when first asked for, not here: slicing stays cheap
        self._meta: dict[str, Any] | None = None
        self._overlay = _metacopy.Overlay()
        if isinstance(series, ProcessedImageSeries) and series._changes():
            # the caller changed the inner series' metadata: carry it through our ops now
            self._meta = _through(copy.deepcopy(series.metadata), chain, specs,
                                  series.axes[1:], frames)

    # -- the interface ---------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._source) if self._frames is None else len(self._frames)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._specs[-1].shape

    @property
    def dtype(self) -> np.dtype:
        return self._specs[-1].dtype

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the source's metadata (``omega`` selected by ``frame_list``) the caller may change."""
        if self._meta is None:
            self._meta = _metacopy.derive(self._base_metadata(), self._overlay)
        return self._meta

    def _base_metadata(self) -> dict[str, Any]:
        """The source's metadata as this series reports it before any change (not copied)."""
        return _through(dict(self._source.metadata), self._chain, self._specs,
                        self._source.axes[1:], self._frames)

    def _changes(self) -> _metacopy.Overlay:
        """What the caller changed in :attr:`metadata`, relative to :meth:`_base_metadata`."""
        if self._meta is None:
            return self._overlay
        return _metacopy.diff(self._meta, self._base_metadata())

    @property
    def frame_chunk(self) -> int | None:
        return self._source.frame_chunk if self._frames is None else None

    @property
    def oplist(self) -> list[tuple[str, Any]]:
        """The whole flattened chain as ``(name, param)`` pairs."""
        return [(op.name, op.param) for op in self._chain]

    @property
    def chain(self) -> tuple[Op, ...]:
        return self._chain

    @property
    def source(self) -> ImageSeries:
        """The innermost, unprocessed series."""
        return self._source

    @property
    def _axes(self) -> str:
        # the source's names while the chain keeps the frame's dimensions (see ImageSeries.axes)
        return self._source.axes

    @property
    def frame_list(self) -> np.ndarray | None:
        return None if self._frames is None else self._frames.copy()

    def addop(self, name: str, func: Callable[[np.ndarray, Any], np.ndarray]) -> None:
        """Make ``func(frame, param)`` known as op ``name`` to this series and those built on it.

        Use it in a chain with ``ps.process([(name, param)])``.
        """
        self._registry.register(name, func, per_frame=True, replace=True)

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        source_region, chain = self._plan_region(region)
        if self._frames is not None:
            frames = as_selection(self._frames[frames])
        return plan.run_block(self._source, frames, source_region, chain, self.dtype)

    def _plan_region(self, region: Region | None) -> tuple[Region, tuple[Op, ...]]:
        # cached per region: the chain is immutable, and ps[j] must not redo this work
        key = None if region == self._specs[-1].full_region else region
        plans = self.__dict__.setdefault("_plans", {})
        if key not in plans:
            if len(plans) >= PLAN_CACHE_SIZE:  # bounded: many regions, each asked for once
                del plans[next(iter(plans))]
            plans[key] = plan.push_down(self._chain, self._specs, key)
        return plans[key]

    def _in_memory(self) -> bool:
        return self._source.in_memory

    def source_paths(self) -> list[str]:
        return self._source.source_paths()

    def _dask_token(self) -> str:
        from dask.base import tokenize

        return tokenize(self._source._dask_token(), self._frames, self._chain)

    def description(self) -> dict[str, Any]:
        desc: dict[str, Any] = {"source": self._source.description()}
        if self._frames is not None:
            desc["frame_list"] = self._frames.tolist()
        desc["ops"] = [op.to_config() for op in self._chain]
        return desc

    def __reduce__(self) -> tuple[Any, ...]:
        # a recipe: the source, the chain and what the caller changed in the metadata,
        # never the source's metadata itself (re-read lazily where it is unpickled)
        return (_rebuild, (self._source, self._chain, self._frames, self._registry.snapshot(),
                           self._changes(), self._specs))

    def __repr__(self) -> str:
        ops_text = ", ".join(repr(op) for op in self._chain) or "no ops"
        return (
            f"<ProcessedImageSeries: {len(self)} frames of {self.shape} {self.dtype}; "
            f"{ops_text}; over {self._source!r}>"
        )


def _rebuild(source: ImageSeries, chain: tuple[Op, ...], frames: np.ndarray | None,
             kinds: dict[str, _ops.OpKind], overlay: _metacopy.Overlay,
             specs: tuple[FrameSpec, ...]) -> ProcessedImageSeries:
    # the chain was validated when built: unpickling must not open the source
    # (a file-backed one reopens lazily, on the worker that reads a frame)
    ps = ProcessedImageSeries.__new__(ProcessedImageSeries)
    ps._registry = _ops.registry.child()
    ps._registry.restore(kinds)
    ps._source, ps._frames, ps._chain, ps._specs = source, frames, chain, specs
    ps._own_oplist = list(chain)
    ps._meta, ps._overlay = None, overlay
    return ps


def _through(meta: dict[str, Any], chain: Sequence[Op], specs: Sequence[FrameSpec], axes: str,
             frames: np.ndarray | None) -> dict[str, Any]:
    """``meta`` (changed in place at its top level) for ``chain`` and a selection of frames."""
    # per-axis metadata (pixel sizes) follows the ops' axes; omega and the time step the frames
    meta = microscopy.through_chain(meta, chain, specs, axes)
    if frames is not None and "omega" in meta:
        meta["omega"] = np.asarray(meta["omega"])[frames]
    if frames is not None:
        meta = microscopy.select_frames(meta, frames)
    return meta


@plan.of.register(ProcessedImageSeries)
def _plan(series: ProcessedImageSeries) -> plan.Plan:
    return plan.Plan(series._source, series._frames, series._chain, series._specs[-1])


def _process(series: ImageSeries, oplist: Sequence[Any], frame_list: Any = None
             ) -> ProcessedImageSeries:
    return ProcessedImageSeries(series, oplist, frame_list=frame_list)


def _select(series: ImageSeries, frames: np.ndarray) -> ProcessedImageSeries:
    return ProcessedImageSeries(series, (), frame_list=frames)


_generic.process.register(ImageSeries, _process)
_generic.select.register(ImageSeries, _select)


def _slice_text(key: slice) -> str:
    text = ":".join("" if v is None else repr(v) for v in (key.start, key.stop, key.step))
    return text.removesuffix(":")

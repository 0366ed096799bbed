"""The series: the interface every series offers, and the four every other builds on.

A series is a sequence of frames of one shape and dtype, read lazily.
:class:`ImageSeries` states what an implementation owes (``__len__``,
``shape``, ``dtype``, ``read``) and what a caller may use, and builds the
caller's side (indexing, sub-series, iteration, dask arrays, processing,
regions, xarray, the notebook view) by calling the modules that do the work,
below this one (:mod:`pipeline.graph`, :mod:`pipeline.plan`,
:mod:`pipeline.regions`, :mod:`pipeline.interop`, :mod:`pipeline.display`).

The series it hands out live here too, because the interface makes them:
:class:`ProcessedImageSeries` (``s.process(...)``, ``s[a:b]``),
:class:`ArraySeries` (``s.load()``, ``from_array``) and
:class:`ProtocolSeries` (anything offering hexrd's series protocol, through
:func:`as_series`).  Formats, which read files, subclass :class:`ImageSeries`
in :mod:`pipeline.formats`.
"""

from __future__ import annotations

import abc
import copy
import operator
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

import numpy as np

import ops as _ops
from ops import FrameSpec, Op, Region
from pipeline import _metacopy, display, graph, interop, microscopy, plan, regions
from pipeline._selection import (
    FrameSelection,
    as_selection,
    check_open,
    checked_region,
    declared_dtype,
    declared_shape,
    frame_list,
    frame_numbers,
    index_text,
    is_array,
    is_int,
    region_index,
    slice_indices,
)
from pipeline.axes import AXIS_LETTERS, as_frames, default_axes
from pipeline.dtypes import convert
from pipeline.errors import (
    EmptySeriesError,
    FrameIndexError,
    FrameSelectionError,
    FrameShapeError,
    OpParameterError,
    OptionValueError,
    SeriesTypeError,
)

if TYPE_CHECKING:  # annotations only
    import dask.array as da


class ImageSeries(abc.ABC):
    """A lazy sequence of frames.

    Implementers owe
    ----------------
    ``__len__``
        The number of frames, known without reading one.
    ``shape``, ``dtype``
        Shape and dtype of one frame, known without reading one.
    ``read(frames, region)``
        An array ``(n, *region_shape)`` of the selected frames restricted to
        ``region`` (one ``(start, stop)`` pair per frame axis, already checked
        against :attr:`shape`).  ``frames`` is a :data:`FrameSelection`: a
        step-1 slice with in-range, non-negative bounds, or a 1-d int64 array
        of in-range indices.  Read only what is needed where the format allows.

    Implementers may also override
    ------------------------------
    Every optional member is declared below with its default, so that no
    caller needs to probe a series with ``getattr``: :attr:`metadata`
    (``{}``), :attr:`frame_chunk` and :attr:`storage_chunks` (no storage
    chunking), :meth:`description` (the class name), :meth:`source_paths`
    (none), and three hooks: :meth:`_dask_token` (a token per object),
    :meth:`_as_dask` (no dask array of its own), :meth:`_in_memory` (False),
    and the attribute :attr:`_axes` (the default axis names).  Callers use
    the public members built on the hooks (``tokenize(series)``,
    :meth:`to_dask`, :attr:`in_memory`, :attr:`axes`).  Members a format
    alone has (a Zarr store's array and provenance, a file's path) are on
    that format's class.

    A series must pickle as a recipe: a file-backed one pickles its path and
    options, never an open handle or its pixels.
    """

    # -- what an implementation owes -------------------------------------------------

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, ...]:
        """Shape of one frame."""

    @property
    @abc.abstractmethod
    def dtype(self) -> np.dtype:
        """Dtype of the frames."""

    @abc.abstractmethod
    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        """The frames ``frames`` within ``region``, as an array ``(n, *region_shape)``."""

    # -- what it may provide ---------------------------------------------------------

    _axes: str | None = None
    """Names of the axes of ``(N, *shape)`` (see :attr:`axes`); ``None``: the default ones."""

    @property
    def metadata(self) -> dict[str, Any]:
        """A dict of metadata (default: empty)."""
        return {}

    @property
    def frame_chunk(self) -> int | None:
        """Frames per stored object along the frame axis, when the format has them."""
        return None

    @property
    def storage_chunks(self) -> tuple[int, ...] | None:
        """Chunk shape of the stored ``(N, *shape)`` frames, when the format has one.

        Default: whole frames, :attr:`frame_chunk` of them, when that is known.
        """
        chunk = self.frame_chunk
        return None if chunk is None else (chunk, *self.shape)

    def description(self) -> dict[str, Any]:
        """Where the frames come from, as a JSON-able dict (default: the class name)."""
        return {"format": type(self).__name__}

    def source_paths(self) -> list[str]:
        """Files this series reads that its :meth:`description` does not name (default: none).

        A write refuses a target that is, contains or lies inside any of them.
        """
        return []

    def _dask_token(self) -> str:
        """A string identifying the data, for deterministic dask names (default: one per
        object); a file-backed series derives it from its path, options and the file's
        modification time."""
        token = self.__dict__.get("_token")
        if token is None:
            token = self.__dict__["_token"] = uuid.uuid4().hex
        return token

    def _as_dask(self) -> da.Array | None:
        """The frames as a dask array ``(N, *shape)`` of the series' own (default: None): a
        series backed by a dask array returns it, so that :meth:`to_dask` maps over it."""
        return None

    def _in_memory(self) -> bool:
        """Whether reading a frame touches no disk (default: False); see :attr:`in_memory`."""
        return False

    def __dask_tokenize__(self) -> str:
        """dask's protocol: ``dask.base.tokenize(series)`` names the data by :meth:`_dask_token`."""
        return self._dask_token()

    _closed: bool = False

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called: every read then raises
        :class:`~pipeline.errors.ClosedSeriesError`."""
        return self._closed

    def close(self) -> None:
        """Release what the series holds open (files, decoders); reading it afterwards raises
        :class:`~pipeline.errors.ClosedSeriesError`.  A format holding files extends it
        (calling this one); closing twice is harmless."""
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- derived ---------------------------------------------------------------------

    @property
    def spec(self) -> FrameSpec:
        """Shape and dtype of one frame, as an :class:`ops.FrameSpec`."""
        return FrameSpec(self.shape, self.dtype)

    @property
    def ndim(self) -> int:
        """Dimensions of one frame."""
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of all frames."""
        return len(self) * int(np.prod(self.shape)) * self.dtype.itemsize

    @property
    def axes(self) -> str:
        """Names of the axes of ``(N, *shape)``: ``"TYX"``, ``"TCYX"``, ... (frames first,
        Y, X last)."""
        axes = self._axes
        return axes if axes is not None and len(axes) == self.ndim + 1 else default_axes(self.ndim)

    @property
    def in_memory(self) -> bool:
        """True when reading a frame touches no disk (and computes no foreign graph)."""
        return bool(self._in_memory())

    # -- indexing --------------------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        """``s[j]`` a frame, ``s[j, rows, cols]`` part of one, ``s[a:b]``/``s[[i, k]]`` a
        lazy sub-series (a :class:`ProcessedImageSeries` of no ops)."""
        check_open(self)
        if isinstance(key, tuple):
            if not key:
                raise FrameIndexError(
                    f"s[{key!r}]: an empty index selects nothing; use s[j] or s[a:b]")
            if not is_int(key[0]):
                raise FrameSelectionError(
                    f"s[{key!r}]: index within frames only after a single frame index, "
                    "as in s[j, rows, cols]; use s[a:b] for a lazy sub-series or "
                    "s.to_dask()[...] for lazy n-d indexing")
            return self._index_frame(self.frame_index(key[0]), key[1:])
        if is_int(key):
            return self._read_frame(self.frame_index(key), self.spec.full_region)
        return ProcessedImageSeries(self, (), frame_list=self.frame_indices(key))

    def frame_index(self, key: Any) -> int:
        """Frame index ``key`` (negative counts from the end) as a non-negative one.

        Raises :class:`~pipeline.errors.FrameIndexError` when out of range.
        """
        if isinstance(key, bool | np.bool_):
            raise FrameSelectionError(f"a frame index is an integer, not a bool: got {key!r}")
        try:
            j, n = operator.index(key), len(self)
        except TypeError:
            raise FrameSelectionError(f"a frame index is an integer, got {key!r:.80}") from None
        if not -n <= j < n:
            raise FrameIndexError(f"frame index {j!r} is out of range for a series of {n} "
                                  f"frames (valid: {-n} to {n - 1})")
        return j + n if j < 0 else j

    def frame_indices(self, key: Any) -> np.ndarray:
        """Frames selected by a slice, a boolean mask or a 1-d integer sequence, as indices."""
        return frame_list(key, len(self))

    # the names implementations inside the package have long used
    _frame_index = frame_index
    _frame_list = frame_indices

    def _read_frame(self, j: int, region: Region) -> np.ndarray:
        check_open(self)
        return self.read(slice(j, j + 1), region)[0]

    def _index_frame(self, j: int, index: tuple[Any, ...]) -> np.ndarray:
        """Frame ``j`` indexed by ``index``; plain slices read only their region."""
        region, rest = self.spec.full_region, index
        if len(index) <= self.ndim and all(
                isinstance(i, slice) and i.step in (None, 1) for i in index):
            spans = tuple((lo, max(lo, hi)) for lo, hi, _ in
                          (slice_indices(i, n, j, index) for i, n in zip(index, self.shape)))
            region, rest = spans + region[len(spans):], ()
        frame = self._read_frame(j, region)
        try:
            return frame[rest]
        except (IndexError, OverflowError) as err:  # numpy's, for numpy's indexing of a frame
            raise FrameIndexError(f"s[{j}, {index_text(index)}]: {err}") from None
        except (TypeError, ValueError) as err:
            raise FrameSelectionError(f"s[{j}, {index_text(index)}]: {err}") from None

    def get_region(self, j: int, region: Sequence[Sequence[int]]) -> np.ndarray:
        """Rectangle ``((row0, row1), (col0, col1))`` of frame ``j``, reading only what it needs."""
        check_open(self)
        return self._read_frame(self.frame_index(j), self.check_region(region))

    def check_region(self, region: Sequence[Sequence[int]]) -> Region:
        """``region`` as a full :class:`ops.Region` of these frames (leading axes whole);
        :class:`~pipeline.errors.RegionError` for a region not of integers within a frame."""
        return checked_region(region, self.shape)

    _check_region = check_region

    def __iter__(self) -> Iterator[np.ndarray]:
        check_open(self)
        for j in range(len(self)):
            yield self._read_frame(j, self.spec.full_region)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        out = self.to_dask().compute()
        return out if dtype is None else out.astype(dtype, copy=False)

    # -- what a caller may do with it ------------------------------------------------

    def to_dask(self, frames_per_chunk: int | None = None) -> da.Array:
        """All frames as a dask array ``(N, *shape)``, one task per chunk of frames running the
        whole fused chain; see :func:`pipeline.graph.to_dask`."""
        check_open(self)
        if frames_per_chunk is not None and not (is_int(frames_per_chunk) and frames_per_chunk >= 1):
            raise OptionValueError(f"frames_per_chunk must be a whole number of frames >= 1 (or "
                                   f"None: chosen from storage), got {frames_per_chunk!r:.80}")
        work = plan_of(self)
        region, chain = region_plan(self, None)
        return graph.to_dask(self, work, region, chain, frames_per_chunk)

    def process(self, oplist: Sequence[Any], frame_list: Any = None) -> ProcessedImageSeries:
        """A :class:`ProcessedImageSeries` applying ``oplist`` to this series."""
        return ProcessedImageSeries(self, oplist, frame_list=frame_list)

    def load(self) -> ArraySeries:
        """An in-memory copy of this series: its frames in one numpy array, its metadata
        copied."""
        axes = self.axes if set(self.axes) <= set(AXIS_LETTERS) else None
        return ArraySeries(np.asarray(self), copy.deepcopy(self.metadata), axes=axes)

    def region(self, j: int, offset: Sequence[int] = (0, 0), size: Sequence[int] | None = None,
               stride: Sequence[int] = (1, 1), channels: Any = None) -> np.ndarray:
        """``frame[..., y : y + h*sy : sy, x : x + w*sx : sx]``; see :func:`pipeline.regions.region`."""
        return regions.region(self, j, offset, size, stride, channels)

    def patches(self, frames: Any, coords: Any, size: Sequence[int], channels: Any = None
                ) -> np.ndarray:
        """The same patch (or one per coord) of many frames; see :func:`pipeline.regions.patches`."""
        return regions.patches(self, frames, coords, size, channels)

    def to_xarray(self, name: str | None = "images") -> Any:
        """An ``xarray.DataArray`` over :meth:`to_dask`; see :func:`pipeline.interop.to_xarray`."""
        return interop.to_xarray(self, self.to_dask(), name)

    def _repr_html_(self) -> str:
        work = plan_of(self)
        return display.repr_html(self, work, graph.frames_per_chunk(self, work.source))

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {counted(len(self), 'frame')} of {self.shape} {self.dtype}>"


def plan_of(series: ImageSeries) -> plan.Plan:
    """What ``series`` does: the source it reads, the frames it selects, the chain it runs and
    the spec it gives (a plain series: itself, every frame, no ops)."""
    if isinstance(series, ProcessedImageSeries):
        return plan.Plan(series.source, series._frames, series.chain, series.spec)
    return plan.Plan(series, None, (), series.spec)


def region_plan(series: ImageSeries, region: Region | None) -> tuple[Region, tuple[Op, ...]]:
    """The region of the source to read and the ops to run on it, for ``region`` of
    ``series``'s frames (None: whole frames); a crop is pushed down the chain."""
    if isinstance(series, ProcessedImageSeries):
        return series._plan_region(region)
    return (series.spec.full_region if region is None else region), ()


def named_spec(series: ImageSeries) -> FrameSpec:
    """``series.spec`` with its frames' axis names and, for frames with channels, their names
    (what ops acting on a named axis or channel look for)."""
    axes = series.axes[1:]
    names = microscopy.channel_names(series.metadata, axes, series.shape) if "C" in axes else None
    channels = None if names is None else tuple(names)
    return FrameSpec(series.shape, series.dtype, axes=axes, channels=channels)


PLAN_CACHE_SIZE = 64
"""Regions whose push-down plan a processed series keeps (``ps[j]`` uses one)."""


class ProcessedImageSeries(ImageSeries):
    """A series with operations applied to each frame.

    hexrd's class of the same name, with its vocabulary (``oplist``,
    ``frame_list``, ``addop``), but with the chain validated and its output
    shape and dtype known at construction, never by computing a frame.

    Parameters
    ----------
    series
        The series to process (or anything :func:`as_series` takes).  A
        processed series over a processed series is one flattened chain over
        the innermost source.
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

    def __init__(self, series: Any, oplist: Sequence[Any], frame_list: Any = None,
                 **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"unexpected keyword arguments {sorted(kwargs)}")
        if isinstance(oplist, str | bytes) or not isinstance(oplist, Sequence | np.ndarray):
            raise OpParameterError(
                f"oplist must be a list of (name, param) pairs, got {oplist!r:.80}")
        series = as_series(series)  # hexrd's protocol: len, [i], shape, dtype, metadata
        if isinstance(frame_list, slice):  # hexrd's frame_list is a list of frame numbers
            raise FrameSelectionError(
                f"frame_list is a sequence of frame indices, got the slice {frame_list!r}; "
                f"use series[{plan.slice_text(frame_list)}].process(...) or list(range(...))")
        frames = None if frame_list is None else series.frame_indices(frame_list)
        if isinstance(series, ProcessedImageSeries):
            # flatten: our ops follow the inner ones, our frames index the inner selection
            registry, source = series._registry, series._source
            inner_frames, inner_chain, inner_specs = series._frames, series._chain, series._specs
        else:
            registry, source = _ops.registry.child(), series
            inner_frames, inner_chain, inner_specs = None, (), (named_spec(series),)
        chain, specs = plan.build_chain(oplist, inner_specs[-1], registry)
        self._registry: _ops.Registry = registry
        self._source: ImageSeries = source
        self._frames: np.ndarray | None = inner_frames if frames is None else (
            frames if inner_frames is None else inner_frames[frames])
        self._chain: tuple[Op, ...] = inner_chain + chain
        self._specs: tuple[FrameSpec, ...] = inner_specs + specs[1:]
        # metadata is copied when first asked for, not here: slicing stays cheap
        self._meta: dict[str, Any] | None = None
        self._overlay = _metacopy.Overlay()
        if isinstance(series, ProcessedImageSeries) and series._changes():
            # the caller changed the inner series' metadata: carry it through our ops now
            self._meta = plan.metadata_through(copy.deepcopy(series.metadata), chain, specs,
                                               series.axes[1:], frames)

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
        """A copy of the source's metadata (``omega`` selected by ``frame_list``) the caller
        may change."""
        if self._meta is None:
            self._meta = _metacopy.derive(self._base_metadata(), self._overlay)
        return self._meta

    def _base_metadata(self) -> dict[str, Any]:
        """The source's metadata as this series reports it before any change (not copied)."""
        return plan.metadata_through(dict(self._source.metadata), self._chain, self._specs,
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
        """The whole flattened chain as ``(name, param)`` pairs (a copy)."""
        return [(op.name, op.param) for op in self._chain]

    @property
    def chain(self) -> tuple[Op, ...]:
        return self._chain

    @property
    def source(self) -> ImageSeries:
        """The innermost, unprocessed series."""
        return self._source

    @property
    def _axes(self) -> str:  # type: ignore[override]
        # the names the chain gives its frames, else the source's while the chain keeps the
        # frame's dimensions (see ImageSeries.axes)
        named = self._specs[-1].axes
        return self._source.axes if named is None else "T" + named

    @property
    def frame_list(self) -> np.ndarray | None:
        return None if self._frames is None else self._frames.copy()

    def addop(self, name: str, func: Callable[[np.ndarray, Any], np.ndarray]) -> None:
        """Make ``func(frame, param)`` known as op ``name`` to this series and those built on
        it; use it in a chain with ``ps.process([(name, param)])``."""
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
        return plans[key]  # type: ignore[no-any-return]

    def _in_memory(self) -> bool:
        return self._source.in_memory

    @property
    def closed(self) -> bool:
        return self._source.closed

    def close(self) -> None:
        """Close the series this one reads (:attr:`source`): its files are released, and
        every series over it, this one included, is closed."""
        self._source.close()

    def source_paths(self) -> list[str]:
        return self._source.source_paths()

    def _dask_token(self) -> str:
        from dask.base import tokenize

        return str(tokenize(self._source._dask_token(), self._frames, self._chain))

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
        return (f"<ProcessedImageSeries: {counted(len(self), 'frame')} of {self.shape} {self.dtype}; "
                f"{ops_text}; over {self._source!r}>")


def _rebuild(source: ImageSeries, chain: tuple[Op, ...], frames: np.ndarray | None,
             kinds: dict[str, _ops.OpKind], overlay: _metacopy.Overlay,
             specs: tuple[FrameSpec, ...]) -> ProcessedImageSeries:
    # the chain was validated when built: unpickling must not open the source
    # (a file-backed one reopens lazily, on the worker that reads a frame)
    ps = ProcessedImageSeries.__new__(ProcessedImageSeries)
    ps._registry = _ops.registry.child()
    ps._registry.restore(kinds)
    ps._source, ps._frames, ps._chain, ps._specs = source, frames, chain, specs
    ps._meta, ps._overlay = None, overlay
    return ps


class ArraySeries(ImageSeries):
    """Frames held by an array of shape ``(N, *frame_shape)``.

    A numpy array is used as it is (changes to it are seen by the series);
    a dask array is read only when a frame is asked for.  Frames read are
    copies: changing one changes neither the series nor the array.
    """

    def __init__(self, data: Any, metadata: dict[str, Any] | None = None,
                 axes: str | None = None) -> None:
        if not hasattr(data, "shape") or not hasattr(data, "dtype"):
            data = np.asarray(data)
        if data.ndim < 2:
            raise FrameShapeError(f"an image series needs an array of 2 or more dimensions, "
                                  f"got shape {data.shape}")
        # a transpose is a view: frames are read plane by plane, never copied whole
        self._data, self._axes = as_frames(data, axes)
        self._meta = {} if metadata is None else metadata

    @property
    def data(self) -> Any:
        return self._data

    def __len__(self) -> int:
        return int(self._data.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self._data.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._data.dtype)

    @property
    def metadata(self) -> dict[str, Any]:
        return self._meta

    @property
    def frame_chunk(self) -> int | None:
        chunks = self._data.chunks if self._is_dask else None
        return int(chunks[0][0]) if chunks and chunks[0] else None

    @property
    def _is_dask(self) -> bool:
        return hasattr(self._data, "dask")

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        index = (frames, *region_index(region))
        if self._is_dask:
            out = np.asarray(self._data[index].compute())
            # a dask array over a numpy one may hand back a view of the caller's array
            return out if out.base is None else out.copy()
        # a copy, as hexrd's adapter gives: a caller editing a frame changes neither the
        # series nor the array it wraps
        return np.array(self._data[index])

    def _as_dask(self) -> Any:
        return self._data if self._is_dask else None

    def _in_memory(self) -> bool:
        return isinstance(self._data, np.ndarray)  # a dask array's graph may read anything

    def _dask_token(self) -> str:
        return str(self._data.name) if self._is_dask else super()._dask_token()

    def description(self) -> dict[str, Any]:
        return {"format": "array", "shape": list(self._data.shape), "dtype": self.dtype.str}


def counted(n: int, noun: str) -> str:
    """``"1 frame"``, ``"0 frames"``, ``"12 frames"``: a count as people write it."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def from_array(data: Any, metadata: dict[str, Any] | None = None,
               axes: str | None = None) -> ArraySeries:
    """Wrap a numpy array (no copy) or a dask array (nothing computed) as a series.

    A 2-d array is a series of one frame; frames run along the first axis.
    ``axes`` names the array's axes in any order of ``T, C, Z, Y, X`` (e.g.
    ``"YXT"``, ``"CTYX"``); the series presents them as ``T, ..., Y, X``
    through a transposed view, without copying.
    """
    return ArraySeries(data, metadata, axes=axes)


class ProtocolSeries(ImageSeries):
    """An object offering hexrd's series protocol, seen as an :class:`ImageSeries`.

    Frames come from ``obj[i]`` (with ``i`` a Python int, as hexrd passes
    them), or from ``obj.get_region(i, region)`` when a rectangle is asked
    for and the object has that method.  Frames are stacked into new arrays,
    so the caller may change them without changing the object's data.
    Metadata is the object's own dict (changes to it are seen both ways, as
    with any series); an object without a dict has empty metadata.  Its
    ``shape`` and ``dtype`` are taken as declared, and frame 0 is read for
    them only when the object does not declare them.
    """

    def __init__(self, obj: Any) -> None:
        self._obj = obj
        self._declared: tuple[tuple[int, ...], np.dtype] | None = None
        self._use_region = callable(getattr(obj, "get_region", None))

    @property
    def wrapped(self) -> Any:
        """The wrapped object."""
        return self._obj

    def __len__(self) -> int:
        return operator.index(len(self._obj))

    @property
    def shape(self) -> tuple[int, ...]:
        return self._spec_of_obj()[0]

    @property
    def dtype(self) -> np.dtype:
        return self._spec_of_obj()[1]

    def _spec_of_obj(self) -> tuple[tuple[int, ...], np.dtype]:
        # asked for only when needed: omega, for one, never looks at a frame's shape
        if self._declared is None:
            shape, dtype = declared_shape(self._obj), declared_dtype(self._obj)
            if shape is None or dtype is None:
                if len(self) == 0:
                    raise EmptySeriesError(
                        f"{type(self._obj).__name__} has no frames and does not declare "
                        "shape and dtype; give it shape and dtype attributes")
                first = np.asarray(self._obj[0])
                shape = first.shape if shape is None else shape
                dtype = first.dtype if dtype is None else dtype
            self._declared = (tuple(shape), np.dtype(dtype))
        return self._declared

    @property
    def metadata(self) -> dict[str, Any]:
        meta = getattr(self._obj, "metadata", None)
        return meta if isinstance(meta, Mapping) else {}  # type: ignore[return-value]

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        full, index = region == self.spec.full_region, region_index(region)
        want = tuple(hi - lo for lo, hi in region)
        blocks = []
        for j in frame_numbers(frames, len(self)):
            frame = None
            if not full and self._use_region and len(region) == 2:
                frame = self._region(int(j), region, want)
            if frame is None:
                frame = np.asarray(self._obj[int(j)])
                frame = frame if full else frame[index]
            blocks.append(frame)
        if not blocks:
            return np.empty((0, *want), self.dtype)
        # a new array: the object's own data is never handed out
        return convert(np.stack(blocks), self.dtype, "truncate", what="frame values")

    def _region(self, j: int, region: Region, want: tuple[int, ...]) -> np.ndarray | None:
        frame = np.asarray(self._obj.get_region(j, region))
        if frame.shape == want:
            return frame
        # get_region is an optimisation; [i] is what the protocol requires
        self._use_region = False
        warnings.warn(f"{type(self._obj).__name__}.get_region({j}, {region!r}) returned shape "
                      f"{frame.shape}, not {want}; reading whole frames through [i] instead",
                      RuntimeWarning, stacklevel=4)
        return None

    def close(self) -> None:
        """Close the wrapped object too, when it has a ``close()``."""
        super().close()
        closer = getattr(self._obj, "close", None)
        if callable(closer):
            closer()

    def description(self) -> dict[str, Any]:
        kind = type(self._obj)
        return {"format": "protocol", "type": f"{kind.__module__}.{kind.__qualname__}"}

    def __repr__(self) -> str:
        return f"<ProtocolSeries over {type(self._obj).__name__}: {counted(len(self), 'frame')}>"


def as_series(obj: Any) -> ImageSeries:
    """``obj`` as an image series, without reading a frame.

    Parameters
    ----------
    obj
        An :class:`ImageSeries` (returned as it is); a numpy or dask array, or
        an array-like with an integer ``ndim`` and no metadata dict (h5py, zarr
        datasets), of shape ``(N, *frame_shape)`` (wrapped without a copy); or
        any object offering hexrd's series protocol: ``len(obj)``, ``obj[i]`` a
        frame, and where it can, ``shape`` and ``dtype`` of one frame,
        ``metadata`` (a dict) and ``get_region(i, ((r0, r1), (c0, c1)))``.

    Raises
    ------
    SeriesTypeError
        When ``obj`` offers neither ``len`` nor ``[i]`` (or is a string or mapping).
    """
    if isinstance(obj, ImageSeries):
        return obj
    if is_array(obj):
        return ArraySeries(obj)
    kind = type(obj)
    if isinstance(obj, str | bytes | Mapping) or not (
            hasattr(kind, "__len__") and hasattr(kind, "__getitem__")):
        raise SeriesTypeError(
            f"expected an image series, got {kind.__name__} ({obj!r:.60}); a series offers "
            "len(s), s[i] (a frame), shape and dtype of one frame and metadata (a dict), "
            "or is an array (N, rows, cols)")
    return ProtocolSeries(obj)


__all__ = ["ArraySeries", "FrameSelection", "ImageSeries", "ProcessedImageSeries",
           "ProtocolSeries", "as_selection", "as_series", "counted", "from_array", "plan_of",
           "region_index", "region_plan"]

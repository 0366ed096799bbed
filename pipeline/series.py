"""ImageSeries: the one interface every series offers.

A series is a sequence of frames of one shape and dtype, read lazily.  An
implementation owes :meth:`ImageSeries.__len__`, :attr:`shape`, :attr:`dtype`
and :meth:`ImageSeries.read`; everything else (indexing, sub-series,
iteration, regions, dask arrays, processing) is built on those here.
"""

from __future__ import annotations

import abc
import operator
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ops import FrameSpec, Op, Region
from pipeline import _generic
from pipeline._selection import checked_region, frame_list, index_text, is_int, slice_indices
from pipeline.axes import default_axes
from pipeline.errors import FrameIndexError, FrameSelectionError

if TYPE_CHECKING:  # annotations only: the series layer imports nothing above it
    import dask.array as da

    from pipeline.processed import ProcessedImageSeries

FrameSelection = slice | np.ndarray
"""Frames to read: a step-1 slice with non-negative bounds, or a 1-d integer array."""


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
    caller needs to probe a series with ``getattr``:

    :attr:`metadata` (``{}``), :attr:`frame_chunk` and :attr:`storage_chunks`
    (``None``: no storage chunking), :meth:`description` (the class name),
    :meth:`source_paths` (none), :attr:`provenance`, :attr:`zarr_array` and
    :attr:`codec` (``None``), and the hooks the framework calls:
    :meth:`_dask_token` (a token per object), :meth:`_as_dask` (``None``: no
    dask array of its own), :meth:`_plan_region` (read the region itself, no
    ops), :meth:`_in_memory` (``False``) and :attr:`_axes` (``None``: the
    default names).  The underscored hooks are the implementer's side only:
    callers use the public members built on them (``tokenize(series)``,
    :meth:`to_dask`, :attr:`in_memory`, :attr:`axes`); only the processing
    layer (:mod:`pipeline.graph`) asks :meth:`_as_dask` and
    :meth:`_plan_region` directly.

    Conveniences that need higher layers (:meth:`to_dask`, :meth:`process`,
    :meth:`materialize`, :meth:`load`, :meth:`to_xarray`, :meth:`region`,
    :meth:`patches`, HTML display) call the generic functions of
    :mod:`pipeline._generic`, which those layers implement.

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
        """Frames per storage chunk along the frame axis, when the format has one."""
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

    provenance: dict[str, Any] | None = None
    """What the container records of where its frames came from (default: ``None``)."""

    zarr_array: Any = None
    """The ``zarr.Array`` holding the frames, for a Zarr-backed series (default: ``None``)."""

    codec: str | None = None
    """How the stored frames are encoded, as text, where known (default: ``None``)."""

    def _dask_token(self) -> str:
        """A string identifying the data, for deterministic dask names (default: one per object).

        Used through :meth:`__dask_tokenize__`; a file-backed series derives it
        from its path, options and the file's modification time.
        """
        token = self.__dict__.get("_token")
        if token is None:
            token = self.__dict__["_token"] = uuid.uuid4().hex
        return token

    def _as_dask(self) -> da.Array | None:
        """The frames as a dask array ``(N, *shape)`` of the series' own (default: ``None``).

        A series backed by a dask array returns it, so that :meth:`to_dask`
        maps over its blocks instead of building a graph of reads.
        """
        return None

    def _plan_region(self, region: Region | None) -> tuple[Region, tuple[Op, ...]]:
        """The source region and ops giving ``region`` of the output (``None``: whole frames).

        Default: the region itself, no ops.  A processed series pushes the
        region down its chain.
        """
        return (self.spec.full_region if region is None else region), ()

    def _in_memory(self) -> bool:
        """Whether reading a frame touches no disk (default: ``False``); see :attr:`in_memory`."""
        return False

    def __dask_tokenize__(self) -> str:
        """dask's protocol: ``dask.base.tokenize(series)`` names the data by :meth:`_dask_token`."""
        return self._dask_token()

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
        """Names of the axes of ``(N, *shape)``: ``"TYX"``, ``"TCYX"``, ... (frames first, Y, X last)."""
        axes = self._axes
        return axes if axes is not None and len(axes) == self.ndim + 1 else default_axes(self.ndim)

    @property
    def in_memory(self) -> bool:
        """True when reading a frame touches no disk (and computes no foreign graph)."""
        return bool(self._in_memory())

    def __getitem__(self, key: Any) -> Any:
        """``s[j]`` a frame, ``s[j, rows, cols]`` part of one, ``s[a:b]``/``s[[i, k]]`` a sub-series."""
        if isinstance(key, tuple):
            if not key:
                raise FrameIndexError(
                    f"s[{key!r}]: an empty index selects nothing; use s[j] or s[a:b]")
            if not is_int(key[0]):
                raise FrameSelectionError(
                    f"s[{key!r}]: index within frames only after a single frame index, "
                    "as in s[j, rows, cols]; use s[a:b] for a lazy sub-series or "
                    "s.to_dask()[...] for lazy n-d indexing"
                )
            return self._index_frame(self.frame_index(key[0]), key[1:])
        if is_int(key):
            return self._read_frame(self.frame_index(key), self.spec.full_region)
        return _generic.select(self, self.frame_indices(key))

    def frame_index(self, key: Any) -> int:
        """Frame index ``key`` (negative counts from the end) as a non-negative one.

        Raises :class:`~pipeline.errors.FrameIndexError` when out of range.
        """
        if isinstance(key, bool | np.bool_):
            raise FrameSelectionError(f"a frame index is an integer, not a bool: got {key!r}")
        j = operator.index(key)
        n = len(self)
        if not -n <= j < n:
            raise FrameIndexError(
                f"frame index {j!r} is out of range for a series of {n} frames "
                f"(valid: {-n} to {n - 1})"
            )
        return j + n if j < 0 else j

    def frame_indices(self, key: Any) -> np.ndarray:
        """Frames selected by a slice, a boolean mask or a 1-d integer sequence, as indices."""
        return frame_list(key, len(self))

    # the names implementations inside the package have long used
    _frame_index = frame_index
    _frame_list = frame_indices

    def _read_frame(self, j: int, region: Region) -> np.ndarray:
        return self.read(slice(j, j + 1), region)[0]

    def _index_frame(self, j: int, index: tuple[Any, ...]) -> np.ndarray:
        """Frame ``j`` indexed by ``index``; plain slices read only their region."""
        region, rest = self.spec.full_region, index
        if len(index) <= self.ndim and all(
            isinstance(i, slice) and i.step in (None, 1) for i in index
        ):
            spans = tuple((lo, max(lo, hi)) for lo, hi, _ in
                          (slice_indices(i, n, j, index) for i, n in zip(index, self.shape)))
            region, rest = spans + region[len(spans) :], ()
        frame = self._read_frame(j, region)
        try:
            return frame[rest]
        except (IndexError, OverflowError) as err:  # numpy's, for numpy's indexing of a frame
            raise FrameIndexError(f"s[{j}, {index_text(index)}]: {err}") from None
        except (TypeError, ValueError) as err:
            raise FrameSelectionError(f"s[{j}, {index_text(index)}]: {err}") from None

    def get_region(self, j: int, region: Sequence[Sequence[int]]) -> np.ndarray:
        """Rectangle ``((row0, row1), (col0, col1))`` of frame ``j``, reading only what it needs."""
        return self._read_frame(self.frame_index(j), self.check_region(region))

    def check_region(self, region: Sequence[Sequence[int]]) -> Region:
        """``region`` as a full :class:`ops.Region` of these frames (leading axes whole).

        Raises :class:`~pipeline.errors.RegionError` for a region that is not
        pairs of integers within the frame.
        """
        return checked_region(region, self.shape)

    _check_region = check_region

    def __iter__(self) -> Iterator[np.ndarray]:
        for j in range(len(self)):
            yield self._read_frame(j, self.spec.full_region)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        out = self.to_dask().compute()
        return out if dtype is None else out.astype(dtype, copy=False)

    # -- conveniences implemented by higher layers (see pipeline._generic) -------------

    def to_dask(self, frames_per_chunk: int | None = None) -> da.Array:
        """All frames as a dask array ``(N, *shape)``, one task per chunk of frames.

        See :func:`pipeline.graph.to_dask`.
        """
        return _generic.to_dask(self, frames_per_chunk=frames_per_chunk)

    def process(self, oplist: Sequence[Any], frame_list: Any = None) -> ProcessedImageSeries:
        """A :class:`~pipeline.processed.ProcessedImageSeries` applying ``oplist`` to this series."""
        return _generic.process(self, oplist, frame_list=frame_list)

    def materialize(self, **write_options: Any) -> ImageSeries:
        """Computed into a temporary Zarr store, removed with the result; see :mod:`pipeline.disk`."""
        return _generic.materialize(self, **write_options)

    def load(self) -> ImageSeries:
        """An in-memory copy of this series (metadata copied); see :func:`pipeline.disk.load`."""
        return _generic.load(self)

    def region(self, j: int, offset: Sequence[int] = (0, 0), size: Sequence[int] | None = None,
               stride: Sequence[int] = (1, 1), channels: Any = None) -> np.ndarray:
        """``frame[..., y : y + h*sy : sy, x : x + w*sx : sx]``; see :func:`pipeline.regions.region`."""
        return _generic.region(self, j, offset, size, stride, channels)

    def patches(self, frames: Any, coords: Any, size: Sequence[int], channels: Any = None
                ) -> np.ndarray:
        """The same patch (or one per coord) of many frames; see :func:`pipeline.regions.patches`."""
        return _generic.patches(self, frames, coords, size, channels)

    def to_xarray(self, name: str | None = "images") -> Any:
        """An ``xarray.DataArray`` over :meth:`to_dask`; see :func:`pipeline.interop.to_xarray`."""
        return _generic.to_xarray(self, name)

    def _repr_html_(self) -> str:
        return _generic.repr_html(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {len(self)} frames of {self.shape} {self.dtype}>"


class HeaderSeries(ImageSeries):
    """A series whose length, frame shape, dtype and metadata are read once, when it opens.

    Subclasses set ``_nframes``, ``_shape``, ``_dtype`` and ``_meta`` as they
    open their header and then owe only :meth:`ImageSeries.read` (overriding
    any of the four members where the header says it differently).  One that
    can read its metadata again from the file overrides :meth:`_reread_metadata`:
    it then pickles without it (metadata arrays stay behind; a dask worker
    re-reads them only if asked).
    """

    _nframes: int
    _shape: tuple[int, ...]
    _dtype: np.dtype
    _meta: dict[str, Any]

    def __len__(self) -> int:
        return self._nframes

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def metadata(self) -> dict[str, Any]:
        if self._meta is None:  # left behind by pickling
            self._meta = self._reread_metadata()
        return self._meta

    def _reread_metadata(self) -> dict[str, Any]:
        """The metadata read from the source again; by default it travels with the series."""
        raise NotImplementedError

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if type(self)._reread_metadata is not HeaderSeries._reread_metadata:
            state["_meta"] = None
        return state


def as_selection(frames: np.ndarray) -> FrameSelection:
    """A step-1 slice for an ascending run of frames, else the array itself."""
    if len(frames) and frames[-1] - frames[0] == len(frames) - 1 and np.all(np.diff(frames) == 1):
        return slice(int(frames[0]), int(frames[-1]) + 1)
    return frames


def region_index(region: Region) -> tuple[slice, ...]:
    return tuple(slice(lo, hi) for lo, hi in region)

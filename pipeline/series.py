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

from ops import FrameSpec, Region
from pipeline._selection import (
    checked_slice,
    in_range,
    index_text,
    integer_indices,
    is_int,
    region_bound,
    slice_indices,
)
from pipeline.errors import FrameIndexError, FrameSelectionError, RegionError

if TYPE_CHECKING:
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
        against :attr:`shape`).  Read only what is needed where the format allows.

    Implementers may also provide
    -----------------------------
    ``metadata``
        A dict (default: empty).
    ``frame_chunk``
        Frames per stored chunk, so that dask chunks align with storage.
    ``_dask_token()``
        A string identifying the data, for deterministic dask names.
    ``description()``
        A JSON-able dict saying where the frames come from (format, path, options).

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
    def read(self, frames: FrameSelection, region: Region) -> np.ndarray: ...

    # -- what it may provide ---------------------------------------------------------

    @property
    def metadata(self) -> dict[str, Any]:
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

    def _dask_token(self) -> str:
        token = self.__dict__.get("_token")
        if token is None:
            token = self.__dict__["_token"] = uuid.uuid4().hex
        return token

    def description(self) -> dict[str, Any]:
        """Where the frames come from, as a JSON-able dict."""
        return {"format": type(self).__name__}

    # -- derived ---------------------------------------------------------------------

    @property
    def spec(self) -> FrameSpec:
        return FrameSpec(self.shape, self.dtype)

    @property
    def ndim(self) -> int:
        """Dimensions of one frame."""
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return len(self) * int(np.prod(self.shape)) * self.dtype.itemsize

    def __getitem__(self, key: Any) -> Any:
        """``s[j]`` a frame, ``s[j, rows, cols]`` part of one, ``s[a:b]``/``s[[i, k]]`` a sub-series."""
        if isinstance(key, tuple):
            if not key:
                raise IndexError("an empty index selects nothing; use s[j] or s[a:b]")
            if not is_int(key[0]):
                raise FrameSelectionError(
                    f"s[{key!r}]: index within frames only after a single frame index, "
                    "as in s[j, rows, cols]; use s[a:b] for a lazy sub-series or "
                    "s.to_dask()[...] for lazy n-d indexing"
                )
            return self._index_frame(self._frame_index(key[0]), key[1:])
        if is_int(key):
            return self._read_frame(self._frame_index(key), self.spec.full_region)
        return self._select(self._frame_list(key))

    def _frame_index(self, key: Any) -> int:
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

    def _frame_list(self, key: Any) -> np.ndarray:
        """Frames selected by a slice, a boolean mask or a 1-d integer sequence, as indices."""
        n = len(self)
        if isinstance(key, slice):
            return np.arange(n)[checked_slice(key)]
        if isinstance(key, bool | np.bool_ | str | bytes) or np.ndim(key) != 1:
            raise FrameSelectionError(
                "frames are selected by an int, a slice or a 1-d integer sequence, "
                f"got {key!r:.80}"
            )
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise FrameIndexError(
                    f"a boolean frame mask needs {n} entries, got shape {idx.shape}"
                )
            return np.flatnonzero(idx)
        if isinstance(key, list | tuple) and len(key) == 0:
            return np.empty(0, np.intp)  # [] is no frames, as in numpy
        return in_range(integer_indices(key, idx), n)

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
        return self._read_frame(self._frame_index(j), self._check_region(region))

    def _check_region(self, region: Sequence[Sequence[int]]) -> Region:
        try:
            pairs = tuple(tuple(region_bound(v) for v in pair) for pair in region)
        except TypeError:
            raise RegionError(
                f"region {region!r:.120} must be ((row0, row1), (col0, col1)) of integers for "
                f"frames of shape {self.shape}"
            ) from None
        full = self.spec.full_region
        if len(pairs) > len(full) or any(len(p) != 2 for p in pairs):
            raise RegionError(
                f"region {region!r} must be ((row0, row1), (col0, col1)) for frames of shape "
                f"{self.shape}"
            )
        pairs = full[: len(full) - len(pairs)] + pairs
        for (lo, hi), n in zip(pairs, self.shape):
            if not 0 <= lo <= hi <= n:
                raise RegionError(
                    f"region {region!r} falls outside frames of shape {self.shape}"
                )
        return pairs  # type: ignore[return-value]

    # -- axes, regions and patches, memory and disk (pipeline.regions, pipeline.disk) --

    @property
    def axes(self) -> str:
        """Names of the axes of ``(N, *shape)``: ``"TYX"``, ``"TCYX"``, ... (frames first, Y, X last)."""
        from pipeline.axes import default_axes

        axes = getattr(self, "_axes", None)
        return axes if axes is not None and len(axes) == self.ndim + 1 else default_axes(self.ndim)

    def region(self, j: int, offset: Sequence[int] = (0, 0), size: Sequence[int] | None = None,
               stride: Sequence[int] = (1, 1), channels: Any = None) -> np.ndarray:
        """``frame[..., y : y + h*sy : sy, x : x + w*sx : sx]``; see :func:`pipeline.regions.region`."""
        from pipeline import regions

        return regions.region(self, j, offset, size, stride, channels)

    def patches(self, frames: Any, coords: Any, size: Sequence[int], channels: Any = None
                ) -> np.ndarray:
        """The same patch (or one per coord) of many frames; see :func:`pipeline.regions.patches`."""
        from pipeline import regions

        return regions.patches(self, frames, coords, size, channels)

    def materialize(self, **write_options: Any) -> ImageSeries:
        """Computed into a temporary Zarr store, removed with the result; see :mod:`pipeline.disk`."""
        from pipeline import disk

        return disk.materialize(self, **write_options)

    def load(self) -> ImageSeries:
        """An in-memory copy of this series (metadata copied)."""
        from pipeline import disk

        return disk.load(self)

    @property
    def in_memory(self) -> bool:
        """True when reading a frame touches no disk (and computes no foreign graph)."""
        from pipeline import disk

        return disk.in_memory(self)

    def __iter__(self) -> Iterator[np.ndarray]:
        for j in range(len(self)):
            yield self._read_frame(j, self.spec.full_region)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        out = self.to_dask().compute()
        return out if dtype is None else out.astype(dtype, copy=False)

    def to_dask(self, frames_per_chunk: int | None = None) -> da.Array:
        """All frames as a dask array ``(N, *shape)``, one task per chunk of frames."""
        from pipeline import graph

        return graph.to_dask(self, frames_per_chunk=frames_per_chunk)

    def process(self, oplist: Sequence[Any], frame_list: Any = None) -> ProcessedImageSeries:
        """A :class:`~pipeline.processed.ProcessedImageSeries` applying ``oplist`` to this series."""
        from pipeline.processed import ProcessedImageSeries

        return ProcessedImageSeries(self, oplist, frame_list=frame_list)

    def _select(self, frames: np.ndarray) -> ImageSeries:
        return self.process((), frame_list=frames)

    def to_xarray(self, name: str | None = "images") -> Any:
        """An ``xarray.DataArray`` over :meth:`to_dask`; see :func:`pipeline.interop.to_xarray`."""
        from pipeline.interop import to_xarray

        return to_xarray(self, name)

    def _repr_html_(self) -> str:
        from pipeline.display import repr_html

        return repr_html(self)

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

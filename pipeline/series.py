"""ImageSeries: the one interface every series offers.

A series is a sequence of frames of one shape and dtype, read lazily.  An
implementation owes :meth:`ImageSeries.__len__`, :attr:`shape`, :attr:`dtype`
and :meth:`ImageSeries._read`; everything else (indexing, sub-series,
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
    ``_read(frames, region)``
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
    def _read(self, frames: FrameSelection, region: Region) -> np.ndarray: ...

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
            if not _is_int(key[0]):
                raise TypeError(
                    f"s[{key!r}]: index within frames only after a single frame index, "
                    "as in s[j, rows, cols]; use s[a:b] for a lazy sub-series or "
                    "s.to_dask()[...] for lazy n-d indexing"
                )
            return self._index_frame(self._frame_index(key[0]), key[1:])
        if _is_int(key):
            return self._read_frame(self._frame_index(key), self.spec.full_region)
        return self._select(self._frame_list(key))

    def _frame_index(self, key: Any) -> int:
        j = operator.index(key)
        n = len(self)
        if not -n <= j < n:
            raise IndexError(f"frame index {j} is out of range for a series of {n} frames")
        return j + n if j < 0 else j

    def _frame_list(self, key: Any) -> np.ndarray:
        n = len(self)
        if isinstance(key, slice):
            return np.arange(n)[key]
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(f"a boolean frame mask needs {n} entries, got shape {idx.shape}")
            return np.flatnonzero(idx)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise TypeError(
                f"frames are selected by an int, a slice or a 1-d integer sequence, got {key!r:.80}"
            )
        idx = idx.astype(np.intp)
        bad = (idx < -n) | (idx >= n)
        if bad.any():
            raise IndexError(
                f"frame index {int(idx[bad][0])} is out of range for a series of {n} frames"
            )
        return np.where(idx < 0, idx + n, idx)

    def _read_frame(self, j: int, region: Region) -> np.ndarray:
        return self._read(slice(j, j + 1), region)[0]

    def _index_frame(self, j: int, index: tuple[Any, ...]) -> np.ndarray:
        """Frame ``j`` indexed by ``index``; plain slices read only their region."""
        if len(index) <= self.ndim and all(
            isinstance(i, slice) and i.step in (None, 1) for i in index
        ):
            spans = tuple(
                (lo, max(lo, hi)) for lo, hi, _ in (i.indices(n) for i, n in zip(index, self.shape))
            )
            return self._read_frame(j, spans + self.spec.full_region[len(spans) :])
        return self._read_frame(j, self.spec.full_region)[index]

    def get_region(self, j: int, region: Sequence[Sequence[int]]) -> np.ndarray:
        """Rectangle ``((row0, row1), (col0, col1))`` of frame ``j``, reading only what it needs."""
        return self._read_frame(self._frame_index(j), self._check_region(region))

    def _check_region(self, region: Sequence[Sequence[int]]) -> Region:
        pairs = tuple(tuple(int(v) for v in pair) for pair in region)
        full = self.spec.full_region
        if len(pairs) > len(full) or any(len(p) != 2 for p in pairs):
            raise ValueError(
                f"region {region!r} must be ((row0, row1), (col0, col1)) for frames of shape "
                f"{self.shape}"
            )
        pairs = full[: len(full) - len(pairs)] + pairs
        for (lo, hi), n in zip(pairs, self.shape):
            if not 0 <= lo <= hi <= n:
                raise ValueError(
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
    open their header and then owe only :meth:`ImageSeries._read` (overriding
    any of the four members where the header says it differently).
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
        return self._meta


def _is_int(key: Any) -> bool:
    if isinstance(key, bool | np.bool_):
        return False
    try:
        operator.index(key)
    except TypeError:
        return False
    return True


def as_selection(frames: np.ndarray) -> FrameSelection:
    """A step-1 slice for an ascending run of frames, else the array itself."""
    if len(frames) and frames[-1] - frames[0] == len(frames) - 1 and np.all(np.diff(frames) == 1):
        return slice(int(frames[0]), int(frames[-1]) + 1)
    return frames


def region_index(region: Region) -> tuple[slice, ...]:
    return tuple(slice(lo, hi) for lo, hi in region)

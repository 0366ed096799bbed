"""In-memory frames: a numpy array wrapped without a copy, or a dask array wrapped lazily."""

from __future__ import annotations

from typing import Any

import numpy as np

from ops import Region
from pipeline.axes import as_frames
from pipeline.errors import FrameShapeError, MissingOptionError, OptionValueError
from pipeline.formats._plugin import Format
from pipeline.series import FrameSelection, ImageSeries, region_index


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
            raise FrameShapeError(
                f"an image series needs an array of 2 or more dimensions, got shape {data.shape}"
            )
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
        chunks = getattr(self._data, "chunks", None)
        return int(chunks[0][0]) if self._is_dask and chunks and chunks[0] else None

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


def from_array(data: Any, metadata: dict[str, Any] | None = None,
               axes: str | None = None) -> ArraySeries:
    """Wrap a numpy array (no copy) or a dask array (nothing computed) as a series.

    A 2-d array is a series of one frame; frames run along the first axis.
    ``axes`` names the array's axes in any order of ``T, C, Z, Y, X`` (e.g.
    ``"YXT"``, ``"CTYX"``); the series presents them as ``T, ..., Y, X``
    through a transposed view, without copying.
    """
    return ArraySeries(data, metadata, axes=axes)


def open(path: None = None, data: Any = None, meta: dict[str, Any] | None = None,
         metadata: dict[str, Any] | None = None) -> ArraySeries:
    """hexrd's ``open(None, "array", data=arr, meta={...})``."""
    if data is None:
        raise MissingOptionError("the 'array' format needs data=, the array of frames")
    if path is not None:
        raise OptionValueError(
            f"the 'array' format takes no path (got {path!r}); pass data= instead"
        )
    return ArraySeries(data, meta if meta is not None else metadata)


class ArrayFormat(Format):
    """In-memory numpy or dask arrays (hexrd's ``open(None, "array", data=arr)``)."""

    name = "array"
    file_based = False
    open = staticmethod(open)


FORMAT = ArrayFormat()

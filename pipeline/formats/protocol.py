"""hexrd's series protocol: any object with ``len``, ``[i]``, ``shape``, ``dtype``, ``metadata``.

hexrdgui and user code wrap series in their own classes (or build them from
small classes and mocks) that offer only that protocol.  :func:`as_series`
turns such an object into an :class:`~pipeline.series.ImageSeries`, so it is
accepted wherever a series is: processing, omega, statistics, writing and
``to_dask``.  Nothing is read when the object is wrapped; its ``shape`` and
``dtype`` are taken as declared, and frame 0 is read for them only when the
object does not declare them.
"""

from __future__ import annotations

import operator
import sys
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ops import Region
from pipeline.dtypes import convert
from pipeline.errors import EmptySeriesError, SeriesTypeError
from pipeline.formats.array import ArraySeries
from pipeline.formats.base import frame_numbers
from pipeline.series import FrameSelection, ImageSeries, region_index


def as_series(obj: Any) -> ImageSeries:
    """``obj`` as an image series, without reading a frame.

    Parameters
    ----------
    obj
        An :class:`~pipeline.series.ImageSeries` (returned as it is); a numpy
        or dask array, or an array-like with an integer ``ndim`` and no
        metadata dict (h5py, zarr datasets), of shape ``(N, *frame_shape)``
        (wrapped without a copy); or any object offering hexrd's series
        protocol: ``len(obj)``, ``obj[i]`` a frame, and where it can,
        ``shape`` and ``dtype`` of one frame, ``metadata`` (a dict) and
        ``get_region(i, ((r0, r1), (c0, c1)))``.

    Raises
    ------
    SeriesTypeError
        A TypeError: when ``obj`` offers neither ``len`` nor ``[i]`` (or is a string or mapping).
    """
    if isinstance(obj, ImageSeries):
        return obj
    if _is_array(obj):
        return ArraySeries(obj)
    kind = type(obj)
    if isinstance(obj, str | bytes | Mapping) or not (
        hasattr(kind, "__len__") and hasattr(kind, "__getitem__")
    ):
        raise SeriesTypeError(
            f"expected an image series, got {kind.__name__} ({obj!r:.60}); a series offers "
            "len(s), s[i] (a frame), shape and dtype of one frame and metadata (a dict), "
            "or is an array (N, rows, cols)"
        )
    return ProtocolSeries(obj)


def _is_array(obj: Any) -> bool:
    if isinstance(obj, np.ndarray):
        return True
    dask_array = sys.modules.get("dask.array")
    if dask_array is not None and isinstance(obj, dask_array.Array):
        return True
    # h5py and zarr datasets: an integer ndim and no metadata dict (a series has one)
    ndim = getattr(obj, "ndim", None)
    return (isinstance(ndim, int) and not isinstance(ndim, bool)
            and not isinstance(getattr(obj, "metadata", None), Mapping))


class ProtocolSeries(ImageSeries):
    """An object offering hexrd's series protocol, seen as an :class:`ImageSeries`.

    Frames come from ``obj[i]`` (with ``i`` a Python int, as hexrd passes
    them), or from ``obj.get_region(i, region)`` when a rectangle is asked
    for and the object has that method.  Frames are stacked into new arrays,
    so the caller may change them without changing the object's data.
    Metadata is the object's own dict (changes to it are seen both ways, as
    with any series); an object without a dict has empty metadata.
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
            shape, dtype = _declared_shape(self._obj), _declared_dtype(self._obj)
            if shape is None or dtype is None:
                if len(self) == 0:
                    raise EmptySeriesError(
                        f"{type(self._obj).__name__} has no frames and does not declare "
                        "shape and dtype; give it shape and dtype attributes"
                    )
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
        indices = frame_numbers(frames, len(self))
        full = region == self.spec.full_region
        index = region_index(region)
        want = tuple(hi - lo for lo, hi in region)
        blocks = []
        for j in indices:
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
        warnings.warn(
            f"{type(self._obj).__name__}.get_region({j}, {region!r}) returned shape "
            f"{frame.shape}, not {want}; reading whole frames through [i] instead",
            RuntimeWarning, stacklevel=4,
        )
        return None

    def description(self) -> dict[str, Any]:
        kind = type(self._obj)
        return {"format": "protocol", "type": f"{kind.__module__}.{kind.__qualname__}"}

    def __repr__(self) -> str:
        return f"<ProtocolSeries over {type(self._obj).__name__}: {len(self)} frames>"


def _declared_shape(obj: Any) -> tuple[int, ...] | None:
    shape = getattr(obj, "shape", None)
    if not isinstance(shape, tuple | list | np.ndarray):
        return None
    try:
        dims = tuple(operator.index(n) for n in shape)
    except TypeError:
        return None
    return dims if len(dims) >= 2 else None


def _declared_dtype(obj: Any) -> np.dtype | None:
    dtype = getattr(obj, "dtype", None)
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        return None


__all__ = ["ProtocolSeries", "as_series"]

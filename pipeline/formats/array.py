"""In-memory frames as a format: hexrd's ``open(None, "array", data=arr, meta={...})``.

The series is :class:`pipeline.series.ArraySeries` (``pipeline.from_array``).
"""

from __future__ import annotations

from typing import Any

from pipeline.errors import MissingOptionError, OptionValueError
from pipeline.formats._plugin import Format
from pipeline.series import ArraySeries, from_array


def open(path: None = None, data: Any = None, meta: dict[str, Any] | None = None,
         metadata: dict[str, Any] | None = None) -> ArraySeries:
    """hexrd's ``open(None, "array", data=arr, meta={...})``."""
    if data is None:
        raise MissingOptionError("the 'array' format needs data=, the array of frames")
    if path is not None:
        raise OptionValueError(
            f"the 'array' format takes no path (got {path!r}); pass data= instead")
    return ArraySeries(data, meta if meta is not None else metadata)


class ArrayFormat(Format):
    """In-memory numpy or dask arrays (hexrd's ``open(None, "array", data=arr)``)."""

    name = "array"
    file_based = False
    open = staticmethod(open)


FORMAT = ArrayFormat()

__all__ = ["FORMAT", "ArrayFormat", "ArraySeries", "from_array", "open"]

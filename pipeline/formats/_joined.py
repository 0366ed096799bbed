"""Several series one after another: what ``open([a, b, c])`` gives.

The frames of the first series, then those of the second, and so on, as pims'
``ImageSequence`` takes a list of files (in the caller's order, never
sorted).  Every part must have frames of one shape and dtype; the first part
that differs is named when the list is opened, before a frame is read.  A
read asks each part only for the frames it holds, in one read per run of
frames from the same part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ops import Region
from pipeline._selection import FrameSelection, as_selection, frame_numbers
from pipeline.errors import FrameShapeError, OptionValueError
from pipeline.formats.base import output
from pipeline.series import ImageSeries, counted


def _name(series: ImageSeries) -> str:
    return repr(series.description().get("path", series))


class JoinedSeries(ImageSeries):
    """The frames of ``parts``, one series after another.

    Parameters
    ----------
    parts
        Series with frames of one shape and dtype (at least one).
    """

    def __init__(self, parts: Sequence[ImageSeries]) -> None:
        self._parts = tuple(parts)
        if not self._parts:
            raise OptionValueError("an empty list of series has no frames; give at least one")
        first = self._parts[0]
        for part in self._parts[1:]:
            if part.shape != first.shape or part.dtype != first.dtype:
                raise FrameShapeError(
                    f"{_name(part)} holds frames of {part.shape} {part.dtype}, but "
                    f"{_name(first)} (the first of the list) has {first.shape} {first.dtype}; "
                    "the files of a list must agree (open them one by one to see each)")
        self._starts = np.cumsum([0, *(len(p) for p in self._parts)])

    @property
    def parts(self) -> tuple[ImageSeries, ...]:
        """The series joined, in order."""
        return self._parts

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def shape(self) -> tuple[int, ...]:
        return self._parts[0].shape

    @property
    def dtype(self) -> np.dtype:
        return self._parts[0].dtype

    @property
    def _axes(self) -> str:  # type: ignore[override]
        return self._parts[0].axes

    @property
    def metadata(self) -> dict[str, Any]:
        """The first part's metadata (pims gives the first file's too)."""
        return self._parts[0].metadata

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        indices = np.asarray(frame_numbers(frames, len(self)), np.int64)
        out = output(indices, region, self.dtype)
        which = np.searchsorted(self._starts, indices, side="right") - 1
        # one read per run of consecutive frames held by the same part
        breaks = np.flatnonzero(np.diff(which)) + 1
        for run in np.split(np.arange(len(indices)), breaks):
            if run.size:
                k = int(which[run[0]])
                local = indices[run] - self._starts[k]
                out[run] = self._parts[k].read(as_selection(local), region)
        return out

    def close(self) -> None:
        """Close every part."""
        super().close()
        for part in self._parts:
            part.close()

    def _in_memory(self) -> bool:
        return all(p.in_memory for p in self._parts)

    def source_paths(self) -> list[str]:
        paths = []
        for part in self._parts:
            path = part.description().get("path")
            paths += ([path] if isinstance(path, str) else []) + part.source_paths()
        return paths

    def _dask_token(self) -> str:
        from dask.base import tokenize

        return str(tokenize("joined", [p._dask_token() for p in self._parts]))

    def description(self) -> dict[str, Any]:
        return {"format": "list", "parts": [p.description() for p in self._parts]}

    def __repr__(self) -> str:
        return (f"<JoinedSeries: {counted(len(self), 'frame')} of {self.shape} {self.dtype} "
                f"from {counted(len(self._parts), 'file')}>")


__all__ = ["JoinedSeries"]

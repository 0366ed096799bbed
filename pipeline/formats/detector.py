"""X-ray detector image files read through fabio: GE, EDF, CBF, MAR, ADSC, Bruker and the rest.

Opening looks at the file's header only; each read reads one frame (a GE
frame, only the rows asked for).  The reading itself is :mod:`._fabio`'s,
which image-files lists share.
"""

from __future__ import annotations

import os

import numpy as np

from ops import Region
from pipeline.formats import _fabio
from pipeline.formats._plugin import Format
from pipeline.formats.base import FileSeries, frame_by_frame
from pipeline.series import counted


class DetectorImageSeries(FileSeries):
    """The frames of one detector image file (a multi-frame GE or EDF, or a single CBF, ...).

    Parameters
    ----------
    path
        The file; its format is recognised by fabio (magic bytes, then name).
    """

    format_name = "detector"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        info = _fabio.file_info(self._path)
        self._nframes, self._shape, self._dtype = info.nframes, info.shape, info.dtype
        self._meta = {"fabio_class": info.fabio_class, "header": dict(info.header)}

    @frame_by_frame
    def read(self, j: int, region: Region) -> np.ndarray:
        return _fabio.read_frame(self._path, j, region)

    def __repr__(self) -> str:
        return (f"<DetectorImageSeries {self._path!r} ({self.metadata['fabio_class']}): "
                f"{counted(len(self), 'frame')} of {self.shape} {self.dtype}>")


def open(path: str | os.PathLike[str]) -> DetectorImageSeries:
    """A detector image file as a series, lazily (``pipeline.open("scan.ge2")``)."""
    return DetectorImageSeries(path)


class DetectorFormat(Format):
    """Detector image files fabio reads (:func:`open`)."""

    name = "detector"
    aliases = ("fabio",)
    extensions = _fabio.EXTENSIONS
    requires = ("fabio",)
    extra = "detector"
    open = staticmethod(open)


FORMAT = DetectorFormat()

__all__ = ["FORMAT", "DetectorFormat", "DetectorImageSeries", "open"]

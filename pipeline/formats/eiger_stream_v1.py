"""Eiger stream files, version 1: ``/data/<i>/{data, compression_type, dtype, shape, elem_size}``.

hexrd's ``eiger-stream-v1`` format.  Opening reads the number of frames and
frame 0's ``shape`` and ``dtype`` fields; each frame read decodes that frame
only (see :mod:`pipeline.formats.eiger` for the encodings).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from pipeline.errors import SeriesOptionError
from pipeline.formats._plugin import Format
from pipeline.formats.eiger import (
    EigerStreamSeries,
    decompress_frame,
    read_fields,
    sniff_version,
)


class EigerStreamV1Series(EigerStreamSeries):
    """Frames of an Eiger stream v1 file.

    Parameters
    ----------
    fname
        The HDF5 file (a path, or an open ``h5py.File``, used as is).
    """

    format_name = "eiger-stream-v1"

    def __init__(self, fname: str | os.PathLike[str] | Any, **kwargs: Any) -> None:
        if kwargs:
            raise SeriesOptionError(
                f"eiger-stream-v1 takes no options, got {sorted(kwargs)!r}"
            )
        data = self._init_file(fname, 1)
        self._constant, (self._shape, self._dtype) = self._frame0(data["0"])

    def _fields(self, j: int) -> dict[str, Any]:
        return read_fields(self._group(j), self._constant)

    def _combine(self, fields: dict[str, Any]) -> np.ndarray:
        return decompress_frame(fields)


def open(fname: str | os.PathLike[str] | Any, **kwargs: Any) -> EigerStreamV1Series:
    """hexrd's ``open(f, "eiger-stream-v1")``, lazily."""
    return EigerStreamV1Series(fname, **kwargs)


def sniff(path: str) -> bool:
    """Whether ``path`` is an HDF5 file laid out as an Eiger stream, version 1."""
    return sniff_version(path) == 1


class EigerStreamV1Format(Format):
    """Eiger stream files, version 1 (:func:`open`)."""

    name = "eiger-stream-v1"
    aliases = ("eiger_stream_v1",)
    extensions = (".h5", ".hdf5")
    requires = ("h5py",)
    extra = "eiger"
    open = staticmethod(open)
    sniff = staticmethod(sniff)


FORMAT = EigerStreamV1Format()

__all__ = ["FORMAT", "EigerStreamV1Format", "EigerStreamV1Series", "open", "sniff"]

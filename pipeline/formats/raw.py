"""Headerless binary frames, memory-mapped; also hexrd's ``raw-image`` YAML description.

``open(f, "raw", dtype="<u2", shape=(rows, cols), offset=0, order="C")`` maps
the file after ``offset`` bytes as frames of ``shape``; the number of frames
follows from the file size.  hexrd's YAML form::

    filename: scan.bin          # relative to the YAML file
    scalar: {type: i, bytes: 2, signed: false, endian: little}
    shape: 2048 2048
    skip: 0                     # bytes before the first frame
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ops import Region
from pipeline.errors import NotASeriesError, NotMyFormat, OptionValueError
from pipeline.formats._plugin import Format
from pipeline.formats._yamldoc import is_yaml_text, load_yaml_source, sniff_yaml
from pipeline.formats.base import FileSeries
from pipeline.series import FrameSelection, region_index

YAML_EXTENSIONS = (".yml", ".yaml")


class RawSeries(FileSeries):
    """Frames stored back to back in a headerless file, read through ``np.memmap``.

    Parameters
    ----------
    path
        The binary file.
    dtype
        The pixel dtype, with its byte order (``"<u2"``, ``">f4"``, ...).
    shape
        ``(rows, cols)`` of one frame.
    offset
        Bytes before the first frame.
    order
        ``"C"`` (row-major frames, default) or ``"F"`` (column-major frames).
    metadata
        A dict reported as the series' metadata.
    """

    format_name = "raw"
    transient = ("_map",)  # mapped again where it is unpickled
    _map: np.memmap | None = None

    def __init__(self, path: str | os.PathLike[str], dtype: Any, shape: tuple[int, ...],
                 offset: int = 0, order: str = "C",
                 metadata: dict[str, Any] | None = None) -> None:
        self._path = os.fspath(path)
        self._stored = np.dtype(dtype)
        # the file's own dtype, byte order included (hexrd reports '>u2' for big-endian data)
        self._dtype = self._stored
        self._shape = tuple(int(n) for n in shape)
        self._offset = int(offset)
        if order not in ("C", "F"):
            raise OptionValueError(f"order={order!r}: frames are stored row-major 'C' or "
                                   "column-major 'F'")
        if len(self._shape) < 2 or min(self._shape) < 1:
            raise OptionValueError(f"shape={shape!r}: a frame shape is (rows, cols), each >= 1")
        self._order = order
        self._meta = {} if metadata is None else metadata
        frame_bytes = int(np.prod(self._shape)) * self._stored.itemsize
        if os.path.isdir(self._path):
            raise NotASeriesError(f"{self._path!r} is a directory, not a raw file of frames")
        size = os.path.getsize(self._path) - self._offset
        if size < 0:
            raise NotASeriesError(f"{self._path!r}: offset={offset} is beyond the file's "
                             f"{size + self._offset} bytes")
        self._nframes, extra = divmod(size, frame_bytes)
        if extra:
            raise NotASeriesError(
                f"{self._path!r}: Total number of bytes ({size + self._offset}) minus the offset "
                f"{self._offset} is not a whole number of frames of {self._shape} "
                f"{self._stored} ({frame_bytes} bytes each): {extra} bytes over after "
                f"{self._nframes} frames; check dtype=, shape= and offset= (skip:)"
            )
        if not self._nframes:
            raise NotASeriesError(f"{self._path!r} holds no frame: {size + self._offset} bytes "
                                  f"with offset {self._offset}")

    def _mapped(self) -> np.memmap:
        if self._map is None:
            stored = self._shape if self._order == "C" else self._shape[::-1]
            self._map = np.memmap(self._path, self._stored, "r", self._offset,
                                  (self._nframes, *stored))
        return self._map

    def options(self) -> dict[str, Any]:
        return {"dtype": self._stored.str, "shape": list(self._shape), "offset": self._offset,
                "order": self._order}

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        # the memory map takes the selection as it is: a slice stays a view until copied
        mapped = self._mapped()
        index = region_index(region)
        if self._order == "F":
            # column-major frames: the map holds each frame transposed
            block = mapped[(frames, *index[::-1])]
            block = block.transpose(0, *range(block.ndim - 1, 0, -1))
        else:
            block = mapped[(frames, *index)]
        return np.array(block, dtype=self._dtype)


def scalar_dtype(scalar: dict[str, Any], where: str) -> np.dtype:
    """hexrd's ``scalar: {type, bytes, signed, endian}`` as a numpy dtype."""
    kind, nbytes = scalar.get("type"), int(scalar.get("bytes", 4))
    endian = scalar.get("endian", "little")
    if endian not in ("little", "big"):
        raise NotASeriesError(f'{where}: scalar endian must be "big" or "little", got {endian!r}')
    order = "<" if endian == "little" else ">"
    if kind == "i":
        if nbytes not in (1, 2, 4, 8):
            raise NotASeriesError(f"{where}: integer scalar bytes {nbytes!r} must be 1, 2, 4 or 8")
        return np.dtype(f"{order}{'i' if scalar.get('signed', False) else 'u'}{nbytes}")
    codes = {"f": "f4", "d": "f8", "b": "?"}
    if kind not in codes:
        raise NotASeriesError(f"{where}: scalar type {kind!r} must be one of 'i', 'f', 'd', 'b'")
    return np.dtype(order + codes[kind])


def _from_yaml(source: Any) -> RawSeries:
    doc, path = load_yaml_source(source)
    where = repr(path) if path is not None else "the raw-image YAML text"
    if not isinstance(doc, dict) or not {"filename", "scalar", "shape"} <= set(doc):
        raise NotMyFormat(f"{where} is not a raw-image YAML (filename, scalar, shape)")
    shape = doc["shape"]
    shape = tuple(int(n) for n in (shape.split() if isinstance(shape, str) else shape))
    # relative to the YAML file; to the working directory for YAML text
    base = os.path.dirname(os.path.abspath(path)) if path is not None else os.getcwd()
    target = os.path.join(base, str(doc["filename"]))
    return RawSeries(target, scalar_dtype(doc["scalar"], where), shape,
                     offset=int(doc.get("skip", 0)), metadata=dict(doc.get("meta") or {}))


def open(path: str | os.PathLike[str], dtype: Any = None, shape: tuple[int, ...] | None = None,
         offset: int = 0, order: str = "C", metadata: dict[str, Any] | None = None
         ) -> RawSeries:
    """A headerless binary file of frames (``dtype=`` and ``shape=`` needed), or a raw YAML.

    The YAML may be a file or the YAML text itself.
    """
    if dtype is None and shape is None and is_yaml_text(path):
        return _from_yaml(path)
    text = os.fspath(path)
    if dtype is None and shape is None and text.lower().endswith(YAML_EXTENSIONS):
        return _from_yaml(text)
    if dtype is None or shape is None:
        raise NotMyFormat(
            f"{text!r}: a headerless raw file needs dtype= and shape= (rows, cols), "
            "e.g. open(f, 'raw', dtype='<u2', shape=(2048, 2048))"
        )
    return RawSeries(text, dtype, shape, offset=offset, order=order, metadata=metadata)


def sniff(path: str) -> bool:
    """Only raw YAML descriptions are recognised by content; binary files need format='raw'."""
    if not path.lower().endswith(YAML_EXTENSIONS):
        return True
    doc = sniff_yaml(path)
    return isinstance(doc, dict) and {"filename", "scalar", "shape"} <= set(doc)


class RawFormat(Format):
    """Headerless binary frames, or hexrd's raw-image YAML (:func:`open`)."""

    name = "raw"
    aliases = ("raw-image", "rawimage")
    extensions = (".raw", ".bin", ".dat", ".yml", ".yaml")
    open = staticmethod(open)
    sniff = staticmethod(sniff)


FORMAT = RawFormat()

__all__ = ["FORMAT", "RawFormat", "RawSeries", "open", "sniff"]

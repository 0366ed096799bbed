"""X-ray detector image files read through fabio: GE, EDF, CBF, MAR, ADSC, Bruker and the rest.

The reading both the ``detector`` format (:mod:`pipeline.formats.detector`)
and image-files lists (:mod:`pipeline.formats.imagefiles`) use, for every
file fabio reads that is not an ordinary picture.  A file's header is read
once (fabio reads it and its first frame) and kept while the file is
unchanged; each frame read reads one frame.  Multi-frame GE files (``.ge``,
``.ge2``, ..., ``.ge5``: an 8192-byte header, then frames of little-endian
integers) are read here directly, one frame (or only the rows asked for) per
read, with the layout fabio found in the header; other formats go through
fabio's ``getframe``.  ``.gel`` frames are transformed as hexrd does: bits
inverted, squared and scaled (float64).
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import importlib.util
import os
from typing import Any

import numpy as np

from ops import Region, require
from pipeline.errors import FrameIndexError, NotASeriesError, NotMyFormat
from pipeline.series import region_index

EXTENSIONS = (".ge", ".ge1", ".ge2", ".ge3", ".ge4", ".ge5", ".gel", ".edf", ".edf.gz",
              ".edf.bz2", ".cbf", ".cbf.gz", ".cbf.bz2", ".mccd", ".mar2300", ".mar3450",
              ".mar3600", ".sfrm", ".img", ".kcd", ".xsd", ".mrc", ".dm3", ".rodhypix",
              ".esperanto")
"""Detector image files fabio reads, by extension."""

PICTURE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
"""Ordinary pictures and TIFF, left to imageio and tifffile in image-files lists."""

GEL_SCALE_FACTOR = 2.9452155399372724e-07
"""hexrd's scale of ``.gel`` data: ``(~raw).astype(float64) ** 2 * GEL_SCALE_FACTOR``."""


def _fabio() -> Any:
    return require("fabio", "detector", "detector image files")


def claims(path: str) -> bool:
    """Whether an image-files list reads ``path`` through fabio rather than tifffile/imageio.

    Detector extensions always (a missing fabio then names the extra), other
    names when fabio is installed and the file is not an ordinary picture
    (numbered files such as ``scan.0001`` are common among detectors).
    """
    lower = path.lower()
    if lower.endswith(EXTENSIONS):
        return True
    return not lower.endswith(PICTURE_EXTENSIONS) and _fabio_installed()


def _fabio_installed() -> bool:
    try:
        return importlib.util.find_spec("fabio") is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules (None)
        return False


def listed_info(path: str) -> tuple[int, tuple[int, ...], np.dtype] | None:
    """``(frames, shape, dtype)`` of a file in an image-files list, or None to leave it to imageio.

    A detector extension fabio cannot read is an error; any other name fabio
    declines goes back to imageio.
    """
    if not claims(path):
        return None
    try:
        info = file_info(path)
    except NotMyFormat as err:
        if path.lower().endswith(EXTENSIONS):
            raise NotASeriesError(str(err)) from err
        return None
    return info.nframes, info.shape, info.dtype


def is_gel(path: str) -> bool:
    """Whether ``path`` is a ``.gel`` file, whose frames :func:`gel_transform` converts."""
    return os.path.splitext(path)[1] == ".gel"  # as hexrd: exactly this extension


def gel_transform(data: np.ndarray) -> np.ndarray:
    """hexrd's ``.gel`` conversion: bits inverted, squared and scaled, in float64."""
    return np.invert(data).astype(np.float64) ** 2 * GEL_SCALE_FACTOR


@dataclasses.dataclass(frozen=True)
class FileInfo:
    """What opening one file tells: frames, frame shape and dtype (after any transform)."""

    nframes: int
    shape: tuple[int, ...]
    dtype: np.dtype
    fabio_class: str
    ge_layout: tuple[int, int, str] | None = None
    """``(first frame's offset, bytes per frame, stored dtype)`` for GE files read directly."""
    header: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)


def file_info(path: str) -> FileInfo:
    """The :class:`FileInfo` of ``path``, from fabio's reading of its header."""
    path = os.fspath(path)
    stat = os.stat(path)
    return _cached_info(os.path.abspath(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _cached_info(path: str, mtime_ns: int, size: int) -> FileInfo:
    fabio = _fabio()
    try:
        img = fabio.open(path)
    except Exception as err:  # fabio raises anything from IOError to struct.error
        raise NotMyFormat(f"fabio cannot read {path!r}: {err}") from err
    with img:
        _check_blocks(path, img, size)
        try:
            data = np.asarray(img.data)
        except (MemoryError, ValueError, OSError, EOFError) as err:
            # fabio decodes lazily: a header's sizes meet the bytes only here
            raise NotASeriesError(f"{path!r}: fabio cannot read its first frame: "
                                  f"{type(err).__name__}: {err}") from err
        cls = type(img).__name__
        layout = _ge_layout(img, data) if cls == "GeImage" else None
        header = _plain_header(img.header)
        nframes = int(img.nframes)
    if is_gel(path):
        data = gel_transform(data)
    return FileInfo(nframes, tuple(data.shape), np.dtype(data.dtype.newbyteorder("=")), cls,
                    layout, header)


def _check_blocks(path: str, img: Any, size: int) -> None:
    """Refuse an EDF file whose frames' data blocks run past its end.

    fabio pads a short block with zeros (and logs it), which would read as
    frames that are silently wrong; a block claiming absurd sizes would be
    allocated.  Compressed files (``.gz``, ``.bz2``) are checked as they decode.
    """
    if path.lower().endswith((".gz", ".bz2")):
        return
    for k, frame in enumerate(getattr(img, "_frames", None) or ()):
        start, blob = getattr(frame, "start", None), getattr(frame, "blobsize", None)
        if isinstance(start, int) and isinstance(blob, int) and start + blob > size:
            raise NotASeriesError(
                f"{path!r} is truncated: frame {k}'s data block needs bytes {start} to "
                f"{start + blob}, but the file holds {size}"
            )


def _ge_layout(img: Any, data: np.ndarray) -> tuple[int, int, str]:
    header = img.header
    offset = int(header["StandardHeaderSizeInBytes"]) + int(header["UserHeaderSizeInBytes"])
    stored = data.dtype.newbyteorder("<")
    return offset, int(data.size) * stored.itemsize, stored.str


def _plain_header(header: Any) -> dict[str, Any]:
    """A fabio header as metadata: numbers kept, text decoded, binary blobs dropped."""
    out: dict[str, Any] = {}
    for key, value in dict(header).items():
        if isinstance(value, bytes):
            text = value.rstrip(b"\0")
            if not text or any(b < 32 or b > 126 for b in text):
                continue
            value = text.decode("ascii")
        if isinstance(value, int | float | str):
            out[str(key)] = value
    return out


def read_frame(path: str, frame: int, region: Region | None = None) -> np.ndarray:
    """Frame ``frame`` of ``path`` (restricted to ``region`` when given), one frame read."""
    info = file_info(path)
    if not 0 <= frame < info.nframes:
        raise FrameIndexError(
            f"{path!r} holds {info.nframes} frames; frame {frame} does not exist"
        )
    if info.ge_layout is not None:
        data = _read_ge(path, frame, info, region)
        region = None
    else:
        data = _read_fabio(path, frame)
    if is_gel(path):
        data = gel_transform(data)
    if region is not None:
        data = data[region_index(region)]
    return data.astype(data.dtype.newbyteorder("="), copy=False)


def _read_fabio(path: str, frame: int) -> np.ndarray:
    try:
        with _fabio().open(path) as img:
            # fabio does arithmetic on the frame number: give it a Python int (as hexrd)
            return np.asarray(img.data if frame == 0 else img.getframe(int(frame)).data)
    except (MemoryError, ValueError, OSError, EOFError, IndexError) as err:
        raise NotASeriesError(f"{path!r}: fabio cannot read frame {frame}: "
                              f"{type(err).__name__}: {err}") from err


def _read_ge(path: str, frame: int, info: FileInfo, region: Region | None) -> np.ndarray:
    offset, frame_bytes, stored = info.ge_layout  # type: ignore[misc]
    rows, cols = info.shape
    (r0, r1), (c0, c1) = region if region is not None else ((0, rows), (0, cols))
    dtype = np.dtype(stored)
    with builtins.open(path, "rb") as fh:  # only the rows asked for
        fh.seek(offset + frame * frame_bytes + r0 * cols * dtype.itemsize)
        raw = fh.read((r1 - r0) * cols * dtype.itemsize)
    if len(raw) < (r1 - r0) * cols * dtype.itemsize:
        raise NotASeriesError(f"{path!r} is truncated: its header promises {info.nframes} "
                              f"frames but the file ends within frame {frame}")
    data = np.frombuffer(raw, dtype).reshape(r1 - r0, cols)[:, c0:c1]
    return data.copy() if c0 or c1 != cols else data


__all__ = ["EXTENSIONS", "FileInfo", "claims", "file_info", "gel_transform", "is_gel",
           "listed_info", "read_frame"]

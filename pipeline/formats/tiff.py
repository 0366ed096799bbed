"""Multi-page and OME-TIFF stacks, opened lazily with tifffile.

The file's first series is the stack.  Its axes (``TYX``, ``ZCYX``,
``QYX``...) say which are frame axes: every axis but ``C``, ``S``, ``Y`` and
``X``, and but ``Z`` when there is a ``T`` (a ``TZCYX`` file has frames
``T`` of axes ``CZYX``, the order OME-Zarr uses); several frame axes are
flattened into one, in file order.  Frames keep ``C``, ``Z`` and ``S`` as
leading axes before ``Y, X``, so geometric ops act on the image plane, and
``series.axes`` names them.  OME-XML and ImageJ metadata (pixel sizes, units,
time increment, channel names) are read into the schema of
:mod:`pipeline.microscopy`.  ``axes=`` names the stored axes when the file does
not (``"YXT"`` for a stack stored with frames last).

When the frame axes lead the stored layout, a frame read reads only that
frame's pages; otherwise (frames last) each read decodes the whole stack.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import os
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

from ops import Region, require
from pipeline import _json
from pipeline.errors import AxesError, NotASeriesError, NotMyFormat, OptionValueError
from pipeline.formats import _tiffmeta
from pipeline.formats._encoding import FileEncoding
from pipeline.formats._filewrite import frame_metadata
from pipeline.formats._plugin import Format
from pipeline.formats.base import FileSeries, frame_numbers, output, readable
from pipeline.series import FrameSelection, ImageSeries, region_index

INNER_AXES = "CZS"
"""Axes kept inside a frame, before Y and X, in this order (``Z`` only when there is a ``T``)."""

META_KEY = "lazyseries"
"""Key of the shaped-TIFF metadata under which the series' metadata is written."""


def _tifffile() -> Any:
    return require("tifffile", "tiff", "the 'tiff' format")


def frame_layout(stored_axes: str, shape: tuple[int, ...], where: str
                 ) -> tuple[list[int], list[int]]:
    """Positions of the frame axes and of the in-frame axes (``C, S, Y, X`` order)."""
    axes = stored_axes.upper()
    if len(axes) != len(shape) or len(set(axes)) != len(axes) or not {"Y", "X"} <= set(axes):
        raise AxesError(
            f"{where}: axes {stored_axes!r} must name each of the {len(shape)} stored axes "
            f"(shape {shape}) once, including Y and X, e.g. 'TYX', 'ZYX' or 'YXT'"
        )
    kept = INNER_AXES if "T" in axes else INNER_AXES.replace("Z", "")
    frame_axes = [i for i, a in enumerate(axes) if a not in kept + "YX"]
    inner = sorted((i for i, a in enumerate(axes) if a in kept),
                   key=lambda i: INNER_AXES.index(axes[i]))
    return frame_axes, [*inner, axes.index("Y"), axes.index("X")]


def series_axes(stored_axes: str, inner: list[int]) -> str | None:
    """The series' axes (``T`` and the frame's) for the in-frame positions ``inner``."""
    letters = [stored_axes[i] for i in inner]
    if "S" in letters:
        if "C" in letters:
            return None
        letters[letters.index("S")] = "C"  # samples (RGB) are the frame's channels
    return "T" + "".join(letters)


class TiffSeries(FileSeries):
    """Frames of a (multi-page, OME-) TIFF file's first series.

    Parameters
    ----------
    path
        The TIFF file.
    axes
        The stored axes, overriding the file's own (same length as its shape).
    storage_options
        Passed to fsspec when ``path`` is a URL (``s3://``, ``memory://``...).
    """

    format_name = "tiff"

    def __init__(self, path: str | os.PathLike[str], axes: str | None = None,
                 storage_options: dict[str, Any] | None = None) -> None:
        self._path = os.fspath(path)
        self._axes_arg = axes
        self._storage_options = storage_options
        tifffile = _tifffile()
        with _quiet_tifffile() as log, contextlib.ExitStack() as stack:
            try:
                tf = tifffile.TiffFile(readable(self._path, storage_options, stack))
            except IsADirectoryError:
                raise NotASeriesError(f"{self._path!r} is a directory, not a TIFF file") from None
            except (tifffile.TiffFileError, struct.error, EOFError) as err:  # truncated headers
                if _tiff_magic(self._path):  # a TIFF, cut short or corrupt: not another format's
                    raise NotASeriesError(f"{self._path!r} is a truncated or corrupt TIFF file "
                                          f"({type(err).__name__}: {err})") from None
                raise NotMyFormat(f"{self._path!r} is not a TIFF file: {err}") from err
            with tf, self._corrupt():
                if not tf.series:
                    raise NotASeriesError(f"{self._path!r} is a TIFF file without a readable "
                                          "image series (its image directories do not parse)")
                self._read_header(tf, axes)
        if log.errors:  # tifffile skipped what it could not parse: frames would be missing
            raise NotASeriesError(f"{self._path!r} is a truncated or corrupt TIFF file "
                                  f"({log.errors[0]})")
        self._nframes = int(np.prod([self._stored_shape[i] for i in self._frame_axes]))
        self._pages_per_frame = self._npages // max(self._nframes, 1)
        # frames are runs of pages when the frame axes lead and the pages split evenly
        self._paged = (self._frame_axes == list(range(len(self._frame_axes)))
                       and self._pages_per_frame * self._nframes == self._npages)

    def _read_header(self, tf: Any, axes: str | None) -> None:
        with self._corrupt():
            series = tf.series[0]
            # a local file: its pages' data must be in it
            missing = _missing_data(series, self._path) if os.path.isfile(self._path) else None
            self._stored_shape = tuple(int(n) for n in series.shape)
            self._stored_axes = (axes or series.axes).upper()
            self._dtype = np.dtype(series.dtype)
            self._npages = len(series.pages)
        if missing:
            raise NotASeriesError(f"{self._path!r} is a truncated or corrupt TIFF file ({missing})")
        self._frame_axes, self._inner = frame_layout(self._stored_axes, self._stored_shape,
                                                     repr(self._path))
        self._axes = series_axes(self._stored_axes, self._inner)
        self._meta = self._metadata_of(tf)

    def _metadata_of(self, tf: Any) -> dict[str, Any]:
        channels = self._stored_shape[self._inner[0]] if self._axes and "C" in self._axes \
            else None
        with self._corrupt():
            # the writer's own JSON wins: it holds every entry exactly as it was given
            return {**_shaped_metadata(tf), **_tiffmeta.read(tf, channels),
                    **_tiffmeta.read_json(tf)}

    def read_metadata(self) -> dict[str, Any]:
        with self.lock:
            return self._metadata_of(self.handle)

    @contextlib.contextmanager
    def _corrupt(self) -> Iterator[None]:
        """What tifffile raises on a truncated or corrupt file, as a project error naming it."""
        try:
            yield
        except (IndexError, ValueError, KeyError, EOFError, OSError, struct.error,
                _tifffile().TiffFileError) as err:
            raise NotASeriesError(f"{self._path!r} is a truncated or corrupt TIFF file "
                                  f"({type(err).__name__}: {err})") from None

    def open_handle(self, stack: contextlib.ExitStack) -> Any:
        with _quiet_tifffile():  # what it would say was said when the series was opened
            where = readable(self._path, self._storage_options, stack)
            return stack.enter_context(_tifffile().TiffFile(where))

    # -- the interface ---------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._stored_shape[i] for i in self._inner)

    @property
    def stored_axes(self) -> str:
        """The stored axes as read from the file (or given as ``axes=``)."""
        return self._stored_axes

    @property
    def frame_chunk(self) -> int | None:
        return 1

    def _frame_pages(self, j: int) -> np.ndarray:
        """Frame ``j`` in its stored in-frame axis order, from its own pages only."""
        ppf = self._pages_per_frame
        with self.lock:
            data = self.handle.asarray(series=0, key=range(j * ppf, (j + 1) * ppf))
        inner_sorted = sorted(self._inner)
        return data.reshape([self._stored_shape[i] for i in inner_sorted])

    def _all_frames(self) -> np.ndarray:
        """Every frame, ``(N, *shape)``, from the whole stack (layouts with frames not first)."""
        with self.lock:
            data = self.handle.asarray(series=0).reshape(self._stored_shape)
        data = data.transpose(self._frame_axes + self._inner)
        return data.reshape(self._nframes, *self.shape)

    def options(self) -> dict[str, Any]:
        return {} if self._axes_arg is None else {"axes": self._axes_arg}

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        indices = frame_numbers(frames, len(self))
        index = region_index(region)
        if not self._paged:
            key: tuple[Any, ...] = (np.asarray(indices, np.intp), *index)
            return np.ascontiguousarray(self._all_frames()[key])
        out = output(indices, region, self._dtype)
        order = np.argsort(np.argsort(self._inner))  # stored in-frame order -> C, S, Y, X
        for k, j in enumerate(indices):
            out[k] = self._frame_pages(int(j)).transpose(order)[index]
        return out


def _shaped_metadata(tf: Any) -> dict[str, Any]:
    shaped: Any = tf.shaped_metadata or ({},)
    meta = {k: v for k, v in dict(shaped[0]).items() if k not in ("shape", "axes")}
    if isinstance(meta.get(META_KEY), dict):
        meta.update(_json.decode(meta.pop(META_KEY)))
    return meta


def open(path: str | os.PathLike[str], axes: str | None = None,
         storage_options: dict[str, Any] | None = None) -> TiffSeries:
    """A TIFF stack, lazily; ``axes=`` names the stored axes when the file does not."""
    return TiffSeries(path, axes=axes, storage_options=storage_options)


def sniff(path: str) -> bool:
    try:
        with builtins.open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head[:2] in (b"II", b"MM") and head[2:4] in (b"*\x00", b"\x00*", b"+\x00", b"\x00+")


STYLES = ("ome", "imagej", "plain")
"""What the TIFF writer writes: OME-TIFF (default), an ImageJ hyperstack, or a plain TIFF."""


def is_tiff(path: str) -> bool:
    """Whether ``path`` is a TIFF file (classic or BigTIFF), by its first bytes."""
    return sniff(path)


def encoder(series: ImageSeries, target: str = "", compression: Any = None,
            style: str = "ome") -> FileEncoding:
    """Encode ``series`` as a multi-page TIFF, one page per 2-d plane.

    ``style="ome"`` (default) writes an OME-TIFF, ``"imagej"`` an ImageJ
    hyperstack (``TZCYX``; uint8, uint16, int16 or float32 frames), each with
    the pixel sizes, units, time increment and channel names of the metadata
    (:mod:`pipeline.microscopy`); ``"plain"`` a shaped TIFF.  The whole
    metadata is also kept as JSON (values come back with their types, arrays
    with their dtype).  ``compression`` is passed to tifffile (e.g.
    ``"zlib"``).  A TIFF cannot hold a series of no frames
    (:class:`~pipeline.errors.EmptySeriesError`).
    """

    tifffile = _tifffile()
    axes, full = _write_axes(series, style)
    meta = frame_metadata(series)
    extratags = [_tiffmeta.json_tag(meta)]  # fails on unstorable metadata before any frame
    order = _plane_order(axes, style)
    options: dict[str, Any] = {"metadata": {"axes": axes}, "extratags": extratags}
    if style == "ome":
        options["metadata"] = _tiffmeta.ome_metadata(meta, axes, full)
    elif style == "imagej":
        options.update(_tiffmeta.imagej_options(meta, axes, full))
        full = tuple(full[axes.index(a)] for a in options["metadata"]["axes"])
    dtype, big = series.dtype, series.nbytes > 2**31 and style != "imagej"

    def encode(tmp: str, blocks: Any) -> None:
        def planes() -> Any:
            for _, block in blocks:
                yield from block.transpose(order).reshape(-1, *block.shape[-2:])

        with tifffile.TiffWriter(tmp, bigtiff=big, ome=style == "ome",
                                 imagej=style == "imagej") as tw:
            tw.write(planes(), shape=full, dtype=dtype, photometric="minisblack",
                     planarconfig="separate" if style == "plain" and len(full) == 4 else None,
                     compression=compression, **options)

    return FileEncoding("tiff", encode, is_tiff, TiffSeries, empty_ok=False,
                        estimate=series.nbytes if compression is None else 0)


def _write_axes(series: ImageSeries, style: str) -> tuple[str, tuple[int, ...]]:
    """The axes and whole shape to write; every check made before a frame is computed."""
    if style not in STYLES:
        raise OptionValueError(f"unknown TIFF style {style!r}; choose one of {list(STYLES)}")
    shape, axes = tuple(series.shape), series.axes
    if len(shape) not in (2, 3, 4) or any(a not in "TCZYX" for a in axes):
        raise AxesError(f"the tiff writer takes frames with axes among C, Z, Y, X (2 to 4 of "
                        f"them), not {shape} with axes {axes!r}")
    if style == "imagej" and series.dtype.char not in _tiffmeta.IMAGEJ_DTYPES:
        raise OptionValueError(f"ImageJ TIFFs hold uint8, uint16, int16 or float32 frames, not "
                               f"{series.dtype}; convert first or write style='ome'")
    if style == "plain" and "Z" in axes:
        raise OptionValueError(f"style='plain' writes frames of axes YX or CYX, not {axes!r}; "
                               "write style='ome'")
    return axes, (len(series), *shape)


def _plane_order(axes: str, style: str) -> tuple[int, ...]:
    """The transpose of a block of frames into the order its planes are written."""
    if style != "imagej":
        return tuple(range(len(axes)))
    return tuple(axes.index(a) for a in "TZCYX" if a in axes)


class TiffFormat(Format):
    """TIFF stacks, OME-TIFF and ImageJ hyperstacks (:func:`open`, :func:`encoder`)."""

    name = "tiff"
    aliases = ("tif", "ome-tiff")
    extensions = (".tif", ".tiff")
    requires = ("tifffile",)
    extra = "tiff"
    writes = "file"
    open = staticmethod(open)
    sniff = staticmethod(sniff)
    encoder = staticmethod(encoder)


FORMAT = TiffFormat()

__all__ = ["FORMAT", "TiffFormat", "TiffSeries", "encoder", "frame_layout", "open", "sniff"]


class _TiffLog(logging.Handler):
    """Keeps what tifffile logs instead of printing it: its errors mean a broken file."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.append(record.getMessage())


@contextlib.contextmanager
def _quiet_tifffile() -> Iterator[_TiffLog]:
    """tifffile logs what it finds wrong in a file (and goes on with less); collect it."""
    log = logging.getLogger("tifffile")
    handler = _TiffLog()
    propagate = log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


def _tiff_magic(path: str) -> bool:
    """Whether a local file starts as a TIFF (classic or BigTIFF, either byte order) does."""
    try:
        with builtins.open(path, "rb") as f:  # this module's open() opens series
            head = f.read(4)
    except OSError:
        return False
    return head in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _missing_data(series: Any, path: str) -> str | None:
    """What a truncated file lacks (the first or last page's data), or None if complete."""
    size = os.path.getsize(path)
    pages = series.pages
    if not len(pages):
        return "no pages"
    for page in (pages[0], pages[len(pages) - 1]):
        offsets, counts = tuple(page.dataoffsets), tuple(page.databytecounts)
        if not offsets or len(offsets) != len(counts) or not all(offsets):
            return f"page {page.index} has no valid data offsets"
        end = max(o + n for o, n in zip(offsets, counts, strict=True))
        if end > size:
            return f"page {page.index}'s data ends at byte {end}, the file has {size}"
    return None

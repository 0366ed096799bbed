"""Image files as frames, as pims' ``ImageSequence`` takes them: one file, a glob, a directory.

``open("frame.png")`` is a series of one frame; ``open("frames/*.png")`` and
``open("frames/")`` are a frame per file, in natural order (``img2`` before
``img10``).  A directory contributes the files with a known image extension.

Only the first file's header is read when the series opens (every image of a
sequence is taken to have its shape and dtype; one that does not is an
error when it is read).  A frame read opens its file, reads its image and
closes it.  Colour images are frames ``(C, Y, X)``.  TIFF files are read
with tifffile, one page each: a multi-page stack in a sequence is refused
(open it alone, or list stacks in an image-files YAML).  ``mode=`` converts every
image with Pillow (``"L"``: grey, ``"RGB"``, ``"I;16"``...), as pims'
``as_grey`` does for grey.
"""

from __future__ import annotations

import glob
import os
import struct
from typing import Any

import numpy as np

from ops import Region, require
from pipeline.errors import NotASeriesError, NotMyFormat, OptionValueError
from pipeline.formats import _imageio
from pipeline.formats._imageio import IMAGE_EXTENSIONS
from pipeline.formats._plugin import Format
from pipeline.formats.base import FileSeries, frame_by_frame
from pipeline.series import region_index

PIL_MODES: dict[str, tuple[str, int | None]] = {
    "L": ("uint8", None), "I;16": ("uint16", None), "I": ("int32", None),
    "F": ("float32", None), "LA": ("uint8", 2), "RGB": ("uint8", 3), "RGBA": ("uint8", 4),
}
"""Pillow modes ``mode=`` takes: the dtype and channels of an image converted to each."""

TIFF_EXTENSIONS = (".tif", ".tiff")


def image_files(path: str) -> list[str]:
    """The files ``path`` names (a file, a glob or a directory), in natural order."""
    natsort = require("natsort", "images", "image sequences")
    if glob.has_magic(path) and not os.path.exists(path):
        files = [f for f in glob.glob(path) if os.path.isfile(f)]
        if not files:
            raise NotMyFormat(f"no files match the pattern {path!r}")
    elif os.path.isdir(path):
        files = [e.path for e in os.scandir(path) if e.is_file() and not e.name.startswith(".")
                 and e.name.lower().endswith(IMAGE_EXTENSIONS)]
        if not files:
            raise NotMyFormat(f"the directory {path!r} holds no image files "
                              f"(looked for {', '.join(IMAGE_EXTENSIONS)})")
    elif os.path.isfile(path):
        files = [path]
    else:
        raise NotMyFormat(f"{path!r} is neither an image file, a glob nor a directory")
    return list(natsort.natsorted(files))


def _tifffile() -> Any:
    return require("tifffile", "images", "TIFF files in an image sequence")


def _tiff_header(path: str) -> tuple[tuple[int, ...], np.dtype]:
    """A TIFF image's first page; a file of several pages is a stack, not one image."""
    tifffile = _tifffile()
    try:
        with tifffile.TiffFile(path) as tf:
            pages, page = len(tf.pages), tf.pages.first
            shape, dtype = _page_frame_shape(page), np.dtype(page.dtype)
    except (tifffile.TiffFileError, struct.error, EOFError) as err:
        raise NotMyFormat(f"{path!r} is not a TIFF image: {err}") from err
    if pages > 1:
        raise NotASeriesError(
            f"{path!r} holds {pages} pages; an image sequence takes one image per file. "
            "Open a stack by itself (format 'tiff'), or list stacks in an image-files YAML"
        )
    return shape, dtype


def _page_frame_shape(page: Any) -> tuple[int, ...]:
    shape = tuple(int(n) for n in page.shape)
    # samples (RGB) stored contiguous come last, planar ones first: frames have them first
    return (shape[-1], *shape[:-1]) if page.axes.endswith("S") else shape


def _read_tiff(path: str) -> np.ndarray:
    """The first page of a TIFF file as a frame (samples first)."""
    with _tifffile().TiffFile(path) as tf:
        page = tf.pages.first
        data = page.asarray()
        return np.moveaxis(data, -1, 0) if page.axes.endswith("S") else data


def _image_header(path: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        props = _imageio.read_image(path, props=True, index=0)
    except ImportError:
        raise
    except _imageio.not_readable() as err:
        raise NotMyFormat(f"{path!r} is not an image imageio reads: "
                          f"{_imageio.first_line(err)}") from err
    return _imageio.frame_shape(props.shape), np.dtype(props.dtype)


class ImageSequenceSeries(FileSeries):
    """A frame per image file, read one file at a time.

    Parameters
    ----------
    path
        An image file, a glob (``"frames/*.png"``) or a directory of images.
    mode
        A Pillow mode every image is converted to (``"L"`` for grey); one of
        :data:`PIL_MODES`.  Default: as stored.
    """

    format_name = "image-sequence"

    def __init__(self, path: str | os.PathLike[str], mode: str | None = None) -> None:
        self._path = os.fspath(path)
        if mode is not None and mode not in PIL_MODES:
            raise OptionValueError(f"mode={mode!r} is not a Pillow mode this reader converts to; "
                                   f"use one of {sorted(PIL_MODES)}")
        self._mode = mode
        self._files = image_files(self._path)
        self._nframes = len(self._files)
        self._shape, self._dtype = self._header(self._files[0])
        self._meta = {}

    def _header(self, first: str) -> tuple[tuple[int, ...], np.dtype]:
        if self._mode is None and first.lower().endswith(TIFF_EXTENSIONS):
            shape, dtype = _tiff_header(first)
        else:
            shape, dtype = _image_header(first)
        if self._mode is None:
            return shape, dtype
        mode_dtype, channels = PIL_MODES[self._mode]
        rows, cols = shape[-2:]
        return ((rows, cols) if channels is None else (channels, rows, cols)), np.dtype(mode_dtype)

    @property
    def files(self) -> list[str]:
        """The image files, one per frame, in frame order."""
        return list(self._files)

    def source_paths(self) -> list[str]:
        return self.files

    def read_image(self, j: int) -> np.ndarray:
        """Frame ``j`` as a whole, read from its file and checked against the series' spec."""
        name = self._files[j]
        try:
            frame = self._load(name)
        except _imageio.not_readable() as err:
            if isinstance(err, NotASeriesError | ImportError):
                raise
            raise _imageio.unreadable_frame(name, j, err) from err
        if frame.shape != self._shape or frame.dtype != self._dtype:
            raise NotASeriesError(
                f"{name!r} holds an image of shape {frame.shape} {frame.dtype}, but "
                f"{self._files[0]!r} (frame 0) has {self._shape} {self._dtype}; the images of "
                "a sequence must agree (mode='L' or 'RGB' converts them all)"
            )
        return frame

    def _load(self, name: str) -> np.ndarray:
        if self._mode is None and name.lower().endswith(TIFF_EXTENSIONS):
            return _read_tiff(name)
        options: dict[str, Any] = {} if self._mode is None else {"plugin": "pillow",
                                                                  "mode": self._mode}
        return _imageio.as_frame(_imageio.read_image(name, index=0, **options))

    @frame_by_frame
    def read(self, j: int, region: Region) -> np.ndarray:
        return self.read_image(j)[region_index(region)]

    def options(self) -> dict[str, Any]:
        return {} if self._mode is None else {"mode": self._mode}

    def stamped_files(self) -> list[str]:
        return self._files


def open(path: str | os.PathLike[str], mode: str | None = None) -> ImageSequenceSeries:
    """An image file, a glob or a directory of images, lazily: a frame per file."""
    return ImageSequenceSeries(path, mode=mode)


def sniff(path: str) -> bool:
    """Directories, globs and files with an image extension.

    imageio reads more than images (it would take an SPE file's first frame
    for a picture), so detection leaves other files to their own formats;
    ``format="image-sequence"`` opens any file imageio reads.
    """
    return (os.path.isdir(path) or glob.has_magic(path)
            or path.lower().endswith(IMAGE_EXTENSIONS))


class ImageSequenceFormat(Format):
    """An image file, a glob or a directory of images (:func:`open`)."""

    name = "image-sequence"
    aliases = ("images", "image", "imagesequence", "image_sequence")
    extensions = IMAGE_EXTENSIONS
    requires = ("imageio", "natsort")
    extra = "images"
    open = staticmethod(open)
    sniff = staticmethod(sniff)


FORMAT = ImageSequenceFormat()

__all__ = ["FORMAT", "PIL_MODES", "ImageSequenceFormat", "ImageSequenceSeries", "image_files", "open", "sniff"]

"""Image files as frames, as pims' ``ImageSequence`` takes them: file, glob, directory, zip.

``open("frame.png")`` is a series of one frame; ``open("frames/*.png")``,
``open("frames/")`` and ``open("frames.zip")`` are a frame per file, in
natural order (``img2`` before ``img10``).  A directory or an archive
contributes the files with a known image extension (hidden ones and
``__MACOSX`` left out).  ``name_axes="tzc"`` reads axes from the file names,
as pims' ``ImageSequenceND``: ``cell_t001_z002_c1.png`` is time point 1,
plane 2 of channel 1, and a frame holds every file of one time point.

Only the first file's header is read when the series opens (every image of a
sequence is taken to have its shape and dtype; one that does not is an
error when it is read).  A frame read opens its files, reads their images and
closes them (a zip archive stays open until the series is closed).  Colour
images are frames ``(C, Y, X)``.  TIFF files are read with tifffile, one page
each: a multi-page stack in a sequence is refused (open it alone, or list
stacks in an image-files YAML).  ``mode=`` converts every image with Pillow
(``"L"``: grey, ``"RGB"``, ``"I;16"``...), as pims' ``as_grey`` does for grey.
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import struct
import zipfile
from typing import IO, Any

import numpy as np

from ops import Region, require
from pipeline.axes import AXIS_LETTERS
from pipeline.errors import AxesError, NotASeriesError, NotMyFormat, OptionValueError
from pipeline.formats import _imageio, _nameaxes
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
ARCHIVE_EXTENSIONS = (".zip",)

MAX_MEMBER_BYTES = 2**32
"""The largest archive member read as an image (4 GiB): more is damaged or hostile."""


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


def _tiff_header(path: str, data: IO[bytes] | None = None) -> tuple[tuple[int, ...], np.dtype]:
    """A TIFF image's first page; a file of several pages is a stack, not one image."""
    tifffile = _tifffile()
    try:
        with tifffile.TiffFile(path if data is None else data) as tf:
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


def _read_tiff(path: str, data: IO[bytes] | None = None) -> np.ndarray:
    """The first page of a TIFF file as a frame (samples first)."""
    with _tifffile().TiffFile(path if data is None else data) as tf:
        page = tf.pages.first
        image = page.asarray()
        return np.moveaxis(image, -1, 0) if page.axes.endswith("S") else image


def _image_header(path: str, data: IO[bytes] | None = None) -> tuple[tuple[int, ...], np.dtype]:
    try:
        props = _imageio.read_image(path, props=True, index=0, data=data)
    except ImportError:
        raise
    except _imageio.not_readable() as err:
        raise NotMyFormat(f"{path!r} is not an image imageio reads: "
                          f"{_imageio.first_line(err)}") from err
    return _imageio.frame_shape(props.shape), np.dtype(props.dtype)


def archive_members(path: str) -> list[str]:
    """The image files inside the zip archive ``path``, in natural order (folders and hidden
    files left out)."""
    natsort = require("natsort", "images", "image sequences")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise NotMyFormat(f"{path!r} is not a zip archive: {err}") from err
    names = [i.filename for i in infos if not i.is_dir()
             and not any(part.startswith((".", "__MACOSX")) for part in i.filename.split("/"))
             and i.filename.lower().endswith(IMAGE_EXTENSIONS)]
    if not names:
        raise NotASeriesError(f"the zip archive {path!r} holds no image files (looked for "
                              f"{', '.join(IMAGE_EXTENSIONS)} among {len(infos)} entries)")
    return list(natsort.natsorted(names))


class ImageSequenceSeries(FileSeries):
    """A frame per image file (or per time point of files named by axes), a file at a time.

    Parameters
    ----------
    path
        An image file, a glob (``"frames/*.png"``), a directory of images or a
        zip archive of them.
    mode
        A Pillow mode every image is converted to (``"L"`` for grey); one of
        :data:`PIL_MODES`.  Default: as stored.
    name_axes
        Letters of ``"tzc"`` whose indices the file names give, as pims'
        ``ImageSequenceND`` ``axes_identifiers`` (``cell_t001_z002_c1.png``);
        see :mod:`pipeline.formats._nameaxes`.  Frames then run along ``t`` (one
        frame when the names give none) and hold the other axes, in ``C, Z``
        order before the image's rows and columns.
    """

    format_name = "image-sequence"

    def __init__(self, path: str | os.PathLike[str], mode: str | None = None,
                 name_axes: str | None = None) -> None:
        self._path = os.fspath(path)
        if mode is not None and mode not in PIL_MODES:
            raise OptionValueError(f"mode={mode!r} is not a Pillow mode this reader converts to; "
                                   f"use one of {sorted(PIL_MODES)}")
        self._mode, self._name_axes = mode, name_axes
        letters = None if name_axes is None else _nameaxes.parse_letters(name_axes)
        self._archive = self._path.lower().endswith(ARCHIVE_EXTENSIONS) and \
            os.path.isfile(self._path)
        self._files = archive_members(self._path) if self._archive else image_files(self._path)
        self._image_shape, self._dtype = self._header(self._files[0])
        self._layout(letters)
        self._meta = {}

    def _layout(self, letters: str | None) -> None:
        """The files of each frame (``_grid``) and how their images make a frame (``_perm``)."""
        colour = len(self._image_shape) == 3
        if letters is None:
            self._grid, grid_letters = np.arange(len(self._files)), ""
            self._axes = None
        else:
            grid = _nameaxes.grid(self._files, letters)
            if "T" not in letters:
                grid = grid[np.newaxis]
            self._grid, grid_letters = grid, letters.replace("T", "")
            if colour and "C" in letters:
                raise AxesError(f"the images of {self._path!r} are colour ({self._image_shape[0]} "
                                f"channels) and name_axes={self._name_axes!r} names channels "
                                "too; leave 'c' out, or give mode='L' for grey images")
        block = grid_letters + ("C" if colour else "") + "YX"
        frame = "".join(a for a in AXIS_LETTERS if a in block)
        self._perm = tuple(block.index(a) for a in frame)
        sizes = (*self._grid.shape[1:], *self._image_shape)
        self._shape = tuple(int(sizes[p]) for p in self._perm)
        self._nframes = int(self._grid.shape[0])
        if letters is not None:
            self._axes = "T" + frame

    def _header(self, first: str) -> tuple[tuple[int, ...], np.dtype]:
        if self._mode is None and first.lower().endswith(TIFF_EXTENSIONS):
            shape, dtype = _tiff_header(first, self._data(first))
        else:
            shape, dtype = _image_header(first, self._data(first))
        if self._mode is None:
            return shape, dtype
        mode_dtype, channels = PIL_MODES[self._mode]
        rows, cols = shape[-2:]
        return ((rows, cols) if channels is None else (channels, rows, cols)), np.dtype(mode_dtype)

    @property
    def files(self) -> list[str]:
        """The image files (members of the archive, for a zip), in the order they were found."""
        return list(self._files)

    def source_paths(self) -> list[str]:
        return [] if self._archive else self.files

    def open_handle(self, stack: contextlib.ExitStack) -> Any:
        return stack.enter_context(zipfile.ZipFile(self._path))

    def _data(self, name: str) -> io.BytesIO | None:
        """The bytes of archive member ``name`` (None for a file on disk, read by name)."""
        if not self._archive:
            return None
        with self.lock:
            info = self.handle.getinfo(name)
            if info.file_size > MAX_MEMBER_BYTES:
                raise NotASeriesError(
                    f"{self._path!r}: the member {name!r} declares {info.file_size} bytes, more "
                    f"than the {MAX_MEMBER_BYTES} an image of a sequence may take")
            return io.BytesIO(self.handle.read(name))

    def read_image(self, k: int) -> np.ndarray:
        """File ``k``'s image, read whole and checked against the first file's."""
        name = self._files[k]
        where = name if not self._archive else f"{self._path}/{name}"
        try:
            image = self._load(name)
        except _imageio.not_readable() as err:
            if isinstance(err, NotASeriesError | ImportError):
                raise
            raise _imageio.unreadable_frame(where, k, err) from err
        if image.shape != self._image_shape or image.dtype != self._dtype:
            raise NotASeriesError(
                f"{where!r} holds an image of shape {image.shape} {image.dtype}, but "
                f"{self._files[0]!r} (the first file) has {self._image_shape} {self._dtype}; the "
                "images of a sequence must agree (mode='L' or 'RGB' converts them all)"
            )
        return image

    def _load(self, name: str) -> np.ndarray:
        data = self._data(name)
        if self._mode is None and name.lower().endswith(TIFF_EXTENSIONS):
            return _read_tiff(name, data)
        options: dict[str, Any] = {} if self._mode is None else {"plugin": "pillow",
                                                                  "mode": self._mode}
        return _imageio.as_frame(_imageio.read_image(name, index=0, data=data, **options))

    @frame_by_frame
    def read(self, j: int, region: Region) -> np.ndarray:
        # only the files the region's leading axes need, each image cut to its rows and columns
        at = [self._perm.index(b) for b in range(len(self._perm))]
        ngrid = self._grid.ndim - 1
        files = self._grid[j][tuple(slice(*region[at[b]]) for b in range(ngrid))]
        cut = region_index(tuple(region[at[b]] for b in range(ngrid, len(at))))
        block = np.empty(files.shape + tuple(hi - lo for lo, hi in (
            region[at[b]] for b in range(ngrid, len(at)))), self._dtype)
        for pos in np.ndindex(files.shape):
            block[pos] = self.read_image(int(files[pos]))[cut]
        return block.transpose(self._perm)

    def options(self) -> dict[str, Any]:
        found = {"mode": self._mode, "name_axes": self._name_axes}
        return {k: v for k, v in found.items() if v is not None}

    def stamped_files(self) -> list[str]:
        return [self._path] if self._archive else self._files


def open(path: str | os.PathLike[str], mode: str | None = None, name_axes: str | None = None
         ) -> ImageSequenceSeries:
    """An image file, a glob, a directory or a zip archive of images, lazily: a frame per
    file, or per time point of files whose names give ``name_axes``."""
    return ImageSequenceSeries(path, mode=mode, name_axes=name_axes)


def sniff(path: str) -> bool:
    """Directories, globs and files with an image extension.

    imageio reads more than images (it would take an SPE file's first frame
    for a picture), so detection leaves other files to their own formats;
    ``format="image-sequence"`` opens any file imageio reads.
    """
    return (os.path.isdir(path) or glob.has_magic(path)
            or path.lower().endswith(IMAGE_EXTENSIONS + ARCHIVE_EXTENSIONS))


class ImageSequenceFormat(Format):
    """An image file, a glob or a directory of images (:func:`open`)."""

    name = "image-sequence"
    aliases = ("images", "image", "imagesequence", "image_sequence")
    extensions = IMAGE_EXTENSIONS + ARCHIVE_EXTENSIONS
    requires = ("imageio", "natsort")
    extra = "images"
    open = staticmethod(open)
    sniff = staticmethod(sniff)


FORMAT = ImageSequenceFormat()

__all__ = ["FORMAT", "PIL_MODES", "ImageSequenceFormat", "ImageSequenceSeries", "archive_members",
           "image_files", "open", "sniff"]

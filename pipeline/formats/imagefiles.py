"""Lists of image files described by hexrd's ``image-files`` YAML.

::

    image-files:
      directory: frames            # relative to the YAML file (or to the working directory)
      files: "scan_*.tif dark.tif" # whitespace-separated globs, sorted naturally
    options:                       # optional
      empty-frames: 0              # frames skipped at the start of every file
      max-file-frames: 0           # frames used per file (0: all)
      max-total-frames: 0          # frames used in all (0: all; also max-frames)
      dtype: float32               # frames converted to this dtype
    meta:                          # metadata (also metadata:)
      omega: "! load-numpy-array omega.npy"

Every file is looked at when the series is opened (its frame count, shape and
dtype); a frame read opens its file, reads that frame and closes it.  TIFF
files are read with tifffile (every page a frame), detector files (GE, EDF,
CBF, ...) with fabio (:mod:`._fabio`), others with imageio.  The YAML itself
is read as raw-image and frame-cache descriptions are (:mod:`._yamldoc`);
``yaml_metadata`` is hexrd's ``yamlmeta``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

from ops import Region, require
from pipeline.dtypes import convert
from pipeline.errors import FrameShapeError, NotASeriesError, NotMyFormat, OptionValueError
from pipeline.formats import _fabio
from pipeline.formats._imageio import read_image
from pipeline.formats._plugin import Format
from pipeline.formats._yamldoc import load_yaml_source, sniff_yaml, yaml_metadata
from pipeline.formats.base import FileSeries, FrameNumbers, frame_numbers, output
from pipeline.series import FrameSelection, region_index

TIFF_EXTENSIONS = (".tif", ".tiff")


def _file_info(path: str) -> tuple[int, tuple[int, ...], np.dtype]:
    """``(frames, frame shape, dtype)`` of one image file, from its header."""
    found = _fabio.listed_info(path)  # GE, EDF, CBF, ... through fabio
    if found is not None:
        return found
    if path.lower().endswith(TIFF_EXTENSIONS):
        tifffile = require("tifffile", "images", "TIFF image files")
        with _damaged_tiff(path), tifffile.TiffFile(path) as tf:
            page = tf.pages.first
            return len(tf.pages), tuple(page.shape), np.dtype(page.dtype)
    props = read_image(path, props=True)
    return 1, tuple(props.shape), np.dtype(props.dtype)


def _read_file_frame(path: str, page: int) -> np.ndarray:
    if _fabio.listed_info(path) is not None:
        return _fabio.read_frame(path, page)
    if path.lower().endswith(TIFF_EXTENSIONS):
        tifffile = require("tifffile", "images", "TIFF image files")
        with _damaged_tiff(path):
            return tifffile.imread(path, key=page)
    return np.asarray(read_image(path))


@contextlib.contextmanager
def _damaged_tiff(path: str) -> Iterator[None]:
    """What tifffile raises on a listed TIFF that is cut short, corrupt or a directory.

    As NotASeriesError naming the file, so the caller learns which of the
    listed files is bad.
    """
    tifffile = require("tifffile", "images", "TIFF image files")
    try:
        yield
    except (tifffile.TiffFileError, ValueError, IndexError, KeyError, EOFError, OSError,
            struct.error) as err:
        raise NotASeriesError(f"{path!r}: a listed TIFF file that is truncated, corrupt or "
                              f"not a file ({type(err).__name__}: {err})") from err


COUNT_OPTIONS = ("empty-frames", "max-file-frames", "max-total-frames", "max-frames")
"""The ``options:`` of an image-files YAML that count frames (0: no limit)."""


def _checked_options(options: Any, path: str) -> dict[str, Any]:
    """An image-files YAML's ``options:``, refused naming the bad key or value."""
    if not isinstance(options, dict):
        raise OptionValueError(f"{path!r}: options: must be a mapping, not {options!r}")
    known = (*COUNT_OPTIONS, "dtype")
    unknown = sorted(str(key) for key in options if key not in known)
    if unknown:
        raise OptionValueError(f"{path!r}: unknown option(s) {', '.join(unknown)}; the known "
                               f"ones are {', '.join(known)}")
    for key in COUNT_OPTIONS:
        value = options.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise OptionValueError(f"{path!r}: options: {key}: {value!r} must be a whole "
                                   "number >= 0")
    dtype = options.get("dtype")
    if dtype:
        try:
            np.dtype(dtype)
        except TypeError:
            raise OptionValueError(f"{path!r}: options: dtype: {dtype!r} is not a numpy "
                                   "dtype") from None
    return options


class ImageFilesSeries(FileSeries):
    """Frames from a list of image files (hexrd's ``image-files`` format).

    Parameters
    ----------
    path
        The YAML file describing the list, or the YAML text itself (hexrd's
        form; a relative ``directory`` is then taken from the working directory).
    """

    format_name = "image-files"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        doc, yaml_path = load_yaml_source(path)
        self._text = None if yaml_path is not None else str(path)
        self._path = yaml_path if yaml_path is not None else "the image-files YAML text"
        if not isinstance(doc, dict) or not isinstance(doc.get("image-files"), dict):
            raise NotMyFormat(f"{self._path!r} is not an image-files YAML (no 'image-files:')")
        spec = doc["image-files"]
        options = _checked_options(doc.get("options") or {}, self._path)
        self._files = _expand(yaml_path or os.path.join(os.getcwd(), "-"),
                              spec.get("directory", "."), spec.get("files", ""))
        self._empty = options.get("empty-frames", 0)
        self._max_file = options.get("max-file-frames", 0)
        self._max_total = options.get("max-total-frames", options.get("max-frames", 0))
        self._want_dtype = np.dtype(options["dtype"]) if options.get("dtype") else None
        self._counts, self._shape, self._file_dtype = self._scan()
        self._meta = yaml_metadata(doc.get("meta", doc.get("metadata")), yaml_path)
        starts = np.cumsum([0, *self._counts])
        self._starts = starts
        total = int(starts[-1])
        self._nframes = min(total, self._max_total) if self._max_total > 0 else total

    def _scan(self) -> tuple[list[int], tuple[int, ...], np.dtype]:
        counts: list[int] = []
        shape: tuple[int, ...] | None = None
        dtype: np.dtype | None = None
        for name in self._files:
            pages, fshape, fdtype = _file_info(name)
            if shape is not None and fshape != shape:
                raise FrameShapeError(f"{self._path!r}: {name!r} has frames of shape {fshape}, "
                                      f"but {self._files[0]!r} has {shape}; all must agree")
            if dtype is not None and fdtype != dtype and self._want_dtype is None:
                raise FrameShapeError(f"{self._path!r}: {name!r} has dtype {fdtype}, but "
                                      f"{self._files[0]!r} has {dtype}; all must agree, or set "
                                      "options: {dtype: ...} to convert them")
            if self._empty >= pages:
                raise OptionValueError(f"{self._path!r}: empty-frames={self._empty} but {name!r} "
                                       f"holds only {pages} frames")
            usable = pages - self._empty
            counts.append(min(usable, self._max_file) if self._max_file > 0 else usable)
            shape, dtype = fshape, fdtype
        assert shape is not None and dtype is not None
        return counts, shape, dtype

    # -- the interface ---------------------------------------------------------------

    @property
    def dtype(self) -> np.dtype:
        return self._want_dtype if self._want_dtype is not None else self._file_dtype

    @property
    def fname(self) -> str:
        """hexrd's name: the YAML file's path, or the YAML text it was given."""
        return self._path if self._text is None else self._text

    @property
    def files(self) -> list[str]:
        return list(self._files)

    def source_paths(self) -> list[str]:
        return self.files

    def locate(self, j: int) -> tuple[str, int]:
        """The file holding frame ``j`` and the frame's page within it."""
        j = self.frame_index(j)
        k = int(np.searchsorted(self._starts, j, side="right")) - 1
        return self._files[k], j - int(self._starts[k]) + self._empty

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        indices: FrameNumbers = frame_numbers(frames, len(self))
        out = output(indices, region, self.dtype)
        index = region_index(region)
        for k, j in enumerate(indices):
            name, page = self.locate(int(j))
            out[k] = self._convert(_read_file_frame(name, page)[index], name)
        return out

    def options(self) -> dict[str, Any]:
        return {} if self._text is None else {"yaml": self._text}

    def stamped_files(self) -> list[str]:
        return self._files if self._text is not None else [self._path, *self._files]

    def description(self) -> dict[str, Any]:
        if self._text is not None:  # YAML text: no path of its own
            return {"format": self.format_name, **self.options()}
        return super().description()

    def _convert(self, data: np.ndarray, name: str) -> np.ndarray:
        return convert(data, self.dtype, "truncate", what=f"{name!r}: values",
                       hint=f"the dtype is set in {self._path!r}")


def _expand(yaml_path: str, directory: str, patterns: str) -> list[str]:
    """Files matched by ``patterns``, naturally sorted (so frame_10 follows frame_9)."""
    natsort = require("natsort", "images", "image-files lists")
    base = os.path.join(os.path.dirname(os.path.abspath(yaml_path)), directory)
    root = directory if os.path.isabs(directory) or not os.path.isdir(base) else base
    files: list[str] = []
    for pattern in str(patterns).split():
        files += glob.glob(os.path.join(root, pattern))
    if not files:
        raise NotASeriesError(
            f"{yaml_path!r}: no files match {patterns!r} in directory {root!r}; "
            "check image-files: directory and files"
        )
    return list(natsort.natsorted(files))


def open(path: str | os.PathLike[str]) -> ImageFilesSeries:
    """hexrd's ``open(f, "image-files")``: the files listed by a YAML file, lazily."""
    return ImageFilesSeries(path)


def sniff(path: str) -> bool:
    doc = sniff_yaml(path)  # a directory or a URL is never an image-files YAML
    return isinstance(doc, dict) and "image-files" in doc


class ImageFilesFormat(Format):
    """hexrd's image-files YAML: a list of image files (:func:`open`)."""

    name = "image-files"
    aliases = ("image_files", "imagefiles")
    extensions = (".yml", ".yaml")
    requires = ("yaml",)
    extra = "images"
    open = staticmethod(open)
    sniff = staticmethod(sniff)


FORMAT = ImageFilesFormat()

__all__ = ["FORMAT", "ImageFilesFormat", "ImageFilesSeries", "open", "sniff", "yaml_metadata"]

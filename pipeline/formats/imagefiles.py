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
CBF, ...) with fabio (:mod:`pipeline.formats.detector`), others with imageio.
"""

from __future__ import annotations

import glob
import os
from typing import Any

import numpy as np

from ops import Region
from pipeline.errors import NotASeriesError, NotMyFormat
from pipeline.series import FrameSelection, HeaderSeries, region_index

TIFF_EXTENSIONS = (".tif", ".tiff")


def load_yaml(path: str) -> Any:
    """The YAML document at ``path`` (or in ``path``, YAML text), or None if it is not YAML.

    Loaded by :func:`pipeline._yaml.load_yaml`: a document whose aliases expand
    beyond its limits raises :class:`~pipeline.errors.YAMLLimitError`.
    """
    from ops._compat import require
    from pipeline._yaml import load_yaml as bounded
    from pipeline.errors import YAMLError, YAMLLimitError

    require("yaml", "yaml", "YAML-described series")
    try:
        return bounded(path, what="image-files YAML")
    except YAMLLimitError:
        raise
    except YAMLError:
        return None


def yaml_metadata(meta: dict[str, Any] | None, yaml_path: str) -> dict[str, Any]:
    """hexrd's YAML metadata: ``"! load-numpy-array f.npy"`` loads ``f.npy`` beside the YAML."""
    out: dict[str, Any] = {}
    for key, value in (meta or {}).items():
        words = value.split() if isinstance(value, str) else []
        if len(words) > 2 and words[0] == "!" and words[1] == "load-numpy-array":
            name = value.split("load-numpy-array", 1)[1].strip()
            out[key] = np.load(os.path.join(os.path.dirname(yaml_path), name),
                               allow_pickle=False)
        else:
            out[key] = value
    return out


def _file_info(path: str) -> tuple[int, tuple[int, ...], np.dtype]:
    """``(frames, frame shape, dtype)`` of one image file, from its header."""
    from pipeline.formats import detector

    found = detector.listed_info(path)  # GE, EDF, CBF, ... through fabio
    if found is not None:
        return found
    if path.lower().endswith(TIFF_EXTENSIONS):
        from ops._compat import require

        tifffile = require("tifffile", "images", "TIFF image files")
        with tifffile.TiffFile(path) as tf:
            page = tf.pages.first
            return len(tf.pages), tuple(page.shape), np.dtype(page.dtype)
    props = _imageio().improps(path)
    return 1, tuple(props.shape), np.dtype(props.dtype)


def _imageio() -> Any:
    from ops._compat import require

    return require("imageio.v3", "images", "image files")


def _read_file_frame(path: str, page: int) -> np.ndarray:
    from pipeline.formats import detector

    if detector.listed_info(path) is not None:
        return detector.read_frame(path, page)
    if path.lower().endswith(TIFF_EXTENSIONS):
        import tifffile

        return tifffile.imread(path, key=page)
    return np.asarray(_imageio().imread(path))


class ImageFilesSeries(HeaderSeries):
    """Frames from a list of image files (hexrd's ``image-files`` format).

    Parameters
    ----------
    path
        The YAML file describing the list.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        doc = load_yaml(self._path)
        if not isinstance(doc, dict) or not isinstance(doc.get("image-files"), dict):
            raise NotMyFormat(f"{self._path!r} is not an image-files YAML (no 'image-files:')")
        spec = doc["image-files"]
        options = doc.get("options") or {}
        self._files = _expand(self._path, spec.get("directory", "."), spec.get("files", ""))
        self._empty = int(options.get("empty-frames", 0))
        self._max_file = int(options.get("max-file-frames", 0))
        self._max_total = int(options.get("max-total-frames", options.get("max-frames", 0)))
        self._want_dtype = np.dtype(options["dtype"]) if options.get("dtype") else None
        self._counts, self._shape, self._file_dtype = self._scan()
        self._meta = yaml_metadata(doc.get("meta", doc.get("metadata")), self._path)
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
                raise ValueError(f"{self._path!r}: {name!r} has frames of shape {fshape}, "
                                 f"but {self._files[0]!r} has {shape}; all must agree")
            if dtype is not None and fdtype != dtype and self._want_dtype is None:
                raise ValueError(f"{self._path!r}: {name!r} has dtype {fdtype}, but "
                                 f"{self._files[0]!r} has {dtype}; all must agree, or set "
                                 "options: {dtype: ...} to convert them")
            if self._empty >= pages:
                raise ValueError(f"{self._path!r}: empty-frames={self._empty} but {name!r} "
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
    def files(self) -> list[str]:
        return list(self._files)

    def locate(self, j: int) -> tuple[str, int]:
        """The file holding frame ``j`` and the frame's page within it."""
        j = self._frame_index(j)
        k = int(np.searchsorted(self._starts, j, side="right")) - 1
        return self._files[k], j - int(self._starts[k]) + self._empty

    def _read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        indices = range(*frames.indices(len(self))) if isinstance(frames, slice) else frames
        out = np.empty((len(indices), *(hi - lo for lo, hi in region)), self.dtype)
        index = region_index(region)
        for k, j in enumerate(indices):
            name, page = self.locate(int(j))
            out[k] = self._convert(_read_file_frame(name, page)[index], name)
        return out

    def _convert(self, data: np.ndarray, name: str) -> np.ndarray:
        dtype = self.dtype
        if data.dtype == dtype:
            return data
        if dtype.kind in "iu" and data.size:
            info = np.iinfo(dtype)
            if data.min() < info.min or data.max() > info.max:
                raise ValueError(f"{name!r}: values {data.min()}..{data.max()} do not fit the "
                                 f"dtype {dtype} set in {self._path!r}")
        return data.astype(dtype)

    def _dask_token(self) -> str:
        from dask.base import tokenize

        stamps = [os.stat(f).st_mtime_ns for f in self._files if os.path.exists(f)]
        return tokenize("image-files", os.path.abspath(self._path), self._files, stamps)

    def description(self) -> dict[str, Any]:
        return {"format": "image-files", "path": self._path}


def _expand(yaml_path: str, directory: str, patterns: str) -> list[str]:
    """Files matched by ``patterns``, naturally sorted (so frame_10 follows frame_9)."""
    from ops._compat import require

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
    if not os.path.isfile(path):  # a directory or a URL is never an image-files YAML
        return False
    doc = load_yaml(path) if os.path.getsize(path) < 2**20 else None
    return isinstance(doc, dict) and "image-files" in doc


__all__ = ["ImageFilesSeries", "open", "sniff"]

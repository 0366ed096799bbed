"""The format registry: names to reader/writer modules, imported on first use.

A format module offers ``open(path, **options) -> ImageSeries`` (raising
:class:`~pipeline.errors.NotMyFormat` for a file it does not handle), and may
offer ``write(series, path, **options)`` and ``sniff(path) -> bool`` (a look at
the first bytes, for extensions several formats share).

The built-in formats are listed in :data:`BUILTIN_FORMATS`; third-party ones
arrive through the ``lazyseries.formats`` entry-point group, whose objects
offer the same functions.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

from pipeline.errors import UnknownFormatError

ENTRY_POINT_GROUP = "lazyseries.formats"


@dataclasses.dataclass(frozen=True)
class FormatEntry:
    """One registered format.

    ``module`` is imported on first use; ``requires`` lists the optional
    packages it needs, and ``extra`` the ``pip install lazyseries[extra]`` that
    brings them.
    """

    name: str
    module: str
    extensions: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    extra: str | None = None
    file_based: bool = True


DETECTOR_EXTENSIONS = (".ge", ".ge1", ".ge2", ".ge3", ".ge4", ".ge5", ".gel", ".edf", ".edf.gz",
                       ".edf.bz2", ".cbf", ".cbf.gz", ".cbf.bz2", ".mccd", ".mar2300", ".mar3450",
                       ".mar3600", ".sfrm", ".img", ".kcd", ".xsd", ".mrc", ".dm3", ".rodhypix",
                       ".esperanto")
"""Detector image files fabio reads (``pipeline.formats.detector``, kept in step with it)."""

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".jp2", ".tif", ".tiff")
"""Single images, and the files a directory or glob of images is made of (PNM files are
left to ``detector``: fabio reads 16-bit ones as uint16, Pillow as int32)."""

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")

BUILTIN_FORMATS: tuple[FormatEntry, ...] = (
    FormatEntry("zarr", "pipeline.formats.zarr", (".zarr", ".zr3", ".zr")),
    FormatEntry("array", "pipeline.formats.array", file_based=False),
    FormatEntry("function", "pipeline.formats.function", file_based=False),
    FormatEntry("hdf5", "pipeline.formats.hdf5", (".h5", ".hdf5", ".hdf", ".nxs"),
                aliases=("h5",), requires=("h5py",), extra="hdf5"),
    FormatEntry("frame-cache", "pipeline.formats.framecache", (".npz", ".fch5"),
                aliases=("frame_cache", "framecache", "fch5")),
    FormatEntry("image-files", "pipeline.formats.imagefiles", (".yml", ".yaml"),
                aliases=("image_files", "imagefiles"), requires=("yaml",), extra="images"),
    FormatEntry("tiff", "pipeline.formats.tiff", (".tif", ".tiff"),
                aliases=("tif", "ome-tiff"), requires=("tifffile",), extra="tiff"),
    FormatEntry("raw", "pipeline.formats.raw", (".raw", ".bin", ".dat", ".yml", ".yaml"),
                aliases=("raw-image", "rawimage")),
    FormatEntry("eiger-stream-v1", "pipeline.formats.eiger_stream_v1", (".h5", ".hdf5"),
                aliases=("eiger_stream_v1",), requires=("h5py",), extra="eiger"),
    FormatEntry("eiger-stream-v2", "pipeline.formats.eiger_stream_v2", (".h5", ".hdf5"),
                aliases=("eiger_stream_v2",), requires=("h5py",), extra="eiger"),
    FormatEntry("detector", "pipeline.formats.detector", DETECTOR_EXTENSIONS,
                aliases=("fabio",), requires=("fabio",), extra="detector"),
    FormatEntry("image-sequence", "pipeline.formats.imagesequence", IMAGE_EXTENSIONS,
                aliases=("images", "image", "imagesequence", "image_sequence"),
                requires=("imageio", "natsort"), extra="images"),
    FormatEntry("gif", "pipeline.formats.gif", (".gif",), aliases=("animated-gif",),
                requires=("imageio", "PIL"), extra="images"),
    FormatEntry("video", "pipeline.formats.video", VIDEO_EXTENSIONS, aliases=("ffmpeg", "movie"),
                requires=("imageio", "imageio_ffmpeg"), extra="video"),
    FormatEntry("spe", "pipeline.formats.spe", (".spe",), aliases=("princeton",)),
)


class FormatRegistry:
    """Format names to entries; the modules behind them are imported when first used."""

    def __init__(self, entries: tuple[FormatEntry, ...] = ()) -> None:
        self._entries: dict[str, FormatEntry] = {}
        self._plugins: dict[str, Any] = {}
        self._entry_points_loaded = False
        for entry in entries:
            self.add(entry)

    def add(self, entry: FormatEntry, plugin: Any = None) -> None:
        """Register ``entry``; ``plugin`` is an already-imported object standing for its module."""
        self._entries[entry.name] = entry
        if plugin is not None:
            self._plugins[entry.name] = plugin

    def remove(self, name: str) -> None:
        del self._entries[name]
        self._plugins.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        self._load_entry_points()
        return iter(list(self._entries))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._canonical(name) is not None

    def entry(self, name: str) -> FormatEntry:
        canonical = self._canonical(name)
        if canonical is None:
            raise UnknownFormatError(
                f"unknown format {name!r}; known formats are: {sorted(self)}"
            )
        return self._entries[canonical]

    def plugin(self, name: str) -> Any:
        """The module (or plugin object) of format ``name``, imported now if need be."""
        entry = self.entry(name)
        if entry.name not in self._plugins:
            for package in entry.requires:
                _require(package, entry)
            self._plugins[entry.name] = importlib.import_module(entry.module)
        return self._plugins[entry.name]

    def by_extension(self, path: str | os.PathLike[str]) -> list[str]:
        """Formats whose registered extensions ``path`` ends with, in registry order."""
        text = os.fspath(path).rstrip("/\\").lower()
        return [n for n in self if any(text.endswith(e) for e in self._entries[n].extensions)]

    def candidates(self, path: str | os.PathLike[str]) -> list[str]:
        """Formats that may read ``path``, by extension first, then every file format."""
        by_ext = self.by_extension(path)
        rest = [n for n in self if n not in by_ext and self._entries[n].file_based]
        return by_ext + rest

    def writer_for(self, path: str | os.PathLike[str]) -> str:
        """The format ``write`` uses for ``path`` when none is given: by extension, else zarr."""
        text = os.fspath(path).rstrip("/\\").lower()
        for name in self:
            entry = self._entries[name]
            if any(text.endswith(e) for e in entry.extensions) and entry.file_based:
                return name
        return "zarr"

    def _canonical(self, name: str) -> str | None:
        self._load_entry_points()
        if name in self._entries:
            return name
        for entry in self._entries.values():
            if name in entry.aliases:
                return entry.name
        return None

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name not in self._entries:
                self._entries[ep.name] = FormatEntry(ep.name, ep.value)
                self._plugins[ep.name] = _LazyEntryPoint(ep)

    def snapshot(self) -> tuple[dict[str, FormatEntry], dict[str, Any]]:
        return dict(self._entries), dict(self._plugins)

    def restore(self, state: tuple[dict[str, FormatEntry], dict[str, Any]]) -> None:
        self._entries, self._plugins = dict(state[0]), dict(state[1])


class _LazyEntryPoint:
    """Stands for a third-party plugin until one of its functions is asked for."""

    def __init__(self, ep: Any) -> None:
        self._ep = ep
        self._obj: Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._obj is None:
            self._obj = self._ep.load()
        return getattr(self._obj, attr)


def _require(package: str, entry: FormatEntry) -> None:
    from ops import require

    require(package, entry.extra or "all", f"the {entry.name!r} format")


registry = FormatRegistry(BUILTIN_FORMATS)
"""The process-wide format registry."""

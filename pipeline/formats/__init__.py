"""The format registry: format names to declared :class:`Format` objects.

A format is a :class:`~pipeline.formats._plugin.Format`: its name, aliases,
extensions, the optional packages it needs and the extra that installs them,
``open`` and, where it has them, ``sniff`` and an encoder for writing.  Each
built-in format module (listed in :data:`BUILTIN_FORMATS`, importing its
optional libraries only where it uses them) ends with its ``FORMAT``;
third-party formats arrive through the ``lazyseries.formats`` entry-point
group, each naming a Format (or Format subclass) registered under the entry
point's name.  Both are loaded once, on the registry's first use, so ``in``,
:meth:`FormatRegistry.lookup` and iteration always give the same answer.

A file format's series subclasses :class:`~pipeline.formats.base.FileSeries`
(one read hook, one pickling rule).  No format module imports another: what
formats share lives in helper modules (``_h5`` for HDF5 files, ``_fabio`` for
detector files, ``_yamldoc`` for hexrd's YAML descriptions, ``_imageio``,
``_npzcache``, ``_fch5``, ``_nexus``, ``_tiffmeta``, and ``eiger``, hexrd's
module of Eiger stream decoding).
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Iterator

from pipeline.errors import FormatPluginWarning, RegistrationError, UnknownFormatError
from pipeline.formats._encoding import FileEncoding
from pipeline.formats._plugin import Format, check_format
from pipeline.formats.base import FileSeries, frame_by_frame

ENTRY_POINT_GROUP = "lazyseries.formats"

BUILTIN_FORMATS: tuple[str, ...] = tuple(f"pipeline.formats.{name}" for name in (
    "zarr", "array", "function", "hdf5", "framecache", "imagefiles", "tiff", "raw",
    "eiger_stream_v1", "eiger_stream_v2", "detector", "imagesequence", "gif", "video", "spe",
    "live.stream_v2", "live.stream_v1", "live.hdf5", "live.files"))
"""The modules of the built-in formats, each ending with its ``FORMAT``, in detection order."""


class FormatRegistry:
    """Format names (and aliases) to formats, filled once from modules and entry points.

    Parameters
    ----------
    modules
        Modules each holding a ``FORMAT``, imported on the registry's first use.
    entry_points
        The entry-point group third-party formats come from (None: none).
    """

    def __init__(self, modules: tuple[str, ...] = (), entry_points: str | None = None) -> None:
        self._modules = modules
        self._group = entry_points
        self._loaded: dict[str, Format] | None = None

    @property
    def _formats(self) -> dict[str, Format]:
        if self._loaded is None:
            self._loaded = {}
            for module in self._modules:
                self._put(check_format(importlib.import_module(module).FORMAT))
            self._load_entry_points()
        return self._loaded

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        if self._group is None:
            return
        for ep in entry_points(group=self._group):
            if ep.name in self._formats:
                continue  # a built-in (or an earlier distribution's) name is kept
            try:
                self._put(check_format(ep.load(), ep.name))
            except Exception as err:  # noqa: BLE001  (a broken plugin must not break reading)
                warnings.warn(FormatPluginWarning(
                    f"the format {ep.name} = {ep.value!r} of entry-point group {self._group!r} "
                    f"is left out: {type(err).__name__}: {err}"), stacklevel=3)

    def _put(self, fmt: Format) -> None:
        assert self._loaded is not None
        self._loaded[fmt.name] = fmt

    def add(self, fmt: Format | type[Format], replace: bool = False) -> Format:
        """Register ``fmt`` (a Format, or a Format class to instantiate); returns it."""
        fmt = check_format(fmt)
        if not replace and (fmt.name in self._formats or self._canonical(fmt.name)):
            raise RegistrationError(
                f"a format named {fmt.name!r} is registered; pass replace=True"
            )
        self._put(fmt)
        return fmt

    def remove(self, name: str) -> None:
        del self._formats[self.lookup(name).name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._formats))

    def __len__(self) -> int:
        return len(self._formats)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._canonical(name) is not None

    def lookup(self, name: str) -> Format:
        """The format called ``name`` (or one of its aliases); UnknownFormatError if none."""
        canonical = self._canonical(name) if isinstance(name, str) else None
        if canonical is None:
            raise UnknownFormatError(
                f"unknown format {name!r}; known formats are: {sorted(self)}"
            )
        return self._formats[canonical]

    __getitem__ = lookup

    def require(self, name: str) -> Format:
        """:meth:`lookup`, with the format's optional packages imported (ImportError naming the extra)."""
        fmt = self.lookup(name)
        fmt.require()
        return fmt

    def writable(self) -> list[str]:
        """The names of the formats that write."""
        return [name for name, fmt in self._formats.items() if fmt.writes is not None]

    def by_extension(self, path: str | os.PathLike[str]) -> list[str]:
        """Formats whose registered extensions ``path`` ends with, in registry order."""
        return [name for name, fmt in self._formats.items() if fmt.claims(path)]

    def by_scheme(self, path: str | os.PathLike[str]) -> list[str]:
        """Formats reading addresses of ``path``'s scheme (``tcp://...``), in registry order."""
        text = os.fspath(path)
        scheme = text.split("://", 1)[0].lower() if "://" in text else None
        return [name for name, fmt in self._formats.items() if scheme in fmt.schemes]

    def candidates(self, path: str | os.PathLike[str]) -> list[str]:
        """Formats that may read ``path``, by extension first, then every file format."""
        by_ext = self.by_extension(path)
        rest = [n for n, fmt in self._formats.items() if n not in by_ext and fmt.file_based]
        return by_ext + rest

    def writer_for(self, path: str | os.PathLike[str]) -> str:
        """The format ``write`` uses for ``path`` when none is given: by extension, else zarr."""
        for name, fmt in self._formats.items():
            if fmt.file_based and fmt.claims(path):
                return name
        return "zarr"

    def _canonical(self, name: str) -> str | None:
        formats = self._formats
        if name in formats:
            return name
        return next((n for n, fmt in formats.items() if name in fmt.aliases), None)

    def snapshot(self) -> dict[str, Format]:
        return dict(self._formats)

    def restore(self, state: dict[str, Format]) -> None:
        self._loaded = dict(state)


registry = FormatRegistry(BUILTIN_FORMATS, entry_points=ENTRY_POINT_GROUP)
"""The process-wide format registry."""

__all__ = ["BUILTIN_FORMATS", "ENTRY_POINT_GROUP", "FileEncoding", "FileSeries", "Format",
           "FormatRegistry", "frame_by_frame", "registry"]

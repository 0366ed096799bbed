"""``open`` and ``write``: one entry point each, dispatching through the format registry."""

from __future__ import annotations

import os
from typing import Any

from pipeline.errors import NotMyFormat, UnknownFormatError
from pipeline.formats import registry
from pipeline.series import ImageSeries


def open(path: str | os.PathLike[str] | None, /, format: str | None = None, **kwargs: Any
         ) -> ImageSeries:
    """Open ``path`` as a series, lazily: nothing but headers is read.

    Parameters
    ----------
    path
        A file, directory or URL; ``None`` for formats without one (hexrd's
        ``open(None, "array", data=arr)``).
    format
        A registered format name; inferred from the path when not given
        (by extension, then by asking each reader).
    **kwargs
        Options of the format's reader.  ``path`` is positional-only, so that
        hexrd's ``open(f, "hdf5", path="group")`` passes ``path`` to the reader.
    """
    if format is not None:
        entry = registry.entry(format)
        if path is not None and entry.file_based:
            _check_exists(path)
        return registry.plugin(entry.name).open(path, **kwargs)
    if path is None:
        raise TypeError("give a path, or format= for a series without one (e.g. 'array')")
    _check_exists(path)
    return _detect(path, kwargs)


def _check_exists(path: str | os.PathLike[str]) -> None:
    text = os.fspath(path)
    if "://" not in text and not os.path.lexists(text):
        raise FileNotFoundError(f"no such file or directory: {text!r}")


def _detect(path: str | os.PathLike[str], kwargs: dict[str, Any]) -> ImageSeries:
    tried: list[str] = []
    said: list[str] = []
    for name in registry.candidates(path):
        try:
            plugin = registry.plugin(name)
        except ImportError:
            tried.append(f"{name} (not installed)")
            continue
        sniff = getattr(plugin, "sniff", None)
        if sniff is not None and not sniff(os.fspath(path)):
            tried.append(name)
            continue
        try:
            return plugin.open(path, **kwargs)
        except NotMyFormat as err:
            tried.append(name)
            said.append(f"{name} said: {err}")
    # the first reader that looked (the extension's own) says best what was missing
    reason = f"; {said[0]}" if said else ""
    raise UnknownFormatError(
        f"no reader recognises {os.fspath(path)!r}; tried: {', '.join(tried) or 'none'}"
        f"{reason}; pass format= with one of {sorted(registry)}"
    )


def write(series: ImageSeries, path: str | os.PathLike[str], /, format: str | None = None,
          **kwargs: Any) -> Any:
    """Persist ``series`` at ``path``; Zarr unless the path or ``format`` says otherwise.

    ``overwrite=False`` (default) refuses an existing path and leaves it
    untouched.  Other options belong to the format's writer (for Zarr:
    ``codec``, ``chunks``, ``shards``, ``storage_options``).  Returns what the
    writer returns (for Zarr, the written store opened as a series).
    """
    if not isinstance(series, ImageSeries):
        raise TypeError(f"write() takes an image series, got {type(series).__name__}")
    name = registry.entry(format).name if format is not None else registry.writer_for(path)
    writer = getattr(registry.plugin(name), "write", None)
    if writer is None:
        writable = [n for n in registry if _has_writer(n)]
        raise UnknownFormatError(
            f"format {name!r} can be read but not written; writable formats: {writable}"
        )
    return writer(series, path, **kwargs)


def _has_writer(name: str) -> bool:
    try:
        return hasattr(registry.plugin(name), "write")
    except (ImportError, ModuleNotFoundError):
        return False


__all__ = ["open", "write"]

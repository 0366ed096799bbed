"""``open``: one entry point for every format, detecting it when not named.

The format registry (:mod:`pipeline.formats`) says which readers may take a
path; :func:`open` asks them in turn, or the one the caller names.
"""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline import storage
from pipeline.errors import (
    MissingOptionError,
    NotASeriesError,
    NotMyFormat,
    OptionValueError,
    SeriesOptionError,
    SeriesTypeError,
    UnknownFormatError,
    WrongFormatError,
)
from pipeline.formats import Format, registry
from pipeline.formats._joined import JoinedSeries
from pipeline.formats.base import FileSeries
from pipeline.series import ImageSeries


def open(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None, /,
         format: str | None = None, **kwargs: Any) -> ImageSeries:
    """Open ``path`` as a series, lazily: nothing but headers is read.

    Parameters
    ----------
    path
        A file, directory, glob of image files (``"frames/*.png"``) or fsspec
        URL (Zarr, HDF5 and TIFF take ``storage_options=``); ``None`` for
        formats without one (hexrd's ``open(None, "array", data=arr)``); or a
        list of paths: the frames of each in the list's order (pims'
        ``ImageSequence`` of a list), every one opened with ``format`` and
        ``kwargs``, all with frames of one shape and dtype.
    format
        A registered format name; inferred from the path when not given:
        the readers of its extension first, then every other reader, each
        asked in turn.  When none takes the path, the
        :class:`~pipeline.errors.UnknownFormatError` lists every reader tried
        and why it declined.
    **kwargs
        Options of the format's reader.  ``path`` is positional-only, so that
        hexrd's ``open(f, "hdf5", path="group")`` passes ``path`` to the reader.
    """
    if isinstance(path, list | tuple):
        return _open_list(path, format, kwargs)
    if isinstance(path, bytes | bytearray) or not isinstance(
            path, str | os.PathLike | None) and format is None:
        raise SeriesTypeError(
            f"open takes a path (str or path-like), a list of paths or, with format=, an open "
            f"file; got {type(path).__name__} {path!r:.80}")
    if format is not None:
        return _open_named(path, registry.lookup(format), kwargs)
    if not isinstance(path, str | os.PathLike):
        raise MissingOptionError(f"path={path!r} with no format=: give a path, or format= "
                                 "for a series without one (e.g. 'array')")
    _check_exists(path)
    return _detect(path, kwargs)


def _open_list(paths: list[Any] | tuple[Any, ...], format: str | None, kwargs: dict[str, Any]
               ) -> ImageSeries:
    """The frames of every path of ``paths`` in order; one path: its own series."""
    if not paths:
        raise OptionValueError("open([]): an empty list names no file; give at least one path")
    for item in paths:
        if isinstance(item, list | tuple):
            raise SeriesTypeError(f"open takes a list of paths, not of lists: got {item!r:.80}")
    parts: list[ImageSeries] = []
    try:
        for item in paths:
            parts.append(open(item, format, **kwargs))
        return parts[0] if len(parts) == 1 else JoinedSeries(parts)
    except BaseException:
        for part in parts:
            part.close()
        raise


def _open_named(path: Any, fmt: Format, kwargs: dict[str, Any]) -> ImageSeries:
    """Open ``path`` with the format the caller named: a file not of it is WrongFormatError."""
    if path is not None and fmt.file_based:
        _check_exists(path)
    fmt.require()
    known = fmt.open_parameters()
    unknown = [] if known is None else [k for k in kwargs if k not in known]
    if unknown:
        raise SeriesOptionError(
            f"format {fmt.name!r} takes no option {', '.join(f'{k}=' for k in unknown)}; its "
            f"options are {', '.join(f'{k}=' for k in known or ()) or 'none'}")
    try:
        return checked(fmt.open(path, **kwargs), path)
    except NotMyFormat as err:
        text = str(err)
        if isinstance(path, str | os.PathLike) and repr(os.fspath(path)) not in text:
            text = f"{os.fspath(path)!r}: {text}"
        raise WrongFormatError(
            f"{text}; it was opened with format={fmt.name!r}: name another format (one of "
            f"{sorted(registry)}), or leave format= out to detect it"
        ) from err


MAX_FRAME_BYTES = 2**34
"""The largest frame a series may declare (16 GiB): a frame is read whole into memory, so a
header declaring more is damaged or hostile, not a series to read."""

MAX_SERIES_BYTES = 2**62
"""The most bytes a series may declare in all (its frames' count times their size)."""

PIXEL_KINDS = "biufc"
"""numpy dtype kinds of pixels: bool, integers, floats and complex numbers."""


def checked(series: ImageSeries, path: Any) -> ImageSeries:
    """``series`` if the header it declares can be a series' (every reader's front door):
    frames of 2 or more axes, each at least 1 long, of a numeric dtype, at most
    :data:`MAX_FRAME_BYTES` a frame and :data:`MAX_SERIES_BYTES` in all.  Anything else is
    a :class:`~pipeline.errors.NotASeriesError` naming the file, before a frame is read."""
    shape, dtype, n = tuple(series.shape), np.dtype(series.dtype), len(series)
    name = repr(os.fspath(path)) if isinstance(path, str | os.PathLike) else repr(series)
    problem = None
    if len(shape) < 2:
        problem = f"frames of shape {shape}; a frame has 2 or more axes"
    elif any(not isinstance(k, int | np.integer) or k < 1 for k in shape):
        problem = f"frames of shape {shape}, which hold no pixels"
    elif dtype.kind not in PIXEL_KINDS or dtype.fields is not None:
        problem = f"frames of dtype {dtype}, which is not a numeric pixel type"
    else:
        frame = math.prod(int(k) for k in shape) * dtype.itemsize
        if frame > MAX_FRAME_BYTES:
            problem = (f"frames of {shape} {dtype}, {frame} bytes each, more than the "
                       f"{MAX_FRAME_BYTES} a frame read whole may take")
        elif frame * n > MAX_SERIES_BYTES:
            problem = f"{n} frames of {shape} {dtype}, more than {MAX_SERIES_BYTES} bytes"
    if problem is not None:
        if isinstance(series, FileSeries):
            series.close()
        raise NotASeriesError(f"{name} declares {problem}; its header is damaged or it is "
                              "not an image series")
    return series


def _check_exists(path: str | os.PathLike[str]) -> None:
    if not isinstance(path, str | bytes | os.PathLike) or (isinstance(path, str) and "\n" in path):
        return  # an open file (an h5py.File, say) or YAML text: its reader checks it
    text = os.fspath(path)
    if storage.is_url(text) or os.path.lexists(text):
        return
    if glob.has_magic(text):  # a pattern of files, as pims takes ("frames/*.png")
        if not glob.glob(text):
            raise FileNotFoundError(f"no files match the pattern {text!r}")
        return
    raise FileNotFoundError(f"no such file or directory: {text!r}")


def _detect(path: str | os.PathLike[str], kwargs: dict[str, Any]) -> ImageSeries:
    text = os.fspath(path)
    live = registry.by_scheme(text)
    if live:  # a stream's address: which stream it is cannot be told without consuming it
        if len(live) > 1:
            raise MissingOptionError(
                f"{text!r} is an address of a live stream, read by the formats {live}; pass "
                f"format= with the one its sender speaks (e.g. format={live[0]!r})")
        return _open_named(path, registry.lookup(live[0]), kwargs)
    own = registry.by_extension(text)
    declined: list[tuple[str, str]] = []
    for name in registry.candidates(text):
        reason = _decline(name, text, kwargs, own)
        if reason is None:
            try:
                return checked(registry.lookup(name).open(path, **kwargs), path)
            except NotMyFormat as err:
                reason = str(err)
        declined.append((name, reason))
    raise UnknownFormatError(_not_recognised(text, own, declined))


def _decline(name: str, text: str, kwargs: dict[str, Any], own: list[str]) -> str | None:
    """Why reader ``name`` will not try ``text`` before opening it (None: let it try)."""
    try:
        fmt = registry.require(name)
    except ImportError as err:
        return f"not installed: {err}"
    known = fmt.open_parameters()
    unknown = [] if known is None else sorted(k for k in kwargs if k not in known)
    if unknown:  # options meant for another reader
        return f"takes no option {', '.join(f'{k}=' for k in unknown)}"
    # sniffers take no storage_options: a URL goes straight to its extension's readers,
    # which check the file as they open it (other readers' sniffers may still know URLs)
    skip = storage.is_url(text) and name in own
    if not skip and not fmt.sniff(text):
        return "not recognised by its first bytes or extension"
    return None


def _not_recognised(text: str, own: list[str], declined: list[tuple[str, str]]) -> str:
    """The message for a path no reader takes: its extension's readers first, then the rest."""
    reasons = {name: _without_path(reason, text) for name, reason in declined}
    if own:
        lead = "; ".join(f"{name} said: {reasons[name]}" for name in own if name in reasons)
    else:
        ext = os.path.splitext(text.rstrip("/\\"))[1]
        lead = (f"no format is registered for the extension {ext!r}" if ext
                else "the path has no extension, so every reader was asked")
    tried = ", ".join(name if name in own else f"{name} ({reasons[name]})"
                      for name, _ in declined)
    return (f"no reader recognises {text!r}; {lead}; tried: {tried or 'none'}; "
            f"pass format= with one of {sorted(registry)}")


def _without_path(reason: str, text: str) -> str:
    """A reader's reason without the path it starts with (the message names it once)."""
    for prefix in (f"{text!r}: ", f"{text!r} "):
        if reason.startswith(prefix):
            return reason[len(prefix):]
    return reason


__all__ = ["open"]

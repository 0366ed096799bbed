"""The one write path: every format's writer goes through here.

:func:`write` owns what a write must get right whatever the container:

- the target: parsed once into a :class:`~pipeline.storage.Location`, so that
  every spelling of a place compares equal, and a target that is, contains or
  lies inside a file the series reads (:mod:`pipeline.persist.target`) is
  refused, as is the current directory;
- the overwrite policy: ``overwrite=True`` replaces only a series container
  of the target's format that this project may replace; anything else is left
  untouched;
- one writer at a time (:mod:`pipeline.persist.claim`), on every backend;
- writing beside the target and swapping it into place, so that a failed or
  killed write leaves the old data readable, cleaning up what killed writes
  left (:mod:`pipeline.persist.staging`), and removing what a failed write
  made, under its claim;
- the metadata codec (:mod:`pipeline._json`), checked before any frame is
  computed; free space, checked before and during HDF5 writes.

A format only encodes: :meth:`~pipeline.formats._plugin.Format.encoder`
returns a :class:`~pipeline.formats._encoding.FileEncoding` (one file, written
block by block: :mod:`pipeline.persist.files`) or a
:class:`~pipeline.formats._encoding.StoreEncoding` (a store of chunks written by
many tasks: :mod:`pipeline.persist.stores`), the same call for every format.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from pipeline import storage
from pipeline.errors import (
    OptionValueError,
    SeriesTypeError,
    StoreExistsError,
    TargetRefusedError,
    UnknownFormatError,
)
from pipeline.formats import Format, registry
from pipeline.formats._encoding import FileEncoding
from pipeline.formats.live.growth import live_source
from pipeline.persist.files import write_file
from pipeline.persist.live import LiveProgress, write_live
from pipeline.persist.stores import write_store
from pipeline.persist.target import refuse_cwd, refuse_foreign, refuse_source
from pipeline.series import ImageSeries

__all__ = ["check", "write", "writer"]


def writer(path: str | os.PathLike[str] | storage.Location, format: str | None = None
           ) -> Format:
    """The format a write of ``path`` uses (``format``, else by the path's extension, else
    Zarr), its optional packages imported; raise for one that only reads."""
    text = path.text if isinstance(path, storage.Location) else path
    name = format if format is not None else registry.writer_for(text)
    if name not in registry:
        raise UnknownFormatError(f"unknown format {name!r}; formats that write: "
                                 f"{registry.writable()}")
    fmt = registry.lookup(name)
    if fmt.writes is None:
        raise UnknownFormatError(f"format {fmt.name!r} can be read but not written; writable "
                                 f"formats: {registry.writable()}")
    fmt.require()
    return fmt


def write(series: ImageSeries, path: str | os.PathLike[str] | storage.Location, /, format: str | None = None,
          *, overwrite: bool = False, storage_options: dict[str, Any] | None = None,
          compute: bool = True, keep_versions: int = 0, unsafe_conditional_writes: bool = False,
          progress: LiveProgress | None = None, **options: Any) -> Any:
    """Persist ``series`` at ``path`` in ``format`` (inferred from the path when not given).

    See :func:`pipeline.write`; ``options`` belong to the format's encoder.
    ``compute=False`` (directory stores): return the dask task that writes the
    store and marks it complete; the target stays claimed until it has run or
    is dropped.  On an object store, ``keep_versions`` earlier versions of a
    replaced store are kept (openable with ``version=``), and
    ``unsafe_conditional_writes=True`` writes to a store that cannot guarantee one
    writer at a time (a warning says so).
    """
    if not isinstance(series, ImageSeries):
        raise SeriesTypeError(f"write() takes an image series, got {type(series).__name__} "
                              f"({series!r:.80}); make one with pipeline.from_array or "
                              "pipeline.open")
    for name, value in (("overwrite", overwrite), ("compute", compute)):
        if not isinstance(value, bool):
            raise OptionValueError(f"{name}={value!r}: expected True or False")
    fmt, location, encoding = _encoding(series, path, format, storage_options, options)
    if live_source(series) is not None:
        if isinstance(encoding, FileEncoding) or not compute or keep_versions or \
                unsafe_conditional_writes:
            raise OptionValueError(
                f"{location.text!r}: a live series is written to a Zarr store as its frames "
                "arrive, from this process: name the target .zarr, without compute=False, "
                "keep_versions= or unsafe_conditional_writes=")
        return write_live(series, location, encoding, overwrite, progress)
    if progress is not None:
        raise OptionValueError("progress= follows a live series' write; a finished series "
                               "is written through dask, whose progress pipeline._progress "
                               "follows")
    if isinstance(encoding, FileEncoding):
        if not compute or keep_versions or unsafe_conditional_writes:
            raise OptionValueError(
                f"compute=False, keep_versions= and unsafe_conditional_writes= are options of "
                f"stores; the {fmt.name} writer writes one file from this process")
        return write_file(series, location, encoding, overwrite)
    return write_store(series, location, encoding, overwrite, compute, keep_versions,
                       unsafe_conditional_writes)


def check(series: ImageSeries, path: str | os.PathLike[str] | storage.Location, /,
          format: str | None = None, *, overwrite: bool = False,
          storage_options: dict[str, Any] | None = None, **options: Any) -> None:
    """Raise now what :func:`write` of ``series`` would refuse before computing a frame,
    without claiming or writing anything: the format and its options, the metadata, and
    the target (there already without ``overwrite``, not a container ``overwrite`` may
    replace, a source of the series, the working directory).

    For a series whose frames or parameters cost time to compute (a dark from a median),
    a stand-in of the same shape, dtype and metadata is checked first; the write checks
    again, under its claim.
    """
    _, location, encoding = _encoding(series, path, format, storage_options, options)
    refuse_source(location, series)
    refuse_cwd(location)
    found = location.stat()
    if found is None:
        return
    if isinstance(encoding, FileEncoding):
        if found.is_dir:
            raise TargetRefusedError(
                f"{location.text!r} is a directory; a {encoding.format} file needs a file path")
        refuse_foreign(location, encoding.format, encoding.is_container, location.path)
    else:
        refuse_foreign(location, encoding.format, encoding.is_container)
        if encoding.resumable(location):
            return
    if not overwrite:
        raise StoreExistsError.at(location.text)


def _encoding(series: ImageSeries, path: str | os.PathLike[str] | storage.Location,
              format: str | None, storage_options: dict[str, Any] | None,
              options: dict[str, Any]) -> tuple[Format, storage.Location, Any]:
    """The format, the target's location and the encoding of a write: every option and the
    metadata checked."""
    given = path.text if isinstance(path, storage.Location) else path
    fmt = writer(path, format)
    text = fmt.target(given, options)  # hexrd's frame cache names its file with cache_file=
    location = path if isinstance(path, storage.Location) and text == given else \
        storage.locate(text, storage_options)
    _check_options(fmt, options)
    return fmt, location, fmt.encoder(series, target=text, **options)


def _check_options(fmt: Format, options: dict[str, Any]) -> None:
    """Refuse options ``fmt``'s writer does not take, naming the ones it does."""
    try:
        params = list(inspect.signature(fmt.encoder).parameters.values())
    except (TypeError, ValueError):  # no signature to read: the encoder decides
        return
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    known = [p.name for p in params[1:] if p.kind is not p.POSITIONAL_ONLY and
             p.name != "target"]
    unknown = [k for k in options if k not in known]
    if unknown:
        raise OptionValueError(
            f"the {fmt.name} writer takes no option {', '.join(f'{k}=' for k in unknown)}; "
            f"its options are {', '.join(f'{k}=' for k in known) or 'none'}")

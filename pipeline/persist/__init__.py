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

import os
from typing import Any

from pipeline import storage
from pipeline.errors import OptionValueError, SeriesTypeError, UnknownFormatError
from pipeline.formats import Format, registry
from pipeline.formats._encoding import FileEncoding
from pipeline.formats.live.growth import live_source
from pipeline.persist.files import write_file
from pipeline.persist.live import LiveProgress, write_live
from pipeline.persist.stores import write_store
from pipeline.series import ImageSeries

__all__ = ["write", "writer"]


def writer(path: str | os.PathLike[str] | storage.Location, format: str | None = None
           ) -> Format:
    """The format a write of ``path`` uses (``format``, else by the path's extension, else
    Zarr), its optional packages imported; raise for one that only reads."""
    text = path.text if isinstance(path, storage.Location) else path
    fmt = registry.lookup(format if format is not None else registry.writer_for(text))
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
    given = path.text if isinstance(path, storage.Location) else path
    fmt = writer(path, format)
    text = fmt.target(given, options)  # hexrd's frame cache names its file with cache_file=
    location = path if isinstance(path, storage.Location) and text == given else \
        storage.locate(text, storage_options)
    encoding = fmt.encoder(series, target=text, **options)
    if live_source(series) is not None:
        if isinstance(encoding, FileEncoding) or not compute or keep_versions or \
                unsafe_conditional_writes:
            raise OptionValueError(
                f"{given!r}: a live series is written to a Zarr store as its frames arrive, "
                "from this process: name the target .zarr, without compute=False, "
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

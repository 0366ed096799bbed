"""The one write path: every format's writer goes through here.

:func:`write` owns what a write must get right whatever the container:

- the target: a ``file://`` URL, ``..``, a trailing slash or a symlink name
  the same place, and a target that is, contains or lies inside a file the
  series reads (:mod:`pipeline.persist.target`) is refused, as is the
  current directory;
- the overwrite policy: ``overwrite=True`` replaces only a series container
  of the target's format; any other file or directory is left untouched;
- one writer at a time (:mod:`pipeline.persist.claim`);
- writing beside the target and swapping into place, so that a failed or
  killed write leaves the old data readable, and cleaning up what killed
  writes left (:mod:`pipeline.persist.staging`);
- the metadata codec (:mod:`pipeline._json`), checked before any frame is
  computed; free space, checked before and during HDF5 writes.

A format's writer only encodes frames and metadata into its container: a
format declaring ``writes = "file"`` offers
``encoder(series, target, **options)`` returning a
:class:`~pipeline.formats._encoding.FileEncoding`
(:class:`~pipeline.formats._plugin.Format`); Zarr's directory stores
(``writes = "store"``) are written by :mod:`pipeline.persist.stores` with
the encoding of :mod:`pipeline.formats._zarr_write`.
"""

from __future__ import annotations

import os
from typing import Any

from pipeline.errors import OptionValueError, SeriesTypeError, UnknownFormatError
from pipeline.formats import registry
from pipeline.persist.files import write_file
from pipeline.persist.stores import write_zarr
from pipeline.series import ImageSeries

__all__ = ["write"]


def write(series: ImageSeries, path: str | os.PathLike[str], /, format: str | None = None,
          *, overwrite: bool = False, **options: Any) -> Any:
    """Persist ``series`` at ``path`` in ``format`` (inferred from the path when not given).

    See :func:`pipeline.write`; ``options`` belong to the format's writer.
    """
    if not isinstance(series, ImageSeries):
        raise SeriesTypeError(f"write() takes an image series, got {type(series).__name__} "
                              f"({series!r:.80}); make one with pipeline.from_array or "
                              "pipeline.open")
    if not isinstance(overwrite, bool):
        raise OptionValueError(f"overwrite={overwrite!r}: expected True or False")
    fmt = registry.lookup(format if format is not None else registry.writer_for(path))
    if fmt.writes == "store":
        return write_zarr(series, os.fspath(path), overwrite=overwrite, **options)
    if fmt.writes != "file":
        raise UnknownFormatError(f"format {fmt.name!r} can be read but not written; writable "
                                 f"formats: {registry.writable()}")
    fmt.require()
    text = fmt.target(path, options)  # hexrd's frame cache names its file with cache_file=
    return write_file(series, text, fmt.encoder(series, target=text, **options), overwrite)

"""``open`` and ``write``: one entry point each, dispatching through the format registry."""

from __future__ import annotations

import os
from typing import Any

from pipeline import persist
from pipeline.errors import OptionValueError
from pipeline.formats._h5 import is_h5_node
from pipeline.formats.opening import open
from pipeline.series import ImageSeries, as_series
from pipeline.storage import Location


def write(series: ImageSeries, path: str | os.PathLike[str] | Location, /,
          format: str | None = None,
          **kwargs: Any) -> Any:
    """Persist ``series`` at ``path``; Zarr unless the path or ``format`` says otherwise.

    ``overwrite=False`` (default) refuses an existing path and leaves it
    untouched; ``overwrite=True`` replaces only a series of the same format,
    and only once the new one is complete (:mod:`pipeline.persist`).  Other
    options belong to the format's writer (for Zarr: ``codec``, ``chunks``,
    ``shards``, ``storage_options``, ``compute``).  Returns the written
    series reopened (Zarr with ``compute=False``: the task that writes it).
    """
    if not isinstance(path, str | os.PathLike | Location) and not is_h5_node(path):
        raise OptionValueError(f"write's target is a path (str or path-like) or an open h5py "
                               f"file or group, got {type(path).__name__} {path!r:.80}")
    series = as_series(series)  # hexrd's protocol (len, [i], shape, dtype, metadata) too
    kwargs.pop("max_workers", None)  # hexrd's writer threads: dask's scheduler computes frames
    if is_h5_node(path):  # hexrd's form: into the caller's open h5py file, in place
        return persist.writer(path, format).write_into(series, path, **kwargs)
    return persist.write(series, path, format, **kwargs)


__all__ = ["open", "write"]

"""Where a write goes, and whether it may go there.

Every check compares :class:`~pipeline.storage.Location` values, so every
spelling of one place compares equal: ``x/../scan.zarr``, ``scan.zarr/``, a
link to it, ``file://./scan.zarr``, ``local://scan.zarr``; ``memory://a``
and ``memory:///a``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from pipeline import storage
from pipeline.errors import SourceTargetError, TargetRefusedError
from pipeline.series import ImageSeries, plan_of
from pipeline.storage import Location


def source_paths(series: ImageSeries) -> list[str]:
    """Every file or store ``series`` reads, as given (sources of processed series too).

    The paths named in the description of the series it reads (a wrapper
    such as an omega series gives its inner series' description), those
    its :meth:`~pipeline.series.ImageSeries.source_paths` adds (image-file
    lists), and the files HDF5 ones read through links.
    """
    source = plan_of(series).source
    found = list(_description_paths(source.description()))
    found.extend(os.fspath(p) for p in source.source_paths())
    for path in list(found):
        found.extend(_hdf5_linked_files(path))
    return found


def _hdf5_linked_files(path: str) -> list[str]:
    """Files an HDF5 file reads through external links and virtual datasets (NeXus masters)."""
    try:
        local = storage.locate(path).local
        if local is None:
            return []
        with open(local, "rb") as fh:
            if fh.read(8) != b"\x89HDF\r\n\x1a\n":
                return []
        import h5py
    except (OSError, ImportError, ValueError):
        return []
    found: list[str] = []
    here = os.path.dirname(local)

    def visit(name: str, link: Any) -> None:
        if isinstance(link, h5py.ExternalLink):
            found.append(os.path.join(here, link.filename))
        elif isinstance(link, h5py.HardLink):
            node = f.get(name)
            if isinstance(node, h5py.Dataset) and node.is_virtual:
                found.extend(os.path.join(here, m.file_name) for m in node.virtual_sources()
                             if m.file_name != ".")

    try:
        with h5py.File(local, "r") as f:
            walk = getattr(f, "visititems_links", None)  # h5py >= 3.11
            if walk is not None:
                walk(visit)
    except (OSError, ValueError, RuntimeError):
        return found
    return found


def _description_paths(desc: Any) -> Iterator[str]:
    if isinstance(desc, dict):
        for key, value in desc.items():
            if key in ("path", "filename", "file") and isinstance(value, str):
                yield value
            else:
                yield from _description_paths(value)
    elif isinstance(desc, list):
        for value in desc:
            yield from _description_paths(value)


def _overlap(target: Location, source: Location) -> str | None:
    """How ``target`` relates to ``source``: "is", "contains", "lies inside", or None.

    Backends are compared by scheme, not by their options: a source read through
    other credentials or an endpoint spelled otherwise may still be the target.
    """
    if target.backend.scheme != source.backend.scheme:
        return None
    a, b = target.path.rstrip("/"), source.path.rstrip("/")
    if a == b:
        return "is"
    if b.startswith(a + "/") or a == "":
        return "contains"
    if a.startswith(b + "/") or b == "":
        return "lies inside"
    return None


def refuse_source(target: Location, series: ImageSeries) -> None:
    """Raise if ``target`` is, contains or lies inside a file or store ``series`` reads."""
    for source in source_paths(series):
        try:
            found = storage.locate(source)
        except (OSError, ValueError):
            continue
        how = _overlap(target, found)
        if how is not None:
            raise SourceTargetError(
                f"cannot write to {target.text!r}: it {how} {source!r} (resolved: "
                f"{found.url!r}), a source of the series being written; write to another path")


def refuse_cwd(target: Location) -> None:
    """Raise if ``target`` is the working directory or one of its ancestors."""
    if target.local is None:
        return
    cwd = storage.locate(os.getcwd())
    if target.contains(cwd):
        raise TargetRefusedError(
            f"cannot write to {target.text!r}: it is the current directory or contains it "
            f"({cwd.path!r}); give the path of a new file or store")


def refuse_foreign(target: Location, fmt: str, is_container: Any, what: Any = None) -> None:
    """Raise if something exists at ``target`` that is not a series container of ``fmt``."""
    found = target.stat()
    if found is None or is_container(target if what is None else what):
        return
    kind = "directory" if found.is_dir else "file"
    raise TargetRefusedError(
        f"{target.text!r} exists and is a {kind} that is not a {fmt} series this project "
        f"may replace; overwrite=True only replaces a {fmt} series, so it is left untouched; "
        "remove it yourself or write to another path")


__all__ = ["refuse_cwd", "refuse_foreign", "refuse_source", "source_paths"]

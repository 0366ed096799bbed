"""Where a write goes, and whether it may go there.

Every check compares resolved real paths: ``file://`` URLs become paths,
``..`` and trailing slashes are normalised, symlinks are followed, so that
``x/../scan.zarr``, ``file:///.../scan.zarr``, ``scan.zarr/`` and a link to
``scan.zarr`` all name the same store.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from typing import Any

from pipeline import plan
from pipeline.errors import SourceTargetError, TargetRefusedError
from pipeline.series import ImageSeries


def local_path(text: str) -> str | None:
    """The resolved local path ``text`` names, or None for a remote URL."""
    if "://" in text:
        parts = urllib.parse.urlsplit(text)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            return None
        text = urllib.parse.unquote(parts.path)
    return os.path.realpath(os.path.abspath(os.path.expanduser(text)))


def reopen_path(text: str, local: str) -> str:
    """The path to reopen a written target by: as the caller spelled it, where the system can
    follow that spelling (``x/../y`` with ``x`` missing it cannot), else the resolved one."""
    return text if "://" in text or os.path.exists(text) else local


def _within(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)


def source_paths(series: ImageSeries) -> list[str]:
    """Every file or store ``series`` reads, as given (sources of processed series too).

    The paths named in the description of the series it reads (a wrapper
    such as an omega series gives its inner series' description), those
    its :meth:`~pipeline.series.ImageSeries.source_paths` adds (image-file
    lists), and the files HDF5 ones read through links.
    """
    source = plan.of(series).source
    found = list(_description_paths(source.description()))
    found.extend(os.fspath(p) for p in source.source_paths())
    for path in list(found):
        found.extend(_hdf5_linked_files(path))
    return found


def _hdf5_linked_files(path: str) -> list[str]:
    """Files an HDF5 file reads through external links and virtual datasets (NeXus masters)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != b"\x89HDF\r\n\x1a\n":
                return []
        import h5py
    except (OSError, ImportError):
        return []
    found: list[str] = []
    here = os.path.dirname(os.path.abspath(path))

    def visit(name: str, link: Any) -> None:
        if isinstance(link, h5py.ExternalLink):
            found.append(os.path.join(here, link.filename))
        elif isinstance(link, h5py.HardLink):
            node = f.get(name)
            if isinstance(node, h5py.Dataset) and node.is_virtual:
                found.extend(os.path.join(here, m.file_name) for m in node.virtual_sources()
                             if m.file_name != ".")

    try:
        with h5py.File(path, "r") as f:
            walk = getattr(f, "visititems_links", None)  # h5py >= 3.11
            if walk is not None:
                walk(visit)
    except (OSError, ValueError):
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


def refuse_source(target: str, local: str | None, series: ImageSeries) -> None:
    """Raise if ``target`` is, contains or lies inside a file or store ``series`` reads."""
    for source in source_paths(series):
        resolved = local_path(source)
        if local is None or resolved is None:
            how = "is" if source.rstrip("/") == target.rstrip("/") else None
        elif local == resolved:
            how = "is"
        elif _within(resolved, local):
            how = "contains"
        elif _within(local, resolved):
            how = "lies inside"
        else:
            how = None
        if how is not None:
            raise SourceTargetError(
                f"cannot write to {target!r}: it {how} {source!r} (resolved: "
                f"{resolved or source!r}), a source of the series being written; write to "
                "another path"
            )


def refuse_cwd(target: str, local: str) -> None:
    """Raise if ``local`` is the working directory or one of its ancestors."""
    cwd = os.path.realpath(os.getcwd())
    if _within(cwd, local):
        raise TargetRefusedError(
            f"cannot write to {target!r}: it is the current directory or contains it "
            f"({cwd!r}); give the path of a new file or store"
        )


def refuse_foreign(target: str, local: str, fmt: str, is_container: Any) -> None:
    """Raise if something exists at ``local`` that is not a series container of ``fmt``."""
    if not os.path.lexists(local):
        return
    if is_container(local):
        return
    kind = "directory" if os.path.isdir(local) else "file"
    raise TargetRefusedError(
        f"{target!r} exists and is a {kind} that is not a {fmt} series; overwrite=True only "
        f"replaces a {fmt} series, so it is left untouched; remove it yourself or write to "
        "another path"
    )

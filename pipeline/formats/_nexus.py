"""NeXus files: the frames' dataset found by NeXus attributes, across linked data files.

Detectors (Eiger, Pilatus, Jungfrau) write a small master file and the frames
in ``data_000001.h5``, ``data_000002.h5``, ... reached from the master by
external links (``/entry/data/data_000001``, ...) or through one virtual
dataset.  When ``open(f, "hdf5")`` is given no ``path``, and the file has no
hexrd-style ``images`` dataset, the frames are found by NeXus' own pointers:

1. the ``default`` attributes (root to NXentry to NXdata) and the NXdata's
   ``signal`` attribute (or a dataset with ``signal=1``, the older form);
2. else the first NXdata group holding ``signal``, ``data_NNNNNN`` parts or
   ``data``; else an NXdetector's ``data``.

Several ``data_NNNNNN`` parts open as one series (:class:`LinkedSeries`),
in the order of their numbers.  A virtual dataset whose source files are
missing is refused (HDF5 would silently give its fill value instead).
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any

import numpy as np

from ops import Region
from pipeline.errors import NotASeriesError
from pipeline.formats import _h5
from pipeline.formats.base import FileSeries, frame_numbers, output
from pipeline.series import FrameSelection, counted, region_index

PART = re.compile(r"^data_(\d+)$")


def _h5py() -> Any:
    return _h5.h5py("NeXus files")


def _attr_text(node: Any, name: str) -> str | None:
    value = node.attrs.get(name)
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, bytes | np.bytes_):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _nx_class(node: Any) -> str | None:
    return _attr_text(node, "NX_class")


def _is_group(node: Any) -> bool:
    return hasattr(node, "keys") and not hasattr(node, "shape")


def _members(group: Any) -> list[str]:
    return list(group.keys())


def _from_defaults(f: Any) -> tuple[str, list[str]] | None:
    """Follow ``default`` from the root to an NXdata and its ``signal``."""
    node = f
    for _ in range(3):
        name = _attr_text(node, "default")
        if not name or name not in node or not _is_group(node[name]):
            break
        node = node[name]
        if _nx_class(node) == "NXdata":
            return _signal(node)
    return None


def _signal(group: Any) -> tuple[str, list[str]] | None:
    """The frames of one NXdata group: ``signal``, the ``data_NNNNNN`` parts, or ``data``."""
    names = _members(group)
    signal = _attr_text(group, "signal")
    if signal and signal in names:
        return group.name, [signal]
    numbered = {n: int(m[1]) for n in names if (m := PART.match(n)) is not None}
    parts = sorted(numbered, key=numbered.__getitem__)
    if parts:
        return group.name, parts
    for name in names:  # the older form: a dataset marked signal=1
        link = group.get(name, getlink=True)
        if (isinstance(link, _h5py().HardLink) and hasattr(group[name], "shape")
                and str(group[name].attrs.get("signal", "")) == "1"):
            return group.name, [name]
    if "data" in names:
        return group.name, ["data"]
    return None


def locate(f: Any) -> tuple[str, list[str]] | None:
    """``(group, [dataset names])`` of the frames of an open NeXus file, or None if none."""
    found = _from_defaults(f)
    if found is not None:
        return found
    groups: dict[str, list[str]] = {"NXdata": [], "NXdetector": []}

    def visit(name: str, node: Any) -> None:
        kind = _nx_class(node) if _is_group(node) else None
        if kind in groups:
            groups[kind].append(name)

    f.visititems(visit)
    for name in groups["NXdata"]:
        found = _signal(f[name])
        if found is not None:
            return found
    for name in groups["NXdetector"]:
        if "data" in f[name]:
            return f[name].name, ["data"]
    return None


def datasets_named(f: Any, dataname: str) -> list[str]:
    """The paths of every dataset called ``dataname`` in the open file ``f``."""
    found: list[str] = []

    def visit(name: str, node: Any) -> None:
        if name.rsplit("/", 1)[-1] == dataname and hasattr(node, "shape"):
            found.append(name)

    f.visititems(visit)
    return found


def find_frames(filename: Any, dataname: str, group: str | None) -> tuple[str, list[str]] | None:
    """``(group, [dataset names])`` of the NeXus frames of ``filename`` (or of its ``group``).

    None where hexrd's layout (a dataset ``dataname``) is, or no NeXus frames
    are: the caller then reads the file as hexrd lays it out.  Several names
    are parts read as one :class:`LinkedSeries`.
    """
    if not isinstance(filename, str | os.PathLike):
        return None
    path = os.fspath(filename)
    if not os.path.isfile(path) or not _h5.is_hdf5(path):
        return None
    with _h5.open_file(path, "NeXus files") as f:
        if group is None:
            return None if datasets_named(f, dataname) else locate(f)
        node = f.get(group)
        ok = node is not None and _is_group(node) and dataname not in node
        return _signal(node) if ok else None


def check_virtual_sources(ds: Any, filename: str) -> None:
    """Refuse a virtual dataset whose source files are missing (HDF5 would fill in silently)."""
    if not getattr(ds, "is_virtual", False):
        return
    here = os.path.dirname(os.path.abspath(filename))
    prefix = os.environ.get("HDF5_VDS_PREFIX", "")
    missing = []
    for source in {m.file_name for m in ds.virtual_sources()}:
        if source == "." or os.path.isabs(source) and os.path.exists(source):
            continue
        places = [os.path.join(here, source), os.path.join(prefix, source) if prefix else None,
                  os.path.abspath(source)]
        if not any(p and os.path.exists(p) for p in places):
            missing.append(source)
    if missing:
        raise NotASeriesError(
            f"{filename!r}: virtual dataset {ds.name!r} maps files that are missing: "
            f"{sorted(missing)} (looked beside {filename!r}); copy them there, or set "
            "HDF5_VDS_PREFIX to their directory"
        )


class LinkedSeries(FileSeries):
    """Frames of several datasets (``data_000001``, ...) of one group, one after the other.

    Parameters
    ----------
    filename
        The master file.
    group
        The group holding the parts (external links, soft links or datasets).
    names
        The parts, in frame order.
    """

    format_name = "hdf5"

    def __init__(self, filename: str | os.PathLike[str], group: str, names: list[str]) -> None:
        self._path = os.fspath(filename)
        self._group, self._names = group, list(names)
        with _h5.open_file(self._path, "NeXus files") as f:
            counts, specs = [], set()
            for name in self._names:
                ds = self._part(f, name)
                if ds.ndim != 3:
                    raise NotASeriesError(f"{self._path!r}: part {name!r} has shape "
                                          f"{ds.shape}; parts hold frames as (n, rows, cols)")
                counts.append(int(ds.shape[0]))
                specs.add((tuple(int(n) for n in ds.shape[1:]), np.dtype(ds.dtype)))
                chunks = ds.chunks
            if len(specs) != 1:
                raise NotASeriesError(f"{self._path!r}: the parts of {group!r} disagree on "
                                      f"frame shape or dtype: {sorted(map(str, specs))}")
            self._meta = _h5.read_attrs(f[group].attrs)
        (self._shape, self._dtype), = specs
        self._starts = np.cumsum([0, *counts])
        self._nframes = int(self._starts[-1])
        self._chunk = int(chunks[0]) if chunks else None

    def _part(self, f: Any, name: str) -> Any:
        group = f[self._group]
        link = group.get(name, getlink=True)
        try:
            found = group[name]
        except (KeyError, RuntimeError, OSError) as err:  # missing, a link cycle, unreadable
            where = (f"file {link.filename!r} (beside the master, or in HDF5_EXT_PREFIX)"
                     if isinstance(link, _h5py().ExternalLink) else "its target")
            raise NotASeriesError(
                f"{self._path!r}: part {self._group}/{name} links to {where}, which "
                f"cannot be opened ({err}); copy the data files beside the master file"
            ) from None
        if not isinstance(found, _h5py().Dataset):
            raise NotASeriesError(f"{self._path!r}: part {self._group}/{name} is a "
                                  f"{type(found).__name__} ({found.name!r}), not a dataset "
                                  "of frames")
        return found

    def open_handle(self, stack: contextlib.ExitStack) -> Any:
        return stack.enter_context(_h5.open_file(self._path, "NeXus files"))

    def _datasets(self) -> list[Any]:
        return self.from_handle("parts", lambda f: [self._part(f, name) for name in self._names])

    @property
    def frame_chunk(self) -> int | None:
        return self._chunk

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        # whole frames without in-frame slices: h5py's cheapest selection
        index = () if region == self.spec.full_region else region_index(region)
        n = len(frame_numbers(frames, len(self)))
        with self.lock, _h5.reading(self._path):
            parts = self._datasets()
            if isinstance(frames, slice) and n:
                start = frames.start or 0
                k = int(np.searchsorted(self._starts, start, side="right")) - 1
                lo = start - int(self._starts[k])
                if start + n <= self._starts[k + 1]:  # within one part: h5py's array as is
                    return np.asarray(parts[k][(slice(lo, lo + n), *index)])
            out = output(range(n), region, self._dtype)
            if isinstance(frames, slice):
                if n:
                    self._read_run(parts, frames.start or 0, out, index)
                return out
            part_of = np.searchsorted(self._starts, frames, side="right") - 1
            for k in np.unique(part_of):
                here = np.flatnonzero(part_of == k)
                # h5py wants strictly increasing indices: each frame once, in order
                unique, back = np.unique(frames[here] - self._starts[k], return_inverse=True)
                out[here] = np.asarray(parts[k][(unique, *index)])[back]
        return out

    def _read_run(self, parts: list[Any], start: int, out: np.ndarray,
                  index: tuple[slice, ...]) -> None:
        """Frames ``start, start + 1, ...`` into ``out``, straight from each part they span."""
        done = 0
        k = int(np.searchsorted(self._starts, start, side="right")) - 1
        while done < len(out):
            lo = start + done - int(self._starts[k])
            take = min(len(out) - done, int(self._starts[k + 1] - self._starts[k]) - lo)
            # plain slicing: h5py's fast path (read_direct is slower for whole chunks)
            out[done:done + take] = parts[k][(slice(lo, lo + take), *index)]
            done += take
            k += 1

    def options(self) -> dict[str, Any]:
        return {"group": self._group, "parts": list(self._names)}

    def __repr__(self) -> str:
        return (f"<LinkedSeries {self._path!r}:{self._group}/{{{self._names[0]}.."
                f"{self._names[-1]}}}: {counted(len(self), 'frame')} of {self.shape} {self.dtype}>")


__all__ = ["LinkedSeries", "check_virtual_sources", "datasets_named", "find_frames", "locate"]

"""hexrd's sparse frame caches, in both of its styles.

``npz``
    A numpy ``.npz`` archive with ``{i}_row``, ``{i}_col``, ``{i}_data`` per
    frame, ``shape``, ``nframes``, ``dtype``; every other key is metadata.
``fch5``
    An HDF5 file with the ``HEXRD_FRAMECACHE_VERSION`` attribute (1), the
    datasets ``data`` (m, 1), ``indices`` (m, 2: row, col), ``frame_ids``
    (2 * nframes: frame i is ``[frame_ids[2i], frame_ids[2i+1])``), ``shape``,
    ``nframes``, ``dtype`` and a ``metadata`` group.

The style is read from the file's first bytes.  Frames are densified one at
a time when read; ``s[j, rows, cols]`` with index arrays is answered from the
sparse entries without making the frame dense.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import posixpath
import zipfile
import zlib
from typing import Any

import numpy as np

from ops import Region
from pipeline import _json
from pipeline.errors import (
    FrameIndexError,
    FrameShapeError,
    MetadataClashError,
    NotMyFormat,
    OptionValueError,
    UnreadableFrameError,
)
from pipeline.formats import _h5
from pipeline.formats._encoding import FileEncoding
from pipeline.formats._fch5 import read_fch5_header, wrap_value, write_fch5, write_into_group
from pipeline.formats._filewrite import frame_metadata
from pipeline.formats._npzcache import (
    FRAME_KEY,
    RESERVED,
    load_npz,
    npz_value,
    read_npz_header,
    read_yml_cache,
    write_npz,
    yml_cache,
)
from pipeline.formats._plugin import Format
from pipeline.formats.base import FileSeries, FrameNumbers, frame_numbers
from pipeline.series import FrameSelection, ImageSeries, counted

ZIP_SIGNATURE = b"PK\x03\x04"
STYLES = ("npz", "fch5")
YML_STYLES = ("yml", "yaml")
READ_STYLES = (*STYLES, *YML_STYLES)

SPARSE_CACHE_BYTES = 256 * 2**20
"""Bytes of sparse entries a frame-cache series keeps in memory once read."""


def _style_name(style: str) -> str:
    return "yml" if style in YML_STYLES else style


def file_style(path: str) -> str | None:
    """``"npz"``, ``"fch5"`` (an HDF5 file, frame cache or not), or None, from the first bytes."""
    try:
        with builtins.open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return None
    if head.startswith(ZIP_SIGNATURE):
        return "npz"
    return "fch5" if head == _h5.SIGNATURE else None


class FrameCacheSeries(FileSeries):
    """A hexrd frame cache (``.npz`` or ``.fch5``), read one sparse frame at a time.

    Parameters
    ----------
    path
        The cache file; for fch5 also an open ``h5py.File`` or group, read
        through while the caller keeps it open.  For the deprecated ``yml``
        style, the YAML file naming the npz cache.
    style
        ``"npz"``, ``"fch5"`` or ``"yml"`` (also ``"yaml"``); default: read
        from the file.
    group
        The group holding an fch5 cache inside the file (hexrd's ``path=``),
        relative to an open group given as ``path``; default the root.
    """

    format_name = "frame-cache"
    transient = ("_sparse", "_sparse_bytes")  # entries read, kept up to SPARSE_CACHE_BYTES
    _sparse: dict[int, tuple[np.ndarray, ...]] | None = None
    _sparse_bytes: int | None = None

    def __init__(self, path: Any, style: str | None = None, group: str | None = None) -> None:
        if style is not None and style not in READ_STYLES:
            raise OptionValueError(
                f"style={style!r}: a frame cache style is one of {READ_STYLES}")
        self._group = group
        where: Any = path
        if _h5.is_h5_node(path):
            self.borrow(path.file)
            self._path, self._group = _h5.node_location(path, group)
            found: str | None = "fch5"
        else:
            self._path = where = os.fspath(path)
            found = file_style(self._path)
        if found is None and style in (None, *YML_STYLES):
            found = "yml" if style is not None or yml_cache(self._path) is not None else None
        if found is None or (style is not None and _style_name(style) != found):
            raise NotMyFormat(f"{self._path!r} is not a frame cache of style {style or STYLES}")
        self._style = found
        if found == "yml":
            self._yml = self._path
            self._path, header = read_yml_cache(self._path)
        elif found == "npz":
            header = read_npz_header(self._path)
        else:
            with _h5.opened(where) as f:
                header = read_fch5_header(f[self._group] if self._group else f)
        self._nframes, self._shape, self._dtype, self._meta = header

    # -- opening ---------------------------------------------------------------------

    def open_handle(self, stack: contextlib.ExitStack) -> Any:
        if self._style != "fch5":
            return load_npz(self._path, stack)
        # hexrd compresses fch5 with hdf5plugin's Blosc: h5py from _h5 has it registered
        return stack.enter_context(_h5.open_file(self._path, "fch5 frame caches"))

    def sparse_frame(self, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, cols, values)`` of the stored entries of frame ``j``.

        Entries read are kept (up to :data:`SPARSE_CACHE_BYTES` per series, the
        oldest dropped first), so a frame read again costs no file access, as
        with hexrd's in-memory frame list; the arrays are shared, read-only.
        """
        rows, cols, vals, _ = self._entries(self.frame_index(j))
        return rows, cols, vals

    def _entries(self, j: int) -> tuple[np.ndarray, ...]:
        """Frame ``j``'s rows, columns, values and flat positions, read once and kept."""
        cache = self.__dict__.get("_sparse")
        if cache is None:
            cache = self.__dict__["_sparse"] = {}
        hit = cache.get(j)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        with self.lock:
            try:
                rows, cols, vals = self._read_sparse(j)
            except UnreadableFrameError:
                raise
            except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, KeyError,
                    OSError) as err:
                raise UnreadableFrameError(
                    f"{self._path!r}: frame {j}'s entries cannot be read ({type(err).__name__}: "
                    f"{err}); the cache is damaged, write it again") from None
        self._check_entries(j, rows, cols, vals)
        # flat positions: one scatter per frame, twice as fast as a 2-d fancy assignment
        entries = (rows, cols, vals, rows.astype(np.intp) * self._shape[1] + cols)
        for part in entries:
            part.flags.writeable = False
        with self.lock:
            if j in cache:  # another thread read it meanwhile
                return cache[j]  # type: ignore[no-any-return]
            cache[j] = entries
            size = (self.__dict__.get("_sparse_bytes") or 0) + sum(p.nbytes for p in entries)
            while size > SPARSE_CACHE_BYTES and len(cache) > 1:
                size -= sum(p.nbytes for p in cache.pop(next(iter(cache))))
            self._sparse_bytes = size
        return entries

    def _check_entries(self, j: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray
                       ) -> None:
        """Frame ``j``'s entries as the format has them, or UnreadableFrameError: rows, columns
        and values of one length, integer positions inside the frame (never wrapped around
        from a negative one, nor dropped), numeric values."""
        problem = None
        if rows.ndim != 1 or cols.shape != rows.shape or vals.shape != rows.shape:
            problem = (f"rows, columns and values of shapes {rows.shape}, {cols.shape}, "
                       f"{vals.shape}; they are one-dimensional and of one length")
        elif rows.dtype.kind not in "iu" or cols.dtype.kind not in "iu":
            problem = f"positions of dtypes {rows.dtype}, {cols.dtype}, not integers"
        elif vals.dtype.kind not in "biufc":
            problem = f"values of dtype {vals.dtype}, not numbers"
        elif rows.size:
            for axis, (where, n) in enumerate(zip((rows, cols), self._shape)):
                low, high = int(where.min()), int(where.max())
                if low < 0 or high >= n:
                    problem = (f"a {('row', 'column')[axis]} of {low if low < 0 else high}, "
                               f"outside frames of shape {self._shape}")
                    break
        if problem is not None:
            raise UnreadableFrameError(f"{self._path!r}: frame {j}'s entries hold {problem}; "
                                       "the cache is damaged, write it again")

    def _read_sparse(self, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._style != "fch5":
            z = self.handle
            return z[f"{j}_row"], z[f"{j}_col"], z[f"{j}_data"]
        base = self._group or "/"
        # looked up once per handle: a dataset lookup costs more than a sparse frame
        ids = self.from_handle("frame_ids", lambda f: np.asarray(
            f[posixpath.join(base, "frame_ids")][...], dtype=np.int64))
        indices = self.from_handle("indices", lambda f: f[posixpath.join(base, "indices")])
        data = self.from_handle("data", lambda f: f[posixpath.join(base, "data")])
        lo, hi = int(ids[2 * j]), int(ids[2 * j + 1])
        if not 0 <= lo <= hi <= len(data) or indices.shape[1:] != (2,):
            raise UnreadableFrameError(
                f"{self._path!r}: frame {j}'s entries are {lo}..{hi} of the {len(data)} "
                f"stored (indices of shape {indices.shape}); the cache is damaged, write it "
                "again")
        idx, vals = np.asarray(indices[lo:hi]), np.asarray(data[lo:hi])
        return idx[:, 0], idx[:, 1], vals.reshape(-1)

    @property
    def style(self) -> str:
        return self._style

    def read_metadata(self) -> dict[str, Any]:
        if self._style == "yml":
            return read_yml_cache(self._yml)[1][3]
        if self._style == "npz":
            return read_npz_header(self._path)[3]
        with self.lock:
            return read_fch5_header(self.handle[self._group or "/"])[3]

    def options(self) -> dict[str, Any]:
        return {"style": self._style, **({"group": self._group} if self._group else {})}

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        indices: FrameNumbers = frame_numbers(frames, len(self))
        (r0, r1), (c0, c1) = region
        out = np.zeros((len(indices), r1 - r0, c1 - c0), self._dtype)
        full = region == ((0, self._shape[0]), (0, self._shape[1]))
        for k, j in enumerate(indices):
            rows, cols, vals, flat = self._entries(int(j))
            if full:
                out[k].reshape(-1)[flat] = vals
                continue
            keep = (rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)
            out[k, rows[keep].astype(np.intp) - r0, cols[keep].astype(np.intp) - c0] = vals[keep]
        return out

    def _index_frame(self, j: int, index: tuple[Any, ...]) -> np.ndarray:
        """``s[j, rows, cols]`` with integer arrays: looked up in the sparse entries."""
        if len(index) != 2 or any(isinstance(i, slice) or i is Ellipsis or i is None
                                  for i in index):
            return super()._index_frame(j, index)
        want = [np.asarray(i) for i in index]
        if any(w.dtype.kind not in "iu" for w in want):
            return super()._index_frame(j, index)
        want = list(np.broadcast_arrays(*want))
        for axis, (w, n) in enumerate(zip(want, self._shape)):
            if w.size and (w.min() < -n or w.max() >= n):
                raise FrameIndexError(
                    f"index {int(w.max() if w.max() >= n else w.min())} is out of "
                    f"bounds for axis {axis} of frames of shape {self._shape}"
                )
            want[axis] = np.where(w < 0, w + n, w).astype(np.int64)
        rows, cols, vals = self.sparse_frame(j)
        width = self._shape[1]
        keys = rows.astype(np.int64) * width + cols.astype(np.int64)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        query = want[0] * width + want[1]
        pos = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
        found = (keys[pos] == query) if len(keys) else np.zeros(query.shape, bool)
        out = np.zeros(query.shape, self._dtype)
        out[found] = vals[order][pos[found]]
        return out

    def __repr__(self) -> str:
        return (f"<FrameCacheSeries {self._path!r} ({self._style}): {counted(len(self), 'frame')} of "
                f"{self.shape} {self.dtype}>")


def open(fname: Any, /, style: str | None = None, path: str | None = None
         ) -> FrameCacheSeries:
    """hexrd's ``open(f, "frame-cache", style=..., path=...)``: a frame cache, lazily.

    ``fname`` is an ``.npz`` or ``.fch5`` file, an open ``h5py.File`` or
    group holding an fch5 cache (``path=`` the group inside it), or a
    deprecated ``yml`` cache description.
    """
    return FrameCacheSeries(fname, style=style, group=path)


def sniff(path: str) -> bool:
    style = file_style(path)
    if style != "fch5":
        return style == "npz"
    return _h5.layout(path) == "fch5"


def write_into(series: ImageSeries, node: Any, /, threshold: float | None = None,
               style: str | None = None, overwrite: bool = False, path: str | None = None
               ) -> FrameCacheSeries:
    """Write an fch5 frame cache into the caller's open, writable ``h5py.File`` (hexrd's form).

    ``path`` is the group to create for the cache; the other options are
    those of :func:`encoder`; the file is left open.
    """
    return _write_into(series, node, path, threshold, style or "fch5", overwrite)


def target(fname: str | os.PathLike[str], options: dict[str, Any]) -> str:
    """The file a write goes to: hexrd's ``cache_file`` (taken out of ``options``) beside ``fname``."""
    text, cache_file = os.fspath(fname), options.pop("cache_file", None)
    if cache_file is None:
        return text
    name = os.fspath(cache_file)
    return name if os.path.isabs(name) else os.path.join(os.path.dirname(text), name)


def _write_into(series: ImageSeries, node: Any, path: str | None, threshold: float | None,
                style: str, overwrite: bool) -> FrameCacheSeries:
    check_style(style)
    if len(series.shape) != 2:
        raise FrameShapeError(
            f"a frame cache holds 2-d frames; this series has shape {series.shape}"
        )
    meta = frame_metadata(series)
    for key, value in meta.items():
        wrap_value(key, value, None)  # checks keys and values before any work
    write_into_group(series, node, path, threshold, style, overwrite, meta)
    return FrameCacheSeries(node, style="fch5", group=path)


def encoder(series: ImageSeries, target: str = "", threshold: float | None = None,
            style: str | None = None) -> FileEncoding:
    """Encode ``series`` as a hexrd frame cache.

    Parameters
    ----------
    threshold
        Keep only values strictly above it (hexrd's ``threshold``); default
        keeps every non-zero value, losslessly.  A frame keeping more than
        10% of its pixels warns (:class:`~pipeline.errors.DenseFrameWarning`).
    style
        ``"npz"`` or ``"fch5"``; default from the extension (``.npz`` -> npz,
        ``.fch5``/``.h5``/``.hdf5`` -> fch5).

    ``pipeline.write(s, f, "frame-cache", cache_file=...)`` writes hexrd's
    ``cache_file`` beside ``f`` instead (:func:`target`).
    """
    style = style or ("npz" if target.lower().endswith(".npz") else "fch5")
    check_style(style)
    if len(series.shape) != 2:
        raise FrameShapeError(
            f"a frame cache holds 2-d frames; this series has shape {series.shape}"
        )
    meta = frame_metadata(series)
    bad = [k for k in meta if k in RESERVED or FRAME_KEY.match(k)]
    if bad:
        raise MetadataClashError(
            f"metadata keys {bad} clash with frame-cache entries; rename them"
        )
    _json.check(meta)
    if style == "npz":
        entries = {k: npz_value(k, v) for k, v in meta.items()}

        def encode(tmp: str, blocks: Any) -> None:
            write_npz(series, tmp, threshold, entries, blocks)
    else:
        for key, value in meta.items():
            wrap_value(key, value, None)  # checks keys and values before any work

        def encode(tmp: str, blocks: Any) -> None:
            write_fch5(series, tmp, threshold, meta, blocks)

    return FileEncoding("frame-cache", encode, is_cache_container,
                        lambda p: FrameCacheSeries(p, style=style), check_blocks=style == "fch5")


def is_cache_container(path: str) -> bool:
    """An HDF5 file, or a zip archive of ``.npy`` members only (not any zip, a .docx)."""
    found = file_style(path)
    if found != "npz":
        return found == "fch5"
    try:
        with zipfile.ZipFile(path) as zf:
            return all(name.endswith(".npy") for name in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def check_style(style: Any) -> None:
    if style not in STYLES:
        raise OptionValueError(f"Unknown file style for writing a frame cache: style={style!r}; "
                               f"the styles are {STYLES}")


class FrameCacheFormat(Format):
    """hexrd's sparse frame caches, npz and fch5 (:func:`open`, :func:`encoder`)."""

    name = "frame-cache"
    aliases = ("frame_cache", "framecache", "fch5")
    extensions = (".npz", ".fch5")
    writes = "file"
    open = staticmethod(open)
    sniff = staticmethod(sniff)
    encoder = staticmethod(encoder)
    target = staticmethod(target)
    write_into = staticmethod(write_into)


FORMAT = FrameCacheFormat()

__all__ = ["FORMAT", "FrameCacheFormat", "FrameCacheSeries", "encoder", "open", "sniff",
           "target", "write_into"]

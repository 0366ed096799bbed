"""The HDF5 style (``.fch5``) of hexrd's frame caches: its header, and writing one.

An fch5 cache holds the ``HEXRD_FRAMECACHE_VERSION`` attribute (1), the
datasets ``data`` (m, 1), ``indices`` (m, 2: row, col), ``frame_ids``
(2 * nframes: frame i is ``[frame_ids[2i], frame_ids[2i+1])``), ``shape``,
``nframes``, ``dtype`` and a ``metadata`` group, in a file or in any group of
one (hexrd's ``path=``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from pipeline import _json
from pipeline.errors import (
    MetadataError,
    NotASeriesError,
    NotMyFormat,
    OptionValueError,
    StoreExistsError,
    UnsupportedVersionError,
)
from pipeline.formats import _h5
from pipeline.formats._filewrite import iter_blocks
from pipeline.formats._npzcache import Header, index_dtype, sparse_entries
from pipeline.series import ImageSeries

VERSION_ATTR = _h5.FRAMECACHE_ATTR
VERSION = 1
MEMBERS = ("data", "indices", "frame_ids", "shape", "nframes", "dtype", "metadata")


def _text(value: Any) -> str:
    value = value.item() if isinstance(value, np.ndarray) and value.size == 1 else value
    return value.decode() if isinstance(value, bytes) else str(value)


def read_fch5_header(path: Any) -> Header:
    """``(nframes, shape, dtype, metadata)`` of an fch5 frame cache (a file or an open group)."""
    with _h5.opened(path) as f:
        if VERSION_ATTR not in f.attrs:
            raise NotMyFormat(f"{path!r} is an HDF5 file without the {VERSION_ATTR} attribute")
        version = int(f.attrs[VERSION_ATTR])
        if version != VERSION:
            raise UnsupportedVersionError(
                f"{path!r}: frame-cache version {version!r} is not supported; "
                f"this reader knows version {VERSION}"
            )
        missing = [k for k in ("data", "indices", "frame_ids", "shape", "nframes", "dtype")
                   if k not in f]
        if missing:
            raise NotASeriesError(f"{path!r}: fch5 frame cache lacks the datasets {missing}")
        try:
            nframes = int(np.asarray(f["nframes"][()]).reshape(-1)[0])
            shape = tuple(int(n) for n in np.asarray(f["shape"][()]).reshape(-1))
            dtype = np.dtype(_text(f["dtype"][()]))
        except (TypeError, ValueError, IndexError, UnicodeDecodeError, OverflowError) as err:
            raise NotASeriesError(f"{path!r}: the frame cache's nframes, shape or dtype "
                                  f"cannot be read ({type(err).__name__}: {err}); the file "
                                  "is damaged") from None
        n_ids = int(f["frame_ids"].shape[0])
        if n_ids != 2 * nframes:
            raise NotASeriesError(
                f"{path!r}: nframes is {nframes} but frame_ids holds {n_ids} entries "
                f"({n_ids // 2} frames); the file is inconsistent, rewrite it"
            )
        meta: dict[str, Any] = {}
        if "metadata" in f:
            _unwrap(f["metadata"], meta)
    if len(shape) != 2:
        raise NotASeriesError(f"{path!r}: frame-cache shape {shape} is not (rows, cols)")
    return nframes, shape, dtype, meta


def _unwrap(group: Any, out: dict[str, Any]) -> None:
    """Datasets to values as hexrd reads them: strings decoded, 1-element arrays as scalars.

    Strings ``"json:..."`` are values this writer could not store as hexrd
    does; the one codec restores them.
    """
    for key, node in group.items():
        if not hasattr(node, "shape"):
            out[key] = {}
            _unwrap(node, out[key])
        elif node.dtype.kind == "O" or node.dtype.kind == "S":
            value = node.asstr()[()]
            out[key] = np.asarray(value) if isinstance(value, np.ndarray) else value
            if isinstance(out[key], np.ndarray) and out[key].size == 1:
                out[key] = str(out[key].reshape(-1)[0])
            if isinstance(out[key], str) and out[key].startswith(JSON_PREFIX):
                out[key] = _json.decode(json.loads(out[key][len(JSON_PREFIX):]))
        else:
            value = np.asarray(node[()])
            out[key] = value.reshape(-1)[0].item() if value.ndim == 1 and len(value) == 1 \
                else value


JSON_PREFIX = "json:"


def _hexrd_native(value: Any) -> bool:
    """Whether hexrd's layout gives ``value`` back exactly (type, dtype and shape)."""
    if isinstance(value, bool | float) or isinstance(value, int) and -2**63 <= value < 2**63:
        return True  # stored as 1-element arrays, read back with .item()
    if isinstance(value, str):
        return not value.startswith(JSON_PREFIX)
    return (isinstance(value, np.ndarray) and value.dtype.kind in "biufc" and value.ndim >= 1
            and value.size != 1)


def wrap_value(key: str, value: Any, group: Any) -> None:
    """Store ``value`` under ``key`` in ``group`` (``None``: only check that it can be)."""
    if not isinstance(key, str) or "/" in key or key in ("", ".", ".."):
        raise MetadataError(f"metadata key {key!r}: an fch5 frame cache needs keys without '/'")
    if isinstance(value, bytes):
        value = _json.decode(_json.encode(value))  # str when UTF-8
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        sub = group.create_group(key) if group is not None else None
        for k, v in value.items():
            wrap_value(k, v, sub)
        return
    if _hexrd_native(value):
        data: Any = value if isinstance(value, str) else np.atleast_1d(np.asarray(value))
    else:
        data = JSON_PREFIX + json.dumps(_json.encode(value, where=key))
    if group is not None:
        group.create_dataset(key, data=data)


def write_fch5(series: ImageSeries, tmp: str, threshold: float | None,
               meta: dict[str, Any], blocks: Any) -> None:
    """Write ``series`` (its ``blocks``) into ``tmp`` (a file, or an open group), hexrd's layout."""
    n = len(series)
    idx_dtype = index_dtype(series.shape)
    frame_ids = np.zeros(2 * n, np.uint64)
    with _h5.opened(tmp, "w") as f:
        f.attrs[VERSION_ATTR] = VERSION
        f["shape"] = np.asarray(series.shape)
        f["nframes"] = n
        f["dtype"] = str(series.dtype).encode("utf-8")
        group = f.create_group("metadata")
        for key, value in meta.items():
            wrap_value(key, value, group)
        opts: dict[str, Any] = {"chunks": True, "compression": "gzip", "compression_opts": 1}
        data = f.create_dataset("data", (0, 1), series.dtype, maxshape=(None, 1), **opts)
        indices = f.create_dataset("indices", (0, 2), idx_dtype, maxshape=(None, 2), **opts)
        end = 0
        for start, block in blocks:
            for k, frame in enumerate(block):
                rows, cols, vals = sparse_entries(frame, threshold, start + k)
                count = len(vals)
                data.resize(end + count, axis=0)
                indices.resize(end + count, axis=0)
                data[end:end + count, 0] = vals
                indices[end:end + count] = np.stack([rows, cols], axis=1).astype(idx_dtype)
                frame_ids[2 * (start + k):2 * (start + k) + 2] = (end, end + count)
                end += count
        f.create_dataset("frame_ids", data=frame_ids)


def write_into_group(series: ImageSeries, node: Any, path: str | None, threshold: float | None,
                     style: str, overwrite: bool, meta: dict[str, Any]) -> None:
    """Write an fch5 cache into the open group ``node`` (or its new subgroup ``path``)."""
    if style != "fch5":
        raise OptionValueError(f"style={style!r}: a frame cache inside an open HDF5 file is "
                               "of style 'fch5'")
    _h5.writable(node, "a frame cache")
    write_fch5(series, _cache_group(node, path, overwrite), threshold, meta, iter_blocks(series))


def _cache_group(node: Any, path: str | None, overwrite: bool) -> Any:
    if path and path not in node:
        return node.create_group(path)
    where = node[path] if path else node
    is_group = hasattr(where, "keys")
    members = [k for k in MEMBERS if k in where] if is_group else []
    is_cache = is_group and VERSION_ATTR in where.attrs
    if is_group and not (members or is_cache) and (not path or not len(where)):
        return where  # nothing of a frame cache there yet
    name = f"{node.file.filename!r}:{where.name}"
    if not overwrite:
        raise StoreExistsError(f"{name} already holds a frame cache (or something else); pass "
                               "overwrite=True to replace a frame cache, or choose another path=")
    if not is_cache:
        raise StoreExistsError(f"{name} holds {members} but is not a frame cache; it is not "
                               "replaced even with overwrite=True")
    if path:
        del node[path]
        return node.create_group(path)
    for key in members:
        del where[key]
    return where

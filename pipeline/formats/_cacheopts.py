"""hexrd's frame-cache options: ``cache_file=``, caches inside open HDF5 files, ``yml`` caches.

A deprecated ``yml`` cache is a YAML file naming an npz cache, with metadata::

    data:
      file: cache.npz        # relative to the YAML file's directory
      nframes: 100
      shape: [2048, 2048]
      dtype: uint16
    meta:
      omega: "! load-numpy-array omega.npy"
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from pipeline.errors import (
    NotASeriesError,
    NotMyFormat,
    OptionValueError,
    StoreExistsError,
    WriteTargetError,
)
from pipeline.series import ImageSeries

YML_STYLES = ("yml", "yaml")
_DATA_KEYS = ("file", "nframes", "shape", "dtype")


def _yml_cache(path: str) -> dict[str, Any] | None:
    """The YAML document at ``path`` if it describes a frame cache (a ``data:`` with a ``file``)."""
    from pipeline.formats.imagefiles import load_yaml

    if not os.path.isfile(path) or os.path.getsize(path) > 2**20:
        return None
    doc = load_yaml(path)
    data = doc.get("data") if isinstance(doc, dict) else None
    return doc if isinstance(data, dict) and "file" in data else None


def _read_yml_cache(path: str) -> tuple[str, tuple[int, tuple[int, ...], np.dtype, dict[str, Any]]]:
    """``(npz path, (nframes, shape, dtype, metadata))`` of a yml cache, checked against the npz."""
    from pipeline.formats._npzcache import read_npz_header
    from pipeline.formats.imagefiles import yaml_metadata

    doc = _yml_cache(path)
    if doc is None:
        raise NotMyFormat(f"{path!r} is not a yml frame cache (a YAML 'data:' naming its 'file')")
    data = doc["data"]
    missing = [k for k in _DATA_KEYS if k not in data]
    if missing:
        raise NotASeriesError(f"{path!r}: the yml frame cache's data: lacks {missing}")
    cache = os.path.join(os.path.dirname(os.path.abspath(path)), str(data["file"]))
    nframes, shape, dtype, _ = read_npz_header(cache)
    said = (int(data["nframes"]), tuple(int(n) for n in data["shape"]), np.dtype(data["dtype"]))
    if said != (nframes, shape, dtype):
        raise NotASeriesError(
            f"{path!r} describes {said[0]} frames of {said[1]} {said[2]}, but its cache "
            f"{cache!r} holds {nframes} frames of {shape} {dtype}; rewrite one of them"
        )
    meta = yaml_metadata(doc.get("meta") or {}, path=path)
    return cache, (nframes, shape, dtype, meta)


def cache_target(fname: Any, cache_file: Any) -> str:
    """The file the frames go to: hexrd's ``cache_file`` beside ``fname``, else ``fname``."""
    text = os.fspath(fname)
    if cache_file is None:
        return text
    name = os.fspath(cache_file)
    return name if os.path.isabs(name) else os.path.join(os.path.dirname(text), name)


FCH5_MEMBERS = ("data", "indices", "frame_ids", "shape", "nframes", "dtype", "metadata")


def write_into_group(series: ImageSeries, node: Any, path: str | None, threshold: float | None,
                     style: str, overwrite: bool, meta: dict[str, Any]) -> None:
    """Write an fch5 cache into the open group ``node`` (or its new subgroup ``path``)."""
    from pipeline.formats._fch5 import write_fch5

    if style != "fch5":
        raise OptionValueError(f"style={style!r}: a frame cache inside an open HDF5 file is "
                               "of style 'fch5'")
    if node.file.mode != "r+":
        raise WriteTargetError(
            f"{node.file.filename!r} is open read-only; open it with mode 'a' or "
            "'w' to write a frame cache into it"
        )
    from pipeline.formats._filewrite import iter_blocks

    write_fch5(series, _cache_group(node, path, overwrite), threshold, meta, iter_blocks(series))


def _cache_group(node: Any, path: str | None, overwrite: bool) -> Any:
    from pipeline.formats._fch5 import VERSION_ATTR

    if path and path not in node:
        return node.create_group(path)
    where = node[path] if path else node
    is_group = hasattr(where, "keys")
    members = [k for k in FCH5_MEMBERS if k in where] if is_group else []
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

"""hexrd's frame caches as ``.npz`` archives, their ``yml`` descriptions, and sparse entries.

An archive holds ``{i}_row``, ``{i}_col``, ``{i}_data`` per frame,
``shape``, ``nframes``, ``dtype``; every other key is metadata.  A deprecated
``yml`` cache is a YAML file naming an archive, with metadata::

    data:
      file: cache.npz        # relative to the YAML file's directory
      nframes: 100
      shape: [2048, 2048]
      dtype: uint16
    meta:
      omega: "! load-numpy-array omega.npy"

The sparse entries of a frame (what a cache keeps of it) are made here for
both styles (:mod:`pipeline.formats._fch5` writes the other).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
import warnings
import zipfile
import zlib
from typing import Any

import numpy as np

from pipeline import _json
from pipeline.errors import DenseFrameWarning, NotASeriesError, NotMyFormat
from pipeline.formats._yamldoc import load_yaml, yaml_metadata
from pipeline.series import ImageSeries

JSON_PREFIX = "json:"
"""Metadata numpy cannot store without pickling (dicts, None) is kept as JSON text after this."""

FRAME_KEY = re.compile(r"^(\d+)_(row|col|data)$")
RESERVED = ("shape", "nframes", "dtype")
YML_KEYS = ("file", "nframes", "shape", "dtype")

Header = tuple[int, tuple[int, ...], np.dtype, dict[str, Any]]
"""``(nframes, frame shape, dtype, metadata)`` of a frame cache."""


def load_npz(path: str, stack: contextlib.ExitStack) -> Any:
    """The archive at ``path`` (an ``NpzFile``), closed with ``stack``, file and all.

    A truncated or corrupt archive is NotASeriesError naming it; the file is
    opened here so that it is closed when numpy refuses it.
    """
    fh = stack.enter_context(builtins.open(path, "rb"))  # noqa: SIM115  (closed with stack)
    try:
        archive = np.load(fh, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as err:
        raise NotASeriesError(f"{path!r} is a truncated or corrupt .npz archive ({err}); "
                              "write it again") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise NotMyFormat(f"{path!r} is a .npy file, not an .npz frame cache")
    return stack.enter_context(archive)


def read_npz_header(path: str) -> Header:
    """The header of the npz frame cache at ``path``, its frame keys checked."""
    with contextlib.ExitStack() as stack:
        z = load_npz(path, stack)
        try:
            keys = list(z.keys())
            missing = [k for k in RESERVED if k not in keys]
            if missing:
                raise NotMyFormat(f"{path!r} is an .npz archive without the frame-cache keys "
                                  f"{missing}")
            nframes, shape, dtype = _header_values(path, z)
            frame_keys = [k for k in keys if FRAME_KEY.match(k)]
            _check_frames(path, nframes, frame_keys)
            meta = {k: _npz_meta(z[k]) for k in keys if k not in RESERVED and k not in frame_keys}
        except (zipfile.BadZipFile, EOFError, zlib.error) as err:  # a member cut short
            raise NotASeriesError(f"{path!r} is a truncated or corrupt .npz archive ({err}); "
                                  "write it again") from None
    if len(shape) != 2:
        raise NotASeriesError(f"{path!r}: frame-cache shape {shape} is not (rows, cols)")
    return nframes, shape, dtype, meta


def _header_values(path: str, z: Any) -> tuple[int, tuple[int, ...], np.dtype]:
    """``nframes``, ``shape`` and ``dtype`` of an archive, each a value it can be."""
    try:
        nframes = int(z["nframes"])
        shape = tuple(int(n) for n in np.asarray(z["shape"]).reshape(-1))
        raw = z["dtype"]
        dtype = np.dtype(raw.tobytes().decode() if raw.dtype.kind == "S" else str(raw))
    except (TypeError, ValueError, UnicodeDecodeError, OverflowError) as err:
        raise NotASeriesError(f"{path!r}: the frame cache's nframes, shape or dtype cannot "
                              f"be read ({type(err).__name__}: {err}); the file is damaged") \
            from None
    return nframes, shape, dtype


def _check_frames(path: str, nframes: int, frame_keys: list[str]) -> None:
    found = sorted({int(FRAME_KEY.match(k).group(1)) for k in frame_keys})  # type: ignore[union-attr]
    # counts first: a forged nframes of 2**62 must not become a list of that length
    if len(frame_keys) != 3 * nframes or found != list(range(len(found))) or \
            len(found) != nframes:
        have = f"{len(found)} frames ({found[0]}..{found[-1]})" if found else "no frames"
        raise NotASeriesError(
            f"{path!r}: nframes is {nframes} but the archive holds {have} of "
            f"{{i}}_row/{{i}}_col/{{i}}_data entries ({len(frame_keys)} keys); the file is "
            "inconsistent, rewrite it"
        )


def _npz_meta(value: np.ndarray) -> Any:
    if value.ndim == 0:
        item = value.item()
        if isinstance(item, str) and item.startswith(JSON_PREFIX):
            return _json.decode(json.loads(item[len(JSON_PREFIX):]))
        return item
    return value


def npz_value(key: str, value: Any) -> Any:
    """``value`` as an npz entry that loads back as it was; JSON text where numpy cannot."""
    if isinstance(value, bytes):
        value = _json.decode(_json.encode(value))  # str when UTF-8
    native = isinstance(value, bool | float) or (
        isinstance(value, int) and -2**63 <= value < 2**63) or (
        isinstance(value, str) and not value.startswith(JSON_PREFIX)) or (
        isinstance(value, np.ndarray) and value.ndim >= 1 and value.dtype.kind in "biufcUS")
    if native:
        return np.asarray(value)
    return np.asarray(JSON_PREFIX + json.dumps(_json.encode(value, where=key)))


def write_npz(series: ImageSeries, tmp: str, threshold: float | None,
              meta_entries: dict[str, Any], blocks: Any) -> None:
    """Write ``series`` (its ``blocks``) into the file ``tmp`` as an npz frame cache."""
    idx = index_dtype(series.shape)
    entries: dict[str, np.ndarray] = {}
    for start, block in blocks:
        for k, frame in enumerate(block):
            rows, cols, vals = sparse_entries(frame, threshold, start + k)
            entries[f"{start + k}_row"] = rows.astype(idx)
            entries[f"{start + k}_col"] = cols.astype(idx)
            entries[f"{start + k}_data"] = vals
    entries["shape"] = np.asarray(series.shape)
    entries["nframes"] = np.asarray(len(series))
    entries["dtype"] = np.asarray(str(series.dtype).encode())
    entries.update(meta_entries)
    with builtins.open(tmp, "wb") as fh:  # a file object: savez would append ".npz" to a name
        np.savez_compressed(fh, **entries)  # type: ignore[arg-type]


# -- yml descriptions --------------------------------------------------------------------


def yml_cache(path: str) -> dict[str, Any] | None:
    """The YAML document at ``path`` if it describes a frame cache (a ``data:`` with a ``file``)."""
    if not os.path.isfile(path) or os.path.getsize(path) > 2**20:
        return None
    doc = load_yaml(path)
    data = doc.get("data") if isinstance(doc, dict) else None
    return doc if isinstance(data, dict) and "file" in data else None


def read_yml_cache(path: str) -> tuple[str, Header]:
    """``(npz path, header)`` of a yml cache, checked against the archive it names."""
    doc = yml_cache(path)
    if doc is None:
        raise NotMyFormat(f"{path!r} is not a yml frame cache (a YAML 'data:' naming its 'file')")
    data = doc["data"]
    missing = [k for k in YML_KEYS if k not in data]
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
    return cache, (nframes, shape, dtype, yaml_metadata(doc.get("meta") or {}, path=path))


# -- sparse entries ----------------------------------------------------------------------

MAX_NZ_FRACTION = 0.1
"""hexrd's bound: a frame keeping more of its pixels than this is too dense for a sparse cache."""


def sparse_entries(frame: np.ndarray, threshold: float | None, j: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and values kept from ``frame``: above ``threshold``, else non-zero.

    When more than :data:`MAX_NZ_FRACTION` of the pixels of frame ``j`` are
    kept, a :class:`~pipeline.errors.DenseFrameWarning` says so (as hexrd).
    """
    mask = frame != 0 if threshold is None else frame > threshold
    rows, cols = np.nonzero(mask)
    if j is not None and len(rows) > MAX_NZ_FRACTION * frame.size:
        _warn_dense(j, len(rows), frame.size, threshold)
    return rows, cols, frame[rows, cols]


def _warn_dense(j: int, count: int, size: int, threshold: float | None) -> None:
    warnings.warn(DenseFrameWarning(
        f"frame {j} is {100.0 * (1 - count / size):.2f}% sparse: {count} of its {size} "
        f"pixels ({100.0 * count / size:.2f}%) are above threshold={threshold!r}, more than "
        f"the {100 * MAX_NZ_FRACTION:.0f}% a frame cache is meant for; raise threshold= or "
        "write a dense format (zarr, hdf5)"), stacklevel=4)


def index_dtype(shape: tuple[int, ...]) -> np.dtype:
    """The narrowest unsigned dtype holding every row and column index (uint16 as hexrd's)."""
    return np.dtype(np.uint16 if max(shape) <= np.iinfo(np.uint16).max + 1 else np.uint32)

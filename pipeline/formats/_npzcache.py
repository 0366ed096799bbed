"""hexrd's frame caches as ``.npz`` archives, and the sparse entries every frame cache keeps.

An archive holds ``{i}_row``, ``{i}_col``, ``{i}_data`` per frame,
``shape``, ``nframes``, ``dtype``; every other key is metadata
(:mod:`pipeline.formats.framecache` reads and writes them).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from pipeline.errors import NotASeriesError, NotMyFormat
from pipeline.series import ImageSeries

JSON_PREFIX = "json:"
"""Metadata numpy cannot store without pickling (dicts, None) is kept as JSON text after this."""

FRAME_KEY = re.compile(r"^(\d+)_(row|col|data)$")
RESERVED = ("shape", "nframes", "dtype")


def read_npz_header(path: str) -> tuple[int, tuple[int, ...], np.dtype, dict[str, Any]]:
    import zipfile

    try:
        return _npz_header(path)
    except (zipfile.BadZipFile, EOFError) as err:  # truncated or corrupt: say which file
        raise NotASeriesError(f"{path!r} is a truncated or corrupt .npz archive ({err}); "
                              "write it again") from None


def _npz_header(path: str) -> tuple[int, tuple[int, ...], np.dtype, dict[str, Any]]:
    with np.load(path, allow_pickle=False) as z:
        keys = list(z.keys())
        missing = [k for k in RESERVED if k not in keys]
        if missing:
            raise NotMyFormat(f"{path!r} is an .npz archive without the frame-cache keys {missing}")
        nframes = int(z["nframes"])
        shape = tuple(int(n) for n in z["shape"])
        raw = z["dtype"]
        dtype = np.dtype(raw.tobytes().decode() if raw.dtype.kind == "S" else str(raw))
        frame_keys = [k for k in keys if FRAME_KEY.match(k)]
        _check_frames(path, nframes, frame_keys)
        meta = {k: _npz_meta(z[k]) for k in keys if k not in RESERVED and k not in frame_keys}
    if len(shape) != 2:
        raise NotASeriesError(f"{path!r}: frame-cache shape {shape} is not (rows, cols)")
    return nframes, shape, dtype, meta


def _check_frames(path: str, nframes: int, frame_keys: list[str]) -> None:
    found = sorted({int(FRAME_KEY.match(k).group(1)) for k in frame_keys})  # type: ignore[union-attr]
    if found != list(range(nframes)) or len(frame_keys) != 3 * nframes:
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
            from pipeline import _json

            return _json.decode(json.loads(item[len(JSON_PREFIX):]))
        return item
    return value


def npz_value(key: str, value: Any) -> Any:
    """``value`` as an npz entry that loads back as it was; JSON text where numpy cannot."""
    from pipeline import _json

    if isinstance(value, bytes):
        value = _json.decode(_json.encode(value))  # str when UTF-8
    native = isinstance(value, bool | float) or (
        isinstance(value, int) and -2**63 <= value < 2**63) or (
        isinstance(value, str) and not value.startswith(JSON_PREFIX)) or (
        isinstance(value, np.ndarray) and value.ndim >= 1 and value.dtype.kind in "biufcUS")
    if native:
        return np.asarray(value)
    return np.asarray(JSON_PREFIX + json.dumps(_json.encode(value, where=key)))


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
    import warnings

    from pipeline.errors import DenseFrameWarning

    warnings.warn(DenseFrameWarning(
        f"frame {j} is {100.0 * (1 - count / size):.2f}% sparse: {count} of its {size} "
        f"pixels ({100.0 * count / size:.2f}%) are above threshold={threshold!r}, more than "
        f"the {100 * MAX_NZ_FRACTION:.0f}% a frame cache is meant for; raise threshold= or "
        "write a dense format (zarr, hdf5)"), stacklevel=4)


def index_dtype(shape: tuple[int, ...]) -> np.dtype:
    """The narrowest unsigned dtype holding every row and column index (uint16 as hexrd's)."""
    return np.dtype(np.uint16 if max(shape) <= np.iinfo(np.uint16).max + 1 else np.uint32)


def write_npz(series: ImageSeries, tmp: str, threshold: float | None,
               meta_entries: dict[str, Any], blocks: Any) -> None:
    import builtins

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

"""The one metadata codec: what every writer stores and every reader gives back.

Values come back as they went in, type included:

- ``None``, ``bool``, ``int``, ``str``, ``float`` (``nan`` and ``inf`` too);
- numpy scalars and arrays, with their dtype and shape (a 0-d array stays a
  0-d array, an ``np.float32`` stays an ``np.float32``);
- ``bytes``: decoded to ``str`` when they are UTF-8 (hexrd's
  ``NX_class: b'NXimageseries'`` comes back ``'NXimageseries'``), else kept
  as ``bytes``;
- dicts with string keys, lists; tuples come back as lists.

Small arrays are stored inline (base64); large ones are handed to a sink (a
Zarr store puts them in arrays of their own, an HDF5 file in datasets) and
referenced by key.  Anything else, and nesting deeper than
:data:`MAX_DEPTH`, is refused with a :class:`~pipeline.errors.MetadataError`
naming the place, before a writer computes a frame.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from pipeline.errors import MetadataError

INLINE_LIMIT = 64 * 1024
"""Arrays up to this many bytes are stored inline in the JSON."""

MAX_DEPTH = 64
"""Deepest nesting of dicts and lists accepted (deeper is refused, as are cycles)."""

ARRAY_TAG = "__ndarray__"
REF_TAG = "__array_ref__"
FLOAT_TAG = "__float__"
BYTES_TAG = "__bytes__"

Sink = Callable[[np.ndarray], str]


def encode(obj: Any, sink: Sink | None = None, where: str = "",
           inline_limit: int = INLINE_LIMIT) -> Any:
    """``obj`` as JSON-able data; arrays larger than ``inline_limit`` bytes go to ``sink``."""
    return _encode(obj, sink, where, inline_limit, 0)


def check(obj: Any, where: str = "metadata") -> None:
    """Raise :class:`~pipeline.errors.MetadataError` if ``obj`` cannot be stored."""
    _encode(obj, lambda arr: "", where, 0, 0)


def _encode(obj: Any, sink: Sink | None, where: str, limit: int, depth: int) -> Any:
    if isinstance(obj, np.ndarray | np.generic):
        return _encode_array(obj, sink, where, limit)
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {FLOAT_TAG: repr(obj)}
    if isinstance(obj, bytes | bytearray):
        try:
            return bytes(obj).decode("utf-8")
        except UnicodeDecodeError:
            return {BYTES_TAG: base64.b64encode(bytes(obj)).decode("ascii")}
    if depth >= MAX_DEPTH:
        raise MetadataError(
            f"{where or 'value'}: metadata nested deeper than {MAX_DEPTH} levels (or holding "
            "itself); flatten it"
        )
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise MetadataError(f"{where or 'mapping'}: keys must be strings, got {key!r}")
            out[key] = _encode(value, sink, f"{where}.{key}" if where else key, limit, depth + 1)
        return out
    if isinstance(obj, list | tuple):
        return [_encode(v, sink, f"{where}[{i}]", limit, depth + 1) for i, v in enumerate(obj)]
    raise MetadataError(
        f"{where or 'value'}: cannot store {type(obj).__name__} {obj!r:.60} as metadata; "
        "use None, numbers, strings, bytes, lists, dicts or numpy arrays"
    )


def _encode_array(obj: np.ndarray | np.generic, sink: Sink | None, where: str,
                  limit: int) -> Any:
    arr = np.asarray(obj)
    if arr.dtype.kind not in "biufcUS" or arr.dtype.hasobject:
        raise MetadataError(
            f"{where or 'value'}: cannot store an array of dtype {arr.dtype}; use numbers, "
            "booleans or fixed-width strings"
        )
    scalar = isinstance(obj, np.generic)
    if sink is not None and not scalar and arr.nbytes > limit:
        return {REF_TAG: sink(arr)}
    data = base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode("ascii")
    spec: dict[str, Any] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "data": data}
    if scalar:
        spec["scalar"] = True
    return {ARRAY_TAG: spec}


def decode(obj: Any, source: Callable[[str], np.ndarray] | None = None) -> Any:
    """The inverse of :func:`encode`; ``source`` loads arrays stored by reference."""
    if isinstance(obj, dict):
        if len(obj) == 1:
            (tag, value), = obj.items()
            if tag == ARRAY_TAG:
                return _decode_array(value)
            if tag == REF_TAG:
                if source is None:
                    raise MetadataError(f"array reference {value!r} but nothing to load it from")
                return source(value)
            if tag == FLOAT_TAG:
                return float(value)
            if tag == BYTES_TAG:
                return base64.b64decode(value)
        return {k: decode(v, source) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode(v, source) for v in obj]
    return obj


def _decode_array(spec: dict[str, Any]) -> Any:
    raw = base64.b64decode(spec["data"])
    arr = np.frombuffer(raw, dtype=np.dtype(spec["dtype"])).reshape(spec["shape"]).copy()
    return arr[()] if spec.get("scalar") else arr

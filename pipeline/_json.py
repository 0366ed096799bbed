"""JSON for metadata and op chains: numpy arrays come back with their dtype and shape.

Small arrays are stored inline (base64); large ones are handed to a sink (a
Zarr store puts them in arrays of their own) and referenced by key.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

INLINE_LIMIT = 64 * 1024
"""Arrays up to this many bytes are stored inline in the JSON."""

ARRAY_TAG = "__ndarray__"
REF_TAG = "__array_ref__"
FLOAT_TAG = "__float__"


def encode(obj: Any, sink: Callable[[np.ndarray], str] | None = None, where: str = "") -> Any:
    """``obj`` as JSON-able data; arrays larger than :data:`INLINE_LIMIT` go to ``sink``."""
    if isinstance(obj, np.ndarray) or isinstance(obj, np.generic) and obj.dtype.kind in "US":
        arr = np.asarray(obj)
        if arr.dtype.kind not in "biufcUS" or arr.dtype.hasobject:
            raise TypeError(f"{where or 'value'}: cannot store an array of dtype {arr.dtype}")
        if sink is not None and arr.nbytes > INLINE_LIMIT:
            return {REF_TAG: sink(arr)}
        data = base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode("ascii")
        return {ARRAY_TAG: {"dtype": arr.dtype.str, "shape": list(arr.shape), "data": data}}
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {FLOAT_TAG: repr(obj)}
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(f"{where or 'mapping'}: keys must be strings, got {key!r}")
            out[key] = encode(value, sink, f"{where}.{key}" if where else key)
        return out
    if isinstance(obj, list | tuple):
        return [encode(v, sink, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(
        f"{where or 'value'}: cannot store {type(obj).__name__} {obj!r:.60} as metadata; "
        "use numbers, strings, lists, dicts or numpy arrays"
    )


def decode(obj: Any, source: Callable[[str], np.ndarray] | None = None) -> Any:
    """The inverse of :func:`encode`; ``source`` loads arrays stored by reference."""
    if isinstance(obj, dict):
        if ARRAY_TAG in obj and len(obj) == 1:
            spec = obj[ARRAY_TAG]
            raw = base64.b64decode(spec["data"])
            return np.frombuffer(raw, dtype=np.dtype(spec["dtype"])).reshape(spec["shape"]).copy()
        if REF_TAG in obj and len(obj) == 1:
            if source is None:
                raise ValueError(f"array reference {obj[REF_TAG]!r} but nothing to load it from")
            return source(obj[REF_TAG])
        if FLOAT_TAG in obj and len(obj) == 1:
            return float(obj[FLOAT_TAG])
        return {k: decode(v, source) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode(v, source) for v in obj]
    return obj

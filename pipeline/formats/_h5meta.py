"""Series metadata in HDF5 attributes, through the one codec (:mod:`pipeline._json`).

A value HDF5 gives back exactly (numpy scalars, numeric arrays, strings) is
an ordinary attribute, as hexrd writes and reads them.  Any other value is
``"json:"`` plus its codec encoding, and arrays too large for an attribute
header (HDF5 caps it near 64 KiB) are datasets in the group
``_lazyseries_arrays`` beside the frames, referenced from that JSON.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from pipeline import _json

JSON_PREFIX = "json:"
ARRAYS = "_lazyseries_arrays"
ATTR_LIMIT = 16 * 1024
"""Attribute values up to this many bytes; larger ones go to datasets."""

JSON_REF = "__json_ref__"


def _native(value: Any) -> bool:
    """Whether HDF5 gives ``value`` back as it is, type, dtype and shape included."""
    if isinstance(value, np.generic):
        return value.dtype.kind in "biufc"
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biufc" and value.ndim >= 1 and value.size >= 1 \
            and value.nbytes <= ATTR_LIMIT
    return isinstance(value, str) and not value.startswith(JSON_PREFIX)


def write_attrs(group: Any, meta: dict[str, Any]) -> None:
    """``meta`` as attributes of ``group`` (large arrays as datasets beside it)."""
    from dask.base import tokenize

    def sink(arr: np.ndarray) -> str:
        key = f"{ARRAYS}/{tokenize(arr.dtype.str, arr.shape, arr)[:16]}"
        if key not in group:
            group.create_dataset(key, data=np.ascontiguousarray(arr))
        return key

    for key, value in meta.items():
        if isinstance(value, bytes):
            value = _json.decode(_json.encode(value))  # str when UTF-8
        if _native(value):
            group.attrs[key] = value
            continue
        text = json.dumps(_json.encode(value, sink, key, inline_limit=ATTR_LIMIT // 2))
        if len(text) > ATTR_LIMIT:
            ref = f"{ARRAYS}/json-{tokenize(text)[:16]}"
            if ref not in group:
                group.create_dataset(ref, data=np.frombuffer(text.encode(), np.uint8))
            text = json.dumps({JSON_REF: ref})
        group.attrs[key] = JSON_PREFIX + text


def decode_attr(value: str, group: Any) -> Any:
    """The value of a ``"json:..."`` attribute of ``group``."""
    doc = json.loads(value[len(JSON_PREFIX):])
    if isinstance(doc, dict) and set(doc) == {JSON_REF}:
        doc = json.loads(np.asarray(group[doc[JSON_REF]][()]).tobytes().decode())
    if group is None:
        return _json.decode(doc)
    return _json.decode(doc, lambda key: np.asarray(group[key][()]))


def read_attrs(attrs: Any, group: Any = None) -> dict[str, Any]:
    """HDF5 attributes as metadata: byte strings decoded, JSON-encoded values restored."""
    meta: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, np.ndarray) and value.dtype.kind == "S":
            value = value.astype(str)
        elif isinstance(value, np.ndarray) and value.dtype.kind == "O":
            value = np.array([v.decode() if isinstance(v, bytes) else v for v in value.ravel()]
                             ).reshape(value.shape)
        if isinstance(value, str) and value.startswith(JSON_PREFIX):
            value = decode_attr(value, group)
        meta[key] = value
    return meta

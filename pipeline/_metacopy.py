"""A processed series' metadata: the source's, copied on first use, pickled as its changes.

A processed series (and a lazy slice ``s[a:b]``) reports a copy of its
source's metadata that the caller may change.  Copying on every slice is slow
when the metadata holds large arrays, and pickling the copy ships those arrays
to every dask worker.  So the copy is made when first asked for, and a series
pickles only what differs from its source (an :class:`Overlay`), re-derived
where it is unpickled.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Overlay:
    """Keys set or replaced, and keys removed, relative to the source's metadata."""

    changed: dict[str, Any] = dataclasses.field(default_factory=dict)
    removed: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.changed or self.removed)


def derive(base: Mapping[str, Any], overlay: Overlay) -> dict[str, Any]:
    """The metadata a processed series reports: a deep copy the caller may change."""
    meta = {k: v for k, v in base.items() if k not in overlay.removed}
    meta.update(overlay.changed)
    return copy.deepcopy(meta)


def diff(meta: Mapping[str, Any], base: Mapping[str, Any]) -> Overlay:
    """What ``meta`` changed relative to ``base``."""
    changed = {k: v for k, v in meta.items() if k not in base or not same(v, base[k])}
    return Overlay(changed, frozenset(set(base) - set(meta)))


def same(a: Any, b: Any) -> bool:
    """Equal values, arrays by dtype, shape and content, containers item by item."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return (a.shape == b.shape and a.dtype == b.dtype
                and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001  (values that cannot say: keep the caller's)
        return False

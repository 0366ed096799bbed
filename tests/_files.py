"""Reading what a test wrote: every file of a tree, with its bytes."""

from __future__ import annotations

import os
from typing import Any


def tree(path: Any, under: str = "") -> dict[str, bytes]:
    """Every file below ``path`` (only those below its folder ``under``, if given), by its path
    relative to ``path``, with its bytes: to compare two stores, or prove nothing was touched."""
    root = os.fspath(path)
    out = {}
    for folder, _, names in os.walk(os.path.join(root, under)):
        for name in names:
            full = os.path.join(folder, name)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, root)] = fh.read()
    return out

"""What tells a Zarr store from one that replaced it, and a complete store from a damaged one.

A series remembers the inode of its store's directory when it opens it and
compares it before each read (:func:`identity`); a read of a complete store
checks that every stored chunk it touches exists (:func:`require_chunks`),
where zarr-python would return zeros for a lost one.
"""

from __future__ import annotations

import itertools
import os
import urllib.parse
from typing import Any

import numpy as np

from ops import Region
from pipeline.errors import MissingChunkError, StoreChangedError
from pipeline.series import FrameSelection


def local_root(path: str) -> str | None:
    """The local directory of a store path or ``file://`` URL; None for remote stores."""
    if "://" not in path:
        return os.path.abspath(path)
    parts = urllib.parse.urlsplit(path)
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        return urllib.parse.unquote(parts.path)
    return None


def identity(local: str | None) -> tuple[Any, ...]:
    """What tells this store from one that replaced it: its directory's inode.

    Not the device: the same NFS export has different device numbers on
    different hosts, and a series opened on a client is read on workers.
    """
    if local is None:
        return ()
    try:
        return (os.stat(local).st_ino,)
    except OSError:
        return (None,)


def changed(path: str) -> Exception:
    return StoreChangedError(
        f"{path!r} was replaced or is being rewritten since this series opened it; its frames "
        "may now be another write's; open it again"
    )


def require_chunks(arr: Any, local: str | None, frames: FrameSelection, region: Region,
                    path: str) -> None:
    """Raise naming the first stored chunk of the read that is missing (zarr would give zeros)."""
    if local is None or arr.ndim < 3:
        return
    grid = arr.metadata.chunk_grid.chunk_shape  # stored objects: shards if sharded
    if isinstance(frames, slice):
        if frames.stop <= frames.start:
            return
        frame_chunks: Any = range(frames.start // grid[0], (frames.stop - 1) // grid[0] + 1)
    else:
        frame_chunks = sorted({int(j) // grid[0] for j in np.asarray(frames).reshape(-1)})
    spans = [range(lo // g, (max(hi, lo + 1) - 1) // g + 1)
             for (lo, hi), g in zip(region, grid[1:])]
    spans += [range(-(-n // g)) for n, g in zip(arr.shape[1 + len(region):],
                                                   grid[1 + len(region):])]
    base = os.path.join(local, *arr.path.split("/"))
    for coords in itertools.product(frame_chunks, *spans):
        key = arr.metadata.encode_chunk_key(coords)
        if not os.path.exists(os.path.join(base, *key.split("/"))):
            raise MissingChunkError(
                f"{path!r}: chunk {key!r} of array {arr.path!r} (frames from "
                f"{coords[0] * grid[0]}) is missing from this complete store; the data is "
                "lost or the store was damaged; rewrite it from its source"
            )

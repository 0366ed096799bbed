"""Crop push-down: bytes read from a spatially chunked source for a 25 % crop after a flip.

The source is a Zarr store of frames in chunks of (1, 256, 256) (no shards);
the chain is ``flip v -> rectangle`` (half height x half width).  Bytes are
counted by a ``zarr.storage.WrapperStore`` that sums the sizes of the buffers
its ``get`` and ``get_partial_values`` return, so they are compressed bytes as
stored.  The uncompressed figure counts the chunks read times their raw size.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from benchmarks._harness import Context, Report

NAME = "pushdown"
TILE = 256


def counting_store(path: str) -> Any:
    """A read-only local store that counts the bytes and chunk keys it returns."""
    from zarr.storage import LocalStore, WrapperStore

    class CountingStore(WrapperStore):  # type: ignore[type-arg]
        def __init__(self, store: Any) -> None:
            super().__init__(store)
            self.nbytes = 0
            self.keys: set[str] = set()
            self._lock = threading.Lock()

        def _count(self, key: str, buf: Any) -> None:
            if buf is not None and "/c/" in key:  # chunks only, not metadata documents
                with self._lock:
                    self.nbytes += len(buf)
                    self.keys.add(key)

        async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
            buf = await self._store.get(key, prototype, byte_range)
            self._count(key, buf)
            return buf

        async def get_partial_values(self, prototype: Any, key_ranges: Any) -> Any:
            key_ranges = list(key_ranges)
            bufs = await self._store.get_partial_values(prototype, key_ranges)
            for (key, _), buf in zip(key_ranges, bufs):
                self._count(key, buf)
            return bufs

    return CountingStore(LocalStore(path, read_only=True))


def _read_counted(src: str, oplist: list[Any]) -> tuple[int, int, np.ndarray]:
    """Compute the processed frames over a counting store: (bytes, chunks read, frames)."""
    import zarr

    import pipeline

    series = pipeline.open(src)
    store = counting_store(src)
    # point the opened series at the counting store; the threaded scheduler keeps the object
    series._handle = zarr.open_array(store, path="images", mode="r")  # type: ignore[attr-defined]
    out = np.asarray(series.process(oplist).to_dask().compute(scheduler="threads"))
    return store.nbytes, len(store.keys), out


def _tiles(lo: int, hi: int) -> int:
    return (hi - 1) // TILE - lo // TILE + 1


def run(ctx: Context) -> Report:
    import pipeline

    nframes, side = ctx.size((8, 1024), (16, 2048))
    src = ctx.source(nframes, (side, side), chunks=(1, TILE, TILE))
    report = Report(NAME, unit="B")
    h = w = side
    cases = {"central crop": ((h // 4, h // 4 + h // 2), (w // 4, w // 4 + w // 2)),
             "off-grid crop": ((100, 100 + h // 2), (60, 60 + w // 2))}
    full_bytes, full_chunks, _ = _read_counted(src, [("flip", "v")])
    report.add("full read (flip v only)", full_bytes, chunks=full_chunks)
    chunk_raw = TILE * TILE * 2
    for label, rect in cases.items():
        nbytes, nchunks, out = _read_counted(src, [("flip", "v"), ("rectangle", rect)])
        (r0, r1), (c0, c1) = rect
        expect = np.asarray(pipeline.open(src))[:, :, ::-1][:, r0:r1, c0:c1]
        assert np.array_equal(out, expect), "push-down changed the frames"
        crop_raw = out.nbytes
        covered = full_bytes * crop_raw / (nframes * h * w * 2)  # compressed share of the crop
        report.add(f"flip v -> {label} {rect}", nbytes, chunks=nchunks,
                   compressed_ratio=round(nbytes / covered, 3),
                   uncompressed_ratio=round(nchunks * chunk_raw / crop_raw, 3),
                   vs_full=round(nbytes / full_bytes, 3))
        if label == "central crop":
            report.check(f"{label}: compressed bytes read / compressed bytes the crop covers",
                         nbytes / covered, "<=", 1.3)
        else:  # off the chunk grid the floor is the chunks the crop touches, not its area
            touched = nframes * _tiles(r0, r1) * _tiles(w - c1, w - c0)
            report.check(f"{label}: chunks read / chunks the crop touches", nchunks / touched,
                         "<=", 1.0)
    report.params = {"source": f"{nframes} x {side}x{side} uint16, chunks (1, {TILE}, {TILE}), "
                     "default codec, no shards",
                     "bytes": "compressed bytes returned by the store (chunk keys only)"}
    report.notes.append("compressed bytes the crop covers = full-read bytes x crop area share; "
                        "uncompressed_ratio = chunks read x raw chunk bytes / raw crop bytes "
                        "(1.0 only for a crop on chunk boundaries)")
    return report

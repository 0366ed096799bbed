"""Crop push-down: bytes read from a spatially chunked source for a 25 % crop after a flip.

The source is a Zarr store of frames in chunks of (1, 256, 256) (no shards);
the chain is ``flip v -> rectangle`` (half height x half width).  Bytes are
counted by a storage backend that sums the sizes of the chunk bytes its reads
return, so they are compressed bytes as stored.  The uncompressed figure counts the chunks read times their raw size.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from benchmarks._harness import Context, Report

NAME = "pushdown"
TILE = 256


def counting_backend() -> Any:
    """A local storage backend that counts the bytes and chunk keys it returns."""
    from pipeline.storage.local import LocalBackend

    class CountingBackend(LocalBackend):
        def __init__(self) -> None:
            self.nbytes = 0
            self.keys: set[str] = set()
            self._lock = threading.Lock()

        def _count(self, path: str, data: bytes) -> None:
            if "/c/" in path:  # chunks only, not metadata documents
                with self._lock:
                    self.nbytes += len(data)
                    self.keys.add(path)

        def read(self, path: str, start: int = 0, stop: int | None = None, **kw: Any) -> bytes:
            data = super().read(path, start, stop, **kw)
            self._count(path, data)
            return data

        def read_versioned(self, path: str, start: int = 0, stop: int | None = None
                           ) -> tuple[bytes, str]:
            data, version = super().read_versioned(path, start, stop)
            self._count(path, data)
            return data, version

    return CountingBackend()


def _read_counted(src: str, oplist: list[Any]) -> tuple[int, int, np.ndarray]:
    """Compute the processed frames through a counting backend: (bytes, chunks read, frames)."""
    import pipeline
    from pipeline.storage import Location

    series = pipeline.open(src)
    backend = counting_backend()
    # point the opened series' chunk reads at the counting backend; the threaded scheduler
    # keeps the object
    series._location = Location(backend, series._location.path)  # type: ignore[attr-defined]
    series._grid = None  # type: ignore[attr-defined]
    out = np.asarray(series.process(oplist).to_dask().compute(scheduler="threads"))
    return backend.nbytes, len(backend.keys), out


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

"""Codec survey on synthetic detector frames: compression ratio, encode and decode MB/s.

numcodecs is called directly, one frame per call (the way one chunk is coded).
Blosc runs with one thread (fair against the single-threaded Zstd and LZ4)
and with its default thread count; MB/s are of raw frame bytes.  The last rows
say what the chunk checksums of the written layout (zarr's ``crc32c`` over the
compressed bytes, computed once on write and once on read) cost next to the
codec's own work on the same frames, one thread, interleaved.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks._harness import Context, Report, median

NAME = "codecs"
LEVELS = (1, 3, 5)


def candidates() -> dict[str, Any]:
    """The codecs surveyed, by label."""
    from numcodecs import LZ4, Blosc, Zstd

    found: dict[str, Any] = {}
    for cname in ("lz4", "zstd", "lz4hc"):
        for shuffle, sname in ((Blosc.BITSHUFFLE, "bitshuffle"), (Blosc.SHUFFLE, "shuffle")):
            for level in LEVELS:
                found[f"blosc {cname} {sname} {level}"] = Blosc(cname=cname, clevel=level,
                                                                shuffle=shuffle)
    for level in (1, 3):
        found[f"zstd {level}"] = Zstd(level=level)
    found["lz4"] = LZ4()
    return found


def _survey(codec: Any, frames: list[np.ndarray], repeats: int) -> tuple[float, float, float]:
    """(compression ratio, encode MB/s, decode MB/s), medians over ``repeats``."""
    raw = sum(f.nbytes for f in frames)
    enc_t, dec_t = [], []
    encoded: list[Any] = []
    for _ in range(repeats):
        start = time.perf_counter()
        encoded = [codec.encode(f) for f in frames]
        enc_t.append(time.perf_counter() - start)
        start = time.perf_counter()
        for buf in encoded:
            codec.decode(buf)
        dec_t.append(time.perf_counter() - start)
    stored = sum(len(memoryview(b).cast("B")) for b in encoded)
    assert np.array_equal(np.frombuffer(codec.decode(encoded[0]), frames[0].dtype),
                          frames[0].ravel())
    return raw / stored, raw / 1e6 / median(enc_t), raw / 1e6 / median(dec_t)


def _checksum_cost(codec: Any, frames: list[np.ndarray], repeats: int) -> tuple[float, float]:
    """(checksum time / encode time, checksum time / decode time), medians over ``repeats``."""
    from pipeline.formats.zarr.codec import crc32c

    ratios_enc, ratios_dec = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        encoded = [codec.encode(f) for f in frames]
        enc = time.perf_counter() - start
        start = time.perf_counter()
        for buf in encoded:
            crc32c(buf)
        crc = time.perf_counter() - start
        start = time.perf_counter()
        for buf in encoded:
            codec.decode(buf)
        dec = time.perf_counter() - start
        ratios_enc.append(crc / enc)
        ratios_dec.append(crc / dec)
    return median(ratios_enc), median(ratios_dec)


def run(ctx: Context) -> Report:
    from numcodecs import blosc

    import pipeline

    nframes, side = ctx.size((4, 512), (8, 2048))
    series = pipeline.synthetic(nframes, (side, side), seed=0)
    frames = [np.ascontiguousarray(series[j]) for j in range(nframes)]
    repeats = ctx.size(5, 5)
    report = Report(NAME, unit="x")
    report.params = {"frames": f"{nframes} x {side}x{side} uint16 (synthetic detector), "
                     "one frame per encode call", "median value": "compression ratio",
                     "repeats": repeats}
    default_threads = blosc.get_nthreads() if hasattr(blosc, "get_nthreads") else None
    for label, codec in candidates().items():
        threads = (1, 0) if label.startswith("blosc") else (1,)
        extra: dict[str, Any] = {}
        ratio = 0.0
        for n in threads:
            previous = blosc.set_nthreads(n if n else (default_threads or 2))
            try:
                ratio, enc, dec = _survey(codec, frames, repeats)
            finally:
                blosc.set_nthreads(previous)
            tag = "1thr" if n == 1 else "default_thr"
            extra[f"enc_MBps_{tag}"] = round(enc)
            extra[f"dec_MBps_{tag}"] = round(dec)
        report.add(label, ratio, **extra)
    previous = blosc.set_nthreads(1)
    try:
        for label in ("blosc zstd bitshuffle 3", "blosc lz4 bitshuffle 1"):
            on_write, on_read = _checksum_cost(candidates()[label], frames, repeats)
            report.add(f"crc32c / {label}: checksum time / encode time", on_write,
                       checksum_over_decode=round(on_read, 3))
    finally:
        blosc.set_nthreads(previous)
    report.notes.append(f"blosc default threads = {default_threads or 'numcodecs default'}; "
                        "numcodecs Zstd and LZ4 are single-threaded")
    return report

"""End to end on many small frames: the same chain and competitors as the large case.

Full: 5000 frames of 128 x 128 uint16; quick: 600.  The hand-written dask
pipeline runs with one frame per chunk and with 100 frames per chunk (the best
a dask user would write); lazyseries writes its default layout (one frame per
chunk, frames batched into shards).
"""

from __future__ import annotations

from benchmarks import _pipelines as P
from benchmarks._harness import OPS_NOTE, Context, Report
from benchmarks.end_to_end_large import (
    DASK_COPY,
    DEFAULT_CODEC,
    FLOOR,
    HEXRD,
    LAZY,
    optional_competitors,
    run_competitors,
)

NAME = "end_to_end_small"
HAND_1 = "dask by hand, 1 frame/chunk"
HAND_100 = "dask by hand, 100 frames/chunk"


def run(ctx: Context) -> Report:
    nframes, side = ctx.size((600, 128), (5000, 128))
    report = Report(NAME, reference=HAND_100)
    case = P.make_case(ctx.source(nframes, (side, side)))
    report.params = {"frames": f"{nframes} x {side}x{side} uint16", "chain": OPS_NOTE,
                     "codec": "Blosc zstd 3 bitshuffle", "repeats": ctx.repeats}
    comps = {
        LAZY: P.lazyseries,
        FLOOR: P.codec_floor,
        DASK_COPY: lambda c, o: P.dask_floor(c, o, frames_per_chunk=100),
        HAND_1: lambda c, o: P.dask_by_hand(c, o, frames_per_chunk=1),
        HAND_100: lambda c, o: P.dask_by_hand(c, o, frames_per_chunk=100),
        "dask by hand, 100 frames/chunk, write_empty_chunks=True":
            lambda c, o: P.dask_by_hand(c, o, frames_per_chunk=100, write_empty_chunks=True),
        "numpy per-frame loop": P.numpy_loop,
        DEFAULT_CODEC: P.lazyseries_default_codec,
        P.NO_CHECKSUM: P.lazyseries_no_checksum,
        **optional_competitors(report),
    }
    if P.hexrd_available():
        comps[HEXRD] = P.hexrd_processed
    else:
        report.notes.append("hexrd not importable: its competitor was skipped")
    slow = frozenset({HAND_1, "numpy per-frame loop"})
    run_competitors(ctx, report, case, comps, once=slow)
    report.notes.append(f"{sorted(slow)} timed once (some 30x slower than the rest)")
    report.check("lazyseries default layout / best dask by hand (100 frames/chunk)",
                 report.ratio(LAZY, HAND_100), "<=", 1.3)
    report.check("lazyseries default layout / codec floor", report.ratio(LAZY, FLOOR), "<=", 1.2)
    report.notes.append("the dask copy copies the crop in chunks of 100 frames")
    report.notes.append(f"checksums (zarr's crc32c, on by default) cost "
                        f"{report.ratio(LAZY, P.NO_CHECKSUM):.3f}x the write without them")
    return report

"""Peak memory: each large end-to-end competitor in its own subprocess.

The child polls its own RSS (psutil, every 2 ms) while the competitor runs and
reports the peak; the baseline is a child that imports the same modules and
does nothing (its RSS after the imports).  ``ru_maxrss`` is kept in the JSON
too, but the imports alone can set it (dask.array pulls in xarray), which
hides a small run.  The lazyseries figure above baseline is compared with
``2 x threads x chunk bytes``, a chunk being the source frames one write task
reads (frames per written shard x source frame bytes).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

from benchmarks import _pipelines as P
from benchmarks._harness import Context, PeakRSS, Report, remove
from benchmarks.end_to_end_large import FLOOR, HAND, LAZY

NAME = "memory"
BASELINE = "baseline (imports only)"
RUNS = (BASELINE, LAZY, HAND, FLOOR, "numpy per-frame loop")
QUICK_RUNS = (BASELINE, LAZY, HAND)


def child(name: str, src: str, out: str) -> None:
    """Run one competitor (or nothing, for the baseline) and print the peak RSS as JSON."""
    import dask.array  # noqa: F401  (the baseline imports what the competitors import)
    import zarr  # noqa: F401

    import pipeline  # noqa: F401

    with PeakRSS() as rss:
        if name != BASELINE:
            P.COMPETITORS[name](P.make_case(src), out)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"peak_bytes": rss.peak, "ru_maxrss_bytes": maxrss}))


def _peak(ctx: Context, name: str, src: str) -> tuple[int, str]:
    out = ctx.scratch("memory")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.memory", name, src, out],
                          capture_output=True, text=True, check=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return int(json.loads(proc.stdout.strip().splitlines()[-1])["peak_bytes"]), out


def _write_chunk_bytes(out: str, frame_bytes: int) -> int:
    import zarr

    arr = zarr.open_array(out, path=P.ARRAY, mode="r")
    return int((arr.shards or arr.chunks)[0]) * frame_bytes


def run(ctx: Context) -> Report:
    nframes, side = ctx.size((16, 512), (200, 2048))
    src = ctx.source(nframes, (side, side))
    report = Report(NAME, reference=BASELINE, unit="MB")
    peaks: dict[str, float] = {}
    chunk = 0
    for name in ctx.size(QUICK_RUNS, RUNS):
        peak, out = _peak(ctx, name, src)
        peaks[name] = peak / 1e6
        if name == LAZY:
            chunk = _write_chunk_bytes(out, side * side * 2)
        remove(out)
    threads = os.cpu_count() or 1
    for name, value in peaks.items():
        report.add(name, value, above_baseline_MB=round(value - peaks[BASELINE], 1))
    bound = 2 * threads * chunk / 1e6
    report.params = {"frames": f"{nframes} x {side}x{side} uint16", "threads": threads,
                     "chunk (source frames per write task)": f"{chunk / 1e6:.1f} MB",
                     "bound 2 x threads x chunk": f"{bound:.1f} MB"}
    report.check("lazyseries peak above baseline [MB]", peaks[LAZY] - peaks[BASELINE],
                  "<=", bound)
    report.notes.append("single run per competitor (peak RSS, not a timing)")
    return report


if __name__ == "__main__":
    child(*sys.argv[1:4])

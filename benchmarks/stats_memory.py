"""Peak memory of every statistic against its ``memory_limit`` (and of an ImageStack
against its budget), each run in its own subprocess.

The store is larger than every limit (800 MiB of uint16 frames in the full
run, 96 MiB in ``--quick``).  A child opens the store and runs the same call
over a tiny series (the baseline: imports, including those made on first use,
plus the opened series), then polls its own RSS with psutil every 2 ms while
the statistic computes, and reports the peak above that baseline.  The target
is ``memory_limit x 1.25`` above baseline; the median's result is checked
against numpy on a few rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks._harness import Context, PeakRSS, Report

NAME = "stats_memory"
STATS = ("max", "min", "sum", "average", "std", "median", "percentile", "ImageStack")
LIMITS_MB = (64, 256, 512)
QUICK_LIMITS_MB = (32, 64)
MB = 2**20


def child(stat: str, src: str, limit_mb: str) -> None:
    """Compute one statistic over the store at ``src``; print peak RSS above baseline as JSON."""
    import dask.array  # noqa: F401
    import numpy as np

    import pipeline
    from pipeline import stats

    s = pipeline.open(src)
    # what the statistic imports on first use (dask's graph layers, numpy's percentile, zarr's
    # codecs, ...) belongs to the baseline: the same call over a tiny series first
    tiny = pipeline.from_array(np.zeros((4, 6, 8), s.dtype))
    _run(stat, tiny, 2**20, pipeline, stats)
    with PeakRSS() as rss:
        start = time.perf_counter()
        out = _run(stat, s, int(float(limit_mb) * MB), pipeline, stats)
        wall = time.perf_counter() - start
    base = rss.start
    ok = True
    if stat in ("median", "percentile"):  # a few rows against numpy, outside the measurement
        rows = np.asarray(s.to_dask()[:, :3].compute())
        pct = 50 if stat == "median" else 90
        ok = bool(np.array_equal(out[:3], np.percentile(rows, pct, axis=0).astype(np.float32)))
    print(json.dumps({"above_baseline": rss.peak - base, "baseline": base, "wall_s": wall,
                      "matches_numpy": ok}))


def _run(stat: str, s: Any, limit: int, pipeline: Any, stats: Any) -> Any:
    if stat == "percentile":
        return stats.percentile(s, 90, memory_limit=limit)
    if stat == "ImageStack":  # every frame appended, then every frame read back
        stack = pipeline.ImageStack(max_memory_mb=limit / MB)
        stack.extend(s)
        total = sum(float(frame.sum()) for frame in stack)
        stack.close()
        return total
    return stats.compute(stat, s, memory_limit=limit)


def _measure(stat: str, src: str, limit_mb: float) -> dict[str, float]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.stats_memory", stat, src,
                           str(limit_mb)], capture_output=True, text=True, check=True, cwd=root)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(ctx: Context) -> Report:
    nframes, side = ctx.size((48, 1024), (100, 2048))
    src = ctx.source(nframes, (side, side))
    report = Report(NAME, unit="MB")
    store_mb = nframes * side * side * 2 / MB
    for limit in ctx.size(QUICK_LIMITS_MB, LIMITS_MB):
        for stat in STATS:
            got = _measure(stat, src, limit)
            above = got["above_baseline"] / MB
            report.add(f"{stat} @ {limit} MiB", above, wall_s=round(got["wall_s"], 2),
                       ratio_to_limit=round(above / limit, 2),
                       matches_numpy=got["matches_numpy"])
            report.check(f"{stat} @ {limit} MiB: peak above baseline [MiB]", above, "<=",
                         1.25 * limit)
    report.params = {"store": f"{nframes} x {side}x{side} uint16 ({store_mb:.0f} MiB)",
                     "threads": os.cpu_count(), "baseline": "imports (incl. first-use) + opened series"}
    report.notes.append("single run per statistic and limit (peak RSS, not a timing)")
    return report


if __name__ == "__main__":
    child(*sys.argv[1:4])

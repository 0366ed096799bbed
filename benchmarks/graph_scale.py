"""Graph scale: 100,000 small frames through ``to_dask`` and ``dask.optimize``.

The source is ``pipeline.from_array`` over ``np.broadcast_to`` of one 64 x 64
zero frame (strides 0 along frames: no memory, reads cost nothing), so the
figures are the framework's own overhead: building and optimising the graph,
tasks per frame, and the time per frame of computing a sum over all frames
through the same chain as the other benchmarks (dark -> flip v -> crop).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from benchmarks._harness import Context, Report, median

if TYPE_CHECKING:
    from pipeline import ProcessedImageSeries

NAME = "graph_scale"


def _series(nframes: int, side: int) -> ProcessedImageSeries:
    import pipeline

    frames = np.broadcast_to(np.zeros((side, side), np.uint16), (nframes, side, side))
    dark = np.full((side, side), 3, np.uint16)
    crop = ((side // 4, side // 4 + side // 2), (side // 4, side // 4 + side // 2))
    return pipeline.from_array(frames).process([("dark", dark), ("flip", "v"),
                                                ("rectangle", crop)])


def run(ctx: Context) -> Report:
    import dask

    nframes, side = ctx.size(10_000, 100_000), 64
    report = Report(NAME)
    report.params = {"frames": f"{nframes} x {side}x{side} uint16",
                     "source": "from_array(np.broadcast_to(zeros frame)): strides 0 on frames",
                     "repeats": ctx.repeats}
    builds, sums, tasks, chunks = [], [], 0, 0
    for _ in range(ctx.repeats):
        start = time.perf_counter()
        ps = _series(nframes, side)
        arr = ps.to_dask()
        (opt,) = dask.optimize(arr)
        builds.append(time.perf_counter() - start)
        tasks, chunks = len(opt.__dask_graph__()), arr.numblocks[0]
        start = time.perf_counter()
        total = opt.sum().compute()
        sums.append(time.perf_counter() - start)
        assert int(total) == 0
    build, per_frame = median(builds), median(sums) / nframes
    report.add("open + process + to_dask + dask.optimize", build)
    report.add("sum over all frames (compute), per frame", per_frame)
    report.add("build + sum, per frame", (build + median(sums)) / nframes)
    report.params["dask chunks (frames per chunk)"] = f"{chunks} ({-(-nframes // chunks)})"
    report.params["tasks in optimised graph / frame"] = f"{tasks / nframes:.4g} ({tasks} tasks)"
    scale = 100_000 / nframes
    report.check("graph build+optimise, scaled to 100,000 frames [s]", build * scale, "<", 0.5)
    report.check("end to end per frame (64x64) [us]",
                 (build + median(sums)) / nframes * 1e6, "<", 50.0)
    if scale != 1:
        report.notes.append(f"quick mode: build time scaled x{scale:g} to 100,000 frames "
                            "(linear extrapolation)")
    return report

"""Video frames in order: the video series against imageio's own ways of reading frames.

An MP4 (h264) written by imageio's ffmpeg plugin.  Competitors read every
frame in order: iterating an opened series (one ffmpeg decoder kept running
between reads); imageio v3 ``imread(path, index=j)`` per frame, as a lazy reader
built on the v3 API naively would (a new ffmpeg per frame); ``imiter`` over
the whole stream (the floor: one decoder, no random access).  Opening the
series (an ffmpeg probe of the header and a count of the stream's packets,
no decoding) is timed on its own.  Skipped when
imageio-ffmpeg is not installed.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from benchmarks._harness import Context, Report, interleaved

NAME = "video"


def _write(ctx: Context, nframes: int, side: int) -> str:
    import imageio.v3 as iio

    path = os.path.join(ctx.tmp, f"video-{nframes}-{side}.mp4")
    if not os.path.exists(path):
        small = np.random.default_rng(0).integers(0, 255, (nframes, side // 8, side // 8, 3))
        frames = np.repeat(np.repeat(small.astype(np.uint8), 8, 1), 8, 2)
        iio.imwrite(path, frames, fps=25, plugin="FFMPEG")
    return path


def run(ctx: Context) -> Report:
    report = Report(NAME, reference="imageio imiter (whole stream)")
    if importlib.util.find_spec("imageio_ffmpeg") is None:
        report.notes.append("skipped: imageio-ffmpeg is not installed")
        return report
    import imageio.v3 as iio

    import pipeline

    nframes, side = ctx.size((50, 256), (300, 512))
    path = _write(ctx, nframes, side)
    report.params = {"video": f"{nframes} frames of {side}x{side} RGB, h264",
                     "repeats": ctx.repeats}

    opened = pipeline.open(path)

    def series_iter() -> None:
        for _ in opened:
            pass
        opened.close()  # the next round starts its own decoder, as imiter does

    competitors = {
        "series: iter(s), s opened once": series_iter,
        "imageio v3 imread(index=j) per frame":
            lambda: [iio.imread(path, index=j, plugin="FFMPEG") for j in range(nframes)],
        "imageio imiter (whole stream)": lambda: list(iio.imiter(path, plugin="FFMPEG")),
        "pipeline.open(mp4): probe and frame count": lambda: pipeline.open(path),
    }
    slow = frozenset({"imageio v3 imread(index=j) per frame"})  # a new ffmpeg per frame
    report.add_times(interleaved(competitors, ctx.repeats, warmup=1, once=slow))
    report.check("series iteration / imiter", report.ratio("series: iter(s), s opened once",
                                                           "imageio imiter (whole stream)"),
                 "<=", 1.5)
    return report

"""Statistics at read speed: max, min, sum, average and median over a stored series.

lazyseries' ``pipeline.stats`` on its Zarr store (default layout and codec)
against hexrd's algorithm on an HDF5 file of one frame per chunk, Blosc lz4
bit-shuffle: a per-frame loop reading ``dset[i]`` with h5py and folding it
into the result with numpy (``np.maximum``, ``+=`` in float64, a median of
the stacked frames), as ``hexrd.imageseries.stats`` does; hexrd itself when it
is importable.  The ratio of each statistic is lazyseries over the loop and,
with hexrd importable, over ``hexrd.imageseries.stats`` reading the same HDF5 file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._harness import Context, Report, interleaved, median
from benchmarks.random_access import _h5_store

NAME = "stats_speed"
STATS = ("max", "min", "sum", "average", "median")


def _loop(dset: Any, kind: str) -> np.ndarray:
    n = len(dset)
    if kind == "median":
        return np.median(dset[...], axis=0).astype(np.float32)
    acc = dset[0].astype(np.float64) if kind in ("sum", "average") else dset[0]
    fold = {"max": np.maximum, "min": np.minimum}.get(kind)
    for i in range(1, n):
        frame = dset[i]
        if fold is None:
            acc += frame
        else:
            acc = fold(acc, frame)
    return (acc / n).astype(np.float32) if kind == "average" else acc


def _hexrd(path: str, kind: str) -> Callable[[], Any]:
    from hexrd import imageseries
    from hexrd.imageseries import stats

    ims = imageseries.open(path, "hdf5", path="/", dataname="images")
    fn = getattr(stats, kind)
    return lambda: fn(ims)


def run(ctx: Context) -> Report:
    import h5py

    import pipeline

    n, side = ctx.size((24, 256), (200, 1024))
    src = ctx.source(n, (side, side))
    dset = h5py.File(_h5_store(ctx, src, n), "r")["images"]
    series = pipeline.open(src)
    report = Report(NAME, reference=None)
    report.params = {"frames": f"{n} x {side}x{side} uint16", "repeats": ctx.repeats,
                     "lazyseries store": "default layout and codec (Blosc lz4 bit-shuffle)"}
    hexrd_ok = True
    try:
        import hexrd.imageseries  # noqa: F401
    except ImportError:
        hexrd_ok = False
        report.notes.append("hexrd not importable: its stats rows were skipped")
    for kind in STATS:
        fn = getattr(pipeline.stats, f"frame_{kind}")
        calls: dict[str, Callable[[], Any]] = {
            f"{kind}: lazyseries": lambda fn=fn: fn(series),
            f"{kind}: hexrd's loop, h5py 1 frame/chunk Blosc": lambda k=kind: _loop(dset, k),
        }
        if hexrd_ok:
            calls[f"{kind}: hexrd.imageseries.stats (HDF5)"] = _hexrd(dset.file.filename, kind)
        errors: dict[str, str] = {}
        times = interleaved(calls, ctx.repeats, warmup=1, errors=errors)
        report.add_times(times, errors)
        ratio = median(times[f"{kind}: lazyseries"]) / median(
            times[f"{kind}: hexrd's loop, h5py 1 frame/chunk Blosc"])
        report.check(f"{kind}: lazyseries / hexrd's loop on Blosc HDF5", ratio, "<=", 1.0)
        theirs = times.get(f"{kind}: hexrd.imageseries.stats (HDF5)")
        if theirs and f"{kind}: hexrd.imageseries.stats (HDF5)" not in errors:
            report.check(f"{kind}: lazyseries / hexrd.imageseries.stats",
                         median(times[f"{kind}: lazyseries"]) / median(theirs), "<=", 1.0)
    return report

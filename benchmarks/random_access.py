"""Random access: ``ps[j]`` against the same frame read and processed by hand.

Two stores written by ``pipeline.write`` with its default layout (one frame
per chunk; small frames batched into 4 MiB shards), plus, for the small frames, a store
of one frame per chunk without shards read by hand: the fastest one-frame read
zarr-python offers.  The raw frame ``s[j]`` is compared with h5py reading one
frame of an HDF5 file of one frame per chunk, Blosc lz4 bit-shuffle (what
hexrd users read), and with tensorstore on the same store when installed.  Random ``j``, the same sequence for every competitor, medians per call.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import _pipelines as P
from benchmarks._floor import tensorstore_available
from benchmarks._harness import OPS_NOTE, Context, Report, interleaved, median

NAME = "random_access"
FORMER = "small: raw s[j], former layout (32 frames per plain chunk)"
FORMER_H5 = "small: h5py [j] (again, beside the former layout)"


def _competitors(case: P.Case, js: np.ndarray, prefix: str) -> dict[str, Callable[[], Any]]:
    import zarr

    import pipeline

    ps = pipeline.open(case.src).process(case.oplist)
    lazy = ps.to_dask()
    arr = zarr.open_array(case.src, path=P.ARRAY, mode="r")
    it = {"ps": iter(js), "hand": iter(js), "dask": iter(js), "dask_full": iter(js)}
    return {
        f"{prefix}: ps[j]": lambda: ps[int(next(it["ps"]))],
        f"{prefix}: by hand zarr [j] + numpy ops": lambda: P.fused_ops(
            np.asarray(arr[int(next(it["hand"]))])[np.newaxis], case.dark, case.crop)[0],
        f"{prefix}: to_dask() built once, [j].compute()":
            lambda: lazy[int(next(it["dask"]))].compute(),
        f"{prefix}: ps.to_dask()[j].compute()":
            lambda: ps.to_dask()[int(next(it["dask_full"]))].compute(),
    }


def _h5_store(ctx: Context, src: str, n: int) -> str:
    """The source frames in HDF5, one frame per chunk, Blosc lz4 bit-shuffle (hdf5plugin)."""
    import h5py
    import hdf5plugin

    import pipeline

    path = src.replace(".zarr", "-1frame.h5")
    if not os.path.exists(path):
        series = pipeline.open(src)
        with h5py.File(path, "w") as fh:
            dset = fh.create_dataset("images", shape=(n, *series.shape), dtype=series.dtype,
                                     chunks=(1, *series.shape),
                                     **hdf5plugin.Blosc(cname="lz4", clevel=5,
                                                        shuffle=hdf5plugin.Blosc.BITSHUFFLE))
            for a in range(0, n, 64):
                dset[a:a + 64] = np.asarray(series[a:a + 64])
    return path


def _raw_competitors(ctx: Context, src: str, n: int, js: np.ndarray, prefix: str
                     ) -> dict[str, Callable[[], Any]]:
    """The raw frame ``s[j]`` against h5py (and tensorstore) reading one frame."""
    import h5py

    import pipeline

    series = pipeline.open(src)
    # no chunk cache: it would answer the repeats of a short quick run (16 frames of 512 KB)
    # from decoded chunks, while every other competitor decodes the frame it returns
    dset = h5py.File(_h5_store(ctx, src, n), "r", rdcc_nbytes=0)["images"]
    it = {k: iter(js) for k in ("s", "h5", "ts")}
    calls: dict[str, Callable[[], Any]] = {
        f"{prefix}: raw s[j]": lambda: series[int(next(it["s"]))],
        f"{prefix}: h5py [j], 1 frame/chunk Blosc lz4": lambda: dset[int(next(it["h5"]))],
    }
    if tensorstore_available():
        import tensorstore as ts

        arr = ts.open({"driver": "zarr3", "kvstore": {
            "driver": "file", "path": os.path.join(src, P.ARRAY)}}).result()
        calls[f"{prefix}: tensorstore [j] (same store)"] = \
            lambda: arr[int(next(it["ts"]))].read().result()
    return calls


def _former_layout(ctx: Context, ns: int, ss: int, plain: str, rng: np.random.Generator,
                   reps: int) -> dict[str, float]:
    """The former default layout of small frames (plain chunks of 1 MiB) beside h5py."""
    import h5py

    import pipeline

    former = pipeline.open(ctx.source(ns, (ss, ss), chunks=(2**20 // (ss * ss * 2), ss, ss)))
    h5 = h5py.File(_h5_store(ctx, plain, ns), "r", rdcc_nbytes=0)["images"]
    js = rng.integers(0, ns, reps + 1)
    it = {"s": iter(js), "h5": iter(js)}
    times = interleaved({FORMER: lambda: former[int(next(it["s"]))],
                         FORMER_H5: lambda: h5[int(next(it["h5"]))]}, reps, warmup=1)
    return {k: median(v) for k, v in times.items()}


def _time_calls(calls: dict[str, Callable[[], Any]], reps: int) -> dict[str, list[float]]:
    # one call per competitor per round, rounds interleaved: reps rounds of single calls
    return interleaved(calls, reps, warmup=1)


def _checks(report: Report, results: dict[str, float]) -> None:
    for prefix in ("large", "small"):
        ps = results[f"{prefix}: ps[j]"]
        report.check(f"{prefix}: ps[j] / by hand read+ops (same store)",
                     ps / results[f"{prefix}: by hand zarr [j] + numpy ops"], "<=", 1.2)
        report.check(f"{prefix}: to_dask()[j].compute() (built once) / ps[j]",
                     results[f"{prefix}: to_dask() built once, [j].compute()"] / ps, ">=", 3.0)
    report.check("small: ps[j] default layout / by hand, 1 frame/chunk no shards",
                 results["small: ps[j]"]
                 / results["small: by hand zarr [j], 1 frame/chunk, no shards"], "<=", 2.0)
    for prefix, target in (("large", 1.2), ("small", 1.5)):
        report.check(f"{prefix}: raw s[j] / h5py one frame (1 frame/chunk Blosc)",
                     results[f"{prefix}: raw s[j]"]
                     / results[f"{prefix}: h5py [j], 1 frame/chunk Blosc lz4"], "<=", target)


def run(ctx: Context) -> Report:
    import zarr

    reps = ctx.size(30, 200)
    (nl, sl), (ns, ss) = ctx.size(((16, 512), (600, 128)), ((200, 2048), (5000, 128)))
    report = Report(NAME, reference=None)
    report.params = {"large": f"{nl} x {sl}x{sl}", "small": f"{ns} x {ss}x{ss}",
                     "chain": OPS_NOTE, "calls per competitor": reps}
    rng = np.random.default_rng(1)
    results: dict[str, float] = {}
    notes: list[str] = []
    for prefix, (n, side) in (("large", (nl, sl)), ("small", (ns, ss))):
        case = P.make_case(ctx.source(n, (side, side)))
        js = rng.integers(0, n, reps + 1)
        calls = _competitors(case, js, prefix)
        # the single-frame readers are timed apart from the dask calls: a cyclic
        # rotation would otherwise always run ps[j] right after a whole-chunk compute
        for group in (("ps[j]", "by hand"), ("to_dask",)):
            picked = {k: f for k, f in calls.items() if any(g in k for g in group)}
            times = _time_calls(picked, reps)
            results.update({k: median(v) for k, v in times.items()})
        raw = _raw_competitors(ctx, case.src, n, rng.integers(0, n, reps + 1), prefix)
        errors: dict[str, str] = {}
        times = interleaved(raw, reps, warmup=1, errors=errors)
        results.update({k: median(v) for k, v in times.items()})
        notes.extend(f"{k} failed: {e}" for k, e in errors.items())
    # the fastest read Zarr offers for one small frame: one frame per chunk, no shards
    plain = ctx.source(ns, (ss, ss), chunks=(1, ss, ss))
    arr = zarr.open_array(plain, path=P.ARRAY, mode="r")
    js = iter(rng.integers(0, ns, reps + 1))
    times = interleaved({"small: by hand zarr [j], 1 frame/chunk, no shards":
                         lambda: arr[int(next(js))]}, reps, warmup=1)
    results.update({k: median(v) for k, v in times.items()})
    results.update(_former_layout(ctx, ns, ss, plain, rng, reps))
    for label, value in results.items():
        report.add(label, value)
    _checks(report, results)
    report.notes.extend(notes)
    report.notes.append(f"small, former layout (1 MiB plain chunks): raw s[j] / h5py = "
                        f"{results[FORMER] / results[FORMER_H5]:.2f} (no target: no longer "
                        "the default)")
    report.notes.append("to_dask() targets use the array built once (the harder comparison); "
                        "the row building it per call is shown too")
    return report

"""Pickle size: what a series and its dask graph ship to dask.distributed workers.

A series pickles as a recipe (source path and options, the op chain, what the
caller changed in the metadata), never as pixels, neither its own nor those of
its source's metadata.  The source is the suite's synthetic Zarr store, whose
metadata holds a dark frame as large as one frame; sizes are
``len(cloudpickle.dumps(...))`` (what distributed falls back to), compared
with the bytes of that metadata and of one frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks._harness import Context, Report

NAME = "pickle_size"


def _size(obj: Any) -> int:
    import cloudpickle

    return len(cloudpickle.dumps(obj))


def run(ctx: Context) -> Report:
    import pipeline

    nframes, side = ctx.size((16, 512), (64, 2048))
    raw = pipeline.open(ctx.source(nframes, (side, side)))
    meta_bytes = sum(np.asarray(v).nbytes for v in raw.metadata.values()
                     if isinstance(v, np.ndarray))
    crop = ((side // 4, 3 * side // 4), (side // 4, 3 * side // 4))
    flip = raw.process([("flip", "v"), ("rectangle", crop)])
    touched = raw.process([("flip", "v")])
    touched.metadata["note"] = "changed by the caller"  # the copy is made, one key changed
    report = Report(NAME, reference="one frame's pixels", unit="B")
    report.params = {"source": f"synthetic Zarr store, {nframes} x {side}x{side} uint16",
                     "metadata arrays (omega, dark)": f"{meta_bytes} B"}
    report.add("one frame's pixels", side * side * 2)
    report.add("metadata arrays of the source", meta_bytes)
    report.add("opened Zarr series", _size(raw))
    report.add("flip + rectangle over it", _size(flip))
    report.add("raw[:10] (a lazy slice)", _size(raw[:10]))
    report.add("flip, metadata copied and one key changed", _size(touched))
    report.add("dask graph of flip + rectangle (to_dask)", _size(dict(flip.to_dask().dask)))
    report.add("dask graph of dark + flip + rectangle (dark from metadata)",
               _size(dict(raw.process([("dark", raw.metadata["dark"]), ("flip", "v"),
                                       ("rectangle", crop)]).to_dask().dask)))
    for label in ("flip + rectangle over it", "raw[:10] (a lazy slice)",
                  "flip, metadata copied and one key changed",
                  "dask graph of flip + rectangle (to_dask)"):
        report.check(f"{label} [B]", report.value(label), "<", 16_384)
    report.notes.append("the dark op's own parameter is part of its recipe: that graph carries "
                        "it once (its 'ops' key), cut by push-down to the rectangle it feeds")
    return report

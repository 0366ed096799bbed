"""Scaling on a batch cluster: Slurm worker jobs through dask-jobqueue, and a million frames.

Starts a one-node Slurm (:mod:`pipeline.testing.slurm`; root and Debian's
``slurmctld``, ``slurmd``, ``munge`` needed, else the Slurm rows are skipped
with a note) and a :class:`~pipeline.clusters.ClusterSpec` of two one-core
jobs through :func:`pipeline.runner.scheduler`, as ``--cluster slurm --jobs 2``
does.

- Throughput: ``gauss_laplace`` (sigma 2) over 512 x 512 float32 frames made
  by a function (no I/O: compute-bound), the sum computed on the cluster, on
  one of the two jobs (tasks pinned to its worker) and on both, on a
  ``LocalCluster`` of two worker processes, all up side by side and runs
  interleaved; a plain ``multiprocessing`` pool of 1 and 2 is the control of
  how far the machine scales at that moment.
- Size: the same write (a function source of 64 x 64 uint16 frames, dark
  subtracted, to a Zarr store) of 10^4, 10^5 and 10^6 frames on the two jobs:
  time per frame, peak RSS of the process holding the scheduler
  (dask-jobqueue's scheduler runs in the submitting process), the most tasks
  the scheduler held at once (:mod:`pipeline.testing.cluster`), and the
  seconds from the call to the first chunk on disk.

``--quick`` starts no Slurm (its daemons and jobs alone take longer than the
rest of the quick suite): the same rows on a ``LocalCluster`` of two workers,
at 10^3 and 4 x 10^3 frames, so that the code runs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from benchmarks._harness import (Context, PeakRSS, Report, interleaved, median, pool_control,
                                 remove)

NAME = "scaling"
SIDE = 512


def _heavy_frame(j: int) -> np.ndarray:
    return np.full((SIDE, SIDE), float(j % 97), np.float32) + np.arange(SIDE, dtype=np.float32)


def _small_frame(j: int) -> np.ndarray:
    return np.full((64, 64), j % 4000, np.uint16)


def _control_work(j: int) -> None:
    from scipy import ndimage

    ndimage.gaussian_laplace(_heavy_frame(j), 2.0)


def _spec(jobs: int, tmp: str) -> Any:
    from pipeline.clusters import ClusterSpec

    return ClusterSpec("slurm", jobs=jobs, timeout=120, options={
        "cores": 1, "memory": "2GB", "processes": 1, "interface": "lo",
        "log_directory": os.path.join(tmp, "job-output"),
        "scheduler_options": {"dashboard_address": "127.0.0.1:0"}})


@contextlib.contextmanager
def _local() -> Iterator[Any]:
    """A LocalCluster of two one-thread worker processes and its client, the default until the
    Slurm one (or the end: the benchmarks after this one run on threads)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address="127.0.0.1:0",
                      silence_logs=logging.ERROR) as local, \
            Client(local) as client:
        yield client


def _measure(nframes: int, per_task: int, repeats: int, sizes: list[int], tmp: str,
             on_slurm: bool) -> tuple[dict[str, list[float]], dict[int, dict[str, float]]]:
    """Throughput on Slurm's jobs (``on_slurm``) and the LocalCluster side by side; then the
    writes of ``sizes`` frames on the jobs (or the LocalCluster), all on one cluster each."""
    import pipeline
    from pipeline import runner

    def total(frame: Any) -> Any:
        series = pipeline.from_function(frame, nframes, (SIDE, SIDE), np.float32)
        return series.process([("gauss_laplace", 2.0)]).to_dask(frames_per_chunk=per_task).sum()

    # the run on one job computes the same work under other task names: a task submitted again
    # before the scheduler has forgotten it keeps its worker restriction, and the run on both
    # jobs would then go on one
    total, pinned = total(_heavy_frame), total(functools.partial(_heavy_frame))
    with contextlib.ExitStack() as stack:
        on_local = stack.enter_context(_local())
        runs = {"LocalCluster: 2 workers": lambda: on_local.compute(total).result()}
        writer = on_local
        if on_slurm:
            writer = slurm = stack.enter_context(runner.scheduler(cluster=_spec(2, tmp)))
            slurm.wait_for_workers(2, timeout=120)
            one = [sorted(slurm.scheduler_info()["workers"])[0]]
            runs["slurm: 1 job"] = lambda: slurm.compute(pinned, workers=one).result()
            runs["slurm: 2 jobs"] = lambda: slurm.compute(total).result()
        for run in runs.values():
            run()  # warm up: imports and the first frames on every worker
        times = interleaved(runs, repeats)
        _write(writer, sizes[0] // 10, tmp)  # warm up
        return times, {n: _write(writer, n, tmp) for n in sizes}


def _first_chunk(path: str, start: float) -> float:
    """Seconds from ``start`` (``time.time()``) to the first chunk file written under
    ``path``'s frames, from the files' own times (no polling to miss it)."""
    from pipeline.formats.zarr import ARRAY_NAME

    chunks = os.path.join(path, ARRAY_NAME, "c")
    times = [os.stat(os.path.join(root, name)).st_mtime
             for root, _, names in os.walk(chunks) for name in names]
    return min(times) - start if times else float("nan")


def _write(client: Any, nframes: int, tmp: str) -> dict[str, float]:
    import pipeline
    from pipeline.testing.cluster import tasks_held

    dark = np.full((64, 64), 3, np.uint16)
    series = pipeline.from_function(_small_frame, nframes, (64, 64), np.uint16).process(
        [("dark", dark)])
    path = os.path.join(tmp, f"scaling-{nframes}.zarr")
    called, start = time.time(), time.perf_counter()
    with PeakRSS() as rss, tasks_held(client) as held:
        written = pipeline.write(series, path, overwrite=True)
    took = time.perf_counter() - start
    first = _first_chunk(path, called)
    assert len(written) == nframes and int(written[nframes - 1][0, 0]) == \
        max(0, (nframes - 1) % 4000 - 3)
    remove(path)
    return {"per_frame": took / nframes, "rss": rss.peak, "tasks": held.most,
            "seen": held.seen, "first": first}


def run(ctx: Context) -> Report:
    from pipeline.testing.slurm import Slurm, available

    nframes = ctx.size(4, 384)
    per_task = max(1, nframes // ctx.size(4, 16))
    sizes = ctx.size([1000, 4000], [10_000, 100_000, 1_000_000])
    why = "--quick starts no Slurm" if ctx.quick else available()
    where = "2 jobs" if why is None else "a LocalCluster of 2 workers"
    report = Report(NAME, reference="slurm: 2 jobs" if why is None else
                    "LocalCluster: 2 workers")
    report.params = {"throughput": f"{nframes} x {SIDE}x{SIDE} float32 (a function), "
                                   f"gauss_laplace sigma 2, {per_task} frames per task",
                     "sizes": ", ".join(f"{n:,}" for n in sizes) + " frames of 64x64 uint16 "
                     f"(a function), dark subtracted, written to Zarr on {where}",
                     "repeats": ctx.repeats}
    times = pool_control(_control_work, nframes, ctx.repeats)
    if why is not None:
        report.notes.append(f"Slurm rows skipped: {why}")
        more, written = _measure(nframes, per_task, ctx.repeats, sizes, ctx.tmp, False)
        times.update(more)
    else:
        with tempfile.TemporaryDirectory(prefix="slurm-", dir=ctx.tmp) as root:
            slurm = Slurm.start(root)
            before = os.environ.get("SLURM_CONF")
            os.environ["SLURM_CONF"] = slurm.conf
            try:
                more, written = _measure(nframes, per_task, ctx.repeats, sizes, ctx.tmp, True)
                times.update(more)
            finally:
                os.environ.pop("SLURM_CONF") if before is None else \
                    os.environ.__setitem__("SLURM_CONF", before)
                slurm.stop()
    for label, values in times.items():
        report.add(label, median(values), frames_per_s=round(nframes / median(values), 1))
    _size_rows(report, written, where)
    control = report.value("control: scipy in Pool(1)") / report.value("control: scipy in Pool(2)")
    report.params["machine scaling now (Pool(2) / Pool(1) throughput)"] = f"{control:.2f}"
    if why is None:
        speedup = report.value("slurm: 1 job") / report.value("slurm: 2 jobs")
        report.check("throughput 2 jobs / 1 job", speedup, ">=", 1.8)
        report.check("throughput 2 jobs / 1 job, as a share of the machine's own scaling",
                     speedup / control, ">=", 0.9)
        if control < 1.8:
            report.notes.append(f"the machine itself scaled {control:.2f}x from 1 to 2 "
                                "processes during this run (other load): 1.8x cannot be met")
    return report


def _size_rows(report: Report, written: dict[int, dict[str, float]], where: str) -> None:
    from pipeline.persist.stores import BATCH

    for n, got in written.items():
        report.add(f"write {n:,} frames on {where}, per frame", got["per_frame"],
                   scheduler_rss_mb=round(got["rss"] / 2**20), tasks_held=got["tasks"],
                   tasks_given=got["seen"], first_chunk_s=round(got["first"], 2))
    smallest, largest = written[min(written)], written[max(written)]
    report.check("per-frame time, largest / smallest series (flat)",
                 largest["per_frame"] / smallest["per_frame"], "<=", 1.5)
    report.check("peak RSS of the process holding the scheduler [MB]",
                 max(g["rss"] for g in written.values()) / 2**20, "<=", 1024)
    report.check("first chunk on disk after the call [s]",
                 max(g["first"] for g in written.values()), "<=", 10)
    # two batches of write tasks (each: a block computed, then stored) and a few others
    report.check(f"most tasks held by the scheduler (bounded: 4 x the batch of {BATCH} + 16)",
                 max(g["tasks"] for g in written.values()), "<=", 4 * BATCH + 16)

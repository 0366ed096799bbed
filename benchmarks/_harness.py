"""What every benchmark shares: sizes, the source stores, interleaved timing, the report.

A benchmark is a module with ``NAME`` and ``run(ctx) -> Report``.  Competitors
run side by side in one process; each repeat runs every competitor once, in an
order rotated from repeat to repeat, so that the noise of a shared machine
falls on all of them alike.  Only medians and ratios are reported.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import time
from collections.abc import Callable
from typing import Any, Self

import numpy as np

OPS_NOTE = "dark (uint16, clip at 0) -> flip v -> central crop (half of each side)"


@dataclasses.dataclass
class Context:
    """One run of the suite: its mode, its scratch directory and the stores written in it."""

    quick: bool
    tmp: str
    repeats: int
    _sources: dict[tuple[Any, ...], str] = dataclasses.field(default_factory=dict)
    _counter: int = 0

    def size(self, quick: Any, full: Any) -> Any:
        return quick if self.quick else full

    def source(self, nframes: int, shape: tuple[int, int], **write_options: Any) -> str:
        """A Zarr store of ``pipeline.synthetic(nframes, shape, seed=0)``, written once per run."""
        import pipeline

        key = (nframes, tuple(shape), tuple(sorted(write_options.items())))
        if key not in self._sources:
            path = os.path.join(self.tmp, f"source-{len(self._sources)}.zarr")
            pipeline.write(pipeline.synthetic(nframes, shape, seed=0), path, **write_options)
            self._sources[key] = path
        return self._sources[key]

    def scratch(self, stem: str) -> str:
        """A fresh path in the scratch directory."""
        self._counter += 1
        return os.path.join(self.tmp, f"{stem}-{self._counter}.zarr")


class PeakRSS:
    """This process's peak resident memory while the block runs, polled every 2 ms.

    ``with PeakRSS() as rss: ...`` then ``rss.peak`` (bytes); ``rss.start`` is
    the RSS when the block began.
    """

    def __enter__(self) -> Self:
        import threading

        import psutil

        self._proc = psutil.Process()
        self.start = self.peak = self._proc.memory_info().rss
        self._done = threading.Event()
        self._watcher = threading.Thread(target=self._poll, daemon=True)
        self._watcher.start()
        return self

    def _poll(self) -> None:
        while not self._done.wait(0.002):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._watcher.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def dir_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(path) for f in files)


def interleaved(competitors: dict[str, Callable[[], Any]], repeats: int, warmup: int = 0,
                cleanup: Callable[[], None] | None = None, once: frozenset[str] = frozenset(),
                errors: dict[str, str] | None = None) -> dict[str, list[float]]:
    """Wall times of each competitor over ``repeats`` rounds, the order rotated per round.

    Competitors named in ``once`` (slow ones, far from the others) run in the
    first timed round only.  A competitor that raises is dropped from later
    rounds, its error kept in ``errors`` (name -> message) and its times
    left empty: one broken competitor does not end the benchmark.
    """
    names = list(competitors)
    times: dict[str, list[float]] = {name: [] for name in names}
    errors = {} if errors is None else errors
    for r in range(warmup + repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            if (name in once and r != warmup) or name in errors:
                continue
            start = time.perf_counter()
            try:
                competitors[name]()
            except Exception as err:  # noqa: BLE001  (reported as the competitor's row)
                errors[name] = f"{type(err).__name__}: {err}"[:300]
            elapsed = time.perf_counter() - start
            if cleanup is not None:
                cleanup()
            if r >= warmup and name not in errors:
                times[name].append(elapsed)
    return times


def pool_control(work: Callable[[int], Any], count: int, repeats: int) -> dict[str, list[float]]:
    """``work(j)`` for each ``j < count`` in a plain process pool of 1 and of 2 (spawned),
    interleaved: how far the machine scales at this moment, the control beside a benchmark's
    runs on two workers.  ``work`` must be importable by name (a module-level function)."""
    import functools
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as one, ctx.Pool(2) as two:
        pools = {"control: scipy in Pool(1)": one, "control: scipy in Pool(2)": two}
        for pool in pools.values():
            pool.map(work, range(2))  # started, and the work's imports done
        return interleaved({label: functools.partial(pool.map, work, range(count), chunksize=1)
                            for label, pool in pools.items()}, repeats)


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


@dataclasses.dataclass
class Report:
    """The figures of one benchmark: rows of competitors, target checks and notes."""

    name: str
    reference: str | None = None
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    checks: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    unit: str = "s"

    def add(self, label: str, value: float, **extra: Any) -> None:
        self.rows.append({"label": label, "median": float(value), **extra})

    def value(self, label: str) -> float:
        for row in self.rows:
            if row["label"] == label:
                return float(row["median"])
        raise KeyError(label)

    def add_times(self, times: dict[str, list[float]], errors: dict[str, str] | None = None,
                  **extras: dict[str, Any]) -> None:
        for label, values in times.items():
            extra = extras.get(label, {})
            if errors and label in errors:
                extra = {**extra, "error": errors[label]}
            self.add(label, median(values), repeats=len(values), **extra)


    def check(self, what: str, value: float, op: str, target: float) -> None:
        """Record ``value op target`` (``op`` is ``"<="``, ``"<"``, ``">="`` or ``">"``).

        A value that is NaN (a competitor failed) is recorded as a miss.
        """
        passed = {"<=": value <= target, "<": value < target,
                  ">=": value >= target, ">": value > target}[op]
        self.checks.append({"what": what, "value": float(value), "op": op,
                            "target": float(target), "pass": bool(passed)})

    def ratio(self, label: str, reference: str) -> float:
        return self.value(label) / self.value(reference)

    def to_json(self) -> dict[str, Any]:
        rows = []
        for row in self.rows:
            row = dict(row)
            if self.reference is not None and self.reference in {r["label"] for r in self.rows}:
                row["ratio"] = row["median"] / self.value(self.reference)
            rows.append(row)
        return {"reference": self.reference, "unit": self.unit, "rows": rows,
                "checks": self.checks, "notes": self.notes, "params": self.params}


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        if value < 1e-3:
            return f"{value * 1e6:9.1f} us"
        if value < 1:
            return f"{value * 1e3:9.2f} ms"
        return f"{value:9.3f} s "
    return f"{value:12.4g} {unit}"


def format_report(report: Report) -> str:
    """The report as a plain-text table."""
    data = report.to_json()
    lines = [f"== {report.name} " + "=" * max(0, 70 - len(report.name))]
    for key, val in report.params.items():
        lines.append(f"   {key}: {val}")
    if data["rows"]:
        if report.reference:
            lines.append(f"   ratio = median / median of {report.reference!r}")
        head = "median" if report.unit == "s" else "value"
        lines.append(f"   {'competitor':<56}{head:>14}{'ratio':>10}  extra")
        for row in data["rows"]:
            ratio = f"{row['ratio']:10.2f}" if "ratio" in row else " " * 10
            extra = ", ".join(f"{k}={_short(v)}" for k, v in row.items()
                              if k not in ("label", "median", "ratio", "repeats"))
            lines.append(f"   {row['label']:<56}{_fmt(row['median'], report.unit):>14}"
                         f"{ratio}  {extra}")
    for chk in report.checks:
        verdict = "PASS" if chk["pass"] else "MISS"
        lines.append(f"   [{verdict}] {chk['what']}: {_short(chk['value'])} "
                     f"(target {chk['op']} {_short(chk['target'])})")
    lines.extend(f"   note: {note}" for note in report.notes)
    return "\n".join(lines)


def _short(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.3g}"
    return str(value)

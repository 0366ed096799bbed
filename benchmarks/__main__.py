"""``python -m benchmarks [--quick] [--only NAME[,NAME]] [--json PATH]``."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import tempfile
import time
from typing import Any

from benchmarks import BENCHMARKS
from benchmarks._harness import Context, format_report

DEFAULT_JSON = os.path.join(os.path.dirname(__file__), "results", "latest.json")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few repeats: the whole suite in about a minute")
    parser.add_argument("--only", default="",
                        help=f"comma-separated benchmarks to run, from {', '.join(BENCHMARKS)}")
    parser.add_argument("--json", default=DEFAULT_JSON, help="where to write the figures")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats per competitor (default: 3 quick, 5 full)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    args.names = names
    return args


def machine() -> dict[str, Any]:
    import dask
    import numpy
    import zarr

    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "platform": platform.platform(), "numpy": numpy.__version__,
            "dask": dask.__version__, "zarr": zarr.__version__}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    results: dict[str, Any] = {"mode": "quick" if args.quick else "full",
                               "machine": machine(), "benchmarks": {}}
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lazyseries-bench-") as tmp:
        ctx = Context(quick=args.quick, tmp=tmp, repeats=repeats)
        for name in args.names:
            module = importlib.import_module(f"benchmarks.{name}")
            start = time.perf_counter()
            try:
                report = module.run(ctx)
            except Exception as err:  # noqa: BLE001  (one broken benchmark must not hide the others)
                failed.append(name)
                print(f"== {name}: FAILED: {type(err).__name__}: {err}", flush=True)
                results["benchmarks"][name] = {"error": f"{type(err).__name__}: {err}"}
                continue
            entry = report.to_json()
            entry["wall_s"] = time.perf_counter() - start
            results["benchmarks"][name] = entry
            print(format_report(report), f"\n   ({entry['wall_s']:.1f} s)\n", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(results, fh, indent=1)
    print(f"figures written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

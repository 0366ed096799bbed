"""The benchmark suite runs end to end and writes its figures (no timing is asserted)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

from benchmarks import BENCHMARKS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHEAP = ("graph_scale", "pushdown", "codecs")


def test_quick_subset_writes_json(tmp_path):
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", ",".join(CHEAP),
         "--json", str(out)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures = json.loads(out.read_text())
    assert figures["mode"] == "quick"
    assert {"python", "cpus", "numpy", "dask", "zarr"} <= set(figures["machine"])
    assert set(figures["benchmarks"]) == set(CHEAP)
    for name, entry in figures["benchmarks"].items():
        assert {"rows", "checks", "notes", "params", "unit", "wall_s"} <= set(entry), name
        assert entry["rows"], name
        for row in entry["rows"]:
            assert {"label", "median"} <= set(row)
        for check in entry["checks"]:
            assert {"what", "value", "op", "target", "pass"} <= set(check)
    assert "== pushdown" in proc.stdout
    assert "[PASS]" in proc.stdout or "[MISS]" in proc.stdout


def test_unknown_benchmark_is_refused(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "nonesuch",
         "--json", str(tmp_path / "x.json")],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "'nonesuch'" in proc.stderr and "end_to_end_large" in proc.stderr
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_benchmark_module_has_name_and_run(name):
    module = importlib.import_module(f"benchmarks.{name}")
    assert module.NAME == name and callable(module.run)


def test_a_failing_competitor_is_a_row_with_its_error():
    from benchmarks._harness import Report, interleaved

    calls = {"ok": lambda: None, "broken": lambda: 1 / 0}
    errors: dict[str, str] = {}
    times = interleaved(calls, repeats=3, errors=errors)
    assert len(times["ok"]) == 3 and times["broken"] == []
    assert errors == {"broken": "ZeroDivisionError: division by zero"}
    report = Report("x", reference="ok")
    report.add_times(times, errors)
    report.check("broken / ok", report.ratio("broken", "ok"), "<=", 1.0)
    rows = {row["label"]: row for row in report.to_json()["rows"]}
    assert rows["broken"]["error"].startswith("ZeroDivisionError")
    assert report.checks[0]["pass"] is False  # NaN: a miss, not a crash


def test_codec_floor_writes_a_store_zarr_reads(tmp_path):
    import numpy as np
    import zarr

    import pipeline
    from benchmarks import _floor, _pipelines

    src = tmp_path / "src.zarr"
    pipeline.write(pipeline.synthetic(70, (32, 32), seed=0), src)
    case = _pipelines.make_case(str(src))
    _floor.codec_floor(case, str(tmp_path / "floor.zarr"))
    _pipelines.lazyseries(case, str(tmp_path / "lazy.zarr"))
    floor = zarr.open_array(tmp_path / "floor.zarr" / "0")[...]
    np.testing.assert_array_equal(floor, np.asarray(pipeline.open(tmp_path / "lazy.zarr")))
    assert floor.shape == case.out_shape

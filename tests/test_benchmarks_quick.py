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

"""The README's promise: two set-up commands at the top, and the demo they run works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_starts_with_the_two_setup_commands():
    head = README.read_text().splitlines()[:12]
    assert any(line.startswith("pip install -e '.[all]'") and "demo" in line for line in head)
    assert any(line.startswith("pip install -e '.[test]'") and "pytest" in line for line in head)


def test_demo_runs(tmp_path):
    out = tmp_path / "demo.zarr"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "demo", os.fspath(out), "--frames", "16"],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "frames match the processed series: True" in proc.stdout
    assert out.is_dir()

"""pipeline.testing is in the wheel pip builds, and imports from where pip installs it.

The wheel is built from a copy of the distribution's files (so the working
tree gets no ``build/`` or ``egg-info``), installed without dependencies into
a directory of its own, and imported in a subprocess whose path starts with
that directory and does not hold the source tree.
"""

from __future__ import annotations

import ast
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SHIPPED = ("__init__", "series", "ops", "formats", "strategies")

IMPORT = """
import pipeline, pipeline.testing, pipeline.testing.strategies as strategies
from pipeline.testing import FormatConformance, OpConformance, SeriesConformance
print(pipeline.testing.__file__)
print(pipeline.__file__)
print(sorted(pipeline.testing.__all__))
print(strategies.op_chains.__name__, issubclass(FormatConformance, SeriesConformance))
"""


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args, "-q", "--disable-pip-version-check"],
                   check=True, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> pathlib.Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in ("pipeline", "ops"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    _pip("wheel", "--no-deps", "--wheel-dir", str(tmp / "dist"), str(src))
    (built,) = (tmp / "dist").glob("lazyseries-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_ships_pipeline_testing_and_its_extra(wheel):
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = whl.read(meta).decode()
    assert {f"pipeline/testing/{m}.py" for m in SHIPPED} <= names
    assert not any(n.startswith("tests/") for n in names)
    assert "Provides-Extra: testing" in metadata
    for requirement in ("pytest>=8", "hypothesis>=6.100"):
        assert f'Requires-Dist: {requirement}; extra == "testing"' in metadata, requirement


@pytest.mark.slow
def test_pipeline_testing_imports_from_the_installed_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    _pip("install", "--no-deps", "--target", str(site), str(wheel))
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-c", IMPORT], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    testing_file, package_file, names, checks = run.stdout.splitlines()
    assert testing_file == str(site / "pipeline" / "testing" / "__init__.py")
    assert package_file == str(site / "pipeline" / "__init__.py")
    assert ast.literal_eval(names) == sorted([
        "FormatConformance", "NUMPY_FLIPS", "OpConformance", "SeriesConformance",
        "StoreConformance", "frames_of", "random_region"])
    assert checks == "op_chains True"

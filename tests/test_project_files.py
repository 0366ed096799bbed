"""The files users look for are there and agree with the package metadata."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import metadata, version
from pathlib import Path

import yaml

import pipeline

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_one_version_everywhere():
    installed = version("lazyseries")
    assert installed == PYPROJECT["project"]["version"]
    assert pipeline.__version__ == installed
    cli = subprocess.run([sys.executable, "-m", "pipeline", "--version"], capture_output=True,
                         text=True, timeout=60, check=True)
    assert cli.stdout.strip() == f"lazyseries {installed}"


def test_license_is_the_declared_one():
    assert PYPROJECT["project"]["license"] == "BSD-3-Clause"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License") and "lazyseries developers" in text


def test_project_urls_reach_the_metadata():
    urls = dict(u.split(", ", 1) for u in metadata("lazyseries").get_all("Project-URL") or [])
    assert set(urls) >= {"Homepage", "Documentation", "Source", "Issues", "Changelog"}
    assert all(u.startswith("https://") for u in urls.values())


def test_citation_is_cff_1_2_of_this_version():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):  # what CFF 1.2 requires
        assert cff[key], key
    assert all(a.get("name") or a.get("family-names") for a in cff["authors"])
    assert str(cff["version"]) == version("lazyseries")
    assert cff["license"] == PYPROJECT["project"]["license"]


def test_changelog_has_this_release():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text
    assert re.search(rf"^## \[{re.escape(version('lazyseries'))}\] - \d{{4}}-\d{{2}}-\d{{2}}$",
                     text, re.M)


def test_contributing_covers_ops_formats_stores_tests_benchmarks_docs():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    for heading in ("Adding an op", "Adding a format", "Adding a storage backend",
                    "Running the test suites", "Running the benchmarks",
                    "Building the documentation"):
        assert f"## {heading}" in text, heading

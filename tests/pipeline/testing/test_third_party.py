"""A third-party format, in a package of its own, passes pipeline.testing's FormatConformance.

The package lives in a temporary directory: a small real format (frames as
raw bytes after a one-line JSON header, written through the persistence
layer, read lazily) registered through the ``lazyseries.formats`` entry-point
group, and a test module subclassing the conformance class as its authors
would.  pytest runs that module in a subprocess, as it would in their CI.  A
second, broken format of the same package (registered with ``registry.add``)
shows the class catching what it is meant to: a reader that raises a plain
error on a foreign file instead of declining it.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

from pipeline.formats import ENTRY_POINT_GROUP
from pipeline.testing import FormatConformance

ROOT = pathlib.Path(__file__).resolve().parents[3]

FORMAT_MODULE = '''
"""LZRAW: frames as raw bytes after a one-line JSON header (shape, dtype, frames, metadata)."""

from __future__ import annotations

import json
import math
import os

import numpy as np

import pipeline
from pipeline.errors import NotMyFormat, OptionValueError
from pipeline.formats import FileEncoding, Format

MAGIC = b"LZRAW1 "


def read_header(path):
    """The header of the LZRAW file at ``path`` and the offset of its first frame."""
    try:
        with open(path, "rb") as fh:
            line = fh.readline(1 << 16)
    except OSError as err:
        raise NotMyFormat(f"{path!r} cannot be read as LZRAW: {err}") from err
    if not line.startswith(MAGIC):
        raise NotMyFormat(f"{path!r} does not start with {MAGIC!r}")
    return json.loads(line[len(MAGIC):]), len(line)


class FrameReader:
    """Reads frame j from the file: what a series pickles as, instead of its pixels."""

    def __init__(self, path, offset, shape, dtype):
        self.path, self.offset, self.shape, self.dtype = path, offset, shape, np.dtype(dtype)

    def __call__(self, j):
        count = math.prod(self.shape)
        start = self.offset + j * count * self.dtype.itemsize
        return np.fromfile(self.path, self.dtype, count, offset=start).reshape(self.shape)


class LZRaw(Format):
    name = "lzraw"
    aliases = ("lz-raw",)
    extensions = (".lzraw",)
    writes = "file"

    def open(self, path, /):
        path = os.fspath(path)
        header, offset = read_header(path)
        shape, dtype = tuple(header["shape"]), np.dtype(header["dtype"])
        return pipeline.from_function(FrameReader(path, offset, shape, dtype), header["frames"],
                                      shape, dtype, metadata=header["metadata"])

    def sniff(self, path):
        try:
            read_header(path)
        except NotMyFormat:
            return False
        return True

    def encoder(self, series, target, **options):
        if options:
            raise OptionValueError(f"lzraw takes no options, got {sorted(options)!r}")
        header = MAGIC + json.dumps({
            "shape": list(series.shape), "dtype": series.dtype.str, "frames": len(series),
            "metadata": dict(series.metadata)}).encode() + b"\\n"

        def encode(path, blocks):
            with open(path, "wb") as fh:
                fh.write(header)
                for _, block in blocks:
                    fh.write(np.ascontiguousarray(block, series.dtype).tobytes())

        return FileEncoding(self.name, encode, self.sniff, self.open)


class CarelessRaw(LZRaw):
    """Takes every file for its own, and fails with a plain error on foreign ones."""

    name = "lzraw-careless"
    aliases = ()
    extensions = (".lzcareless",)

    def open(self, path, /):
        try:
            return super().open(path)
        except NotMyFormat as err:
            raise ValueError(str(err)) from None

    def sniff(self, path):
        return True
'''

TEST_MODULE = '''
from lzraw_format import CarelessRaw

from pipeline.testing import FormatConformance


class TestLZRaw(FormatConformance):
    format = "lzraw"  # registered by the package's entry point
    sample_metadata = {"exposure": 0.5, "detector": "sim"}


class TestCarelessRaw(FormatConformance):
    format = CarelessRaw  # registered for each test by the class
'''

CAUGHT = {"test_a_foreign_file_is_not_my_format",
          "test_a_foreign_file_named_with_this_format_is_a_wrong_format_error"}
"""What the conformance class must catch in the careless format."""


def _package(tmp_path: pathlib.Path) -> pathlib.Path:
    """The third-party distribution on a path of its own, with its entry point and tests."""
    site = tmp_path / "site"
    (site / "lzraw_format").mkdir(parents=True)
    (site / "lzraw_format" / "__init__.py").write_text(FORMAT_MODULE)
    info = site / "lzraw_format-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lzraw-format\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nlzraw = lzraw_format:LZRaw\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_lzraw.py").write_text(textwrap.dedent(TEST_MODULE))
    return site


def _outcomes(junit: pathlib.Path) -> dict[str, dict[str, str]]:
    """``{class: {test: outcome}}`` from pytest's JUnit XML."""
    found: dict[str, dict[str, str]] = {}
    for case in ET.parse(junit).iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        found.setdefault(case.get("classname", "").rsplit(".", 1)[-1], {})[
            case.get("name", "")] = kinds[0] if kinds else "passed"
    return found


def test_a_third_party_format_passes_the_conformance_class(tmp_path):
    site = _package(tmp_path)
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore",
         f"--junitxml={junit}", "tests/test_lzraw.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    laws = {name for name in dir(FormatConformance) if name.startswith("test_")}
    outcomes = _outcomes(junit)
    assert outcomes["TestLZRaw"] == dict.fromkeys(laws, "passed"), run.stdout[-3000:]
    assert f"{len(CAUGHT)} failed, {2 * len(laws) - len(CAUGHT)} passed" in run.stdout
    careless = outcomes["TestCarelessRaw"]
    assert {name for name, kind in careless.items() if kind != "passed"} == CAUGHT, careless
    assert set(careless) == laws and run.returncode == 1  # pytest's "some tests failed"

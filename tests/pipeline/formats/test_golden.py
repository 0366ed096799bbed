"""Stores written by every past format version open with today's code, unchanged."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

import pipeline

GOLDEN = pathlib.Path(__file__).parents[2] / "data" / "golden"
VERSIONS = sorted(p.name for p in GOLDEN.glob("v*") if p.is_dir())


def _maker():
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_is_a_golden_store_for_the_current_version():
    from pipeline.formats.zarr import FORMAT_VERSION

    assert f"v{FORMAT_VERSION}" in VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_raw_store_opens_with_its_frames_and_metadata(version):
    golden = _maker()
    s = pipeline.open(GOLDEN / version / "raw.zarr")
    np.testing.assert_array_equal(np.asarray(s), golden.frames())
    assert s.dtype == np.uint16
    expected = golden.metadata()
    assert set(s.metadata) == set(expected)
    for key, value in expected.items():
        np.testing.assert_equal(s.metadata[key], value)
    assert s.metadata["omega"].dtype == np.float64


@pytest.mark.parametrize("version", VERSIONS)
def test_processed_store_opens_and_its_provenance_recomputes_it(version):
    golden = _maker()
    s = pipeline.open(GOLDEN / version / "processed.zarr")
    ref = pipeline.from_array(golden.frames()).process(golden.chain())
    np.testing.assert_array_equal(np.asarray(s), np.asarray(ref))
    ops_recorded = s.provenance["ops"]
    assert [op["name"] for op in ops_recorded] == ["dark", "flip", "rectangle"]
    again = pipeline.from_array(golden.frames()).process(
        [(op["name"], op["param"]) for op in ops_recorded])
    np.testing.assert_array_equal(np.asarray(again), np.asarray(s))

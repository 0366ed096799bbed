"""Fixtures shared by the whole suite."""

from __future__ import annotations

import numpy as np
import pytest

import ops
from pipeline import stats
from pipeline.formats import registry as format_registry


@pytest.fixture(autouse=True)
def _clean_registries():
    """Snapshot and restore the global op, format and statistic registries around every test."""
    op_kinds = ops.registry.snapshot()
    formats = format_registry.snapshot()
    statistics = stats.registry.snapshot()
    yield
    ops.registry.restore(op_kinds)
    format_registry.restore(formats)
    stats.registry.restore(statistics)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def frames_u16(rng):
    """12 frames of 20 x 30 uint16 with real spread, dark-level values included."""
    return rng.integers(0, 4000, size=(12, 20, 30), dtype=np.uint16)

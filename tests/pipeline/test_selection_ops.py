"""'GFP only, max projection' as a chain: from Python, a pipeline file and the command line,
recorded in the written store and replayed from that record."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import pipeline
from pipeline import pipelinefile
from pipeline.errors import OpParameterError

SCRIPT = [shutil.which("lazyseries")] if shutil.which("lazyseries") else [sys.executable, "-m",
                                                                          "pipeline"]
META = {"channel_names": ["DAPI", "GFP"], "physical_size": {"x": 0.5, "y": 0.5, "z": 2.0}}
DATA = np.random.default_rng(24).integers(0, 4000, (4, 2, 6, 16, 20)).astype(np.uint16)
GFP_MAX = DATA[:, 1].max(axis=1)


@pytest.fixture
def stack(tmp_path):
    """A time series of two-channel z stacks (T, C, Z, Y, X) with named channels, as a store."""
    return pipeline.write(pipeline.from_array(DATA, dict(META), axes="TCZYX"),
                          tmp_path / "cells.zarr")


def test_gfp_only_max_projection_in_python(stack):
    ps = stack.process([("channel", "GFP"), ("max-projection", "z")])
    assert ps.axes == "TYX" and ps.shape == (16, 20) and ps.dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(ps), GFP_MAX)
    np.testing.assert_array_equal(ps[2], GFP_MAX[2])
    assert ps.oplist == [("channel", ("C", 0, 1)), ("max-projection", ("Z", 0))]


def test_a_crop_after_the_chain_reads_one_channel_and_only_its_rows(stack):
    ps = stack.process([("channel", "GFP"), ("z", [1, 4]), ("mean-projection", "z"),
                        ("rectangle", ((3, 9), (5, 15)))])
    region, _ = pipeline.series.region_plan(ps, None)
    assert region == ((1, 2), (1, 4), (3, 9), (5, 15))  # channel 1, planes 1-3, the rectangle
    want = DATA[:, 1, 1:4].astype(np.float64).mean(axis=1).astype(np.float32)[:, 3:9, 5:15]
    np.testing.assert_array_equal(ps.to_dask().compute(), want)


def test_provenance_records_the_chain_and_replays_it_bit_for_bit(stack, tmp_path):
    ps = stack.process([("channel", "GFP"), ("max-projection", "z")])
    first = pipeline.write(ps, tmp_path / "first.zarr")
    ops = first.provenance["ops"]
    assert ops == [{"name": "channel", "param": ["C", 0, 1]},
                   {"name": "max-projection", "param": ["Z", 0]}]
    spec = pipelinefile.from_provenance(first.provenance, output={"path": "second.zarr"})
    pipelinefile.dump(spec, tmp_path / "again.yaml")
    second = pipelinefile.run(tmp_path / "again.yaml")
    assert np.asarray(second).tobytes() == np.asarray(first).tobytes()


def test_a_pipeline_file_names_the_channel(stack, tmp_path):
    (tmp_path / "gfp.yaml").write_text(
        "source: cells.zarr\nops:\n  - {name: channel, param: GFP}\n"
        "  - {name: max-projection, param: z}\noutput: {path: gfp.zarr}\n")
    out = pipelinefile.run(tmp_path / "gfp.yaml")
    np.testing.assert_array_equal(np.asarray(out), GFP_MAX)


def test_the_command_line_takes_the_chain(stack, tmp_path):
    run = subprocess.run([*SCRIPT, "process", "cells.zarr", "gfp.zarr", "--op", "channel=GFP",
                          "--op", "max-projection=z", "-q"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "gfp.zarr")), GFP_MAX)
    bad = subprocess.run([*SCRIPT, "process", "cells.zarr", "x.zarr", "--op", "channel=RFP",
                          "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         check=False)
    assert bad.returncode == 2 and "no channel named 'RFP'" in bad.stderr
    assert "['DAPI', 'GFP']" in bad.stderr and not (tmp_path / "x.zarr").exists()


def test_channels_kept_by_a_list_keep_their_names(stack):
    ps = stack.process([("channel", ["GFP", "DAPI"])])
    assert ps.axes == "TCZYX"
    assert ps._specs[-1].channels == ("GFP", "DAPI")
    np.testing.assert_array_equal(np.asarray(ps), DATA[:, [1, 0]])
    again = ps.process([("channel", "DAPI")])  # names follow the chain
    np.testing.assert_array_equal(np.asarray(again), DATA[:, 0])


def test_frames_without_channel_names_take_indices_only():
    series = pipeline.from_array(DATA, axes="TCZYX")
    with pytest.raises(OpParameterError, match="have no names"):
        series.process([("channel", "GFP")])
    np.testing.assert_array_equal(np.asarray(series.process([("channel", 1)])), DATA[:, 1])

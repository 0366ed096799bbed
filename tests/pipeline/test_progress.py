"""Progress in every phase and on every scheduler: frames, rate and time left."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

import pipeline
from pipeline import _progress, pipelinefile


def _last(text: str, label: str) -> str:
    """The last state tqdm drew of the bar called ``label``."""
    states = [s for s in re.split(r"[\r\n]", text) if s.startswith(label)]
    assert states, f"no bar {label!r} in {text!r}"
    return states[-1]


def test_a_write_counts_frames_rate_and_time_left(tmp_path):
    series = pipeline.synthetic(24, (32, 32)).process([("flip", "v")])
    stream = io.StringIO()
    with _progress.shown(stream):
        pipeline.write(series, tmp_path / "o.zarr", chunks=(2, 32, 32), shards=None)
    bar = _last(stream.getvalue(), f"write {tmp_path / 'o.zarr'}")
    assert "24/24" in bar and "frames/s" in bar, bar
    assert "100%" in bar


def test_nothing_is_shown_unless_asked(tmp_path, capsys):
    pipeline.write(pipeline.synthetic(8, (16, 16)), tmp_path / "o.zarr")
    assert capsys.readouterr().err == ""


def test_a_dark_from_the_data_has_its_own_bar(tmp_path):
    raw = pipeline.write(pipeline.synthetic(20, (24, 24)), tmp_path / "raw.zarr")
    spec = pipelinefile.validate({"source": str(tmp_path / "raw.zarr"),
                                  "ops": [{"name": "dark", "param": {"stat": "median",
                                                                     "nframes": 12}}],
                                  "output": str(tmp_path / "o.zarr")})
    stream = io.StringIO()
    with _progress.shown(stream):
        series = pipelinefile.build(spec)
    bar = _last(stream.getvalue(), "median of 12 frames")
    assert "12/12" in bar and "frames/s" in bar, bar
    np.testing.assert_array_equal(series[0], raw.process(
        [("dark", pipeline.stats.median(raw, nframes=12))])[0])


def test_compute_counts_the_frames_of_several_statistics():
    series = pipeline.synthetic(16, (16, 16))
    stream = io.StringIO()
    lazy = [pipeline.stats.compute(name, series, lazy=True) for name in ("max", "min")]
    with _progress.shown(stream):
        top, low = _progress.compute(*lazy, label="max, min of 16 frames", nframes=16)
    np.testing.assert_array_equal(top, pipeline.stats.max(series))
    np.testing.assert_array_equal(low, pipeline.stats.min(series))
    assert "16/16" in _last(stream.getvalue(), "max, min of 16 frames")


def test_a_resumed_write_starts_from_the_frames_kept(tmp_path):
    stream = io.StringIO()
    with _progress.shown(stream):
        _progress.run_batches([[]], "resumed", 10, initial=4)
    assert "4/10" in _last(stream.getvalue(), "resumed")


@pytest.mark.slow
def test_on_a_distributed_cluster_too(tmp_path):
    distributed = pytest.importorskip("distributed")
    series = pipeline.synthetic(24, (64, 64)).process([("dark", np.full((64, 64), 3, np.uint16))])
    stream = io.StringIO()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0",
                                  silence_logs=40) as cluster, distributed.Client(cluster), \
            _progress.shown(stream):
        pipeline.write(series, tmp_path / "o.zarr", chunks=(2, 64, 64), shards=None)
        top = _progress.compute(pipeline.stats.compute("max", series, lazy=True),
                                label="max of 24 frames", nframes=24)[0]
    assert "24/24" in _last(stream.getvalue(), f"write {tmp_path / 'o.zarr'}")
    assert "frames/s" in _last(stream.getvalue(), f"write {tmp_path / 'o.zarr'}")
    assert "24/24" in _last(stream.getvalue(), "max of 24 frames")
    np.testing.assert_array_equal(top, pipeline.stats.max(series))
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "o.zarr")),
                                  np.asarray(series))

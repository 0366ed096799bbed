"""Detector files on a real dask.distributed cluster: the recipe travels, workers decode."""

from __future__ import annotations

import numpy as np
import pytest

import pipeline
from tests.pipeline.formats._data import frames
from tests.pipeline.formats.test_detector import write_ge
from tests.pipeline.formats.test_eiger import two_thresholds, write_v2
from tests.pipeline.formats.test_hdf5_detector import eiger_master

distributed = pytest.importorskip("distributed")
pytest.importorskip("fabio")
pytest.importorskip("dectris.compression")

pytestmark = pytest.mark.slow


def test_workers_read_detector_files_as_this_process_does(tmp_path):
    t1, t2 = two_thresholds(6, (20, 16))
    stream = pipeline.open(write_v2(tmp_path / "v2.h5", t1, t2), "eiger-stream-v2",
                           threshold_setting="man_diff", multiplier=0.5)
    master, linked = eiger_master(tmp_path)  # bitshuffle-LZ4 parts: hdf5plugin in the workers
    ge = frames(5, (12, 10), "uint16")
    cases = {
        "eiger-stream-v2 man_diff": (stream, t1 - 0.5 * t2.astype(np.float64)),
        "NeXus master": (pipeline.open(master).process([("flip", "v")]), linked[..., ::-1]),
        "GE": (pipeline.open(write_ge(tmp_path / "s.ge2", ge)), ge),
    }
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=40)
    with cluster, distributed.Client(cluster) as client:
        for name, (series, want) in cases.items():
            got = client.compute(series.to_dask()).result()
            np.testing.assert_array_equal(got, want, err_msg=name)

"""The same graphs on a real dask.distributed cluster: recipes travel, workers compute and write."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

import pipeline

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

SHAPE = (32, 40)
RECT = ((3, 37), (5, 29))


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 4000, (16, *SHAPE), dtype=np.uint16)
    dark = rng.integers(0, 400, SHAPE, dtype=np.uint16)
    source = pipeline.write(pipeline.from_array(frames), root / "raw.zarr",
                            chunks=(2, *SHAPE), shards=None)
    ps = pipeline.open(root / "raw.zarr").process(
        [("dark", dark), ("flip", "r90"), ("rectangle", RECT)])
    ref = np.clip(frames.astype(np.int64) - dark, 0, None).astype(np.uint16)
    ref = np.rot90(ref, axes=(1, 2))[:, RECT[0][0]:RECT[0][1], RECT[1][0]:RECT[1][1]]
    assert source.frame_chunk == 2
    return root, frames, ps, ref


def test_pickles_as_a_recipe(case):
    _, frames, ps, ref = case
    ps[0]  # opens the store in this process
    payload = pickle.dumps(ps)
    assert len(payload) < frames.nbytes // 10
    again = pickle.loads(payload)
    assert again.source._handle is None  # reopened lazily where it lands
    np.testing.assert_array_equal(again[5], ref[5])
    assert again.to_dask().name == ps.to_dask().name


def test_compute_on_the_cluster(client, case):
    _, _, ps, ref = case
    with distributed.get_task_stream(client) as ts:
        got = ps.to_dask().compute()
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got, np.stack([ps[j] for j in range(len(ps))]))
    workers = {t["worker"] for t in ts.data}
    assert workers and workers <= set(client.scheduler_info()["workers"])


def test_write_on_the_cluster(client, case):
    root, _, ps, ref = case
    with distributed.get_task_stream(client) as ts:
        pipeline.write(ps, root / "out.zarr", chunks=(2, *ps.shape), shards=None)
    ran = [t for t in ts.data if t["key"] and "processedimageseries" in str(t["key"])]
    assert ts.data and ran, "the write did not run on the cluster"
    assert {t["worker"] for t in ts.data} <= set(client.scheduler_info()["workers"])
    back = pipeline.open(root / "out.zarr")
    np.testing.assert_array_equal(np.asarray(back), ref)
    assert back.provenance["source"]["path"] == os.fspath(root / "raw.zarr")


def test_workers_pid_differs(client):
    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids

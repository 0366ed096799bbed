"""Writes to an S3 server (moto, on 127.0.0.1) with the local disk's guarantees.

A write builds a whole new version beside the current one and publishes it by
one conditional write of the root ``zarr.json``; the old version is removed only
after that.  Killed at any instant, raced, or given a server that ignores
conditions, no store is mixed, lost or half-shown; unmodified readers
(zarr-python, xarray, ome-zarr-py) see exactly the committed version.
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings

import numpy as np
import pytest

import pipeline
from pipeline import errors
from tests.pipeline.persist import _jobs
from tests.pipeline.persist.test_faults import FINISH, NEW, OLD, Zygote, _kill_when

pytestmark = pytest.mark.slow


def _fs(options):
    import s3fs

    return s3fs.S3FileSystem(**options)


def _listing(options, url):
    """Every object under ``url`` with its bytes' length and ETag."""
    fs = _fs(options)
    fs.invalidate_cache()
    path = url.removeprefix("s3://")
    return {p: (info["size"], info.get("ETag")) for p, info in
            fs.find(path, detail=True).items()}


def _root(options, url):
    fs = _fs(options)
    fs.invalidate_cache()
    return json.loads(fs.cat(url.removeprefix("s3://") + "/zarr.json"))["attributes"]


@pytest.fixture
def frames():
    rng = np.random.default_rng(4)
    return rng.integers(0, 4000, (12, 16, 24), dtype=np.uint16)


# -- writing, replacing, versions, readers -----------------------------------------------


def test_a_store_is_written_replaced_and_its_old_version_kept_or_removed(s3, frames):
    root, options = s3
    url = f"{root}/x.zarr"
    first = pipeline.write(pipeline.from_array(frames, {"gain": 2.5}), url,
                           storage_options=options, levels=1)
    np.testing.assert_array_equal(np.asarray(first), frames)
    assert first.metadata["gain"] == 2.5
    v1 = _root(options, url)["lazyseries"]["version"]
    with pytest.raises(errors.StoreExistsError):
        pipeline.write(pipeline.from_array(frames), url, storage_options=options)
    second = pipeline.write(pipeline.from_array(frames + 1), url, storage_options=options,
                            overwrite=True, keep_versions=1)
    record = _root(options, url)["lazyseries"]
    assert record["kept"] == [v1] and record["version"] != v1
    np.testing.assert_array_equal(np.asarray(second), frames + 1)
    kept = pipeline.open(url, storage_options=options, version=v1)
    np.testing.assert_array_equal(np.asarray(kept), frames)
    np.testing.assert_array_equal(first[3], frames[3])  # a reader of v1 still reads it
    pipeline.write(pipeline.from_array(frames + 2), url, storage_options=options,
                   overwrite=True)
    entries = {p.rsplit("/", 1)[-1] for p in _fs(options).ls(url.removeprefix("s3://"),
                                                             refresh=True)}
    assert entries == {"zarr.json", _root(options, url)["lazyseries"]["version"]}
    with pytest.raises(errors.StoreChangedError):  # its version was removed after publishing
        first[4]


def test_unmodified_readers_see_exactly_the_committed_version(s3, frames, monkeypatch):
    import zarr

    root, options = s3
    url = f"{root}/x.zarr"
    pipeline.write(pipeline.from_array(frames), url, storage_options=options, levels=1)
    pipeline.write(pipeline.from_array(frames + 5), url, storage_options=options,
                   overwrite=True, keep_versions=1, levels=1)
    record = _root(options, url)["lazyseries"]
    # zarr-python: the record names the committed array
    group = zarr.open_group(url, mode="r", storage_options=options)
    np.testing.assert_array_equal(group[record["array"]][...], frames + 5)
    # xarray: the committed version is a group of its own
    xr = pytest.importorskip("xarray")
    ds = xr.open_zarr(url, group=record["version"], consolidated=False,
                      storage_options=options)
    np.testing.assert_array_equal(ds["images"].values, frames + 5)
    # ome-zarr-py (NGFF): the root's multiscales point into the committed version
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", options["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", options["secret"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", options["client_kwargs"]["endpoint_url"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    nodes = list(Reader(parse_url(url))())
    level0 = np.asarray(nodes[0].data[0])
    np.testing.assert_array_equal(level0, frames + 5)
    assert len(nodes[0].data) == 2


def test_a_server_that_ignores_conditions_is_refused_unless_asked(s3_server, frames):
    from tests._servers import Proxy

    proxy = Proxy.start(s3_server, strip_conditions=True)
    try:
        bucket = s3_server.bucket()
        url = f"s3://{bucket}/x.zarr"
        with pytest.raises(errors.StorageError, match="ignores conditional writes"):
            pipeline.write(pipeline.from_array(frames), url, storage_options=proxy.options)
        assert _fs(s3_server.options).ls(bucket, refresh=True) == []  # not even a claim left
        with pytest.warns(errors.UnsafeStoreWarning, match="unsafe_conditional_writes"):
            back = pipeline.write(pipeline.from_array(frames), url,
                                  storage_options=proxy.options, unsafe_conditional_writes=True)
        np.testing.assert_array_equal(np.asarray(back), frames)
    finally:
        proxy.stop()


def test_file_system_options_are_refused_for_local_stores(tmp_path, frames):
    for option in ({"keep_versions": 2}, {"unsafe_conditional_writes": True}):
        with pytest.raises(errors.OptionValueError, match="object stores"):
            pipeline.write(pipeline.from_array(frames), tmp_path / "x.zarr", **option)


# -- killed anywhere: old or new, whole; the rerun finishes it byte for byte --------------


@pytest.fixture(scope="module")
def zygote():
    z = Zygote()
    yield z
    z.close()


PHASES = ["staged", "metadata", "array", "chunks", "complete", "publish", "published"]
DELAYS = [0.0, 0.02, 0.05, 0.1, 0.15, 0.3, 0.5, 0.8, 1.2, 1.6, 2.0, 3.0, FINISH]


def _chunk_bytes(options, url):
    """The committed version's chunk objects, keyed relative to the version."""
    fs = _fs(options)
    version = _root(options, url)["lazyseries"]["version"]
    base = f"{url.removeprefix('s3://')}/{version}/images/"
    return {p[len(base):]: fs.cat(p) for p in fs.find(base)}


def _outcome(options, url, overwrite):
    """What a killed write left readers: 'absent', 'old' or 'new' (never a mix)."""
    try:
        got = np.asarray(pipeline.open(url, storage_options=options))
    except FileNotFoundError:
        assert not overwrite, "the old series is gone"
        return "absent"
    except errors.IncompleteStoreError as err:  # a version written but never published
        assert not overwrite, err
        assert "write the same series to it again" in str(err)
        return "incomplete"
    for seed, label in ((OLD, "old"), (NEW, "new")):
        if np.array_equal(got, _jobs.frames(seed)):
            return label
    raise AssertionError(f"{url} holds frames of neither write")


@pytest.mark.parametrize("overwrite", [False, True], ids=["new", "overwrite"])
def test_writes_killed_at_every_phase_and_instant_recover(s3_server, zygote, tmp_path,
                                                          overwrite):
    options = s3_server.options
    bucket = s3_server.bucket()
    reference = f"s3://{bucket}/reference.zarr"
    pipeline.write(_jobs.make_series(NEW, 0), reference, storage_options=options,
                   **_jobs.OPTIONS["zarr"])
    cases = [("delay", d) for d in DELAYS] + [("phase", p) for p in PHASES]
    jobs = []
    for k, (kind, when) in enumerate(cases):
        url = f"s3://{bucket}/c{k}.zarr"
        if overwrite:
            pipeline.write(_jobs.make_series(OLD, 0), url, storage_options=options,
                           **_jobs.OPTIONS["zarr"])
        before = _listing(options, url)
        marker = tmp_path / f"c{k}.reached"
        env = {} if kind == "delay" else {"LAZYSERIES_PAUSE_AT": when,
                                          "LAZYSERIES_PAUSE_FILE": os.fspath(marker)}
        job = dict(target=url, format="zarr", seed=NEW, overwrite=overwrite, sleep=0.02,
                   result=os.fspath(tmp_path / f"c{k}.result"), env=env,
                   pause_frame=_jobs.N // 2 if kind == "phase" else None,
                   options={"storage_options": options})
        jobs.append((url, before, job, when if kind == "delay" else None,
                     None if kind == "delay" else marker))
    killers = []
    for url, before, job, delay, marker in jobs:
        pid = zygote.start(**job)
        killer = threading.Thread(target=_kill_when, args=(pid, delay, marker))
        killer.start()
        killers.append(killer)
    for killer in killers:
        killer.join()
    seen = []
    for url, before, *_ in jobs:
        seen.append(_outcome(options, url, overwrite))
        after = _listing(options, url)
        if seen[-1] == "old":  # not yet published: every object of the old version untouched
            assert {k: v for k, v in after.items() if k in before} == before
        # the rerun finishes it: the same chunks as an uninterrupted write
        pipeline.write(_jobs.make_series(NEW, 0), url, storage_options=options, overwrite=True,
                       **_jobs.OPTIONS["zarr"])
        assert _chunk_bytes(options, url) == _chunk_bytes(options, reference)
        names = {p.rsplit("/", 1)[-1] for p in _fs(options).ls(url.removeprefix("s3://"),
                                                               refresh=True)}
        assert len(names) == 2  # the root and one version: nothing a killed write left
    assert len(jobs) >= 20  # 40 instants across new and overwrite, each finished by a rerun
    assert set(seen) >= ({"incomplete", "new"} if not overwrite else {"old", "new"})


@pytest.mark.parametrize("writers", [2, 4, 8])
def test_racing_writers_one_wins_whole(s3_server, zygote, tmp_path, writers):
    options = s3_server.options
    url = f"s3://{s3_server.bucket()}/race.zarr"
    pids = [zygote.start(target=url, format="zarr", seed=seed, sleep=0.02,
                         result=os.fspath(tmp_path / f"{seed}.result"),
                         options={"storage_options": options})
            for seed in range(1, writers + 1)]
    for pid in pids:
        _kill_when(pid, FINISH, None)
    results = [(tmp_path / f"{seed}.result").read_text() for seed in range(1, writers + 1)]
    winners = [seed for seed, r in zip(range(1, writers + 1), results) if r == "ok"]
    assert len(winners) == 1, results  # the others found it claimed, or written
    for r in results:
        assert r == "ok" or r.startswith(("TargetBusyError", "StoreExistsError")), r
    got = np.asarray(pipeline.open(url, storage_options=options))
    assert any(np.array_equal(got, _jobs.frames(seed)) for seed in winners)


def test_a_reader_during_a_replacement_sees_one_version_or_store_changed(s3, frames):
    root, options = s3
    url = f"{root}/r.zarr"
    pipeline.write(pipeline.from_array(frames), url, storage_options=options)
    reader = pipeline.open(url, storage_options=options)
    done = threading.Event()
    seen: list[str] = []

    def read():
        while not done.is_set():
            try:
                got = np.asarray(reader)
            except errors.StoreChangedError:
                seen.append("changed")
                return
            assert np.array_equal(got, frames), "a mix of versions"
            seen.append("old")

    thread = threading.Thread(target=read)
    thread.start()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for k in range(3):
            pipeline.write(pipeline.from_array(frames + k + 1), url, storage_options=options,
                           overwrite=True)
    done.set()
    thread.join(60)
    assert seen and set(seen) <= {"old", "changed"}
    fresh = pipeline.open(url, storage_options=options)
    np.testing.assert_array_equal(np.asarray(fresh), frames + 3)


def test_a_cluster_write_with_a_worker_killed_equals_a_local_write(s3, tmp_path):
    distributed = pytest.importorskip("distributed")
    import signal

    root, options = s3
    rng = np.random.default_rng(8)
    data = rng.integers(0, 4000, (120, 64, 64), dtype=np.uint16)

    def frame(j):
        time.sleep(0.02)
        return data[j]

    def series():
        return pipeline.from_function(frame, len(data), shape=data.shape[1:], dtype=data.dtype)

    local = pipeline.write(series(), tmp_path / "local.zarr", chunks=(1, 64, 64),
                           shards=(8, 64, 64))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=50) as cluster, \
            distributed.Client(cluster) as client:
        task = pipeline.write(series(), f"{root}/c.zarr", storage_options=options,
                              chunks=(1, 64, 64), shards=(8, 64, 64), compute=False)
        future = client.compute(task)
        time.sleep(1.0)
        assert not future.done()  # the kill lands mid-write
        victim = next(iter(client.run(os.getpid).values()))
        os.kill(victim, signal.SIGKILL)
        future.result(timeout=300)
    back = pipeline.open(f"{root}/c.zarr", storage_options=options)
    np.testing.assert_array_equal(np.asarray(back), np.asarray(local))
    fs = _fs(options)
    version = _root(options, f"{root}/c.zarr")["lazyseries"]["version"]
    base = f"{root.removeprefix('s3://')}/c.zarr/{version}/images/c"
    ours = {p[len(base):]: fs.cat(p) for p in fs.find(base)}
    theirs = {}
    for d, _, names in os.walk(tmp_path / "local.zarr" / "images" / "c"):
        for name in names:
            full = os.path.join(d, name)
            rel = os.path.relpath(full, tmp_path / "local.zarr" / "images" / "c")
            with open(full, "rb") as fh:
                theirs["/" + rel] = fh.read()
    assert ours == theirs

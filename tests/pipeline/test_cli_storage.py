"""The command line and pipeline files on an object store (moto's S3 server, on 127.0.0.1):
URLs and storage options for input and output, credentials from the environment, never
written into a store, and ``info`` naming the committed version."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import pipeline
from tests.pipeline.test_cli import cli

pytestmark = pytest.mark.slow

SECRET = "s3cr3t-4b9e-never-stored"


@pytest.fixture
def bucket(s3):
    """A bucket, and storage options reaching it with credentials that must never be stored
    (moto takes any)."""
    root, options = s3
    return root, {**options, "key": "AKIAKEEPOUT", "secret": SECRET}


@pytest.fixture
def raw(tmp_path):
    return pipeline.write(pipeline.synthetic(10, (24, 32)), tmp_path / "raw.zarr")


def _objects(options, url):
    import s3fs

    fs = s3fs.S3FileSystem(**options)
    fs.invalidate_cache()
    return {path: fs.cat(path) for path in fs.find(url.removeprefix("s3://"))}


def test_process_info_and_stats_on_a_bucket(bucket, raw, tmp_path):
    root, options = bucket
    url, given = f"{root}/out.zarr", ["--storage-options", json.dumps(options)]
    done = cli("process", "raw.zarr", url, "--op", "flip=v", "-q", *given, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = np.asarray(raw.process([("flip", "v")]))
    written = pipeline.open(url, storage_options=options)
    assert np.asarray(written).tobytes() == expected.tobytes()

    info = cli("info", url, "--json", *given, cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    first = json.loads(info.stdout)["version"]
    assert first == written.store_version and first.startswith("v1-")

    again = cli("process", "raw.zarr", url, "--op", "flip=h", "--overwrite", "-q", *given,
                cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    second = json.loads(cli("info", url, "--json", *given, cwd=tmp_path).stdout)["version"]
    assert second.startswith("v2-") and second != first
    text = cli("info", url, *given, cwd=tmp_path).stdout
    assert f"version:     {second}" in text

    mean = cli("stats", url, "--mean", "-o", "mean.npy", "-q", *given, cwd=tmp_path)
    assert mean.returncode == 0, mean.stderr
    np.testing.assert_allclose(np.load(tmp_path / "mean.npy"),
                               np.asarray(raw.process([("flip", "h")])).mean(axis=0))

    stored = _objects(options, url)
    assert stored and not any(SECRET.encode() in data or b"AKIAKEEPOUT" in data
                              for data in stored.values())


def test_credentials_and_endpoint_from_the_environment(bucket, raw, tmp_path, monkeypatch,
                                                       s3_server):
    root, options = bucket
    url = f"{root}/env.zarr"
    pipeline.write(raw, url, storage_options=options)
    env = {"AWS_ACCESS_KEY_ID": "AKIAKEEPOUT", "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_ENDPOINT_URL": s3_server.endpoint, "AWS_DEFAULT_REGION": "us-east-1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    info = cli("info", url, "--json", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["frames"] == 10
    copied = cli("process", url, "copy.zarr", "-q", cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    assert np.asarray(pipeline.open(tmp_path / "copy.zarr")).tobytes() == \
        np.asarray(raw).tobytes()


def test_a_pipeline_file_reads_and_writes_urls(bucket, raw, tmp_path):
    root, options = bucket
    source = f"{root}/src.zarr"
    pipeline.write(raw, source, storage_options=options)
    (tmp_path / "p.yaml").write_text(
        f"source: {source}\nops:\n  - {{name: dark, param: {{stat: min}}}}\n"
        f"output: {root}/run.zarr\n")
    done = cli("run", "p.yaml", "-q", "--storage-options", json.dumps(options), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = pipeline.open(f"{root}/run.zarr", storage_options=options)
    expected = raw.process([("dark", pipeline.stats.min(raw))])
    assert np.asarray(got).tobytes() == np.asarray(expected).tobytes()
    recorded = json.dumps(got.provenance, default=str)
    assert source in recorded and SECRET not in recorded

    # and a store's recorded pipeline runs again from the bucket
    rerun = cli("info", f"{root}/run.zarr", "--pipeline", "again.yaml", "-q",
                "--storage-options", json.dumps(options), cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert SECRET not in (tmp_path / "again.yaml").read_text()
    ran = cli("run", "again.yaml", "-q", "--storage-options", json.dumps(options), cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    again = pipeline.open(f"{root}/run.rerun.zarr", storage_options=options)
    assert np.asarray(again).tobytes() == np.asarray(expected).tobytes()


@pytest.mark.parametrize("value, message", [
    ("{not json", "is not JSON"),
    ("[1, 2]", "expected a JSON object"),
])
def test_bad_storage_options_are_refused_naming_them(tmp_path, value, message):
    done = cli("info", "s3://b/x.zarr", "--storage-options", value, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr and value in done.stderr


def test_storage_options_leave_local_paths_alone(raw, tmp_path):
    done = cli("info", "raw.zarr", "--storage-options", '{"anon": true}', cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "version" not in json.loads(
        cli("info", "raw.zarr", "--json", cwd=tmp_path).stdout)
    assert os.path.isdir(tmp_path / "raw.zarr")

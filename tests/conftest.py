"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import subprocess
import sys

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


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1, for the whole run; ended by its pid."""
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    from tests._servers import S3Server

    server = S3Server.start()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server):
    """``(url_root, storage_options)`` of a new, empty bucket of the test S3 server."""
    return f"s3://{s3_server.bucket()}", s3_server.options


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A one-node Slurm cluster on this machine for the whole run (pipeline.testing.slurm), found
    by Slurm's commands through ``SLURM_CONF``; its daemons ended by their pids afterwards.
    Skipped where Slurm cannot run, except under ``LAZYSERIES_REQUIRE_SLURM`` (CI), where the
    Slurm tests must run."""
    from pipeline.testing.slurm import Slurm, available

    why = available()
    if why is not None and os.environ.get("LAZYSERIES_REQUIRE_SLURM"):
        pytest.fail(f"LAZYSERIES_REQUIRE_SLURM is set (.ci/run) but {why}")
    if why is not None:
        pytest.skip(why)
    cluster = Slurm.start(str(tmp_path_factory.mktemp("slurm")))
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = cluster.conf
    try:
        yield cluster
    finally:
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before
        cluster.stop()


@pytest.fixture
def processes():
    """Starts ``python -c code args...`` processes (``start(code, *args, env=None)``, their
    output piped, ``env`` added to this one's); ends each still running by its pid."""
    started = []

    def start(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **(env or {})})
        started.append(proc)
        return proc

    yield start
    _end(started)


@pytest.fixture
def sender():
    """Starts replay senders of DECTRIS stream messages on 127.0.0.1 (``sender(*args)`` ->
    address; :mod:`pipeline.formats.live.replay`'s options); ends each by its pid."""
    from pipeline.formats.live import replay

    started = []

    def start(*args: str) -> str:
        proc, address = replay.launch(*args)
        started.append(proc)
        return address

    yield start
    _end(started)


def _end(started: list[subprocess.Popen]) -> None:
    """End each process still running by its pid, and collect every one."""
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)

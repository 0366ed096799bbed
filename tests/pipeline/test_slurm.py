"""On a real Slurm batch system (tests/_slurm.py): jobs through dask-jobqueue, as users run them.

Every test checks that its jobs are gone afterwards: nothing left queued or
running.  The command line runs in a subprocess with dask-jobqueue's own
config file (``jobqueue.yaml`` in ``DASK_CONFIG``) giving what a site would
(the network interface: only the loopback one here).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import pipeline

pytest.importorskip("dask_jobqueue")

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

SCRIPT = [sys.executable, "-m", "pipeline"]
JOBQUEUE_YAML = """\
jobqueue:
  slurm:
    interface: lo
    cores: 1
    memory: 1GB
    processes: 1
    death-timeout: 30
"""


@pytest.fixture
def site(slurm, tmp_path):
    """A working directory with dask-jobqueue's config for this cluster, and the environment a
    user there has; afterwards no job of the test may be left."""
    config = tmp_path / "dask-config"
    config.mkdir()
    (config / "jobqueue.yaml").write_text(JOBQUEUE_YAML)
    env = {**os.environ, "DASK_CONFIG": str(config), "SLURM_CONF": slurm.conf}
    yield tmp_path, env
    try:
        slurm.wait_jobs(lambda jobs: not jobs, 60, "the test's jobs to be gone")
    finally:
        slurm.cancel_all()


def cli(*args, cwd, env, timeout=240):
    return subprocess.run([*SCRIPT, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _stored_bytes(path):
    """Every file of a store by name, the root's record without the id of the write."""
    out = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, path)] = fh.read()
    doc = json.loads(out.pop("zarr.json"))
    doc["attributes"]["lazyseries"].pop("write_id")
    out["zarr.json"] = doc
    return out


@pytest.fixture
def raw(tmp_path):
    frames = np.random.default_rng(5).integers(0, 4000, (48, 64, 64), dtype=np.uint16)
    return pipeline.write(pipeline.from_array(frames), tmp_path / "raw.zarr",
                          chunks=(4, 64, 64), shards=None)


def test_process_on_slurm_jobs_matches_a_local_write(site, raw, slurm):
    cwd, env = site
    ops = ["--op", "dark=median:8", "--op", "flip=v"]
    local = cli("process", "raw.zarr", "local.zarr", *ops, "-q", cwd=cwd, env=env)
    assert local.returncode == 0, local.stderr
    out = cli("process", "raw.zarr", "out.zarr", *ops, "--cluster", "slurm", "--jobs", "2",
              cwd=cwd, env=env)
    assert out.returncode == 0, out.stderr
    assert "dask cluster on slurm" in out.stderr and "wrote 48 frames" in out.stdout
    assert _stored_bytes(cwd / "out.zarr") == _stored_bytes(cwd / "local.zarr")


def test_job_script_is_what_dask_jobqueue_submits(site, raw):
    cwd, env = site
    out = cli("process", "raw.zarr", "o.zarr", "--cluster", "slurm", "--cores", "2",
              "--memory", "3GB", "--walltime", "01:00:00", "--queue", "debug",
              "--cluster-option", "job_extra_directives=['--qos=low']", "--job-script",
              cwd=cwd, env=env)
    assert out.returncode == 0, out.stderr
    script = out.stdout
    for line in ("#SBATCH -p debug", "#SBATCH --cpus-per-task=2", "#SBATCH --mem=3G",
                 "#SBATCH -t 01:00:00", "#SBATCH --qos=low"):
        assert line in script
    assert "--lifetime 3300s --lifetime-stagger 240s" in script  # retire before the walltime
    assert "--interface lo" in script  # from jobqueue.yaml
    assert not (cwd / "o.zarr").exists()

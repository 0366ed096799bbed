"""On a real Slurm batch system (pipeline.testing.slurm): jobs through dask-jobqueue, as users
run them.

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
import threading
import time

import numpy as np
import pytest

import ops
import pipeline
from pipeline import errors, runner
from pipeline.clusters import ClusterSpec
from tests._files import tree

pytest.importorskip("dask_jobqueue")
distributed = pytest.importorskip("distributed")

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
    scheduler-options: {dashboard_address: "127.0.0.1:0"}
"""


@pytest.fixture(autouse=True)
def job_output(tmp_path, monkeypatch):
    """The jobs' output goes to the user's cache directory (here a temporary one), never into
    the working directory: afterwards, no ``slurm-<job>.out`` there, and none left behind by a
    run that succeeded."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    here = set(os.listdir())
    yield cache / "lazyseries" / "jobs"
    assert not [n for n in set(os.listdir()) - here if n.startswith("slurm-")]


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
    """Every file of a store by name, the root's record without the id of the write (stores
    compared have the same file name: the image's name is the target's)."""
    out = tree(path)
    doc = json.loads(out.pop("zarr.json"))
    doc["attributes"]["lazyseries"].pop("write_id")
    out["zarr.json"] = doc
    return out


@pytest.fixture
def raw(tmp_path):
    frames = np.random.default_rng(5).integers(0, 4000, (48, 64, 64), dtype=np.uint16)
    return pipeline.write(pipeline.from_array(frames), tmp_path / "raw.zarr",
                          chunks=(4, 64, 64), shards=None)


def test_process_on_slurm_jobs_matches_a_local_write(site, raw, slurm, job_output):
    cwd, env = site
    ops = ["--op", "dark=median:8", "--op", "flip=v"]
    local = cli("process", "raw.zarr", "local/out.zarr", *ops, "-q", cwd=cwd, env=env)
    assert local.returncode == 0, local.stderr
    out = cli("process", "raw.zarr", "out.zarr", *ops, "--cluster", "slurm", "--jobs", "2",
              cwd=cwd, env=env)
    assert out.returncode == 0, out.stderr
    assert "dask cluster on slurm" in out.stderr and "wrote 48 frames" in out.stdout
    assert _stored_bytes(cwd / "out.zarr") == _stored_bytes(cwd / "local" / "out.zarr")
    assert sorted(os.listdir(cwd)) == ["cache", "dask-config", "local", "out.zarr",
                                       "raw.zarr"]  # no slurm-<job>.out
    assert os.listdir(job_output) == []  # the jobs' output, removed after a run that succeeded


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
    assert f"#SBATCH -o {cwd}/cache/lazyseries/jobs/dask-worker-%J.out" in script
    logs = cli("process", "raw.zarr", "o.zarr", "--cluster", "slurm", "--job-script",
               "--cluster-option", f"log_directory={cwd}/logs", cwd=cwd, env=env)
    assert f"#SBATCH -e {cwd}/logs/dask-worker-%J.err" in logs.stdout  # where the user says
    assert not (cwd / "o.zarr").exists()


# -- long series ----------------------------------------------------------------------------


def _ramp_frame(j):
    return np.full((64, 64), j % 4000, np.uint16)


def test_a_long_series_keeps_the_tasks_the_scheduler_holds_bounded(slurm, tmp_path,
                                                                    monkeypatch):
    """benchmarks/scaling.py writes 10^6 frames; here 40,960 (40 write tasks) with batches of 4
    tasks: the scheduler holds two batches at most, not the whole write."""
    from pipeline.persist import stores
    from pipeline.testing.cluster import tasks_held

    monkeypatch.setattr(stores, "BATCH", 4)
    nframes = 40_960
    series = pipeline.from_function(_ramp_frame, nframes, (64, 64), np.uint16).process(
        [("flip", "v")])
    with runner.scheduler(cluster=_spec(jobs=1, timeout=60)) as client, \
            tasks_held(client) as held:
        written = pipeline.write(series, tmp_path / "long.zarr")
    # two batches of write tasks, each a block computed and then stored, and a few others
    assert held.most <= 4 * stores.BATCH + 16 < held.seen, held
    assert len(written) == nframes
    for j in (0, 1, 4095, 4096, nframes - 1):
        np.testing.assert_array_equal(written[j], _ramp_frame(j)[:, ::-1])


# -- jobs that die ---------------------------------------------------------------------------


@pytest.fixture
def slow_on_workers():
    """An op that sleeps ``param`` seconds per frame on a dask worker (and not here, so that
    the local reference is quick): the write lasts long enough to lose jobs under it."""

    @ops.register("slow_on_workers")
    def slow(block, seconds):
        try:
            distributed.get_worker()
            time.sleep(seconds * len(block))
        except ValueError:
            pass
        return block

    return slow


def _big(tmp_path, nframes):
    """2 MiB frames: each write task holds 4 of them (pipeline.graph's 8 MiB), so many tasks."""
    frames = np.random.default_rng(7).integers(0, 4000, (nframes, 1024, 1024), dtype=np.uint16)
    return pipeline.write(pipeline.from_array(frames), tmp_path / "big.zarr",
                          chunks=(4, 1024, 1024), shards=None)


def _spec(**kw):
    options = {"cores": 1, "memory": "1GB", "processes": 1, "interface": "lo",
               "scheduler_options": {"dashboard_address": "127.0.0.1:0"},
               **kw.pop("options", {})}
    return ClusterSpec("slurm", options=options, **kw)


def _history(slurm):
    """Every job the cluster remembers (MinJobAge=600 s): id -> state."""
    out = slurm.run("squeue", "--noheader", "--states=all", "--format=%i %T")
    return dict(line.split() for line in out.splitlines() if line.strip())


def test_a_cancelled_worker_job_is_replaced_and_the_store_completes(
        slurm, tmp_path, slow_on_workers):
    import dask

    series = _big(tmp_path, 48).process([("slow_on_workers", 0.25), ("flip", "v")])
    local = pipeline.write(series, tmp_path / "local" / "out.zarr")
    before = set(_history(slurm))
    out = tmp_path / "out.zarr"
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "1s"}), \
            runner.scheduler(cluster=_spec(jobs=2, timeout=60)) as client:
        done = threading.Event()
        writer = threading.Thread(target=lambda: (pipeline.write(series, out), done.set()))
        writer.start()
        chunks = out / "0" / "c"
        deadline = time.monotonic() + 60
        while not (chunks.exists() and len(list(chunks.iterdir())) >= 2):
            assert time.monotonic() < deadline and writer.is_alive()
            time.sleep(0.05)
        mine = sorted(set(_history(slurm)) - before, key=int)
        slurm.run("scancel", mine[0])  # one of the two worker jobs, mid-write
        writer.join(120)
        assert done.is_set(), "the write did not finish"
        assert len(client.scheduler_info()["workers"]) >= 1
    jobs = {k: v for k, v in _history(slurm).items() if k not in before}
    assert jobs[mine[0]] == "CANCELLED"
    assert len(jobs) == 3, jobs  # the cancelled one was replaced, once
    assert _stored_bytes(out) == _stored_bytes(tmp_path / "local" / "out.zarr")
    np.testing.assert_array_equal(np.asarray(pipeline.open(out)), np.asarray(local))


def test_workers_retire_before_their_walltime_and_new_jobs_finish(
        slurm, tmp_path, slow_on_workers):
    import dask

    series = _big(tmp_path, 128).process([("slow_on_workers", 1.0)])
    before = set(_history(slurm))
    start = time.monotonic()
    spec = _spec(jobs=2, timeout=120, options={"walltime": "00:01:00"})
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "2s"}), \
            runner.scheduler(cluster=spec):
        written = pipeline.write(series, tmp_path / "out.zarr")
    took = time.monotonic() - start
    jobs = {k: v for k, v in _history(slurm).items() if k not in before}
    assert took > 60 and len(jobs) >= 3, (took, jobs)  # first jobs retired, others finished
    assert "TIMEOUT" not in jobs.values()  # retired in time: nothing killed at its walltime
    np.testing.assert_array_equal(np.asarray(written), np.asarray(pipeline.open(
        tmp_path / "big.zarr")))


def test_jobs_pending_forever_end_the_run_with_a_clear_error(site, raw, slurm, job_output):
    cwd, env = site
    start = time.monotonic()
    out = cli("process", "raw.zarr", "out.zarr", "--op", "flip=v", "--cluster", "slurm",
              "--jobs", "2", "--cluster-option", "job_extra_directives=['--begin=now+1day']",
              "--cluster-timeout", "10", cwd=cwd, env=env)
    assert time.monotonic() - start < 60
    assert out.returncode == 75, out.stderr
    where, error = out.stderr.splitlines()  # where the work was to run, then the error
    assert where.startswith("dask cluster on slurm: tcp://127.0.0.1:")
    assert error.startswith("lazyseries: error: no worker joined within 10 s")
    assert "PENDING (BeginTime)" in error and "run the same command again" in error
    assert error.endswith(f"the jobs' output is in {job_output}")
    assert not (cwd / "out.zarr").exists()  # nothing was written: the work never began
    slurm.wait_jobs(lambda jobs: not jobs, 30, "the pending jobs to be cancelled")


def test_a_cancelled_run_resumes_without_recomputing_what_it_wrote(site, slurm):
    cwd, env = site
    frames = np.random.default_rng(3).integers(0, 4000, (128, 512, 512), dtype=np.uint16)
    pipeline.write(pipeline.from_array(frames), cwd / "raw.zarr", chunks=(1, 512, 512),
                   shards=None)
    args = ["process", "raw.zarr", "out.zarr", "--op", "gauss_laplace=6", "--cluster", "slurm",
            "--jobs", "1", "-q"]
    proc = subprocess.Popen([*SCRIPT, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    chunks = cwd / "out.zarr" / "0" / "c"
    deadline = time.monotonic() + 120
    while not (chunks.exists() and len(list(chunks.iterdir())) >= 32):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)  # as scancel of a job running the command sends
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err == "lazyseries: terminated\n", err
    slurm.wait_jobs(lambda jobs: not jobs, 30, "the run's jobs to be cancelled")
    with pytest.raises(errors.IncompleteStoreError):
        pipeline.open(cwd / "out.zarr")
    kept = {p.name: p.stat().st_ino for p in chunks.iterdir()}
    assert 32 <= len(kept) < 128
    again = cli(*args, cwd=cwd, env=env)
    assert again.returncode == 0, again.stderr
    now = {p.name: p.stat().st_ino for p in chunks.iterdir()}
    assert len(now) == 128
    rewritten = [name for name, inode in kept.items() if now[name] != inode]
    assert rewritten == []  # committed chunks were not computed again
    local = cli("process", "raw.zarr", "local/out.zarr", "--op", "gauss_laplace=6", "-q",
                cwd=cwd, env=env)
    assert local.returncode == 0, local.stderr
    assert _stored_bytes(cwd / "out.zarr") == _stored_bytes(cwd / "local" / "out.zarr")

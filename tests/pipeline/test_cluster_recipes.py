"""The batch-cluster recipes of notebooks/howto/clusters.md, as written there: the job scripts
they make (Slurm and PBS through dask-jobqueue, on any machine), and dask-mpi's batch script
checked by a real Slurm (pipeline.testing.slurm) and its scheduler file by a real scheduler."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import time

import numpy as np
import pytest

import pipeline

pytest.importorskip("dask_jobqueue")

PAGE = pathlib.Path(__file__).parents[2] / "notebooks" / "howto" / "clusters.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def _blocks(lang):
    return [body for kind, body in BLOCK.findall(PAGE.read_text()) if kind == lang]


def _command(needle):
    """The page's ``$ lazyseries ...`` line holding ``needle``, as arguments."""
    lines = [line[2:] for body in _blocks("console") for line in body.splitlines()
             if line.startswith("$ ") and needle in line]
    assert len(lines) == 1, lines
    args = shlex.split(lines[0])
    assert args[0] == "lazyseries"
    return args[1:]


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A working directory with the page's data, and a cache directory of its own."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    pipeline.write(pipeline.synthetic(64, (128, 128)), cwd / "scan.zarr")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return cwd, env


def cli(args, cwd, env):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _script(args, cwd, env):
    out = cli(args, cwd, env)
    assert out.returncode == 0, out.stderr
    assert "-m distributed.cli.dask_worker tcp://" in out.stdout
    assert sorted(os.listdir(cwd)) == ["scan.zarr"]  # nothing submitted, nothing written
    return out.stdout


def test_the_slurm_recipe_builds_its_job_script(here):
    cwd, env = here
    args = _command("--cluster slurm --jobs 4 --cores 8 --memory 16GB --walltime 02:00:00 "
                    "--job-script")
    script = _script(args, cwd, env)
    logs = f"{env['XDG_CACHE_HOME']}/lazyseries/jobs"
    for line in ("#SBATCH --cpus-per-task=8", "#SBATCH --mem=15G", "#SBATCH -t 02:00:00",
                 f"#SBATCH -o {logs}/dask-worker-%J.out"):
        assert line in script
    assert "--lifetime 6600s" in script  # retire at 11/12 of the walltime


def test_the_pipeline_files_cluster_section_builds_its_job_script(here):
    cwd, env = here
    (yaml_text,) = [body for body in _blocks("python") if "dark.yaml" in body]
    exec(yaml_text.replace('"dark.yaml"', repr(str(cwd / "dark.yaml"))), {})
    out = cli(_command("run dark.yaml"), cwd, env)
    assert out.returncode == 0, out.stderr
    script = out.stdout
    for line in ("#SBATCH --cpus-per-task=8", "#SBATCH -t 02:00:00", "#SBATCH --qos=normal"):
        assert line in script
    assert sorted(os.listdir(cwd)) == ["dark.yaml", "scan.zarr"]


def test_the_pbs_recipe_builds_its_job_script(here):
    cwd, env = here
    script = _script(_command("--cluster pbs"), cwd, env)
    logs = f"{env['XDG_CACHE_HOME']}/lazyseries/jobs"
    for line in ("#PBS -q workq", "#PBS -l select=1:ncpus=8:mem=", "#PBS -l walltime=02:00:00",
                 f"#PBS -o {logs}/"):
        assert line in script


def _mpi_script():
    (script,) = [body for body in _blocks("bash") if "dask-mpi" in body]
    return script


def test_the_dask_mpi_script_is_valid_shell_that_waits_boundedly():
    script = _mpi_script()
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    assert "--scheduler \"$scheduler\"" in script and "for _ in $(seq 300)" in script


@pytest.mark.slow
@pytest.mark.slurm
def test_slurm_accepts_the_dask_mpi_script(slurm, tmp_path):
    path = tmp_path / "lazyseries-mpi.sh"
    path.write_text(_mpi_script())
    # its directives as written, the size cut to this one small node
    out = subprocess.run(["sbatch", "--test-only", "--ntasks=2", "--mem-per-cpu=64M",
                          f"--chdir={tmp_path}", str(path)], capture_output=True, text=True,
                         timeout=30, check=False)
    assert out.returncode == 0 and "to start at" in out.stderr, out.stderr
    assert slurm.jobs() == {}  # tested, not submitted


@pytest.mark.slow
def test_a_scheduler_file_as_dask_mpi_writes_it(here, tmp_path):
    """dask-mpi's rank 0 is a dask scheduler writing ``--scheduler-file``, its other ranks
    workers reading it: the same file from ``dask scheduler`` and ``dask worker``."""
    pytest.importorskip("distributed")
    cwd, env = here
    path = tmp_path / "scheduler.json"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file", str(path),
         "--host", "127.0.0.1", "--port", "0", "--dashboard-address", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)]
    try:
        deadline = time.monotonic() + 60
        while not (path.exists() and path.stat().st_size):
            assert time.monotonic() < deadline and procs[0].poll() is None
            time.sleep(0.1)
        assert json.loads(path.read_text())["address"].startswith("tcp://127.0.0.1:")
        # as in the recipe, the command starts as soon as the file is there: before any worker
        run = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "process", "scan.zarr", "dark.zarr", "--op",
             "dark=median:16", "-q", "--scheduler", str(path)],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(run)
        time.sleep(2)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(path),
             "--nthreads", "1", "--no-dashboard", "--local-directory", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path))
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        local = cli(["process", "scan.zarr", "local.zarr", "--op", "dark=median:16", "-q"],
                    cwd, env)
        assert local.returncode == 0, local.stderr
        np.testing.assert_array_equal(np.asarray(pipeline.open(cwd / "dark.zarr")),
                                      np.asarray(pipeline.open(cwd / "local.zarr")))
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

"""A real Slurm batch system on this machine, for tests and benchmarks: munged, slurmctld, slurmd.

:meth:`Slurm.start` writes a minimal ``slurm.conf`` (one node, ``localhost``,
with this machine's CPUs and memory; its state, spool and logs in a temporary
directory; its ports chosen free on 127.0.0.1), creates a munge key, starts the
three daemons as background processes and waits until ``sinfo`` shows the node
idle.  :meth:`Slurm.stop` cancels every job still queued, waits for them to
end, and then ends exactly the processes it started, by pid.

Slurm's commands find this cluster through ``SLURM_CONF`` (:attr:`Slurm.env`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.errors import BatchSystemError

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "mungekey")


def available() -> str | None:
    """Why Slurm cannot run here, or None when it can."""
    missing = [name for name in DAEMONS if shutil.which(name) is None and
               not os.path.exists(f"/usr/sbin/{name}")]
    if missing:
        return f"Slurm's programs are not installed ({', '.join(missing)}): apt-get install " \
               "slurmctld slurmd slurm-client munge"
    if os.geteuid() != 0:
        return "slurmd launches jobs as root here: run the Slurm tests as root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _program(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _memory_mb() -> int:
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024 - 512
    return 1024  # pragma: no cover


CONF = """\
ClusterName=lazyseries-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.sock
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=600
KillWait=5
Waittime=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class Slurm:
    """A running one-node Slurm cluster and the processes that make it."""

    root: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def conf(self) -> str:
        return os.path.join(self.root, "slurm.conf")

    @property
    def env(self) -> dict[str, str]:
        """The environment Slurm's commands (and dask-jobqueue calling them) need."""
        return {**os.environ, "SLURM_CONF": self.conf}

    @classmethod
    def start(cls, root: str, timeout: float = 60) -> Slurm:
        """Configure and start the cluster in the (empty) directory ``root``."""
        for sub in ("munge", "state", "spool", "log"):
            os.makedirs(os.path.join(root, sub), mode=0o700, exist_ok=True)
        os.chmod(root, 0o755)  # munged refuses a key or socket in a directory others write
        with open(os.path.join(root, "slurm.conf"), "w", encoding="ascii") as fh:
            fh.write(CONF.format(root=root, ctld_port=_free_port(), slurmd_port=_free_port(),
                                 cpus=os.cpu_count() or 1, memory=_memory_mb()))
        key = os.path.join(root, "munge", "munge.key")
        subprocess.run([_program("mungekey"), "--create", "--bits=1024", f"--keyfile={key}"],
                       check=True, capture_output=True, timeout=30)
        slurm = cls(root)
        try:
            slurm._spawn("munged", [
                _program("munged"), "--foreground", "--force", f"--key-file={key}",
                f"--socket={root}/munge/munge.sock", f"--pid-file={root}/munge/munged.pid",
                f"--seed-file={root}/munge/seed", f"--log-file={root}/log/munged.log"])
            slurm._wait(lambda: os.path.exists(f"{root}/munge/munge.sock"), timeout, "munged")
            slurm._spawn("slurmctld", [_program("slurmctld"), "-D", "-f", slurm.conf])
            slurm._spawn("slurmd", [_program("slurmd"), "-D", "-f", slurm.conf, "-N",
                                    "localhost"])
            slurm._wait(lambda: slurm.node_state() == "idle", timeout, "the node to be idle")
        except BaseException:
            slurm.stop()
            raise
        return slurm

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(os.path.join(self.root, "log", f"{name}.out"), "wb")  # noqa: SIM115
        try:
            self.procs[name] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, env=self.env)
        finally:
            log.close()

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise BatchSystemError(
                    f"Slurm's {dead[0]} exited while starting; see {self.root}/log")
            if ready():
                return
            time.sleep(0.2)
        raise BatchSystemError(f"Slurm: waited {timeout:g} s for {what}; see {self.root}/log")

    def run(self, *args: str, timeout: float = 30) -> str:
        """A Slurm command's output (``sinfo``, ``squeue``, ``scancel`` ...)."""
        done = subprocess.run(list(args), capture_output=True, text=True, env=self.env,
                              timeout=timeout)
        if done.returncode:
            raise BatchSystemError(f"{' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def node_state(self) -> str:
        try:
            return self.run("sinfo", "--noheader", "--format=%T", timeout=10).strip()
        except (BatchSystemError, subprocess.TimeoutExpired):
            return ""

    def jobs(self) -> dict[str, str]:
        """Queued and running jobs: id -> state (``PENDING``, ``RUNNING`` ...)."""
        out = self.run("squeue", "--noheader", "--format=%i %T")
        return dict(line.split() for line in out.splitlines() if line.strip())

    def wait_jobs(self, done: Callable[[dict[str, str]], bool], timeout: float,
                  what: str = "the jobs") -> dict[str, str]:
        """Poll :meth:`jobs` until ``done(jobs)`` holds; raise after ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while True:
            jobs = self.jobs()
            if done(jobs):
                return jobs
            if time.monotonic() > end:
                raise BatchSystemError(f"waited {timeout:g} s for {what}; queue: {jobs}")
            time.sleep(0.3)

    def cancel_all(self, timeout: float = 60) -> None:
        """Cancel every queued job and wait until the queue is empty."""
        if self.jobs():
            self.run("scancel", "--user", "root")
            self.wait_jobs(lambda jobs: not jobs, timeout, "the cancelled jobs to end")

    def stop(self) -> None:
        """Cancel the jobs, then end the daemons this object started, by their pids."""
        try:
            if "slurmd" in self.procs and self.procs["slurmd"].poll() is None:
                self.cancel_all()
        finally:
            for name in ("slurmd", "slurmctld", "munged"):
                proc = self.procs.get(name)
                if proc is None or proc.poll() is not None:
                    continue
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=15)

"""Batch clusters through dask-jobqueue: Slurm, PBS, SGE, LSF, ... as dask users reach them.

A :class:`ClusterSpec` says which batch system, how many jobs (fixed, or
adaptive between two bounds), how long to wait for workers, and the job's
resources as dask-jobqueue's own keywords (``cores``, ``memory``,
``walltime``, ``queue``, ``account``, ``job_extra_directives`` ...).  What it
leaves out comes from dask-jobqueue's configuration (``jobqueue.yaml``,
``jobqueue.slurm.cores`` and so on), as it does for every dask-jobqueue user.

:func:`start` submits the jobs and follows them while the work runs
(:class:`Watch`):

- no worker within ``timeout`` seconds of submission (jobs pending for good,
  jobs failing at start), or none for ``timeout`` seconds during the run (all
  jobs cancelled or past their walltime): :class:`~pipeline.errors.WorkersLostError`,
  naming the jobs and their states, every job cancelled; a store being
  written is kept, and the same command run again finishes it;
- a job that ends (cancelled, its walltime reached) is replaced, at most
  :data:`REPLACEMENTS` times the number of jobs per :data:`STORM_WINDOW`
  seconds, so a job that fails at once does not turn into a storm of them;
- with a walltime, each worker retires on its own shortly before it (dask's
  ``--lifetime``), handing its work over, as dask-jobqueue advises.

The jobs' output (their stdout and stderr) goes where the user says
(dask-jobqueue's ``log_directory``, an option or ``jobqueue.<kind>.log-directory``),
else to :func:`job_output_directory`, in the user's cache directory (on a batch
cluster, home is where every node can write): never into the working directory,
where Slurm would put its ``slurm-<job>.out`` files.  Output lazyseries chose
the place of is removed after a run that succeeds, and kept, and named in the
error, after one that fails.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ops import require
from pipeline import _progress
from pipeline.errors import ClusterOptionError, WorkersLostError

KINDS: dict[str, str] = {
    "slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster",
    "oar": "OARCluster", "htcondor": "HTCondorCluster", "moab": "MoabCluster",
}
"""Batch systems by name, each with its dask-jobqueue cluster class."""

OWN_KEYS = ("kind", "jobs", "adapt", "timeout")
"""Keys of a cluster section that are lazyseries' own; every other is dask-jobqueue's."""

DEFAULT_TIMEOUT = 900.0
"""Seconds to wait for a first worker, and seconds a run may go without any."""

REPLACEMENTS = 2
STORM_WINDOW = 300.0
"""At most ``REPLACEMENTS`` x jobs replacement jobs are submitted per ``STORM_WINDOW`` s."""

POLL = 0.5


@dataclass(frozen=True)
class ClusterSpec:
    """A batch cluster to run on: its kind, its jobs, and their resources.

    Attributes
    ----------
    kind
        A name of :data:`KINDS`.
    jobs
        A fixed number of jobs (replaced when they end), or None with ``adapt``.
    adapt
        ``(minimum, maximum)`` jobs, scaled by dask's adaptive scaling.
    options
        dask-jobqueue keywords of the cluster class (``cores``, ``memory``, ...).
    timeout
        Seconds to wait for a first worker, and seconds without any worker
        before the run ends with :class:`~pipeline.errors.WorkersLostError`.
    """

    kind: str
    jobs: int | None = 1
    adapt: tuple[int, int] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        where = f"cluster {self.kind!r}"
        if self.kind not in KINDS:
            raise ClusterOptionError(f"unknown cluster kind {self.kind!r}; known: "
                                     f"{sorted(KINDS)} (through dask-jobqueue)")
        if (self.jobs is None) == (self.adapt is None):
            raise ClusterOptionError(f"{where}: give either jobs (a number of jobs) or adapt "
                                     "(minimum and maximum jobs), not both")
        if self.jobs is not None and (not _count(self.jobs) or self.jobs < 1):
            raise ClusterOptionError(f"{where}: jobs {self.jobs!r}: expected a whole number "
                                     ">= 1")
        if self.adapt is not None and not _bounds(self.adapt):
            raise ClusterOptionError(f"{where}: adapt {self.adapt!r}: expected [minimum, "
                                     "maximum] jobs, 0 <= minimum <= maximum, maximum >= 1")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, int | float) or \
                not self.timeout > 0:
            raise ClusterOptionError(f"{where}: timeout {self.timeout!r}: expected seconds > 0")
        unknown = sorted(set(self.options) - known_options(self.kind))
        if unknown:
            raise ClusterOptionError(
                f"{where}: unknown option(s) {unknown}; dask-jobqueue's {KINDS[self.kind]} "
                f"takes {sorted(known_options(self.kind))}")

    @property
    def most_jobs(self) -> int:
        return self.jobs if self.jobs is not None else self.adapt[1]  # type: ignore[index]


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bounds(value: Any) -> bool:
    if not isinstance(value, tuple | list) or len(value) != 2 or \
            not (_count(value[0]) and _count(value[1])):
        return False
    return bool(0 <= value[0] <= value[1] and value[1] >= 1)


def parse(section: Any, where: str = "cluster") -> ClusterSpec:
    """A pipeline file's ``cluster:`` section as a :class:`ClusterSpec`.

    ``kind`` (default ``slurm``), ``jobs`` or ``adapt: [minimum, maximum]``,
    ``timeout``; every other key is a dask-jobqueue keyword.
    """
    if isinstance(section, str):
        section = {"kind": section}
    if not isinstance(section, Mapping):
        raise ClusterOptionError(f"{where}: expected a mapping (kind: slurm, jobs: 2, cores: 8, "
                                 f"memory: 16GB, ...), got {section!r:.80}")
    own = {k: section[k] for k in OWN_KEYS if k in section}
    adapt = own.get("adapt")
    try:
        return ClusterSpec(
            kind=own.get("kind", "slurm"),
            jobs=own.get("jobs", 1 if adapt is None else None),
            adapt=tuple(adapt) if isinstance(adapt, list | tuple) else adapt,
            options={k: v for k, v in section.items() if k not in OWN_KEYS},
            timeout=own.get("timeout", DEFAULT_TIMEOUT))
    except ClusterOptionError as err:
        raise ClusterOptionError(f"{where}: {err}") from None


def _jobqueue() -> Any:
    return require("dask_jobqueue", "slurm", "running on a batch cluster (Slurm, PBS, ...)")


def known_options(kind: str) -> set[str]:
    """The keywords dask-jobqueue's cluster class for ``kind`` takes."""
    jobqueue = _jobqueue()
    cluster = getattr(jobqueue, KINDS[kind])
    names: set[str] = set()
    for func in (jobqueue.JobQueueCluster.__init__, jobqueue.core.Job.__init__,
                 cluster.job_cls.__init__):
        names.update(p.name for p in inspect.signature(func).parameters.values()
                     if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD)
    return names - {"self", "scheduler", "name", "job_cls", "loop", "asynchronous", "n_workers",
                    "config_name"}


def walltime_seconds(text: Any) -> float | None:
    """Slurm's and PBS's walltime forms (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``) in
    seconds; None for none or a form not known."""
    if text is None:
        return None
    days, _, rest = str(text).rpartition("-")
    try:
        parts = [int(p) for p in rest.split(":")]
        day = int(days) if days else 0
    except ValueError:
        return None
    if days:
        parts = (parts + [0, 0])[:3]
        return day * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]
    scale = {1: (60,), 2: (60, 1), 3: (3600, 60, 1)}.get(len(parts))
    return None if scale is None else float(sum(p * s for p, s in zip(parts, scale)))


def job_output_directory() -> str:
    """Where the jobs' output goes unless the user says: ``lazyseries/jobs`` in the user's cache
    directory (``$XDG_CACHE_HOME``, else ``~/.cache``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "lazyseries", "jobs")


def _given_output(spec: ClusterSpec) -> str | None:
    """The ``log_directory`` the user gives: an option, or dask-jobqueue's config."""
    import dask

    return spec.options.get("log_directory") or dask.config.get(
        f"jobqueue.{spec.kind}.log-directory", None)


def _own_output(spec: ClusterSpec) -> str | None:
    """:func:`job_output_directory` where the user gives no ``log_directory``; else None."""
    return None if _given_output(spec) else job_output_directory()


def _keywords(spec: ClusterSpec) -> dict[str, Any]:
    """The cluster class's keywords: the spec's options, the jobs' output directory, and a
    worker lifetime shortly before the walltime (unless the options give one)."""
    import dask

    kw = dict(spec.options)
    kw.setdefault("silence_logs", "error")
    own = _own_output(spec)
    if own is not None:
        kw["log_directory"] = own
    walltime = walltime_seconds(kw.get("walltime", dask.config.get(
        f"jobqueue.{spec.kind}.walltime", None)))
    extra = list(kw.get("worker_extra_args") or dask.config.get(
        f"jobqueue.{spec.kind}.worker-extra-args", None) or [])
    if walltime and not any(str(a).startswith("--lifetime") for a in extra):
        extra += ["--lifetime", f"{walltime * 11 / 12:.0f}s", "--lifetime-stagger",
                  f"{walltime / 15:.0f}s"]
        kw["worker_extra_args"] = extra
    return kw


def make(spec: ClusterSpec, submit: bool = True) -> Any:
    """dask-jobqueue's cluster for ``spec``, its scheduler started, no job submitted yet;
    ``submit``: jobs will be, so the batch system's submit command must be on PATH."""
    jobqueue = _jobqueue()
    cls = getattr(jobqueue, KINDS[spec.kind])
    command = cls.job_cls.submit_command.split()[0]
    if submit and shutil.which(command) is None:
        raise ClusterOptionError(
            f"cluster {spec.kind!r}: its submit command {command!r} is not on PATH; run where "
            f"the batch system's commands are (a login node), or use --scheduler/--workers")
    try:
        return cls(**_keywords(spec))
    except (ValueError, TypeError) as err:
        text = " ".join(str(err).split())
        raise ClusterOptionError(
            f"cluster {spec.kind!r}: {text} (give job resources as options, e.g. --cores 8 "
            f"--memory 16GB, or in dask-jobqueue's config: jobqueue.{spec.kind}.cores)") from err


def job_script(spec: ClusterSpec) -> str:
    """The batch script each job of ``spec`` runs, as dask-jobqueue writes it (on any machine:
    nothing is submitted)."""
    with contextlib.closing(make(spec, submit=False)) as cluster:
        return str(cluster.job_script())


# -- running -----------------------------------------------------------------------------------


_ACTIVE: list[Watch] = []
"""Clusters running in this process, so that an interrupted run cancels their jobs."""


def cancel_all() -> None:
    """Cancel every job of the running clusters now (Ctrl-C, SIGTERM): nothing left queued."""
    for watch in list(_ACTIVE):
        watch.cancel()


@contextlib.contextmanager
def start(spec: ClusterSpec, quiet: bool = True) -> Iterator[Any]:
    """Submit ``spec``'s jobs; yield a distributed client once a worker has joined.

    Raises :class:`~pipeline.errors.WorkersLostError` when no worker joins
    within ``spec.timeout``; while the run goes on, :class:`Watch` follows it.
    """
    distributed = require("distributed", "distributed", "running on a dask cluster")
    cluster = make(spec)
    watch = Watch(spec, cluster)
    _ACTIVE.append(watch)
    try:
        with cluster, distributed.Client(cluster) as client:
            if spec.adapt is not None:
                cluster.adapt(minimum_jobs=spec.adapt[0], maximum_jobs=spec.adapt[1])
            else:
                cluster.scale(jobs=spec.jobs)
            if not quiet:
                print(f"dask cluster on {spec.kind}: {cluster.scheduler_address} "
                      f"(dashboard {client.dashboard_link})", file=sys.stderr)
            watch.wait_first()
            with watch.running(client):
                yield client
    finally:
        watch.stop()
        _ACTIVE.remove(watch)
    watch.remove_output()  # reached only when the run succeeded


class Watch:
    """Follows a batch cluster's jobs and workers: waits for the first, replaces those lost,
    and ends the run with :class:`~pipeline.errors.WorkersLostError` when there are none."""

    def __init__(self, spec: ClusterSpec, cluster: Any) -> None:
        self.spec, self.cluster = spec, cluster
        self.job_ids: dict[str, str] = {}  # worker name -> job id, every job submitted
        self.submitted: list[float] = []
        self.error: WorkersLostError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the cluster is doing ---------------------------------------------------------

    def _workers(self) -> int:
        return len(self.cluster.scheduler_info.get("workers", {}))

    def _note_jobs(self) -> None:
        for name, job in list(self.cluster.workers.items()):
            job_id = getattr(job, "job_id", None)
            if job_id and name not in self.job_ids:
                self.job_ids[name] = str(job_id)
                self.submitted.append(time.monotonic())

    def states(self) -> dict[str, str]:
        """Each submitted job's state (and why it waits), as the batch system says; empty
        where it cannot be asked (only Slurm's ``squeue`` is)."""
        ids = sorted(set(self.job_ids.values()), key=lambda i: (len(i), i))
        if self.spec.kind != "slurm" or not ids:
            return {}
        try:
            out = subprocess.run(
                ["squeue", "--noheader", "--states=all", f"--jobs={','.join(ids)}",
                 "--format=%i %T %r"], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):
            return {}
        found = {}
        for line in out.splitlines():
            job, state, *reason = line.split()
            why = " ".join(reason)
            found[job] = state + (f" ({why})" if why and why != "None" else "")
        return {job: found.get(job, "ended") for job in ids}

    def _describe(self) -> str:
        states = self.states()
        if not states:
            ids = ", ".join(sorted(set(self.job_ids.values()))) or "none"
            return f"jobs submitted: {ids}"
        return "jobs: " + ", ".join(f"{job} {state}" for job, state in states.items())

    def _fail(self, what: str) -> WorkersLostError:
        logs = _given_output(self.spec) or job_output_directory()
        return WorkersLostError(
            f"{what} ({self._describe()}); every job of this run is cancelled. A store being "
            "written is kept as it is: run the same command again to finish it, keeping the "
            f"chunks written (or give --cluster-timeout more than {self.spec.timeout:g} s); "
            f"the jobs' output is in {logs}")

    def remove_output(self) -> None:
        """Remove the output of this run's jobs where lazyseries chose its place."""
        own = _own_output(self.spec)
        ids = {re.sub(r"\D.*", "", job) for job in self.job_ids.values()} - {""}
        if own is None or not ids or not os.path.isdir(own):
            return
        for name in os.listdir(own):
            if set(re.findall(r"\d+", name)) & ids:
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(own, name))

    # -- waiting, watching -----------------------------------------------------------------

    def wait_first(self) -> None:
        """Return once a worker has joined; raise after the spec's timeout."""
        end = time.monotonic() + self.spec.timeout
        while self._workers() == 0:
            self._note_jobs()
            if time.monotonic() > end:
                raise self._fail(f"no worker joined within {self.spec.timeout:g} s of "
                                 f"submitting the {self.spec.kind} jobs")
            time.sleep(POLL)
        self._note_jobs()

    @contextlib.contextmanager
    def running(self, client: Any) -> Iterator[None]:
        """While the work runs: replace lost jobs, check that workers remain; the work's own
        loops call :func:`pipeline._progress.check`, which raises the error found."""
        self._thread = threading.Thread(target=self._follow, args=(client,), daemon=True,
                                        name="lazyseries-cluster-watch")
        self._thread.start()
        with _progress.watched(self.check):
            try:
                yield
            except BaseException:
                if self.error is not None:
                    raise self.error from None  # what cancelled the work, said plainly
                raise
        self.check()

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def _follow(self, client: Any) -> None:
        last_seen = time.monotonic()
        while not self._stop.wait(POLL):
            try:
                self._note_jobs()
                if self._workers():
                    last_seen = time.monotonic()
                elif time.monotonic() - last_seen > self.spec.timeout:
                    self.error = self._fail(f"no worker for {self.spec.timeout:g} s: every job "
                                            "of the run has ended or waits in the queue")
                    break
                self._replace_lost()
            except Exception:  # noqa: BLE001  (a cluster closing under us: the run ends anyway)
                if self._stop.is_set():
                    return
        if self.error is not None and not self._stop.wait(10):
            client.close()  # work blocked outside a checked loop: end it

    def _replace_lost(self) -> None:
        """Submit jobs for those dask-jobqueue dropped (ended, lost), within the storm bound."""
        lost = len(self.cluster.worker_spec) - len(self.cluster.workers)
        if lost <= 0:
            return
        now = time.monotonic()
        recent = sum(1 for t in self.submitted if now - t < STORM_WINDOW)
        if recent < (REPLACEMENTS + 1) * self.spec.most_jobs:
            self.cluster.scale(jobs=len(self.cluster.worker_spec))

    def cancel(self) -> None:
        """Cancel every job submitted, at once (for an interrupted run)."""
        self._note_jobs()
        ids = sorted(set(self.job_ids.values()))
        command = getattr(self.cluster, "job_cls", None)
        cancel = getattr(command, "cancel_command", None)
        if ids and cancel:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run([*cancel.split(), *ids], capture_output=True, timeout=20)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


__all__ = ["DEFAULT_TIMEOUT", "KINDS", "ClusterSpec", "Watch", "cancel_all", "job_output_directory",
           "job_script", "known_options", "make", "parse", "start", "walltime_seconds"]

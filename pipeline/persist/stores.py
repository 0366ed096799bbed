"""Writing directory stores (Zarr): claimed, staged beside the target, completed, swapped in.

A new target: the store's header (record, metadata, empty arrays) is made in
a hidden sibling and renamed into place, so the target is either absent or a
store that opens as incomplete; chunks are then written into it by dask tasks
and the writer that holds the claim marks it complete.  A write killed half
way is finished by repeating it: the incomplete store of the same job (the
same source, ops, frames and layout) keeps the chunks it holds and only the
missing ones are computed; one of other frames is rebuilt.  A write that fails
removes what it made, except when it was interrupted (Ctrl-C, SIGTERM) or lost
its cluster's workers (:class:`~pipeline.errors.WorkersLostError`): what was
written is kept for the next run to finish.

The chunks are computed in batches of at most :data:`BATCH` tasks
(:func:`pipeline._progress.run_batches`): a cluster's scheduler holds at most
two batches whatever the length of the series, and a bar (when shown) counts
the frames written.

Replacing a store (``overwrite=True``): the whole new store is written and
completed in the sibling, then swapped with the old one, so until the swap
readers see the old series and a killed write leaves it untouched.

Where a backend cannot rename (object stores), every write builds a whole new
version of the store beside the current one, under a prefix of its own, and
publishes it by one conditional write of the object readers start from; the
versions it replaces are removed only after that (:class:`_Version`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline import _progress, graph
from pipeline.errors import (
    OptionValueError,
    StoreExistsError,
    TargetBusyError,
    TargetMovedError,
    WorkersLostError,
)
from pipeline.formats._encoding import StoreEncoding
from pipeline.persist import claim as claims
from pipeline.persist.faults import phase
from pipeline.persist.staging import Placement, disk_full, remove_partials
from pipeline.persist.target import refuse_cwd, refuse_foreign, refuse_source
from pipeline.series import ImageSeries, plan_of
from pipeline.storage import LOCAL, Location

BATCH = 256
"""Write tasks (each whole stored objects of every array) given to the scheduler at once."""


@dataclass
class _Job:
    """One store write: where it builds, where it ends, what it made."""

    encoding: StoreEncoding
    claim: claims.Claim
    target: Location
    build: Location
    placement: Placement | None = None
    made: bool = False
    """Whether the target did not exist before (a failed write then removes it)."""
    version: _Version | None = None
    """On an object store: the version being built, and what it replaces."""
    resumed: tuple[list[Any], list[str]] | None = None
    """For an incomplete store of this same job, finished in place: what to store, where."""

    @property
    def staged(self) -> bool:
        return self.build != self.target

    def __reduce__(self) -> tuple[Any, ...]:
        # to another process (a cluster's worker): places by their ordinary paths, the
        # placement held open again there
        plain = self.placement.plain if self.placement is not None else (lambda loc: loc)
        claim = claims.Claim(plain(self.claim.target), plain(self.claim.location),
                             self.claim.write_id)
        return (_Job, (self.encoding, claim, plain(self.target), plain(self.build),
                       self.placement, self.made, self.version, self.resumed))

    def fail(self) -> None:
        """Remove what this write made, while it still holds the target."""
        if self.claim.holds() and (self.staged or self.made):
            self.build.remove_tree()

    def finish(self, _stored: Any, complete: Callable[[Location], None] | None = None) -> None:
        """Mark the store complete (``complete(build)``, by default the encoding's) and put it
        in place (swap it in, or publish its version); only the holder of the claim may."""
        if not self.claim.holds():
            raise TargetBusyError(
                f"{self.target.text!r}: this write's claim was taken by another writer; the "
                "store is left incomplete and not marked complete")
        if self.build.local is not None:  # what workers killed mid-write left half-written
            remove_partials(self.build)    # (the chunk itself was written again elsewhere)
        phase("complete")
        (complete or self.encoding.complete)(self.build)
        if self.version is not None:
            self.version.publish(self)
        elif self.staged:
            phase("swap")
            assert self.placement is not None
            self.placement.swap_in(self.build)
        if self.placement is not None:
            self.placement.check_in_place()
        self.claim.release()


@dataclass
class _Version:
    """A version of a store on an object store: its number, name, and the root it replaces."""

    number: int
    name: str
    root: str | None
    """The version of the root object this write replaces (None: there is none)."""
    kept: list[str]
    """Earlier versions to keep after this one is published (``keep_versions``)."""
    foreign: bool
    """Whether the root replaced is another tool's store (its objects go after publishing)."""

    def publish(self, job: _Job) -> None:
        """Point the root at this version (one conditional write), then remove what it
        replaces; readers see the old version or this one, whole."""
        versions = job.encoding.versions
        phase("publish")
        if not versions.publish(job.target, self.name, self.number, self.root, self.kept):
            raise TargetBusyError(
                f"{job.target.text!r}: its root changed while this write ran (another writer "
                "ignored the claim); this version was not published and is removed")
        phase("published")
        for entry in job.target.list():
            if entry in (self.name, "zarr.json", *self.kept):
                continue
            if self.foreign or versions.owns(entry):
                job.target.child(entry).remove_tree()


def write_store(series: ImageSeries, location: Location, encoding: StoreEncoding,
                overwrite: bool, compute: bool, keep_versions: int = 0,
                unsafe_conditional_writes: bool = False) -> Any:
    """Write ``series`` to the store at ``location`` with ``encoding``; return it reopened
    (or, with ``compute=False``, the dask task that writes it).

    On a file system the store is staged beside the target and swapped in; on an
    object store it is built as a new version and published (``keep_versions``
    earlier versions kept).  A backend whose conditional writes are not atomic is
    refused, unless ``unsafe_conditional_writes=True`` (with a warning).
    """
    started = begin(series, location, encoding, overwrite, keep_versions,
                    unsafe_conditional_writes, _frames(series, encoding.stored))
    job, claim, placement = started.job, started.job.claim, started.job.placement
    try:
        where = job.build if placement is None or not _workers_elsewhere() \
            else placement.plain(job.build)
        tasks = _unit_tasks(started.sources, encoding.targets(where, started.paths),
                            encoding.written if job.resumed else None)
    except BaseException:
        started.abandon()
        raise
    if not compute:
        import dask

        done = dask.delayed(job.finish)([task for task, _ in tasks])
        # an abandoned or failed task gives the target back when it is dropped
        weakref.finalize(done, claim.drop)
        return done
    try:
        _compute(tasks, job, len(series))
    except TargetMovedError:
        raise  # complete, in the directory it began in: the message says where
    except (WorkersLostError, KeyboardInterrupt):
        raise  # what was written is kept: the same write run again finishes it
    except BaseException:
        job.fail()
        raise
    finally:
        started.abandon()
    return encoding.reopen(location)


@dataclass
class Started:
    """A store write under way: its job (the claim held), the arrays to store and their paths,
    and, for a live store taken up again, the frames it had committed, those lost, and its
    record's live part."""

    job: _Job
    sources: list[Any]
    paths: list[str]
    resumed: tuple[int, Any, dict[str, Any]] | None = None

    def abandon(self) -> None:
        """Give the target back (the claim, the held directory)."""
        self.job.claim.release()
        if self.job.placement is not None:
            self.job.placement.close()


def begin(series: ImageSeries, location: Location, encoding: StoreEncoding, overwrite: bool,
          keep_versions: int, unsafe: bool, frames: Any, live: bool = False) -> Started:
    """Claim ``location`` and make the store's header, staged beside it (a new store is put in
    place at once, opening as incomplete); or, for ``live`` with a store of the same live job
    left unfinished there, take that store as it is, to go on after its committed frames."""
    _check_versions(location, keep_versions, unsafe)
    refuse_source(location, series)
    refuse_cwd(location)
    location.parent.makedirs()
    placement = Placement(location) if location.backend.renames else None
    target = placement.target if placement is not None else location
    try:
        claim = claims.acquire(target, verify=placement is None, unsafe=unsafe)
    except BaseException:
        if placement is not None:
            placement.close()
        raise
    try:
        growth = encoding.growth if live else None
        if placement is not None:
            placement.clean_leftovers()
        found = growth.resume(target) if growth is not None and target.exists() else None
        if found is not None:
            committed, dropped, paths, record = found
            job = _Job(encoding, claim, target, target, placement)
            return Started(job, [], paths, (committed, dropped, record))
        job = _prepare(target, encoding, overwrite, claim, placement, frames) \
            if placement is not None else _prepare_version(target, encoding, overwrite, claim,
                                                           keep_versions)
        phase("staged")
        sources, paths = job.resumed or job.encoding.create(job.build, frames, claim.write_id,
                                                            phase)
        return Started(_place(job), sources, paths)
    except BaseException:
        claim.release()
        if placement is not None:
            placement.close()
        raise


def _prepare(target: Location, encoding: StoreEncoding, overwrite: bool, claim: claims.Claim,
             placement: Placement | None, frames: Any) -> _Job:
    """Decide where the store is built (what killed writes left beside it cleared first): in
    place for the incomplete store of this same job (its written chunks kept), else beside the
    target."""
    staged = placement.staged if placement is not None else target
    if not target.exists():
        return _Job(encoding, claim, target, staged, placement, made=True)
    refuse_foreign(target, encoding.format, encoding.is_container)
    if encoding.resumable(target):  # the write that made it died: finish or rebuild it
        resumed = encoding.resume(target, frames)
        if resumed is not None:
            remove_partials(target)
            return _Job(encoding, claim, target, target, placement, made=True, resumed=resumed)
        return _Job(encoding, claim, target, staged, placement, made=True)
    if not overwrite:
        raise StoreExistsError.at(target.text)
    return _Job(encoding, claim, target, staged, placement)


def _prepare_version(target: Location, encoding: StoreEncoding, overwrite: bool,
                     claim: claims.Claim, keep: int) -> _Job:
    """Decide the next version of the store at ``target`` (an object store), removing the
    versions killed writes left unpublished."""
    versions = encoding.versions
    record, root = versions.committed(target)
    entries = target.list()
    foreign = root is not None and record is None
    if root is not None or any(not versions.owns(e) for e in entries):
        refuse_foreign(target, encoding.format, encoding.is_container)
        if not overwrite:
            raise StoreExistsError.at(target.text)
    previous = [] if record is None else [record["version"], *(record.get("kept") or [])]
    kept = [v for v in previous if isinstance(v, str) and versions.owns(v)][:keep]
    for entry in entries:  # versions of writes that died before publishing
        if versions.owns(entry) and entry not in previous:
            target.child(entry).remove_tree()
    number = int(record.get("number", 0)) + 1 if record is not None else 1
    name = versions.name(number, claim.write_id)
    return _Job(encoding, claim, target, target.child(name), None, made=True,
                version=_Version(number, name, root, kept, foreign))


def _check_versions(location: Location, keep: Any, unsafe: Any) -> None:
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise OptionValueError(f"keep_versions={keep!r}: expected a whole number >= 0 of "
                               "earlier versions to keep")
    if not isinstance(unsafe, bool):
        raise OptionValueError(f"unsafe_conditional_writes={unsafe!r}: expected True or False")
    if location.backend.renames and (keep or unsafe):
        raise OptionValueError(
            f"{location.text!r} is on a file system, where a store is replaced whole: "
            "keep_versions= and unsafe_conditional_writes= apply to object stores")


def _place(job: _Job) -> _Job:
    """For a new store built beside its target, put its header at the target now (it opens
    as incomplete until the frames are written)."""
    if job.version is not None or not (job.staged and job.made):
        return job
    job.target.remove_tree()  # an incomplete store of this same job: rebuilt
    LOCAL.rename(job.build.path, job.target.path)
    phase("placed")
    return _Job(job.encoding, job.claim, job.target, job.target, job.placement, made=True)


def _frames(series: ImageSeries, stored: int) -> Any:
    # each task writes whole stored objects (so no locks), about a dask chunk's worth
    size = graph.frames_per_chunk(series, plan_of(series).source)
    return series.to_dask(frames_per_chunk=stored * max(1, size // stored))


def _unit_tasks(sources: list[Any], targets: list[Any], written: Any = None
                ) -> list[tuple[Any, int]]:
    """One dask task per block of frames, storing it in every array (whole stored objects), and
    the frames it covers; blocks ``written(targets, start, stop)`` says are stored are left out."""
    import dask

    # unoptimised: the levels' tasks share the frames' blocks, each computed once
    blocks = [source.to_delayed(optimize_graph=False).ravel() for source in sources]
    tasks = []
    start = 0
    for i, size in enumerate(sources[0].chunks[0]):
        stop = start + size
        if size and (written is None or not written(targets, start, stop)):
            tasks.append((dask.delayed(_store_unit, pure=False)(
                targets, start, stop, *(b[i] for b in blocks)), size))
        start = stop
    return tasks


def _store_unit(targets: list[Any], start: int, stop: int, *blocks: Any) -> None:
    for target, block in zip(targets, blocks, strict=True):
        target[(slice(start, stop), *(slice(0, n) for n in block.shape[1:]))] = block


def _batches(tasks: list[tuple[Any, int]]) -> Any:
    return (tasks[i:i + BATCH] for i in range(0, len(tasks), BATCH))


def _workers_elsewhere() -> bool:
    """Whether a dask.distributed client is active: its workers are other processes, which
    reach the target by its path, not through this process's held directory."""
    try:
        from distributed import default_client
    except ImportError:
        return False
    try:
        default_client()
    except ValueError:
        return False
    return True


def _compute(tasks: list[tuple[Any, int]], job: _Job, nframes: int) -> None:
    kept = nframes - sum(n for _, n in tasks)
    label = f"write {job.target.text}" + (f" (resumed, {kept} frames kept)" if kept else "")
    try:
        _progress.run_batches(_batches(tasks), label, nframes, kept)
    except OSError as err:
        local = job.target.parent.local
        full = disk_full(err, job.target.text, local)
        if full is not None:
            raise full from err
        raise
    job.finish(None)

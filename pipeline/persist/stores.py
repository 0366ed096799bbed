"""Writing directory stores (Zarr): claimed, staged beside the target, completed, swapped in.

A new target: the store's header (record, metadata, empty arrays) is made in
a hidden sibling and renamed into place, so the target is either absent or a
store that opens as incomplete; chunks are then written into it by dask tasks
and the writer that holds the claim marks it complete.  A write killed half
way is finished by repeating it (the incomplete store of the same job is
rebuilt); a write that fails removes what it made.

Replacing a store (``overwrite=True``): the whole new store is written and
completed in the sibling, then swapped with the old one, so until the swap
readers see the old series and a killed write leaves it untouched.

Where a backend cannot rename (object stores), the store is written in place
under the claim.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from pipeline import graph
from pipeline.errors import StoreExistsError, TargetBusyError, TargetMovedError
from pipeline.formats._encoding import StoreEncoding
from pipeline.persist import claim as claims
from pipeline.persist.faults import phase
from pipeline.persist.staging import Placement, disk_full
from pipeline.persist.target import refuse_cwd, refuse_foreign, refuse_source
from pipeline.series import ImageSeries
from pipeline.storage import LOCAL, Location


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
                       self.placement, self.made))

    def fail(self) -> None:
        """Remove what this write made, while it still holds the target."""
        if self.claim.holds() and (self.staged or self.made):
            self.build.remove_tree()

    def finish(self, _stored: Any) -> None:
        """Mark the store complete and, for a replacement, swap it in; only the holder may."""
        if not self.claim.holds():
            raise TargetBusyError(
                f"{self.target.text!r}: this write's claim was taken by another writer; the "
                "store is left incomplete and not marked complete")
        phase("complete")
        self.encoding.complete(self.build)
        if self.staged:
            phase("swap")
            assert self.placement is not None
            self.placement.swap_in(self.build)
        if self.placement is not None:
            self.placement.check_in_place()
        self.claim.release()


def write_store(series: ImageSeries, location: Location, encoding: StoreEncoding,
                overwrite: bool, compute: bool) -> Any:
    """Write ``series`` to the store at ``location`` with ``encoding``; return it reopened
    (or, with ``compute=False``, the dask task that writes it)."""
    refuse_source(location, series)
    refuse_cwd(location)
    location.parent.makedirs()
    placement = Placement(location) if location.backend.renames else None
    target = placement.target if placement is not None else location
    try:
        claim = claims.acquire(target)
    except BaseException:
        if placement is not None:
            placement.close()
        raise
    try:
        job = _prepare(series, target, encoding, overwrite, claim, placement)
        phase("staged")
        sources, paths = job.encoding.create(job.build, _frames(series, encoding.stored),
                                             claim.write_id, phase)
        job = _place(job)
        where = job.build if placement is None or not _workers_elsewhere() \
            else placement.plain(job.build)
        done = _task(job, sources, encoding.targets(where, paths))
    except BaseException:
        claim.release()
        if placement is not None:
            placement.close()
        raise
    # an abandoned or failed task gives the target back when it is dropped
    weakref.finalize(done, claim.release)
    if not compute:
        return done
    try:
        _compute(done, job)
    except TargetMovedError:
        raise  # complete, in the directory it began in: the message says where
    except BaseException:
        job.fail()
        raise
    finally:
        claim.release()
        if placement is not None:
            placement.close()
    return encoding.reopen(location)


def _prepare(series: ImageSeries, target: Location, encoding: StoreEncoding, overwrite: bool,
             claim: claims.Claim, placement: Placement | None) -> _Job:
    """Clear what killed writes left and decide where the store is built."""
    if placement is not None:
        placement.clean_leftovers()
    staged = placement.staged if placement is not None else target
    if not target.exists():
        return _Job(encoding, claim, target, staged, placement, made=True)
    refuse_foreign(target, encoding.format, encoding.is_container)
    if encoding.resumable(target):  # the write that made it died: rebuild it
        return _Job(encoding, claim, target, staged, placement, made=True)
    if not overwrite:
        raise StoreExistsError.at(target.text)
    if placement is None:  # no rename: replaced in place
        target.remove_tree()
        return _Job(encoding, claim, target, target, None, made=True)
    return _Job(encoding, claim, target, staged, placement)


def _place(job: _Job) -> _Job:
    """For a new store built beside its target, put its header at the target now (it opens
    as incomplete until the frames are written)."""
    if not (job.staged and job.made):
        return job
    job.target.remove_tree()  # an incomplete store of this same job: rebuilt
    LOCAL.rename(job.build.path, job.target.path)
    phase("placed")
    return _Job(job.encoding, job.claim, job.target, job.target, job.placement, made=True)


def _frames(series: ImageSeries, stored: int) -> Any:
    # each task writes whole stored objects (so no locks), about a dask chunk's worth
    return series.to_dask(frames_per_chunk=stored * max(1, graph.frames_per_chunk(series)
                                                        // stored))


def _task(job: _Job, sources: list[Any], targets: list[Any]) -> Any:
    """One dask task: every chunk stored (frames and levels), then the job finished."""
    import dask
    import dask.array as da

    stored = da.store(sources, targets, lock=False, compute=False)  # type: ignore[arg-type]
    return dask.delayed(job.finish)(stored)


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


def _compute(done: Any, job: _Job) -> None:
    try:
        done.compute()
    except OSError as err:
        local = job.target.parent.local
        full = disk_full(err, job.target.text, local)
        if full is not None:
            raise full from err
        raise

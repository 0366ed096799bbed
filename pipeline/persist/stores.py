"""Writing directory stores (Zarr): claimed, staged beside the target, completed, swapped in.

A new target: the store's header (record, metadata, empty array) is made in
a hidden sibling and renamed into place, so the target is either absent or
a store that opens as incomplete; chunks are then written into it and the
writer that holds the claim marks it complete.  A write killed half way is
finished by repeating it (the incomplete store of the same job is rebuilt).

Replacing a store (``overwrite=True``): the whole new store is written and
completed in the sibling, then swapped with the old one, so until the swap
readers see the old series and a killed write leaves it untouched.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline import _json, graph
from pipeline.errors import StoreExistsError, TargetBusyError, TargetRefusedError
from pipeline.formats import _zarr_write as zw
from pipeline.formats.zarr import ARRAY_NAME, FORMAT_VERSION, ZarrSeries
from pipeline.persist import claim as claims
from pipeline.persist import staging
from pipeline.persist.faults import phase
from pipeline.persist.target import (
    local_path,
    refuse_cwd,
    refuse_foreign,
    refuse_source,
    reopen_path,
)
from pipeline.series import ImageSeries


def write_zarr(series: ImageSeries, text: str, *, overwrite: bool = False, codec: Any = "default",
               chunks: Any = None, shards: Any = None,
               storage_options: dict[str, Any] | None = None, compute: bool = True,
               levels: int = 0) -> Any:
    """Write ``series`` to the Zarr store ``text``; see :func:`pipeline.formats.zarr.write`."""
    n, shape, dtype = len(series), tuple(series.shape), np.dtype(series.dtype)
    layout = zw.plan_layout(n, shape, dtype, codec, chunks, shards, levels, series.axes)
    metadata, provenance = series.metadata, series.description()
    _json.check(metadata, "metadata")
    _json.check(provenance, "provenance")
    frames = _frames(series, layout.stored)
    from dask.base import tokenize

    # names the job in the record (informational: a store is rebuilt, never added to)
    fingerprint = tokenize(_json.encode(provenance, lambda a: tokenize(a)), n, shape, dtype.str,
                           layout.config())
    header = {"format_version": FORMAT_VERSION, "complete": False, "array": ARRAY_NAME,
              "provenance": provenance, "fingerprint": fingerprint}
    job = _Job(frames, layout, series.axes, header, metadata)
    local = local_path(text)
    if local is None:
        return _write_remote(series, text, frames, job, overwrite, storage_options, compute)
    refuse_source(text, local, series)
    refuse_cwd(text, local)
    os.makedirs(os.path.dirname(local), exist_ok=True)
    claim = claims.acquire(local)
    try:
        staged, sources, targets = _prepare(text, local, job, overwrite, claim)
    except BaseException:
        claim.release()
        raise
    done = _task(_finish, sources, targets, text, local, staged, claim)
    # an abandoned or failed task gives the target back when it is dropped
    weakref.finalize(done, claim.release)
    if not compute:
        return done
    try:
        _compute(done, text, local)
    except BaseException:
        if staged is not None and claim.holds():
            staging.remove(staged)  # the old store stays; the half-made new one goes
        raise
    finally:
        claim.release()
    return ZarrSeries(reopen_path(text, local), storage_options=storage_options)


@dataclass(frozen=True)
class _Job:
    frames: Any
    layout: Any
    axes: str
    header: dict[str, Any]
    metadata: Any

    @property
    def full_shape(self) -> tuple[int, ...]:
        return tuple(self.frames.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.frames.dtype)


def _task(finish: Any, sources: list[Any], targets: list[Any], *args: Any) -> Any:
    """One dask task: every chunk stored (frames and levels), then ``finish(*args, stored)``."""
    import dask
    import dask.array as da

    stored = da.store(sources, targets, lock=False, compute=False)  # type: ignore[arg-type]
    return dask.delayed(finish)(*args, stored)


def _prepare(text: str, local: str, job: _Job, overwrite: bool, claim: claims.Claim
             ) -> tuple[str | None, list[Any], list[Any]]:
    """Make the store's header; return the staged path (None: built in place), the dask arrays
    to store and the arrays they go to."""
    staging.clean_leftovers(local)
    swap = _decide(text, local, overwrite, job.full_shape, job.dtype)
    staged = staging.sibling(local, staging.STAGED)
    phase("staged")
    sources, paths = zw.create_store(staged, job.frames, job.layout, job.axes,
                                     {**job.header, "write_id": claim.write_id}, job.metadata,
                                     phase=phase)
    if swap:
        return staged, sources, zw.open_arrays(staged, paths)
    staging.remove(local)  # an incomplete store of this same job: rebuilt
    os.rename(staged, local)
    phase("placed")
    return None, sources, zw.open_arrays(local, paths)


def _frames(series: ImageSeries, stored: int) -> Any:
    # each task writes whole stored objects (so no locks), about a dask chunk's worth
    return series.to_dask(frames_per_chunk=stored * max(1, graph.frames_per_chunk(series)
                                                        // stored))


def _compute(done: Any, text: str, local: str) -> None:
    try:
        done.compute()
    except OSError as err:
        full = staging.disk_full(err, text, os.path.dirname(local))
        if full is not None:
            raise full from err
        raise


def _decide(text: str, local: str, overwrite: bool, full_shape: tuple[int, ...],
            dtype: np.dtype) -> bool:
    """Whether the write must be staged and swapped in (True) or may build in place (False)."""
    if not os.path.lexists(local):
        return False
    refuse_foreign(text, local, "zarr", zw.is_store)
    record = zw.read_record(local)
    if record is not None and record.get("complete") is not True and _same_job(
            record, full_shape, dtype):
        return False  # the write that made it died: finish it
    if overwrite:
        return True
    raise StoreExistsError.at(text)


def _same_job(record: dict[str, Any], full_shape: tuple[int, ...], dtype: np.dtype) -> bool:
    """Whether an incomplete store may be taken over by this write without ``overwrite``.

    It is rebuilt from scratch, never added to, so frames of two writes never
    mix: the frames' shape and dtype must agree (a store of other frames is
    someone else's unfinished work, replaced only with ``overwrite=True``).
    """
    return record.get("_shape") == full_shape and record.get("_dtype") == dtype.str


def _finish(text: str, local: str, staged: str | None, claim: claims.Claim, _stored: Any) -> None:
    """Mark the store complete and, for a replacement, swap it in; only the claim's holder may."""
    if not claim.holds():
        raise TargetBusyError(
            f"{text!r}: this write's claim was taken by another writer; the store is left "
            "incomplete and not marked complete"
        )
    phase("complete")
    zw.set_complete(staged or local)
    if staged is not None:
        phase("swap")
        staging.swap_in(staged, local)
    claim.release()


def _write_remote(series: ImageSeries, text: str, frames: Any, job: _Job, overwrite: bool,
                  storage_options: dict[str, Any] | None, compute: bool) -> Any:
    """A store at a remote URL: written in place (no claim, no swap: object stores have no
    rename); an existing target is replaced only when it is a Zarr store."""
    import fsspec

    refuse_source(text, None, series)
    fs, path = fsspec.core.url_to_fs(text, **(storage_options or {}))
    if fs.exists(path):
        record = zw.read_record(text, storage_options)
        resumable = record is not None and record.get("complete") is not True and _same_job(
            record, job.full_shape, job.dtype)
        if not resumable and not overwrite:
            raise StoreExistsError.at(text)
        if not any(fs.exists(f"{path}/{n}") for n in ("zarr.json", ".zgroup", ".zarray")):
            raise TargetRefusedError(
                f"{text!r} exists and is not a zarr series; overwrite=True only replaces a "
                "zarr series, so it is left untouched"
            )
        fs.rm(path, recursive=True)
    sources, paths = zw.create_store(text, job.frames, job.layout, job.axes, job.header,
                                     job.metadata, storage_options)
    done = _task(_finish_remote, sources, zw.open_arrays(text, paths, storage_options), text,
                 storage_options)
    if not compute:
        return done
    done.compute()
    return ZarrSeries(text, storage_options=storage_options)


def _finish_remote(text: str, storage_options: dict[str, Any] | None, _stored: Any) -> None:
    zw.set_complete(text, storage_options)

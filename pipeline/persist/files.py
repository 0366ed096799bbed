"""Writing single-file containers (HDF5, TIFF, frame caches): claimed, staged, renamed in.

The file is written as ``.NAME.lazyseries-staged`` beside its target (created
with the user's umask, like any file they make) and renamed over the target
only when complete, so a failed or killed write leaves the old file
untouched; the next write of the same target removes the staged leftover.
Free space is checked before the write and before each block where the
format's library cannot recover from a full disk (h5py).
"""

from __future__ import annotations

import os
from typing import Any

from pipeline.errors import (
    EmptySeriesError,
    StoreExistsError,
    TargetBusyError,
    TargetRefusedError,
    WriteTargetError,
)
from pipeline.formats._encoding import Blocks, FileEncoding
from pipeline.formats._filewrite import iter_blocks
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

FileJob = FileEncoding
"""What a single-file format's encoder hands this layer (:mod:`pipeline.formats._encoding`)."""


def write_file(series: ImageSeries, text: str, job: FileJob, overwrite: bool = False) -> Any:
    """Write ``series`` to the file ``text`` with ``job``; return it reopened."""
    local = local_path(text)
    if local is None:
        raise WriteTargetError(f"{text!r}: the {job.format} writer writes local files; give a path")
    if not len(series) and not job.empty_ok:
        raise EmptySeriesError(f"the series to write to {text!r} has no frames; a {job.format} "
                               "file cannot hold an empty series")
    refuse_source(text, local, series)
    refuse_cwd(text, local)
    _check_existing(text, local, job, overwrite)
    parent = os.path.dirname(local)
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"cannot write {text!r}: no such directory {parent!r}")
    if job.estimate:
        staging.check_space(text, parent, job.estimate)
    claim = claims.acquire(local)
    try:
        staging.clean_leftovers(local)
        _check_existing(text, local, job, overwrite)  # made meanwhile?
        _write_staged(series, text, local, job, claim)
    finally:
        claim.release()
    return job.reopen(reopen_path(text, local))


def _check_existing(text: str, local: str, job: FileJob, overwrite: bool) -> None:
    if not os.path.lexists(local):
        return
    if os.path.isdir(local):
        raise TargetRefusedError(
            f"{text!r} is a directory; a {job.format} file needs a file path, and the "
            "directory is left untouched"
        )
    if not overwrite:
        raise StoreExistsError.at(text)
    refuse_foreign(text, local, job.format, job.is_container)


def _write_staged(series: ImageSeries, text: str, local: str, job: FileJob,
                  claim: claims.Claim) -> None:
    staged = staging.sibling(local, staging.STAGED)
    staging.new_file(staged)
    try:
        phase("staged")
        job.encode(staged, _blocks(series, text, os.path.dirname(local), job.check_blocks))
        phase("encoded")
        if not claim.holds():
            raise TargetBusyError(f"{text!r}: this write's claim was taken by another writer; "
                                  "the target is left as it was")
        os.replace(staged, local)
    except OSError as err:
        full = staging.disk_full(err, text, os.path.dirname(local))  # before freeing space
        staging.remove(staged)
        if full is not None:
            raise full from err
        raise
    except BaseException:
        staging.remove(staged)
        raise


def _blocks(series: ImageSeries, text: str, directory: str, check: bool) -> Blocks:
    for n, (start, block) in enumerate(iter_blocks(series)):
        if check:
            staging.check_space(text, directory, block.nbytes,
                                f" (frames {start}..{start + len(block) - 1})")
        yield start, block
        if n == 0:
            phase("blocks")

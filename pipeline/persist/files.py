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

from pipeline import _progress, storage
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
from pipeline.persist.faults import phase
from pipeline.persist.staging import Placement, check_space, disk_full, new_file, remove
from pipeline.persist.target import refuse_cwd, refuse_foreign, refuse_source
from pipeline.series import ImageSeries
from pipeline.storage import Location


def write_file(series: ImageSeries, location: Location, job: FileEncoding,
               overwrite: bool = False) -> Any:
    """Write ``series`` to the file at ``location`` with ``job``; return it reopened."""
    if location.local is None:
        raise WriteTargetError(f"{location.text!r}: the {job.format} writer writes local "
                               "files; give a path")
    if not len(series) and not job.empty_ok:
        raise EmptySeriesError(f"the series to write to {location.text!r} has no frames; a "
                               f"{job.format} file cannot hold an empty series")
    refuse_source(location, series)
    refuse_cwd(location)
    _check_existing(location, job, overwrite)
    parent = os.path.dirname(location.path)
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"cannot write {location.text!r}: no such directory {parent!r}")
    if job.estimate:
        check_space(location.text, parent, job.estimate)
    placement = Placement(location)
    try:
        claim = claims.acquire(placement.target)
        try:
            placement.clean_leftovers()
            _check_existing(location, job, overwrite)  # made meanwhile?
            _write_staged(series, placement, job, claim)
        finally:
            claim.release()
    finally:
        placement.close()
    text = location.text
    return job.reopen(text if storage.is_url(text) or os.path.exists(text) else location.path)


def _check_existing(location: Location, job: FileEncoding, overwrite: bool) -> None:
    found = location.stat()
    if found is None:
        return
    if found.is_dir:
        raise TargetRefusedError(
            f"{location.text!r} is a directory; a {job.format} file needs a file path, and "
            "the directory is left untouched")
    if not overwrite:
        raise StoreExistsError.at(location.text)
    refuse_foreign(location, job.format, job.is_container, location.path)


def _write_staged(series: ImageSeries, placement: Placement, job: FileEncoding,
                  claim: claims.Claim) -> None:
    staged, text = placement.staged.path, placement.given.text
    new_file(staged)
    directory = placement.pin.directory
    try:
        phase("staged")
        job.encode(staged, _blocks(series, text, directory, job.check_blocks))
        phase("encoded")
        if not claim.holds():
            raise TargetBusyError(f"{text!r}: this write's claim was taken by another "
                                  "writer; the target is left as it was")
        placement.swap_in(placement.staged)
        placement.check_in_place()
    except OSError as err:
        full = disk_full(err, text, directory)  # before freeing space
        remove(staged)
        if full is not None:
            raise full from err
        raise
    except BaseException:
        remove(staged)
        raise


def _blocks(series: ImageSeries, text: str, directory: str, check: bool) -> Blocks:
    with _progress.phase(f"write {text}", len(series)) as bar:
        for n, (start, block) in enumerate(iter_blocks(series)):
            if check:
                check_space(text, directory, block.nbytes,
                            f" (frames {start}..{start + len(block) - 1})")
            yield start, block
            if bar is not None:
                bar(start + len(block), max(len(series), 1))
            if n == 0:
                phase("blocks")

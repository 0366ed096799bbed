"""Writing beside a target and swapping it into place; clearing what killed writes left.

Every write to a file system goes to a hidden sibling of its target,
``.NAME.lazyseries-staged`` (same directory, so renames stay on one file
system).  A finished file replaces its target with one ``rename``; a finished
store is exchanged with the old one atomically (``renameat2(RENAME_EXCHANGE)``),
or, where the file system cannot, by moving the old store aside as
``.NAME.lazyseries-old`` first.  A write that is killed leaves either the old
target untouched or no target at all, plus a sibling that the next write of the
same target removes (an old store moved aside is moved back).

Every step goes through the target's parent directory held open
(:class:`~pipeline.storage.local.PinnedDirectory`): if the parent's path is
swapped for a link elsewhere while a write runs, the write still reaches only
the directory it checked, and says so when it ends.
"""

from __future__ import annotations

import errno
import glob
import os
import shutil
from typing import Any

from pipeline.errors import DiskFullError, TargetMovedError
from pipeline.persist.claim import SUFFIX, sibling_name
from pipeline.storage import LOCAL, Location
from pipeline.storage.local import PinnedDirectory

STAGED = ".lazyseries-staged"
OLD = ".lazyseries-old"


class Placement:
    """A local target's place: its parent held open, and the names beside it.

    ``target``, ``staged`` and ``old`` are locations through the held
    directory, for this process's own steps; ``plain(location)`` is the same
    place by its ordinary path, for other processes (a cluster's workers).
    """

    def __init__(self, target: Location) -> None:
        assert target.local is not None
        self.given = target
        self.pin = PinnedDirectory(os.path.dirname(target.path))
        self.target = self._here(target.name, given=target.text)
        self.staged = self._here(sibling_name(target.name, STAGED))
        self.old = self._here(sibling_name(target.name, OLD))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Placement, (self.given,))  # held open again where it is unpickled

    def _here(self, name: str, given: str | None = None) -> Location:
        return Location(LOCAL, self.pin.join(name), given)

    def plain(self, location: Location) -> Location:
        """``location`` (through the pin) by its ordinary path."""
        inside = os.path.relpath(location.path, self.pin.path)
        return Location(LOCAL, os.path.join(self.pin.directory, inside), location.given)

    def check_in_place(self) -> None:
        """Raise if the target's directory is no longer at its path (swapped meanwhile)."""
        if self.pin.moved():
            raise TargetMovedError(
                f"{self.given.text!r}: its directory {self.pin.directory!r} was moved or "
                "replaced while it was written; the write went to the directory it began in "
                "(no longer at that path), and nothing at the new path was touched")

    def clean_leftovers(self) -> None:
        """Undo what a killed write of the target left; call only while holding its claim."""
        old, target = self.old.path, self.target.path
        if os.path.lexists(old):
            if os.path.lexists(target):
                remove(old)  # killed after the new store was in place
            else:
                os.rename(old, target)  # killed between the two renames: the old comes back
        remove(self.staged.path)
        # a claim's, and earlier versions' single-file writers', half-made files
        for pattern in (f"{sibling_name(self.target.name, SUFFIX)}.*",
                        f".{self.target.name}.*.partial",
                        f".{self.target.name[:64]}.*.partial"):
            for path in glob.glob(os.path.join(glob.escape(self.pin.path), pattern)):
                remove(path)

    def swap_in(self, staged: Location) -> None:
        """Put the finished ``staged`` at the target, replacing what is there."""
        a, b = staged.path, self.target.path
        if not os.path.lexists(b) or not os.path.isdir(a):
            LOCAL.rename(a, b)  # files, or a store with nothing to replace: one rename
            return
        if LOCAL.exchange(a, b):
            remove(a)  # now the old store
            return
        os.rename(b, self.old.path)
        os.rename(a, b)
        remove(self.old.path)

    def close(self) -> None:
        self.pin.close()


def remove(path: str) -> None:
    """Remove a file, a directory tree or a link at ``path``, if there is one."""
    LOCAL.remove_tree(path)


def remove_partials(store: Location) -> None:
    """Remove the objects killed writers left half-written inside a local ``store`` (each
    written aside, ``.NAME.<id>.partial``, and renamed into place only once whole)."""
    assert store.local is not None
    for root, _, files in os.walk(store.local):
        for name in files:
            if name.startswith(".") and name.endswith(".partial"):
                remove(os.path.join(root, name))


def new_file(path: str) -> None:
    """Create an empty ``path`` with the mode any file of the user gets (umask honoured)."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    os.close(fd)


MARGIN = 2**20 + 2**16
"""Free space wanted beyond a write's estimate: h5py's chunk cache (1 MiB by default) may
hold frames of earlier blocks not yet on disk, plus room for file-system metadata."""


def check_space(target: str, directory: str, needed: int, what: str = "") -> None:
    """Raise :class:`~pipeline.errors.DiskFullError` if ``directory`` lacks ``needed`` bytes."""
    free = shutil.disk_usage(directory).free
    if free < needed + MARGIN:
        raise DiskFullError(
            errno.ENOSPC,
            f"not enough free space to write {target!r}{what}: about {needed + MARGIN} bytes "
            f"needed, {free} free in {directory!r}; free some space or write elsewhere",
        )


def disk_full(err: OSError, target: str, directory: str | None = None) -> DiskFullError | None:
    """A :class:`~pipeline.errors.DiskFullError` for ``err`` if a full disk caused it, else None.

    ``ENOSPC``/``EDQUOT`` say so; libraries that report a short write without
    an errno (tifffile) are recognised by the free space left in ``directory``.
    """
    if isinstance(err, DiskFullError):
        return DiskFullError(err.errno, f"the disk filled up while writing {target!r} "
                             f"({err.strerror}); nothing was replaced; free some space or "
                             "write elsewhere")
    full = err.errno in (errno.ENOSPC, errno.EDQUOT)
    if not full and err.errno is None and directory is not None:
        try:
            full = shutil.disk_usage(directory).free < MARGIN
        except OSError:
            full = False
    if not full:
        return None
    return DiskFullError(errno.ENOSPC, f"the disk filled up while writing {target!r} ({err}); "
                         "nothing was replaced; free some space or write elsewhere")


__all__ = ["MARGIN", "OLD", "STAGED", "Placement", "check_space", "disk_full", "new_file",
           "remove", "remove_partials"]

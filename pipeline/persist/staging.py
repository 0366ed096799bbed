"""Writing beside a target and swapping it into place; clearing what killed writes left.

Every write goes to a hidden sibling of its target, ``.NAME.lazyseries-staged``
(same directory, so renames stay on one filesystem).  A finished file
replaces its target with one ``rename``; a finished store is exchanged with
the old one atomically (Linux ``renameat2(RENAME_EXCHANGE)``), or, where the
filesystem cannot, by moving the old store aside as ``.NAME.lazyseries-old``
first.  A write that is killed leaves either the old target untouched or no
target at all, plus a sibling that the next write of the same target removes
(an old store moved aside is moved back).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import glob
import os
import shutil

from pipeline.errors import DiskFullError
from pipeline.persist.claim import clear_leftovers

STAGED = ".lazyseries-staged"
OLD = ".lazyseries-old"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def sibling(local: str, suffix: str) -> str:
    parent, name = os.path.split(local)
    return os.path.join(parent, f".{name}{suffix}")


def remove(path: str) -> None:
    """Remove a file, a directory tree or a link at ``path``, if there is one."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def clean_leftovers(local: str) -> None:
    """Undo what a killed write of ``local`` left; call only while holding its claim."""
    old = sibling(local, OLD)
    if os.path.lexists(old):
        if os.path.lexists(local):
            remove(old)  # killed after the new store was in place
        else:
            os.rename(old, local)  # killed between the two renames: the old store comes back
    remove(sibling(local, STAGED))
    clear_leftovers(local)
    parent, name = os.path.split(local)
    # leftovers of earlier versions of the single-file writers (mkstemp names)
    for path in glob.glob(os.path.join(glob.escape(parent), f".{glob.escape(name)}.*.partial")):
        remove(path)


def _renameat2(a: str, b: str) -> bool:
    """Exchange ``a`` and ``b`` atomically; False where the system or filesystem cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        call = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = call(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), a)


def swap_in(staged: str, local: str) -> None:
    """Put the finished ``staged`` at ``local``, replacing what is there; remove the old."""
    if not os.path.lexists(local) or not os.path.isdir(staged):
        os.replace(staged, local)  # files, or a store with nothing to replace: one rename
        return
    if _renameat2(staged, local):
        remove(staged)  # now the old store
        return
    old = sibling(local, OLD)
    os.rename(local, old)
    os.rename(staged, local)
    remove(old)


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
        return None
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

"""The local file system (also shared ones: NFS, Lustre, GPFS) as a storage backend.

Reads are plain ``open``/``pread`` calls that never block on what is not a
regular file (a FIFO put where a chunk or claim was expected is refused, not
waited on).  Writes go to a short-named file beside their target and are
renamed over it, so a reader sees the old object or the new one; an exclusive
create is a hard link (which fails if anything, even a dangling link, is at
the name), and a conditional replace holds an ``flock`` on the object it
replaces.  Directories rename and exchange atomically (``renameat2``), and a
writer may pin a directory (:meth:`LocalBackend.pin`) so that every later
step reaches the directory it started in, even if its path is swapped for
another meanwhile.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import shutil
import stat as stat_mod
import uuid
from typing import Any, BinaryIO

from pipeline.errors import DiskFullError, StorageError
from pipeline.storage.base import Backend, Stat

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_FULL = (errno.ENOSPC, errno.EDQUOT)


def _version(st: os.stat_result) -> str:
    # the inode alone is reused by a file made after a delete (ext4): the times tell them apart
    return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_size}"


def temp_name(path: str) -> str:
    """A fresh name beside ``path`` for writing it aside: short, whatever the name's length."""
    parent, name = os.path.split(path)
    return os.path.join(parent, f".{name[:64]}.{uuid.uuid4().hex[:12]}.partial")


def storage_error(err: OSError, path: str, doing: str) -> OSError:
    """``err`` as the project's error naming ``path``: a full disk, or a refusal."""
    if err.errno in _FULL:
        return DiskFullError(err.errno, f"no space left on the device while {doing} {path!r}; "
                                        "free some space or write elsewhere")
    if isinstance(err, (DiskFullError, StorageError, FileNotFoundError)):
        return err
    return StorageError(err.errno, f"cannot {doing} {path!r}: {err.strerror or err}")


class LocalBackend(Backend):
    """Files and directories of this machine's file systems."""

    scheme = "file"
    renames = True

    def identity(self) -> tuple[Any, ...]:
        return ("file",)

    def canonical(self, rest: str) -> str:
        # fsspec's reading of a file:// URL (what zarr-python writes to), with links resolved
        return os.path.realpath(os.path.abspath(os.path.expanduser(rest)))

    def url(self, path: str) -> str:
        return path

    def local_path(self, path: str) -> str | None:
        return path

    # -- reading ---------------------------------------------------------------------

    def _open(self, path: str, follow: bool = True) -> tuple[int, os.stat_result]:
        flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
        try:
            fd = os.open(path, flags)
        except OSError as err:
            if err.errno == errno.ELOOP and not follow:
                raise StorageError(errno.ELOOP, f"{path!r} is a symbolic link, not a file "
                                   "this project wrote; remove it") from None
            if err.errno == errno.EISDIR:
                raise StorageError(errno.EISDIR, f"{path!r} is a directory, not a file") \
                    from None
            raise storage_error(err, path, "read") from None
        st = os.fstat(fd)
        if not stat_mod.S_ISREG(st.st_mode):
            os.close(fd)
            kind = "a directory" if stat_mod.S_ISDIR(st.st_mode) else "not a regular file"
            raise StorageError(errno.EINVAL, f"{path!r} is {kind} (mode {oct(st.st_mode)}); "
                               "expected a file")
        return fd, st

    def read(self, path: str, start: int = 0, stop: int | None = None, *,
             limit: int | None = None, follow: bool = True) -> bytes:
        fd, st = self._open(path, follow)
        try:
            return _pread(fd, st.st_size, path, start, stop, limit)
        finally:
            os.close(fd)

    def read_versioned(self, path: str, start: int = 0, stop: int | None = None
                       ) -> tuple[bytes, str]:
        fd, st = self._open(path)
        try:
            return _pread(fd, st.st_size, path, start, stop, None), _version(st)
        finally:
            os.close(fd)

    def stat(self, path: str) -> Stat | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            try:
                st = os.lstat(path)  # a dangling link is something at the name
            except FileNotFoundError:
                return None
        except OSError as err:
            raise storage_error(err, path, "look at") from None
        return Stat(st.st_size, stat_mod.S_ISDIR(st.st_mode), _version(st))

    def list(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []

    # -- writing ---------------------------------------------------------------------

    def makedirs(self, path: str) -> None:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as err:
            raise storage_error(err, path, "make the directory") from None

    def _aside(self, path: str, data: bytes | memoryview) -> str:
        """``data`` written to a fresh file beside ``path``; its name."""
        tmp = temp_name(path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileNotFoundError:
            self.makedirs(os.path.dirname(path))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except OSError as err:
            raise storage_error(err, path, "write") from None
        try:
            view = memoryview(data).cast("B")
            while view:
                view = view[os.write(fd, view):]
        except OSError as err:
            os.close(fd)
            _unlink(tmp)
            raise storage_error(err, path, "write") from None
        except BaseException:
            os.close(fd)
            _unlink(tmp)
            raise
        os.close(fd)
        return tmp

    def write(self, path: str, data: bytes | memoryview) -> None:
        tmp = self._aside(path, data)
        try:
            os.replace(tmp, path)
        except OSError as err:
            _unlink(tmp)
            raise storage_error(err, path, "write") from None

    def create(self, path: str, data: bytes) -> bool:
        tmp = self._aside(path, data)
        try:
            os.link(tmp, path)  # fails if anything (a dangling link, a FIFO) has the name
            return True
        except FileExistsError:
            return False
        except OSError as err:
            raise storage_error(err, path, "create") from None
        finally:
            _unlink(tmp)

    def replace(self, path: str, data: bytes, version: str) -> bool:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return False
        except OSError as err:
            raise storage_error(err, path, "replace") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # under the lock, the name must still be the file locked, at the version given
            try:
                now = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                return False
            held = os.fstat(fd)
            if (now.st_ino, now.st_dev) != (held.st_ino, held.st_dev) or \
                    _version(held) != version:
                return False
            self.write(path, data)
            return True
        finally:
            os.close(fd)  # releases the lock

    def remove(self, path: str) -> None:
        _unlink(path)

    def remove_tree(self, path: str) -> None:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            _unlink(path)

    # -- directories: what only a file system can do ----------------------------------

    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` (replacing a file, or an empty directory, there)."""
        try:
            os.replace(src, dst)
        except OSError as err:
            raise storage_error(err, dst, "rename onto") from None

    def exchange(self, a: str, b: str) -> bool:
        """Exchange ``a`` and ``b`` atomically; False where the system or file system cannot."""
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            call = libc.renameat2
        except (OSError, AttributeError):
            return False
        if call(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return True
        code = ctypes.get_errno()
        if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            return False
        raise storage_error(OSError(code, os.strerror(code)), b, "exchange")

    def pin(self, directory: str) -> PinnedDirectory:
        """Hold ``directory`` open, so that paths through the pin reach it whatever happens
        to its name (see :class:`PinnedDirectory`)."""
        return PinnedDirectory(directory)

    # -- for libraries ---------------------------------------------------------------

    def open_binary(self, path: str) -> BinaryIO:
        return os.fdopen(self._open(path)[0], "rb")

    def zarr_store(self, path: str, read_only: bool) -> Any:
        import zarr.storage

        return zarr.storage.LocalStore(path, read_only=read_only)


class PinnedDirectory:
    """A directory held open: ``/proc/self/fd/N`` names it for every call of this process.

    A write that resolved its target's parent once works through the pin, so
    if the parent's path is later swapped for a link elsewhere, the write
    still lands in (and only in) the directory it checked.  :meth:`moved`
    says whether the path now names another directory.  Where ``/proc`` is
    missing, the pin is the path itself.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        try:
            self.fd: int | None = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            raise storage_error(err, directory, "open the directory") from None
        through = f"/proc/self/fd/{self.fd}"
        self.path = through if os.path.isdir(through) else directory

    def join(self, name: str) -> str:
        return os.path.join(self.path, name)

    def moved(self) -> bool:
        """Whether the directory's path now names another directory (or nothing)."""
        if self.fd is None:
            return False
        held = os.fstat(self.fd)
        try:
            now = os.stat(self.directory)
        except OSError:
            return True
        return (now.st_ino, now.st_dev) != (held.st_ino, held.st_dev)

    def close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def __enter__(self) -> PinnedDirectory:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _pread(fd: int, size: int, path: str, start: int, stop: int | None,
           limit: int | None) -> bytes:
    if limit is not None and size > limit:
        raise StorageError(errno.EFBIG, f"{path!r} holds {size} bytes, more than the "
                                        f"{limit} expected; it is not what it should be")
    lo = max(size + start, 0) if start < 0 else min(start, size)
    hi = size if stop is None else min(stop, size)
    if hi <= lo:
        return b""
    data = os.pread(fd, hi - lo, lo)
    if len(data) < hi - lo:  # a large read comes in parts; an early end is a file cut short
        parts = [data]
        done = len(data)
        while done < hi - lo:
            part = os.pread(fd, hi - lo - done, lo + done)
            if not part:
                raise StorageError(errno.EIO, f"{path!r} was shortened while it was read")
            parts.append(part)
            done += len(part)
        data = b"".join(parts)
    return data


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


__all__ = ["LocalBackend", "PinnedDirectory", "storage_error", "temp_name"]

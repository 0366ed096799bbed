"""One writer per target: a claim file beside the target naming its holder.

The claim is a small JSON file ``.NAME.lazyseries-claim`` next to the
target, made atomically (written aside, then hard-linked into place, which
fails if a claim exists), so a reader of it always sees a whole record.  It
names the holder: process id, host, the process's start time and the write's
id.  A second writer fails at once with :class:`~pipeline.errors.TargetBusyError`
naming the holder.  A claim whose process is gone from this host (or whose
pid now belongs to a younger process) is stale and broken; a claim from
another host cannot be checked from here and is reported with the file to
remove by hand if its writer is known to be dead.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from pipeline.errors import TargetBusyError

SUFFIX = ".lazyseries-claim"


def claim_path(target: str) -> str:
    """The claim file of the local ``target``."""
    parent, name = os.path.split(target)
    return os.path.join(parent, f".{name}{SUFFIX}")


def _start_ticks(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (Linux), to tell reused pids apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


@dataclass(frozen=True)
class Claim:
    """A held claim on ``target``; :meth:`release` gives it back."""

    target: str
    path: str
    write_id: str

    def holds(self) -> bool:
        """Whether this claim is still the one on disk (nobody broke it)."""
        record = _read(self.path)
        return record is not None and record.get("write_id") == self.write_id

    def release(self) -> None:
        if self.holds():
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)


def _record(target: str, write_id: str) -> dict[str, Any]:
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "start_ticks": _start_ticks(pid),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "write_id": write_id,
            "target": target}


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable: treated as held by an unknown writer
    return record if isinstance(record, dict) else {}


def is_stale(record: dict[str, Any]) -> bool:
    """Whether the claim's holder is known to be gone (only decidable on its own host)."""
    if record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return False
    pid = record["pid"]
    if not _alive(pid):
        return True
    ticks = record.get("start_ticks")
    return ticks is not None and _start_ticks(pid) not in (None, ticks)


def describe(record: dict[str, Any]) -> str:
    if not record:
        return "an unknown writer (the claim file is unreadable)"
    return (f"process {record.get('pid')!r} on host {record.get('host')!r}, started "
            f"{record.get('started')!r}")


def acquire(target: str) -> Claim:
    """Claim ``target`` for this process, breaking a stale claim; raise if it is held."""
    path = claim_path(target)
    write_id = uuid.uuid4().hex
    record = _record(target, write_id)
    for _ in range(5):
        if _try_create(path, record):
            return Claim(target, path, write_id)
        holder = _read(path)
        if holder is None:
            continue  # released meanwhile
        if not is_stale(holder):
            raise TargetBusyError(
                f"{target!r} is being written by {describe(holder)}; wait for it to finish, "
                f"or write elsewhere (if that writer is dead, remove {path!r})"
            )
        _break(path, holder)
    raise TargetBusyError(f"{target!r}: could not claim it, other writers keep claiming it")


def _try_create(path: str, record: dict[str, Any]) -> bool:
    aside = f"{path}.{record['write_id']}"
    with open(aside, "w", encoding="utf-8") as fh:
        json.dump(record, fh)
    try:
        os.link(aside, path)  # atomic, and fails if a claim exists
        return True
    except FileExistsError:
        return False
    except FileNotFoundError:  # the holder cleared it as a dead writer's leftover
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(aside)


def clear_leftovers(target: str) -> None:
    """Remove half-made claim files a killed writer left (call only while holding the claim)."""
    import glob

    for path in glob.glob(glob.escape(claim_path(target)) + ".*"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _break(path: str, stale: dict[str, Any]) -> None:
    """Remove the stale claim ``stale``, and only it (another breaker may have replaced it)."""
    aside = f"{path}.broken-{uuid.uuid4().hex}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    moved = _read(aside)
    if moved is not None and moved.get("write_id") != stale.get("write_id"):
        # a live writer's fresh claim: put it back
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
    os.remove(aside)

"""One writer per target: a claim object beside the target naming its holder.

The claim is a small JSON object ``.NAME.lazyseries-claim`` next to the
target, made by an exclusive create (a hard link on a file system, a
conditional ``If-None-Match`` put on an object store), so a reader of it
always sees a whole record.  It names the holder: host, process id, the
process's start time and the write's id.  A second writer fails at once with
:class:`~pipeline.errors.TargetBusyError` naming the holder.  A claim whose
process is gone from this host is stale and taken over by one conditional
replace (so of two writers breaking it, one wins); a claim from another host
cannot be checked from here and is reported with the object to remove by hand
if its writer is known to be dead.

What is at the claim's name is never trusted: it is read without following a
link, without blocking (a FIFO), and only up to a few kilobytes.
"""

from __future__ import annotations

import errno
import hashlib
import json
import time
import uuid
import warnings
from dataclasses import dataclass
from typing import Any

from pipeline import liveness
from pipeline.errors import StorageError, TargetBusyError, UnsafeStoreWarning
from pipeline.storage import Location

SUFFIX = ".lazyseries-claim"
RECORD_LIMIT = 4096
"""A claim record is a few hundred bytes; anything larger at its name is not one."""
NAME_MAX = 255


def sibling_name(name: str, suffix: str) -> str:
    """``.NAME<suffix>``, shortened (with a hash of the name) where it would pass 255 bytes."""
    full = f".{name}{suffix}"
    if len(full.encode()) <= NAME_MAX:
        return full
    digest = hashlib.sha1(name.encode()).hexdigest()[:16]
    return f".{name.encode()[:160].decode(errors='ignore')}~{digest}{suffix}"


def claim_location(target: Location) -> Location:
    """Where the claim of ``target`` lives."""
    return target.sibling(sibling_name(target.name, SUFFIX))


@dataclass(eq=False)  # one claim is itself only: kept in a set by identity
class Claim:
    """A held claim on ``target``; :meth:`release` gives it back (once)."""

    target: Location
    location: Location
    write_id: str
    released: bool = False

    def holds(self) -> bool:
        """Whether this claim is still the one in place (nobody broke it)."""
        record, _ = _read(self.location)
        return record is not None and record.get("write_id") == self.write_id

    def release(self) -> None:
        if not self.released and self.holds():
            self.location.remove()
        self.released = True
        _HELD.discard(self)

    def drop(self) -> None:
        """:meth:`release` for a finalizer: a write task dropped unrun, perhaps at exit, when
        the store may be unreachable (the claim is then stale: the next writer breaks it)."""
        try:
            self.release()
        except Exception:  # noqa: BLE001  (a finalizer must not raise)
            pass


_HELD: set[Claim] = set()
"""Claims this process holds: given back by :func:`release_held` when it is interrupted."""


def release_held() -> None:
    """Give back every claim this process holds (Ctrl-C on the command line, which ends the
    process at once): a claim a live process left would hold its target until it ends."""
    for claim in list(_HELD):
        claim.drop()


def _record(target: Location, write_id: str) -> bytes:
    host, pid, ticks = liveness.me()
    return json.dumps({"pid": pid, "host": host, "start_ticks": ticks,
                       "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "write_id": write_id,
                       "target": target.url}).encode()


def _read(location: Location) -> tuple[dict[str, Any] | None, str | None]:
    """The claim record at ``location`` and its version; ``(None, None)`` if there is none.

    Raises :class:`~pipeline.errors.TargetBusyError` when what is there is not a
    claim this project wrote (a link, a FIFO, a device, something large).
    """
    found = location.stat()
    if found is None:
        return None, None
    try:
        data, version = location.read(limit=RECORD_LIMIT, follow=False), found.version
    except FileNotFoundError:
        return None, None
    except StorageError as err:
        raise TargetBusyError(
            f"{location.text!r} is not a claim this project wrote ({err.strerror or err}); "
            "if no writer of the target is running, remove it, then write again") from None
    try:
        record = json.loads(data)
    except ValueError:
        return {}, version  # half-written by a writer of another version: held by someone
    return (record if isinstance(record, dict) else {}), version


def describe(record: dict[str, Any]) -> str:
    if not record:
        return "an unknown writer (the claim is unreadable)"
    return (f"process {record.get('pid')!r} on host {record.get('host')!r}, started "
            f"{record.get('started')!r}")


def _verify(claim: Claim, record: bytes, unsafe: bool) -> None:
    """Refuse a backend on which two writers could both hold one claim."""
    backend = claim.location.backend
    exclusive = backend.conditional or backend.process_local
    if exclusive and not claim.location.create(record):
        return
    why = ("ignores conditional writes (a second If-None-Match create of the claim succeeded)"
           if exclusive else "offers no conditional writes")
    if unsafe:
        warnings.warn(UnsafeStoreWarning(
            f"{claim.target.text!r}: the store {why}; writing anyway as asked "
            "(unsafe_conditional_writes=True): two writers of this target may mix their "
            "versions"), stacklevel=4)
        return
    claim.location.remove()
    raise StorageError(errno.ENOTSUP, f"{claim.target.text!r}: the object store {why}, so one "
                       "writer at a time cannot be guaranteed and the write is refused; use a "
                       "store that honours If-None-Match and If-Match, or pass "
                       "unsafe_conditional_writes=True if you are sure no one else writes it")


def is_stale(record: dict[str, Any]) -> bool:
    """Whether the claim's holder is known to be gone (only decidable on its own host)."""
    return liveness.gone(record.get("host"), record.get("pid"), record.get("start_ticks"))


def acquire(target: Location, verify: bool = False, unsafe: bool = False) -> Claim:
    """Claim ``target`` for this process, taking over a stale claim; raise if it is held.

    ``verify`` (object stores): the backend's exclusive create is put to the test
    once the claim is made (a second create of it must fail), and a backend whose
    creates are not exclusive is refused, unless ``unsafe`` (then with a warning).
    """
    location = claim_location(target)
    write_id = uuid.uuid4().hex
    record = _record(target, write_id)
    for _ in range(5):
        try:
            made = location.create(record)
        except OSError as err:
            raise type(err)(err.errno, f"cannot claim {target.text!r} for writing: "
                            f"{err.strerror or err}") from None
        if made:
            claim = _held(Claim(target, location, write_id))
            if verify:
                _verify(claim, record, unsafe)
            return claim
        holder, version = _read(location)
        if holder is None:
            continue  # released meanwhile
        if not is_stale(holder):
            raise TargetBusyError(
                f"{target.text!r} is being written by {describe(holder)}; wait for it to "
                f"finish, or write elsewhere (if that writer is dead, remove "
                f"{location.text!r})")
        assert version is not None
        if location.replace(record, version):  # of two writers taking it over, one wins
            return _held(Claim(target, location, write_id))
    raise TargetBusyError(f"{target.text!r}: could not claim it, other writers keep claiming "
                          f"it ({location.text!r})")


def _held(claim: Claim) -> Claim:
    _HELD.add(claim)
    return claim


__all__ = ["Claim", "acquire", "claim_location", "describe", "is_stale", "release_held",
           "sibling_name"]

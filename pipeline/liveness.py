"""Whether a process that left something behind (a claim, a scratch entry) still runs.

One rule for every owner record: a process is named by its host, its pid and
its start time (clock ticks since boot, from ``/proc``; psutil's create time
where there is no ``/proc``), so a pid the system has reused for a younger
process does not pass for the dead one.  Only processes of this host can be
judged; another host's are assumed alive.
"""

from __future__ import annotations

import os
import socket


def host() -> str:
    """This machine's name, as owner records give it."""
    return socket.gethostname()


def start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), None if it is gone, 0 if it runs
    but its start cannot be read here."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            # the command name (field 2) may hold spaces and parentheses: split after it
            return int(fh.read().rsplit(b")", 1)[1].split()[19])
    except FileNotFoundError:
        return None
    except (OSError, IndexError, ValueError):
        pass
    try:
        import psutil

        return int(psutil.Process(pid).create_time() * 100)
    except ImportError:
        return 0 if _signalable(pid) else None
    except Exception:  # noqa: BLE001  (psutil.NoSuchProcess and friends: it is gone)
        return None


def _signalable(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def gone(owner_host: object, pid: object, ticks: object) -> bool:
    """Whether the owner ``(host, pid, start ticks)`` is known to have died.

    False for another host's process (it cannot be checked from here) and for
    a record that does not name a process; ``ticks`` None or 0 means the start
    was not recorded, and the pid alone decides.
    """
    if owner_host != host() or isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    now = start_ticks(pid)
    if now is None:
        return True
    return isinstance(ticks, int) and ticks != 0 and now != 0 and now != ticks


def me() -> tuple[str, int, int]:
    """This process as an owner: ``(host, pid, start ticks)``."""
    pid = os.getpid()
    return host(), pid, start_ticks(pid) or 0


__all__ = ["gone", "host", "me", "start_ticks"]

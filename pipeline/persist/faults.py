"""A pause at a named phase of a write, so fault-injection tests can kill it exactly there.

Set ``LAZYSERIES_PAUSE_AT`` to a phase name (``staged``, ``metadata``,
``array``, ``placed``, ``chunks``, ``complete``, ``swap``, ``blocks``,
``encoded``); a writer reaching that phase touches the file named by
``LAZYSERIES_PAUSE_FILE`` (if set) and sleeps, waiting to be killed.  Unset,
:func:`phase` costs one dictionary lookup.
"""

from __future__ import annotations

import os
import time

PAUSE_AT = "LAZYSERIES_PAUSE_AT"
PAUSE_FILE = "LAZYSERIES_PAUSE_FILE"


def phase(name: str) -> None:
    """Mark that a write reached phase ``name``; pause there if asked to."""
    if os.environ.get(PAUSE_AT) != name:
        return
    marker = os.environ.get(PAUSE_FILE)
    if marker:
        with open(marker, "w", encoding="utf-8") as fh:
            fh.write(name)
    time.sleep(float(os.environ.get("LAZYSERIES_PAUSE_SECONDS", "120")))

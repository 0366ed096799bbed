"""How user code travels to dask workers: by reference where installed, by value otherwise.

A dask worker unpickles what the client pickled.  A function defined in a
notebook, a script or a module only the client has cannot be imported there,
so it must travel by value (cloudpickle, which dask already uses).  Code that
a fresh interpreter of the same environment imports (lazyseries itself, the
standard library, installed distributions) travels by reference, as pickle
does by default.

Unpickling here never raises: a worker that fails to unpickle a message
closes its connection to the scheduler, and dask.distributed then waits for
workers that never come back.  :func:`loads` returns the error instead, for
the caller to raise when the object is *used*, as an ordinary task error.
"""

from __future__ import annotations

import os
import pickle
import site
import sys
import sysconfig
import threading
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

_LAZYSERIES = frozenset({"ops", "pipeline"})
_LOCK = threading.RLock()  # registration by value is process-wide state; re-entered when nested


@cache
def _install_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths.get(key, "") for key in ("purelib", "platlib", "stdlib", "platstdlib")}
    dirs.update(getattr(site, "getsitepackages", list)())
    dirs.add(site.getusersitepackages())
    return tuple(sorted(os.path.realpath(d) for d in dirs if d))


def installed(module_name: str) -> bool:
    """True when a fresh interpreter of this environment imports ``module_name``."""
    top = module_name.partition(".")[0]
    if top in _LAZYSERIES or top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return True
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if module is None or module_name == "__main__" or not path:
        return False
    real = os.path.realpath(path)
    return any(real.startswith(d + os.sep) for d in _install_dirs())


def _referenced(objs: Iterable[Any]) -> Iterator[Any]:
    """``objs``, what they wrap and what their closures hold (one level): whose module counts."""
    for obj in objs:
        yield obj
        wrapped = getattr(obj, "__wrapped__", None)
        if wrapped is not None:
            yield wrapped
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                yield cell.cell_contents
            except ValueError:  # an empty cell
                continue


def _module_of(obj: Any) -> str | None:
    if isinstance(obj, type) or callable(obj) and hasattr(obj, "__code__"):
        return getattr(obj, "__module__", None)
    return type(obj).__module__


def dumps(obj: Any, carry: Iterable[Any] = (), buffers: list[Any] | None = None) -> bytes:
    """Pickle ``obj``; the modules of ``carry`` that are not installed travel by value.

    Parameters
    ----------
    obj
        What to pickle.
    carry
        Callables and values whose defining modules decide what travels by
        value (with their closures and ``__wrapped__`` functions).
    buffers
        When given, large array buffers are appended to it (pickle protocol
        5, out of band) instead of being copied into the payload: pass them
        to :func:`loads` with it.
    """
    import cloudpickle  # a dependency of dask itself

    names = {_module_of(o) for o in _referenced(carry)}
    by_value = [sys.modules[n] for n in sorted(n for n in names if n) if n != "__main__"
                and n in sys.modules and not installed(n)]
    with _LOCK:
        registered = cloudpickle.list_registry_pickle_by_value()
        added = [m for m in by_value if m.__name__ not in registered]
        for module in added:
            cloudpickle.register_pickle_by_value(module)
        try:
            return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL,
                                     buffer_callback=None if buffers is None else buffers.append)
        finally:
            for module in added:
                cloudpickle.unregister_pickle_by_value(module)


def loads(payload: bytes, buffers: Iterable[Any] = ()) -> tuple[Any, str | None]:
    """``(object, None)``, or ``(None, reason)`` when it cannot be unpickled here."""
    try:
        return pickle.loads(payload, buffers=buffers), None
    except Exception as err:  # noqa: BLE001  (any failure becomes an error at use time)
        return None, f"{type(err).__name__}: {err}"

"""Errors raised by the operations.

Each error refines one built-in family a caller would already catch, so
``except KeyError`` still works for an unknown op name.  Each declares
``exit_code``, the command line's exit status for it: 2 for bad input, 1 for a
failure while computing.
"""

from __future__ import annotations


class UnknownOpError(KeyError):
    """An op name that no registry knows."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class OpParameterError(ValueError):
    """A parameter an op cannot take, found when the op is added to a chain, or an oplist
    entry that is not an op at all."""

    exit_code = 2


class OpResultError(RuntimeError):
    """An op returned frames of another shape or dtype than it declared."""

    exit_code = 1


class OpUnavailableError(RuntimeError):
    """An op that reached a process which cannot run it (a dask worker, say).

    Its function did not unpickle there, or no op of its name is registered
    there.  Raised when the op is used, so that it reaches the client as the
    task's error instead of killing the worker while its task is unpickled.
    """

    exit_code = 1


class RegistrationError(ValueError):
    """An op or format that cannot be registered: its name is taken (pass ``replace=True``),
    or what was offered is not a declaration of that name (an entry point that loads
    something else, a format class without ``name`` or ``open``)."""

    exit_code = 1


class MissingDependencyError(ImportError):
    """An optional dependency that is not installed; the message names it and the extra.

    Parameters
    ----------
    package
        The module that did not import (also the ImportError's ``name``).
    extra
        The lazyseries extra that installs it.
    purpose
        What it was needed for.
    """

    exit_code = 1

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        what = f" for {purpose}" if purpose else ""
        super().__init__(
            f"{package!r} is needed{what} but is not installed; install it with: "
            f"pip install 'lazyseries[{extra}]'", name=package)
        self.package, self.extra, self.purpose = package, extra, purpose

    def __reduce__(self) -> tuple[object, ...]:  # ImportError's would pass only the message
        return type(self), (self.package, self.extra, self.purpose)

"""What ops see and say: frame specs, regions, parameter values and the errors about them.

The bottom of the ``ops`` package: it imports nothing of it but its errors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from ops.errors import OpParameterError, OpResultError

Region = tuple[tuple[int, int], ...]
"""A rectangle over every axis of a frame: one ``(start, stop)`` pair per axis."""

BlockFunc = Callable[[np.ndarray, Any], np.ndarray]


@dataclasses.dataclass(frozen=True)
class FrameSpec:
    """Shape and dtype of one frame: what an op sees and what it produces.

    ``axes`` names the frame's axes (``"CZYX"``) and ``channels`` its channels, where the
    series knows them: ops that act on a named axis find it there.  Two specs are equal
    when shape and dtype are.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    axes: str | None = dataclasses.field(default=None, compare=False)
    channels: tuple[str, ...] | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        object.__setattr__(self, "dtype", np.dtype(self.dtype))
        if self.axes is not None and len(self.axes) != len(self.shape):
            object.__setattr__(self, "axes", None)  # names that do not fit are no names
        if self.channels is not None:
            object.__setattr__(self, "channels", tuple(str(c) for c in self.channels))

    @property
    def full_region(self) -> Region:
        return tuple((0, n) for n in self.shape)


class Drop:
    """Returned by a ``crop`` hook when the op disappears once cropped (a rectangle)."""

    def __repr__(self) -> str:
        return "DROP"


DROP = Drop()


def param_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(param_equal(x, y) for x, y in zip(a, b))
    return bool(a == b)


def param_key(p: Any) -> Any:
    if isinstance(p, np.ndarray):
        return (p.shape, p.dtype.str)
    if isinstance(p, tuple | list):
        return tuple(param_key(x) for x in p)
    return p


def param_repr(p: Any) -> str:
    if isinstance(p, np.ndarray):
        return f"<array {p.shape} {p.dtype}>"
    return repr(p)


def check_result(op: Any, out: np.ndarray, expected: FrameSpec, n: int) -> None:
    """Raise if ``op`` produced frames other than the spec it declared."""
    if out.dtype != expected.dtype or out.ndim != len(expected.shape) + 1 or out.shape[0] != n:
        raise OpResultError(
            f"op {op.name!r} returned an array of shape {out.shape} and dtype {out.dtype}, "
            f"but declared frames of shape {expected.shape} and dtype {expected.dtype} "
            f"for a block of {n}; give register() a resolve= that says what it returns"
        )


def param_error(op: str, message: str) -> OpParameterError:
    return OpParameterError(f"op {op!r}: {message}")

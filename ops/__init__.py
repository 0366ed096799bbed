"""Operations on frames: pure functions on blocks of frames plus what they declare.

The built-in ops are registered here, in one place, so what is registered does
not depend on import order.  Register your own with::

    @ops.register("gain")
    def gain(block, factor):
        return block * factor
"""

from __future__ import annotations

from ops.errors import (
    MissingDependencyError,
    OpParameterError,
    OpResultError,
    OpUnavailableError,
    RegistrationError,
    UnknownOpError,
)
from ops.filters import GAUSS_LAPLACE
from ops.geometry import ADD_COLUMN, ADD_ROW, FLIP, FLIPS, RECTANGLE
from ops.intensity import ADD, ASTYPE, DARK
from ops.optional import require
from ops.registry import (
    DROP,
    FrameSpec,
    Op,
    OpKind,
    Region,
    Registry,
    add_portable,
    lookup,
    per_frame,
    register,
    registry,
)
from ops.selection import CHANNEL, MAX_PROJECTION, MEAN_PROJECTION, Z

BUILTINS: tuple[OpKind, ...] = (FLIP, DARK, RECTANGLE, ADD, ADD_ROW, ADD_COLUMN, ASTYPE,
                                GAUSS_LAPLACE, CHANNEL, Z, MAX_PROJECTION, MEAN_PROJECTION)

for _kind in BUILTINS:
    add_portable(_kind)
del _kind

__all__ = [
    "BUILTINS",
    "DROP",
    "FLIPS",
    "FrameSpec",
    "MissingDependencyError",
    "Op",
    "OpKind",
    "OpParameterError",
    "OpResultError",
    "OpUnavailableError",
    "Region",
    "RegistrationError",
    "Registry",
    "UnknownOpError",
    "lookup",
    "per_frame",
    "register",
    "registry",
    "require",
]

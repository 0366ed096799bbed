"""Geometric ops: they act on the last two axes of a frame (rows, columns).

Each declares how a region of its output maps back to its input, so that a
crop later in a chain is read from the source instead of cut from full frames.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ops.registry import DROP, FrameSpec, OpKind, Region, param_error

# code -> (transpose, reverse rows, reverse columns), applied in that order.
# hexrd's semantics: "v" flips about the vertical axis (columns reversed),
# "r90" is a counter-clockwise quarter turn (numpy's rot90).
FLIPS: dict[str, tuple[bool, bool, bool]] = {
    "none": (False, False, False),
    "v": (False, False, True),
    "y": (False, False, True),
    "h": (False, True, False),
    "x": (False, True, False),
    "vh": (False, True, True),
    "hv": (False, True, True),
    "r180": (False, True, True),
    "t": (True, False, False),
    "T": (True, False, False),
    "r90": (True, True, False),
    "ccw90": (True, True, False),
    "r270": (True, False, True),
    "cw90": (True, False, True),
}


def _parse_flip(code: Any) -> str:
    if code is None:
        return "none"
    if not isinstance(code, str) or code not in FLIPS:
        raise param_error("flip", f"unknown flip code {code!r}; valid codes are {list(FLIPS)}")
    return code


def flip(block: np.ndarray, code: str) -> np.ndarray:
    """Reorient frames: flip, transpose or rotate by a quarter turn (a view)."""
    transpose, rows, cols = FLIPS[code]
    if transpose:
        block = np.swapaxes(block, -1, -2)
    if rows:
        block = block[..., ::-1, :]
    if cols:
        block = block[..., ::-1]
    return block


def _resolve_flip(code: str, spec: FrameSpec) -> FrameSpec:
    if FLIPS[code][0]:
        return FrameSpec((*spec.shape[:-2], spec.shape[-1], spec.shape[-2]), spec.dtype)
    return spec


def _crop_flip(code: str, spec: FrameSpec, region: Region) -> tuple[Region, str]:
    transpose, rows, cols = FLIPS[code]
    out = _resolve_flip(code, spec).shape
    (r0, r1), (c0, c1) = region[-2:]
    if rows:
        r0, r1 = out[-2] - r1, out[-2] - r0
    if cols:
        c0, c1 = out[-1] - c1, out[-1] - c0
    if transpose:
        (r0, r1), (c0, c1) = (c0, c1), (r0, r1)
    return (*region[:-2], (r0, r1), (c0, c1)), code


def _flip_axes(code: str, ndim: int) -> tuple[int, ...]:
    lead = tuple(range(ndim - 2))
    return (*lead, ndim - 1, ndim - 2) if FLIPS[code][0] else (*lead, ndim - 2, ndim - 1)


FLIP = OpKind(
    "flip", flip, parse=_parse_flip, resolve=_resolve_flip, crop=_crop_flip, doc=flip.__doc__ or "",
    axes=_flip_axes,
)


_MAX_BOUND = 2**63 - 1


_RECTANGLE_FORM = ("expected rows then columns as two ranges of integers: ((row0, row1), (col0, "
                   "col1)), on the command line ROW0:ROW1,COL0:COL1")


def _bound(value: Any, rect: Any) -> int:
    """One rectangle bound: an integer (an integral float is taken), never a bool."""
    if isinstance(value, bool | np.bool_):
        raise param_error(
            "rectangle", f"bounds are integers, not bools: got {value!r} in {rect!r:.200}"
        )
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        value = int(value)
    try:
        bound = operator.index(value)
    except TypeError:
        raise param_error(
            "rectangle", f"{_RECTANGLE_FORM}, got {rect!r:.200}"
        ) from None
    if abs(bound) > _MAX_BOUND:
        raise param_error(
            "rectangle", f"bound {bound!r} of {rect!r:.200} is out of range; bounds are "
            f"integers within +-{_MAX_BOUND} (and within the frame)"
        )
    return bound


def _parse_rectangle(rect: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    try:
        arr = np.asarray(rect, dtype=object)
    except (TypeError, ValueError):
        arr = np.empty(0, dtype=object)
    if isinstance(rect, str | bytes) or arr.shape != (2, 2):
        raise param_error(
            "rectangle", f"{_RECTANGLE_FORM}, got {rect!r:.200}"
        )
    (r0, r1), (c0, c1) = ((_bound(v, rect) for v in pair) for pair in arr)
    return (r0, r1), (c0, c1)


def _validate_rectangle(
    rect: tuple[tuple[int, int], tuple[int, int]], spec: FrameSpec
) -> tuple[tuple[int, int], tuple[int, int]]:
    for (lo, hi), n, axis in zip(rect, spec.shape[-2:], ("rows", "columns")):
        if not 0 <= lo < hi <= n:
            raise param_error(
                "rectangle",
                f"{axis} ({lo}, {hi}) of {rect!r} fall outside a frame of shape {spec.shape}; "
                f"{axis} must satisfy 0 <= start < stop <= {n}",
            )
    return rect


def rectangle(block: np.ndarray, rect: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """The half-open sub-rectangle ``((row0, row1), (col0, col1))`` of each frame."""
    (r0, r1), (c0, c1) = rect
    return block[..., r0:r1, c0:c1]


def _resolve_rectangle(rect: tuple[tuple[int, int], ...], spec: FrameSpec) -> FrameSpec:
    (r0, r1), (c0, c1) = rect
    return FrameSpec((*spec.shape[:-2], r1 - r0, c1 - c0), spec.dtype)


def _crop_rectangle(rect: tuple[tuple[int, int], ...], spec: FrameSpec, region: Region) -> tuple:
    (r0, _), (c0, _) = rect
    (a, b), (c, d) = region[-2:]
    return (*region[:-2], (r0 + a, r0 + b), (c0 + c, c0 + d)), DROP


RECTANGLE = OpKind(
    "rectangle",
    rectangle,
    parse=_parse_rectangle,
    validate=_validate_rectangle,
    resolve=_resolve_rectangle,
    crop=_crop_rectangle,
    doc=rectangle.__doc__ or "",
)


def _insert_kind(name: str, axis: int) -> OpKind:
    """``add-row`` / ``add-column``: a zero line inserted before index ``idx``."""
    label = "row" if axis == -2 else "column"

    def parse(idx: Any) -> int:
        error = param_error(
            name, f"expected an integer {label} index (not a bool), got {idx!r:.80}"
        )
        if isinstance(idx, bool | np.bool_):
            raise error
        try:
            return operator.index(idx)
        except TypeError:
            raise error from None

    def validate(idx: int, spec: FrameSpec) -> int:
        n = spec.shape[axis]
        if not 0 <= idx <= n:
            raise param_error(
                name, f"{label} index {idx!r} is outside 0..{n} for a frame of shape {spec.shape}"
            )
        return idx

    def func(block: np.ndarray, idx: int) -> np.ndarray:
        return np.insert(block, idx, 0, axis=axis)

    def resolve(idx: int, spec: FrameSpec) -> FrameSpec:
        shape = list(spec.shape)
        shape[axis] += 1
        return FrameSpec(tuple(shape), spec.dtype)

    def crop(idx: int, spec: FrameSpec, region: Region) -> tuple[Region, Any]:
        out = list(region)
        lo, hi = region[axis]
        if hi <= idx:  # entirely before the inserted line
            return tuple(out), DROP
        if lo > idx:  # entirely after it
            out[axis] = (lo - 1, hi - 1)
            return tuple(out), DROP
        out[axis] = (lo, hi - 1)
        return tuple(out), idx - lo

    func.__doc__ = f"A {label} of zeros inserted at the given index."
    return OpKind(name, func, parse=parse, validate=validate, resolve=resolve, crop=crop,
                  doc=func.__doc__)


ADD_ROW = _insert_kind("add-row", -2)
ADD_COLUMN = _insert_kind("add-column", -1)

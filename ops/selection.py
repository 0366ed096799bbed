"""Ops on the leading axes of a frame: select channels or z planes, project along an axis.

A microscopy frame is ``(C, Z, Y, X)`` or part of it; these ops find the
axis by its name in the incoming frame spec (:attr:`FrameSpec.axes`) and
channels by their names (:attr:`FrameSpec.channels`), when the op joins a
chain.  The parameter a caller gives (``"GFP"``, ``[0, 2]``, ``"z"``) is
resolved then into the form the op runs with and a chain records:
``(letter, position, index)`` for a selection, ``(letter, position)`` for a
projection, ``position`` counting the frame's axes from 0.  That form is
accepted as a parameter too, so a recorded chain replays as it ran.

A single index drops the axis (numpy's ``a[i]``); a list keeps it.  A crop of
rows and columns passes through all four, and a selection reads only the
planes it keeps.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ops.registry import OpKind
from ops.spec import FrameSpec, Region, param_error

Index = int | tuple[int, ...]


def _is_resolved(param: Any, letter: str, size: int) -> bool:
    return (isinstance(param, tuple | list) and len(param) == size
            and isinstance(param[0], str) and param[0] == letter
            and isinstance(param[1], int) and not isinstance(param[1], bool))


def _integer(op: str, value: Any, param: Any) -> int:
    if isinstance(value, bool | np.bool_):
        raise param_error(op, f"indices are integers, not bools: got {param!r:.80}")
    try:
        return operator.index(value)
    except TypeError:
        raise param_error(op, f"expected an integer, got {value!r:.80} in {param!r:.80}") from None


def _position(op: str, letter: str, spec: FrameSpec) -> int:
    """Where axis ``letter`` is among the frame's axes; an error naming them when absent."""
    if spec.axes is None:
        raise param_error(op, f"frames of shape {spec.shape} whose axes are not named: name "
                          "them (from_array(..., axes='TCZYX'), or a format that records them)")
    if letter not in spec.axes[:-2]:
        raise param_error(op, f"frames of axes {spec.axes!r} have no {letter} axis")
    return spec.axes.index(letter)


def _parse_resolved(op: str, param: Any) -> tuple[str, int, Index]:
    """The recorded form ``(letter, position, index or indices)``, its values checked."""
    letter, at, index = param
    if isinstance(index, list | tuple):
        if not index:
            raise param_error(op, f"an empty list selects nothing: {param!r:.80}")
        return (letter, at, tuple(_integer(op, i, param) for i in index))
    return (letter, at, _integer(op, index, param))


def _at(op: str, letter: str, at: int, spec: FrameSpec) -> int:
    """Position ``at`` of a recorded parameter, checked against the frames it meets."""
    if not 0 <= at < len(spec.shape) - 2 or (spec.axes is not None and spec.axes[at] != letter):
        raise param_error(op, f"frames of shape {spec.shape} (axes {spec.axes!r}) have no "
                          f"{letter} axis at position {at}")
    return at


def _checked(op: str, letter: str, at: int, index: Index, spec: FrameSpec
             ) -> tuple[str, int, Index]:
    n = spec.shape[_at(op, letter, at, spec)]
    for i in (index,) if isinstance(index, int) else index:
        if not 0 <= i < n:
            raise param_error(op, f"{letter.lower()} index {i} is outside the {n} of frames "
                              f"{spec.shape} (axes {spec.axes!r}); valid: 0 to {n - 1}")
    return (letter, at, index)


def _without(spec: FrameSpec, at: int, shape: tuple[int, ...],
             channels: tuple[str, ...] | None) -> FrameSpec:
    axes = spec.axes if spec.axes is None or len(shape) == len(spec.shape) else \
        spec.axes[:at] + spec.axes[at + 1:]
    return FrameSpec(shape, spec.dtype, axes=axes, channels=channels)


# -- selection -------------------------------------------------------------------------------

def select(block: np.ndarray, param: tuple[str, int, Index]) -> np.ndarray:
    """The planes ``index`` of frame axis ``at`` (one: the axis dropped; a tuple: kept)."""
    _, at, index = param
    lead = (slice(None),) * (at + 1)
    return block[(*lead, index if isinstance(index, int) else list(index))]


def _resolve_select(param: tuple[str, int, Index], spec: FrameSpec) -> FrameSpec:
    letter, at, index = param
    shape = list(spec.shape)
    if isinstance(index, int):
        del shape[at]
    else:
        shape[at] = len(index)
    channels = None
    if letter == "C" and spec.channels is not None and not isinstance(index, int):
        channels = tuple(spec.channels[i] for i in index)
    return _without(spec, at, tuple(shape), channels if letter == "C" else spec.channels)


def _crop_select(param: tuple[str, int, Index], spec: FrameSpec, region: Region
                 ) -> tuple[Region, tuple[str, int, Index]]:
    letter, at, index = param
    if isinstance(index, int):  # only that plane is read
        return (*region[:at], (index, index + 1), *region[at:]), (letter, at, 0)
    lo, hi = region[at]
    kept = index[lo:hi]
    first = min(kept)
    return ((*region[:at], (first, max(kept) + 1), *region[at + 1:]),
            (letter, at, tuple(i - first for i in kept)))


def _select_axes(param: tuple[str, int, Index], ndim: int) -> tuple[int, ...]:
    _, at, index = param
    if isinstance(index, int):
        return tuple(i if i < at else i + 1 for i in range(ndim))
    return tuple(range(ndim))


def _parse_channel(param: Any) -> Any:
    if _is_resolved(param, "C", 3):
        return _parse_resolved("channel", param)
    items = param if isinstance(param, list | tuple) else [param]
    if not items or not all(isinstance(v, str) or not isinstance(v, bool | np.bool_)
                            and isinstance(v, int | np.integer) for v in items):
        raise param_error("channel", f"expected a channel (an index or a name) or a list of "
                          f"them, got {param!r:.80}")
    items = [v if isinstance(v, str) else int(v) for v in items]
    return tuple(items) if isinstance(param, list | tuple) else items[0]


def _validate_channel(param: Any, spec: FrameSpec) -> tuple[str, int, Index]:
    if _is_resolved(param, "C", 3):
        return _checked("channel", "C", param[1], param[2], spec)
    at = _position("channel", "C", spec)
    items = param if isinstance(param, tuple) else (param,)
    found = [_channel_index(v, spec) for v in items]
    return _checked("channel", "C", at, tuple(found) if isinstance(param, tuple) else found[0],
                    spec)


def _channel_index(value: int | str, spec: FrameSpec) -> int:
    if isinstance(value, int):
        return value
    names = spec.channels or ()
    if value not in names:
        known = (f"the channels are {list(names)}" if names
                 else "the frames' channels have no names")
        raise param_error("channel", f"no channel named {value!r}: {known}; give a name or an "
                          "index")
    return names.index(value)


def _parse_z(param: Any) -> Any:
    if _is_resolved(param, "Z", 3):
        return _parse_resolved("z", param)
    if isinstance(param, list | tuple):
        if len(param) != 2:
            raise param_error("z", f"expected a plane (an index) or [start, stop] (half-open), "
                              f"got {param!r:.80}")
        start, stop = (_integer("z", v, param) for v in param)
        if not 0 <= start < stop:
            raise param_error("z", f"[start, stop] needs 0 <= start < stop, got {param!r:.80}")
        return (start, stop)
    return _integer("z", param, param)


def _validate_z(param: Any, spec: FrameSpec) -> tuple[str, int, Index]:
    if _is_resolved(param, "Z", 3):
        return _checked("z", "Z", param[1], param[2], spec)
    at = _position("z", "Z", spec)
    if isinstance(param, tuple):
        start, stop = param
        if stop > spec.shape[at]:
            raise param_error("z", f"planes [{start}, {stop}) reach beyond the {spec.shape[at]} "
                              f"of frames {spec.shape} (axes {spec.axes!r})")
        return ("Z", at, tuple(range(start, stop)))
    return _checked("z", "Z", at, param, spec)


# -- projections ------------------------------------------------------------------------------

def _parse_axis(op: str) -> Any:
    def parse(param: Any) -> Any:
        if _is_resolved(param, "Z", 2) or _is_resolved(param, "C", 2):
            return (param[0], param[1])
        letter = "Z" if param is None else param
        if not isinstance(letter, str) or letter.upper() not in ("Z", "C"):
            raise param_error(op, f"project along 'z' or 'c', got {param!r:.80}")
        return letter.upper()
    return parse


def _validate_axis(op: str) -> Any:
    def validate(param: Any, spec: FrameSpec) -> tuple[str, int]:
        if isinstance(param, tuple):
            return (param[0], _at(op, param[0], param[1], spec))
        return (param, _position(op, param, spec))
    return validate


def max_projection(block: np.ndarray, param: tuple[str, int]) -> np.ndarray:
    """The brightest value along the axis, for every pixel (the frames' dtype)."""
    return block.max(axis=param[1] + 1)


def mean_projection(block: np.ndarray, param: tuple[str, int]) -> np.ndarray:
    """The mean along the axis, for every pixel: summed in float64, given in float32 (float64
    frames stay float64)."""
    out = block.mean(axis=param[1] + 1, dtype=np.float64)
    return out if block.dtype == np.float64 else out.astype(np.float32)


def _resolve_projection(dtype_of: Any) -> Any:
    def resolve(param: tuple[str, int], spec: FrameSpec) -> FrameSpec:
        letter, at = param
        shape = spec.shape[:at] + spec.shape[at + 1:]
        out = _without(spec, at, shape, None if letter == "C" else spec.channels)
        return FrameSpec(out.shape, dtype_of(spec.dtype), axes=out.axes, channels=out.channels)
    return resolve


def _crop_projection(param: tuple[str, int], spec: FrameSpec, region: Region
                     ) -> tuple[Region, tuple[str, int]]:
    at = param[1]
    return (*region[:at], (0, spec.shape[at]), *region[at:]), param


def _projection_axes(param: tuple[str, int], ndim: int) -> tuple[int, ...]:
    return tuple(i if i < param[1] else i + 1 for i in range(ndim))


def _mean_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


CHANNEL = OpKind(
    "channel", select, parse=_parse_channel, validate=_validate_channel,
    resolve=_resolve_select, crop=_crop_select, axes=_select_axes,
    doc="Channels by index or name: one drops the C axis, a list keeps it.")

Z = OpKind(
    "z", select, parse=_parse_z, validate=_validate_z, resolve=_resolve_select,
    crop=_crop_select, axes=_select_axes,
    doc="A z plane (the Z axis dropped), or planes [start, stop) (kept).")

MAX_PROJECTION = OpKind(
    "max-projection", max_projection, parse=_parse_axis("max-projection"),
    validate=_validate_axis("max-projection"), resolve=_resolve_projection(np.dtype),
    crop=_crop_projection, axes=_projection_axes, doc=max_projection.__doc__ or "")

MEAN_PROJECTION = OpKind(
    "mean-projection", mean_projection, parse=_parse_axis("mean-projection"),
    validate=_validate_axis("mean-projection"), resolve=_resolve_projection(_mean_dtype),
    crop=_crop_projection, axes=_projection_axes, doc=mean_projection.__doc__ or "")

__all__ = ["CHANNEL", "MAX_PROJECTION", "MEAN_PROJECTION", "Z", "max_projection",
           "mean_projection", "select"]

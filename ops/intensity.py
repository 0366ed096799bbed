"""Pixel-wise ops: the value of an output pixel depends on that pixel only."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ops.registry import FrameSpec, OpKind, Region, param_error


def _numeric_array(name: str, value: Any) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError):  # ragged nests, numbers beyond 64 bits
        arr = np.asarray(None)
    if arr.dtype.kind not in "iuf":  # bools are a mask, not values to subtract
        raise param_error(name, f"expected numbers (a number or an array of them; on the "
                                f"command line a number, a .npy or .tif file, or a statistic "
                                f"such as median:100), got {_kind(value, arr)} {value!r:.80}")
    return arr


def _kind(value: Any, arr: np.ndarray) -> str:
    """What ``value`` is, in words: text, booleans, or its type's name."""
    if isinstance(value, str | bytes) or arr.dtype.kind in "US":
        return "text"
    if arr.dtype.kind == "b":
        return "booleans (a mask, not values)"
    return type(value).__name__


def _crop_param(param: np.ndarray | float, region: Region) -> np.ndarray | float:
    """Crop an array parameter aligned on the frame's last axes (size-1 axes broadcast)."""
    if not isinstance(param, np.ndarray) or param.ndim == 0:
        return param
    index = tuple(
        slice(None) if n == 1 else slice(lo, hi)
        for n, (lo, hi) in zip(param.shape, region[len(region) - param.ndim :])
    )
    return param[index]


def _crop_pixelwise(param: Any, spec: FrameSpec, region: Region) -> tuple[Region, Any]:
    return region, _crop_param(param, region)


def _validate_dark(dark: np.ndarray, spec: FrameSpec) -> np.ndarray:
    if dark.shape not in (spec.shape, spec.shape[-2:]):
        valid = {spec.shape, spec.shape[-2:]}
        raise param_error(
            "dark",
            f"dark of shape {dark.shape} does not match frames of shape {spec.shape}; "
            f"expected one of {sorted(valid)}",
        )
    return dark


def dark(block: np.ndarray, dark: np.ndarray) -> np.ndarray:
    """Frame minus dark, negative results set to 0; unsigned integers never wrap around."""
    dtype = np.result_type(block.dtype, dark.dtype)
    if dtype.kind in "ub":
        # max(frame, dark) - dark is frame - dark where positive and 0 elsewhere
        out = np.maximum(block, dark, dtype=dtype)
        np.subtract(out, dark, out=out, dtype=dtype)
    else:
        out = np.subtract(block, dark, dtype=dtype)
        np.maximum(out, 0, out=out)
    return out


def _resolve_dark(dark: np.ndarray, spec: FrameSpec) -> FrameSpec:
    return FrameSpec(spec.shape, np.result_type(spec.dtype, dark.dtype))


DARK = OpKind(
    "dark",
    dark,
    parse=lambda value: _numeric_array("dark", value),
    validate=_validate_dark,
    resolve=_resolve_dark,
    crop=_crop_pixelwise,
    doc=dark.__doc__ or "",
)


def _parse_addend(value: Any) -> float | np.ndarray:
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        return float(value) if not isinstance(value, int | np.integer) else int(value)
    arr = _numeric_array("add", value)
    if arr.dtype.kind == "b":  # True + frame is frame + 1: almost surely not what was meant
        raise param_error("add", f"the addend is a number or a numeric array, not bools: "
                                 f"got {value!r:.80}")
    return arr[()] if arr.ndim == 0 else arr


def _validate_addend(addend: Any, spec: FrameSpec) -> Any:
    shape = np.shape(addend)
    try:
        ok = np.broadcast_shapes(spec.shape, shape) == spec.shape
    except ValueError:
        ok = False
    if not ok:
        raise param_error(
            "add", f"addend of shape {shape} does not broadcast to frames of shape {spec.shape}"
        )
    return addend


def _add_dtype(dtype: np.dtype) -> np.dtype:
    return dtype if dtype.kind == "f" else np.dtype(np.float32)


def add(block: np.ndarray, addend: Any) -> np.ndarray:
    """Frame plus a number or an array, in float32 unless the frames are already floating."""
    out = block.astype(_add_dtype(block.dtype))
    np.add(out, addend, out=out, casting="unsafe")
    return out


ADD = OpKind(
    "add",
    add,
    parse=_parse_addend,
    validate=_validate_addend,
    resolve=lambda addend, spec: FrameSpec(spec.shape, _add_dtype(spec.dtype)),
    crop=_crop_pixelwise,
    doc=add.__doc__ or "",
)


PIXEL_KINDS = "iuf"
"""What ``astype`` converts to: integers and floats."""


def _parse_dtype(value: Any) -> str:
    try:
        # None and True are not names numpy should guess a dtype from (float64, bool)
        dtype = np.dtype(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind not in PIXEL_KINDS or dtype.fields is not None:
        raise param_error("astype", f"expected the name of an integer or float dtype "
                                    f"(uint8, uint16, int32, float32, ...), got {value!r:.80}")
    return dtype.name


def astype(block: np.ndarray, dtype: str) -> np.ndarray:
    """Frames as ``dtype``: to an integer dtype, values are rounded to the nearest and held
    to its range (never wrapped around; NaN becomes 0); to a float dtype, as numpy casts."""
    target = np.dtype(dtype)
    if target.kind == "f" or block.dtype == target:
        return block.astype(target)
    info = np.iinfo(target)
    if block.dtype.kind == "f":
        wide = np.rint(block)
        np.nan_to_num(wide, copy=False, nan=0.0)
        np.clip(wide, info.min, info.max, out=wide)
        return wide.astype(target)
    # integers: clipped in a type that holds both ranges (int64 holds every uint32)
    if np.can_cast(block.dtype, target):
        return block.astype(target)
    return np.clip(block, max(info.min, np.iinfo(block.dtype).min),
                   min(info.max, np.iinfo(block.dtype).max)).astype(target)


ASTYPE = OpKind(
    "astype",
    astype,
    parse=_parse_dtype,
    resolve=lambda dtype, spec: FrameSpec(spec.shape, np.dtype(dtype)),
    crop=lambda dtype, spec, region: (region, dtype),
    doc=astype.__doc__ or "",
)

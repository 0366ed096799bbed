"""Microscopy metadata: one schema for pixel sizes, units, time increment and channel names.

Every reader that knows these (OME-TIFF, ImageJ TIFF, OME-Zarr) fills the same
keys of ``series.metadata``; every writer that can hold them (OME-Zarr,
OME-TIFF, ImageJ TIFF) and :func:`pipeline.to_xarray` reads them from there.
All keys are optional:

``physical_size``
    ``{"x": 0.325, "y": 0.325, "z": 2.0}``: the distance between pixel centres
    along each space axis (``x``, ``y``, ``z``, named as in ``series.axes``).
``physical_origin``
    ``{"x": 12.5, "y": 40.0}``: where the centre of the first pixel lies along
    each space axis, in the sizes' units (a crop moves it; OME-Zarr writes it
    as the ``translation`` of level 0).
``physical_unit``
    ``{"x": "micrometer", ...}``: the unit of each size, as a UDUNITS-2 name
    (the names OME-Zarr uses); symbols read from files (``µm``, ``micron``,
    ``nm``) are normalised to those names.
``time_increment``, ``time_unit``
    The time between consecutive frames, and its unit (``"second"``, ...).
``channel_names``
    One name per channel (``C``) of a frame.

Processing keeps these true: a crop keeps the pixel size and moves the origin
to its first pixel (any op declaring how its output maps back to its input,
``crop`` in :class:`ops.OpKind`, moves it so); a transpose (flip ``t``,
``r90``, ``r270``) swaps the ``y`` and ``x`` entries, a flip keeps the field
of view where it is; frames selected
at a regular step multiply the time increment by it (at uneven steps it is
left out).  Ops declare how
they move axes (:attr:`ops.OpKind.axes`); an op that changes the number of
frame axes without declaring it drops the sizes it can no longer place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ops import FrameSpec, Op

SIZE, UNIT, ORIGIN = "physical_size", "physical_unit", "physical_origin"
TIME, TIME_UNIT = "time_increment", "time_unit"
CHANNELS = "channel_names"
KEYS = (SIZE, ORIGIN, UNIT, TIME, TIME_UNIT, CHANNELS)
"""The metadata keys of the schema."""

SPACE_AXES = "ZYX"

_LENGTHS = {
    "angstrom": ("Å", "A", "angstroms"),
    "picometer": ("pm",),
    "nanometer": ("nm", "nanometers", "nanometre"),
    "micrometer": ("µm", "μm", "um", "micron", "microns", "micrometers", "micrometre",
                   "\\u00B5m", "u"),
    "millimeter": ("mm", "millimeters", "millimetre"),
    "centimeter": ("cm", "centimeters", "centimetre"),
    "meter": ("m", "meters", "metre"),
    "inch": ("in", "inches"),
}
_TIMES = {
    "nanosecond": ("ns", "nanoseconds"),
    "microsecond": ("µs", "μs", "us", "microseconds"),
    "millisecond": ("ms", "msec", "milliseconds"),
    "second": ("s", "sec", "seconds"),
    "minute": ("min", "minutes"),
    "hour": ("h", "hr", "hours"),
    "day": ("d", "days"),
}
_NAMES = {alias.lower(): name for table in (_LENGTHS, _TIMES)
          for name, aliases in table.items() for alias in (name, *aliases)}
LENGTH_UNITS = tuple(_LENGTHS)
TIME_UNITS = tuple(_TIMES)

_SYMBOLS = {"angstrom": "Å", "picometer": "pm", "nanometer": "nm", "micrometer": "µm",
            "millimeter": "mm", "centimeter": "cm", "meter": "m", "inch": "in",
            "nanosecond": "ns", "microsecond": "µs", "millisecond": "ms", "second": "s",
            "minute": "min", "hour": "h", "day": "d"}


def unit_name(text: Any) -> str | None:
    """The UDUNITS-2 name of a unit symbol or name (``"µm"`` -> ``"micrometer"``); else as given.

    ``None``, empty text and ImageJ's ``"pixel"`` mean no unit.
    """
    if text is None:
        return None
    word = str(text).strip()
    if not word or word.lower() in ("pixel", "pixels", "none"):
        return None
    return _NAMES.get(word.lower(), _NAMES.get(word, word))


def unit_symbol(name: str | None) -> str | None:
    """The symbol OME-XML and ImageJ use for a unit name (``"micrometer"`` -> ``"µm"``)."""
    return None if name is None else _SYMBOLS.get(name, name)


def clean(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The schema's entries of ``meta``, normalised; malformed or missing ones left out.

    Metadata comes from anywhere (a detector file may use these names for
    something else), so what does not fit the schema is ignored, never an error.
    """
    out: dict[str, Any] = {}
    sizes = {str(k).lower(): v for k, v in _table(meta.get(SIZE)).items()
             if _positive(v) is not None}
    if sizes:
        out[SIZE] = {k: _positive(v) for k, v in sizes.items()}
    origin = {str(k).lower(): _finite(v) for k, v in _table(meta.get(ORIGIN)).items()}
    origin = {k: v for k, v in origin.items() if v is not None}
    if origin:
        out[ORIGIN] = origin
    units = {str(k).lower(): unit_name(v) for k, v in _table(meta.get(UNIT)).items()
             if isinstance(v, str)}
    units = {k: v for k, v in units.items() if v is not None}
    if units:
        out[UNIT] = units
    step = _positive(meta.get(TIME))
    if step is not None:
        out[TIME] = step
        unit = meta.get(TIME_UNIT)
        if isinstance(unit, str) and unit_name(unit) is not None:
            out[TIME_UNIT] = unit_name(unit)
    names = meta.get(CHANNELS)
    if isinstance(names, list | tuple | np.ndarray) and len(names):
        out[CHANNELS] = [str(n) for n in names]
    return out


def _table(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _finite(value: Any) -> float | None:
    """``value`` as a finite float (not a bool), else ``None``."""
    if isinstance(value, bool | np.bool_):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _positive(value: Any) -> float | None:
    """``value`` as a positive finite float, else ``None``."""
    number = _finite(value)
    return number if number is not None and number > 0 else None


def origin(meta: Mapping[str, Any], axes: str) -> list[float]:
    """Where the first pixel lies along each axis of ``axes`` (0 where not given)."""
    table = clean(meta).get(ORIGIN, {})
    return [float(table.get(a.lower(), 0.0)) if a in SPACE_AXES else 0.0 for a in axes]


def spacing(meta: Mapping[str, Any], axes: str) -> list[float]:
    """One step per axis of ``axes``: the time increment for ``T``, pixel sizes, 1 otherwise."""
    meta = clean(meta)
    sizes = meta.get(SIZE, {})
    out = []
    for a in axes:
        if a == "T":
            out.append(float(meta.get(TIME) or 1.0))
        elif a in SPACE_AXES:
            out.append(float(sizes.get(a.lower(), 1.0)))
        else:
            out.append(1.0)
    return out


def units(meta: Mapping[str, Any], axes: str) -> list[str | None]:
    """The unit of each axis of ``axes`` (``None`` where unknown or unitless)."""
    meta = clean(meta)
    table = meta.get(UNIT, {})
    return [unit_name(meta.get(TIME_UNIT)) if a == "T"
            else unit_name(table.get(a.lower())) if a in SPACE_AXES else None for a in axes]


def channel_names(meta: Mapping[str, Any], axes: str, shape: Sequence[int]) -> list[str] | None:
    """The channel names when there is a ``C`` axis and one name per channel."""
    names = clean(meta).get(CHANNELS)
    if "C" not in axes or names is None:
        return None
    return names if len(names) == shape[axes.index("C")] else None


COLOUR_NAMES = ("red", "green", "blue", "alpha")
"""The channels of a colour picture, in order (RGB, or RGBA)."""


def colour(meta: Mapping[str, Any], axes: str, shape: Sequence[int], dtype: Any) -> bool:
    """Whether frames of ``axes``, ``shape`` and ``dtype`` are colour pictures (a PNG, GIF or
    video frame): 8-bit, their channels just before ``y, x``, 3 (RGB) or 4 (RGBA) of them,
    named nothing else than :data:`COLOUR_NAMES`.

    Colour frames are ``(C, Y, X)`` like every other channelled frame (ops work on
    the last two axes, OME-Zarr puts channels before space); viewers that show
    pictures channels-last (napari's ``rgb=True``) are given them so.
    """
    if not axes.endswith("CYX") or shape[axes.index("C")] not in (3, 4) or \
            np.dtype(dtype) != np.uint8:
        return False
    names = clean(meta).get(CHANNELS)
    return names is None or [n.lower() for n in names] == list(COLOUR_NAMES[:len(names)])


def through_chain(meta: dict[str, Any], chain: Sequence[Op], specs: Sequence[FrameSpec],
                  frame_axes: str) -> dict[str, Any]:
    """``meta`` with its per-axis entries moved as ``chain`` moves the frame's axes.

    ``specs[i]`` is the frame spec entering ``chain[i]``; ``frame_axes`` names
    the axes of the frame entering the chain (``"CYX"``).  Axes keep their
    names by position: a transpose makes the output's ``y`` the input's ``x``.
    An op declaring where its output lies in its input (a crop) moves the origin.
    """
    if not any(key in meta for key in (SIZE, UNIT, ORIGIN)):
        return meta
    names = [a.lower() for a in frame_axes]
    given = clean(meta)
    sizes, start = given.get(SIZE, {}), given.get(ORIGIN, {})
    perm = list(range(len(frame_axes)))  # output axis -> axis of the chain's input
    shift = [0.0] * len(frame_axes)  # physical shift of the first pixel, per current axis
    placed = True  # whether where the output lies is known
    for op, spec, out in zip(chain, specs, specs[1:]):
        ndim_in, ndim_out = len(spec.shape), len(out.shape)
        moved = op.axis_map(ndim_out)
        if moved is None and ndim_in == ndim_out:
            moved = tuple(range(ndim_in))
        if moved is None or sorted(moved) != list(range(ndim_in)) or ndim_in != ndim_out:
            return {k: v for k, v in meta.items() if k not in (SIZE, UNIT, ORIGIN)}
        starts = _starts(op, spec, out)
        if starts is None:
            placed = placed and tuple(out.shape) == tuple(spec.shape)
        else:
            shift = [d + lo * float(sizes.get(names[perm[i]], 1.0))
                     for i, (d, lo) in enumerate(zip(shift, starts))]
        shift, perm = [shift[m] for m in moved], [perm[m] for m in moved]
    if not placed:
        meta = {k: v for k, v in meta.items() if k != ORIGIN}
    elif any(shift):
        meta[ORIGIN] = {**start, **{names[perm[i]]: start.get(names[perm[i]], 0.0) + d
                                    for i, d in enumerate(shift)
                                    if d and frame_axes[perm[i]] in SPACE_AXES}}
    if perm == list(range(len(frame_axes))):
        return meta
    for key in (SIZE, UNIT, ORIGIN):
        table = meta.get(key)
        if isinstance(table, Mapping):
            moved_table = {names[i]: table[names[src]] for i, src in enumerate(perm)
                           if names[src] in table}
            kept = {k: v for k, v in table.items() if k not in names}
            meta[key] = {**kept, **moved_table}
    return meta


def _starts(op: Op, spec: FrameSpec, out: FrameSpec) -> list[int] | None:
    """Where the output's first pixel lies in the input, in pixels per input axis, for an op
    that declares how its output maps back (``crop``); ``None`` when it does not."""
    pushed = op.crop(spec, tuple((0, n) for n in out.shape))
    if pushed is None:
        return None
    region = pushed[0]
    return [int(lo) for lo, _ in region] if len(region) == len(spec.shape) else None


def select_frames(meta: dict[str, Any], frames: np.ndarray) -> dict[str, Any]:
    """``meta`` for the frames ``frames`` of a series: the time increment times their step.

    Frames at uneven steps have no one time increment: it is left out.
    """
    step = _positive(meta.get(TIME))
    if step is None or len(frames) < 2:
        return meta
    gaps = np.diff(np.asarray(frames))
    if np.all(gaps == gaps[0]) and gaps[0] > 0:
        meta[TIME] = step * float(gaps[0])
    else:
        meta = {k: v for k, v in meta.items() if k not in (TIME, TIME_UNIT)}
    return meta


def scaled(meta: dict[str, Any], factors: Mapping[str, float]) -> dict[str, Any]:
    """``meta`` with the pixel size along each axis of ``factors`` multiplied by its factor.

    Sizes not given count as 1 (a pixel of level 0); a ``physical_size`` entry
    that is not the schema's is left alone.
    """
    given = meta.get(SIZE, {})
    if not isinstance(given, Mapping) or any(_positive(v) is None for v in given.values()):
        return meta
    sizes = {k: float(v) for k, v in given.items()}
    start = clean(meta).get(ORIGIN)
    for axis, factor in factors.items():
        if start is not None:  # a pooled pixel's centre: half way across the pixels it pools
            start[axis] = start.get(axis, 0.0) + sizes.get(axis, 1.0) * (factor - 1) / 2
        sizes[axis] = sizes.get(axis, 1.0) * factor
    meta[SIZE] = sizes
    if start is not None:
        meta[ORIGIN] = start
    return meta


__all__ = ["CHANNELS", "COLOUR_NAMES", "KEYS", "ORIGIN", "SIZE", "TIME", "TIME_UNIT", "UNIT",
           "channel_names", "clean", "colour", "origin", "scaled", "select_frames", "spacing",
           "through_chain", "unit_name", "unit_symbol", "units"]

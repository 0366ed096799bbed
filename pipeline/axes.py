"""Axis names of a series: parsing an axes string and reordering an array to frames-first.

A series presents its data as ``(T, ..., Y, X)``: frames first, the image
plane last, any channel (``C``) or depth (``Z``) axes between.  Readers that
accept ``axes=`` (``from_array``, TIFF) use :func:`parse_axes` to check the
caller's string and :func:`frame_order` / :func:`as_frames` to present the
data in that order, as a view wherever numpy allows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.errors import AxesError, FrameShapeError

AXIS_LETTERS = "TCZYX"
"""Axis names a caller may use: time/frame, channel, depth, rows, columns."""

_LEADING_DEFAULT = "CZ"

AXIS_DIMS = {"T": "frame", "C": "channel", "Z": "z", "Y": "y", "X": "x"}
"""Dimension names (xarray's, and a written Zarr array's) for the axis letters."""


def default_axes(frame_ndim: int) -> str:
    """Axes of a series whose frames have ``frame_ndim`` dimensions: ``"TYX"``, ``"TCYX"``, ...

    Leading frame axes are named ``C``, then ``Z``; beyond those (rare) they
    are named ``A``, ``B``, ... so that the string stays unique.
    """
    lead = frame_ndim - 2
    if lead < 0:
        raise FrameShapeError(f"frames need 2 or more dimensions (Y, X), got {frame_ndim}")
    names = _LEADING_DEFAULT + "ABDEFGHIJKLMNOPQRSUVW"
    return "T" + names[:lead] + "YX"


def parse_axes(axes: str, ndim: int) -> str:
    """Check an axes string against an array of ``ndim`` dimensions; return it upper-cased.

    Every letter must be one of :data:`AXIS_LETTERS`, none repeated, ``Y``
    and ``X`` present, and one letter per dimension.
    """
    if not isinstance(axes, str):
        raise AxesError(f"axes must be a string such as 'TYX' or 'CTYX', got {axes!r}")
    text = axes.upper()
    bad = sorted({a for a in text if a not in AXIS_LETTERS})
    if bad:
        raise AxesError(
            f"axes {axes!r} has unknown axis names {bad}; use letters from {AXIS_LETTERS!r}"
        )
    if len(set(text)) != len(text):
        raise AxesError(
            f"axes {axes!r} names an axis twice; each of {AXIS_LETTERS!r} at most once"
        )
    if "Y" not in text or "X" not in text:
        raise AxesError(f"axes {axes!r} must name the image plane, Y and X")
    if len(text) != ndim:
        raise AxesError(
            f"axes {axes!r} names {len(text)} axes but the array has {ndim} dimensions"
        )
    return text


def frame_order(axes: str) -> tuple[tuple[int, ...], str]:
    """The transpose taking ``axes`` to frames-first order, and the resulting axes string.

    ``T`` goes first (when present), ``Y`` and ``X`` last, the others keep
    their relative order: ``frame_order("YXT") == ((2, 0, 1), "TYX")``.
    """
    middle = [a for a in axes if a not in "TYX"]
    order = (["T"] if "T" in axes else []) + middle + ["Y", "X"]
    return tuple(axes.index(a) for a in order), "".join(order)


def as_frames(data: Any, axes: str | None) -> tuple[Any, str]:
    """``data`` reordered to ``(T, ..., Y, X)`` and its axes; a view for numpy and dask arrays.

    Without ``axes`` the data is taken as frames-first already (a 2-d array
    is one frame).  An axes string without ``T`` means one frame: a frame
    axis of length 1 is added.
    """
    if axes is None:
        if data.ndim == 2:
            data = data[np.newaxis]
        return data, default_axes(data.ndim - 1)
    text = parse_axes(axes, data.ndim)
    perm, ordered = frame_order(text)
    if perm != tuple(range(data.ndim)):
        data = data.transpose(perm)
    if "T" not in ordered:
        data, ordered = data[np.newaxis], "T" + ordered
    return data, ordered


def dimension_names(axes: str) -> tuple[str, ...]:
    """Dimension names for an axes string: ``"TCYX"`` gives ``("frame", "channel", "y", "x")``."""
    return tuple(AXIS_DIMS.get(a, a.lower()) for a in axes)

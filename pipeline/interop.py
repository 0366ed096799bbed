"""Handing a series to other libraries: xarray.

``to_xarray`` wraps the series' dask array (nothing is computed) with named
dimensions, the rotation angle as a coordinate and the metadata as attributes;
:meth:`pipeline.series.ImageSeries.to_xarray` calls it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ops import require
from pipeline import microscopy
from pipeline._selection import SeriesLike
from pipeline.axes import dimension_names


def omega_coordinate(omega: Any, nframes: int) -> np.ndarray | None:
    """One angle per frame: the midpoint of each ``(start, stop)`` pair, or a 1-d array as is."""
    arr = np.asarray(omega)
    if arr.dtype.kind not in "iuf" or len(arr) != nframes:
        return None
    if arr.ndim == 2 and arr.shape[1] == 2:
        return arr.mean(axis=1)
    return arr if arr.ndim == 1 else None


def json_attrs(metadata: dict[str, Any]) -> dict[str, Any]:
    """The JSON-able entries of ``metadata`` (numpy scalars as numbers; arrays left out)."""
    out = {}
    for key, value in metadata.items():
        value = value.item() if isinstance(value, np.generic) else value
        if isinstance(value, np.ndarray):
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[str(key)] = value
    return out


def to_xarray(series: SeriesLike, frames: Any, name: str | None = "images") -> Any:
    """``series`` as an ``xarray.DataArray`` over ``frames``, its dask array; nothing is
    computed.

    Dimensions are named ``frame``, ``y``, ``x`` (``channel``, ``z`` between
    when the frames have them).  ``omega`` metadata of shape ``(N, 2)``, one
    ``(start, stop)`` pair per frame, becomes the coordinate ``omega`` along
    ``frame`` holding each frame's midpoint angle ``(start + stop) / 2``
    (a 1-d ``omega`` is used as is; the pairs stay in ``series.metadata``).
    JSON-able metadata entries become attributes; arrays are left out.

    Microscopy metadata (``pipeline.microscopy``) becomes coordinates:
    ``z``, ``y``, ``x`` in physical units from the pixel sizes and origin
    (``units`` attribute; a crop's coordinates continue its source's), ``time``
    along ``frame`` from the time increment, and the channel names as the
    ``channel`` coordinate.
    """
    xr = require("xarray", "xarray", "to_xarray()")
    meta = series.metadata
    dims = dimension_names(series.axes)
    coords: dict[str, Any] = {"frame": np.arange(len(series))}
    if "omega" in meta:
        omega = omega_coordinate(meta["omega"], len(series))
        if omega is not None:
            coords["omega"] = ("frame", omega)
    coords.update(physical_coords(meta, series.axes, (len(series), *series.shape)))
    return xr.DataArray(frames, dims=dims, coords=coords, name=name,
                        attrs=json_attrs(meta))


def physical_coords(meta: dict[str, Any], axes: str, shape: tuple[int, ...]
                    ) -> dict[str, Any]:
    """Coordinates (as ``(dim, values, attrs)``) the microscopy metadata gives each axis."""
    m = microscopy.clean(meta)
    out: dict[str, Any] = {}
    dims = dimension_names(axes)
    steps, units = microscopy.spacing(m, axes), microscopy.units(m, axes)
    sizes, starts = m.get(microscopy.SIZE, {}), microscopy.origin(m, axes)
    for a, dim, n, step, unit, start in zip(axes, dims, shape, steps, units, starts):
        attrs = {"units": unit} if unit else {}
        if a in "ZYX" and (a.lower() in sizes or start):
            out[dim] = (dim, start + np.arange(n) * step, attrs)
        elif a == "T" and microscopy.TIME in m:
            out["time"] = (dim, np.arange(n) * step, attrs)
    names = microscopy.channel_names(m, axes, shape)
    if names is not None:
        out[dims[axes.index("C")]] = (dims[axes.index("C")], names)
    return out


__all__ = ["to_xarray"]

"""Handing a series to other libraries: xarray.

``to_xarray`` wraps the series' dask array (nothing is computed) with named
dimensions, the rotation angle as a coordinate and the metadata as attributes.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from pipeline.axes import dimension_names
from pipeline.series import ImageSeries


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


def to_xarray(series: ImageSeries, name: str | None = "images") -> Any:
    """``series`` as an ``xarray.DataArray`` over its dask array; nothing is computed.

    Dimensions are named ``frame``, ``y``, ``x`` (``channel``, ``z`` between
    when the frames have them).  ``omega`` metadata of shape ``(N, 2)``, one
    ``(start, stop)`` pair per frame, becomes the coordinate ``omega`` along
    ``frame`` holding each frame's midpoint angle ``(start + stop) / 2``
    (a 1-d ``omega`` is used as is; the pairs stay in ``series.metadata``).
    JSON-able metadata entries become attributes; arrays are left out.
    """
    from ops._compat import require

    xr = require("xarray", "xarray", "to_xarray()")
    meta = series.metadata
    dims = dimension_names(series.axes)
    coords: dict[str, Any] = {"frame": np.arange(len(series))}
    if "omega" in meta:
        omega = omega_coordinate(meta["omega"], len(series))
        if omega is not None:
            coords["omega"] = ("frame", omega)
    return xr.DataArray(series.to_dask(), dims=dims, coords=coords, name=name,
                        attrs=json_attrs(meta))


__all__ = ["to_xarray"]

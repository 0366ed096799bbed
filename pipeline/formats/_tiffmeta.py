"""Microscopy metadata in TIFF files: OME-XML and ImageJ, read into and written from one schema.

Read: pixel sizes, units, time increment and channel names of an OME-TIFF's
first image (its OME-XML) or of an ImageJ hyperstack (its description and
resolution tags) become the keys of :mod:`pipeline.microscopy`.  Written: the
same keys become the OME-XML or ImageJ metadata tifffile writes, and the
series' whole metadata is kept as JSON in a private tag, so that every entry
comes back, not only those OME or ImageJ can say.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pipeline import _json, microscopy

JSON_TAG = 65000
"""Private TIFF tag (first of the reusable range) holding the series' metadata as JSON."""

IMAGEJ_DTYPES = "BHhf"
"""Sample types ImageJ opens (uint8, uint16, int16, float32)."""

_METERS = {"angstrom": 1e-10, "picometer": 1e-12, "nanometer": 1e-9, "micrometer": 1e-6,
           "millimeter": 1e-3, "centimeter": 1e-2, "meter": 1.0, "inch": 0.0254}
_SECONDS = {"nanosecond": 1e-9, "microsecond": 1e-6, "millisecond": 1e-3, "second": 1.0,
            "minute": 60.0, "hour": 3600.0, "day": 86400.0}


# -- reading -----------------------------------------------------------------------------


def read(tf: Any, nchannels: int | None) -> dict[str, Any]:
    """The microscopy metadata of an open ``tifffile.TiffFile``; ``{}`` when it states none."""
    if tf.is_ome and tf.ome_metadata:
        return _from_ome(tf.ome_metadata)
    if tf.is_imagej and tf.imagej_metadata:
        return _from_imagej(tf.imagej_metadata, tf.pages[0], nchannels)
    return {}


def _from_ome(xml: str) -> dict[str, Any]:
    import tifffile

    try:
        image = tifffile.xml2dict(xml)["OME"]["Image"]
    except (KeyError, TypeError, ValueError):
        return {}
    pixels = (image[0] if isinstance(image, list) else image).get("Pixels", {})
    sizes, units = {}, {}
    for axis in "XYZ":
        if f"PhysicalSize{axis}" in pixels:
            sizes[axis.lower()] = pixels[f"PhysicalSize{axis}"]
            units[axis.lower()] = pixels.get(f"PhysicalSize{axis}Unit", "µm")  # OME's default
    meta: dict[str, Any] = {microscopy.SIZE: sizes, microscopy.UNIT: units}
    if "TimeIncrement" in pixels:
        meta[microscopy.TIME] = pixels["TimeIncrement"]
        meta[microscopy.TIME_UNIT] = pixels.get("TimeIncrementUnit", "s")
    channels = pixels.get("Channel", [])
    channels = channels if isinstance(channels, list) else [channels]
    names = [c.get("Name") for c in channels if isinstance(c, Mapping)]
    if names and all(isinstance(n, str) for n in names):
        meta[microscopy.CHANNELS] = names
    return microscopy.clean(meta)


def _from_imagej(ij: Mapping[str, Any], page: Any, nchannels: int | None) -> dict[str, Any]:
    unit = ij.get("unit")
    sizes = {}
    for axis, tag in (("x", "XResolution"), ("y", "YResolution")):
        res = page.tags.get(tag)
        if res is not None and res.value[0]:
            per_unit = res.value[0] / res.value[1]  # pixels per unit
            if per_unit != 1 or unit:
                sizes[axis] = 1.0 / per_unit
    if ij.get("spacing"):
        sizes["z"] = ij["spacing"]
    meta: dict[str, Any] = {microscopy.SIZE: sizes,
                            microscopy.UNIT: {a: unit for a in sizes} if unit else {}}
    if ij.get("finterval"):
        meta[microscopy.TIME] = ij["finterval"]
        meta[microscopy.TIME_UNIT] = ij.get("tunit", "second")
    labels = ij.get("Labels")
    channels = int(ij.get("channels", nchannels or 1))
    # ImageJ's labels are per plane, channels varying fastest: the first C name the channels
    if isinstance(labels, list) and channels > 1 and len(labels) >= channels:
        meta[microscopy.CHANNELS] = [str(x) for x in labels[:channels]]
    return microscopy.clean(meta)


def read_json(tf: Any) -> dict[str, Any]:
    """The series' metadata kept in :data:`JSON_TAG` by the writer, decoded; else ``{}``."""
    tag = tf.pages[0].tags.get(JSON_TAG)
    if tag is None:
        return {}
    try:
        return dict(_json.decode(json.loads(tag.value)))
    except (TypeError, ValueError):
        return {}


# -- writing -----------------------------------------------------------------------------


def json_tag(meta: Mapping[str, Any]) -> tuple[int, str, int, str, bool]:
    """The tifffile ``extratags`` entry holding ``meta`` (encoded before any frame is computed)."""
    return (JSON_TAG, "s", 0, json.dumps(_json.encode(dict(meta), where="metadata")), True)


def ome_metadata(meta: Mapping[str, Any], axes: str, shape: tuple[int, ...]) -> dict[str, Any]:
    """tifffile's ``metadata=`` for an OME-TIFF of ``axes`` (the series' axes)."""
    m = microscopy.clean(meta)
    out: dict[str, Any] = {"axes": axes}
    units = dict(m.get(microscopy.UNIT, {}))
    for axis, size in m.get(microscopy.SIZE, {}).items():
        if axis.upper() in axes:
            out[f"PhysicalSize{axis.upper()}"] = size
            if axis in units:
                out[f"PhysicalSize{axis.upper()}Unit"] = microscopy.unit_symbol(units[axis])
    if microscopy.TIME in m:
        out["TimeIncrement"] = m[microscopy.TIME]
        if microscopy.TIME_UNIT in m:
            out["TimeIncrementUnit"] = microscopy.unit_symbol(m[microscopy.TIME_UNIT])
    names = microscopy.channel_names(m, axes, shape)
    if names is not None:
        out["Channel"] = {"Name": names}
    return out


def imagej_options(meta: Mapping[str, Any], axes: str, shape: tuple[int, ...]
                   ) -> dict[str, Any]:
    """tifffile's ``metadata=`` and ``resolution=`` for an ImageJ hyperstack in ``TZCYX`` order.

    ImageJ has one length unit for all axes (that of ``x``) and times in
    seconds; ``shape`` is the whole array's, in ``axes`` order.
    """
    m = microscopy.clean(meta)
    order = "".join(a for a in "TZCYX" if a in axes)
    out: dict[str, Any] = {"axes": order}
    sizes, units = m.get(microscopy.SIZE, {}), m.get(microscopy.UNIT, {})
    unit = units.get("x") or units.get("y")
    if unit is not None:
        out["unit"] = {"micrometer": "micron"}.get(unit, microscopy.unit_symbol(unit))
    if "z" in sizes and "Z" in axes:
        # in x's unit, ImageJ's only one
        ratio = _METERS.get(units.get("z", ""), 1.0) / _METERS.get(unit or "", 1.0) \
            if units.get("z") in _METERS and unit in _METERS else 1.0
        out["spacing"] = sizes["z"] * ratio
    if microscopy.TIME in m:
        scale = _SECONDS.get(m.get(microscopy.TIME_UNIT, "second"), 1.0)
        out["finterval"] = m[microscopy.TIME] * scale
    names = microscopy.channel_names(m, axes, shape)
    if names is not None:
        planes = 1
        for a, n in zip(axes, shape):
            planes *= n if a in "TZ" else 1
        out["Labels"] = names * planes
    options: dict[str, Any] = {"metadata": out}
    if "x" in sizes or "y" in sizes:
        options["resolution"] = (1.0 / sizes.get("x", 1.0), 1.0 / sizes.get("y", 1.0))
    return options

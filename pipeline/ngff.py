"""The rules of OME-Zarr (NGFF 0.5) an image's metadata follows, checked when it is read.

:func:`problems` lists every rule the ``ome`` attribute of a group breaks, each
message naming the rule and the value that breaks it, grouped by the part they
make unusable: ``"multiscales"`` (axes, datasets, transformations: without them
the pixel sizes and levels are unknown) or ``"omero"`` (channel names, colours,
display windows).  The rules are those of the specification's JSON schemas
(``image.schema``) and of its text where the schemas cannot say it (a scale
names one number per axis).  The specification's own test documents judge
this module (``tests/pipeline/test_ngff.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

RULES = "NGFF 0.5"
AXIS_TYPES = ("space", "time", "channel")
_COLOR = re.compile(r"^[0-9A-Fa-f]{6}$")


def problems(attrs: Mapping[str, Any], ndim: int | None = None) -> dict[str, list[str]]:
    """Each rule of NGFF 0.5 the OME-Zarr attributes ``attrs`` break, by the part they make
    unusable (``{}``: none).  ``ndim``, when known, is the dimensions of the level-0 array."""
    ome = attrs.get("ome")
    if not isinstance(ome, Mapping):
        return {}
    out: dict[str, list[str]] = {}
    scales = ome.get("multiscales")
    if not isinstance(scales, list) or not scales:
        out["multiscales"] = [f"'multiscales' must list one image or more, got {scales!r:.80}"]
    else:
        found = [msg for image in scales for msg in _image(image, ndim)]
        if len(scales) != len({repr(s) for s in scales}):
            found.append("'multiscales' must not list the same image twice")
        if found:
            out["multiscales"] = found
    if "omero" in ome:
        found = _omero(ome["omero"])
        if found:
            out["omero"] = found
    return {part: [f"{RULES}: {msg}" for msg in msgs] for part, msgs in out.items()}


def _image(image: Any, ndim: int | None) -> list[str]:
    if not isinstance(image, Mapping):
        return [f"each multiscale must be an object, got {image!r:.80}"]
    out = []
    axes = image.get("axes")
    count = len(axes) if isinstance(axes, list) else None
    out += _axes(axes)
    if "name" in image and not isinstance(image["name"], str):
        out.append(f"a multiscale's 'name' must be a string, got {image['name']!r:.80}")
    datasets = image.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        out.append(f"'datasets' must list one level or more, got {datasets!r:.80}")
        datasets = []
    for k, dataset in enumerate(datasets):
        if not isinstance(dataset, Mapping):
            out.append(f"dataset {k} must be an object, got {dataset!r:.80}")
            continue
        if not isinstance(dataset.get("path"), str):
            out.append(f"dataset {k} must have a 'path' string, got {dataset.get('path')!r:.80}")
        out += _transforms(dataset.get("coordinateTransformations"), f"dataset {k}", count,
                           required=True)
    if "coordinateTransformations" in image:
        out += _transforms(image["coordinateTransformations"], "the multiscale", count,
                           required=False)
    if ndim is not None and count is not None and count != ndim:
        out.append(f"'axes' names {count} axes but level 0 has {ndim} dimensions; each "
                   "dimension must be named once")
    return out


def _axes(axes: Any) -> list[str]:
    if not isinstance(axes, list):
        return [f"'axes' must be a list of 2 to 5 axes, got {axes!r:.80}"]
    out = []
    if not 2 <= len(axes) <= 5:
        out.append(f"'axes' must name 2 to 5 axes, got {len(axes)}")
    names, kinds = [], []
    for axis in axes:
        if not isinstance(axis, Mapping) or not isinstance(axis.get("name"), str):
            out.append(f"each axis must be an object with a 'name' string, got {axis!r:.80}")
            continue
        kind = axis.get("type")
        if kind is not None and not isinstance(kind, str):
            out.append(f"axis {axis['name']!r}: 'type' must be a string, got {kind!r:.80}")
        names.append(axis["name"])
        kinds.append(kind)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        out.append(f"'axes' must name each axis once; {twice} named more than once")
    space = kinds.count("space")
    if len(names) == len(axes) and not 2 <= space <= 3:
        out.append(f"'axes' must hold 2 or 3 axes of type 'space', got {space} in "
                   f"{[n for n in names]}")
    for kind in ("time", "channel"):
        if kinds.count(kind) > 1:
            out.append(f"'axes' may hold one axis of type {kind!r}, got {kinds.count(kind)}")
    if "space" in kinds and any(k != "space" for k in kinds[kinds.index("space"):]):
        out.append(f"axes of type 'space' must come last, got types {kinds}")
    if "time" in kinds and kinds.index("time") != 0:
        out.append(f"the axis of type 'time' must come first, got types {kinds}")
    return out


def _transforms(value: Any, where: str, count: int | None, required: bool) -> list[str]:
    if not isinstance(value, list) or (required and not value):
        return [f"{where} must have 'coordinateTransformations', a list starting with one "
                f"'scale', got {value!r:.80}"]
    out = []
    kinds = [t.get("type") if isinstance(t, Mapping) else None for t in value]
    if kinds.count("scale") != 1 or kinds[0] != "scale":
        out.append(f"{where}: 'coordinateTransformations' must hold exactly one 'scale', "
                   f"first, got types {kinds}")
    if any(k not in ("scale", "translation") for k in kinds) or kinds.count("translation") > 1:
        out.append(f"{where}: 'coordinateTransformations' may hold only one 'scale' and one "
                   f"'translation', got types {kinds}")
    for t, kind in zip(value, kinds):
        if kind in ("scale", "translation"):
            out += _numbers(t.get(kind), f"{where}: the {kind}", count)
    return out


def _numbers(values: Any, where: str, count: int | None) -> list[str]:
    if not isinstance(values, list) or len(values) < 2 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [f"{where} must be a list of 2 or more numbers, got {values!r:.80}"]
    if count is not None and len(values) != count:
        return [f"{where} must have one number per axis ({count}), got {len(values)}"]
    return []


def _omero(omero: Any) -> list[str]:
    if not isinstance(omero, Mapping) or not isinstance(omero.get("channels"), list):
        return [f"'omero' must be an object with a 'channels' list, got {omero!r:.80}"]
    out = []
    for k, channel in enumerate(omero["channels"]):
        if not isinstance(channel, Mapping):
            out.append(f"omero channel {k} must be an object, got {channel!r:.80}")
            continue
        color = channel.get("color")
        if color is not None and not (isinstance(color, str) and _COLOR.match(color)):
            out.append(f"omero channel {k}: 'color' must be a hex string 'RRGGBB', got "
                       f"{color!r:.80}")
        for key in ("label", "family"):
            if key in channel and not isinstance(channel[key], str):
                out.append(f"omero channel {k}: {key!r} must be a string, got "
                           f"{channel[key]!r:.80}")
        if "active" in channel and not isinstance(channel["active"], bool):
            out.append(f"omero channel {k}: 'active' must be true or false")
        window = channel.get("window")
        if window is not None:
            out += _window(window, k)
    return out


def _window(window: Any, k: int) -> list[str]:
    keys = ("start", "min", "end", "max")
    if not isinstance(window, Mapping) or not all(
            isinstance(window.get(key), int | float) and not isinstance(window.get(key), bool)
            for key in keys):
        return [f"omero channel {k}: 'window' must hold numbers {list(keys)}, got "
                f"{window!r:.120}"]
    return []


def describe(found: Mapping[str, Sequence[str]]) -> str:
    """The problems of :func:`problems` as one message."""
    return "; ".join(msg for msgs in found.values() for msg in msgs)


__all__ = ["RULES", "describe", "problems"]

"""OME-Zarr (NGFF 0.5): the image metadata of a written store, its downsampled levels, reading.

Every store lazyseries writes is also an OME-Zarr image: the group's
attributes hold, beside the ``lazyseries`` record and ``metadata``, an
``ome`` entry (``version: "0.5"``) whose ``multiscales`` name and type each
axis (``frame`` is time, ``channel`` is channel, ``z``, ``y``, ``x`` are
space, with units when the metadata knows them), give each level's scale
from the pixel sizes and time increment, and list the levels as NGFF readers
expect them by convention: arrays ``0`` (the frames themselves), ``1``,
``2``, ... at the group's root, nothing else beside them (each level the
2 x 2 mean of the one before over ``y, x``, its scale doubled and its
translation moving pixel centres to the middle of the pixels they pool, as
ome-zarr-py writes them), so that a reader that knows no NGFF (napari's
built-in one, which takes a group's arrays in order as a pyramid) shows level
0 with its levels too.  Channel names, when known, go to ``omero``.

Stores of layout version 1 (level 0 ``images``, levels ``levels/1``, ...)
are read through their metadata like any other OME-Zarr image.

Series whose axes OME-Zarr cannot describe (more than five, a depth axis
before the channel axis) are written without the ``ome`` entry.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from pipeline import _json, microscopy
from pipeline.axes import dimension_names
from pipeline.errors import NotASeriesError, OptionValueError, SeriesOptionError

VERSION = "0.5"
CHUNK_BYTES = 2**20
"""A level's chunks hold about this many bytes (as level 0's small frames do)."""
AXIS_TYPES = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}
_DIM_AXES = {"frame": "T", "t": "T", "time": "T", "channel": "C", "c": "C",
             "z": "Z", "y": "Y", "x": "X"}
_COLORS = ("FFFFFF",), ("FF00FF", "00FF00"), ("FF0000", "00FF00", "0000FF")
_RGBA = ("FF0000", "00FF00", "0000FF", "FFFFFF")
_MANY = ("00FFFF", "FF00FF", "FFFF00", "FF0000", "00FF00", "0000FF")


# -- writing -----------------------------------------------------------------------------


def describable(axes: str) -> bool:
    """Whether OME-Zarr can describe a ``(N, *frame)`` array with these axes."""
    if any(a not in AXIS_TYPES for a in axes) or not 2 <= len(axes) <= 5:
        return False
    return not ("C" in axes and "Z" in axes and axes.index("Z") < axes.index("C"))


def level_path(level: int) -> str:
    """The array path of ``level`` inside a store written now: ``"0"``, ``"1"``, ..."""
    return str(int(level))


def level_factors(axes: str, level: int) -> list[int]:
    """The downsampling factor of each axis at ``level`` (``2**level`` on Y and X)."""
    return [2**level if a in "YX" else 1 for a in axes]


def check_levels(levels: Any, axes: str, shape: Sequence[int]) -> int:
    """``levels`` as an int after checking it against the frame size; raise before any work."""
    if isinstance(levels, bool) or not isinstance(levels, int | np.integer) or levels < 0:
        raise OptionValueError(f"levels must be a whole number >= 0 of downsampled levels, "
                               f"got {levels!r}")
    if levels and not describable(axes):
        raise OptionValueError(f"levels={levels!r}: OME-Zarr cannot describe axes {axes!r}; "
                               "write without levels")
    smallest = min(shape[-2:])
    if levels and 2**levels > smallest:
        most = int(np.floor(np.log2(max(smallest, 1))))
        raise OptionValueError(
            f"levels={levels!r} would shrink frames of shape {tuple(shape[-2:])} "
            f"below one pixel; at most {most}"
        )
    return int(levels)


def image_attrs(axes: str, metadata: Mapping[str, Any], levels: int, full_shape: Sequence[int],
                dtype: Any, name: str = "image") -> dict[str, Any]:
    """The ``ome`` attribute of a store (``{}`` when OME-Zarr cannot describe the axes).

    Each multiscale has its ``name``, the ``type`` of downsampling and its
    ``metadata`` (required by NGFF 0.5's strict profile); the channels'
    display windows are the dtype's range until :func:`set_windows` puts the
    frames' own there (each written block's :func:`ranges`, :func:`merged`).
    """
    if not describable(axes):
        return {}
    meta = microscopy.clean(metadata)
    names = dimension_names(axes)
    ome_axes = []
    for a, dim, unit in zip(axes, names, microscopy.units(meta, axes)):
        entry = {"name": dim, "type": AXIS_TYPES[a]}
        known = microscopy.TIME_UNITS if a == "T" else microscopy.LENGTH_UNITS
        if unit is not None and a != "C" and unit in known:
            entry["unit"] = unit
        ome_axes.append(entry)
    step, start = microscopy.spacing(meta, axes), microscopy.origin(meta, axes)
    datasets = [{"path": level_path(k),
                 "coordinateTransformations": _transforms(step, start, level_factors(axes, k))}
                for k in range(levels + 1)]
    multiscale: dict[str, Any] = {
        "name": name, "axes": ome_axes, "datasets": datasets, "type": "mean",
        "metadata": {"description": "each level is the 2x2 mean of the one before over y "
                     "and x, integers rounded half up", "method": "pipeline.ome.downsample",
                     "version": _version()}}
    if microscopy.colour(meta, axes, full_shape, dtype):  # shown as it is: red, green, blue
        count = full_shape[axes.index("C")]
        omero = [{"label": label, "color": color, "active": True,
                  "window": {"min": 0.0, "max": 255.0, "start": 0.0, "end": 255.0}}
                 for label, color in zip(microscopy.COLOUR_NAMES[:count], _RGBA)]
    else:
        channels = ((microscopy.channel_names(meta, axes, full_shape) or
                     [f"{name} [{c}]" for c in range(full_shape[axes.index("C")])])
                    if "C" in axes else [name])
        omero = _omero_channels(channels, np.dtype(dtype))
    return {"ome": {"version": VERSION, "multiscales": [multiscale],
                    "omero": {"channels": omero}}}


def measured_windows(axes: str, metadata: Mapping[str, Any], full_shape: Sequence[int],
                     dtype: Any) -> bool:
    """Whether the display windows of an image are the frames' range (:func:`ranges`): a
    colour picture is shown as it is, 0 to 255, and an image with no frames has no range."""
    return describable(axes) and bool(full_shape[0]) and not microscopy.colour(
        microscopy.clean(metadata), axes, full_shape, dtype)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lazyseries")
    except PackageNotFoundError:  # run from a source tree
        return "unknown"


def _transforms(step: list[float], start: list[float], factors: list[int]
                ) -> list[dict[str, Any]]:
    """Scale, and the translation of the level's first pixel: the origin, and for a pooled
    level the shift of its pixel centres by ``(f - 1) / 2`` pixels."""
    out: list[dict[str, Any]] = [{"type": "scale",
                                  "scale": [s * f for s, f in zip(step, factors)]}]
    shift = [o + s * (f - 1) / 2 for s, o, f in zip(step, start, factors)]
    if any(shift):
        out.append({"type": "translation", "translation": shift})
    return out


def _omero_channels(names: list[str], dtype: np.dtype) -> list[dict[str, Any]]:
    colors = _COLORS[len(names) - 1] if len(names) <= len(_COLORS) else _MANY
    lo, hi = _dtype_range(dtype)
    window = {"min": lo, "max": hi, "start": lo, "end": hi}
    return [{"label": name, "color": colors[i % len(colors)], "active": True,
             "window": dict(window)} for i, name in enumerate(names)]


def _dtype_range(dtype: np.dtype) -> tuple[float, float]:
    if dtype.kind in "iu":
        return float(np.iinfo(dtype).min), float(np.iinfo(dtype).max)
    return (0.0, 1.0)


def ranges(frames: np.ndarray, axes: str) -> np.ndarray:
    """``(channels, 2)``: each channel's smallest and largest finite value in ``frames`` (a
    block of frames with ``axes``); NaN where there is none.  :func:`merged` folds several."""
    return _block_range(frames, axes.index("C") if "C" in axes else None)


def merged(parts: list[np.ndarray]) -> np.ndarray:
    """The ranges of several blocks (:func:`ranges`) as one."""
    return _gather_ranges(parts)


def _block_range(block: np.ndarray, channel: int | None) -> np.ndarray:
    """``(channels, 2)``: the smallest and largest finite value of each channel of ``block``
    (NaN where there is none)."""
    data = block[np.newaxis] if channel is None else np.moveaxis(block, channel, 0)
    flat = data.reshape(data.shape[0], -1)
    out = np.full((flat.shape[0], 2), np.nan)
    if flat.shape[1] == 0:
        return out
    if flat.dtype.kind in "fc":
        flat = np.where(np.isfinite(flat), flat.real, np.nan)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a channel with nothing finite
            out[:, 0], out[:, 1] = np.nanmin(flat, axis=1), np.nanmax(flat, axis=1)
        return out
    out[:, 0], out[:, 1] = flat.min(axis=1), flat.max(axis=1)
    return out


def _gather_ranges(parts: list[np.ndarray]) -> np.ndarray:
    both = np.stack(parts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nothing finite anywhere
        return np.stack([np.nanmin(both[..., 0], axis=0), np.nanmax(both[..., 1], axis=0)],
                        axis=1)


def set_windows(attrs: Mapping[str, Any], values: np.ndarray) -> dict[str, Any] | None:
    """The ``ome`` attribute of ``attrs`` with each channel's window the frames' range
    (``values`` from :func:`ranges`), or None when there is no such channel list."""
    found = attrs.get("ome")
    channels = ((found or {}).get("omero") or {}).get("channels") if isinstance(found, Mapping) \
        else None
    if not isinstance(channels, list) or len(channels) != len(values):
        return None
    out = json.loads(json.dumps(found))
    for channel, (lo, hi) in zip(out["omero"]["channels"], np.asarray(values, np.float64)):
        if np.isfinite(lo) and np.isfinite(hi):  # an all-NaN channel keeps the default
            channel["window"] = {"min": float(lo), "max": float(hi), "start": float(lo),
                                 "end": float(hi) if hi > lo else float(lo) + 1.0}
    return dict(out)


def _pool(block: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The 2 x 2 mean over the last two axes, trimmed to even sizes, in ``dtype``.

    Integers are summed in a type twice as wide and rounded half up; floats
    averaged in their own precision (at least float32).  Row pairs are added
    first, while the memory is contiguous: this is what makes it cheap.
    """
    ny, nx = block.shape[-2] // 2 * 2, block.shape[-1] // 2 * 2
    if dtype.kind in "iub":
        wide = np.dtype(f"{'i' if dtype.kind == 'i' else 'u'}{min(2 * dtype.itemsize, 8)}")
    else:
        wide = np.result_type(dtype, np.float32)
    rows = np.add(block[..., 0:ny:2, :nx], block[..., 1:ny:2, :nx], dtype=wide)
    total = np.add(rows[..., 0::2], rows[..., 1::2])
    if dtype.kind in "iub":
        total += 2
        total >>= 2  # // 4, rounded down for negative sums too, without integer division
        return total.astype(dtype)
    total *= 0.25
    return total.astype(dtype)


def downsample(frames: Any) -> Any:
    """A dask array of ``frames`` (whole frames per chunk) pooled 2 x 2 over Y and X, lazily."""
    if any(len(c) > 1 for c in frames.chunks[-2:]):
        frames = frames.rechunk({frames.ndim - 2: -1, frames.ndim - 1: -1})
    chunks = (*frames.chunks[:-2], (frames.shape[-2] // 2,), (frames.shape[-1] // 2,))
    return frames.map_blocks(_pool, np.dtype(frames.dtype), chunks=chunks, dtype=frames.dtype)


def _level_frames_per_chunk(frames: Any, stored: int, frame_bytes: int) -> int:
    """Frames per chunk of a level: about ``CHUNK_BYTES``, whole stored chunks, dividing a task's.

    Each store task then writes whole chunks of every level (no locks), and a
    small level is not split into many tiny objects.
    """
    task = max(int(frames.chunks[0][0]), 1) if frames.chunks[0] else stored
    multiples = max(task // max(stored, 1), 1)
    best = 1
    for m in range(1, multiples + 1):
        if multiples % m == 0 and stored * m * frame_bytes <= CHUNK_BYTES:
            best = m
    return stored * best


def create_levels(group: Any, frames: Any, levels: int, frames_per_chunk: int,
                  **array_options: Any) -> tuple[list[Any], list[Any]]:
    """Level arrays 1..``levels`` in ``group`` and the dask arrays to store in them.

    Each level is computed from the one before in the same dask graph as
    level 0, so every frame is read once; each store task writes whole chunks.
    ``frames_per_chunk`` is level 0's stored chunk along frames.
    """
    sources, targets = [], []
    current = frames
    for k in range(1, levels + 1):
        current = downsample(current)
        frame_bytes = int(np.prod(current.shape[1:])) * current.dtype.itemsize
        per_chunk = _level_frames_per_chunk(current, frames_per_chunk, frame_bytes)
        targets.append(group.create_array(
            level_path(k), shape=current.shape, dtype=current.dtype,
            chunks=(per_chunk, *current.shape[1:]), overwrite=True, **array_options))
        sources.append(current)
    return sources, targets


# -- reading -----------------------------------------------------------------------------


def multiscale(attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first ``multiscales`` entry of a group's attributes (NGFF 0.5, or 0.4 unnamespaced)."""
    ome = attrs.get("ome")
    holder = ome if isinstance(ome, Mapping) else attrs
    scales = holder.get("multiscales")
    if isinstance(scales, Sequence) and scales and isinstance(scales[0], Mapping):
        return dict(scales[0])
    return None


def omero(attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``omero`` entry of a group's attributes (channel names, colours), if any."""
    ome = attrs.get("ome")
    holder = ome if isinstance(ome, Mapping) else attrs
    value = holder.get("omero")
    return dict(value) if isinstance(value, Mapping) else None


def dataset_path(image: Mapping[str, Any], level: Any, where: str) -> str:
    """The array path of ``level`` of an OME-Zarr image; the error lists the levels there are."""
    datasets = image.get("datasets") or []
    if not isinstance(datasets, list) or not all(
            isinstance(d, Mapping) and isinstance(d.get("path"), str) for d in datasets):
        raise NotASeriesError(f"{where}: its OME-Zarr 'datasets' is {datasets!r}; it should "
                              "be a list of objects, each with a 'path' string")
    if isinstance(level, bool) or not isinstance(level, int | np.integer) or not (
            0 <= level < len(datasets)):
        raise SeriesOptionError(f"{where}: no level {level!r}; the image has levels "
                                f"0..{len(datasets) - 1}")
    return str(datasets[int(level)]["path"])


def axes_of(dimension_names: Sequence[str | None] | None) -> str | None:
    """Axis letters for an array's dimension names, when they name frames first and Y, X last."""
    if not dimension_names:
        return None
    letters = [_DIM_AXES.get(str(n).lower()) if n is not None else None for n in dimension_names]
    if None in letters or len(set(letters)) != len(letters) or letters[0] != "T":
        return None
    text = "".join(letters)  # type: ignore[arg-type]
    return text if text.endswith("YX") else None


def image_metadata(image: Mapping[str, Any], omero_attrs: Mapping[str, Any] | None,
                   level: int) -> dict[str, Any]:
    """The microscopy metadata (:mod:`pipeline.microscopy`) an image states for ``level``."""
    axes = [a if isinstance(a, Mapping) else {"name": a} for a in image.get("axes") or []]
    scale, offset = _placement(image, level, len(axes))
    meta: dict[str, Any] = {}
    sizes: dict[str, float] = {}
    units: dict[str, str] = {}
    start: dict[str, float] = {}
    for axis, step, shift in zip(axes, scale, offset):
        name, kind, unit = str(axis.get("name")), axis.get("type"), axis.get("unit")
        if step == 1.0 and not unit and not shift:  # the default: the image states nothing
            continue
        if kind == "time" or _DIM_AXES.get(name.lower()) == "T":
            meta[microscopy.TIME] = step
            if unit:
                meta[microscopy.TIME_UNIT] = unit
        elif kind == "space" or name.lower() in ("z", "y", "x"):
            sizes[name.lower()] = step
            if shift:
                start[name.lower()] = shift
            if unit:
                units[name.lower()] = unit
    meta[microscopy.SIZE] = sizes
    meta[microscopy.UNIT] = units
    meta[microscopy.ORIGIN] = start
    channels = (omero_attrs or {}).get("channels") or []
    names = [c.get("label") for c in channels if isinstance(c, Mapping)]
    if names and all(isinstance(n, str) for n in names):
        meta[microscopy.CHANNELS] = names
    return microscopy.clean(meta)


def level_array(group: Any, name: str, where: str) -> Any:
    """The array at ``name`` in ``group``, which the image's metadata lists as a level."""
    import zarr

    try:
        arr = group[name]
    except (KeyError, ValueError):  # ValueError: a path zarr refuses ('..' segments)
        arr = None
    if not isinstance(arr, zarr.Array):
        raise NotASeriesError(f"{where!r}: its OME-Zarr metadata lists {name!r}, which is "
                              "not an array there")
    return arr


def level_metadata(group: Any, image: Mapping[str, Any], record: Any, level: int,
                   load_array: Callable[[str], np.ndarray], use_omero: bool = True
                   ) -> Callable[[], dict[str, Any]]:
    """A loader of the metadata of ``level``: what the store says, with that level's pixel sizes.

    A lazyseries store's own metadata is used with its sizes scaled to the
    level; another tool's image gives what its ``multiscales`` and ``omero``
    state (``omero`` left out with ``use_omero=False``: it breaks the rules).
    """
    attrs = dict(group.attrs)
    own = record is not None
    meta = attrs.get("metadata") if own else {
        k: v for k, v in attrs.items() if k not in ("ome", "multiscales", "omero")}
    axes = axes_of(getattr(level_array(group, dataset_path(image, level, "store"), "store")
                           .metadata, "dimension_names", None)) or ""

    def load() -> dict[str, Any]:
        decoded = _json.decode(meta or {}, load_array)
        if own:
            factors = {a.lower(): f for a, f in zip(axes, level_factors(axes, level)) if f != 1}
            return microscopy.scaled(decoded, factors) if factors else decoded
        return {**decoded, **image_metadata(image, omero(attrs) if use_omero else None, level)}

    return load


def _placement(image: Mapping[str, Any], level: int, ndim: int
               ) -> tuple[list[float], list[float]]:
    """The scale of ``level`` and where its first pixel lies: its own transformations, then
    the image-wide ones (malformed ones, which :mod:`pipeline.ngff` names, left out)."""
    scale, offset = [1.0] * ndim, [0.0] * ndim
    datasets = image.get("datasets") or []
    transforms = list(image.get("coordinateTransformations") or [])
    if level < len(datasets):
        transforms = list(datasets[level].get("coordinateTransformations") or []) + transforms
    for t in transforms:
        kind = t.get("type") if isinstance(t, Mapping) else None
        values = t.get(kind) if kind in ("scale", "translation") else None
        if not isinstance(values, list) or len(values) != ndim or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            continue
        if kind == "scale":
            scale = [a * float(b) for a, b in zip(scale, values)]
            offset = [a * float(b) for a, b in zip(offset, values)]
        else:
            offset = [a + float(b) for a, b in zip(offset, values)]
    return scale, offset


__all__ = ["VERSION", "axes_of", "check_levels", "create_levels", "dataset_path", "describable",
           "downsample", "image_attrs", "image_metadata", "level_array", "level_metadata",
           "measured_windows", "merged", "multiscale", "omero", "ranges", "set_windows"]

"""napari opens lazyseries: an npe2 reader for stores, files lazyseries reads, pipeline files.

``napari --plugin lazyseries scan.zarr`` shows the frames as an image layer
over the series' dask array, nothing computed until napari draws a slice: one
layer per channel (``channel_axis``), or one RGB layer for colour pictures
(:func:`pipeline.microscopy.colour`, channels moved last lazily), placed by
the pixel sizes, origin and time increment of the metadata
(:mod:`pipeline.microscopy`) with its axis names and units, contrast from the
store's OME display windows, every level of an OME-Zarr image as a multiscale
layer.  A pipeline file (YAML with a ``source``) shows its result, computed
lazily.  The manifest is ``pipeline/napari.yaml``, declared as the
``napari.manifest`` entry point.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import pipeline
from pipeline import microscopy, ome, pipelinefile
from pipeline.axes import dimension_names
from pipeline.errors import NotASeriesError, PipelineFileError, UnknownFormatError
from pipeline.formats.live.growth import live_source
from pipeline.formats.zarr import ZarrSeries
from pipeline.interop import json_attrs
from pipeline.series import ImageSeries

LayerData = tuple[Any, dict[str, Any], str]
_DECLINE = (OSError, ValueError, TypeError, KeyError, ImportError, NotASeriesError,
            UnknownFormatError)


def get_reader(path: str | Sequence[str]) -> Callable[[Any], list[LayerData]] | None:
    """napari's reader hook: a function that reads ``path``, or ``None`` if lazyseries cannot.

    ``path`` is one path or a list of them (napari's ``viewer.open([...], stack=True)``,
    several files dropped at once): a list is one layer of the frames of every file in
    order, as ``pipeline.open([...])`` gives them.  Deciding opens the series (headers
    only) or validates the pipeline file, computing nothing (a pipeline file's
    ``{stat: median}`` dark is computed once, when napari reads it), so a path it
    declines costs napari nothing later and a path it takes will open.
    """
    try:
        paths = _paths(path)
        if not (len(paths) == 1 and _is_pipeline_file(paths[0])):
            pipeline.open(paths[0] if len(paths) == 1 else paths).close()
    except _DECLINE:
        return None
    return read


def read(path: str | Sequence[str]) -> list[LayerData]:
    """The image layer of ``path`` (one path, or a list of them whose frames are joined)."""
    series, levels = open_series(path)
    return [layer_data(series, _layer_name(path), levels)]


def _layer_name(path: str | Sequence[str]) -> str:
    paths = _paths(path)
    name = os.path.basename(paths[0].rstrip("/\\")) or paths[0]
    return name if len(paths) == 1 else f"{name} (+{len(paths) - 1})"


def _paths(path: str | Sequence[str]) -> list[str]:
    if isinstance(path, str | os.PathLike):
        return [os.fspath(path)]
    return [os.fspath(p) for p in path]


def open_series(path: str | Sequence[str]) -> tuple[ImageSeries, list[ImageSeries]]:
    """The series at ``path`` (a pipeline file's result; a list's frames one file after
    another) and its OME-Zarr levels beyond 0."""
    paths = _paths(path)
    if len(paths) == 1 and _is_pipeline_file(paths[0]):
        return pipelinefile.build(pipelinefile.load(paths[0])), []
    if len(paths) != 1:
        return pipeline.open(paths), []
    series = pipeline.open(paths[0])
    image, _ = _ome_image(series)
    count = len((image or {}).get("datasets") or [])
    return series, [ZarrSeries(series.path, level=k, storage_options=series._storage_options)
                    for k in range(1, count)] if isinstance(series, ZarrSeries) else []


def _is_pipeline_file(path: str) -> bool:
    """Whether ``path`` is a valid pipeline file (checked, nothing computed)."""
    if not path.lower().endswith((".yml", ".yaml")):
        return False
    try:
        pipelinefile.load(path)
    except PipelineFileError:
        return False
    return True


def _ome_image(series: ImageSeries) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The ``multiscales`` and ``omero`` entries of a Zarr store opened at level 0 of an
    OME-Zarr image (``None`` for anything else)."""
    import zarr

    if not isinstance(series, ZarrSeries) or set(series.description()) - {"format", "path"}:
        return None, None
    try:
        group = zarr.open_group(series.zarr_array.store, mode="r")
    except (zarr.errors.GroupNotFoundError, zarr.errors.ContainsArrayError, ValueError):
        return None, None
    attrs = dict(group.attrs)
    return ome.multiscale(attrs), ome.omero(attrs)


def layer_data(series: ImageSeries, name: str, levels: Sequence[ImageSeries] = ()
               ) -> LayerData:
    """``(data, kwargs, "image")`` for ``series``: dask-backed, placed, named, split into
    channels (or one RGB layer for colour pictures).

    A store being written shows the frames committed when it was read (its
    metadata's ``live`` says how many, and how many were announced); napari
    reading it again shows more.
    """
    axes, meta = series.axes, series.metadata
    arrays = [series.to_dask(), *(level.to_dask() for level in levels)]
    clean = microscopy.clean(meta)
    per_axis: dict[str, list[Any]] = {"scale": microscopy.spacing(clean, axes),
                "translate": microscopy.origin(clean, axes),
                "axis_labels": list(dimension_names(axes)),
                "units": _napari_units(microscopy.units(clean, axes))}
    kwargs: dict[str, Any] = {"metadata": {"lazyseries": series.description(),
                                           **json_attrs(meta)}}
    live = live_source(series)
    if live is not None:  # a store being written: the frames committed when it was read
        status = live.status()
        kwargs["metadata"]["live"] = {"frames": status.received, "dropped": status.dropped,
                                      "expected": status.expected, "ended": status.ended}
    if len(arrays) > 1:
        kwargs["multiscale"] = True
    kwargs["name"] = name
    if "C" in axes:
        channel = axes.index("C")
        for values in per_axis.values():  # one layer per channel (or the RGB) has the others
            del values[channel]
        if microscopy.colour(meta, axes, (len(series), *series.shape), series.dtype):
            arrays = [arr.rechunk({channel: -1}).transpose(_channels_last(arr.ndim, channel))
                      for arr in arrays]
            kwargs["rgb"] = True
        else:
            kwargs["channel_axis"] = channel
            names = microscopy.channel_names(meta, axes, arrays[0].shape)
            kwargs["name"] = names if names else [f"{name} [{c}]" for c in
                                                  range(arrays[0].shape[channel])]
            limits = _windows(series)
            if limits is not None and len(limits) == arrays[0].shape[channel]:
                kwargs["contrast_limits"] = limits
    else:
        limits = _windows(series)
        if limits is not None and len(limits) == 1:
            kwargs["contrast_limits"] = limits[0]
    kwargs.update({key: tuple(values) for key, values in per_axis.items()})
    return (arrays if len(arrays) > 1 else arrays[0]), kwargs, "image"


def _channels_last(ndim: int, channel: int) -> tuple[int, ...]:
    return (*(a for a in range(ndim) if a != channel), channel)


def _napari_units(units: list[str | None]) -> list[str | None]:
    """The units napari (pint) is given: the OME-Zarr names of :mod:`pipeline.microscopy`,
    ``None`` (napari's ``pixel``) for the rest."""
    known = (*microscopy.LENGTH_UNITS, *microscopy.TIME_UNITS)
    return [u if u in known else None for u in units]


def _windows(series: ImageSeries) -> list[list[float]] | None:
    """Each channel's display window, ``[start, end]``, from the store's OME ``omero``."""
    _, found = _ome_image(series)
    channels = (found or {}).get("channels")
    if not isinstance(channels, list):
        return None
    out = []
    for channel in channels:
        window = (channel.get("window") if isinstance(channel, dict) else None) or {}
        start, end = window.get("start"), window.get("end")
        if not isinstance(start, int | float) or not isinstance(end, int | float) or \
                isinstance(start, bool) or isinstance(end, bool) or not start < end:
            return None
        out.append([float(start), float(end)])
    return out


__all__ = ["get_reader", "layer_data", "open_series", "read"]

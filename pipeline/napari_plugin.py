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
from pipeline.formats.zarr import ZarrSeries
from pipeline.interop import json_attrs
from pipeline.series import ImageSeries

LayerData = tuple[Any, dict[str, Any], str]
_DECLINE = (OSError, ValueError, TypeError, KeyError, ImportError, NotASeriesError,
            UnknownFormatError)


def get_reader(path: str | Sequence[str]) -> Callable[[Any], list[LayerData]] | None:
    """napari's reader hook: a function that reads ``path``, or ``None`` if lazyseries cannot.

    Deciding opens the series (headers only) or validates the pipeline file,
    computing nothing (a pipeline file's ``{stat: median}`` dark is computed once,
    when napari reads it), so a path it declines costs napari nothing later and
    a path it takes will open.
    """
    if not isinstance(path, str | os.PathLike):
        if len(path) != 1:
            return None
        path = path[0]
    try:
        if not _is_pipeline_file(os.fspath(path)):
            pipeline.open(os.fspath(path))
    except _DECLINE:
        return None
    return read


def read(path: str | Sequence[str]) -> list[LayerData]:
    """The image layers of ``path`` (one path, or a list of one)."""
    if not isinstance(path, str | os.PathLike):
        path = path[0]
    series, levels = open_series(os.fspath(path))
    name = os.path.basename(os.fspath(path).rstrip("/\\")) or os.fspath(path)
    return [layer_data(series, name, levels)]


def open_series(path: str) -> tuple[ImageSeries, list[ImageSeries]]:
    """The series at ``path`` (a pipeline file's result) and its OME-Zarr levels beyond 0."""
    if _is_pipeline_file(path):
        return pipelinefile.build(pipelinefile.load(path)), []
    series = pipeline.open(path)
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
    channels (or one RGB layer for colour pictures)."""
    axes, meta = series.axes, series.metadata
    arrays = [series.to_dask(), *(level.to_dask() for level in levels)]
    clean = microscopy.clean(meta)
    per_axis: dict[str, list[Any]] = {"scale": microscopy.spacing(clean, axes),
                "translate": microscopy.origin(clean, axes),
                "axis_labels": list(dimension_names(axes)),
                "units": _napari_units(microscopy.units(clean, axes))}
    kwargs: dict[str, Any] = {"metadata": {"lazyseries": series.description(),
                                           **json_attrs(meta)}}
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

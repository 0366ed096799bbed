"""napari opens lazyseries: an npe2 reader for stores, files lazyseries reads, pipeline files.

``napari scan.zarr`` (with lazyseries installed) shows the frames as an image
layer over the series' dask array, nothing computed until napari draws a
slice: one layer per channel (``channel_axis``), scaled by the pixel sizes
and time increment of the metadata (:mod:`pipeline.microscopy`), every level
of an OME-Zarr image as a multiscale layer.  A pipeline file (YAML with a
``source``) shows its result, computed lazily.  The manifest is
``pipeline/napari.yaml``, declared as the ``napari.manifest`` entry point.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import pipeline
from pipeline import microscopy, ome, pipelinefile
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
    return series, _levels(series)


def _is_pipeline_file(path: str) -> bool:
    """Whether ``path`` is a valid pipeline file (checked, nothing computed)."""
    if not path.lower().endswith((".yml", ".yaml")):
        return False
    try:
        pipelinefile.load(path)
    except PipelineFileError:
        return False
    return True


def _levels(series: ImageSeries) -> list[ImageSeries]:
    """Levels 1, 2, ... of a Zarr store opened at level 0 of an OME-Zarr image."""
    import zarr

    if not isinstance(series, ZarrSeries) or set(series.description()) - {"format", "path"}:
        return []
    try:
        group = zarr.open_group(series.zarr_array.store, mode="r")
    except (zarr.errors.GroupNotFoundError, zarr.errors.ContainsArrayError, ValueError):
        return []
    image = ome.multiscale(group.attrs)
    count = len((image or {}).get("datasets") or [])
    return [ZarrSeries(series.path, level=k, storage_options=series._storage_options)
            for k in range(1, count)]


def layer_data(series: ImageSeries, name: str, levels: Sequence[ImageSeries] = ()
               ) -> LayerData:
    """``(data, kwargs, "image")`` for ``series``: dask-backed, scaled, split into channels.

    A store being written shows the frames committed when it was read (its
    metadata's ``live`` says how many, and how many were announced); napari
    reading it again shows more.
    """
    axes, meta = series.axes, series.metadata
    arrays = [series.to_dask(), *(level.to_dask() for level in levels)]
    scale = microscopy.spacing(microscopy.clean(meta), axes)
    kwargs: dict[str, Any] = {"metadata": {"lazyseries": series.description(),
                                           **json_attrs(meta)}}
    live = live_source(series)
    if live is not None:  # a store being written: the frames committed when it was read
        status = live.status()
        kwargs["metadata"]["live"] = {"frames": status.received, "dropped": status.dropped,
                                      "expected": status.expected, "ended": status.ended}
    if len(arrays) > 1:
        kwargs["multiscale"] = True
    if "C" in axes:
        channel = axes.index("C")
        kwargs["channel_axis"] = channel
        del scale[channel]  # napari splits the channels: each layer has the other axes
        names = microscopy.channel_names(meta, axes, arrays[0].shape)
        kwargs["name"] = names if names else [f"{name} [{c}]" for c in
                                              range(arrays[0].shape[channel])]
    else:
        kwargs["name"] = name
    kwargs["scale"] = tuple(scale)
    return (arrays if len(arrays) > 1 else arrays[0]), kwargs, "image"


__all__ = ["get_reader", "layer_data", "open_series", "read"]

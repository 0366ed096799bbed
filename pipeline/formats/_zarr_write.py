"""Writing a series to a Zarr (format 3) store, in parallel, safely.

Safety: an existing path is an error unless ``overwrite=True``; every argument
is checked before anything on disk changes; the store is marked complete only
after the last chunk is written, so a write that dies leaves a store that
``open`` refuses as incomplete and that a repeated write finishes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline import _json, graph, ome
from pipeline.axes import dimension_names
from pipeline.errors import StoreExistsError
from pipeline.formats import _chunkio
from pipeline.formats.zarr import ARRAY_NAME, ATTR, FORMAT_VERSION, _is_url, exists
from pipeline.series import ImageSeries

CHUNK_BYTES = 2**20
"""Small frames are batched into chunks of about this many bytes (whole frames each).

Measured (benchmarks/README.md): with zarr-python, one frame read from a
shard costs about 1 ms more than from a plain chunk, while decoding a 1 MiB
chunk costs far less; and per-object write costs are amortised by 1 MiB.  So
small frames go in plain multi-frame chunks; ``shards=`` is there for stores
that must hold fewer files.
"""

CODECS: dict[str, tuple[str, dict[str, Any]]] = {
    # chosen by measurement (benchmarks/README.md, "codecs"): on detector frames Blosc lz4
    # with bit-shuffle keeps 98% of Blosc zstd's compression at 2.4x its encode speed
    "default": ("blosc", {"cname": "lz4", "clevel": 5, "shuffle": "bitshuffle"}),
    "blosc-lz4": ("blosc", {"cname": "lz4", "clevel": 5, "shuffle": "bitshuffle"}),
    "blosc-zstd": ("blosc", {"cname": "zstd", "clevel": 3, "shuffle": "bitshuffle"}),
    "compact": ("blosc", {"cname": "zstd", "clevel": 1, "shuffle": "shuffle"}),
    "zstd": ("zstd", {"level": 3}),
    "gzip": ("gzip", {"level": 4}),
}


def codec_names() -> list[str]:
    return [*CODECS, "none"]


_BLOSC_SHUFFLES = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle"}


def _spec_codec(kind: str, options: dict[str, Any]) -> Any:
    """A codec of the Zarr 3 spec (read by every Zarr 3 implementation)."""
    import zarr.codecs as zc

    make = {"blosc": zc.BloscCodec, "zstd": zc.ZstdCodec, "gzip": zc.GzipCodec}[kind]
    return make(**options)


def resolve_codec(codec: Any) -> Any:
    """A zarr ``compressors`` value for ``codec``: a name, a zarr codec or a numcodecs codec.

    numcodecs' Blosc, Zstd and GZip become the Zarr 3 spec's own codecs, so
    any Zarr 3 reader opens the store; other numcodecs codecs are wrapped.
    """
    if codec is None or codec == "none":
        return None
    if isinstance(codec, str):
        if codec not in CODECS:
            raise ValueError(f"unknown codec {codec!r}; known codecs are {codec_names()}")
        return _spec_codec(*CODECS[codec])
    if isinstance(codec, list | tuple):
        return [resolve_codec(c) for c in codec]
    import numcodecs.abc

    if not isinstance(codec, numcodecs.abc.Codec):
        return codec
    config = codec.get_config()
    kind = config.pop("id", None)
    if kind == "blosc" and config.get("shuffle") in _BLOSC_SHUFFLES:
        config["shuffle"] = _BLOSC_SHUFFLES[config["shuffle"]]
        return _spec_codec(kind, config)
    if kind in ("zstd", "gzip"):
        return _spec_codec(kind, config)
    import zarr.codecs as zc

    wrapper = getattr(zc, type(codec).__name__, None)
    if wrapper is None:
        raise ValueError(f"numcodecs codec {codec!r} has no zarr 3 wrapper")
    return wrapper(**config)


def default_layout(
    nframes: int, shape: tuple[int, ...], dtype: np.dtype
) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """``(chunks, shards)`` for ``nframes`` frames, adapted to the frame size.

    Each chunk holds whole frames: one frame when frames are large, else about
    :data:`CHUNK_BYTES` of them, so that reading one frame decodes little and
    per-object costs do not dominate writing.  No shards (see :data:`CHUNK_BYTES`).
    """
    frame_bytes = max(1, int(np.prod(shape)) * dtype.itemsize)
    per_chunk = max(1, min(max(nframes, 1), CHUNK_BYTES // frame_bytes))
    return (per_chunk, *shape), None


def _check_layout(chunks: Any, shards: Any, nframes: int, shape: tuple[int, ...]
                  ) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    full = (max(nframes, 1), *shape)
    if isinstance(chunks, int):
        chunks = (chunks, *shape)
    chunks = tuple(int(c) for c in chunks)
    if len(chunks) != len(full) or any(c < 1 for c in chunks):
        raise ValueError(f"chunks {chunks!r} must be {len(full)} positive sizes for {full}")
    if shards is not None:
        if isinstance(shards, int):
            shards = (shards * chunks[0], *shape)
        shards = tuple(int(s) for s in shards)
        if len(shards) != len(full) or any(s % c for s, c in zip(shards, chunks)):
            raise ValueError(f"shards {shards!r} must be whole multiples of chunks {chunks!r}")
    return chunks, shards


def write(
    series: ImageSeries,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    codec: Any = "default",
    chunks: Any = None,
    shards: Any = None,
    storage_options: dict[str, Any] | None = None,
    compute: bool = True,
    levels: int = 0,
) -> Any:
    """Write ``series`` to a Zarr group at ``path``; return the reopened series.

    Parameters
    ----------
    overwrite
        Replace what is at ``path``.  Without it an existing path is an error
        (an incomplete store of the same shape is finished instead).
    codec
        A name from :data:`CODECS` (``"default"``), ``"none"``, or any zarr 3
        or numcodecs codec.
    chunks, shards
        The array's chunks and shards (frames first).  Default:
        :func:`default_layout`.
    levels
        Downsampled levels of the OME-Zarr image (see :mod:`pipeline.ome`),
        computed in the same graph as the frames.
    compute
        With ``False``, return the dask ``store`` task instead of running it;
        computing it writes the frames and marks the store complete.
    """
    import dask
    import dask.array as da
    import zarr

    target = os.fspath(path)
    if target.startswith("file://"):  # fsspec's local filesystem makes no directories unless asked
        storage_options = {"auto_mkdir": True, **(storage_options or {})}
    n, shape, dtype = len(series), tuple(series.shape), np.dtype(series.dtype)
    compressors = resolve_codec(codec)
    if chunks is None and shards is None:
        chunks, shards = default_layout(n, shape, dtype)
    else:
        chunks, shards = _check_layout(chunks or (1, *shape), shards, n, shape)
    # each task writes whole stored objects (so no locks), about a dask chunk's worth
    stored = (shards or chunks)[0]
    frames = series.to_dask(frames_per_chunk=stored * max(1, graph.frames_per_chunk(
        series) // stored))
    provenance = series.description()
    metadata = series.metadata
    _json.encode(metadata, sink=lambda arr: "", where="metadata")  # fails before any change
    levels = ome.check_levels(levels, series.axes, shape)
    ome_attrs = ome.image_attrs(series.axes, metadata, levels, (n, *shape), dtype, ARRAY_NAME)
    _prepare_target(target, series, (n, *shape), dtype, overwrite, storage_options)

    group = zarr.open_group(target, mode="a", storage_options=storage_options, zarr_format=3)
    sink = _array_sink(group)
    record = {"format_version": FORMAT_VERSION, "complete": False, "array": ARRAY_NAME,
              "provenance": _json.encode(provenance, sink)}
    group.attrs.update({ATTR: record, "metadata": _json.encode(metadata, sink), **ome_attrs})
    array = group.create_array(
        ARRAY_NAME, shape=(n, *shape), dtype=dtype, chunks=chunks, shards=shards,
        compressors=compressors, fill_value=0, overwrite=True,
        dimension_names=dimension_names(series.axes),
        config={"write_empty_chunks": True},
    )
    sources, targets = ome.create_levels(
        group, frames, levels, (shards or chunks)[0], compressors=compressors, fill_value=0,
        dimension_names=dimension_names(series.axes), config={"write_empty_chunks": True})
    stored = da.store([frames, *sources], [_chunkio.store_target(array), *targets],
                      lock=False, compute=False)  # type: ignore[arg-type]
    done = dask.delayed(_mark_complete)(target, storage_options, stored)
    if not compute:
        return done
    done.compute()
    from pipeline.formats.zarr import ZarrSeries

    return ZarrSeries(target, storage_options=storage_options)


def _array_sink(group: Any) -> Callable[[np.ndarray], str]:
    """Stores large metadata arrays beside the frames, each distinct array once.

    A dark frame is often both in the metadata and in the recorded op chain;
    it is stored once, named by its content.
    """

    def sink(arr: np.ndarray) -> str:
        from dask.base import tokenize

        key = f"_arrays/{tokenize(arr.dtype.str, arr.shape, arr)[:16]}"
        if key not in group:
            _chunkio.create_filled(group, key, np.ascontiguousarray(arr))
        return key

    return sink


def _record(group: Any) -> dict[str, Any] | None:
    """The store's ``lazyseries`` attribute, if it has one."""
    record = group.attrs.get(ATTR)
    return dict(record) if isinstance(record, dict) else None


def _mark_complete(target: str, storage_options: dict[str, Any] | None, _stored: Any) -> None:
    import zarr

    group = zarr.open_group(target, mode="r+", storage_options=storage_options)
    record = _record(group) or {}
    record["complete"] = True
    group.attrs.update({ATTR: record})


def _prepare_target(target: str, series: ImageSeries, full_shape: tuple[int, ...],
                    dtype: np.dtype, overwrite: bool,
                    storage_options: dict[str, Any] | None) -> None:
    """Make room at ``target``, or refuse; nothing is removed unless asked."""
    if not exists(target, storage_options):
        return
    _refuse_own_source(target, series)
    if overwrite:
        _remove(target, storage_options)
        return
    if _is_resumable(target, full_shape, dtype, storage_options):
        return
    raise StoreExistsError(
        f"{target!r} exists; pass overwrite=True to replace it, or choose another path"
    )


def _refuse_own_source(target: str, series: ImageSeries) -> None:
    from pipeline.processed import plan

    source_path = plan(series)[0].description().get("path")
    if source_path and not _is_url(target) and os.path.realpath(source_path) == os.path.realpath(
        target
    ):
        raise ValueError(
            f"cannot write over {target!r}: it is the source of the series being written"
        )


def _is_resumable(target: str, full_shape: tuple[int, ...], dtype: np.dtype,
                  storage_options: dict[str, Any] | None) -> bool:
    """An unfinished store of the same frames: the write that made it died; finish it."""
    import zarr

    try:
        group = zarr.open_group(target, mode="r", storage_options=storage_options)
        record = _record(group)
        if record is None or record.get("complete", True):
            return False
        arr = group[str(record.get("array", ARRAY_NAME))]
        return (isinstance(arr, zarr.Array) and tuple(arr.shape) == full_shape
                and np.dtype(arr.dtype) == dtype)
    except Exception:  # noqa: BLE001  (anything unreadable is not ours to reuse)
        return False


def _remove(target: str, storage_options: dict[str, Any] | None) -> None:
    if _is_url(target):
        import fsspec

        fs, fs_path = fsspec.core.url_to_fs(target, **(storage_options or {}))
        fs.rm(fs_path, recursive=True)
    elif os.path.isdir(target) and not os.path.islink(target):
        shutil.rmtree(target)
    else:
        os.remove(target)

"""Whole-chunk reads and writes of local Zarr 3 arrays with numcodecs and plain file I/O.

zarr-python's per-chunk path costs about 0.7 ms per read and 1 ms per write
in thread hand-offs to its event loop (benchmarks/README.md), more than
decoding a chunk.  For the arrays lazyseries writes (a local store, regular
chunks, the ``bytes`` codec in native byte order and at most one of Blosc,
Zstd or GZip), a chunk is one file holding the codec's output, so it is read
and written here directly: the same numcodecs codec zarr-python calls, the
same chunk keys, the same padding of edge chunks with the fill value, the
same atomic file replacement.  Every byte is identical (tests/pipeline/
formats/test_chunkio.py).  Anything else (URLs, filters, transposes,
checksums, format 2) is left to zarr-python: :func:`plan` returns None.
Sharded arrays are read and written whole shard by whole shard in
:mod:`pipeline.formats._shardio`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ops import Region
from pipeline.formats._chunkplan import _COMPRESSORS, ChunkPlan
from pipeline.formats._shardio import shard_plan, sharding_of

__all__ = ["ChunkPlan", "create_filled", "plan", "read", "store_target"]


def plan(array: Any, strict: bool = False) -> ChunkPlan | None:
    """A :class:`ChunkPlan` for the ``zarr.Array`` ``array``, or None where zarr must do it.

    ``strict``: a missing chunk raises instead of reading as the fill value.
    """
    import zarr.storage

    if os.environ.get("LAZYSERIES_CHUNKIO", "1") == "0" or array.metadata.zarr_format != 3:
        return None
    store = array.store
    if type(store) is not zarr.storage.LocalStore or array.ndim < 1:
        return None
    meta = array.metadata.to_dict()
    codecs = meta.get("codecs") or []
    sharding = sharding_of(codecs)
    if sharding is False:
        return None
    if isinstance(sharding, dict):
        codecs = sharding["codecs"]
    codec_spec = _plain_codecs(codecs, np.dtype(array.dtype))
    grid, keys = meta.get("chunk_grid") or {}, meta.get("chunk_key_encoding") or {}
    if codec_spec is False or grid.get("name") != "regular":
        return None
    prefix, separator = _key_encoding(keys)
    if separator is None:
        return None
    dtype = np.dtype(array.dtype)
    if dtype.hasobject or dtype.kind not in "biufc" or array.order != "C":
        return None
    root = os.path.join(str(store.root), *[p for p in array.path.split("/") if p])
    stored = tuple(int(c) for c in grid["configuration"]["chunk_shape"])
    common = {"root": root, "shape": tuple(array.shape), "dtype": dtype,
              "fill_value": array.metadata.fill_value, "codec_spec": codec_spec,
              "key_prefix": prefix, "separator": separator,
              "write_empty_chunks": bool(array.config.write_empty_chunks), "strict": strict}
    if not isinstance(sharding, dict):
        return ChunkPlan(chunks=stored, **common)
    return shard_plan(sharding, stored, common)


def _plain_codecs(codecs: list[dict[str, Any]], dtype: np.dtype) -> Any:
    """The one compressor of a ``bytes [+ compressor]`` chain, None for none, False otherwise."""
    if not codecs or codecs[0].get("name") != "bytes":
        return False
    endian = (codecs[0].get("configuration") or {}).get("endian")
    native = "little" if np.little_endian else "big"
    if dtype.itemsize > 1 and (endian != native or not dtype.isnative):
        return False
    rest = codecs[1:]
    if not rest:
        return None
    if len(rest) == 1 and rest[0].get("name") in _COMPRESSORS:
        return rest[0]
    return False


def _key_encoding(keys: dict[str, Any]) -> tuple[str, str | None]:
    name = keys.get("name", "default")
    separator = (keys.get("configuration") or {}).get("separator")
    if name == "default":
        return "c" + (separator or "/"), separator or "/"
    if name == "v2":
        return "", separator or "."
    return "", None


def read(chunk_plan: ChunkPlan, frames: slice | np.ndarray, region: Region) -> np.ndarray:
    """Frames ``frames`` of a frames-first array within ``region``: what a series ``read`` owes."""
    if type(frames) is slice and frames.stop - frames.start == 1 and \
            region == chunk_plan.full_region:
        return chunk_plan.read_frame(frames.start)
    rest = [slice(0, n) for n in chunk_plan.shape[1 + len(region):]]
    return chunk_plan.read((frames, *(slice(a, b) for a, b in region), *rest))


def create_filled(group: Any, key: str, data: np.ndarray, compressors: Any = "auto") -> Any:
    """``group.create_array(key, data=data, compressors=compressors, overwrite=True)``, its
    chunks written here.

    The same array zarr-python makes (its own choice of chunks, empty chunks
    skipped as it skips them), byte for byte, without its per-chunk path;
    chunks are encoded on two threads (a metadata array is written before
    the frames, by the caller's thread alone).
    """
    from concurrent.futures import ThreadPoolExecutor

    probe = group.create_array(key, shape=data.shape, dtype=data.dtype, overwrite=True,
                               compressors=compressors, config={"write_empty_chunks": False})
    chunk_plan = plan(probe)
    if chunk_plan is None or data.ndim == 0:
        probe[...] = data
        return probe
    size = chunk_plan.chunks[0]
    boxes = [(slice(a, min(a + size, data.shape[0])),) for a in range(0, data.shape[0], size)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda box: chunk_plan.write(box, data[box]), boxes))
    return probe


def store_target(array: Any) -> Any:
    """What ``dask.array.store`` should write ``array`` through: a plan, or the array itself."""
    chunk_plan = plan(array)
    return array if chunk_plan is None else chunk_plan

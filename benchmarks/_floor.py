"""The physical floor of an end-to-end run, and tensorstore: competitors without zarr-python.

The codec floor is what the work costs with nothing between the disk and
numpy: read each chunk or shard file whole, decode it (each inner chunk of a
shard) with numcodecs, run the chain in numpy, encode with numcodecs (each
inner chunk, its index after them), write the file; two threads (the
machine's cores) over the output chunks or shards.  The output store is a valid Zarr 3 array (its
``zarr.json`` written by hand), laid out as lazyseries lays it out, so the
rows compare the same work.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from benchmarks._pipelines import ARRAY, Case, fused_ops

THREADS = 2
OUT_CODEC = {"name": "blosc", "configuration": {"typesize": 2, "cname": "zstd", "clevel": 3,
                                                "shuffle": "bitshuffle", "blocksize": 0}}


def out_layout(case: Case) -> tuple[int, int | None]:
    """Frames per output chunk and per shard (None: no shards): lazyseries' default layout."""
    from pipeline.formats.zarr.layout import default_layout

    n, h, w = case.out_shape
    chunks, shards = default_layout(n, (h, w), np.dtype(np.uint16))
    return chunks[0], shards and shards[0]


def out_frames_per_chunk(case: Case) -> int:
    """Frames each output task writes: one stored object (a shard, else a chunk)."""
    chunk, shard = out_layout(case)
    return shard or chunk


def _numcodec(spec: dict[str, Any]) -> Any:
    import numcodecs

    conf = spec["configuration"]
    if spec["name"] == "blosc":
        shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[conf["shuffle"]]
        return numcodecs.Blosc(cname=conf["cname"], clevel=conf["clevel"], shuffle=shuffle,
                               blocksize=conf.get("blocksize", 0), typesize=conf["typesize"])
    return {"zstd": lambda: numcodecs.Zstd(level=conf.get("level", 0)),
            "gzip": lambda: numcodecs.GZip(level=conf.get("level", 5))}[spec["name"]]()


def _array_meta(path: str) -> dict[str, Any]:
    with open(os.path.join(path, "zarr.json"), encoding="utf-8") as fh:
        return json.load(fh)


def _codecs(chunks: tuple[int, ...], shards: tuple[int, ...] | None) -> list[dict[str, Any]]:
    inner = [{"name": "bytes", "configuration": {"endian": "little"}}, OUT_CODEC]
    if shards is None:
        return inner
    return [{"name": "sharding_indexed", "configuration": {
        "chunk_shape": list(chunks), "codecs": inner, "index_location": "end",
        "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                         {"name": "crc32c"}]}}]


def _write_meta(path: str, shape: tuple[int, ...], chunks: tuple[int, ...],
                shards: tuple[int, ...] | None = None) -> None:
    os.makedirs(path, exist_ok=True)
    meta = {"zarr_format": 3, "node_type": "array", "shape": list(shape), "data_type": "uint16",
            "chunk_grid": {"name": "regular",
                           "configuration": {"chunk_shape": list(shards or chunks)}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": 0, "codecs": _codecs(chunks, shards), "attributes": {}}
    with open(os.path.join(path, "zarr.json"), "w", encoding="utf-8") as fh:
        json.dump(meta, fh)


class _Source:
    """Reads stored objects (plain chunks, or shards of one-frame-or-more inner chunks)."""

    def __init__(self, path: str) -> None:
        meta = _array_meta(path)
        self.path = path
        self.stored = int(meta["chunk_grid"]["configuration"]["chunk_shape"][0])
        codecs = meta["codecs"]
        self.inner = None
        if codecs[0]["name"] == "sharding_indexed":
            conf = codecs[0]["configuration"]
            self.inner = int(conf["chunk_shape"][0])
            codecs = conf["codecs"]
        self.decoder = _numcodec(codecs[1])

    def read(self, c: int, out: np.ndarray) -> None:
        """Stored object ``c`` (``self.stored`` frames) into ``out``."""
        with open(os.path.join(self.path, "c", str(c), "0", "0"), "rb") as fh:
            data = fh.read()
        if self.inner is None:
            self.decoder.decode(data, out=out)
            return
        per = self.stored // self.inner
        index = np.frombuffer(data, "<u8", 2 * per, len(data) - 16 * per - 4).reshape(per, 2)
        view = memoryview(data)
        for i, (offset, nbytes) in enumerate(index.tolist()):
            if offset != 2**64 - 1:
                self.decoder.decode(view[offset:offset + nbytes],
                                    out=out[i * self.inner:(i + 1) * self.inner])


def _encode_stored(encoder: Any, frames: np.ndarray, chunk: int, shard: int | None,
                   valid: int) -> bytes:
    """One output object: a chunk, or a shard of ``chunk``-frame inner chunks (index at end)."""
    if shard is None:
        return encoder.encode(frames)
    import google_crc32c

    per = shard // chunk
    index = np.full((per, 2), 2**64 - 1, "<u8")
    parts, start = [], 0
    for i in range(-(-valid // chunk)):  # inner chunks wholly past the end are left out
        part = encoder.encode(np.ascontiguousarray(frames[i * chunk:(i + 1) * chunk]))
        index[i] = (start, len(part))
        parts.append(part)
        start += len(part)
    raw = index.tobytes()
    return b"".join([*parts, raw, np.uint32(google_crc32c.value(raw)).tobytes()])


def codec_floor(case: Case, out: str) -> None:
    """numcodecs decode -> numpy chain -> numcodecs encode, plain files, 2 threads."""
    source = _Source(os.path.join(case.src, ARRAY))
    schunk = source.stored
    encoder = _numcodec(OUT_CODEC)
    chunk, shard = out_layout(case)
    per = shard or chunk
    n, h, w = case.out_shape
    dst = os.path.join(out, ARRAY)
    _write_meta(dst, case.out_shape, (chunk, h, w), shard and (shard, h, w))
    frame = case.shape

    def one(k: int) -> None:
        a, b = k * per, min((k + 1) * per, n)
        first, last = a // schunk, (b - 1) // schunk
        block = np.empty(((last - first + 1) * schunk, *frame), np.uint16)
        for c in range(first, last + 1):
            source.read(c, block[(c - first) * schunk:(c - first + 1) * schunk])
        part = block[a - first * schunk: b - first * schunk]
        result = fused_ops(part, case.dark, case.crop)
        if len(result) < per:
            result = np.concatenate([result, np.zeros((per - len(result), h, w), np.uint16)])
        path = os.path.join(dst, "c", str(k), "0", "0")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(_encode_stored(encoder, result, chunk, shard, b - a))

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, range(-(-n // per))))


def tensorstore_available() -> bool:
    try:
        import tensorstore  # noqa: F401
    except ImportError:
        return False
    return True


def tensorstore_pipeline(case: Case, out: str) -> None:
    """tensorstore read -> numpy chain -> tensorstore write, 2 threads over output chunks."""
    import tensorstore as ts

    context = ts.Context({"data_copy_concurrency": {"limit": THREADS},
                          "file_io_concurrency": {"limit": THREADS}})
    src = ts.open({"driver": "zarr3", "kvstore": {"driver": "file",
                                                   "path": os.path.join(case.src, ARRAY)}},
                  context=context).result()
    chunk, shard = out_layout(case)
    per = shard or chunk
    n, h, w = case.out_shape
    dst = ts.open({"driver": "zarr3", "kvstore": {"driver": "file",
                                                   "path": os.path.join(out, ARRAY)},
                   "metadata": {"shape": [n, h, w], "data_type": "uint16",
                                "chunk_grid": {"name": "regular",
                                               "configuration": {"chunk_shape": [per, h, w]}},
                                "codecs": _codecs((chunk, h, w), shard and (shard, h, w))}},
                  create=True, delete_existing=True, context=context).result()

    def one(k: int) -> None:
        a, b = k * per, min((k + 1) * per, n)
        block = src[a:b].read().result()
        dst[a:b].write(fused_ops(block, case.dark, case.crop)).result()

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, range(-(-n // per))))

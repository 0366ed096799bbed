"""The physical floor of an end-to-end run, and tensorstore: competitors without zarr-python.

The codec floor is what the work costs with nothing between the disk and
numpy: read each chunk file, decode it with numcodecs, run the chain in numpy,
encode with numcodecs, write the file; two threads (the machine's cores) over
the output chunks.  The output store is a valid Zarr 3 array (its
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


def out_frames_per_chunk(case: Case) -> int:
    """Frames per output chunk: whole frames, about 1 MiB (lazyseries' default layout)."""
    n, h, w = case.out_shape
    return max(1, min(n, 2**20 // (h * w * 2)))


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


def _write_meta(path: str, shape: tuple[int, ...], chunks: tuple[int, ...]) -> None:
    os.makedirs(path, exist_ok=True)
    meta = {"zarr_format": 3, "node_type": "array", "shape": list(shape), "data_type": "uint16",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": 0, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                                        OUT_CODEC], "attributes": {}}
    with open(os.path.join(path, "zarr.json"), "w", encoding="utf-8") as fh:
        json.dump(meta, fh)


def codec_floor(case: Case, out: str) -> None:
    """numcodecs decode -> numpy chain -> numcodecs encode, plain files, 2 threads."""
    src = os.path.join(case.src, ARRAY)
    meta = _array_meta(src)
    schunk = int(meta["chunk_grid"]["configuration"]["chunk_shape"][0])
    decoder = _numcodec(meta["codecs"][1])
    encoder = _numcodec(OUT_CODEC)
    per = out_frames_per_chunk(case)
    n, h, w = case.out_shape
    dst = os.path.join(out, ARRAY)
    _write_meta(dst, case.out_shape, (per, h, w))
    frame = case.shape

    def one(k: int) -> None:
        a, b = k * per, min((k + 1) * per, n)
        first, last = a // schunk, (b - 1) // schunk
        block = np.empty(((last - first + 1) * schunk, *frame), np.uint16)
        for c in range(first, last + 1):
            with open(os.path.join(src, "c", str(c), "0", "0"), "rb") as fh:
                decoder.decode(fh.read(), out=block[(c - first) * schunk:(c - first + 1) * schunk])
        part = block[a - first * schunk: b - first * schunk]
        result = fused_ops(part, case.dark, case.crop)
        if len(result) < per:
            result = np.concatenate([result, np.zeros((per - len(result), h, w), np.uint16)])
        path = os.path.join(dst, "c", str(k), "0", "0")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(encoder.encode(result))

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
    per = out_frames_per_chunk(case)
    n, h, w = case.out_shape
    dst = ts.open({"driver": "zarr3", "kvstore": {"driver": "file",
                                                   "path": os.path.join(out, ARRAY)},
                   "metadata": {"shape": [n, h, w], "data_type": "uint16",
                                "chunk_grid": {"name": "regular",
                                               "configuration": {"chunk_shape": [per, h, w]}},
                                "codecs": [{"name": "bytes",
                                            "configuration": {"endian": "little"}}, OUT_CODEC]}},
                  create=True, delete_existing=True, context=context).result()

    def one(k: int) -> None:
        a, b = k * per, min((k + 1) * per, n)
        block = src[a:b].read().result()
        dst[a:b].write(fused_ops(block, case.dark, case.crop)).result()

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, range(-(-n // per))))

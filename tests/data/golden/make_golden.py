"""Write the golden stores of the current store format version (run once per version).

A golden store is kept in the repository for good: tests/pipeline/formats/
test_golden.py opens every one of them with today's code, so a store written
by an older version still opens.  Run this only when FORMAT_VERSION changes,
into a new directory ``v<version>``; never rewrite an existing one.  When the
default layout changes within a version, ``make_golden.py LAYOUT`` writes
``v<version>-LAYOUT`` beside the older ones (``v1-sharded``: one frame per
chunk in shards, written by the direct chunk path, plus ``shards.zarr`` with
an edge shard).
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

import pipeline
from pipeline.formats.zarr import FORMAT_VERSION

HERE = pathlib.Path(__file__).parent


def frames() -> np.ndarray:
    """The raw frames every golden store is made from."""
    return (np.arange(4 * 6 * 8, dtype=np.uint16).reshape(4, 6, 8) * 37) % 1000


def metadata() -> dict:
    return {"omega": np.array([[0.0, 0.5], [0.5, 1.0], [1.0, 1.5], [1.5, 2.0]]),
            "name": "golden", "count": 4, "nested": {"gain": 1.5, "tags": ["a", "b"]},
            "missing": None}


def chain() -> list:
    dark = np.full((6, 8), 100, dtype=np.uint16)
    return [("dark", dark), ("flip", "v"), ("rectangle", ((1, 5), (2, 8)))]


def main(layout: str = "") -> int:
    out = HERE / (f"v{FORMAT_VERSION}-{layout}" if layout else f"v{FORMAT_VERSION}")
    if out.exists():
        print(f"{out} exists: golden stores are never rewritten", file=sys.stderr)
        return 1
    out.mkdir()
    raw = pipeline.from_array(frames(), metadata())
    pipeline.write(raw, out / "raw.zarr")
    pipeline.write(raw.process(chain()), out / "processed.zarr", codec="compact")
    if layout == "sharded":
        pipeline.write(raw, out / "shards.zarr", codec="zstd", chunks=(1, 6, 8),
                       shards=(3, 6, 8))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

"""Write the golden OME-Zarr store (run once; never rewrite an existing one).

A lazyseries store with microscopy metadata and one downsampled level, as
written when OME-Zarr (NGFF 0.5) attributes were added to store format
version 1; tests/pipeline/test_ome.py opens it with today's code.
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

import pipeline
from pipeline.formats.zarr import FORMAT_VERSION

HERE = pathlib.Path(__file__).parent


def frames() -> np.ndarray:
    """(T, C, Y, X) frames of the golden image."""
    return (np.arange(3 * 2 * 8 * 10, dtype=np.uint16).reshape(3, 2, 8, 10) * 29) % 1000


def metadata() -> dict:
    return {"physical_size": {"x": 0.5, "y": 0.25}, "physical_unit": {"x": "µm", "y": "µm"},
            "time_increment": 1.5, "time_unit": "s", "channel_names": ["DAPI", "GFP"]}


def main() -> int:
    out = HERE / f"ome-v{FORMAT_VERSION}"
    if out.exists():
        print(f"{out} exists: golden stores are never rewritten", file=sys.stderr)
        return 1
    out.mkdir()
    series = pipeline.from_array(frames(), metadata(), axes="TCYX")
    pipeline.write(series, out / "image.zarr", levels=1, codec="compact")
    return 0


if __name__ == "__main__":
    sys.exit(main())

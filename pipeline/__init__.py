"""lazyseries: lazy processing pipelines for series of images.

Open any source of frames as a series without reading pixels, compose ops
onto it, compute frames one at a time or all of them through dask, and
persist results as Zarr stores that reopen as ordinary series::

    import pipeline
    raw = pipeline.open("scan.zarr")
    ps = raw.process([("dark", dark), ("flip", "v"), ("rectangle", ((0, 512), (0, 512)))])
    frame = ps[10]                  # one frame, no scheduler
    pipeline.write(ps, "out.zarr")  # all frames, in parallel

hexrd users switch with ``import pipeline as imageseries``.
"""

from __future__ import annotations

# every layer is imported: disk, display, graph, interop, processed and regions register the
# series conveniences they implement (pipeline._generic)
from pipeline import (  # noqa: F401
    disk,
    display,
    errors,
    formats,
    graph,
    interop,
    omega,
    process,
    processed,
    regions,
    stats,
)
from pipeline.disk import get_scratch_dir, set_scratch_dir
from pipeline.formats.array import ArraySeries, from_array
from pipeline.formats.function import FunctionSeries, from_function
from pipeline.formats.protocol import as_series
from pipeline.io import open, write
from pipeline.omega import OmegaImageSeries, OmegaWedges
from pipeline.processed import ProcessedImageSeries
from pipeline.series import ImageSeries
from pipeline.stack import ImageStack
from pipeline.synthetic import synthetic

__version__ = "0.1.0"

__all__ = [
    "ArraySeries",
    "FunctionSeries",
    "ImageSeries",
    "ImageStack",
    "OmegaImageSeries",
    "OmegaWedges",
    "ProcessedImageSeries",
    "as_series",
    "errors",
    "formats",
    "from_array",
    "from_function",
    "get_scratch_dir",
    "omega",
    "open",
    "process",
    "set_scratch_dir",
    "stats",
    "synthetic",
    "write",
]

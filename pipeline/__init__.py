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

from pipeline import errors, formats, omega, process, stats
from pipeline.disk import get_scratch_dir, materialize, set_scratch_dir
from pipeline.formats.function import FunctionSeries, from_function
from pipeline.io import open, write
from pipeline.omega import OmegaImageSeries, OmegaWedges
from pipeline.series import (
    ArraySeries,
    ImageSeries,
    ProcessedImageSeries,
    as_series,
    from_array,
)
from pipeline.stack import ImageStack
from pipeline._synthetic import synthetic

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
    "materialize",
    "omega",
    "open",
    "process",
    "set_scratch_dir",
    "stats",
    "synthetic",
    "write",
]

"""Statistics over the frames of a series: one image out, computed through dask.

hexrd's ``imageseries.stats`` vocabulary: :func:`max`, :func:`min`,
:func:`sum`, :func:`average`, :func:`median` and :func:`percentile`, each
with ``nframes=0`` meaning all frames (else the first ``min(nframes, len)``).
They accept any series (processed ones included) and plain numpy or dask
arrays of shape ``(N, *frame_shape)``.

Everything runs on the active dask scheduler: the threaded one by default,
or a ``dask.distributed`` client when one exists.  Memory stays bounded by
``memory_limit``:

- ``max``, ``min``, ``sum``, ``average`` reduce chunks of frames and combine
  a few partial images;
- ``median`` and ``percentile`` need every frame of a pixel at once, so they
  work on blocks of *all frames x a band of rows*, each band read through a
  ``rectangle`` pushed down into the source, never stacking whole frames.
  A series larger than memory works; its frames are read once per band.

Output dtypes follow hexrd: ``max``/``min`` keep the frame dtype, ``sum``
accumulates in float64, ``average`` accumulates in float64 and returns
float32 (integers never overflow), ``median``/``percentile`` return float32
unless ``dtype=`` asks for another.

A dark frame from the series itself::

    raw.process([("dark", stats.median(raw, nframes=100, dtype=raw.dtype))])

``lazy=True`` returns the dask array instead of computing it, so several
statistics share one pass: ``dask.compute(stats.max(s, lazy=True),
stats.average(s, lazy=True))``.

hexrd's ``*_iter`` generators (partial images, used for progress bars) are
replaced by ``progress=``, a callable receiving ``(done, total)`` as blocks
of work finish.  ``max_iter`` etc. remain as thin aliases yielding the final
image once.
"""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.series import ImageSeries

if TYPE_CHECKING:
    import dask.array as da

__all__ = [
    "average", "average_iter", "max", "max_iter", "median", "median_iter", "min", "min_iter",
    "percentile", "percentile_iter", "sum",
]

DEFAULT_MEMORY_LIMIT = 512 * 2**20
"""Bytes a statistic may hold at once when no ``memory_limit`` is given.

A fixed figure rather than a fraction of free memory, so that the same call
builds the same graph on every machine.
"""

MAX_PARTIALS = 8
"""Partial images combined at the end of ``max``/``min``/``sum``/``average``."""

Progress = Callable[[int, int], None]


# -- the public statistics --------------------------------------------------------------


def frame_max(series: Any, nframes: int = 0, *, memory_limit: Any = None, lazy: bool = False,
              progress: Progress | None = None) -> Any:
    """Pixelwise maximum over the frames, in the frames' dtype.

    Parameters
    ----------
    series
        An image series, or a numpy/dask array ``(N, *frame_shape)``.
    nframes
        Use the first ``min(nframes, N)`` frames; 0 (default) uses all.
    memory_limit
        Bytes (or a string such as ``"512MB"``) the computation may hold at
        once; default :data:`DEFAULT_MEMORY_LIMIT`.
    lazy
        Return the dask array instead of computing it.
    progress
        ``progress(done, total)`` is called as each block of work finishes
        (on the local scheduler through a dask callback, on a distributed
        cluster through ``distributed.as_completed``).  Ignored with ``lazy``.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        One image of the frame shape.
    """
    return _reduce(series, nframes, memory_limit, lazy, progress, "max")


def frame_min(series: Any, nframes: int = 0, *, memory_limit: Any = None, lazy: bool = False,
              progress: Progress | None = None) -> Any:
    """Pixelwise minimum over the frames, in the frames' dtype; arguments as :func:`max`."""
    return _reduce(series, nframes, memory_limit, lazy, progress, "min")


def frame_sum(series: Any, nframes: int = 0, *, memory_limit: Any = None, lazy: bool = False,
              progress: Progress | None = None) -> Any:
    """Pixelwise sum over the frames, accumulated in float64; arguments as :func:`max`."""
    return _reduce(series, nframes, memory_limit, lazy, progress, "sum")


def frame_average(series: Any, nframes: int = 0, *, memory_limit: Any = None,
                  lazy: bool = False, progress: Progress | None = None) -> Any:
    """Pixelwise mean over the frames as float32; arguments as :func:`max`.

    The sum is accumulated in float64, so integer frames never overflow and
    long series lose no precision; only the result is float32 (hexrd's dtype).
    """
    return _reduce(series, nframes, memory_limit, lazy, progress, "average")


def frame_percentile(series: Any, pct: Any, nframes: int = 0, *, dtype: Any = np.float32,
                     memory_limit: Any = None, lazy: bool = False,
                     progress: Progress | None = None) -> Any:
    """Pixelwise percentile(s) over the frames, ``numpy.percentile(frames, pct, axis=0)``.

    Parameters
    ----------
    series, nframes, memory_limit, lazy, progress
        As :func:`max`.  The frames are processed in blocks of all frames x a
        band of rows sized so that one block takes about a quarter of
        ``memory_limit``; each band reads every frame again (restricted to
        the band where the source allows), never all frames at once.
    pct
        A percentile in [0, 100], or a sequence of them (the result then has
        a leading axis, one image per percentile).
    dtype
        Dtype of the result, float32 by default (hexrd's).  An integer dtype
        rounds to the nearest integer and clips to the dtype's range, e.g.
        ``dtype=raw.dtype`` for a uint16 dark frame that keeps a dark-subtracted
        uint16 series in uint16 (the ``dark`` op's dtype is numpy's result
        type of frame and dark, so a float32 dark makes float32 frames).
    """
    q = np.asarray(pct, dtype=np.float64)
    if q.ndim > 1 or not np.all((q >= 0) & (q <= 100)):
        raise ValueError(f"percentile {pct!r} must be a number or 1-d sequence in [0, 100]")
    arr, block_bytes = _prepare(series, nframes, memory_limit)
    out_dtype = np.dtype(dtype)
    bands = _percentile_bands(arr, q, out_dtype, block_bytes)
    return _run(bands, lambda done: done, lazy, progress)


def frame_median(series: Any, nframes: int = 0, *, dtype: Any = np.float32,
                 memory_limit: Any = None, lazy: bool = False,
                 progress: Progress | None = None) -> Any:
    """Pixelwise median over the frames; :func:`percentile` at 50, arguments as there.

    ``stats.median(raw, nframes=100)`` is the usual dark frame (float32);
    ``dtype=raw.dtype`` gives one in the frames' integer dtype.
    """
    return frame_percentile(series, 50.0, nframes, dtype=dtype, memory_limit=memory_limit,
                            lazy=lazy, progress=progress)


# hexrd's public names: these shadow built-ins on purpose, for ``stats.max(ims)``;
# the package itself uses the frame_* names.
max = frame_max
min = frame_min
sum = frame_sum
average = frame_average
median = frame_median
percentile = frame_percentile


# -- hexrd's *_iter generators --------------------------------------------------------------


def max_iter(series: Any, nchunk: int = 1, nframes: int = 0, **kwargs: Any
             ) -> Iterator[np.ndarray]:
    """hexrd's ``max_iter``: yields the final :func:`max` image once.

    Chunking belongs to the scheduler now, so ``nchunk`` (and hexrd's
    ``use_buffer``) are accepted and ignored; for progress while it computes
    pass ``progress=`` to the statistic.  The same holds for every ``*_iter``.
    """
    yield frame_max(series, nframes, **kwargs)


def min_iter(series: Any, nchunk: int = 1, nframes: int = 0, **kwargs: Any
             ) -> Iterator[np.ndarray]:
    """hexrd's ``min_iter``: yields the final :func:`min` image once (see :func:`max_iter`)."""
    yield frame_min(series, nframes, **kwargs)


def average_iter(series: Any, nchunk: int = 1, nframes: int = 0, **kwargs: Any
                 ) -> Iterator[np.ndarray]:
    """hexrd's ``average_iter``: yields the final :func:`average` once (see :func:`max_iter`)."""
    yield frame_average(series, nframes, **kwargs)


def percentile_iter(series: Any, pct: Any, nchunks: int = 1, nframes: int = 0,
                    use_buffer: bool = True, **kwargs: Any) -> Iterator[np.ndarray]:
    """hexrd's ``percentile_iter``: yields the final :func:`percentile` once (see :func:`max_iter`)."""
    yield frame_percentile(series, pct, nframes, **kwargs)


def median_iter(series: Any, nchunks: int = 1, nframes: int = 0, use_buffer: bool = True,
                **kwargs: Any) -> Iterator[np.ndarray]:
    """hexrd's ``median_iter``: yields the final :func:`median` once (see :func:`max_iter`)."""
    yield frame_median(series, nframes, **kwargs)


# -- preparing the frames ------------------------------------------------------------------


def parse_bytes(value: Any) -> int:
    """``1_000_000``, ``"512MB"``, ``"2 MiB"``, ``"1.5GB"`` as a number of bytes."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        nbytes = int(value)
    elif isinstance(value, str):
        from dask.utils import parse_bytes as dask_parse

        try:
            nbytes = int(dask_parse(value))
        except ValueError:
            nbytes = -1
    else:
        nbytes = -1
    if nbytes <= 0:
        raise ValueError(
            f"memory_limit {value!r} must be a positive number of bytes or a string such as "
            "'512MB' or '2GiB'"
        )
    return nbytes


def _nframes(total: int, nframes: Any) -> int:
    if isinstance(nframes, bool) or not isinstance(nframes, int | np.integer) or nframes < 0:
        raise ValueError(
            f"nframes must be 0 (all frames) or a positive frame count, got {nframes!r}"
        )
    count = total if nframes == 0 else builtins.min(total, int(nframes))
    if count == 0:
        raise ValueError("a statistic over frames needs at least one frame; the series has none")
    return count


def _as_series(series: Any) -> ImageSeries:
    if isinstance(series, ImageSeries):
        return series
    if hasattr(series, "shape") and hasattr(series, "dtype"):
        from pipeline.formats.array import ArraySeries

        return ArraySeries(series)
    raise TypeError(
        f"statistics take an image series or a numpy/dask array of frames, "
        f"got {type(series).__name__}"
    )


def _prepare(series: Any, nframes: Any, memory_limit: Any) -> tuple[ImageSeries, int]:
    """The frames to use as a series, and the bytes one block of work may take."""
    s = _as_series(series)
    count = _nframes(len(s), nframes)
    if count < len(s):
        s = s[:count]
    limit = DEFAULT_MEMORY_LIMIT if memory_limit is None else parse_bytes(memory_limit)
    # a block, the copy numpy works on, its result and a block in flight fit the limit
    return s, builtins.max(1, limit // 4)


# -- the reductions ---------------------------------------------------------------------


def _reduce(series: Any, nframes: Any, memory_limit: Any, lazy: bool,
            progress: Progress | None, kind: str) -> Any:
    from pipeline import graph

    s, block_bytes = _prepare(series, nframes, memory_limit)
    target = builtins.min(graph.TARGET_CHUNK_BYTES, block_bytes)
    arr = s.to_dask(frames_per_chunk=graph.frames_per_chunk(s, target))
    partials = _partials(arr, kind, block_bytes)
    return _run(partials, lambda p: _combine(p, kind, len(s)), lazy, progress)


def _partials(arr: da.Array, kind: str, block_bytes: int) -> da.Array:
    """One partial image per group of frame chunks, ``(groups, *frame_shape)``.

    A handful of groups keeps the final combination within memory and gives
    progress something to count.
    """
    import dask.array as da

    partial_bytes = int(np.prod(arr.shape[1:])) * (8 if kind in ("sum", "average") else
                                                    arr.dtype.itemsize)
    ngroups = builtins.max(1, builtins.min(len(arr.chunks[0]), MAX_PARTIALS,
                                           block_bytes // builtins.max(1, partial_bytes)))
    bounds = np.cumsum((0, *arr.chunks[0]))
    edges = np.unique(bounds[np.linspace(0, len(arr.chunks[0]), ngroups + 1).astype(int)])
    # dask combines this many chunk results at a time: few, so they fit the block budget
    split = builtins.max(2, builtins.min(32, block_bytes // builtins.max(1, partial_bytes)))
    parts = []
    for start, stop in itertools.pairwise(edges):
        group = arr[int(start):int(stop)]
        if kind in ("max", "min"):
            part = getattr(group, kind)(axis=0, keepdims=True, split_every=split)
        else:
            part = group.sum(axis=0, dtype=np.float64, keepdims=True, split_every=split)
        parts.append(part)
    return da.concatenate(parts, axis=0)


def _combine(partials: da.Array, kind: str, count: int) -> da.Array:
    if kind == "max":
        return partials.max(axis=0)
    if kind == "min":
        return partials.min(axis=0)
    total = partials.sum(axis=0, dtype=np.float64)
    return total if kind == "sum" else (total / count).astype(np.float32)


# -- percentiles by bands of rows ---------------------------------------------------------


def _band_rows(s: ImageSeries, block_bytes: int) -> int:
    """Rows per band: all frames x the band fit ``block_bytes`` (one row at least)."""
    shape = s.shape
    row_bytes = len(s) * int(np.prod(shape[:-2] + shape[-1:])) * s.dtype.itemsize
    return builtins.max(1, builtins.min(shape[-2], block_bytes // builtins.max(1, row_bytes)))


def _percentile_bands(s: ImageSeries, q: np.ndarray, dtype: np.dtype,
                      block_bytes: int) -> da.Array:
    """A dask array of the result, one task per band of rows holding all frames."""
    import dask.array as da

    shape = s.shape
    rows = _band_rows(s, block_bytes)
    band_frame_bytes = builtins.max(1, s.nbytes // len(s) * rows // shape[-2])
    per_chunk = builtins.max(1, block_bytes // band_frame_bytes)
    bands = []
    for r0 in range(0, shape[-2], rows):
        r1 = builtins.min(r0 + rows, shape[-2])
        # the rectangle is pushed down into the source read: a band of rows per task
        band = s.process([("rectangle", ((r0, r1), (0, shape[-1])))])
        bands.append(band.to_dask(frames_per_chunk=per_chunk))
    arr = da.concatenate(bands, axis=-2) if len(bands) > 1 else bands[0]
    # merging along frames only: each block depends on its own band's reads
    arr = arr.rechunk({0: -1})
    lead = q.shape  # () for one percentile, (k,) for several
    return arr.map_blocks(
        _percentile_block, q, dtype, drop_axis=0, new_axis=list(range(len(lead))) or None,
        chunks=(*((n,) for n in lead), *arr.chunks[1:]), dtype=dtype,
        meta=np.empty((0,) * (len(lead) + arr.ndim - 1), dtype),
    )


def _percentile_block(block: np.ndarray, q: np.ndarray, dtype: np.dtype) -> np.ndarray:
    out = np.percentile(block, q, axis=0)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(dtype, copy=False)


# -- running on the active scheduler -----------------------------------------------------


def _run(partials: da.Array, finish: Callable[[da.Array], da.Array], lazy: bool,
         progress: Progress | None) -> Any:
    if lazy:
        return finish(partials)
    if progress is not None:
        from pipeline._progress import persist_with_progress

        partials = persist_with_progress(partials, progress)
    return np.asarray(finish(partials).compute())

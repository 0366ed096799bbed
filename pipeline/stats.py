"""Statistics over the frames of a series: one image out, computed through dask.

hexrd's ``imageseries.stats`` vocabulary: :func:`max`, :func:`min`,
:func:`sum`, :func:`average`, :func:`median` and :func:`percentile`, each
with ``nframes=0`` meaning all frames (else the first ``min(nframes, len)``).
They accept any series (processed ones included) and plain numpy or dask
arrays of shape ``(N, *frame_shape)``.

Everything runs on the active dask scheduler: the threaded one by default,
or a ``dask.distributed`` client when one exists.  Memory stays within
``memory_limit`` (per process: on a cluster, per worker), whatever the size
of the series; what counts is laid out in :mod:`pipeline._stats_graph` and
:mod:`pipeline._stats_bands`:

- ``max``, ``min``, ``sum``, ``average`` fold groups of frames into one
  accumulator per thread, and combine those few partial images;
- ``median`` and ``percentile`` need every frame of a pixel at once, so they
  work on blocks of *all frames x a band of rows*, never stacking whole
  frames.  Reads are sized by what the source decodes (a whole storage
  chunk), not by the band.  When the bands are many, the frames are first
  copied once into a scratch store chunked by bands (in
  :func:`pipeline.get_scratch_dir`, removed when done), so the source is
  decoded once rather than once per band; on a distributed cluster, whose
  workers may not share a disk, each band reads the source instead.

Output dtypes follow hexrd: ``max``/``min`` keep the frame dtype, ``sum``
accumulates in float64, ``average`` accumulates in float64 and returns
float32 (integers never overflow), ``median``/``percentile`` return float32
unless ``dtype=`` asks for another.

A dark frame from the series itself::

    raw.process([("dark", stats.median(raw, nframes=100, dtype=raw.dtype))])

``lazy=True`` returns the dask array instead of computing it, so several
statistics share one pass: ``dask.compute(stats.max(s, lazy=True),
stats.average(s, lazy=True))``.

``progress=``, a callable receiving ``(done, total)`` as blocks of work
finish, follows a long statistic.  hexrd's ``*_iter`` generators
(:func:`max_iter`, ..., :func:`sum_iter`) yield its running results, one per
chunk, each computed in bounded memory as above.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.errors import EmptySeriesError, OptionValueError, SeriesTypeError
from pipeline.formats.protocol import as_series
from pipeline.series import ImageSeries

if TYPE_CHECKING:
    import dask.array as da

__all__ = [
    "average", "average_iter", "max", "max_iter", "median", "median_iter", "min", "min_iter",
    "percentile", "percentile_iter", "sum", "sum_iter",
]

DEFAULT_MEMORY_LIMIT = 512 * 2**20
"""Bytes a statistic may hold at once when no ``memory_limit`` is given.

A fixed figure rather than a fraction of free memory, so that the same call
builds the same graph on every machine.
"""

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
        band of rows, as many bands at once as fit ``memory_limit``, never
        all frames at once.
    pct
        A percentile in [0, 100], or a sequence of them (the result then has
        a leading axis, one image per percentile).
    dtype
        Dtype of the result, float32 by default (hexrd's).  An integer dtype
        rounds to the nearest integer and clips to the dtype's range (the "clip"
        policy of :func:`pipeline.dtypes.convert`; NaN there is an error), e.g.
        ``dtype=raw.dtype`` for a uint16 dark frame that keeps a dark-subtracted
        uint16 series in uint16 (the ``dark`` op's dtype is numpy's result
        type of frame and dark, so a float32 dark makes float32 frames).
    """
    from pipeline import _stats_bands as B

    q = _check_pct(pct)
    s, b = _prepare(series, nframes, memory_limit)
    bands, home = B.percentile_graph(s, q, np.dtype(dtype), b)
    return _run(bands, lambda done: B.assemble(done, home), lazy, progress)


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


# -- hexrd's *_iter generators: running results ---------------------------------------------


def _chunk_stops(n: int, nchunks: int) -> np.ndarray:
    """hexrd's yield points: the last item of each of ``nchunks`` near-equal chunks of ``n``."""
    if isinstance(nchunks, bool) or not isinstance(nchunks, int | np.integer) or nchunks < 1:
        raise OptionValueError(f"nchunk must be a positive number of chunks, got {nchunks!r}")
    if nchunks > n:
        raise OptionValueError(f"nchunk {nchunks!r} exceeds the {n} items to split; give 1 to {n}")
    pieces = np.full(nchunks, n // nchunks, dtype=int)
    pieces[: n % nchunks] += 1
    return np.cumsum(pieces) - 1


def _running(series: Any, nchunk: int, nframes: int, kind: str,
             kwargs: dict[str, Any]) -> Iterator[np.ndarray]:
    """After each chunk of frames, the statistic over every frame seen so far."""
    s = _as_series(series)
    count = _nframes(len(s), nframes)
    kwargs = {k: v for k, v in kwargs.items() if k != "use_buffer"}
    acc: np.ndarray | None = None
    start = 0
    for stop in _chunk_stops(count, nchunk):
        kind_now = "sum" if kind == "average" else kind
        part = _reduce(s[start:stop + 1], 0, kwargs.get("memory_limit"), False,
                       kwargs.get("progress"), kind_now)
        if acc is None:
            acc = part
        elif kind == "max":
            acc = np.maximum(acc, part)
        elif kind == "min":
            acc = np.minimum(acc, part)
        else:
            acc = acc + part
        start = stop + 1
        yield (acc / (stop + 1)).astype(np.float32) if kind == "average" else acc.copy()


def max_iter(series: Any, nchunk: int = 1, nframes: int = 0, **kwargs: Any
             ) -> Iterator[np.ndarray]:
    """hexrd's ``max_iter``: the maximum over the frames seen so far, after each chunk.

    The first ``min(nframes, N)`` frames (all for 0) are split into
    ``nchunk`` near-equal chunks as hexrd does (``nchunk`` > frames is a
    ValueError); after each chunk the running result is yielded, so the last
    one is :func:`max`.  ``memory_limit`` and ``progress`` apply per chunk.
    The same holds for every ``*_iter`` over frames.
    """
    return _running(series, nchunk, nframes, "max", kwargs)


def min_iter(series: Any, nchunk: int = 1, nframes: int = 0, **kwargs: Any
             ) -> Iterator[np.ndarray]:
    """hexrd's ``min_iter``: the running :func:`min`, one per chunk (see :func:`max_iter`)."""
    return _running(series, nchunk, nframes, "min", kwargs)


def sum_iter(series: Any, nchunk: int = 1, nframes: int = 0, **kwargs: Any
             ) -> Iterator[np.ndarray]:
    """hexrd's ``sum_iter``: the running :func:`sum` (float64), one per chunk (see :func:`max_iter`)."""
    return _running(series, nchunk, nframes, "sum", kwargs)


def average_iter(series: Any, nchunk: int = 1, nframes: int = 0, **kwargs: Any
                 ) -> Iterator[np.ndarray]:
    """hexrd's ``average_iter``: the running :func:`average`, one per chunk (see :func:`max_iter`)."""
    return _running(series, nchunk, nframes, "average", kwargs)


def percentile_iter(series: Any, pct: Any, nchunks: int = 1, nframes: int = 0,
                    use_buffer: bool = True, **kwargs: Any) -> Iterator[np.ndarray]:
    """hexrd's ``percentile_iter``: the image filled band by band of rows.

    The rows are split into ``nchunks`` near-equal bands; after each band
    the image (float32, unless ``dtype=``) is yielded with the rows done so
    far filled and the others 0, as hexrd does, so the last one is
    :func:`percentile`.  ``use_buffer`` (hexrd's frame cache) is accepted and
    not needed: each band reads only its rows where the source allows.
    """
    q = _check_pct(pct)
    s = _as_series(series)
    count = _nframes(len(s), nframes)
    s = s[:count] if count < len(s) else s
    dtype = np.dtype(kwargs.pop("dtype", np.float32))
    height = s.shape[-2]
    stops = _chunk_stops(height, nchunks)
    img = np.zeros((*q.shape, *s.shape), dtype)
    r0 = 0
    for stop in stops:
        r1 = int(stop) + 1
        region = [[0, n] for n in s.shape]
        region[-2] = [r0, r1]
        band = s.process([("rectangle", tuple(map(tuple, region[-2:])))]) if s.ndim == 2 else \
            _row_band(s, r0, r1)
        img[..., r0:r1, :] = frame_percentile(band, q, dtype=dtype, **kwargs)
        r0 = r1
        yield img.copy()


def _row_band(s: ImageSeries, r0: int, r1: int) -> ImageSeries:
    from pipeline.formats.array import from_array

    return from_array(s.to_dask()[..., r0:r1, :])


def median_iter(series: Any, nchunks: int = 1, nframes: int = 0, use_buffer: bool = True,
                **kwargs: Any) -> Iterator[np.ndarray]:
    """hexrd's ``median_iter``: :func:`percentile_iter` at 50."""
    return percentile_iter(series, 50.0, nchunks, nframes, use_buffer, **kwargs)


# -- preparing the frames ------------------------------------------------------------------


def _check_pct(pct: Any) -> np.ndarray:
    try:
        q = np.asarray(pct, dtype=np.float64)
    except (TypeError, ValueError):
        q = np.asarray(np.nan)
    if q.ndim > 1 or q.size == 0 or not np.all((q >= 0) & (q <= 100)):
        raise OptionValueError(f"percentile {pct!r} must be a number or 1-d sequence in [0, 100]")
    return q


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
        raise OptionValueError(
            f"memory_limit {value!r} must be a positive number of bytes or a string such as "
            "'512MB' or '2GiB'"
        )
    return nbytes


def _nframes(total: int, nframes: Any) -> int:
    if isinstance(nframes, bool) or not isinstance(nframes, int | np.integer) or nframes < 0:
        raise OptionValueError(
            f"nframes must be 0 (all frames) or a positive frame count, got {nframes!r}"
        )
    count = total if nframes == 0 else builtins.min(total, int(nframes))
    if count == 0:
        raise EmptySeriesError(
            "a statistic over frames needs at least one frame; the series has none"
        )
    return count


def _as_series(series: Any) -> ImageSeries:
    if not isinstance(series, ImageSeries) and hasattr(type(series), "__getitem__"):
        return as_series(series)  # arrays and hexrd's series protocol
    if isinstance(series, ImageSeries):
        return series
    if hasattr(series, "shape") and hasattr(series, "dtype"):
        from pipeline.formats.array import ArraySeries

        return ArraySeries(series)
    raise SeriesTypeError(
        f"statistics take an image series or a numpy/dask array of frames, "
        f"got {type(series).__name__} ({series!r:.60})"
    )


def _prepare(series: Any, nframes: Any, memory_limit: Any) -> tuple[ImageSeries, Any]:
    """The frames to use as a series, and the :class:`~pipeline._stats_graph.Budget` of work on them."""
    from pipeline import _stats_graph as G

    s = _as_series(series)
    count = _nframes(len(s), nframes)
    if count < len(s):
        s = s[:count]
    limit = DEFAULT_MEMORY_LIMIT if memory_limit is None else parse_bytes(memory_limit)
    return s, G.budget(s, limit)


# -- the reductions ---------------------------------------------------------------------


def _reduce(series: Any, nframes: Any, memory_limit: Any, lazy: bool,
            progress: Progress | None, kind: str) -> Any:
    from pipeline import _stats_graph as G

    s, b = _prepare(series, nframes, memory_limit)
    partials = G.reduce_graph(s, kind, b)
    return _run(partials, lambda p: G.combine(p, kind, len(s)), lazy, progress)


# -- running on the active scheduler -----------------------------------------------------


def _run(partials: da.Array, finish: Callable[[da.Array], da.Array], lazy: bool,
         progress: Progress | None) -> Any:
    if lazy:
        return finish(partials)
    if progress is not None:
        from pipeline._progress import persist_with_progress

        partials = persist_with_progress(partials, progress)
    result = finish(partials)
    if all(len(c) == 1 for c in result.chunks):
        # the one block as it is: computing the array would concatenate it, a copy
        (block,) = result.to_delayed().ravel()
        return np.asarray(block.compute())
    return np.asarray(result.compute())

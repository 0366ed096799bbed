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

Each statistic is one declared value in :data:`registry` (see
:mod:`pipeline._statistic`): :func:`compute` runs any of them by name
(``compute("percentile", s, 90)``), and the ``lazyseries stats`` flags and
the pipeline-file schema are derived from the same registry, so a statistic
added with ``registry.add(Reduction(...))`` is a flag and a ``{stat: ...}``
too.

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
from functools import partial
from typing import Any

import numpy as np

from pipeline import _stats_bands as B
from pipeline import _stats_graph as G
from pipeline._progress import Progress
from pipeline._statistic import (
    Accumulator,
    BandStatistic,
    Parameter,
    Reduction,
    Statistic,
    StatRegistry,
)
from pipeline._stats_builtins import AVERAGE, MAX, MEDIAN, MIN, PERCENTILE, SUM
from pipeline._stats_std import STD
from pipeline.errors import OptionValueError
from pipeline.formats.array import from_array
from pipeline.formats.live.growth import live_source
from pipeline.series import ImageSeries

__all__ = [
    "Accumulator", "BandStatistic", "Parameter", "Reduction", "StatRegistry", "Statistic",
    "average", "average_iter", "compute", "follow", "max", "max_iter", "median", "median_iter",
    "min", "min_iter", "percentile", "percentile_iter", "registry", "sum", "sum_iter",
]

registry = StatRegistry((MAX, MIN, SUM, AVERAGE, MEDIAN, PERCENTILE, STD))
"""Every statistic by name: the one place they are registered.

:func:`compute`, the ``lazyseries stats`` flags and the ``{stat: ...}``
parameters of pipeline files take their names (and aliases) from here.
"""

DEFAULT_MEMORY_LIMIT = 512 * 2**20
"""Bytes a statistic may hold at once when no ``memory_limit`` is given.

A fixed figure rather than a fraction of free memory, so that the same call
builds the same graph on every machine.
"""


# -- any statistic ----------------------------------------------------------------------------


def compute(stat: str | Statistic, series: Any, param: Any = None, nframes: int = 0, *,
            dtype: Any = None, memory_limit: Any = None, lazy: bool = False,
            progress: Progress | None = None) -> Any:
    """The statistic ``stat`` over the frames of ``series``.

    Parameters
    ----------
    stat
        A name or alias in :data:`registry` (``"max"``, ``"mean"``,
        ``"percentile"``...), or a :class:`Statistic` itself.
    series
        An image series, or a numpy/dask array ``(N, *frame_shape)``.
    param
        The statistic's parameter, for those that take one (a percentile's
        ``pct``); None for the others.
    nframes
        Use the first ``min(nframes, N)`` frames; 0 (default) uses all.
    dtype
        For a :class:`BandStatistic` (median, percentile), the result's dtype:
        float32 by default; an integer dtype rounds and clips (the "clip"
        policy of :func:`pipeline.dtypes.convert`).  Reductions have their own.
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
        One image of the frame shape (with a leading axis for several percentiles).
    """
    stat = registry.lookup(stat) if isinstance(stat, str) else stat
    if not isinstance(stat, Reduction | BandStatistic):
        raise OptionValueError(f"{stat!r:.80} is not a statistic: give one of "
                               f"{registry.all_names()}, a Reduction or a BandStatistic")
    value = stat.parse(param)
    if isinstance(stat, Reduction) and dtype is not None:
        raise OptionValueError(
            f"dtype={dtype!r}: the statistic {stat.name!r} has its own dtype; dtype= is for "
            f"{[s.name for s in registry.values() if isinstance(s, BandStatistic)]}")
    s, b = G.prepare(series, nframes, _limit(memory_limit))
    if isinstance(stat, Reduction):
        partials, counts = G.reduce_graph(s, stat, b)
        finish = partial(G.combine, red=stat, counts=counts, frame_dtype=s.dtype)
        return G.run(partials, finish, lazy, progress)
    out = np.dtype(np.float32 if dtype is None else dtype)
    bands, home = B.band_graph(s, stat, value, out, b)
    return G.run(bands, partial(B.assemble, home=home), lazy, progress)


# -- hexrd's statistics ---------------------------------------------------------------------


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
    return compute(MAX, series, None, nframes, memory_limit=memory_limit, lazy=lazy,
                   progress=progress)


def frame_min(series: Any, nframes: int = 0, *, memory_limit: Any = None, lazy: bool = False,
              progress: Progress | None = None) -> Any:
    """Pixelwise minimum over the frames, in the frames' dtype; arguments as :func:`max`."""
    return compute(MIN, series, None, nframes, memory_limit=memory_limit, lazy=lazy,
                   progress=progress)


def frame_sum(series: Any, nframes: int = 0, *, memory_limit: Any = None, lazy: bool = False,
              progress: Progress | None = None) -> Any:
    """Pixelwise sum over the frames as float64; arguments as :func:`max`."""
    return compute(SUM, series, None, nframes, memory_limit=memory_limit, lazy=lazy,
                   progress=progress)


def frame_average(series: Any, nframes: int = 0, *, memory_limit: Any = None,
                  lazy: bool = False, progress: Progress | None = None) -> Any:
    """Pixelwise mean over the frames as float32; arguments as :func:`max`.

    The sum is accumulated in float64, so integer frames never overflow and
    long series lose no precision; only the result is float32 (hexrd's dtype).
    """
    return compute(AVERAGE, series, None, nframes, memory_limit=memory_limit, lazy=lazy,
                   progress=progress)


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
    return compute(PERCENTILE, series, pct, nframes, dtype=dtype, memory_limit=memory_limit,
                   lazy=lazy, progress=progress)


def frame_median(series: Any, nframes: int = 0, *, dtype: Any = np.float32,
                 memory_limit: Any = None, lazy: bool = False,
                 progress: Progress | None = None) -> Any:
    """Pixelwise median over the frames; :func:`percentile` at 50, arguments as there.

    ``stats.median(raw, nframes=100)`` is the usual dark frame (float32);
    ``dtype=raw.dtype`` gives one in the frames' integer dtype.
    """
    return compute(MEDIAN, series, None, nframes, dtype=dtype, memory_limit=memory_limit,
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


def _running(series: Any, nchunk: int, nframes: int, red: Reduction,
             kwargs: dict[str, Any]) -> Iterator[np.ndarray]:
    """After each chunk of frames, the statistic over every frame seen so far.

    On a live series the chunks split the frames it announced (or ``nframes``),
    each computed once its frames have arrived; frames the source lost are left
    out, and a source that ends early ends the results early.
    """
    s = G.as_series(series)
    live = live_source(s)
    count = _live_count(live, nframes) if live is not None else G.frame_count(len(s), nframes)
    limit, progress = _limit(kwargs.get("memory_limit")), kwargs.get("progress")
    acc_dtype = red.accumulator(s.dtype, count).dtype  # holds them all, not just a chunk
    acc: np.ndarray | None = None
    start = seen = 0
    for stop in _chunk_stops(count, nchunk):
        frames: Any = slice(start, stop + 1)
        if live is not None:
            stop = builtins.min(stop, live.wait(stop + 1) - 1)
            frames = np.setdiff1d(np.arange(start, stop + 1), live.dropped)
            if stop < start:
                return  # the source ended before this chunk began
        chunk = s[frames]
        part = _fold(chunk, red, limit, progress)
        if acc is None:
            acc = part.astype(acc_dtype, copy=False)
        else:
            acc = red.merge(acc, part, seen, len(chunk))
        start, seen = stop + 1, seen + len(chunk)
        if live is not None:
            live.release(start)  # a stream's frames consumed
        yield np.asarray(red.finish(acc.copy(), seen))


def _fold(chunk: ImageSeries, red: Reduction, limit: int, progress: Progress | None
          ) -> np.ndarray:
    """The accumulator of ``red`` over the frames of ``chunk`` (not finished)."""
    chunk, b = G.prepare(chunk, 0, limit)
    partials, counts = G.reduce_graph(chunk, red, b)
    merged = partial(G.combine, red=red, counts=counts, frame_dtype=chunk.dtype, finish=False)
    return np.asarray(G.run(partials, merged, False, progress))


def follow(chosen: list[tuple[str | Statistic, Any]], series: Any, nframes: int = 0, *,
           memory_limit: Any = None, on_batch: Callable[[int], None] | None = None
           ) -> list[np.ndarray]:
    """Statistics of a live series computed as its frames arrive; their results once it ends.

    ``chosen`` lists ``(statistic, parameter)`` pairs.  Reductions (max, min,
    sum, average, std) fold each batch of new frames into their accumulators,
    and a stream's frames are released as they are folded; band statistics
    (median, percentile) need every frame at once and are computed when the
    source ends (a stream holds its frames until then, within its buffer).
    Frames the source lost are left out.  ``on_batch(frames_done)`` is called
    after each batch; ``nframes`` stops after that many frames.
    """
    s = G.as_series(series)
    live = live_source(s)
    if live is None:
        raise OptionValueError(f"{s!r:.80} is not a live series; use stats.compute")
    stats_ = [(registry.lookup(st) if isinstance(st, str) else st, p) for st, p in chosen]
    limit = _limit(memory_limit)
    reductions = [st for st, _ in stats_ if isinstance(st, Reduction)]
    everything = len(reductions) < len(stats_)
    accs: dict[str, np.ndarray] = {}
    done = seen = 0
    while not (live.ended and done >= len(live)) and not (nframes and done >= nframes):
        n = live.wait(done + 1)
        n = builtins.min(n, nframes) if nframes else n
        frames = np.setdiff1d(np.arange(done, n), live.dropped)
        for red in reductions if len(frames) else ():
            part = _fold(s[frames], red, limit, None)
            found = accs.get(red.name)
            wide = red.accumulator(s.dtype, live.expected or 2**31).dtype  # holds them all
            accs[red.name] = part.astype(wide, copy=False) \
                if found is None else red.merge(found, part, seen, len(frames))
        done, seen = builtins.max(done, n), seen + len(frames)
        if not everything:
            live.release(done)
        if on_batch is not None:
            on_batch(done)
    kept = np.setdiff1d(np.arange(done), live.dropped)
    if not len(kept):
        raise OptionValueError(f"{s!r:.80} ended with no frame to compute statistics over")
    return [np.asarray(st.finish(accs[st.name].copy(), seen)) if isinstance(st, Reduction)
            else compute(st, s[kept], p) for st, p in stats_]


def _live_count(live: Any, nframes: int) -> int:
    """The frames a running statistic of a live series splits into chunks."""
    count = nframes or live.expected
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
        raise OptionValueError(
            f"nframes={nframes!r}: a live series that announces no frame count needs nframes= "
            "(the frames to split into chunks)")
    return int(count)


def max_iter(series: Any, nchunk: int = 1, nframes: int = 0, **kwargs: Any
             ) -> Iterator[np.ndarray]:
    """hexrd's ``max_iter``: the maximum over the frames seen so far, after each chunk.

    The first ``min(nframes, N)`` frames (all for 0) are split into
    ``nchunk`` near-equal chunks as hexrd does (``nchunk`` > frames is a
    ValueError); after each chunk the running result is yielded, so the last
    one is :func:`max`.  ``memory_limit`` and ``progress`` apply per chunk.
    The same holds for every ``*_iter`` over frames.
    """
    return _running(series, nchunk, nframes, MAX, kwargs)


def min_iter(series: Any, nchunk: int = 1, nframes: int = 0, **kwargs: Any
             ) -> Iterator[np.ndarray]:
    """hexrd's ``min_iter``: the running :func:`min`, one per chunk (see :func:`max_iter`)."""
    return _running(series, nchunk, nframes, MIN, kwargs)


def sum_iter(series: Any, nchunk: int = 1, nframes: int = 0, **kwargs: Any
             ) -> Iterator[np.ndarray]:
    """hexrd's ``sum_iter``: the running :func:`sum` (float64), one per chunk (see :func:`max_iter`)."""
    return _running(series, nchunk, nframes, SUM, kwargs)


def average_iter(series: Any, nchunk: int = 1, nframes: int = 0, **kwargs: Any
                 ) -> Iterator[np.ndarray]:
    """hexrd's ``average_iter``: the running :func:`average`, one per chunk (see :func:`max_iter`)."""
    return _running(series, nchunk, nframes, AVERAGE, kwargs)


def percentile_iter(series: Any, pct: Any, nchunks: int = 1, nframes: int = 0,
                    use_buffer: bool = True, **kwargs: Any) -> Iterator[np.ndarray]:
    """hexrd's ``percentile_iter``: the image filled band by band of rows.

    The rows are split into ``nchunks`` near-equal bands; after each band
    the image (float32, unless ``dtype=``) is yielded with the rows done so
    far filled and the others 0, as hexrd does, so the last one is
    :func:`percentile`.  ``use_buffer`` (hexrd's frame cache) is accepted and
    not needed: each band reads only its rows where the source allows.
    """
    q = PERCENTILE.parse(pct)
    s = G.as_series(series)
    count = G.frame_count(len(s), nframes)
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
            from_array(s.to_dask()[..., r0:r1, :])
        img[..., r0:r1, :] = frame_percentile(band, q, dtype=dtype, **kwargs)
        r0 = r1
        yield img.copy()


def median_iter(series: Any, nchunks: int = 1, nframes: int = 0, use_buffer: bool = True,
                **kwargs: Any) -> Iterator[np.ndarray]:
    """hexrd's ``median_iter``: :func:`percentile_iter` at 50."""
    return percentile_iter(series, 50.0, nchunks, nframes, use_buffer, **kwargs)


def _limit(memory_limit: Any) -> int:
    return DEFAULT_MEMORY_LIMIT if memory_limit is None else G.parse_bytes(memory_limit)

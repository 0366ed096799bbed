"""pipeline.stats against numpy: every statistic, every kind of input, bounded memory."""

from __future__ import annotations

import dataclasses
import os
import tracemalloc

import dask
import dask.array as da
import numpy as np
import pytest

import pipeline
from pipeline import stats


def _reference(name, frames, pct=None):
    if name == "max":
        return frames.max(axis=0)
    if name == "min":
        return frames.min(axis=0)
    if name == "sum":
        return frames.sum(axis=0, dtype=np.float64)
    if name == "average":
        return frames.astype(np.float64).mean(axis=0).astype(np.float32)
    if name == "median":
        return np.median(frames, axis=0).astype(np.float32)
    return np.percentile(frames, pct, axis=0).astype(np.float32)


def _compute(name, series, **kwargs):
    if name == "percentile":
        return stats.percentile(series, 30, **kwargs)
    return getattr(stats, name)(series, **kwargs)


NAMES = ["max", "min", "sum", "average", "median", "percentile"]
DTYPES = {"max": None, "min": None, "sum": np.float64, "average": np.float32,
          "median": np.float32, "percentile": np.float32}


def _check(name, got, frames):
    ref = _reference(name, frames, 30)
    expected_dtype = DTYPES[name] or frames.dtype
    assert isinstance(got, np.ndarray) and got.dtype == expected_dtype
    assert got.shape == frames.shape[1:]
    if name in ("max", "min", "median", "percentile"):
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-6)


@pytest.fixture(params=["uint16", "float32"])
def frames(request, rng):
    if request.param == "uint16":
        return rng.integers(0, 60000, size=(13, 18, 22), dtype=np.uint16)
    return rng.normal(100.0, 30.0, size=(13, 18, 22)).astype(np.float32)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("nframes", [0, 5, 100])
def test_statistic_matches_numpy(name, nframes, frames):
    s = pipeline.from_array(frames)
    used = frames if nframes == 0 else frames[:nframes]
    # a small limit forces many blocks: bands of rows, groups of frames
    _check(name, _compute(name, s, nframes=nframes, memory_limit=4096), used)


@pytest.mark.parametrize("name", NAMES)
def test_plain_numpy_and_dask_arrays(name, frames):
    _check(name, _compute(name, frames), frames)
    _check(name, _compute(name, da.from_array(frames, chunks=(4, 9, 22))), frames)


def test_sum_of_integers_does_not_overflow():
    frames = np.full((40, 4, 5), 60000, dtype=np.uint16)
    assert stats.sum(frames)[0, 0] == 40 * 60000
    assert stats.average(frames)[0, 0] == 60000


@pytest.mark.parametrize("name", NAMES)
def test_processed_series(name, frames):
    s = pipeline.from_array(frames)
    ps = s.process([("flip", "v"), ("rectangle", ((2, 15), (1, 20)))], frame_list=[0, 3, 5, 7, 12])
    ref = frames[[0, 3, 5, 7, 12]][:, :, ::-1][:, 2:15, 1:20]
    _check(name, _compute(name, ps, memory_limit="2kB"), ref)


def _generated_frame(j):
    return np.random.default_rng(j).random((256, 256), dtype=np.float32)


@pytest.fixture(scope="module")
def generated():
    """64 frames of 256 x 256 float32 (16 MB) made on demand, none held."""
    s = pipeline.from_function(_generated_frame, 64, shape=(256, 256), dtype=np.float32)
    return s, np.stack([_generated_frame(j) for j in range(64)])


@pytest.mark.parametrize("name", NAMES)
def test_generated_series(name, generated):
    s, frames = generated
    _check(name, _compute(name, s[:16], memory_limit="1MB"), frames[:16])


def test_median_memory_stays_bounded(generated):
    s, frames = generated
    assert s.nbytes == 16 * 2**20
    stats.median(s[:2], memory_limit="2MB")  # imports and caches outside the measurement
    tracemalloc.start()
    try:
        got = stats.median(s, memory_limit=2 * 2**20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < s.nbytes / 3
    np.testing.assert_array_equal(got, np.median(frames, axis=0))


def test_several_percentiles(frames):
    got = stats.percentile(frames, [10, 50, 90], memory_limit=4096)
    assert got.shape == (3, *frames.shape[1:]) and got.dtype == np.float32
    np.testing.assert_array_equal(got, np.percentile(frames, [10, 50, 90], axis=0)
                                  .astype(np.float32))


def test_dark_from_median_one_liner(frames_u16):
    raw = pipeline.from_array(frames_u16)
    dark = stats.median(raw, nframes=8)
    corrected = raw.process([("dark", dark), ("flip", "h")])
    ref = np.maximum(frames_u16 - np.median(frames_u16[:8], axis=0).astype(np.float32), 0)
    assert dark.dtype == np.float32 and corrected.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(corrected), ref[:, ::-1])
    np.testing.assert_array_equal(corrected[3], ref[3, ::-1])


def test_median_in_frame_dtype_keeps_uint16(frames_u16):
    raw = pipeline.from_array(frames_u16)
    dark = stats.median(raw, nframes=8, dtype=raw.dtype)
    ref_dark = np.rint(np.median(frames_u16[:8], axis=0)).astype(np.uint16)
    assert dark.dtype == np.uint16
    np.testing.assert_array_equal(dark, ref_dark)
    corrected = raw.process([("dark", dark)])
    assert corrected.dtype == np.uint16
    np.testing.assert_array_equal(
        np.asarray(corrected), np.where(frames_u16 > ref_dark, frames_u16 - ref_dark, 0)
    )


def test_lazy_results_combine_in_one_pass(frames_u16):
    s = pipeline.from_array(frames_u16)
    lazy = [stats.max(s, lazy=True), stats.average(s, lazy=True), stats.median(s, lazy=True)]
    assert all(isinstance(x, da.Array) for x in lazy)
    assert [x.dtype for x in lazy] == [np.uint16, np.float32, np.float32]
    hi, avg, med = dask.compute(*lazy)
    np.testing.assert_array_equal(hi, frames_u16.max(axis=0))
    np.testing.assert_allclose(avg, frames_u16.mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(med, np.median(frames_u16, axis=0))


@pytest.mark.parametrize(("name", "limit"), [("median", 2048), ("sum", 40_000)])
def test_progress_counts_up_to_total(name, limit, frames_u16):
    # blocks are bands of rows for the median, groups of frame chunks for the sum
    calls = []
    got = _compute(name, frames_u16, memory_limit=limit, progress=lambda d, t: calls.append((d, t)))
    _check(name, got, frames_u16)
    total = calls[-1][1]
    assert total > 1 and {t for _, t in calls} == {total}
    assert [d for d, _ in calls] == list(range(1, total + 1))


def _hexrd_chunks(n, nchunk):
    """hexrd's chunks: near-equal, the larger ones first."""
    sizes = [n // nchunk + (1 if i < n % nchunk else 0) for i in range(nchunk)]
    return np.cumsum(sizes)


@pytest.mark.parametrize("nchunk", [1, 3, 12])
@pytest.mark.parametrize(("name", "fold"), [
    ("max", lambda f: f.max(axis=0)), ("min", lambda f: f.min(axis=0)),
    ("sum", lambda f: f.sum(axis=0, dtype=np.float64)),
    ("average", lambda f: f.mean(axis=0, dtype=np.float64).astype(np.float32)),
])
def test_iter_yields_running_results(name, fold, nchunk, frames_u16):
    got = list(getattr(stats, f"{name}_iter")(pipeline.from_array(frames_u16), nchunk,
                                             memory_limit=4096))
    assert len(got) == nchunk
    for img, stop in zip(got, _hexrd_chunks(len(frames_u16), nchunk), strict=True):
        np.testing.assert_allclose(img, fold(frames_u16[:stop]), rtol=1e-6)
        assert img.dtype == fold(frames_u16[:1]).dtype


def test_iter_with_nframes_and_too_many_chunks(frames_u16):
    (last,) = list(stats.sum_iter(frames_u16, 1, nframes=5))
    np.testing.assert_array_equal(last, frames_u16[:5].sum(axis=0, dtype=np.float64))
    with pytest.raises(ValueError, match="13"):
        next(stats.max_iter(frames_u16, 13))


@pytest.mark.parametrize("nchunks", [1, 2, 7])
def test_percentile_iter_fills_rows_band_by_band(nchunks, frames_u16):
    height = frames_u16.shape[1]
    ref = np.percentile(frames_u16[:9], 75, axis=0).astype(np.float32)
    got = list(stats.percentile_iter(frames_u16, 75, nchunks, nframes=9, use_buffer=False))
    assert len(got) == nchunks
    for img, stop in zip(got, _hexrd_chunks(height, nchunks), strict=True):
        assert img.dtype == np.float32 and img.shape == ref.shape
        np.testing.assert_array_equal(img[:stop], ref[:stop])
        assert not img[stop:].any()
    (med,) = list(stats.median_iter(frames_u16, 1))
    np.testing.assert_array_equal(med, np.median(frames_u16, axis=0))


def test_hexrd_names_are_the_frame_functions():
    assert (stats.max, stats.min, stats.sum) == (stats.frame_max, stats.frame_min, stats.frame_sum)
    assert {"max", "min", "sum", "average", "median", "percentile"} <= set(stats.__all__)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda a: stats.max(a, nframes=-1), ValueError, "-1"),
        (lambda a: stats.max(a, nframes=2.5), ValueError, "2.5"),
        (lambda a: stats.median(a, memory_limit="lots"), ValueError, "'lots'"),
        (lambda a: stats.median(a, memory_limit=0), ValueError, "0"),
        (lambda a: stats.percentile(a, 101), ValueError, "101"),
        (lambda a: stats.average("frames"), TypeError, "str"),
        (lambda a: stats.max(a[:0]), ValueError, "no"),
    ],
)
def test_bad_arguments(call, error, match, frames_u16):
    with pytest.raises(error, match=match):
        call(frames_u16)


@pytest.mark.slow
def test_distributed_client_with_progress(frames_u16):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(n_workers=1, threads_per_worker=2, processes=False,
                            dashboard_address=":0"):
        calls = []
        got = stats.median(pipeline.from_array(frames_u16), memory_limit=2048,
                           progress=lambda d, t: calls.append((d, t)))
        np.testing.assert_array_equal(got, np.median(frames_u16, axis=0))
        assert calls[-1][0] == calls[-1][1] > 1
        np.testing.assert_allclose(stats.average(frames_u16), frames_u16.mean(axis=0), rtol=1e-6)


# -- memory plans over stored series -----------------------------------------------------


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """40 frames of 48 x 40 uint16 in a Zarr store, 4 frames per chunk."""
    frames = np.random.default_rng(7).integers(0, 4000, (40, 48, 40), dtype=np.uint16)
    path = tmp_path_factory.mktemp("stored") / "s.zarr"
    pipeline.write(pipeline.from_array(frames), str(path), chunks=4)
    return pipeline.open(str(path)), frames


@pytest.mark.parametrize("limit", [60_000, 200_000, 10**9])
def test_percentiles_of_a_store_by_every_plan(limit, stored, tmp_path):
    from pipeline import _stats_bands as B
    from pipeline import _stats_graph as G

    s, frames = stored
    pipeline.set_scratch_dir(tmp_path)
    try:
        plan = B.band_plan(s, G.budget(s, limit), 2, np.dtype(np.float32))
        got = stats.percentile(s, [25, 90], memory_limit=limit)
        med = stats.median(s.process([("flip", "h")]), nframes=31, memory_limit=limit)
    finally:
        pipeline.set_scratch_dir(None)
    # the small limits copy the frames into a band-ordered scratch file first
    assert plan.transpose == (limit < 10**9)
    np.testing.assert_array_equal(got, np.percentile(frames, [25, 90], axis=0)
                                  .astype(np.float32))
    np.testing.assert_array_equal(med, np.median(frames[:31, ::-1], axis=0))
    assert os.listdir(tmp_path) == []  # the scratch copy is gone once the result is made


def test_lazy_percentile_computes_twice_and_cleans_up(stored, tmp_path):
    s, frames = stored
    pipeline.set_scratch_dir(tmp_path)
    try:
        lazy = stats.median(s, memory_limit=60_000, lazy=True)
        assert os.listdir(tmp_path) == []  # nothing made before it computes
        first, second = lazy.compute(), (lazy + 1).compute()
    finally:
        pipeline.set_scratch_dir(None)
    np.testing.assert_array_equal(first, np.median(frames, axis=0))
    np.testing.assert_array_equal(second, first + 1)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["max", "min", "sum", "average"])
@pytest.mark.parametrize("limit", [20_000, 10**9])
def test_reductions_of_a_store_fold_in_chains(name, limit, stored):
    from pipeline import _stats_graph as G

    s, frames = stored
    b = G.budget(s, limit)
    acc = stats.registry.lookup(name).accumulator(s.dtype, b.count)
    chains, step = G.reduce_plan(b, acc.nbytes(s.shape))
    assert step % 4 == 0  # whole storage chunks per read
    if limit == 20_000:
        assert chains == 1
    _check(name, _compute(name, s, memory_limit=limit), frames)


@pytest.mark.parametrize("name", ["sum", "average", "max"])
def test_reduction_memory_stays_bounded(name, generated):
    s, frames = generated
    getattr(stats, name)(s[:2], memory_limit="2MB")  # imports and caches outside the measurement
    tracemalloc.start()
    try:
        got = getattr(stats, name)(s, memory_limit=2 * 2**20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 2**20 * 1.25
    _check(name, got, frames)


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(200, 16, 24), (7, 3, 5, 30), (1, 4, 4), (9, 1, 1)])
@pytest.mark.parametrize("q", [50.0, [0.0, 12.5, 50.0, 99.9, 100.0]])
def test_percentile_blocks_partitioned_pixels_first_match_numpy(monkeypatch, dtype, shape, q):
    from pipeline import _stats_bands

    rng = np.random.default_rng(sum(shape))
    block = (rng.random(shape) * 5000).astype(dtype)
    q = np.asarray(q)
    want = np.percentile(block, q, axis=0).astype(np.float32)
    # a few pixels per partition, so that blocks are cut at uneven places
    monkeypatch.setattr(_stats_bands, "PARTITION_BYTES", 7 * shape[0] * block.itemsize)
    got = _stats_bands.percentile_block(block.copy(), q, np.dtype(np.float32))
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


# -- the registry of statistics ---------------------------------------------------------------


def test_registry_holds_hexrds_statistics_in_order():
    assert list(stats.registry)[:6] == ["max", "min", "sum", "average", "median", "percentile"]
    assert stats.registry.lookup("mean") is stats.registry.lookup("average")
    assert "mean" in stats.registry and "mode" not in stats.registry
    with pytest.raises(pipeline.errors.OptionValueError, match="unknown statistic 'mode'.*'mean'"):
        stats.registry.lookup("mode")


def test_compute_by_name_equals_the_hexrd_functions(frames_u16):
    np.testing.assert_array_equal(stats.compute("mean", frames_u16), stats.average(frames_u16))
    np.testing.assert_array_equal(stats.compute("percentile", frames_u16, [20, 80]),
                                  stats.percentile(frames_u16, [20, 80]))
    np.testing.assert_array_equal(stats.compute(stats.registry.lookup("median"), frames_u16,
                                                dtype=np.uint16),
                                  stats.median(frames_u16, dtype=np.uint16))


def test_dtype_is_for_band_statistics_only(frames_u16):
    with pytest.raises(pipeline.errors.OptionValueError, match=r"dtype=.*'median'"):
        stats.compute("sum", frames_u16, dtype=np.float32)


def test_names_are_taken_once_unless_replaced():
    from pipeline._stats_builtins import MAX

    mine = dataclasses.replace(MAX, name="biggest", aliases=("max",), doc="mine")
    with pytest.raises(pipeline.errors.RegistrationError, match="'max'"):
        stats.registry.add(mine)
    stats.registry.add(mine, replace=True)  # takes the alias 'max': the old max goes
    assert stats.registry.lookup("max") is mine and "max" not in list(stats.registry)
    stats.registry.remove("biggest")
    assert "max" not in stats.registry and "biggest" not in stats.registry
    with pytest.raises(pipeline.errors.RegistrationError, match="Reduction or a BandStatistic"):
        stats.registry.add(stats.Statistic("plain", "no method"))


@pytest.mark.parametrize(("fill", "count", "acc"), [
    (np.uint16(65535), 65537, np.uint32),  # the most frames a uint32 holds
    (np.uint16(65535), 65538, np.uint64),  # one more: wider, still exact
    (np.int16(-32768), 9, np.int32),
    (np.float32(0.5), 9, np.float64),
])
def test_sums_are_exact_in_an_accumulator_that_cannot_overflow(fill, count, acc):
    frames = np.broadcast_to(fill, (count, 1, 2))
    assert stats.registry.lookup("sum").accumulator(frames.dtype, count).dtype == acc
    want = float(fill) * count
    got = stats.sum(frames)
    assert got.dtype == np.float64 and got.tolist() == [[want, want]]
    np.testing.assert_array_equal(stats.average(frames), np.full((1, 2), fill, np.float32))
    running = list(stats.sum_iter(frames, 3))  # chunks of fewer frames, merged into one
    assert running[-1].tolist() == [[want, want]]


@pytest.mark.parametrize(("limit", "every_step"), [(2 * 2**20, True), (512 * 2**20, False)])
def test_a_chain_hands_memory_back_every_step_only_when_the_budget_is_tight(
        monkeypatch, generated, limit, every_step):
    from pipeline import _stats_graph as G

    s, frames = generated
    trims = []
    monkeypatch.setattr(G, "trim", lambda: trims.append(1))
    partials, counts = G.reduce_graph(s, stats.registry.lookup("sum"), G.budget(s, limit))
    steps = sum(1 for key in partials.dask if isinstance(key, tuple) and "stats-sum" in key[0])
    _check("sum", stats.sum(s, memory_limit=limit), frames)
    assert len(trims) == (steps if every_step else len(counts))
    assert (len(trims) > len(counts)) is every_step

"""The conformance class every series passes: :class:`SeriesConformance`.

Subclass it in a test module and implement :meth:`SeriesConformance.make`;
pytest then runs every ``test_`` method against that series::

    from pipeline.testing import SeriesConformance

    class TestMySeries(SeriesConformance):
        def make(self, tmp_path):
            frames = np.arange(5 * 12 * 17, dtype=np.uint16).reshape(5, 12, 17)
            np.save(tmp_path / "f.npy", frames)
            return MySeries(tmp_path / "f.npy"), frames, {}

A test the series cannot pass for a documented reason is switched off by
naming it ``None`` in the subclass (``test_pickle_is_a_recipe = None``).
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np
from dask.base import tokenize

import pipeline
from ops import require
from pipeline.errors import ClosedSeriesError
from pipeline.series import ImageSeries, plan_of, region_plan

pytest = require("pytest", "testing", "the conformance classes of pipeline.testing")


class SeriesConformance:
    """The laws of the series interface, checked against one implementation.

    Implementers owe
    ----------------
    ``make(tmp_path)``
        ``(series, frames, metadata)``: the series under test, built in the
        temporary directory ``tmp_path``; ``frames``, the plain-numpy truth,
        shape ``(N, *frame_shape)`` with ``N >= 2`` and frames of at least
        2 x 2 pixels; ``metadata``, the entries the series must report (values
        compared with ``numpy.testing.assert_equal``).

    Implementers may set
    --------------------
    ``file_backed``
        True (default) when the series reads a file: it must then pickle as
        a recipe (path and options), far smaller than its pixels.

    What is checked: ``len``, ``shape``, ``dtype`` and ``metadata``; random
    access, negative and numpy-integer indices, out-of-range ``IndexError``;
    frames are copies the caller may edit; hexrd's fancy indexing within a
    frame; ``get_region`` and its bounds; lazy sub-series; iteration;
    ``to_dask`` and ``numpy.asarray``; pickling; a processed series' lazy
    and eager results against numpy; a Zarr round trip; the optional members'
    declared forms; a deterministic dask token; ``close()`` and ``with``
    (no file left open under ``tmp_path``, every way of reading a closed
    series a :class:`~pipeline.errors.ClosedSeriesError`).
    """

    file_backed = True
    """File-backed series must pickle as a recipe, far smaller than their pixels."""

    def make(self, tmp_path: os.PathLike[str]) -> tuple[ImageSeries, np.ndarray, dict[str, Any]]:
        """The series under test, its frames as numpy, and the metadata it must report."""
        raise NotImplementedError(f"{type(self).__name__} owes make(tmp_path)")

    @pytest.fixture
    def case(self, tmp_path: Any) -> tuple[ImageSeries, np.ndarray, dict[str, Any]]:
        """``make(tmp_path)``, once per test."""
        return self.make(tmp_path)

    def test_len_shape_dtype(self, case):
        s, frames, _ = case
        assert len(s) == len(frames)
        assert s.shape == frames.shape[1:]
        assert s.dtype == frames.dtype

    def test_metadata(self, case):
        s, _, meta = case
        assert set(meta) <= set(s.metadata)
        for key, value in meta.items():
            np.testing.assert_equal(s.metadata[key], value)

    def test_random_access(self, case):
        s, frames, _ = case
        n = len(frames)
        for j in {0, n // 2, n - 1}:
            got = s[j]
            assert isinstance(got, np.ndarray) and got.dtype == frames.dtype
            np.testing.assert_array_equal(got, frames[j])
        np.testing.assert_array_equal(s[-1], frames[-1])
        np.testing.assert_array_equal(s[np.int64(n - 1)], frames[n - 1])

    def test_frames_are_copies_the_caller_may_edit(self, case):
        # hexrd hands out a fresh array from every adapter; so does every series here
        s, frames, _ = case
        for get in (lambda: s[0], lambda: next(iter(s)), lambda: s[0:1][0],
                    lambda: s.get_region(0, ((0, 1), (0, 1)))):
            got = get()
            if got.flags.writeable:
                got[...] = 0
            np.testing.assert_array_equal(s[0], frames[0])

    def test_out_of_range(self, case):
        s, frames, _ = case
        with pytest.raises(IndexError, match=str(len(frames))):
            s[len(frames)]
        with pytest.raises(IndexError):
            s[-len(frames) - 1]

    def test_fancy_index_within_frame(self, case):
        s, frames, _ = case
        j = len(frames) - 1
        rows, cols = slice(1, 7), slice(2, None, 3)
        np.testing.assert_array_equal(s[j, rows, cols], frames[j][rows, cols])
        np.testing.assert_array_equal(s[j, 2:5, 1:4], frames[j][2:5, 1:4])
        idx = (np.array([0, 3, 1]), np.array([2, 2, 0]))
        np.testing.assert_array_equal(s[(j, *idx)], frames[j][idx])

    def test_get_region(self, case):
        s, frames, _ = case
        h, w = frames.shape[-2:]
        region = ((1, h - 1), (w // 3, w))
        np.testing.assert_array_equal(s.get_region(0, region), frames[0][..., 1 : h - 1, w // 3 :])
        with pytest.raises(ValueError, match="outside"):
            s.get_region(0, ((0, h + 1), (0, w)))

    def test_sub_series(self, case):
        s, frames, _ = case
        sub = s[1::2]
        assert isinstance(sub, ImageSeries) and len(sub) == len(frames[1::2])
        np.testing.assert_array_equal(np.asarray(sub), frames[1::2])
        pick = [len(frames) - 1, 0, 1]
        np.testing.assert_array_equal(np.asarray(s[pick]), frames[pick])

    def test_iteration(self, case):
        s, frames, _ = case
        np.testing.assert_array_equal(np.stack(list(s)), frames)

    def test_to_dask_and_asarray(self, case):
        s, frames, _ = case
        arr = s.to_dask()
        assert arr.shape == frames.shape and arr.dtype == frames.dtype
        np.testing.assert_array_equal(arr.compute(), frames)
        np.testing.assert_array_equal(np.asarray(s), frames)

    def test_pickle_is_a_recipe(self, case):
        s, frames, _ = case
        payload = pickle.dumps(s)
        if self.file_backed:
            assert len(payload) < max(frames.nbytes // 4, 16_384)
        again = pickle.loads(payload)
        np.testing.assert_array_equal(again[len(frames) - 1], frames[-1])

    def test_process_lazy_equals_eager_equals_numpy(self, case):
        s, frames, _ = case
        h, w = frames.shape[-2:]
        ps = s.process([("flip", "v"), ("rectangle", ((1, h - 1), (0, w // 2)))])
        ref = frames[..., ::-1][..., 1 : h - 1, : w // 2]
        assert ps.shape == ref.shape[1:]
        np.testing.assert_array_equal(np.stack([ps[j] for j in range(len(ps))]), ref)
        np.testing.assert_array_equal(ps.to_dask().compute(), ref)

    def test_zarr_round_trip(self, case, tmp_path):
        s, frames, meta = case
        out = pipeline.write(s, tmp_path / "copy.zarr")
        back = pipeline.open(tmp_path / "copy.zarr")
        np.testing.assert_array_equal(np.asarray(back), frames)
        assert back.dtype == frames.dtype
        for key, value in meta.items():
            np.testing.assert_equal(back.metadata[key], value)
        assert len(out) == len(frames)

    def test_declared_members_keep_their_contract(self, case):
        # every optional member is declared on ImageSeries; an implementation's override
        # must answer in the declared form
        s, frames, _ = case
        desc = s.description()
        assert isinstance(desc, dict) and isinstance(desc.get("format", "?"), str)
        paths = s.source_paths()
        assert isinstance(paths, list) and all(isinstance(p, str) for p in paths)
        assert s.frame_chunk is None or int(s.frame_chunk) >= 1
        assert s.storage_chunks is None or len(s.storage_chunks) == frames.ndim
        assert isinstance(s.in_memory, bool)
        assert isinstance(s.axes, str) and len(s.axes) == frames.ndim
        region, chain = region_plan(s, None)
        assert len(region) == frames.ndim - 1 and all(op.name for op in chain)
        assert plan_of(s).spec == s.spec

    def test_close_and_with(self, case, tmp_path):
        # pims' and Python's files: `with` closes, and a closed series is never read again
        s, frames, _ = case
        with s as entered:
            assert entered is s and not s.closed
            np.testing.assert_array_equal(s[len(frames) - 1], frames[-1])
        assert s.closed
        assert not _open_files_under(tmp_path), "close() left files open"
        reads = {"s[j]": lambda: s[0], "iter": lambda: next(iter(s)),
                 "get_region": lambda: s.get_region(0, ((0, 1), (0, 1))),
                 "to_dask": lambda: s.to_dask(), "asarray": lambda: np.asarray(s),
                 "sub-series": lambda: s[0:1][0], "region": lambda: s.region(0),
                 "processed": lambda: s.process([("flip", "v")])[0],
                 "stats": lambda: pipeline.stats.max(s)}
        for name, read in reads.items():
            with pytest.raises(ClosedSeriesError, match="closed"):
                read()
                pytest.fail(f"{name} read a closed series")
        s.close()  # closing again is harmless

    def test_token_is_deterministic(self, case):
        s, _, _ = case
        assert tokenize(s) == tokenize(s)
        if self.file_backed:  # a recipe: the copy a worker unpickles names the same data
            assert tokenize(pickle.loads(pickle.dumps(s))) == tokenize(s)


def _open_files_under(root: Any) -> list[str]:
    """Files under ``root`` this process holds open (Linux's /proc; none known elsewhere)."""
    fds = "/proc/self/fd"
    if not os.path.isdir(fds):
        return []
    top, found = os.path.realpath(root), []
    for fd in os.listdir(fds):
        try:
            target = os.readlink(os.path.join(fds, fd))
        except OSError:  # closed meanwhile
            continue
        if target.startswith(top + os.sep):
            found.append(target)
    return found


__all__ = ["SeriesConformance"]

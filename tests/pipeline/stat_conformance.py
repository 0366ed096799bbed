"""The conformance class every statistic passes, built-in or registered.

Subclass :class:`StatisticConformance`, set ``name`` (as registered in
:data:`pipeline.stats.registry`), ``params`` (the parameters to try, ``(None,)``
for a statistic without one) and ``reference``, plain numpy's answer; every
test here then runs against that statistic, on dask's threaded scheduler:

- the result is numpy's, in the dtype and shape the statistic declares;
- lazy (``lazy=True``) declares that dtype and shape without reading a frame,
  and computes the eager result;
- the result does not depend on how the frames are cut: memory limits that
  force many small steps or bands, dask arrays in odd chunks, a store of
  several frames per chunk, several threads merging their accumulators;
- ``nframes`` takes the first frames (0, or more than there are: all);
- an empty series raises :class:`~pipeline.errors.EmptySeriesError`, a bad
  ``nframes`` or parameter :class:`~pipeline.errors.OptionValueError`;
- every name and alias reaches it: :func:`pipeline.stats.compute`, the
  ``lazyseries stats --NAME`` flag, a pipeline file's ``{stat: NAME}``;
- the declaration pickles (it travels to dask workers inside the graph).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any, ClassVar

import dask
import dask.array as da
import numpy as np
import pytest

import pipeline
from pipeline import cli, pipelinefile, stats
from pipeline.errors import EmptySeriesError, OptionValueError
from pipeline.formats.function import FunctionSeries


def frames_of(dtype: Any, shape: tuple[int, ...], seed: int = 5) -> np.ndarray:
    """Frames with real spread: integers from below zero (signed) to a few thousand."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(100.0, 30.0, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -500), min(info.max, 4000), shape).astype(dtype)


class StatisticConformance:
    """Shared tests for one statistic; subclasses say which, and what numpy gives."""

    name: ClassVar[str]
    params: ClassVar[Sequence[Any]] = (None,)
    """Parameters to try (``(None,)``: the statistic takes none)."""
    cli_param: ClassVar[str | None] = None
    """The parameter as typed after the command-line flag, for a statistic that takes one."""
    bad_params: ClassVar[Sequence[Any]] = ()
    """Parameters that must raise :class:`~pipeline.errors.OptionValueError`."""
    rtol: ClassVar[float] = 0.0
    """0: the same values as numpy, bit for bit; else the relative tolerance."""
    dtypes: ClassVar[Sequence[Any]] = (np.uint16, np.int16, np.float32)
    shape: ClassVar[tuple[int, ...]] = (13, 18, 22)
    """Frames x rows x columns of the test series."""

    def reference(self, frames: np.ndarray, param: Any) -> np.ndarray:
        """Plain numpy's result over axis 0 of ``frames``, in the declared dtype."""
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def _threaded(self):
        """Everything on the threaded scheduler, with threads enough for several chains."""
        self.register()
        with dask.config.set(scheduler="threads", num_workers=3):
            yield

    def register(self) -> None:
        """Override to register the statistic under test (the suite restores the registry)."""

    @property
    def stat(self) -> stats.Statistic:
        return stats.registry.lookup(self.name)

    def check(self, got: np.ndarray, want: np.ndarray, what: Any = "") -> None:
        assert isinstance(got, np.ndarray), what
        assert (got.shape, got.dtype) == (want.shape, want.dtype), what
        if self.rtol:
            np.testing.assert_allclose(got, want, rtol=self.rtol, err_msg=repr(what))
        else:
            np.testing.assert_array_equal(got, want, err_msg=repr(what))

    def cases(self):
        for dtype in self.dtypes:
            frames = frames_of(dtype, self.shape)
            for param in self.params:
                yield frames, param

    # -- the laws ----------------------------------------------------------------------

    def test_matches_numpy(self):
        for frames, param in self.cases():
            got = stats.compute(self.name, pipeline.from_array(frames), param)
            self.check(got, self.reference(frames, param), (frames.dtype, param))

    def test_lazy_declares_then_computes_the_eager_result(self):
        for frames, param in self.cases():
            reads = []

            def frame(j, frames=frames):
                reads.append(j)
                return frames[j]

            source = FunctionSeries(frame, len(frames), frames.shape[1:], frames.dtype)
            lazy = stats.compute(self.name, source, param, lazy=True)
            want = self.reference(frames, param)
            assert isinstance(lazy, da.Array) and reads == []
            assert (lazy.shape, lazy.dtype) == (want.shape, want.dtype)
            eager = stats.compute(self.name, pipeline.from_array(frames), param)
            self.check(lazy.compute(), eager, (frames.dtype, param))

    def test_independent_of_how_the_frames_are_cut(self, tmp_path):
        for i, (frames, param) in enumerate(self.cases()):
            want = self.reference(frames, param)
            path = tmp_path / f"s{i}.zarr"
            pipeline.write(pipeline.from_array(frames), path, chunks=4)
            cuts = {
                "small steps": (pipeline.from_array(frames), {"memory_limit": 4096}),
                "dask chunks": (da.from_array(frames, chunks=(5, 7, 9)), {}),
                "store of 4 frames per chunk": (pipeline.open(path), {}),
                "store, small steps": (pipeline.open(path), {"memory_limit": 20_000}),
            }
            for what, (source, options) in cuts.items():
                self.check(stats.compute(self.name, source, param, **options), want, what)

    def test_several_threads_merge_to_the_synchronous_result(self):
        for frames, param in self.cases():
            lazy = stats.compute(self.name, pipeline.from_array(frames), param, lazy=True)
            with dask.config.set(scheduler="sync"):
                alone = lazy.compute()
            with dask.config.set(scheduler="threads", num_workers=4):
                many = stats.compute(self.name, pipeline.from_array(frames), param)
            self.check(many, alone, (frames.dtype, param))

    def test_nframes_takes_the_first_frames(self):
        frames, param = next(self.cases())
        s = pipeline.from_array(frames)
        for nframes, used in ((5, frames[:5]), (1, frames[:1]), (0, frames),
                              (len(frames) + 7, frames)):
            got = stats.compute(self.name, s, param, nframes)
            self.check(got, self.reference(used, param), nframes)

    def test_an_empty_series_and_bad_arguments_raise(self):
        frames, param = next(self.cases())
        with pytest.raises(EmptySeriesError, match="no"):
            stats.compute(self.name, pipeline.from_array(frames[:0]), param)
        for nframes in (-1, 2.5, True):
            with pytest.raises(OptionValueError, match=repr(nframes)):
                stats.compute(self.name, frames, param, nframes)
        for bad in self.bad_params:
            with pytest.raises(OptionValueError, match=self.name):
                stats.compute(self.name, frames, bad)
        if self.stat.parameter is None:
            with pytest.raises(OptionValueError, match="takes no parameter"):
                stats.compute(self.name, frames, 7)
        else:
            with pytest.raises(OptionValueError, match=f"needs its {self.stat.parameter.name}"):
                stats.compute(self.name, frames)

    def test_every_name_reaches_it(self, tmp_path, capsys):
        frames, param = next(self.cases())
        want = self.reference(frames, param)
        path = tmp_path / "s.zarr"
        pipeline.write(pipeline.from_array(frames), path)
        for name in self.stat.names:
            assert stats.registry.lookup(name) is self.stat and name in stats.registry
            self.check(stats.compute(name, frames, param), want, name)
            typed = [] if self.cli_param is None else [self.cli_param]
            out = tmp_path / f"{name}.npy"
            code = cli.main(["stats", str(path), f"--{name}", *typed, "-o", str(out), "-q"])
            assert code == 0, capsys.readouterr().err
            cli_param = None if self.cli_param is None else self.stat.parse(
                self.stat.parameter.type(self.cli_param))
            self.check(np.load(out), self.reference(frames, cli_param), f"--{name}")
            own = {} if self.stat.parameter is None else {self.stat.parameter.name: param}
            spec = pipelinefile.validate({"source": str(path), "ops": [
                {"name": "add", "param": {"stat": name, "nframes": 0, **own}}]})
            self.check(pipelinefile.compute_stat(pipeline.open(path), spec["ops"][0]["param"]),
                       want, f"{{stat: {name}}}")

    def test_declaration_pickles_and_computes_the_same(self):
        frames, param = next(self.cases())
        again = pickle.loads(pickle.dumps(self.stat))
        assert type(again) is type(self.stat) and again.names == self.stat.names
        self.check(stats.compute(again, frames, param), self.reference(frames, param))

    def test_declared_names_and_help(self):
        stat = self.stat
        assert stat.name == self.name and stat.doc and "\n" not in stat.doc
        assert isinstance(stat, stats.Reduction | stats.BandStatistic)
        assert len(set(stat.names)) == len(stat.names)

"""The conformance class every op passes, built-in or registered.

Subclass :class:`OpConformance`, set ``name``, ``params`` and ``bad_params``
(and ``reference`` where plain numpy says what the op should give); every test
here then runs against that op:

- ``resolve`` declares exactly the shape and dtype that ``apply`` returns;
- the crop hook's law, on random regions: ``op(x)[r] == op'(x[r_in])``;
- lazy (``to_dask``) equals eager (``ps[j]``) equals numpy;
- a bad parameter raises the declared error at construction, before any frame is read;
- the op pickles, and a pickled op computes the same frames.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pytest

import ops
import pipeline
from ops import FrameSpec, Op
from pipeline import ProcessedImageSeries
from pipeline.formats.function import FunctionSeries

#: every flip code as numpy reorients frames (..., y, x): the reference the ops are held to
NUMPY_FLIPS = {
    "v": lambda f: f[..., ::-1], "y": lambda f: f[..., ::-1],
    "h": lambda f: f[..., ::-1, :], "x": lambda f: f[..., ::-1, :],
    "vh": lambda f: f[..., ::-1, ::-1], "hv": lambda f: f[..., ::-1, ::-1],
    "r180": lambda f: np.rot90(f, 2, axes=(-2, -1)),
    "t": lambda f: np.swapaxes(f, -1, -2), "T": lambda f: np.swapaxes(f, -1, -2),
    "r90": lambda f: np.rot90(f, axes=(-2, -1)), "ccw90": lambda f: np.rot90(f, axes=(-2, -1)),
    "r270": lambda f: np.rot90(f, -1, axes=(-2, -1)),
    "cw90": lambda f: np.rot90(f, -1, axes=(-2, -1)),
    "none": lambda f: f,
}


def frames_of(dtype: Any, shape: tuple[int, ...], seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(100.0, 30.0, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -500), min(info.max, 4000), shape).astype(dtype)


def random_region(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple:
    """A non-empty rectangle over every axis of a frame of ``shape``."""
    pairs = []
    for n in shape:
        lo = int(rng.integers(0, n))
        pairs.append((lo, int(rng.integers(lo + 1, n + 1))))
    return tuple(pairs)


def _index(region: tuple) -> tuple[slice, ...]:
    return (slice(None), *(slice(lo, hi) for lo, hi in region))


class OpConformance:
    """Shared tests for one op; subclasses say which op and which parameters."""

    name: ClassVar[str]
    params: ClassVar[Sequence[Any]]
    """Valid parameters, each tried on every dtype."""
    bad_params: ClassVar[Sequence[tuple[Any, type[BaseException]]]] = ()
    """``(param, error)``: each must raise ``error`` when the op joins a chain."""
    dtypes: ClassVar[Sequence[Any]] = (np.uint16, np.int16, np.float32)
    shape: ClassVar[tuple[int, ...]] = (12, 17)
    regions: ClassVar[int] = 12
    """Random regions per parameter for the crop law."""

    def reference(self, frames: np.ndarray, param: Any) -> np.ndarray | None:
        """Plain numpy's result for a block, or None when there is none to compare."""
        return None

    def spec_for(self, param: Any, dtype: Any) -> FrameSpec:
        return FrameSpec(self.shape, dtype)

    @pytest.fixture(autouse=True)
    def _registered(self):
        """Registers a user op for the test (the suite restores the registry after it)."""
        self.register()

    def register(self) -> None:
        """Override to register the op under test."""

    def cases(self):
        for param in self.params:
            for dtype in self.dtypes:
                spec = self.spec_for(param, dtype)
                yield param, spec, Op(self.name, param).validate(spec)

    # -- the laws ----------------------------------------------------------------------

    def test_resolve_is_the_spec_apply_returns(self):
        for param, spec, op in self.cases():
            out = op.apply(frames_of(spec.dtype, (3, *spec.shape)))
            declared = op.resolve(spec)
            assert (out.shape[1:], out.dtype) == (declared.shape, declared.dtype), (param, spec)
            assert out.shape[0] == 3

    def test_crop_law_on_random_regions(self):
        rng = np.random.default_rng(7)
        for param, spec, op in self.cases():
            if op.kind.crop is None:
                continue
            x = frames_of(spec.dtype, (2, *spec.shape))
            full = op.apply(x)
            for _ in range(self.regions):
                r = random_region(rng, op.resolve(spec).shape)
                pushed = op.crop(spec, r)
                assert pushed is not None, (param, r)
                r_in, cropped = pushed
                part = x[_index(r_in)]
                got = part if cropped is None else cropped.apply(part)
                np.testing.assert_array_equal(got, full[_index(r)], err_msg=f"{param!r} {r}")
                assert got.dtype == full.dtype

    def test_lazy_equals_eager_equals_numpy(self):
        for param, spec, _ in self.cases():
            frames = frames_of(spec.dtype, (5, *spec.shape))
            ps = ProcessedImageSeries(pipeline.from_array(frames), [(self.name, param)])
            eager = np.stack([ps[j] for j in range(len(ps))])
            lazy = ps.to_dask(frames_per_chunk=2).compute()
            assert eager.dtype == lazy.dtype == ps.dtype
            np.testing.assert_array_equal(eager, lazy)
            ref = self.reference(frames, param)
            if ref is not None:
                assert ref.dtype == eager.dtype, (param, spec)
                np.testing.assert_array_equal(eager, ref, err_msg=repr(param))

    def test_bad_parameters_raise_at_construction(self):
        if not self.bad_params:
            pytest.skip("no bad parameters declared")
        reads = []

        def frame(j):
            reads.append(j)
            return np.zeros(self.shape, np.uint16)

        source = FunctionSeries(frame, 4, self.shape, np.uint16)
        for param, error in self.bad_params:
            with pytest.raises(error) as info:
                ProcessedImageSeries(source, [(self.name, param)])
            assert self.name in str(info.value), (param, str(info.value))
        assert reads == []  # raised before any frame was read

    def test_pickled_op_computes_the_same(self):
        for param, spec, op in self.cases():
            again = pickle.loads(pickle.dumps(op))
            assert again.name == op.name
            x = frames_of(spec.dtype, (2, *spec.shape))
            np.testing.assert_array_equal(again.apply(x), op.apply(x))

    def test_registry_knows_it(self):
        assert self.name in ops.registry and self.name in set(ops.registry)
        assert ops.lookup(self.name).name == self.name

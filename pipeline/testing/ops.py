"""The conformance class every op passes, built-in or registered: :class:`OpConformance`.

Subclass it, set ``name``, ``params`` and ``bad_params`` (and ``reference``
where plain numpy says what the op should give); every test here then runs
against that op::

    import ops
    from pipeline.testing import OpConformance

    class TestGain(OpConformance):
        name = "gain"
        params = (2, 0.5)
        bad_params = (("x", ops.OpParameterError),)

        def register(self):
            ops.register("gain", gain)   # restored after each test

        def reference(self, frames, factor):
            return frames * factor

The laws:

- ``resolve`` declares exactly the shape and dtype that ``apply`` returns;
- the crop hook's law, on random regions: ``op(x)[r] == op'(x[r_in])``;
- lazy (``to_dask``) equals eager (``ps[j]``) equals numpy;
- a bad parameter raises the declared error at construction, before any frame is read;
- the op pickles, and a pickled op computes the same frames.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

import ops
import pipeline
from ops import FrameSpec, Op, require

pytest = require("pytest", "testing", "the conformance classes of pipeline.testing")

NUMPY_FLIPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
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
"""Every flip code as numpy reorients frames ``(..., y, x)``: the reference ``flip`` is held to."""


def frames_of(dtype: Any, shape: tuple[int, ...], seed: int = 3) -> np.ndarray:
    """Random frames of ``dtype`` and ``shape`` with real spread (negatives where signed).

    Parameters
    ----------
    dtype
        An integer or floating numpy dtype.
    shape
        The block's shape, ``(n, *frame_shape)``.
    seed
        The seed of the generator: the same arguments give the same frames.
    """
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(100.0, 30.0, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -500), min(info.max, 4000), shape).astype(dtype)


def random_region(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """A non-empty half-open rectangle ``((lo, hi), ...)`` over every axis of a ``shape`` frame."""
    pairs = []
    for n in shape:
        lo = int(rng.integers(0, n))
        pairs.append((lo, int(rng.integers(lo + 1, n + 1))))
    return tuple(pairs)


def _index(region: tuple[tuple[int, int], ...]) -> tuple[slice, ...]:
    return (slice(None), *(slice(lo, hi) for lo, hi in region))


class OpConformance:
    """The laws every op obeys, checked for one op and its parameters.

    Implementers owe
    ----------------
    ``name``
        The op's registered name.
    ``params``
        Valid parameters, each tried on every dtype of ``dtypes``.

    Implementers may set
    --------------------
    ``bad_params``
        ``(param, error)`` pairs: each must raise ``error``, naming the op,
        when the op joins a chain, before any frame is read.
    ``dtypes``, ``shape``
        The frame dtypes and the frame shape tried (default uint16, int16,
        float32; 12 x 17).
    ``regions``
        Random regions per parameter for the crop law.
    ``reference(frames, param)``
        Plain numpy's result for a block, or None where there is none.
    ``spec_for(param, dtype)``
        The incoming frame spec for a parameter (default ``shape``, ``dtype``).
    ``register()``
        Registers the op under test (a user op); called before each test.
    """

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
        """The spec of the frames ``param`` is tried on."""
        return FrameSpec(self.shape, dtype)

    @pytest.fixture(autouse=True)
    def _registered(self) -> Iterator[None]:
        """Registers a user op for the test, and restores the op registry after it."""
        before = ops.registry.snapshot()
        self.register()
        yield
        ops.registry.restore(before)

    def register(self) -> None:
        """Override to register the op under test (the built-ins are registered already)."""

    def cases(self) -> Iterator[tuple[Any, FrameSpec, Op]]:
        """``(param, spec, op)`` for each parameter and dtype, the op validated for the spec."""
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
            ps = pipeline.ProcessedImageSeries(pipeline.from_array(frames), [(self.name, param)])
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

        source = pipeline.FunctionSeries(frame, 4, self.shape, np.uint16)
        for param, error in self.bad_params:
            with pytest.raises(error) as info:
                pipeline.ProcessedImageSeries(source, [(self.name, param)])
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


__all__ = ["NUMPY_FLIPS", "OpConformance", "frames_of", "random_region"]

"""Every built-in op, and registered user ops, through the op conformance class."""

from __future__ import annotations

import numpy as np
import pytest

import ops
import pipeline
from ops import FrameSpec, OpParameterError
from pipeline.testing import NUMPY_FLIPS as FLIPS
from pipeline.testing import OpConformance

SHAPE = OpConformance.shape
DARK = np.random.default_rng(9).integers(0, 300, SHAPE).astype(np.uint16)


class TestFlip(OpConformance):
    name = "flip"
    params = sorted(FLIPS)
    dtypes = (np.uint16, np.float32)
    bad_params = (("z", OpParameterError), (90, OpParameterError), (("v",), OpParameterError))

    def reference(self, frames, code):
        return FLIPS[code](frames)


class TestRectangle(OpConformance):
    name = "rectangle"
    params = (((0, 12), (0, 17)), ((3, 9), (2, 15)), ((11, 12), (16, 17)), ((0.0, 5.0), (1, 2)))
    bad_params = (
        (((0, 13), (0, 17)), OpParameterError), (((5, 5), (0, 3)), OpParameterError),
        (((True, 5), (0, 3)), OpParameterError), (((0, 2**64), (0, 3)), OpParameterError),
        (((0, 1.5), (0, 3)), OpParameterError), ("((0, 1), (0, 1))", OpParameterError),
        ((0, 1, 0, 1), OpParameterError),
    )

    def reference(self, frames, rect):
        (r0, r1), (c0, c1) = (tuple(int(v) for v in pair) for pair in rect)
        return frames[:, r0:r1, c0:c1]


class TestDark(OpConformance):
    name = "dark"
    params = (DARK, DARK.astype(np.float32), np.full(SHAPE, 7, np.int16))
    bad_params = ((np.zeros((3, 3)), OpParameterError), ("dark", OpParameterError))

    def reference(self, frames, dark):
        dtype = np.result_type(frames.dtype, dark.dtype)
        wide = frames.astype(np.float64) - dark.astype(np.float64)
        return np.clip(wide, 0, None).astype(dtype)


class TestAdd(OpConformance):
    name = "add"
    params = (3, 2.5, -1, np.linspace(0, 1, SHAPE[1], dtype=np.float32),
              np.arange(SHAPE[0] * SHAPE[1], dtype=np.int16).reshape(SHAPE))
    bad_params = ((True, OpParameterError), (np.array([True, False]), OpParameterError),
                  ("1", OpParameterError), (np.zeros(5), OpParameterError))

    def reference(self, frames, addend):
        dtype = frames.dtype if frames.dtype.kind == "f" else np.dtype(np.float32)
        return (frames.astype(dtype) + np.asarray(addend)).astype(dtype)


class _Insert(OpConformance):
    axis: int

    def reference(self, frames, idx):
        return np.insert(frames, idx, 0, axis=self.axis)


class TestAddRow(_Insert):
    name, axis = "add-row", -2
    params = (0, 5, 12)
    bad_params = ((13, OpParameterError), (-1, OpParameterError), (True, OpParameterError),
                  (1.0, OpParameterError), ("2", OpParameterError))


class TestAddColumn(_Insert):
    name, axis = "add-column", -1
    params = (0, 9, 17)
    bad_params = ((18, OpParameterError), (False, OpParameterError))


class TestGaussLaplace(OpConformance):
    name = "gauss_laplace"
    params = (1.0, (0.5, 2.0), 3)
    bad_params = ((True, OpParameterError), ("1", OpParameterError),
                  (float("inf"), OpParameterError), (float("nan"), OpParameterError),
                  (0, OpParameterError), (1e6, OpParameterError), (1e12, OpParameterError),
                  ((1.0, 2.0, 3.0), OpParameterError), (5.0, OpParameterError))

    def reference(self, frames, sigma):
        ndimage = pytest.importorskip("scipy.ndimage")
        data = frames.astype(frames.dtype if frames.dtype.kind == "f" else np.float32)
        return np.stack([ndimage.gaussian_laplace(f, sigma) for f in data])


# -- registered user ops: the same laws hold for them ------------------------------------


def _validate_gain(factor, spec):
    if factor <= 0:
        raise OpParameterError(f"op 'gain': factor must be positive, got {factor!r}")
    return float(factor)


class TestUserBlockOp(OpConformance):
    """A block function with parse, validate, resolve and a pixel-wise crop hook."""

    name = "gain"
    params = (0.5, 2, 3.25)
    bad_params = ((-1, OpParameterError), (0, OpParameterError), ("x", OpParameterError))

    def register(self):
        def parse(value):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise OpParameterError(f"op 'gain': factor is a number, got {value!r}")
            return value

        ops.register(
            "gain", lambda block, f: (block * f).astype(np.float32), parse=parse,
            validate=_validate_gain,
            resolve=lambda f, spec: FrameSpec(spec.shape, np.float32),
            crop=lambda f, spec, region: (region, f),
        )

    def reference(self, frames, factor):
        return (frames * float(factor)).astype(np.float32)


class TestUserPerFrameOp(OpConformance):
    """A per-frame function whose output spec is probed, with a geometric crop hook."""

    name = "mirror_rows"
    params = (None,)
    bad_params = (("up", OpParameterError), (1, OpParameterError))
    dtypes = (np.uint16, np.float32)

    def register(self):
        def crop(param, spec, region):
            (r0, r1), cols = region[-2:]
            n = spec.shape[-2]
            return (*region[:-2], (n - r1, n - r0), cols), param

        def validate(param, spec):
            if param is not None:
                raise OpParameterError(f"op 'mirror_rows' takes no parameter, got {param!r}")
            return param

        ops.register("mirror_rows", lambda frame, p: frame[::-1], per_frame=True, crop=crop,
                     validate=validate)

    def reference(self, frames, param):
        return frames[:, ::-1]


def test_every_builtin_has_a_conformance_class():
    tested = {cls.name for cls in (TestFlip, TestRectangle, TestDark, TestAdd, TestAddRow,
                                   TestAddColumn, TestAstype, TestGaussLaplace, TestChannel,
                                   TestZ, TestMaxProjection, TestMeanProjection)}
    assert tested == {kind.name for kind in ops.BUILTINS}


def test_a_wrong_crop_hook_breaks_the_law():
    """The law's test can fail: a hook that forgets the flip is caught."""
    ops.register("bad_mirror", lambda frame, p: frame[::-1], per_frame=True,
                 crop=lambda p, spec, region: (region, p))

    class Bad(TestUserPerFrameOp):
        name = "bad_mirror"

        def register(self):
            pass

    with pytest.raises(AssertionError):
        Bad().test_crop_law_on_random_regions()


class TestAstype(OpConformance):
    name = "astype"
    params = ("uint8", "uint16", "int8", "int32", "float32", "float64")
    dtypes = (np.uint16, np.int16, np.float32)
    bad_params = (("bool", OpParameterError), ("complex64", OpParameterError),
                  ("nope", OpParameterError), (True, OpParameterError),
                  ("u2,f4", OpParameterError), (None, OpParameterError))

    def reference(self, frames, dtype):
        target = np.dtype(dtype)
        if target.kind == "f":
            return frames.astype(target)
        info = np.iinfo(target)
        wide = np.nan_to_num(np.rint(frames.astype(np.float64)), nan=0.0)
        return np.clip(wide, info.min, info.max).astype(target)


# -- selection and projections: frames (C, Z, Y, X), as from_array names 4-d frames ------------

class AxesOpConformance(OpConformance):
    shape = (3, 4, 12, 17)
    frame_axes = "CZYX"

    def spec_for(self, param, dtype):
        return FrameSpec(self.shape, dtype, axes=self.frame_axes)


class TestChannel(AxesOpConformance):
    name = "channel"
    params = (0, 2, [2, 0], (1,), [0, 1, 2], ("C", 0, 1), ["C", 0, [2, 1]])
    bad_params = ((3, OpParameterError), ([0, 5], OpParameterError), ("GFP", OpParameterError),
                  ([], OpParameterError), (True, OpParameterError), (1.5, OpParameterError),
                  (None, OpParameterError))

    def reference(self, frames, param):
        if isinstance(param, list) and param and param[0] == "C":
            return frames[:, list(param[2])]
        if isinstance(param, tuple) and param and param[0] == "C":
            return frames[:, param[2]]
        return frames[:, list(param) if isinstance(param, list | tuple) else param]


class TestZ(AxesOpConformance):
    name = "z"
    params = (0, 3, [1, 3], (0, 4), ("Z", 1, 2))
    bad_params = ((4, OpParameterError), ([2, 2], OpParameterError), ([1, 5], OpParameterError),
                  ([-1, 2], OpParameterError), ([0, 1, 2], OpParameterError),
                  ("top", OpParameterError), (True, OpParameterError))

    def reference(self, frames, param):
        if isinstance(param, tuple) and param[0] == "Z":
            return frames[:, :, param[2]]
        if isinstance(param, list | tuple):
            return frames[:, :, param[0]:param[1]]
        return frames[:, :, param]


class TestMaxProjection(AxesOpConformance):
    name = "max-projection"
    params = ("z", "Z", "c", None, ("Z", 1))
    bad_params = (("x", OpParameterError), (3, OpParameterError), (("Z", 0), OpParameterError))

    def reference(self, frames, param):
        letter = "Z" if param is None else param[0] if isinstance(param, tuple) else param
        return frames.max(axis=1 + self.frame_axes.index(letter.upper()))


class TestMeanProjection(AxesOpConformance):
    name = "mean-projection"
    params = ("z", "c")
    dtypes = (np.uint16, np.int16, np.float32, np.float64)
    bad_params = (("y", OpParameterError),)

    def reference(self, frames, param):
        axis = 1 + self.frame_axes.index(param.upper())
        out = frames.astype(np.float64).mean(axis=axis)
        return out if frames.dtype == np.float64 else out.astype(np.float32)


class TestProjectionOfZOnly(AxesOpConformance):
    """Frames (Z, Y, X): the Z axis found where the series names it."""

    name = "max-projection"
    shape = (5, 12, 17)
    frame_axes = "ZYX"
    params = ("z",)

    def reference(self, frames, param):
        return frames.max(axis=1)

    def test_lazy_equals_eager_equals_numpy(self):
        frames = np.random.default_rng(2).integers(0, 999, (4, *self.shape)).astype(np.uint16)
        ps = pipeline.from_array(frames, axes="TZYX").process([("max-projection", "z")])
        assert ps.axes == "TYX"
        np.testing.assert_array_equal(ps.to_dask().compute(), frames.max(axis=1))
        with pytest.raises(OpParameterError, match="no C axis"):
            pipeline.from_array(frames, axes="TZYX").process([("channel", 0)])


@pytest.mark.parametrize(("name", "param", "named"), [
    ("channel", ("C", 1, 0), "no C axis at position 1"),
    ("channel", ("C", 7, 0), "position 7"),
    ("channel", ("C", 0, ["a"]), "'a'"),
    ("channel", ("C", 0, []), "empty"),
    ("z", ("Z", 0, 1), "no Z axis at position 0"),
    ("max-projection", ("C", 1), "position 1"),
])
def test_a_recorded_parameter_that_does_not_fit_the_frames(name, param, named):
    series = pipeline.from_array(np.zeros((2, 3, 4, 5, 6), np.uint16), axes="TCZYX")
    with pytest.raises(OpParameterError, match=named):
        series.process([(name, param)])

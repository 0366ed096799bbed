"""Every built-in op against a plain-numpy reference, lazy and eager, plus its bad parameters."""

from __future__ import annotations

import numpy as np
import pytest

import ops
import pipeline
from pipeline import ProcessedImageSeries
from pipeline.testing import NUMPY_FLIPS

DTYPES = [np.uint16, np.int16, np.float32]


def _frames(dtype, shape=(5, 12, 17), seed=3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(100.0, 30.0, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -500), min(info.max, 4000), shape).astype(dtype)


def check(frames: np.ndarray, oplist, reference: np.ndarray) -> ProcessedImageSeries:
    """Eager (ps[j]), lazy (to_dask) and the numpy reference agree bit for bit."""
    ps = ProcessedImageSeries(pipeline.from_array(frames), oplist)
    assert ps.shape == reference.shape[1:]
    assert ps.dtype == reference.dtype
    eager = np.stack([ps[j] for j in range(len(ps))])
    lazy = ps.to_dask(frames_per_chunk=2).compute()
    assert eager.dtype == lazy.dtype == reference.dtype
    np.testing.assert_array_equal(eager, reference)
    np.testing.assert_array_equal(lazy, reference)
    return ps




def test_every_flip_code_has_a_reference():
    assert set(NUMPY_FLIPS) == set(ops.FLIPS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", sorted(NUMPY_FLIPS))
def test_flip(code, dtype):
    frames = _frames(dtype)
    ref = np.stack([NUMPY_FLIPS[code](f) for f in frames])
    check(frames, [("flip", code)], ref)


def test_flip_none_param_means_none():
    frames = _frames(np.uint16)
    check(frames, [("flip", None)], frames)


def _dark_reference(frames: np.ndarray, dark: np.ndarray) -> np.ndarray:
    dtype = np.result_type(frames, dark)
    wide = frames.astype(np.float64) - dark.astype(np.float64)
    return np.clip(wide, 0, None).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dark(dtype):
    frames = _frames(dtype)
    dark = _frames(dtype, frames.shape[1:], seed=9)
    ps = check(frames, [("dark", dark)], _dark_reference(frames, dark))
    assert ps.dtype == np.dtype(dtype)


def test_dark_uint16_below_dark_gives_zero_not_wrap_around():
    frames = np.full((3, 4, 5), 10, np.uint16)
    frames[:, 0, 0] = 65535
    dark = np.full((4, 5), 50, np.uint16)
    ref = np.zeros_like(frames)
    ref[:, 0, 0] = 65535 - 50
    check(frames, [("dark", dark)], ref)


def test_dark_dtype_is_numpys_result_type():
    frames = _frames(np.uint16)
    dark = _frames(np.float32, frames.shape[1:], seed=1)
    ps = check(frames, [("dark", dark)], _dark_reference(frames, dark))
    assert ps.dtype == np.float32 == np.result_type(frames, dark)
    dark_i = _frames(np.int16, frames.shape[1:], seed=2)
    ps = check(frames, [("dark", dark_i)], _dark_reference(frames, dark_i))
    assert ps.dtype == np.result_type(np.uint16, np.int16)


def test_dark_of_frame_shape_on_channel_frames():
    frames = _frames(np.uint16, (4, 3, 8, 9))
    dark = _frames(np.uint16, (8, 9), seed=5)
    check(frames, [("dark", dark)], _dark_reference(frames, dark[np.newaxis]))
    full_dark = _frames(np.uint16, (3, 8, 9), seed=6)
    check(frames, [("dark", full_dark)], _dark_reference(frames, full_dark))


@pytest.mark.parametrize("dtype", DTYPES)
def test_rectangle(dtype):
    frames = _frames(dtype)
    check(frames, [("rectangle", ((2, 9), (3, 17)))], frames[:, 2:9, 3:17])
    check(frames, [("rectangle", np.array([[0, 1], [16, 17]]))], frames[:, 0:1, 16:17])


@pytest.mark.parametrize("dtype", DTYPES)
def test_add_scalar_and_array(dtype):
    frames = _frames(dtype)
    out_dtype = np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.dtype(np.float32)
    ps = check(frames, [("add", 2.5)], (frames.astype(out_dtype) + out_dtype.type(2.5)))
    assert ps.dtype == out_dtype
    addend = np.linspace(-3, 3, frames.shape[-1]).astype(np.float32)
    ref = frames.astype(out_dtype) + addend.astype(out_dtype)
    check(frames, [("add", addend)], ref)
    full = _frames(np.float32, frames.shape[1:], seed=4)
    check(frames, [("add", full)], frames.astype(out_dtype) + full.astype(out_dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_add_row_and_column(dtype, where):
    frames = _frames(dtype)
    h, w = frames.shape[1:]
    row = {"start": 0, "middle": 4, "end": h}[where]
    col = {"start": 0, "middle": 4, "end": w}[where]
    ref_row = np.insert(frames, row, 0, axis=1)
    assert (ref_row[:, row] == 0).all() and ref_row.shape == (5, h + 1, w)
    check(frames, [("add-row", row)], ref_row)
    ref_col = np.insert(frames, col, 0, axis=2)
    assert (ref_col[:, :, col] == 0).all() and ref_col.shape == (5, h, w + 1)
    check(frames, [("add-column", col)], ref_col)


@pytest.mark.parametrize("sigma", [1.0, (1.5, 0.7)])
def test_gauss_laplace(sigma):
    ndimage = pytest.importorskip("scipy.ndimage")
    frames = _frames(np.float32)
    ref = np.stack([ndimage.gaussian_laplace(f, sigma) for f in frames])
    ps = ProcessedImageSeries(pipeline.from_array(frames), [("gauss_laplace", sigma)])
    assert ps.dtype == np.float32
    eager = np.stack([ps[j] for j in range(len(ps))])
    lazy = ps.to_dask(frames_per_chunk=2).compute()
    np.testing.assert_array_equal(eager, lazy)
    np.testing.assert_allclose(eager, ref, rtol=1e-5, atol=1e-4)


def test_gauss_laplace_on_integers_is_float32():
    pytest.importorskip("scipy.ndimage")
    ps = ProcessedImageSeries(pipeline.from_array(_frames(np.uint16)), [("gauss_laplace", 1)])
    assert ps.dtype == np.float32 and ps[0].dtype == np.float32


def test_whole_chain_lazy_equals_eager_equals_numpy():
    frames = _frames(np.uint16, (7, 16, 20))
    dark = _frames(np.uint16, (16, 20), seed=11)
    oplist = [("dark", dark), ("flip", "r90"), ("rectangle", ((2, 15), (1, 12))),
              ("add-row", 3), ("add", 1)]
    ref = _dark_reference(frames, dark)
    ref = np.stack([np.rot90(f) for f in ref])[:, 2:15, 1:12]
    ref = np.insert(ref, 3, 0, axis=1).astype(np.float32) + 1
    check(frames, oplist, ref)


# -- bad parameters: raised at construction, naming the bad value -----------------------

SHAPE = (12, 17)
BAD = [
    pytest.param([("no-such-op", 1)], ops.UnknownOpError, "no-such-op", id="unknown-op"),
    pytest.param([(3, 1)], ops.UnknownOpError, "3", id="op-name-not-a-string"),
    pytest.param([("flip", "diagonal")], ops.OpParameterError, "diagonal", id="flip-code"),
    pytest.param([("flip", 90)], ops.OpParameterError, "90", id="flip-type"),
    pytest.param([("dark", np.zeros((12, 16)))], ops.OpParameterError, r"\(12, 16\)",
                 id="dark-shape"),
    pytest.param([("dark", "dark.npy")], ops.OpParameterError, "dark", id="dark-type"),
    pytest.param([("rectangle", ((0, 13), (0, 5)))], ops.OpParameterError, r"\(0, 13\)",
                 id="rectangle-rows-outside"),
    pytest.param([("rectangle", ((0, 5), (10, 18)))], ops.OpParameterError, r"\(10, 18\)",
                 id="rectangle-cols-outside"),
    pytest.param([("rectangle", ((5, 5), (0, 5)))], ops.OpParameterError, r"\(5, 5\)",
                 id="rectangle-empty"),
    pytest.param([("rectangle", ((-1, 5), (0, 5)))], ops.OpParameterError, r"\(-1, 5\)",
                 id="rectangle-negative"),
    pytest.param([("rectangle", (0, 5))], ops.OpParameterError, r"\(0, 5\)",
                 id="rectangle-type"),
    pytest.param([("rectangle", ((0.5, 5), (0, 5)))], ops.OpParameterError, "0.5",
                 id="rectangle-float"),
    pytest.param([("flip", "t"), ("rectangle", ((0, 5), (0, 15)))], ops.OpParameterError,
                 r"\(0, 15\)", id="rectangle-after-transpose"),
    pytest.param([("rectangle", ((2, 8), (0, 10))), ("rectangle", ((0, 7), (0, 5)))],
                 ops.OpParameterError, r"\(0, 7\)", id="rectangle-after-rectangle"),
    pytest.param([("add", "one")], ops.OpParameterError, "one", id="add-type"),
    pytest.param([("add", np.ones(5))], ops.OpParameterError, r"\(5,\)", id="add-shape"),
    pytest.param([("add-row", 13)], ops.OpParameterError, "13", id="add-row-outside"),
    pytest.param([("add-row", 1.5)], ops.OpParameterError, "1.5", id="add-row-type"),
    pytest.param([("add-column", -1)], ops.OpParameterError, "-1", id="add-column-negative"),
    pytest.param([("gauss_laplace", -1)], ops.OpParameterError, "-1", id="sigma-negative"),
    pytest.param([("gauss_laplace", "wide")], ops.OpParameterError, "wide", id="sigma-type"),
]


@pytest.mark.parametrize(("oplist", "error", "fragment"), BAD)
def test_bad_parameters_raise_at_construction(oplist, error, fragment):
    calls = []

    def frame(j):
        calls.append(j)
        return np.zeros(SHAPE, np.uint16)

    source = pipeline.from_function(frame, 4, shape=SHAPE, dtype=np.uint16)
    with pytest.raises(error, match=fragment):
        ProcessedImageSeries(source, oplist)
    assert calls == []


def test_error_classes_refine_builtins():
    assert issubclass(ops.OpParameterError, ValueError)
    assert issubclass(ops.UnknownOpError, KeyError)
    with pytest.raises(KeyError):
        ProcessedImageSeries(pipeline.from_array(_frames(np.uint16)), [("nope", None)])
    with pytest.raises(ValueError):
        ProcessedImageSeries(pipeline.from_array(_frames(np.uint16)), [("flip", "nope")])


def test_bad_rectangle_message_says_what_is_valid():
    with pytest.raises(ops.OpParameterError) as info:
        ProcessedImageSeries(pipeline.from_array(_frames(np.uint16)),
                             [("flip", "t"), ("rectangle", ((0, 5), (0, 15)))])
    assert "(17, 12)" in str(info.value) and "<= 12" in str(info.value)


def test_rectangle_checked_against_the_shape_at_its_place_in_the_chain():
    source = pipeline.from_array(_frames(np.uint16))  # frames of (12, 17)
    ProcessedImageSeries(source, [("flip", "t"), ("rectangle", ((0, 15), (0, 5)))])
    with pytest.raises(ops.OpParameterError, match=r"\(0, 15\)"):
        ProcessedImageSeries(source, [("rectangle", ((0, 15), (0, 5)))])


def test_unknown_op_message_lists_registered_ops():
    with pytest.raises(ops.UnknownOpError) as info:
        ProcessedImageSeries(pipeline.from_array(_frames(np.uint16)), [("flop", "v")])
    assert "'flop'" in str(info.value) and "flip" in str(info.value)


def test_a_boolean_dark_is_refused_naming_its_dtype():
    import pipeline
    from ops import OpParameterError

    frames = np.ones((2, 4, 5), np.uint16)
    with pytest.raises(OpParameterError, match="bool"):
        pipeline.from_array(frames).process([("dark", np.ones((4, 5), bool))])

"""The one dtype conversion, fuzzed against a plain element-by-element reference per policy."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.dtypes import POLICIES, convert
from pipeline.errors import OptionValueError, UnsupportedDtypeError, ValueRangeError

REAL = ["bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
        "float16", "float32", "float64"]


class Refused(Exception):
    pass


def _range(dtype: np.dtype) -> tuple[float, float]:
    if dtype.kind == "b":
        return 0, 1
    if dtype.kind in "iu":
        return int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)
    return -float(np.finfo(dtype).max), float(np.finfo(dtype).max)


def reference(values: np.ndarray, dtype: np.dtype, policy: str) -> np.ndarray:
    """Each value on its own, in Python numbers (exact), by the policy's words."""
    if np.can_cast(values.dtype, dtype, "safe"):
        return values.astype(dtype)
    lo, hi = _range(dtype)
    out = []
    for v in values.ravel().tolist():
        if dtype.kind in "biu":
            if isinstance(v, float):
                if math.isnan(v) or (math.isinf(v) and policy != "clip"):
                    raise Refused(v)
                if math.isinf(v):
                    v = lo if v < 0 else hi
                else:
                    v = math.trunc(v) if policy == "truncate" else round(v)  # half to even
            v = int(v)
        elif math.isinf(float(v)) or math.isnan(float(v)):
            out.append(v)
            continue
        if v < lo or v > hi:
            if policy != "clip":
                raise Refused(v)
            v = min(max(v, lo), hi)
        out.append(v)
    return np.array(out, dtype=dtype).reshape(values.shape)


def numpy_reference(values: np.ndarray, dtype: np.dtype, policy: str) -> np.ndarray | None:
    """The same in plain numpy, where float64 holds every value and limit exactly (None
    elsewhere): integers of up to 32 bits from floats or integers of up to 32 bits."""
    if dtype.kind not in "iu" or dtype.itemsize > 4 or values.dtype.itemsize > 4 or (
            values.dtype.kind not in "fiu"):
        return None
    wide = values.astype(np.float64)
    lo, hi = _range(dtype)
    if policy == "clip":
        if np.isnan(wide).any():
            raise Refused("nan")
        return np.clip(np.rint(wide), lo, hi).astype(dtype)
    if not np.isfinite(wide).all():
        raise Refused("not finite")
    wide = np.trunc(wide) if policy == "truncate" else np.rint(wide)
    if wide.size and (wide.min() < lo or wide.max() > hi):
        raise Refused("range")
    return wide.astype(dtype)


@st.composite
def arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(REAL)))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=6))
    if draw(st.booleans()) or dtype.kind == "b":
        return draw(hnp.arrays(dtype, shape))  # anything the dtype holds, NaN and inf too
    if dtype.kind == "f":  # mostly in range of the small integer dtypes
        elements = st.floats(-400, 60000 if dtype.itemsize == 2 else 70000,
                             width=8 * dtype.itemsize)
    else:
        info = np.iinfo(dtype)
        elements = st.integers(max(int(info.min), -400), min(int(info.max), 70000))
    return draw(hnp.arrays(dtype, shape, elements=elements))


@pytest.mark.parametrize("policy", POLICIES)
@settings(max_examples=400, deadline=None)
@given(values=arrays(), target=st.sampled_from(REAL))
@example(values=np.array([1.5, 2.5, -0.5, 254.5]), target="uint8")  # half to even
@example(values=np.array([1e19, -1e30, 2.5, 9.3e18]), target="int64")  # beyond float64's 2**63
@example(values=np.array([1e20, -3.0, 1.8e19]), target="uint64")
@example(values=np.array([2**63 + 5, 7], np.uint64), target="int64")
@example(values=np.array([-5, 2**62], np.int64), target="uint64")
@example(values=np.array([1e300, -np.inf, np.nan]), target="float32")
def test_convert_matches_the_reference(policy, values, target):
    dtype = np.dtype(target)
    try:
        plain = numpy_reference(values, dtype, policy)
    except Refused:
        plain = "refused"
    try:
        expect = reference(values, dtype, policy)
    except Refused:
        assert plain in (None, "refused")
        with pytest.raises(ValueRangeError, match=str(dtype)):
            convert(values, dtype, policy)
        return
    with np.errstate(all="ignore"):
        got = convert(values, dtype, policy)
    assert got.dtype == dtype and got.shape == values.shape
    np.testing.assert_array_equal(got, expect)
    if plain is not None:
        assert not isinstance(plain, str)
        np.testing.assert_array_equal(got, plain)


@pytest.mark.parametrize("policy", POLICIES)
def test_values_it_holds_come_through_unchanged_and_copy_is_honoured(policy):
    frame = np.array([[0, 7], [255, 3]], np.int64)
    got = convert(frame, np.uint8, policy)
    assert got.dtype == np.uint8 and got.tolist() == frame.tolist()
    same = np.arange(4.0)
    assert convert(same, np.float64, policy) is same
    assert convert(same, np.float64, policy, copy=True) is not same


def test_messages_name_the_values_the_dtype_and_the_fix():
    with pytest.raises(ValueRangeError,
                       match=r"^frame values span \[-1.0, 300.0\] and do not fit the dtype uint8,"
                             r" which holds \[0, 255\]; clip it$"):
        convert(np.array([-1.0, 300.0]), np.uint8, "round", what="frame values", hint="clip it")
    with pytest.raises(ValueRangeError, match=r"hold nan; the dtype int16 holds no NaN or infinity"):
        convert(np.array([1.0, np.nan]), np.int16, "clip")
    with pytest.raises(ValueRangeError, match=r"hold inf"):
        convert(np.array([np.inf]), np.int16, "truncate")
    with pytest.raises(UnsupportedDtypeError, match=r"complex128 to the dtype float32.*\.real"):
        convert(np.zeros(2, complex), np.float32, "round")
    with pytest.raises(UnsupportedDtypeError, match="<U1"):
        convert(np.array(["a"]), np.uint8, "clip")
    with pytest.raises(OptionValueError, match=r"'wrap' is not one of \('round'"):
        convert(np.zeros(2), np.uint8, "wrap")


def test_errors_refine_the_builtins_callers_catch():
    assert issubclass(ValueRangeError, ValueError) and not issubclass(ValueRangeError, RuntimeError)
    assert issubclass(UnsupportedDtypeError, TypeError)


@pytest.mark.parametrize("policy", POLICIES)
def test_complex_to_narrower_complex(policy):
    values = np.array([1 + 2j, np.inf - 1j])
    got = convert(values, np.complex64, policy)
    np.testing.assert_array_equal(got, values.astype(np.complex64))
    big = np.array([1e300 + 0j])
    if policy == "clip":
        assert convert(big, np.complex64, policy)[0].real == np.finfo(np.float32).max
    else:
        with pytest.raises(ValueRangeError, match="complex64"):
            convert(big, np.complex64, policy)


# -- the four users, each with its policy --------------------------------------------------


def test_function_series_refuses_values_its_dtype_cannot_hold_instead_of_wrapping():
    # astype wrapped 70000 to 4464 in uint16 without a word; hexrd's function series does not
    # convert at all, so any conversion here is ours and must not invent values
    import pipeline

    s = pipeline.open(None, "function", func=lambda j: np.full((2, 3), 70000.0 * j),
                      num_frames=3, dtype=np.uint16)
    np.testing.assert_array_equal(s[0], np.zeros((2, 3), np.uint16))
    with pytest.raises(ValueRangeError, match=r"func\(1\) values span \[70000.0, 70000.0\].*uint16"):
        s[1]
    with pytest.raises(ValueRangeError, match="uint16"):
        np.asarray(s.to_dask())
    fractions = pipeline.open(None, "function", func=lambda j: np.full((2, 2), 2.7 + j),
                              num_frames=2, dtype=np.int32)
    assert fractions[1].tolist() == [[3, 3], [3, 3]]  # truncated, as astype did


def test_image_files_truncate_and_refuse(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    import pipeline

    tifffile.imwrite(tmp_path / "a.tif", np.array([[1.9, -0.5], [254.99, 3.0]], np.float32))
    tifffile.imwrite(tmp_path / "b.tif", np.array([[np.nan, 0], [0, 0]], np.float32))
    text = (f"image-files: {{directory: {tmp_path}, files: '*.tif'}}\n"
            "options: {dtype: uint8}\nmeta: {}\n")
    s = pipeline.open(text, "image-files")
    assert s[0].tolist() == [[1, 0], [254, 3]]
    with pytest.raises(ValueRangeError, match=r"'.*b\.tif': values hold nan; the dtype uint8"):
        s[1]


def test_stack_rounds_and_refuses(tmp_path):
    from pipeline import ImageStack

    with ImageStack(dtype=np.int8, max_memory_mb=1, scratch_dir=tmp_path) as st:
        st.append(np.array([[0.5, 1.5], [-127.6, 126.5]]))
        assert st[0].tolist() == [[0, 2], [-128, 126]]
        with pytest.raises(ValueRangeError, match=r"np\.clip\(frame, -128, 127\)"):
            st.append(np.array([[0.0, 200.0], [0.0, 0.0]]))


def test_integer_percentile_rounds_and_clips_like_numpy():
    import pipeline
    from pipeline import stats

    rng = np.random.default_rng(3)
    frames = rng.normal(100, 200, size=(9, 8, 6))
    got = stats.percentile(pipeline.from_array(frames), 75, dtype=np.uint8)
    expect = np.clip(np.rint(np.percentile(frames, 75, axis=0)), 0, 255).astype(np.uint8)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expect)


def test_a_hexrd_style_object_whose_frames_its_dtype_cannot_hold_is_refused_not_wrapped():
    from pipeline import stats
    from pipeline.series import as_series

    class Declared:  # declares uint8, returns frames a calibration pushed below zero
        shape, dtype, metadata = (2, 2), np.dtype(np.uint8), {}

        def __len__(self):
            return 2

        def __getitem__(self, j):
            return np.array([[1.0, 2.0], [3.0, 4.0 - 10 * j]])

    s = as_series(Declared())
    assert s[0].tolist() == [[1, 2], [3, 4]]
    with pytest.raises(ValueRangeError, match=r"\[-6.0, 3.0\] and do not fit the dtype uint8"):
        s[1]
    with pytest.raises(ValueRangeError, match="uint8"):
        stats.max(s)

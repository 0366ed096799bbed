"""Fuzzing op parameters, frame lists and indexing: a result numpy agrees with, or our error.

Every input either works (lazy equals eager, and numpy agrees where it has an
answer) or raises one of the project's error classes naming the op or the
value, at construction.  Examples are bounded so the suite stays fast.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.extra import numpy as hnp

import ops
import pipeline
from pipeline import ProcessedImageSeries
from pipeline.errors import FrameIndexError, FrameSelectionError, OpParameterError

# hypothesis keeps its caches there, not in a .hypothesis directory in the repository; set
# on import, as it scans the test's constants when collecting
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "lazyseries-hypothesis"))
# FUZZ_EXAMPLES=5000 fuzzes harder; the suite's default stays fast
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "250")), deadline=None,
                database=None, suppress_health_check=[HealthCheck.too_slow])
N, SHAPE = 5, (12, 17)


FRAMES = np.random.default_rng(4).integers(0, 4000, (N, *SHAPE)).astype(np.uint16)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.integers(-3, 20),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(0.01, 6), st.text(max_size=3),
    st.sampled_from([*ops.FLIPS, "1", "inf", np.bool_(True), np.int64(3), np.uint64(2**63)]),
)
_shapes = st.sampled_from([(), (0,), (2,), (2, 2), SHAPE[-1:], SHAPE, (1, 17)])
arrays = st.one_of(
    hnp.arrays(dtype=st.sampled_from([bool, np.uint8, np.int16, np.uint16, np.float32,
                                      np.float64]), shape=_shapes),
    hnp.arrays(dtype=object, shape=_shapes, elements=st.integers(-(2**65), 2**65)),
)
params = st.recursive(st.one_of(scalars, arrays),
                      lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner),
                      max_leaves=6)


@FUZZ
@given(name=st.sampled_from([kind.name for kind in ops.BUILTINS]), param=params)
def test_op_parameters(name, param):
    source = pipeline.from_array(FRAMES)
    try:
        ps = ProcessedImageSeries(source, [(name, param)])
    except OpParameterError as err:
        assert f"op {name!r}" in str(err)
        return
    eager = ps[N - 1]
    lazy = ps.to_dask(frames_per_chunk=2)[N - 1].compute()
    assert eager.shape == lazy.shape == ps.shape and eager.dtype == lazy.dtype == ps.dtype
    np.testing.assert_array_equal(eager, lazy)


ints = st.one_of(st.integers(-8, 8), st.integers(-(2**65), 2**65), st.booleans(),
                 st.sampled_from([np.int64(-1), np.uint64(2**63), np.bool_(False)]))
slices = st.builds(slice, st.none() | ints | st.floats(-3, 3),
                   st.none() | ints, st.none() | ints)
_key_shapes = st.sampled_from([(0,), (3,), (N,), (2, 2)])
keys = st.one_of(
    ints, slices, st.lists(ints, max_size=4), st.tuples(ints, ints),
    hnp.arrays(dtype=st.sampled_from([np.int8, np.int64]), shape=_key_shapes,
               elements=st.integers(-6, 6)),
    hnp.arrays(dtype=np.uint64, shape=_key_shapes, elements=st.integers(0, 6) | st.just(2**63)),
    hnp.arrays(dtype=st.sampled_from([bool, np.float64]), shape=_key_shapes),
    st.text(max_size=2), st.none(),
)


def _numpy_says(key):
    """Which frames numpy's ``np.arange(N)[key]`` selects, or None where it refuses."""
    try:
        return np.arange(N)[key]
    except (IndexError, TypeError, ValueError, OverflowError):
        return None


def _frame_list_case(series, key):
    if key is None:  # frame_list=None means every frame
        return
    if isinstance(key, slice):
        with pytest.raises(FrameSelectionError, match="frame_list"):
            series.process([], frame_list=key)
        return
    try:
        ps = series.process([("flip", "v")], frame_list=key)
    except (FrameIndexError, FrameSelectionError) as err:
        assert str(err)
    else:
        want = _numpy_says(key)
        assert want is not None and np.ndim(want) == 1, key
        np.testing.assert_array_equal(np.asarray(ps), FRAMES[want][..., ::-1])


@FUZZ
@given(key=keys)
def test_indexing_and_frame_lists(key):
    series = pipeline.from_array(FRAMES)
    try:
        got = series[key]
    except (FrameIndexError, FrameSelectionError) as err:
        assert str(err)
    else:
        if isinstance(key, tuple):  # s[j, rows, ...]: numpy on the frames says
            np.testing.assert_array_equal(got, FRAMES[key])
        else:
            want = _numpy_says(key)
            assert want is not None, f"numpy refuses {key!r}, lazyseries took it"
            np.testing.assert_array_equal(np.asarray(got), FRAMES[want])
    if not isinstance(key, tuple):
        _frame_list_case(series, key)


@FUZZ
@given(j=ints, rows=slices, cols=slices)
def test_indexing_within_a_frame(j, rows, cols):
    series = pipeline.from_array(FRAMES).process([("flip", "h")])
    ref = FRAMES[:, ::-1]
    try:
        want = ref[j, rows, cols] if not isinstance(j, bool | np.bool_) else None
    except (IndexError, TypeError, ValueError, OverflowError):
        want = None
    try:
        got = series[j, rows, cols]
    except (IndexError, TypeError, ValueError) as err:
        assert want is None or isinstance(err, FrameIndexError | FrameSelectionError), err
        return
    assert want is not None
    np.testing.assert_array_equal(got, want)

"""The hypothesis strategies of pipeline.testing draw what they promise, and the laws hold on it.

Every chain :func:`op_chains` draws is valid where it starts, declares the
shape and dtype that computing gives, computes the same lazily and eagerly,
and reads any region of a frame as the cropped frame (the crop pushed down
through the whole chain).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

import ops
import pipeline
from pipeline.errors import OptionValueError
from pipeline.testing import strategies as ls

# caches go to the temporary directory, not a .hypothesis directory in the repository
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "lazyseries-hypothesis"))
LAWS = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None,
                database=None, suppress_health_check=[HealthCheck.too_slow])


@LAWS
@given(st.data())
def test_blocks_are_of_their_spec(data):
    spec = data.draw(ls.frame_specs(ls.frame_shapes(channels=3)))
    block = data.draw(ls.frame_blocks(spec, min_frames=2, max_frames=3))
    assert block.dtype == spec.dtype and block.shape[1:] == spec.shape
    assert 2 <= len(block) <= 3 and len(spec.shape) in (2, 3)
    assert spec.dtype in ls.FRAME_DTYPES and np.isfinite(block).all()


@LAWS
@given(st.data())
def test_a_block_from_a_strategy_of_specs(data):
    block = data.draw(ls.frame_blocks(ls.frame_specs(kinds="f")))
    assert block.dtype.kind == "f" and block.ndim == 3


@LAWS
@given(st.data())
def test_regions_are_non_empty_and_within_the_frame(data):
    shape = data.draw(ls.frame_shapes(min_side=1, max_side=9, channels=2))
    for every_axis in (False, True):
        region = data.draw(ls.regions(shape, every_axis=every_axis))
        axes = shape if every_axis else shape[-2:]
        assert len(region) == len(axes)
        assert all(0 <= lo < hi <= n for (lo, hi), n in zip(region, axes))


def _processed(data, names=ls.BUILTIN_OPS):
    spec = data.draw(ls.frame_specs())
    frames = data.draw(ls.frame_blocks(spec, min_frames=2, max_frames=3))
    chain = data.draw(ls.op_chains(spec, min_ops=1, names=names))
    assert all(name in names for name, _ in chain)
    return frames, chain, pipeline.from_array(frames).process(chain)


@LAWS
@given(st.data())
def test_any_chain_declares_what_it_computes_lazily_and_eagerly(data):
    frames, chain, ps = _processed(data)
    eager = np.stack([ps[j] for j in range(len(ps))])
    assert (eager.shape[1:], eager.dtype) == (ps.shape, ps.dtype), chain
    np.testing.assert_array_equal(ps.to_dask(frames_per_chunk=2).compute(), eager)
    one_by_one = frames  # the same ops, each applied to the whole block by itself, unfused
    for name, param in chain:
        one_by_one = ops.Op(name, param).apply(one_by_one)
    np.testing.assert_array_equal(one_by_one, eager, err_msg=repr(chain))


@LAWS
@given(st.data())
def test_a_region_of_any_chain_is_the_cropped_frame(data):
    _, chain, ps = _processed(data)
    region = data.draw(ls.regions(ps.shape))
    (r0, r1), (c0, c1) = region
    j = len(ps) - 1
    np.testing.assert_array_equal(ps.get_region(j, region), ps[j][r0:r1, c0:c1],
                                  err_msg=f"{chain!r} {region}")


@settings(max_examples=10, deadline=None, database=None)
@given(st.data())
def test_gauss_laplace_is_drawn_when_named(data):
    pytest.importorskip("scipy")
    _, chain, ps = _processed(data, names=("gauss_laplace",))
    assert {name for name, _ in chain} == {"gauss_laplace"} and ps.dtype.kind == "f"


def test_an_unknown_op_or_dtype_kind_is_refused_by_name():
    with pytest.raises(ops.UnknownOpError, match="'gain'"):
        ls.op_params("gain", ops.FrameSpec((4, 4), np.uint16))
    with pytest.raises(OptionValueError, match="'c'"):
        ls.dtypes("c")

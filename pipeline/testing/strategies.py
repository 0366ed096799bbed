"""Hypothesis strategies for fuzzing ops, formats and series: frames, specs, regions, op chains.

Each function returns a hypothesis ``SearchStrategy``.  Combine them with
``st.data()`` when one draw depends on another::

    from hypothesis import given, strategies as st
    from pipeline.testing import strategies as ls

    @given(st.data())
    def test_my_op_after_any_chain(data):
        spec = data.draw(ls.frame_specs())
        frames = data.draw(ls.frame_blocks(spec))
        chain = data.draw(ls.op_chains(spec)) + [("gain", 2)]
        ps = pipeline.from_array(frames).process(chain)
        np.testing.assert_array_equal(np.asarray(ps), ps.to_dask().compute())

Every chain :func:`op_chains` draws is valid for its spec: each op's
parameter is drawn for the frames the ops before it produce (folding
``resolve`` along the chain), so a chain that raises is a finding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import ops
from ops import FrameSpec, require
from pipeline.errors import OptionValueError

st = require("hypothesis.strategies", "testing", "pipeline.testing.strategies")
hnp = require("hypothesis.extra.numpy", "testing", "pipeline.testing.strategies")

FRAME_DTYPES: tuple[np.dtype, ...] = tuple(np.dtype(t) for t in (
    "uint8", "uint16", "uint32", "int8", "int16", "int32", "float32", "float64"))
"""The dtypes frames come in, as detectors, cameras and processing give them."""

BUILTIN_OPS: tuple[str, ...] = ("flip", "rectangle", "dark", "add", "add-row", "add-column")
"""The built-in ops :func:`op_chains` draws from by default (``gauss_laplace``, which needs
scipy, only when named)."""


def dtypes(kinds: str = "uif") -> Any:
    """Frame dtypes of the numpy kinds in ``kinds`` (``"u"``, ``"i"``, ``"f"``)."""
    chosen = [dt for dt in FRAME_DTYPES if dt.kind in kinds]
    if not chosen:
        raise OptionValueError(f"kinds={kinds!r} names no frame dtype; use letters of 'uif'")
    return st.sampled_from(chosen)


def frame_shapes(min_side: int = 2, max_side: int = 24, channels: int = 0) -> Any:
    """Frame shapes ``(rows, cols)``, or ``(c, rows, cols)`` with 1 to ``channels`` channels."""
    side = st.integers(min_side, max_side)
    if channels <= 0:
        return st.tuples(side, side)
    return st.tuples(st.integers(1, channels), side, side)


def frame_specs(shapes: Any = None, kinds: str = "uif") -> Any:
    """:class:`ops.FrameSpec` values (a frame shape and dtype, as ops see them).

    Parameters
    ----------
    shapes
        A strategy of frame shapes (default :func:`frame_shapes`).
    kinds
        The numpy kinds of the dtypes, as :func:`dtypes` takes them.
    """
    return st.builds(FrameSpec, shapes if shapes is not None else frame_shapes(), dtypes(kinds))


def _elements(dtype: np.dtype) -> Any:
    if dtype.kind == "f":  # finite, and within what float32 holds exactly enough to compare
        return st.floats(-1e6, 1e6, allow_nan=False, width=8 * min(dtype.itemsize, 4))
    info = np.iinfo(dtype)
    return st.integers(int(info.min), int(info.max))


def frame_blocks(spec: FrameSpec | Any, min_frames: int = 1, max_frames: int = 4) -> Any:
    """Blocks of frames ``(n, *spec.shape)`` of ``spec.dtype``: finite values across the range.

    Parameters
    ----------
    spec
        A :class:`ops.FrameSpec`, or a strategy of them.
    min_frames, max_frames
        Bounds of ``n``.
    """
    if not isinstance(spec, FrameSpec):
        return spec.flatmap(lambda s: frame_blocks(s, min_frames, max_frames))
    return st.integers(min_frames, max_frames).flatmap(lambda n: hnp.arrays(
        spec.dtype, (n, *spec.shape), elements=_elements(spec.dtype)))


@st.composite
def regions(draw: Callable[[Any], Any], shape: Sequence[int], every_axis: bool = False) -> Any:
    """Non-empty half-open rectangles ``((r0, r1), (c0, c1))`` within a frame of ``shape``.

    With ``every_axis``, one ``(lo, hi)`` pair per axis of ``shape`` (channels too).
    """
    axes = shape if every_axis else shape[-2:]
    pairs = []
    for n in axes:
        lo = draw(st.integers(0, n - 1))
        pairs.append((lo, draw(st.integers(lo + 1, n))))
    return tuple(pairs)


def flip_codes() -> Any:
    """Every code ``flip`` takes (``"v"``, ``"r90"``, ``"t"``, ...)."""
    return st.sampled_from(list(ops.FLIPS))


def _addends(spec: FrameSpec) -> Any:
    numbers = st.integers(-1000, 1000) | st.floats(-1000, 1000, allow_nan=False)
    rows, cols = spec.shape[-2:]
    arrays = hnp.arrays(st.sampled_from([np.dtype("int16"), np.dtype("float32")]),
                        st.sampled_from([(cols,), (rows, cols)]),
                        elements=st.integers(-1000, 1000))
    return numbers | arrays


def op_params(name: str, spec: FrameSpec) -> Any:
    """Valid parameters of the built-in op ``name`` for incoming frames of ``spec``."""
    rows, cols = spec.shape[-2:]
    if name == "flip":
        return flip_codes()
    if name == "rectangle":
        return regions(spec.shape)
    if name == "dark":
        return hnp.arrays(dtypes(), spec.shape[-2:], elements=st.integers(0, 100))
    if name == "add":
        return _addends(spec)
    if name == "add-row":
        return st.integers(0, rows)
    if name == "add-column":
        return st.integers(0, cols)
    if name == "gauss_laplace":
        return st.floats(0.5, max(rows, cols) / 4)
    raise ops.UnknownOpError(f"op_params knows the built-in ops {list(BUILTIN_OPS)} and "
                             f"'gauss_laplace', not {name!r}")


@st.composite
def op_chains(draw: Callable[[Any], Any], spec: FrameSpec, min_ops: int = 0, max_ops: int = 4,
              names: Sequence[str] = BUILTIN_OPS) -> list[tuple[str, Any]]:
    """Oplists ``[(name, param), ...]`` of built-in ops, each valid where it stands in the chain.

    Parameters
    ----------
    spec
        The frames the chain starts from.
    min_ops, max_ops
        Bounds of the chain's length.
    names
        The ops drawn from (default :data:`BUILTIN_OPS`).
    """
    chain: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(min_ops, max_ops))):
        name = draw(st.sampled_from(list(names)))
        param = draw(op_params(name, spec))
        chain.append((name, param))
        spec = ops.Op(name, param).validate(spec).resolve(spec)
    return chain


__all__ = ["BUILTIN_OPS", "FRAME_DTYPES", "dtypes", "flip_codes", "frame_blocks", "frame_shapes",
           "frame_specs", "op_chains", "op_params", "regions"]

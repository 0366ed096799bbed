"""Registering ops, resolving their specs, Op values, configs, pickling, isolation."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import ops
import pipeline
from ops import FrameSpec, Op
from pipeline import ProcessedImageSeries


@pytest.fixture
def frames():
    return np.random.default_rng(5).integers(0, 1000, (6, 8, 10), dtype=np.uint16)


def _lazy_eager(ps):
    eager = np.stack([ps[j] for j in range(len(ps))])
    lazy = ps.to_dask(frames_per_chunk=4).compute()
    np.testing.assert_array_equal(eager, lazy)
    assert eager.dtype == lazy.dtype == ps.dtype
    return eager


def test_register_block_function(frames):
    seen = []

    @ops.register("gain")
    def gain(block, factor):
        seen.append(block.shape)
        return block * factor

    assert gain(np.ones((1, 2, 2)), 2.0).sum() == 8  # returned unchanged
    ps = pipeline.from_array(frames).process([("gain", 2.0)])
    assert ps.dtype == np.float64  # probed on a zero frame: uint16 * float -> float64
    assert seen == [(1, 2, 2), (1, 8, 10)]  # the call above, then once as it joined the chain
    got = _lazy_eager(ps)
    np.testing.assert_array_equal(got, frames * 2.0)


def test_register_per_frame_function(frames):
    @ops.register("rowsum", per_frame=True)
    def rowsum(frame, weight):
        assert frame.ndim == 2
        return frame * weight

    ps = pipeline.from_array(frames).process([("rowsum", 3)])
    assert ps.dtype == frames.dtype  # per-frame functions: spec taken as unchanged
    np.testing.assert_array_equal(_lazy_eager(ps), frames * 3)


def test_registered_resolve_declares_shape_and_dtype(frames):
    def resolve(param, spec):
        return FrameSpec(spec.shape[:-1] + (1,), np.float32)

    @ops.register("colmean", resolve=resolve)
    def colmean(block, param):
        return block.mean(axis=-1, keepdims=True, dtype=np.float32)

    ps = pipeline.from_array(frames).process([("colmean", None)])
    assert ps.shape == (8, 1) and ps.dtype == np.float32
    np.testing.assert_allclose(_lazy_eager(ps), frames.mean(-1, keepdims=True), rtol=1e-6)


def test_probe_of_a_function_failing_on_empty_blocks_keeps_the_spec(frames):
    @ops.register("picky")
    def picky(block, param):
        if block.size == 0:
            raise ValueError("empty")
        return block + param

    ps = pipeline.from_array(frames).process([("picky", 1)])
    assert ps.dtype == frames.dtype and ps.shape == frames.shape[1:]


def test_op_lying_about_its_dtype_raises_at_compute(frames):
    @ops.register("liar", resolve=lambda p, spec: spec)
    def liar(block, param):
        return block.astype(np.float64)

    ps = pipeline.from_array(frames).process([("flip", "v"), ("liar", None)])
    assert ps.dtype == np.uint16
    with pytest.raises(ops.OpResultError, match="'liar'"):
        ps[0]
    with pytest.raises(ops.OpResultError, match="'liar'"):
        ps.to_dask().compute()


def test_op_lying_about_its_dtype_in_the_middle_of_a_chain(frames):
    @ops.register("liar", resolve=lambda p, spec: spec)
    def liar(block, param):
        return block.astype(np.float64)

    ps = pipeline.from_array(frames).process([("liar", None), ("flip", "v")])
    with pytest.raises(ops.OpResultError, match="liar"):
        ps[0]


def test_duplicate_name_needs_replace():
    ops.register("twice", lambda block, p: block)
    with pytest.raises(ValueError, match="'twice'.*replace=True"):
        ops.register("twice", lambda block, p: block + 1)
    ops.register("twice", lambda block, p: block + 1, replace=True)
    assert ops.lookup("twice").func(np.zeros((1, 2, 2)), None).sum() == 4
    with pytest.raises(ValueError, match="'flip'"):
        ops.register("flip", lambda block, p: block)


def test_registry_is_restored_between_tests_part_1():
    ops.register("leaky", lambda block, p: block)
    assert "leaky" in ops.registry


def test_registry_is_restored_between_tests_part_2():
    assert "leaky" not in ops.registry
    with pytest.raises(ops.UnknownOpError, match="leaky"):
        ops.lookup("leaky")


def test_snapshot_and_restore():
    before = ops.registry.snapshot()
    ops.register("temporary", lambda block, p: block)
    ops.registry.restore(before)
    assert "temporary" not in ops.registry
    assert set(ops.registry) >= {k.name for k in ops.BUILTINS}


def test_op_equality_hash_and_repr():
    dark = np.arange(6, dtype=np.uint16).reshape(2, 3)
    a, b = Op("dark", dark), Op("dark", dark.copy())
    assert a == b and hash(a) == hash(b)
    assert Op("dark", dark + 1) != a
    assert Op("dark", dark.astype(np.float32)) != a
    assert Op("flip", "v") == Op("flip", "v") != Op("flip", "h")
    assert Op("rectangle", [[0, 2], [1, 3]]) == Op("rectangle", ((0, 2), (1, 3)))
    assert len({Op("flip", "v"), Op("flip", "v"), Op("flip", "h")}) == 2
    assert repr(Op("flip", "v")) == "Op('flip', 'v')"
    assert "array" in repr(a) and "(2, 3)" in repr(a) and "uint16" in repr(a)
    with pytest.raises(AttributeError):
        a.param = None


@pytest.mark.parametrize("op", [
    Op("flip", "r90"),
    Op("rectangle", ((1, 5), (2, 7))),
    Op("add", 2.5),
    Op("add", np.linspace(0, 1, 7, dtype=np.float32)),
    Op("dark", np.arange(12, dtype=np.uint16).reshape(3, 4)),
    Op("add-row", 3),
    Op("gauss_laplace", (1.0, 2.0)),
], ids=repr)
def test_config_round_trip(op):
    config = op.to_config()
    assert config["name"] == op.name
    again = Op.from_config(config)
    assert again == op
    if isinstance(op.param, np.ndarray):
        assert again.param.dtype == op.param.dtype and again.param.shape == op.param.shape


def test_config_round_trip_through_json():
    from pipeline import _json

    op = Op("dark", np.arange(12, dtype=np.uint16).reshape(3, 4))
    text = _json.encode(op.to_config())
    assert Op.from_config(_json.decode(text)) == op


def test_from_config_unknown_name():
    with pytest.raises(ops.UnknownOpError, match="'mystery'"):
        Op.from_config({"name": "mystery", "param": 1})


@pytest.mark.parametrize("kind", ops.BUILTINS, ids=lambda k: k.name)
def test_builtin_kinds_pickle_by_name(kind):
    payload = pickle.dumps(kind)
    assert len(payload) < 200
    assert pickle.loads(payload) is kind


def test_ops_pickle():
    for op in (Op("flip", "v"), Op("dark", np.ones((3, 4), np.uint16))):
        again = pickle.loads(pickle.dumps(op))
        assert again == op and again.kind is op.kind


def test_unregistered_kind_pickles_by_value():
    kind = ops.OpKind("local", _negate)
    again = pickle.loads(pickle.dumps(Op(kind, None)))
    assert again.name == "local"
    np.testing.assert_array_equal(again.apply(np.ones((1, 2, 2))), -np.ones((1, 2, 2)))


def _negate(block, param):
    return -block


def test_processed_series_with_a_user_op_pickles(frames):
    ops.register("neg", _negate)
    ps = pipeline.from_array(frames.astype(np.int32)).process([("neg", None)])
    again = pickle.loads(pickle.dumps(ps))
    np.testing.assert_array_equal(again[2], -frames[2].astype(np.int32))


def test_user_op_gets_validated_at_construction(frames):
    def validate(param, spec):
        if param <= 0:
            raise ops.OpParameterError(f"op 'gain2': factor must be positive, got {param!r}")
        return float(param)

    ops.register("gain2", lambda block, f: block * f, validate=validate)
    with pytest.raises(ops.OpParameterError, match="-2"):
        ProcessedImageSeries(pipeline.from_array(frames), [("gain2", -2)])
    ps = ProcessedImageSeries(pipeline.from_array(frames), [("gain2", 2)])
    assert ps.chain[0].param == 2.0 and isinstance(ps.chain[0].param, float)


# -- entry points: in, lookup and iteration agree; each loaded once ----------------------


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """An installed distribution (a real dist-info on sys.path) offering op ``plugged``."""
    import sys

    info = tmp_path / "plugged_ops-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plugged-ops\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[lazyseries.ops]\nplugged = plugged_mod:PLUGGED\nnotakind = plugged_mod:NOT_A_KIND\n")
    (tmp_path / "plugged_mod.py").write_text(
        "import ops\nLOADS = globals().get('LOADS', 0) + 1\n"
        "PLUGGED = ops.OpKind('plugged', lambda block, p: block + p)\nNOT_A_KIND = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield ops.Registry(entry_points="lazyseries.ops")
    sys.modules.pop("plugged_mod", None)


def test_entry_point_ops_agree_in_contains_lookup_and_iteration(plugin):
    import sys

    assert "plugged" in plugin and "plugged" in list(plugin) and "plugged" in plugin.keys()  # noqa: SIM118
    assert "plugged_mod" not in sys.modules  # offered by name; nothing imported yet
    kind = plugin.lookup("plugged")
    assert plugin.lookup("plugged") is kind is plugin["plugged"]
    assert sys.modules["plugged_mod"].LOADS == 1
    assert kind.portable  # a fresh interpreter with the same installs finds it by name
    assert len(pickle.dumps(kind)) < 200
    child = plugin.child()
    assert "plugged" in child and child.lookup("plugged") is kind
    with pytest.raises(ops.UnknownOpError, match="'absent'"):
        plugin.lookup("absent")
    assert "absent" not in plugin


def test_an_entry_point_that_is_not_an_op_kind_is_named(plugin):
    with pytest.raises(ops.RegistrationError, match="notakind.*plugged_mod:NOT_A_KIND"):
        plugin.lookup("notakind")


def test_user_ops_travel_by_value_built_ins_by_name():
    ops.register("local_gain", lambda block, f: block * f)
    payload = pickle.dumps(Op("local_gain", 3))
    ops.registry.remove("local_gain")  # as on a worker that never saw the registration
    again = pickle.loads(payload)
    np.testing.assert_array_equal(again.apply(np.ones((1, 2, 2))), np.full((1, 2, 2), 3))
    assert not again.kind.portable and ops.lookup("flip").portable
    assert b"flip" in pickle.dumps(Op("flip", "v")) and len(pickle.dumps(Op("flip", "v"))) < 200


def test_an_op_that_cannot_unpickle_fails_when_used_not_when_unpickled(tmp_path, monkeypatch):
    import importlib
    import sys

    (tmp_path / "vanishing_mod.py").write_text("def f(block, p):\n    return block\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("vanishing_mod")

    class Param:
        def __reduce__(self):
            return (importlib.import_module, ("vanishing_mod",))

    ops.register("vanishing", module.f)
    payload = pickle.dumps(Op("vanishing", Param()))
    del sys.modules["vanishing_mod"]
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    again = pickle.loads(payload)  # no error here: a dask worker would die of it
    with pytest.raises(ops.OpUnavailableError, match="'vanishing'.*vanishing_mod"):
        again.apply(np.ones((1, 2, 2)))


# -- the op API's promises: known at construction, callable as registered -------------------


def test_an_op_that_changes_dtype_or_shape_is_known_when_it_joins_the_chain(frames):
    @ops.register("normalise", per_frame=True)
    def normalise(frame, _):
        return frame / frame.max()

    @ops.register("halve", per_frame=True)
    def halve(frame, _):
        return frame[::2, ::2].astype(np.float32)

    ps = pipeline.from_array(frames).process([("normalise", None), ("halve", None)])
    assert ps.dtype == np.float32 and ps.shape == (4, 5)
    expected = np.stack([(f / f.max())[::2, ::2].astype(np.float32) for f in frames])
    np.testing.assert_array_equal(_lazy_eager(ps), expected)


def test_an_op_that_cannot_take_a_zero_frame_is_refused_at_construction(frames):
    @ops.register("picky")
    def picky(block, _):
        if not block.any():
            raise ZeroDivisionError("nothing to divide by")
        return block

    with pytest.raises(ops.OpResultError, match=r"op 'picky' failed on a frame of zeros of "
                                                r"shape \(8, 10\) uint16.*resolve="):
        pipeline.from_array(frames).process([("picky", None)])


def test_an_op_returning_another_number_of_frames_is_refused_at_construction(frames):
    ops.register("flatten", lambda block, _: block.sum(axis=0))
    with pytest.raises(ops.OpResultError, match=r"returned an array of shape \(8, 10\) for a "
                                                r"block of 1 frame of shape \(8, 10\)"):
        pipeline.from_array(frames).process([("flatten", None)])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"func": lambda block: block}, r"func is called as func\(block, param\), with 2 "
                                    r"arguments; <lambda>\(block\) cannot be"),
    ({"func": lambda frame: frame, "per_frame": True}, r"func\(frame, param\)"),
    ({"func": lambda a, b, c: a}, r"<lambda>\(a, b, c\) cannot be"),
    ({"func": 3}, r"func= must be a function"),
    ({"func": lambda b, p: b, "resolve": lambda spec: spec}, r"resolve is called as "
                                                            r"resolve\(param, spec\)"),
    ({"func": lambda b, p: b, "parse": lambda: 1}, r"parse is called as parse\(param\)"),
    ({"func": lambda b, p: b, "crop": lambda p, s: None}, r"crop\(param, spec, region\)"),
])
def test_a_function_the_framework_cannot_call_is_refused_at_register(kwargs, message):
    with pytest.raises(ops.RegistrationError, match=message):
        ops.register("wrongly", **kwargs)
    assert "wrongly" not in ops.registry


def test_functions_with_defaults_or_varargs_are_fine():
    ops.register("flexible", lambda block, param=None, *rest: block)
    ops.register("anything", lambda *args: args[0])
    assert "flexible" in ops.registry and "anything" in ops.registry

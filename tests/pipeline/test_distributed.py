"""The same graphs on a real dask.distributed cluster: recipes travel, workers compute and write."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

import ops
import pipeline

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

SHAPE = (32, 40)
RECT = ((3, 37), (5, 29))


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=40)
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 4000, (16, *SHAPE), dtype=np.uint16)
    dark = rng.integers(0, 400, SHAPE, dtype=np.uint16)
    source = pipeline.write(pipeline.from_array(frames), root / "raw.zarr",
                            chunks=(2, *SHAPE), shards=None)
    ps = pipeline.open(root / "raw.zarr").process(
        [("dark", dark), ("flip", "r90"), ("rectangle", RECT)])
    ref = np.clip(frames.astype(np.int64) - dark, 0, None).astype(np.uint16)
    ref = np.rot90(ref, axes=(1, 2))[:, RECT[0][0]:RECT[0][1], RECT[1][0]:RECT[1][1]]
    assert source.frame_chunk == 2
    return root, frames, ps, ref


def test_pickles_as_a_recipe(case):
    _, frames, ps, ref = case
    ps[0]  # opens the store in this process
    payload = pickle.dumps(ps)
    assert len(payload) < frames.nbytes // 10
    again = pickle.loads(payload)
    assert again.source._handle is None  # reopened lazily where it lands
    np.testing.assert_array_equal(again[5], ref[5])
    assert again.to_dask().name == ps.to_dask().name


def test_compute_on_the_cluster(client, case):
    _, _, ps, ref = case
    with distributed.get_task_stream(client) as ts:
        got = ps.to_dask().compute()
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got, np.stack([ps[j] for j in range(len(ps))]))
    workers = {t["worker"] for t in ts.data}
    assert workers and workers <= set(client.scheduler_info()["workers"])


def test_write_on_the_cluster(client, case):
    root, _, ps, ref = case
    with distributed.get_task_stream(client) as ts:
        pipeline.write(ps, root / "out.zarr", chunks=(2, *ps.shape), shards=None)
    ran = [t for t in ts.data if t["key"] and "processedimageseries" in str(t["key"])]
    assert ts.data and ran, "the write did not run on the cluster"
    assert {t["worker"] for t in ts.data} <= set(client.scheduler_info()["workers"])
    back = pipeline.open(root / "out.zarr")
    np.testing.assert_array_equal(np.asarray(back), ref)
    assert back.provenance["source"]["path"] == os.fspath(root / "raw.zarr")


def test_workers_pid_differs(client):
    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids


# -- user ops travel with the graph ------------------------------------------------------
# The workers start before any of these ops exist and never import the modules defining
# them: whatever reaches them travels inside the graph.

DEADLINE = 60
"""Seconds a cluster computation may take before the test fails (a regression hangs)."""


def _compute(client, arr):
    """``arr`` computed on the cluster; a hang fails the test after DEADLINE seconds."""
    return client.compute(arr).result(timeout=DEADLINE)


def _within(seconds, func, *args, **kwargs):
    """``func(*args)`` in a thread, failing the test if it has not returned in ``seconds``."""
    import threading

    box = {}

    def run():
        try:
            box["value"] = func(*args, **kwargs)
        except BaseException as err:  # noqa: BLE001  (re-raised in the test's thread)
            box["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{func.__name__} did not return within {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


NOTEBOOK_CELL = '''
import numpy as np
import ops

SCALE = 3

def _offset(block):
    return block + 7

@ops.register("nb_gain")
def nb_gain(block, factor):
    return _offset(block.astype(np.float32) * factor * SCALE)
'''


def _run_as_main(source):
    """Run ``source`` as a notebook cell does: in a namespace named ``__main__``."""
    namespace = {"__name__": "__main__"}
    exec(compile(source, "<notebook cell>", "exec"), namespace)  # noqa: S102
    return namespace


def test_op_from_a_notebook_cell_runs_on_the_cluster(client, case):
    _, _, ps, ref = case
    cell = _run_as_main(NOTEBOOK_CELL)
    assert cell["nb_gain"].__module__ == "__main__"
    user = ps.process([("nb_gain", 0.5)])
    expected = ref.astype(np.float32) * 0.5 * 3 + 7
    np.testing.assert_array_equal(_compute(client, user.to_dask()), expected)
    np.testing.assert_array_equal(user[3], expected[3])


CLIENT_MODULE = '''
import numpy as np
import ops

def _clip_to(block, top):
    return np.minimum(block, top)

@ops.register("{name}")
def capped(block, top):
    """Frames capped at ``top``."""
    return _clip_to(block, top).astype(np.uint16)
'''


@pytest.fixture
def client_only_module(tmp_path, monkeypatch):
    """A module in a directory on the client's sys.path only; it registers op ``cap_<id>``."""
    import importlib
    import uuid

    name = f"clientops_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(CLIENT_MODULE.format(name=f"cap_{name}"))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    yield f"cap_{name}", module
    import sys

    sys.modules.pop(name, None)


def test_op_from_a_module_the_workers_lack_writes_on_the_cluster(client, case, tmp_path,
                                                                 client_only_module):
    _, _, ps, ref = case
    op_name, module = client_only_module
    import importlib.util

    missing = client.run(importlib.util.find_spec, module.__name__)
    assert set(missing.values()) == {None}  # the workers really cannot import it
    user = ps.process([(op_name, 1500)])
    out = tmp_path / "capped.zarr"
    _within(DEADLINE, pipeline.write, user, out, chunks=(2, *user.shape), shards=None)
    np.testing.assert_array_equal(np.asarray(pipeline.open(out)), np.minimum(ref, 1500))


def test_addop_op_runs_on_the_cluster(client, case):
    _, _, ps, ref = case
    local = ps.process([])
    local.addop("negmod", lambda frame, m: (frame % m).astype(np.uint16))
    user = local.process([("negmod", 7)])
    np.testing.assert_array_equal(_compute(client, user.to_dask()), ref % 7)


def test_user_ops_pickle_small_built_ins_by_name(client_only_module):
    import cloudpickle

    op_name, _ = client_only_module
    _run_as_main(NOTEBOOK_CELL)
    size = {name: len(cloudpickle.dumps(ops.Op(name, param)))
            for name, param in (("flip", "v"), ("nb_gain", 2.0), (op_name, 9))}
    assert size["flip"] < 200  # a built-in travels as its name
    assert size["nb_gain"] < 8_000 and size[op_name] < 8_000, size  # functions by value


# -- failures on a worker reach the client, naming what failed ----------------------------


def _raises_quickly(client, arr, error, match):
    import time

    start = time.monotonic()
    with pytest.raises(error, match=match) as info:
        _compute(client, arr)
    assert time.monotonic() - start < 30
    return info.value


def _healthy(client):
    assert len(client.scheduler_info()["workers"]) == 2
    assert client.submit(sum, [1, 2], pure=False).result(timeout=DEADLINE) == 3


def test_op_raising_on_a_worker_names_the_op(client, case):
    _, _, ps, _ = case

    def fussy(block, param):
        if block.any():  # frames of zeros (how its output is found) pass
            raise ValueError(f"fussy refuses {param!r}")
        return block

    ops.register("fussy", fussy)
    err = _raises_quickly(client, ps.process([("fussy", 9)]).to_dask(), ValueError, "refuses 9")
    assert any("'fussy'" in note for note in err.__notes__)
    _healthy(client)


def test_op_unknown_on_the_workers_names_the_op(client, case, tmp_path, monkeypatch):
    # an entry point installed for the client only: it pickles by name, and the workers,
    # which lack the distribution, cannot look the name up
    dist = tmp_path / "site"
    (dist / "lazyseries_extra_ops-1.0.dist-info").mkdir(parents=True)
    (dist / "lazyseries_extra_ops-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lazyseries-extra-ops\nVersion: 1.0\n")
    (dist / "lazyseries_extra_ops-1.0.dist-info" / "entry_points.txt").write_text(
        "[lazyseries.ops]\nep_twice = extra_ops_mod:TWICE\n")
    (dist / "extra_ops_mod.py").write_text(
        "import ops\nTWICE = ops.OpKind('ep_twice', lambda block, p: block * 2)\n")
    monkeypatch.syspath_prepend(str(dist))
    monkeypatch.setattr(ops.registry, "_offered", None)
    _, _, ps, ref = case
    user = ps.process([("ep_twice", None)])
    assert user.chain[-1].kind.portable
    np.testing.assert_array_equal(user[0], ref[0] * 2)
    _raises_quickly(client, user.to_dask(), ops.OpUnavailableError, "'ep_twice'")
    _healthy(client)
    monkeypatch.delitem(__import__("sys").modules, "extra_ops_mod", raising=False)


class _NeedsClientModule:
    """A parameter that unpickles only where module ``name`` imports (like an extension type)."""

    def __init__(self, name):
        self.name = name

    def __reduce__(self):
        import importlib

        return (importlib.import_module, (self.name,))


def test_op_that_cannot_unpickle_on_the_workers_names_the_op(client, case, client_only_module):
    _, _, ps, _ = case
    _, module = client_only_module
    ops.register("needs_module", lambda block, mod: block)
    user = ps.process([("needs_module", _NeedsClientModule(module.__name__))])
    err = _raises_quickly(client, user.to_dask(), ops.OpUnavailableError,
                          "'needs_module'")
    assert module.__name__ in str(err)
    _healthy(client)


def test_source_missing_on_the_workers_names_the_file(client, tmp_path):
    import shutil

    frames = np.arange(4 * 6 * 5, dtype=np.uint16).reshape(4, 6, 5)
    pipeline.write(pipeline.from_array(frames), tmp_path / "gone.zarr")
    ps = pipeline.open(tmp_path / "gone.zarr").process([("flip", "v")])
    arr = ps.to_dask()
    shutil.rmtree(tmp_path / "gone.zarr")  # the client knew it; the workers cannot find it
    _raises_quickly(client, arr, FileNotFoundError, "gone.zarr")
    _healthy(client)


def test_function_series_over_client_only_code_runs_on_the_cluster(client, tmp_path,
                                                                   monkeypatch):
    import importlib

    (tmp_path / "framesmod_c.py").write_text(
        "import numpy as np\n\ndef frame(j):\n    return np.full((6, 5), 3 * j, np.uint16)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("framesmod_c")
    from pipeline.formats.function import FunctionSeries

    ps = FunctionSeries(module.frame, 6, (6, 5), np.uint16).process([("flip", "v")])
    want = np.stack([np.full((6, 5), 3 * j, np.uint16) for j in range(6)])
    np.testing.assert_array_equal(_compute(client, ps.to_dask(frames_per_chunk=2)), want)
    monkeypatch.delitem(__import__("sys").modules, "framesmod_c")


def test_source_that_cannot_unpickle_on_the_workers_names_the_source(client,
                                                                     client_only_module):
    from pipeline.errors import SourceUnavailableError
    from pipeline.formats.function import FunctionSeries

    _, module = client_only_module
    meta = {"calibration": _NeedsClientModule(module.__name__)}
    ps = FunctionSeries(lambda j: np.zeros((4, 4), np.uint8), 4, (4, 4), np.uint8, meta)
    err = _raises_quickly(client, ps.process([("flip", "h")]).to_dask(),
                          SourceUnavailableError, "FunctionSeries")
    assert module.__name__ in str(err)
    _healthy(client)

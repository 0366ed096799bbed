"""The ``lazyseries`` console script, run in a subprocess on real files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import pipeline

SCRIPT = [shutil.which("lazyseries")] if shutil.which("lazyseries") else [sys.executable, "-m",
                                                                          "pipeline"]


def cli(*args, cwd):
    return subprocess.run([*SCRIPT, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def raw(tmp_path):
    return pipeline.write(pipeline.synthetic(12, (32, 40)), tmp_path / "raw.zarr")


def test_demo_then_info(tmp_path):
    out = cli("demo", "demo.zarr", "--frames", "8", "--size", "64", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "frames match the processed series: True" in out.stdout
    again = cli("demo", "demo.zarr", cwd=tmp_path)  # exists, not overwritten
    assert again.returncode == 2 and "--overwrite on the command line" in again.stderr
    info = cli("info", "demo.zarr", "--json", cwd=tmp_path)
    data = json.loads(info.stdout)
    assert data["frames"] == 8 and data["shape"] == [32, 32] and data["dtype"] == "uint16"
    assert data["codec"].startswith("blosc") and "omega" in data["metadata"]
    assert [op["name"] for op in data["provenance"]["ops"]] == ["dark", "flip", "rectangle"]
    text = cli("info", "demo.zarr", cwd=tmp_path).stdout
    assert "frames:" in text and "provenance:" in text and "chunks:" in text


def test_process_matches_the_library(raw, tmp_path):
    np.save(tmp_path / "dark.npy", raw.metadata["dark"])
    out = cli("process", "raw.zarr", "out.zarr", "--op", "dark=dark.npy", "--op", "flip=v",
              "--op", "rectangle=0:16,8:40", "--frames", "2:10", "--codec", "zstd", "-q",
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""  # quiet, and no tty: no progress
    expected = raw.process([("dark", raw.metadata["dark"]), ("flip", "v"),
                            ("rectangle", ((0, 16), (8, 40)))], frame_list=range(2, 10))
    got = pipeline.open(tmp_path / "out.zarr")
    assert np.asarray(got).tobytes() == np.asarray(expected).tobytes()


def test_stats_writes_npy(raw, tmp_path):
    out = cli("stats", "raw.zarr", "--median", "--nframes", "6", "-o", "med.npy", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "median of 6 frames" in out.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "med.npy"),
                                  pipeline.stats.median(raw, nframes=6))


def test_run_and_rerun_from_recorded_provenance(raw, tmp_path):
    (tmp_path / "p.yaml").write_text(
        "source: raw.zarr\nframe_list: [0, 4, 8]\n"
        "ops:\n  - {name: dark, param: {stat: min}}\n  - {name: flip, param: h}\n"
        "output: {path: run.zarr, codec: gzip}\n")
    assert cli("run", "p.yaml", cwd=tmp_path).returncode == 0
    info = cli("info", "run.zarr", "--pipeline", "again.yaml", "-q", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    rerun = cli("run", "again.yaml", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    first, second = pipeline.open(tmp_path / "run.zarr"), pipeline.open(
        tmp_path / "run.rerun.zarr")
    assert np.asarray(first).tobytes() == np.asarray(second).tobytes()


@pytest.mark.parametrize("args, message", [
    (("run", "bad.yaml"), "bad.yaml: ops[1].name: unknown op 'flp'; known ops: ["),
    (("run", "missing.yaml"), "no such pipeline file"),
    (("process", "nope.zarr", "o.zarr", "--op", "flip=v"), "cannot open 'nope.zarr'"),
    (("process", "raw.zarr", "o.zarr", "--op", "flp=v"), "unknown op 'flp'"),
    (("process", "raw.zarr", "o.zarr", "--op", "rectangle=0:8,0:99"), "ops[0]: op 'rectangle'"),
    (("info", "nope.zarr"), "no such file or directory"),
    (("stats", "raw.zarr"), "choose a statistic"),
])
def test_bad_input_is_one_line_and_exit_code_2(raw, tmp_path, args, message):
    (tmp_path / "bad.yaml").write_text(
        "source: raw.zarr\nops:\n  - {name: flip, param: v}\n  - {name: flp, param: v}\n"
        "output: o.zarr\n")
    out = cli(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "o.zarr").exists()


def test_failure_while_computing_is_exit_code_1_and_debug_shows_traceback(raw, tmp_path):
    chunk = next(p for p in (tmp_path / "raw.zarr" / "0").rglob("*")
                 if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(b"not a compressed chunk")
    out = cli("process", "raw.zarr", "o.zarr", "--op", "flip=v", cwd=tmp_path)
    assert out.returncode == 1 and out.stderr.startswith("lazyseries: error:")
    assert "Traceback" not in out.stderr
    debug = cli("process", "raw.zarr", "o2.zarr", "--op", "flip=v", "--debug", cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


@pytest.mark.slow
def test_run_on_a_local_cluster(raw, tmp_path):
    out = cli("process", "raw.zarr", "o.zarr", "--op", "flip=t", "--workers", "2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    expected = raw.process([("flip", "t")])
    assert np.asarray(pipeline.open(tmp_path / "o.zarr")).tobytes() == \
        np.asarray(expected).tobytes()


MY_OPS = '''
import ops

@ops.register("gain")
def gain(block, factor):
    """Multiply by a factor: a user's op."""
    return block * float(factor)
'''


@pytest.mark.slow
@pytest.mark.parametrize("where", ["--workers=2", "local"])
def test_a_users_ops_from_a_file_given_with_import(raw, tmp_path, where):
    (tmp_path / "myops.py").write_text(MY_OPS)
    evaluation = [where] if where != "local" else []
    out = cli("process", "raw.zarr", "out.zarr", "--import", "myops.py", "--op", "gain=2.5",
              "--op", "flip=v", "-q", *evaluation, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    expected = np.asarray(raw.process([("flip", "v")])) * 2.5
    got = pipeline.open(tmp_path / "out.zarr")
    np.testing.assert_array_equal(np.asarray(got), expected)
    assert [op["name"] for op in got.provenance["ops"]] == ["gain", "flip"]


def test_a_pipeline_file_names_an_op_a_module_registers(raw, tmp_path, monkeypatch):
    package = tmp_path / "site"
    package.mkdir()
    (package / "beamline_ops.py").write_text(MY_OPS)
    monkeypatch.setenv("PYTHONPATH", str(package))
    (tmp_path / "p.yaml").write_text("source: raw.zarr\nops:\n  - {name: gain, param: 3}\n"
                                     "output: run.zarr\n")
    without = cli("run", "p.yaml", cwd=tmp_path)
    assert without.returncode == 2 and "unknown op 'gain'" in without.stderr
    done = cli("run", "p.yaml", "--import", "beamline_ops", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "run.zarr")),
                                  np.asarray(raw) * 3.0)


@pytest.mark.parametrize(("name", "message"), [
    ("nosuch_module_xyz", "--import 'nosuch_module_xyz': ModuleNotFoundError"),
    ("missing.py", "--import 'missing.py': no such file"),
    ("broken.py", "--import 'broken.py': ZeroDivisionError"),
])
def test_a_module_that_cannot_be_imported_is_bad_input(raw, tmp_path, name, message):
    (tmp_path / "broken.py").write_text("1 / 0\n")
    out = cli("info", "raw.zarr", "--import", name, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr

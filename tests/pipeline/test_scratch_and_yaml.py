"""Scratch entries of dead processes are swept; YAML is loaded within bounds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pipeline
from pipeline import disk, errors, pipelinefile
from pipeline._yaml import MAX_DEPTH, load_yaml
from pipeline.errors import PipelineFileError, YAMLError, YAMLLimitError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SPILLER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from pipeline import ImageStack
    st = ImageStack(max_memory_mb=0.01, scratch_dir=sys.argv[1])
    for j in range(8):
        st.append(np.full((32, 32), j, np.uint16))
    assert st.nspilled > 0
    print(st.scratch_path, flush=True)
    time.sleep(600)
""")


def _spill_and_kill(where):
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-c", SPILLER, str(where)], env=env,
                            stdout=subprocess.PIPE, text=True)
    path = proc.stdout.readline().strip()
    assert os.path.isdir(path)
    return proc, path


@pytest.mark.slow
def test_killed_process_scratch_is_swept_at_next_use(tmp_path):
    proc, dead = _spill_and_kill(tmp_path)
    live_proc, live = _spill_and_kill(tmp_path)
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert os.path.isdir(dead)  # nothing removes it until the directory is used again
        stranger = tmp_path / "not-ours"
        stranger.mkdir()
        st = pipeline.ImageStack(max_memory_mb=0.001, scratch_dir=tmp_path)
        st.append(np.zeros((64, 64), np.uint16))
        st.append(np.ones((64, 64), np.uint16))  # spills: the scratch directory is used
        assert st.nspilled > 0
        assert not os.path.exists(dead)
        assert os.path.isdir(live) and stranger.is_dir()  # live owner's and others' stay
        assert os.path.isdir(st.scratch_path)
        np.testing.assert_array_equal(st[0], 0)
        st.close()
    finally:
        live_proc.kill()
        live_proc.wait(timeout=30)
        for p in (proc, live_proc):
            p.stdout.close()


def test_owner_tags_judge_liveness(tmp_path):
    tag = disk.owner_tag()
    assert disk.owner_alive(f"lazyseries-x-{tag}abc")
    pid = os.getpid()
    # same pid, another start time: the pid was recycled, the owner is gone
    assert not disk.owner_alive(f"lazyseries-x-{tag.replace('.t', '.t9', 1)}abc") or \
        disk._start_time(pid) == 0
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    name = f"lazyseries-x-.p{gone}.t1.h{disk._host()}.abc"
    (tmp_path / name).mkdir()
    (tmp_path / "lazyseries-x-.p1.t1.hdeadbeef.other-host").mkdir()
    assert disk.sweep_scratch(tmp_path) == [str(tmp_path / name)]
    assert sorted(os.listdir(tmp_path)) == ["lazyseries-x-.p1.t1.hdeadbeef.other-host"]


def test_materialized_store_records_its_owner(tmp_path):
    pipeline.set_scratch_dir(tmp_path)
    try:
        m = pipeline.materialize(pipeline.from_array(np.zeros((3, 4, 4), np.uint8)))
        (name,) = os.listdir(tmp_path)
        assert disk.owner_tag() in name and disk.owner_alive(name)
        del m
    finally:
        pipeline.set_scratch_dir(None)


# -- YAML ---------------------------------------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def test_alias_bomb_refused_quickly_naming_the_file(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    assert len(BOMB) < 600
    with pytest.raises(YAMLLimitError, match="bomb.yaml.*anchors and aliases"):
        load_yaml(path, what="pipeline file")
    with pytest.raises(PipelineFileError, match="bomb.yaml"):
        pipelinefile.load(path)


def test_image_files_bomb_is_refused(tmp_path):
    path = tmp_path / "imgs.yml"
    path.write_text("image-files: {directory: ., files: '*.tif'}\nmeta:\n" +
                    "".join("  " + line + "\n" for line in BOMB.splitlines()))
    with pytest.raises(YAMLLimitError, match="imgs.yml"):
        pipeline.open(path, format="image-files")
    assert not list(tmp_path.glob("*.zarr"))


@pytest.mark.parametrize(("text", "error", "match"), [
    ("a: &a [*a]\n", YAMLLimitError, "refers to the node that holds it"),
    ("[" * 50_000 + "]" * 50_000, YAMLLimitError, "nest"),
    ("[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5), YAMLLimitError, f"more than {MAX_DEPTH}"),
    ("a: [1,\n", YAMLError, "line"),
    ("a: !!python/object/apply:os.system ['true']\n", YAMLError, "not valid YAML"),
])
def test_bad_documents(text, error, match):
    with pytest.raises(error, match=match):
        load_yaml(text, what="raw-image YAML")


def test_text_and_files_load_the_same(tmp_path):
    text = "base: &b {x: 1, y: [1, 2]}\none: *b\ntwo: {<<: *b, x: 2}\n"
    (tmp_path / "ok.yaml").write_text(text)
    expected = {"base": {"x": 1, "y": [1, 2]}, "one": {"x": 1, "y": [1, 2]},
                "two": {"x": 2, "y": [1, 2]}}
    assert load_yaml(text) == load_yaml(tmp_path / "ok.yaml") == load_yaml(
        str(tmp_path / "ok.yaml")) == expected
    with pytest.raises(FileNotFoundError):
        load_yaml(tmp_path / "missing.yaml")


# -- truncated files -------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".npz", ".tif"])
def test_truncated_files_are_project_errors_naming_the_file(ext, tmp_path, caplog):
    import logging

    frames = np.arange(4 * 8 * 8, dtype=np.uint16).reshape(4, 8, 8)
    whole = tmp_path / f"whole{ext}"
    pipeline.write(pipeline.from_array(frames), whole)
    data = whole.read_bytes()
    np.testing.assert_array_equal(np.asarray(pipeline.open(whole)), frames)
    cut = tmp_path / f"cut{ext}"
    caplog.set_level(logging.WARNING)
    for size in range(16, len(data) - 1, max(1, len(data) // 40)):
        cut.write_bytes(data[:size])
        with _no_warnings():
            try:
                got = np.asarray(pipeline.open(cut))
            except (pipeline.errors.NotASeriesError, pipeline.errors.UnknownFormatError) as err:
                assert "cut" in str(err)
            else:  # only trailing metadata was cut: the frames are all there
                np.testing.assert_array_equal(got, frames)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def _no_warnings():
    import warnings

    class Guard:
        def __enter__(self):
            self._ctx = warnings.catch_warnings()
            self._ctx.__enter__()
            warnings.simplefilter("error")

        def __exit__(self, *exc):
            return self._ctx.__exit__(*exc)

    return Guard()


def test_base_60_numbers_are_text_and_cheap(tmp_path):
    """YAML 1.1 reads 1:59:59 as 7199 at a cost quadratic in its length; here it is text."""
    import time

    from pipeline._yaml import load_yaml

    assert load_yaml("a: 1:59:59\nb: 1:30.5\nc: 12\nd: 0x1f\n") == \
        {"a": "1:59:59", "b": "1:30.5", "c": 12, "d": 31}
    start = time.monotonic()
    doc = load_yaml("frame_list: " + ":".join(["59"] * 800_000) + "\n")
    assert isinstance(doc["frame_list"], str) and time.monotonic() - start < 30
    (tmp_path / "p.yml").write_text("source: s.zarr\nframe_list: " + ":".join(["1"] * 5000)
                                    + "\n")
    with pytest.raises(errors.PipelineFileError, match="p.yml"):
        pipelinefile.load(tmp_path / "p.yml")


@pytest.mark.parametrize(("text", "kind"), [("x: " + "9" * 5000, "int"),
                                            ("x: 2020-13-01", "timestamp")])
def test_numbers_and_dates_python_cannot_make_name_the_file_and_line(tmp_path, text, kind):
    from pipeline._yaml import load_yaml

    (tmp_path / "bad.yml").write_text(text + "\n")
    with pytest.raises(errors.YAMLError, match=f"bad.yml: line 1: .* not a valid {kind}"):
        load_yaml(tmp_path / "bad.yml")

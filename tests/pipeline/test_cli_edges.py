"""The command line never guesses: every bad input is exit 2 with one line, nothing written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import pipeline
from pipeline import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def src(tmp_path):
    frames = np.random.default_rng(3).integers(0, 1000, (10, 16, 12), dtype=np.uint16)
    pipeline.write(pipeline.from_array(frames), tmp_path / "src.zarr")
    return str(tmp_path / "src.zarr"), frames


def run(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("args", "message"), [
    (["out.txt"], "no writer for the extension '.txt'; known: "),
    (["x.zarr", "--format", "tiff"], "'.zarr' contradicts --format 'tiff'"),
    (["o.zarr", "--op", "flip"], "--op 'flip': give the op's value"),
    (["o.zarr", "--op", "rectangle=abc"], "on the command line ROW0:ROW1,COL0:COL1, got 'abc'"),
    (["o.zarr", "--op", "dark=abc"], "a .npy or .tif file, or a statistic such as median:100), "
                                     "got text 'abc'"),
    (["o.zarr", "--frames", "5:2"], "'5:2' selects no frames"),
    (["o.zarr", "--frames", "0:11"], "11 is beyond the source's 10 frames"),
    (["o.zarr", "--frames", "3,10"], "frame 10 is out of range"),
    (["o.zarr", "--frames", "::0"], "step must not be 0"),
    (["o.zarr", "--source-format", "nope"], "unknown format 'nope'"),
    (["o.zarr", "--op", "gauss_laplace=.inf"], "sigma must be a positive finite number"),
    (["o.zarr", "--op", "dark=median:abc"], "a statistic as the value is median[:N]"),
    (["o.zarr", "--op", "dark=percentile"], "a statistic as the value is percentile:P[:N]"),
    (["o.zarr", "--op", "dark=percentile:x"], "P 'x' is not a percentile in [0, 100]"),
])
def test_bad_process_input_writes_nothing(args, message, src, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "process", src[0], *args)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("lazyseries: error: ") and message in err
    assert sorted(os.listdir(tmp_path)) == ["src.zarr"]


@pytest.mark.parametrize(("args", "prog"), [(["--frames", "a,b"], "lazyseries process"),
                                            (["--levels", "x"], "lazyseries process"),
                                            (["--bogus"], "lazyseries")])
def test_a_bad_argument_is_one_line_and_where_to_look(args, prog, src, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        run(capsys, "process", src[0], tmp_path / "o.zarr", *args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "usage:" not in err
    first, hint = err.splitlines()
    assert first.startswith(f"{prog}: error: ") and args[0] in first
    assert hint == f"Try '{prog} --help' for more information."


def test_a_statistic_over_more_frames_than_the_source_has(src, tmp_path, capsys):
    code, _, err = run(capsys, "process", src[0], tmp_path / "o.zarr", "--op", "dark=median:11")
    assert code == 2 and "11 frames asked of a source of 10; give at most 10" in err
    assert not (tmp_path / "o.zarr").exists()


def test_negative_frames_count_from_the_end(src, tmp_path, capsys):
    code, _, err = run(capsys, "process", src[0], tmp_path / "o.zarr", "--frames", "-1,-3", "-q")
    assert code == 0, err
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "o.zarr")),
                                  src[1][[-1, -3]])
    code, _, _ = run(capsys, "process", src[0], tmp_path / "p.zarr", "--frames", "-4:", "-q")
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "p.zarr")), src[1][-4:])


def test_a_statistic_as_an_op_value(src, tmp_path, capsys):
    path, frames = src
    code, _, err = run(capsys, "process", path, tmp_path / "o.zarr", "--op",
                       "dark=percentile:5:4", "--op", "add=mean", "-q")
    assert code == 0, err
    raw = pipeline.open(path)
    dark = pipeline.stats.percentile(raw, 5, nframes=4)
    darkened = raw.process([("dark", dark)])
    expected = darkened.process([("add", pipeline.stats.average(darkened))])
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "o.zarr")),
                                  np.asarray(expected))


def test_format_and_extension_agreeing_are_fine(src, tmp_path, capsys):
    code, _, err = run(capsys, "process", src[0], tmp_path / "o.tif", "--format", "tiff", "-q")
    assert code == 0, err
    np.testing.assert_array_equal(np.asarray(pipeline.open(tmp_path / "o.tif")), src[1])
    code, _, err = run(capsys, "process", src[0], tmp_path / "plain", "-q")  # no extension: Zarr
    assert code == 0 and pipeline.open(tmp_path / "plain", format="zarr").shape == (16, 12)


def test_several_statistics_in_one_pass(src, tmp_path, capsys, monkeypatch):
    import dask

    calls = []
    real = dask.compute
    monkeypatch.setattr(dask, "compute", lambda *a, **k: calls.append(len(a)) or real(*a, **k))
    out_path = tmp_path / "all.npz"
    code, out, err = run(capsys, "stats", src[0], "--max", "--min", "--sum", "--mean",
                         "--median", "--percentile", "90", "-o", out_path)
    assert code == 0, err
    assert calls[0] == 6  # one compute for all six
    frames = src[1]
    got = np.load(out_path)
    np.testing.assert_array_equal(got["max"], frames.max(axis=0))
    np.testing.assert_array_equal(got["min"], frames.min(axis=0))
    np.testing.assert_array_equal(got["sum"], frames.sum(axis=0, dtype=np.float64))
    np.testing.assert_allclose(got["mean"], frames.mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(got["median"], np.median(frames, axis=0).astype(np.float32))
    np.testing.assert_array_equal(got["percentile"],
                                  np.percentile(frames, 90, axis=0).astype(np.float32))
    assert [line.split(" of ")[0] for line in out.splitlines()] == [
        "max", "min", "sum", "mean", "median", "percentile 90"]


@pytest.mark.parametrize(("args", "message"), [
    (["--percentile", "150"], "--percentile 150: percentile 150.0 must be in [0, 100]"),
    (["--max", "--nframes", "11"], "--nframes 11 must be 0 (all) to 10"),
    (["--max", "--min", "-o", "x.npy"], "several statistics go to one .npz"),
    ([], "choose a statistic"),
])
def test_bad_stats_input(args, message, src, capsys):
    code, _, err = run(capsys, "stats", src[0], *args)
    assert code == 2 and err.count("\n") == 1 and message in err


def test_existing_output_names_the_flag(src, capsys):
    code, _, err = run(capsys, "process", src[0], src[0] + "/../src.zarr")
    assert code == 2 and err.count("\n") == 1


def test_version_and_plain_help(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.startswith("lazyseries ")
    for args in (["--help"], ["process", "--help"], ["stats", "--help"]):
        with pytest.raises(SystemExit):
            cli.main(args)
        text = capsys.readouterr().out
        assert "``" not in text and "`" not in text
        assert "ops: " in text and "flip" in text and "gauss_laplace" in text
        assert "formats read: " in text and "zarr" in text and "formats written: " in text


def test_exit_codes_follow_error_classes():
    from pipeline import errors

    assert cli.exit_code(errors.OpParameterError("x")) == 2
    assert cli.exit_code(errors.YAMLLimitError("x")) == 2
    assert cli.exit_code(cli.BadInputError(ValueError("x"))) == 2
    assert cli.exit_code(errors.NotMyFormat("x")) == 2
    assert cli.exit_code(errors.StoreExistsError("x")) == 2
    assert cli.exit_code(errors.TargetBusyError("x")) == 2
    assert cli.exit_code(errors.UnreadableFrameError("x")) == 1  # found while reading frames
    assert cli.exit_code(errors.MissingDependencyError("h5py", "hdf5")) == 1
    assert cli.exit_code(errors.SchedulerUnreachableError("x")) == 1
    assert cli.exit_code(errors.WorkersLostError("x")) == 75  # run again to finish
    assert cli.exit_code(errors.ClusterOptionError("x")) == 2
    assert cli.exit_code(RuntimeError("x")) == 1
    assert cli.exit_code(KeyboardInterrupt()) == 130
    assert cli.exit_code(errors.MetadataClashError("x")) == 2  # its parent's is 1
    assert cli.exit_code(errors.MetadataError("x")) == 1
    for kind, code in cli.EXIT_CODES:  # a table of classes, nothing else
        assert isinstance(kind, type) and issubclass(kind, BaseException)
        assert code in (1, 2, 75, 130)


def test_every_error_declares_its_exit_code():
    """The table is the error classes' own declarations, each class listed."""
    from pipeline import errors

    listed = dict(cli.EXIT_CODES)
    for name in errors.__all__:
        kind = getattr(errors, name)
        if issubclass(kind, Warning):
            assert kind not in listed  # warnings end no run
            continue
        assert kind.exit_code in (1, 2, 75), name
        assert listed[kind] == kind.exit_code, name
    assert cli.exit_code(FileNotFoundError("x")) == 2  # a built-in the project does not own


def test_a_new_error_class_takes_the_code_it_declares():
    from pipeline import errors

    class StrangeOptionError(errors.OptionValueError):
        exit_code = 1

    assert cli.exit_code(StrangeOptionError("x")) == 1  # its own, not its parent's 2
    assert cli.exit_code(type("Refined", (errors.OptionValueError,), {})("x")) == 2


@pytest.mark.parametrize("fmt", ["hdf5", "tiff", "zarr"])
def test_a_file_not_of_the_named_format_is_bad_input(tmp_path, capsys, fmt):
    path = tmp_path / "notes.txt"
    path.write_text("not a series\n")
    code, out, err = run(capsys, "info", path, "--format", fmt)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith("lazyseries: error: ") and "notes.txt" in err


def test_an_existing_output_names_the_flag_from_the_library(src, tmp_path, capsys):
    path, _ = src
    pipeline.write(pipeline.open(path), tmp_path / "o.zarr")
    code, _, err = run(capsys, "process", path, tmp_path / "o.zarr", "--op", "flip=v")
    assert code == 2 and "exists; to replace it pass overwrite=True (--overwrite on the " \
        "command line" in err
    with pytest.raises(pipeline.errors.StoreExistsError, match="--overwrite on the command line"):
        pipeline.write(pipeline.open(path), tmp_path / "o.zarr")


@pytest.mark.slow
def test_unreachable_scheduler_fails_fast_naming_it(src, capsys):
    pytest.importorskip("distributed")
    start = time.monotonic()
    code, _, err = run(capsys, "stats", src[0], "--max", "--scheduler", "tcp://127.0.0.1:1")
    assert time.monotonic() - start < 15
    assert code == 1 and "tcp://127.0.0.1:1" in err and err.count("\n") == 1


@pytest.mark.slow
def test_ctrl_c_exits_130_with_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "demo", str(tmp_path / "big.zarr"), "--frames",
         "4000", "--size", "512", "-q"], cwd=tmp_path, env=env, stderr=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(n.startswith("big.zarr") for n in os.listdir(tmp_path)):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    time.sleep(1.0)  # well inside the write
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err == "lazyseries: interrupted\n"
    left = os.listdir(tmp_path)  # the claim is given back: nothing holds the target
    assert not [n for n in left if n.endswith(".lazyseries-claim")], left


@pytest.mark.parametrize(("args", "message"), [
    (["--codec", "nope"], "codec"),
    (["--levels", "-1"], "levels"),
    ([], "exists"),  # the output is there already, and no --overwrite
])
def test_output_checks_come_before_any_statistic(args, message, src, tmp_path, capsys,
                                                 monkeypatch):
    computed = []
    real = pipeline.stats.compute
    monkeypatch.setattr(pipeline.stats, "compute",
                        lambda *a, **k: computed.append(a) or real(*a, **k))
    out = tmp_path / "o.zarr"
    if not args:
        pipeline.write(pipeline.from_array(src[1]), out)
    code, _, err = run(capsys, "process", src[0], out, "--op", "dark=median:5", *args)
    assert code == 2 and message in err, err
    assert computed == []  # refused before the median read a frame


def test_dtype_keeps_the_detectors_type_after_a_dark(src, tmp_path, capsys):
    dark = np.full(src[1].shape[1:], 100, np.float32)
    np.save(tmp_path / "dark.npy", dark)
    code, _, err = run(capsys, "process", src[0], tmp_path / "o.zarr", "--op",
                       f"dark={tmp_path / 'dark.npy'}", "--dtype", "uint16", "-q")
    assert code == 0, err
    got = pipeline.open(tmp_path / "o.zarr")
    expected = np.clip(src[1].astype(np.float64) - 100, 0, None).astype(np.uint16)
    assert got.dtype == np.uint16 and np.array_equal(np.asarray(got), expected)
    assert got.provenance["ops"][-1] == {"name": "astype", "param": "uint16"}


def test_threshold_keeps_only_pixels_above_it_in_a_frame_cache(src, tmp_path, capsys):
    code, _, err = run(capsys, "process", src[0], tmp_path / "o.npz", "--threshold", "900",
                       "-q")
    assert code == 0, err
    got = np.asarray(pipeline.open(tmp_path / "o.npz"))
    np.testing.assert_array_equal(got, np.where(src[1] > 900, src[1], 0))


@pytest.mark.parametrize(("args", "message"), [
    (["--dtype", "bool"], "expected the name of an integer or float dtype"),
    (["--threshold", "5"], "the zarr writer takes no option threshold="),
])
def test_dtype_and_threshold_are_checked_before_any_work(args, message, src, tmp_path, capsys):
    code, _, err = run(capsys, "process", src[0], tmp_path / "o.zarr", *args)
    assert code == 2 and message in err, err
    assert not (tmp_path / "o.zarr").exists()


def test_a_warning_per_frame_is_two_lines(src, tmp_path, capsys):
    # every frame is dense (few pixels are 0): a frame cache warns for each of the 10
    code, _, err = run(capsys, "process", src[0], tmp_path / "o.npz", "-q")
    assert code == 0, err
    lines = [line for line in err.splitlines() if "DenseFrameWarning" in line]
    assert len(lines) == 2, err
    assert "10 in all like" in lines[1]

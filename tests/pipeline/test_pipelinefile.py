"""Pipeline files: schema checks with locations, building, and reproducing a store."""

from __future__ import annotations

import numpy as np
import pytest

import pipeline
from pipeline import pipelinefile, stats
from pipeline.errors import PipelineFileError


@pytest.fixture
def raw_store(tmp_path):
    return pipeline.write(pipeline.synthetic(12, (32, 40)), tmp_path / "raw.zarr")


def _write_yaml(path, text):
    path.write_text(text)
    return path


def test_recorded_provenance_reproduces_the_store_bit_for_bit(raw_store, tmp_path):
    dark = raw_store.metadata["dark"].astype(np.float32) + 0.5  # not inlined: a 5 kB array
    ps = raw_store.process([("dark", dark), ("flip", "r90"), ("rectangle", ((2, 30), (4, 28)))],
                           frame_list=[0, 3, 4, 9, 11])
    first = pipeline.write(ps, tmp_path / "first.zarr", codec="zstd")
    spec = pipelinefile.from_provenance(first.provenance,
                                        output={"path": "second.zarr", "codec": "zstd"},
                                        array_dir=tmp_path / "arrays")
    pipelinefile.dump(spec, tmp_path / "again.yaml")
    second = pipelinefile.run(tmp_path / "again.yaml")
    assert second.dtype == first.dtype and len(second) == len(first)
    assert np.asarray(second).tobytes() == np.asarray(first).tobytes()
    assert second.provenance["frame_list"] == first.provenance["frame_list"]
    assert [op["name"] for op in second.provenance["ops"]] == ["dark", "flip", "rectangle"]


def test_stat_param_is_computed_from_the_source_with_earlier_ops(raw_store, tmp_path):
    path = _write_yaml(tmp_path / "p.yaml", f"""
source: {{path: {raw_store.path}, format: zarr}}
frame_list: "1:12:2"
ops:
  - {{name: flip, param: v}}
  - {{name: dark, param: {{stat: median, nframes: 8}}}}
output: out.zarr
""")
    out = pipelinefile.run(path)
    flipped = raw_store.process([("flip", "v")])
    expected = flipped.process([("dark", stats.median(flipped, nframes=8))])
    assert len(out) == 6
    np.testing.assert_array_equal(out[2], expected[5])
    assert (tmp_path / "out.zarr").is_dir()  # relative to the pipeline file


def test_arrays_from_npy_relative_to_the_file(raw_store, tmp_path):
    np.save(tmp_path / "dark.npy", raw_store.metadata["dark"])
    path = _write_yaml(tmp_path / "p.yaml", f"source: {raw_store.path}\n"
                       "ops: [{name: dark, param: dark.npy}]\n")
    ps = pipelinefile.build(pipelinefile.load(path))
    np.testing.assert_array_equal(ps[3], raw_store.process([("dark", raw_store.metadata["dark"])])[3])


@pytest.mark.parametrize("body, message", [
    ("source: S\nops: [{name: flip, param: v}, {name: flp, param: v}]\n",
     "ops[1].name: unknown op 'flp'; known ops: ["),
    ("source: S\nopz: []\n", "opz: unknown key 'opz'"),
    ("source: S\nops: [{name: flip, parm: v}]\n", "ops[0].parm: unknown key 'parm'"),
    ("source: {path: S, fromat: zarr}\n", "source.fromat: unknown key 'fromat'"),
    ("source: S\nops: [{name: dark, param: {stat: mode}}]\n", "ops[0].param.stat: unknown"),
    ("source: S\nops: [{name: dark, param: {stat: median, nframes: -1}}]\n",
     "ops[0].param.nframes"),
    ("source: S\nframe_list: [1, x]\n", "frame_list: expected"),
    ("ops: []\n", "source: missing"),
    ("source: S\nops: [\n", "line 3: not valid YAML"),
    ("source: S\noutput: {path: o.zarr, overwrite: maybe}\n", "output.overwrite"),
])
def test_schema_errors_name_their_place(raw_store, tmp_path, body, message):
    path = _write_yaml(tmp_path / "pipe.yaml", body.replace("S", raw_store.path))
    with pytest.raises(PipelineFileError) as info:
        pipelinefile.run(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.yaml", "raw.zarr"]


@pytest.mark.parametrize("ops, message", [
    ("[{name: flip, param: q}]", "ops[0]: op 'flip': unknown flip code 'q'"),
    ("[{name: flip, param: v}, {name: rectangle, param: [[0, 8], [0, 99]]}]",
     "ops[1]: op 'rectangle'"),
    ("[{name: dark, param: missing.npy}]", "ops[0].param: no such file"),
    # the bad op after a statistic fails before the statistic reads a frame
    ("[{name: dark, param: {stat: median}}, {name: flip, param: zz}]", "ops[1]: op 'flip'"),
])
def test_bad_parameters_are_found_before_any_frame_is_read(raw_store, tmp_path, ops, message):
    path = _write_yaml(tmp_path / "p.yaml", f"source: {raw_store.path}\nops: {ops}\n"
                       "output: out.zarr\n")
    with pytest.raises(PipelineFileError, match=message.replace("[", r"\[")):
        pipelinefile.run(path)
    assert not (tmp_path / "out.zarr").exists()


def test_missing_source_and_output(tmp_path, raw_store):
    with pytest.raises(PipelineFileError, match="source: cannot open 'nope.zarr'"):
        pipelinefile.run({"source": "nope.zarr", "output": "x.zarr"})
    with pytest.raises(PipelineFileError, match="output: missing"):
        pipelinefile.run({"source": raw_store.path})


def test_existing_output_is_refused_and_kept(raw_store, tmp_path):
    pipeline.write(pipeline.synthetic(3, (8, 8)), tmp_path / "taken.zarr")
    with pytest.raises(FileExistsError):
        pipelinefile.run({"source": raw_store.path, "output": str(tmp_path / "taken.zarr")})
    assert len(pipeline.open(tmp_path / "taken.zarr")) == 3


def test_provenance_of_an_in_memory_source_cannot_be_rerun():
    desc = pipeline.from_array(np.zeros((2, 4, 4))).process([("flip", "v")]).description()
    with pytest.raises(PipelineFileError, match="has no path"):
        pipelinefile.from_provenance(desc)


@pytest.mark.parametrize("param, message", [
    ("{stat: median, pct: 50}", "ops[0].param.pct: unknown key 'pct'; known keys: ['stat', "
                                "'nframes']"),
    ("{stat: percentile}", "ops[0].param.pct: the statistic 'percentile' needs its pct"),
    ("{stat: percentile, pct: 101}", "ops[0].param.pct: percentile 101 must be in [0, 100]"),
    ("{stat: mode}", "ops[0].param.stat: unknown statistic 'mode'; known: ['max', 'min', "
                     "'sum', 'average', 'mean'"),
    # several percentiles make several images, not a dark: refused before a frame is read
    ("{stat: percentile, pct: [10, 90]}", "ops[0]: op 'dark'"),
])
def test_statistic_parameters_follow_the_registry(raw_store, tmp_path, param, message):
    path = _write_yaml(tmp_path / "p.yaml", f"source: {raw_store.path}\n"
                       f"ops: [{{name: dark, param: {param}}}]\noutput: out.zarr\n")
    with pytest.raises(PipelineFileError) as info:
        pipelinefile.run(path)
    assert message in str(info.value)
    assert not (tmp_path / "out.zarr").exists()


def test_statistic_by_alias_and_with_a_parameter(raw_store, tmp_path):
    path = _write_yaml(tmp_path / "p.yaml", f"source: {raw_store.path}\nops:\n"
                       "  - {name: dark, param: {stat: mean, nframes: 5}}\n"
                       "  - {name: add, param: {stat: percentile, pct: 75}}\n")
    ps = pipelinefile.build(pipelinefile.load(path))
    dark = stats.average(raw_store, nframes=5)
    darkened = raw_store.process([("dark", dark)])
    expected = darkened.process([("add", stats.percentile(darkened, 75))])
    np.testing.assert_array_equal(ps[4], expected[4])


def _victim(path):
    """A complete store outside the pipeline file's folder, and its bytes."""
    store = pipeline.write(pipeline.synthetic(4, (8, 8)), path)
    return np.asarray(store).tobytes()


@pytest.mark.parametrize("spelled", ["../victim.zarr", "file://../victim.zarr",
                                     "local://../victim.zarr", "sub/../../victim.zarr",
                                     "link/victim.zarr", "storelink"])
def test_a_relative_output_never_leads_outside_the_files_folder(raw_store, tmp_path, spelled):
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "sub").mkdir()
    before = _victim(tmp_path / "victim.zarr")
    (folder / "link").symlink_to(tmp_path)  # as an unpacked archive may hold
    (folder / "storelink").symlink_to(tmp_path / "victim.zarr")
    _write_yaml(folder / "p.yaml", f"source: {raw_store.path}\n"
                f"output: {{path: '{spelled}', overwrite: true}}\n")
    with pytest.raises(PipelineFileError, match="leads outside the pipeline file's folder"):
        pipelinefile.run(folder / "p.yaml")
    assert np.asarray(pipeline.open(tmp_path / "victim.zarr")).tobytes() == before


@pytest.mark.parametrize("spelled", ["out.zarr", "file://out.zarr", "sub/../out.zarr",
                                     "local://./out.zarr"])
def test_relative_outputs_inside_the_folder_are_written_there(raw_store, tmp_path, spelled,
                                                              monkeypatch):
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "sub").mkdir()
    monkeypatch.chdir(tmp_path)  # never relative to the working directory
    _write_yaml(folder / "p.yaml", f"source: {raw_store.path}\noutput: '{spelled}'\n")
    pipelinefile.run(folder / "p.yaml")
    assert np.asarray(pipeline.open(folder / "out.zarr")).tobytes() == \
        np.asarray(raw_store).tobytes()
    assert not (tmp_path / "out.zarr").exists()


def test_a_relative_file_url_source_is_relative_to_the_file(raw_store, tmp_path, monkeypatch):
    folder = tmp_path / "shared"
    folder.mkdir()
    monkeypatch.chdir(folder)  # file://raw.zarr would be shared/raw.zarr from here
    _write_yaml(tmp_path / "p.yaml", "source: file://raw.zarr\noutput: out.zarr\n")
    pipelinefile.run(tmp_path / "p.yaml")
    assert len(pipeline.open(tmp_path / "out.zarr")) == len(raw_store)


@pytest.mark.parametrize("section, key", [("output", "overwrite"), ("output", "codec"),
                                          ("output", "format"), ("source", "format"),
                                          ("output", "path")])
def test_an_option_that_is_a_key_of_its_section_is_refused_naming_it(raw_store, section, key):
    spec = {"source": {"path": raw_store.path}, "output": {"path": "x.zarr"}}
    spec[section]["options"] = {key: "zarr"}
    with pytest.raises(PipelineFileError, match=rf"{section}.options: '{key}' is a key of "
                                                rf"{section} itself; give it once"):
        pipelinefile.validate(spec)


def test_a_statistic_over_more_frames_than_the_source_has_is_refused(raw_store, tmp_path):
    with pytest.raises(PipelineFileError, match=r"ops\[0\].param.nframes: 13 frames asked "
                                                r"of a source of 12; give at most 12"):
        pipelinefile.run({"source": raw_store.path, "output": str(tmp_path / "x.zarr"),
                          "ops": [{"name": "dark", "param": {"stat": "median", "nframes": 13}}]})
    assert not (tmp_path / "x.zarr").exists()

"""Pipeline files: a source, an op chain, a frame selection and an output, as YAML.

The schema is the one a written Zarr store records as its provenance
(``ProcessedImageSeries.description()``), plus an output, so that running a
store's recorded pipeline reproduces the store::

    source:                      # or just a path: source: raw.zarr
      path: raw.zarr
      format: zarr               # optional: inferred from the path
      options: {}                # optional: the reader's options
    frame_list: "0:100"          # optional: a list of frame numbers or "start:stop[:step]"
    ops:                         # applied in order
      - {name: dark, param: dark.npy}                       # an array from .npy/.tif
      - {name: dark, param: {stat: median, nframes: 100}}   # or computed from the data
      - {name: flip, param: v}
      - {name: rectangle, param: [[0, 1024], [0, 1024]]}
    output:                      # or just a path: output: out.zarr
      path: out.zarr
      format: zarr               # optional
      codec: default             # optional
      overwrite: false           # optional
      options: {}                # optional: the writer's other options
    cluster:                     # optional: run on batch jobs (lazyseries run)
      kind: slurm                # any of pipeline.clusters.KINDS, through dask-jobqueue
      jobs: 4                    # or adapt: [1, 8] (minimum and maximum jobs)
      timeout: 900               # seconds without a worker before giving up
      cores: 8                   # every other key is a dask-jobqueue keyword
      memory: 32GB
      walltime: "02:00:00"

Relative paths are taken relative to the pipeline file's directory (a relative
output path must stay inside it; give an absolute path to write elsewhere).  A
``{stat: ...}`` parameter is computed (with :mod:`pipeline.stats`) over the
source's frames with the ops before it applied, and before ``frame_list``
selects frames; ``stat`` is any name in :data:`pipeline.stats.registry`,
``nframes`` (default 0, all frames) is hexrd's meaning, and a statistic with a
parameter takes it under the parameter's name (``{stat: percentile, pct: 5}``).

Everything is checked before a frame is read: unknown keys and ops against
the schema, then every op's parameter against the frame shape it will meet.
Errors name their place in the file: ``pipeline.yaml: ops[2].name: unknown op
'flp'; known ops: [...]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

import ops as _ops
from ops import require
import pipeline
from pipeline import _progress, clusters, persist, stats, storage
from pipeline._yaml import load_yaml
from pipeline.errors import OptionValueError, PipelineFileError, YAMLError
from pipeline.processed import ProcessedImageSeries
from pipeline.series import ImageSeries

TOP_KEYS = ("source", "frame_list", "ops", "output", "cluster")
SOURCE_KEYS = ("path", "format", "options")
OP_KEYS = ("name", "param")
STAT_KEYS = ("stat", "nframes")  # and the statistic's parameter, if it has one
OUTPUT_KEYS = ("path", "format", "codec", "overwrite", "options")
ARRAY_SUFFIXES = (".npy", ".tif", ".tiff")


def _fail(where: str, message: str) -> PipelineFileError:
    return PipelineFileError(f"{where}: {message}")


# -- reading and checking ------------------------------------------------------------------


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate the pipeline file at ``path``; return the normalised spec.

    Raises
    ------
    PipelineFileError
        For a file that is not YAML or breaks the schema; the message starts
        with the file name and the place in it.
    """
    name = os.fspath(path)
    try:
        text = load_yaml(name, what="pipeline file")
    except FileNotFoundError:
        raise PipelineFileError(f"no such pipeline file: {name!r}") from None
    except YAMLError as err:
        raise PipelineFileError(str(err)) from None
    spec = validate(text, where=name)
    spec["base_dir"] = os.path.dirname(os.path.abspath(name))
    return spec


def validate(spec: Any, where: str = "pipeline") -> dict[str, Any]:
    """Check ``spec`` against the schema (not yet against any data); return it normalised.

    Source and output given as bare paths become ``{"path": ...}``; the result
    also records ``where`` for messages.
    """
    if not isinstance(spec, Mapping):
        raise _fail(where, f"a pipeline is a mapping with keys {list(TOP_KEYS)}, got {spec!r:.80}")
    _check_keys(spec, TOP_KEYS, where, "")
    if "source" not in spec:
        raise _fail(where, "source: missing; give the path of the series to process")
    out: dict[str, Any] = {"where": where, "base_dir": None}
    out["source"] = _section(spec["source"], SOURCE_KEYS, where, "source")
    if "frame_list" in spec and spec["frame_list"] is not None:
        out["frame_list"] = _check_frames(spec["frame_list"], f"{where}: frame_list")
    out["ops"] = [_check_op(op, where, i) for i, op in enumerate(_as_list(spec, "ops", where))]
    if spec.get("output") is not None:
        out["output"] = _section(spec["output"], OUTPUT_KEYS, where, "output")
        if not isinstance(out["output"].get("overwrite", False), bool):
            raise _fail(where, f"output.overwrite: expected true or false, got "
                        f"{out['output']['overwrite']!r}")
    if spec.get("cluster") is not None:
        try:
            clusters.parse(spec["cluster"], "cluster")
        except ValueError as err:
            raise _fail(where, str(err)) from None
        out["cluster"] = spec["cluster"]
    return out


def _check_keys(mapping: Mapping[str, Any], known: tuple[str, ...], where: str, at: str) -> None:
    for key in mapping:
        if key not in known:
            place = f"{at}.{key}" if at else str(key)
            raise _fail(where, f"{place}: unknown key {key!r}; known keys: {list(known)}")


def _section(value: Any, known: tuple[str, ...], where: str, at: str) -> dict[str, Any]:
    if isinstance(value, str | os.PathLike):
        return {"path": os.fspath(value)}
    if not isinstance(value, Mapping):
        raise _fail(where, f"{at}: expected a path or a mapping with keys {list(known)}, "
                    f"got {value!r:.80}")
    _check_keys(value, known, where, at)
    if not isinstance(value.get("path"), str):
        raise _fail(where, f"{at}.path: missing or not a string: {value.get('path')!r}")
    options = value.get("options", {}) or {}
    if not isinstance(options, Mapping):
        raise _fail(where, f"{at}.options: expected a mapping, got {options!r:.80}")
    clash = [k for k in options if k in known]
    if clash:  # said twice: which would win is a guess
        raise _fail(where, f"{at}.options: {clash[0]!r} is a key of {at} itself; give it "
                    f"once, as {at}.{clash[0]}")
    return {**value, "options": dict(options)}


def _as_list(spec: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = spec.get(key) or []
    if not isinstance(value, list):
        raise _fail(where, f"{key}: expected a list, got {value!r:.80}")
    return value


def _check_op(op: Any, where: str, i: int) -> dict[str, Any]:
    at = f"ops[{i}]"
    if not isinstance(op, Mapping):
        raise _fail(where, f"{at}: expected a mapping {{name: ..., param: ...}}, got {op!r:.80}")
    _check_keys(op, OP_KEYS, where, at)
    name = op.get("name")
    if name not in _ops.registry:
        raise _fail(where, f"{at}.name: unknown op {name!r}; known ops: {list(_ops.registry)}")
    param = op.get("param")
    if isinstance(param, Mapping) and "stat" in param:
        _check_stat(param, where, f"{at}.param")
    return {"name": name, "param": param}


def _check_stat(param: Mapping[str, Any], where: str, at: str) -> None:
    """``{stat: NAME, nframes: N, PARAMETER: VALUE}`` against :data:`pipeline.stats.registry`."""
    if param["stat"] not in stats.registry:
        raise _fail(where, f"{at}.stat: unknown statistic {param['stat']!r}; "
                    f"known: {stats.registry.all_names()}")
    stat = stats.registry.lookup(param["stat"])
    own = () if stat.parameter is None else (stat.parameter.name,)
    _check_keys(param, STAT_KEYS + own, where, at)
    nframes = param.get("nframes", 0)
    if not isinstance(nframes, int) or isinstance(nframes, bool) or nframes < 0:
        raise _fail(where, f"{at}.nframes: expected a count >= 0 (0: all frames), "
                    f"got {nframes!r}")
    if stat.parameter is not None:
        try:
            stat.parse(param.get(stat.parameter.name))
        except OptionValueError as err:
            raise _fail(where, f"{at}.{stat.parameter.name}: {err}") from None


def _check_frames(value: Any, where: str) -> list[int] | str:
    if isinstance(value, str):
        parts = value.split(":")
        if not 2 <= len(parts) <= 3 or not all(p.strip().lstrip("-").isdigit() or not p.strip()
                                               for p in parts):
            raise PipelineFileError(f"{where}: expected 'start:stop[:step]' or a list of frame "
                                    f"numbers, got {value!r}")
        return value
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                       for v in value):
        return value
    raise PipelineFileError(f"{where}: expected a list of frame numbers or 'start:stop[:step]', "
                            f"got {value!r:.80}")


# -- building the series -------------------------------------------------------------------


def build(spec: Mapping[str, Any], compute_stats: bool = True, *,
          check_output: bool = False) -> ImageSeries:
    """The processed series ``spec`` describes (validated spec from :func:`load`/:func:`validate`).

    Every op is checked against the frames it will meet before any statistic
    is computed, so a bad op late in the chain fails without reading a frame;
    with ``check_output``, so is the output (format, options, an existing
    target: what the write would refuse before its first frame).  Without
    ``compute_stats``, statistics are stand-ins of the right shape (zeros):
    the chain is checked, nothing read but headers.
    """
    where, base = spec["where"], spec.get("base_dir")
    src = spec["source"]
    try:
        series = pipeline.open(_path(src["path"], base), format=src.get("format"),
                               **src.get("options", {}))
    except (OSError, ValueError, TypeError, KeyError, ImportError) as err:
        raise _fail(where, f"source: cannot open {src['path']!r}: {err}") from err
    frames = _frame_list(spec.get("frame_list"), len(series), where)
    # with statistics among the parameters, a first pass checks the whole chain on
    # stand-ins before any statistic reads a frame; arrays from files load once
    has_stats = uses_stats(spec)
    loaded: dict[str, np.ndarray] = {}
    for computed in ((False, True) if has_stats and compute_stats else (compute_stats,)):
        ps: ImageSeries = series.process(())
        for i, op in enumerate(spec["ops"]):
            param = _param(op["param"], ps, base, where, f"ops[{i}].param", computed, loaded)
            try:
                ps = ProcessedImageSeries(ps, [(op["name"], param)])
            except (ValueError, TypeError, KeyError) as err:
                raise _fail(where, f"ops[{i}]: {err}") from err
        if frames is not None:
            ps = ProcessedImageSeries(ps, (), frame_list=frames)
        if check_output and not (has_stats and computed):  # before any statistic
            _check_output(ps, spec)
    return ps


def uses_stats(spec: Mapping[str, Any]) -> bool:
    """Whether an op of ``spec`` takes a statistic of the frames as its parameter."""
    return any(isinstance(op["param"], Mapping) and "stat" in op["param"] for op in spec["ops"])


def _path(path: str, base: str | None) -> str:
    """``path`` as the pipeline file means it: a relative local path (``file://`` URLs too)
    is relative to the file's folder; anything else as given."""
    if base is None or storage.relative_path(path) is None:
        return path
    return str(storage.locate(path, base=base).local)


def _frame_list(value: Any, n: int, where: str) -> list[int] | None:
    """Frame numbers from a list (negative ones count from the end) or ``"start:stop[:step]"``.

    Python's meaning, but never clipped: a bound beyond the source's frames,
    a zero step or a selection of no frames is an error.
    """
    if value is None:
        return None
    if isinstance(value, str):
        parts = [int(p) if p.strip() else None for p in value.split(":")]
        for bound in parts[:2]:
            if bound is not None and not -n <= bound <= n:
                raise _fail(where, f"frame_list {value!r}: {bound} is beyond the source's {n} "
                            f"frames; bounds go from {-n} to {n}")
        if len(parts) == 3 and parts[2] == 0:
            raise _fail(where, f"frame_list {value!r}: the step must not be 0")
        text, value = value, list(range(n))[slice(*parts)]
        if not value:
            raise _fail(where, f"frame_list {text!r} selects no frames of the source's {n}; "
                        "give start < stop (or a negative step)")
    bad = [j for j in value if not -n <= j < n]
    if bad:
        raise _fail(where, f"frame_list: frame {bad[0]} is out of range for a source of "
                    f"{n} frames; give 0 to {n - 1} (or -{n} to -1 from the end)")
    if not value:
        raise _fail(where, "frame_list: an empty list selects no frames")
    return list(value)


def _param(param: Any, series: ImageSeries, base: str | None, where: str, at: str,
           compute_stats: bool, loaded: dict[str, np.ndarray]) -> Any:
    if isinstance(param, str) and param.lower().endswith(ARRAY_SUFFIXES):
        path = _path(param, base)
        if path not in loaded:
            loaded[path] = _load_array(path, where, at)
        return loaded[path]
    if isinstance(param, Mapping) and "stat" in param:
        stat, value = _stat_of(param)
        if param.get("nframes", 0) > len(series):  # hexrd's library clips; a file says what
            raise _fail(where, f"{at}.nframes: {param['nframes']} frames asked of a source "
                        f"of {len(series)}; give at most {len(series)} (0: all)")
        if not compute_stats:  # a stand-in of the right shape, to check the chain first
            lead = stat.lead(value) if isinstance(stat, stats.BandStatistic) else ()
            return np.zeros((*lead, *series.shape), np.float64)
        return compute_stat(series, param)
    return param


def _load_array(path: str, where: str, at: str) -> np.ndarray:
    if not os.path.exists(path):
        raise _fail(where, f"{at}: no such file: {path!r}")
    try:
        if path.lower().endswith(".npy"):
            return np.load(path, allow_pickle=False)
        return np.asarray(require("tifffile", "tiff", "reading .tif arrays").imread(path))
    except (OSError, ValueError) as err:
        raise _fail(where, f"{at}: cannot read an array from {path!r}: {err}") from err


def _stat_of(param: Mapping[str, Any]) -> tuple[stats.Statistic, Any]:
    """The statistic a (validated) ``{stat: ...}`` parameter names, and its own parameter."""
    stat = stats.registry.lookup(param["stat"])
    return stat, None if stat.parameter is None else stat.parse(param[stat.parameter.name])


def compute_stat(series: ImageSeries, param: Mapping[str, Any]) -> np.ndarray:
    """The statistic ``{stat: NAME, nframes: N, ...}`` over ``series``, through
    :func:`pipeline.stats.compute`."""
    stat, value = _stat_of(param)
    nframes = param.get("nframes", 0)
    count = min(nframes, len(series)) if nframes else len(series)
    label = f"{stat.name}{'' if value is None else f' {value}'} of {count} frames"
    with _progress.phase(label, count) as progress:
        return np.asarray(stats.compute(stat, series, value, nframes, progress=progress))


def write_output(series: ImageSeries, spec: Mapping[str, Any], **extra: Any) -> Any:
    """Write ``series`` where ``spec["output"]`` says; ``extra`` goes to the writer."""
    path, options = _output(spec)
    return pipeline.write(series, path, **options, **extra)


def _check_output(series: ImageSeries, spec: Mapping[str, Any]) -> None:
    path, options = _output(spec)
    persist.check(series, path, **options)


def _output(spec: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The path and the writer's options of ``spec["output"]``."""
    out = spec.get("output")
    if out is None:
        raise _fail(spec["where"], "output: missing; give the path to write to")
    options = dict(out.get("options", {}))
    if "codec" in out:
        options["codec"] = out["codec"]
    return _output_path(out["path"], spec), {"format": out.get("format"),
                                              "overwrite": out.get("overwrite", False),
                                              **options}


def _output_path(path: str, spec: Mapping[str, Any]) -> str:
    """A relative output path, inside the pipeline file's folder; absolute paths as given.

    A pipeline file shared with a colleague must not write (or, with
    ``overwrite: true``, replace) anything outside its own folder unless it
    says where in full: a relative path (or ``file://`` URL) that leads
    outside it, through ``..`` or through a link inside it, is refused.
    """
    base = spec.get("base_dir")
    if base is None or storage.relative_path(path) is None:
        return path
    folder, target = storage.locate(base), storage.locate(path, base=base)
    if not folder.contains(target) or target == folder:
        raise _fail(spec["where"], f"output.path: {path!r} leads outside the pipeline file's "
                    f"folder {base!r} (to {target.url!r}); give an absolute path to write "
                    "there")
    return str(target.local)


def with_storage_options(spec: dict[str, Any], storage_options: Mapping[str, Any]
                         ) -> dict[str, Any]:
    """``spec`` with ``storage_options`` given to its source and output where they are URLs
    of a store (not local files) and say none of their own."""
    if not storage_options:
        return spec
    for key in ("source", "output"):
        section = spec.get(key)
        if section is None or storage.is_local(section["path"]):
            continue
        options = dict(section.get("options") or {})
        options.setdefault("storage_options", dict(storage_options))
        spec[key] = {**section, "options": options}
    return spec


def run(spec_or_path: Any, **extra: Any) -> Any:
    """Load (if a path), build and write a pipeline; return what the writer returns."""
    if isinstance(spec_or_path, str | os.PathLike):
        spec = load(spec_or_path)
    elif isinstance(spec_or_path, Mapping) and "where" in spec_or_path:
        spec = dict(spec_or_path)
    else:
        spec = validate(spec_or_path)
    return write_output(build(spec, check_output=True), spec, **extra)


# -- from a store's provenance -------------------------------------------------------------


def from_provenance(provenance: Mapping[str, Any], output: Any = None,
                    array_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """A pipeline spec (plain data) that recomputes a store from its recorded provenance.

    Parameters
    ----------
    provenance
        ``ZarrSeries.provenance`` (or ``ProcessedImageSeries.description()``).
    output
        The output section (a path or a mapping); none if not given.
    array_dir
        Where to save array parameters as ``.npy`` files so that the spec can
        be written as YAML; without it arrays stay in the spec as numpy arrays
        (fine for :func:`run`, not for :func:`dump`).
    """
    if "source" in provenance:
        desc, frames, chain = provenance["source"], provenance.get("frame_list"), \
            provenance.get("ops", [])
    else:  # an unprocessed source records only its own description
        desc, frames, chain = provenance, None, []
    if "path" not in desc:
        raise PipelineFileError(
            f"the recorded source {desc!r:.120} has no path (an in-memory or generated "
            "series); only file-backed sources can be run again"
        )
    source = {"path": desc["path"], "format": desc.get("format"),
              "options": {k: v for k, v in desc.items() if k not in ("path", "format")}}
    spec: dict[str, Any] = {"source": source}
    if frames is not None:
        spec["frame_list"] = [int(j) for j in frames]
    spec["ops"] = []
    for i, op in enumerate(chain):
        param = op.get("param")
        if isinstance(param, np.ndarray) and array_dir is not None:
            os.makedirs(array_dir, exist_ok=True)
            target = os.path.abspath(os.path.join(array_dir, f"op{i}_{op['name']}.npy"))
            np.save(target, param)
            param = target
        spec["ops"].append({"name": op["name"], "param": plain(param)})
    if output is not None:
        spec["output"] = output
    return spec


def plain(value: Any) -> Any:
    """``value`` with tuples as lists and numpy scalars as Python numbers (YAML-safe)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def dump(spec: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``spec`` (plain data, see :func:`from_provenance`) as a pipeline file."""
    import yaml

    data = {k: plain(v) for k, v in spec.items() if k in TOP_KEYS}
    with open(os.fspath(path), "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f, sort_keys=False, default_flow_style=None)


__all__ = ["build", "dump", "from_provenance", "load", "run", "uses_stats", "validate"]

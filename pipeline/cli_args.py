"""Parsing the ``lazyseries`` command line: its parser, ``--op`` values, ``--frames``, outputs.

Everything here checks text against what exists (ops, formats, writers) and
refuses what it would otherwise have to guess; :mod:`pipeline.cli` runs the
commands.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from typing import Any, NamedTuple, NoReturn

import ops
from pipeline import __version__, clusters, stats
from pipeline.clusters import ClusterSpec
from pipeline.formats import registry as formats
from pipeline.errors import (
    BadInputError,
    ClusterOptionError,
    OpParameterError,
    OptionValueError,
    UnknownFormatError,
    UnknownOpError,
)
from pipeline.stats import Statistic


def writers() -> dict[str, tuple[str, ...]]:
    """Formats that can be written to a path, with their extensions."""
    known = [formats.lookup(name) for name in formats.writable()]
    return {fmt.name: fmt.extensions for fmt in known if fmt.file_based and fmt.extensions}


def check_output(path: str, fmt: str | None) -> str:
    """The format an output gets; refuses an unknown extension or one contradicting ``fmt``."""
    known = writers()
    text = path.rstrip("/\\").lower()
    by_name = next((name for name, exts in known.items()
                    if any(text.endswith(e) for e in exts)), None)
    _, ext = os.path.splitext(os.path.basename(text))
    if fmt is not None:
        name = formats.lookup(fmt).name if fmt in formats else fmt
        if name not in known:
            raise UnknownFormatError(f"--format {fmt!r} has no writer; formats that write: "
                                     f"{sorted(known)}")
        if (by_name is not None and by_name != name) or (by_name is None and ext):
            raise UnknownFormatError(
                f"output {path!r}: its extension {ext!r} contradicts --format {fmt!r}; name it "
                f"with one of {list(known[name])}")
        return name
    if by_name is None and ext:
        listed = ", ".join(f"{n} ({' '.join(e)})" for n, e in sorted(known.items()))
        raise UnknownFormatError(
            f"output {path!r}: no writer for the extension {ext!r}; known: {listed}")
    return by_name or "zarr"


_RECT = re.compile(r"\s*(-?\d+)\s*:\s*(-?\d+)\s*,\s*(-?\d+)\s*:\s*(-?\d+)\s*")


def parse_op(text: str) -> dict[str, Any]:
    """``NAME=VALUE`` from ``--op`` as a pipeline-file op ``{"name": ..., "param": ...}``.

    VALUE is ``r0:r1,c0:c1`` (a rectangle), a path ending in .npy/.tif (an
    array), ``median[:N]`` and the like (a statistic of the first N frames,
    0 or none meaning all; one with a parameter ``percentile:P[:N]``), else a
    YAML scalar or list.
    """
    import yaml

    name, sep, value = text.partition("=")
    name = name.strip()
    if name not in ops.registry:
        raise UnknownOpError(f"--op {text!r}: unknown op {name!r}; known ops: {list(ops.registry)}")
    if not sep or not value.strip():
        raise OpParameterError(
            f"--op {text!r}: give the op's value as NAME=VALUE, e.g. flip=v, add=10, "
            "dark=dark.npy, rectangle=0:512,0:512")
    if m := _RECT.fullmatch(value):
        r0, r1, c0, c1 = (int(g) for g in m.groups())
        return {"name": name, "param": [[r0, r1], [c0, c1]]}
    if value.split(":")[0].strip() in stats.registry:
        return {"name": name, "param": _stat_value(text, value)}
    try:
        param = yaml.safe_load(value)
    except yaml.YAMLError:
        param = value
    return {"name": name, "param": param}


def _stat_value(text: str, value: str) -> dict[str, Any]:
    """``NAME[:N]`` (``NAME:PARAM[:N]`` for a statistic with a parameter) as ``{stat: ...}``."""
    name, *rest = (part.strip() for part in value.split(":"))
    stat = stats.registry.lookup(name)
    given = 1 if stat.parameter is not None else 0
    nframes = rest[given:]
    if len(rest) < given or len(nframes) > 1 or not all(n.isdigit() for n in nframes):
        form = f"{name}:{stat.parameter.metavar}" if stat.parameter is not None else name
        raise OpParameterError(
            f"--op {text!r}: a statistic as the value is {form}[:N], N the frames to use "
            "(0 or none: all)")
    param: dict[str, Any] = {"stat": name, "nframes": int(nframes[0]) if nframes else 0}
    if stat.parameter is not None:
        try:
            param[stat.parameter.name] = stat.parameter.type(rest[0])
        except ValueError:
            raise OpParameterError(
                f"--op {text!r}: {stat.parameter.metavar} {rest[0]!r} is not "
                f"{stat.parameter.help or 'a valid value'}") from None
    return param


def stat_flags(parser: argparse.ArgumentParser) -> None:
    """A flag for every name and alias of every statistic in :data:`pipeline.stats.registry`:
    ``--NAME``, or ``--NAME VALUE`` for one with a parameter."""
    group = parser.add_argument_group("statistics (several at once are computed in one pass)")
    for stat in stats.registry.values():
        for flag in stat.names:
            text = stat.doc if flag == stat.name else f"the same as --{stat.name}"
            if stat.parameter is None:
                group.add_argument(f"--{flag}", dest=_dest(flag), action="store_true", help=text)
            else:
                group.add_argument(f"--{flag}", dest=_dest(flag), type=stat.parameter.type,
                                   metavar=stat.parameter.metavar, help=text)


def _dest(flag: str) -> str:
    return "stat_" + flag.replace("-", "_")


class Chosen(NamedTuple):
    """A statistic asked for on the command line."""

    key: str  # the flag given (``mean`` for ``--mean``): its name in an .npz output
    label: str  # what the summary calls it: ``percentile 90``
    stat: Statistic
    param: Any  # its parameter, parsed (None for most)


def chosen_stats(args: argparse.Namespace) -> list[Chosen]:
    """The statistics asked for, in the registry's order.

    A statistic given by two of its names is computed once, under the first
    of them in its declaration (``average`` for ``--mean --average``).
    """
    chosen = []
    for stat in stats.registry.values():
        given = [f for f in stat.names if getattr(args, _dest(f)) not in (None, False)]
        if not given:
            continue
        if stat.parameter is None:
            chosen.append(Chosen(given[0], given[0], stat, None))
            continue
        value = getattr(args, _dest(given[0]))
        shown = f"{value:g}" if isinstance(value, float) else str(value)  # 90, not 90.0
        try:
            chosen.append(Chosen(given[0], f"{given[0]} {shown}", stat, stat.parse(value)))
        except OptionValueError as err:
            raise BadInputError(f"--{given[0]} {shown}: {err}") from None
    if not chosen:
        flags = [f"--{f}" + (f" {s.parameter.metavar}" if s.parameter else "")
                 for s in stats.registry.values() for f in s.names]
        raise BadInputError(f"choose a statistic: {', '.join(flags[:-1])} or {flags[-1]}")
    return chosen


_SLICE = re.compile(r"\s*(-?\d+)?\s*:\s*(-?\d+)?\s*(?::\s*(-?\d+)\s*)?")


def _frames(text: str) -> str | list[int]:
    """``start:stop[:step]`` or ``i,j,k``; negative numbers count from the end, as in Python."""
    if _SLICE.fullmatch(text):
        return text.replace(" ", "")
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--frames {text!r}: give start:stop[:step] or a comma-separated list of frames "
            "(negative ones count from the end)"
        ) from None


def join_values(argv: list[str]) -> list[str]:
    """``--frames -1,-2`` as ``--frames=-1,-2``: argparse takes a leading '-' for an option."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg in ("--frames", "--op") and out[-1:] != ["--"]:
            value = next(it, None)
            out.append(arg if value is None else f"{arg}={value}")
        else:
            out.append(arg)
    return out


def storage_options(text: str) -> dict[str, Any]:
    """``--storage-options``: a JSON object."""
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r:.80} is not JSON: {err}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{text!r:.80}: expected a JSON object "
                                         "({\"key\": value, ...})")
    return value


JOB_FLAGS: dict[str, tuple[type, str, str]] = {
    "cores": (int, "N", "cores per job"),
    "memory": (str, "SIZE", "memory per job, e.g. 16GB"),
    "walltime": (str, "TIME", "a job's time limit, e.g. 01:00:00 (workers retire shortly "
                              "before it, handing their work to the jobs that replace them)"),
    "queue": (str, "NAME", "the queue (Slurm: partition) the jobs go to"),
    "account": (str, "NAME", "the account the jobs are charged to"),
}
"""Job resources with flags of their own; any other dask-jobqueue keyword: --cluster-option."""


def _jobs_range(text: str) -> tuple[int, int]:
    low, sep, high = text.partition(":")
    try:
        if sep and low.strip().isdigit() and high.strip().isdigit():
            return int(low), int(high)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"--adapt {text!r}: give MIN:MAX jobs, e.g. 1:8")


def _keyword(text: str) -> tuple[str, Any]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            f"--cluster-option {text!r}: give KEY=VALUE, a dask-jobqueue keyword and its value "
            "(YAML): job_extra_directives=['--qos=debug'], interface=ib0, processes=2")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        return key.strip(), value


def cluster_spec(args: argparse.Namespace, section: Any = None) -> ClusterSpec | None:
    """The batch cluster the command line asks for: ``--cluster`` and its job options, over a
    pipeline file's ``cluster:`` section (``section``); None for none (``--scheduler`` and
    ``--workers`` set a pipeline file's section aside)."""
    given = {name: getattr(args, name) for name in JOB_FLAGS if getattr(args, name) is not None}
    given.update(dict(args.cluster_option or []))
    extra = [flag for flag, value in (("--jobs", args.jobs), ("--adapt", args.adapt),
                                     ("--cluster-timeout", args.cluster_timeout))
             if value is not None] + [f"--{k.replace('_', '-')}" for k in given]
    if args.scheduler is not None or args.workers:
        section = None
    if args.cluster is None and section is None:
        if extra:
            raise BadInputError(f"{', '.join(extra)}: options of a batch cluster; give "
                                "--cluster KIND too (e.g. --cluster slurm)")
        return None
    base = clusters.parse(section, "cluster") if section is not None else None
    kind = args.cluster or (base.kind if base is not None else "slurm")
    options = {**(dict(base.options) if base is not None else {}), **given}
    jobs, adapt = (base.jobs, base.adapt) if base is not None else (1, None)
    if args.jobs is not None or args.adapt is not None:
        jobs, adapt = args.jobs, args.adapt
    timeout = args.cluster_timeout if args.cluster_timeout is not None else \
        base.timeout if base is not None else clusters.DEFAULT_TIMEOUT
    try:
        return ClusterSpec(kind, jobs, adapt, options, timeout)
    except ClusterOptionError as err:
        raise ClusterOptionError(f"--cluster {kind}: {err}") from None


def _epilog() -> str:
    ops_text = ", ".join(sorted(ops.registry))
    read = ", ".join(formats)
    written = ", ".join(f"{n} ({' '.join(e)})" for n, e in sorted(writers().items()))
    return (f"ops: {ops_text}\nformats read: {read}\nformats written: {written}\n"
            "exit codes: 0 done, 1 failed, 2 bad input, 75 a cluster's workers lost (run again "
            "to finish), 130 interrupted, 143 terminated")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's lines (ops, formats) as written."""


class _Parser(argparse.ArgumentParser):
    """Errors in one line and where to look, as careful Unix tools say them (not the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\nTry '{self.prog} --help' for more "
                     "information.\n")


def make_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    group = common.add_argument_group("evaluation")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on an existing dask cluster, e.g. tcp://host:8786, or the "
                            "one a scheduler file names (dask-mpi's scheduler.json)")
    where.add_argument("--workers", type=int, metavar="N",
                       help="start a local dask.distributed cluster of N workers")
    where.add_argument("--cluster", choices=sorted(clusters.KINDS), metavar="KIND",
                       help="run on batch jobs through dask-jobqueue: "
                            f"{', '.join(sorted(clusters.KINDS))}")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    group.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    jobs = common.add_argument_group(
        "batch jobs (--cluster; what is not given comes from dask-jobqueue's config, "
        "jobqueue.yaml)")
    size = jobs.add_mutually_exclusive_group()
    size.add_argument("--jobs", type=int, metavar="N",
                      help="N jobs (default 1), each replaced if it ends before the work")
    size.add_argument("--adapt", type=_jobs_range, metavar="MIN:MAX",
                      help="between MIN and MAX jobs, as the work needs (adaptive scaling)")
    for name, (kind, metavar, text) in JOB_FLAGS.items():
        jobs.add_argument(f"--{name}", type=kind, metavar=metavar, help=text)
    jobs.add_argument("--cluster-option", type=_keyword, action="append", metavar="KEY=VALUE",
                      help="any other keyword of dask-jobqueue's cluster, its value as YAML: "
                           "job_extra_directives=['--qos=debug'], log_directory=logs")
    jobs.add_argument("--cluster-timeout", type=float, metavar="SECONDS",
                      help="give up when no worker has joined, or none is left, for this long "
                           f"(default {clusters.DEFAULT_TIMEOUT:g})")
    jobs.add_argument("--job-script", action="store_true",
                      help="print the job script each job would run, and submit nothing")
    common.add_argument_group("plugins").add_argument(
        "--import", dest="imports", action="append", default=[], metavar="MODULE",
        help="import a module (a name on the Python path, or a .py file) before anything "
             "else, for the ops it registers (ops.register); repeatable. Installed "
             "packages offer ops through the 'lazyseries.ops' entry points without it")
    common.add_argument_group("storage").add_argument(
        "--storage-options", type=storage_options, default={}, metavar="JSON",
        help="options of the object store every URL given here (s3://...) is on, as a JSON "
             "object: '{\"profile\": \"beamline\"}', '{\"endpoint_url\": \"https://...\"}'; "
             "credentials are best left to the environment (AWS_*) or a profile")

    epilog = _epilog()
    parser = _Parser(
        prog="lazyseries", formatter_class=_Formatter, epilog=epilog,
        description="Process series of images lazily: run a pipeline file, process a series\n"
                    "with ops, describe a series, compute statistics over its frames.")
    parser.add_argument("--version", action="version", version=f"lazyseries {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=text, description=text,
                              epilog=epilog, formatter_class=_Formatter)

    p = add("run", "run a pipeline file")
    p.add_argument("pipeline", help="the pipeline file (YAML)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")

    p = add("process", "process a series with ops, write it")
    p.add_argument("src", help="the series to process")
    p.add_argument("out", help="where to write the result: its extension names the format "
                               "(no extension: Zarr)")
    p.add_argument("--op", action="append", default=[], metavar="NAME=VALUE",
                   help="an op, applied in the order given: dark=dark.npy, dark=median:100, "
                        "flip=v, rectangle=0:1024,0:1024, add=10")
    p.add_argument("--frames", type=_frames,
                   help="start:stop[:step] or a list: 0,5,9 (negative: from the end)")
    p.add_argument("--source-format", help="the source's format (default: inferred)")
    live_flags(p)
    p.add_argument("--format", help="the output's format (default: from the name, else zarr)")
    p.add_argument("--codec", help="the output's codec (Zarr: default, blosc-lz4, zstd, ...)")
    p.add_argument("--levels", type=int, default=0, metavar="N",
                   help="Zarr: N downsampled OME-Zarr levels beside the frames (default 0)")
    p.add_argument("--dtype", metavar="DTYPE",
                   help="the output's pixel type, e.g. uint16 after a dark subtraction: "
                        "values rounded and held to its range (the op astype, last)")
    p.add_argument("--threshold", type=float, metavar="T",
                   help="frame caches (.npz, .fch5): keep only pixels above T")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")

    p = add("info", "describe a series")
    p.add_argument("path")
    p.add_argument("--format", help="the series' format (default: inferred)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--pipeline", metavar="FILE",
                   help="write a pipeline file that recomputes this store from its provenance")

    p = add("stats", "statistics over the frames (several at once are computed in one pass)")
    p.add_argument("path")
    p.add_argument("--format", help="the series' format (default: inferred)")
    p.add_argument("--nframes", type=int, default=0, help="use the first N frames (0: all)")
    p.add_argument("-o", "--output", help="save the result (.npy or .tif; several: .npz)")
    live_flags(p)
    stat_flags(p)

    p = add("demo", "process the built-in synthetic series into a Zarr store")
    p.add_argument("out", help="path of the Zarr store to write")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--overwrite", action="store_true")
    return parser


def live_flags(parser: argparse.ArgumentParser) -> None:
    """What a live source (a detector's stream, a growing file, a store being written) is
    opened with; only the flags given are passed to its reader."""
    group = parser.add_argument_group(
        "live sources (tcp://... streams, --format hdf5-live, files-live, a store being "
        "written)")
    group.add_argument("--idle", type=float, metavar="SECONDS",
                       help="the source ends after this long without a new frame (default 60)")
    group.add_argument("--count", type=int, metavar="N",
                       help="the source ends once it holds N frames")
    group.add_argument("--marker", metavar="NAME",
                       help="files-live: a file of this name in the directory ends it; "
                            "hdf5-live: an attribute of this name set true on the dataset")
    group.add_argument("--start-timeout", type=float, metavar="SECONDS",
                       help="streams and files-live: how long to wait for the first frame "
                            "(default 600)")
    group.add_argument("--buffer", metavar="BYTES",
                       help="streams: received frames held for the writer at most (default "
                            "1GiB); frames arriving past it are dropped, listed by number")


LIVE_OPTIONS = ("idle", "count", "marker", "start_timeout", "buffer")
"""The reader options :func:`live_flags` sets."""


def live_options(args: argparse.Namespace) -> dict[str, Any]:
    """The reader options the live flags given set (none for a command without them)."""
    return {name: getattr(args, name) for name in LIVE_OPTIONS
            if getattr(args, name, None) is not None}

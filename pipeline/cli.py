"""The ``lazyseries`` command line (also ``python -m pipeline``).

Subcommands: ``run`` (a pipeline file), ``process`` (a one-liner), ``info``,
``stats`` and ``demo``.  Work runs on dask's threaded scheduler, or on a
cluster with ``--scheduler ADDRESS`` / ``--workers N``.  Errors are one line
on stderr: exit code 2 for bad input, 1 for a failure (``--debug`` shows the
traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from pipeline import runner
from pipeline.errors import (
    NotASeriesError,
    OpParameterError,
    PipelineFileError,
    UnknownFormatError,
    UnknownOpError,
)

BAD_INPUT: tuple[type[BaseException], ...] = (
    PipelineFileError, UnknownOpError, OpParameterError, UnknownFormatError, NotASeriesError,
    FileNotFoundError, FileExistsError,
)
"""Errors that mean the input was wrong (exit code 2) wherever they happen."""

STAT_FLAGS = ("max", "min", "sum", "mean", "average", "median")


class BadInput(Exception):
    """Wraps an error found while reading the command's input (exit code 2)."""


@contextlib.contextmanager
def _input() -> Iterator[None]:
    """Everything that goes wrong while reading input is the input's fault."""
    try:
        yield
    except (ValueError, KeyError, TypeError, OSError, ImportError) as err:
        raise BadInput(err) from err


# -- subcommands -------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, client: Any) -> int:
    from pipeline import pipelinefile

    with _input():
        spec = pipelinefile.load(args.pipeline)
        if args.overwrite and "output" in spec:
            spec["output"]["overwrite"] = True
        series = pipelinefile.build(spec)
    return _write(series, spec, args, client)


def cmd_process(args: argparse.Namespace, client: Any) -> int:
    from pipeline import pipelinefile

    with _input():
        raw: dict[str, Any] = {
            "source": {"path": args.src, "format": args.source_format},
            "ops": [parse_op(text) for text in args.op],
            "output": {"path": args.out, "format": args.format, "overwrite": args.overwrite},
        }
        if args.frames is not None:
            raw["frame_list"] = args.frames
        if args.codec is not None:
            raw["output"]["codec"] = args.codec
        if args.levels:
            raw["output"]["options"] = {"levels": args.levels}
        spec = pipelinefile.validate(raw, where="command line")
        series = pipelinefile.build(spec)
    return _write(series, spec, args, client)


def _write(series: Any, spec: dict[str, Any], args: argparse.Namespace, client: Any) -> int:
    from pipeline import pipelinefile

    out = spec.get("output")
    if out is None:
        raise BadInput(PipelineFileError(f"{spec['where']}: output: missing; give the path "
                                         "to write to"))
    progress = runner.show_progress(args.quiet)
    from pipeline.formats import registry

    with _input():
        fmt = registry.entry(out["format"]).name if out.get("format") else \
            registry.writer_for(out["path"])
    if fmt == "zarr":  # its writer hands back the task, so progress can follow it
        with _input():
            task = pipelinefile.write_output(series, spec, compute=False)
        runner.execute(task, nframes=len(series), client=client, progress=progress)
    else:
        runner.execute(lambda: pipelinefile.write_output(series, spec), nframes=len(series),
                       progress=progress)
    if not args.quiet:
        print(f"wrote {len(series)} frames of {series.shape} {series.dtype} to {out['path']}")
    return 0


def cmd_info(args: argparse.Namespace, client: Any) -> int:
    import pipeline

    with _input():
        series = pipeline.open(args.path, format=args.format)
    info = describe(series)
    if args.pipeline:
        from pipeline import pipelinefile

        with _input():
            if not info.get("provenance"):
                raise ValueError(f"{args.path!r} records no provenance to rebuild it from")
            stored = getattr(series, "provenance", None) or {}
            spec = pipelinefile.from_provenance(
                stored, output={"path": os.path.abspath(args.path) + ".rerun"},
                array_dir=args.pipeline + ".arrays",
            )
            pipelinefile.dump(spec, args.pipeline)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    for key, value in info.items():
        if isinstance(value, dict) and value:
            print(f"{key}:")
            print(_nested_text(value))
        else:
            print(f"{key + ':':<12} {value}")
    return 0


def describe(series: Any) -> dict[str, Any]:
    """What ``lazyseries info`` shows, as JSON-able data (arrays summarised)."""
    desc = series.description()
    info: dict[str, Any] = {
        "path": desc.get("path", ""), "format": desc.get("format", type(series).__name__),
        "frames": len(series), "shape": list(series.shape), "dtype": str(series.dtype),
    }
    arr = getattr(series, "zarr_array", None)
    if arr is not None:
        info["chunks"] = list(arr.chunks)
        info["shards"] = list(arr.shards) if arr.shards else None
        info["codec"] = ", ".join(_codec_text(c) for c in arr.compressors) or "none"
    else:
        info["chunks"] = series.frame_chunk
        info["codec"] = getattr(series, "codec", None)
    info["size"] = f"{_bytes_text(series.nbytes)} uncompressed"
    info["metadata"] = summarise(series.metadata)
    info["provenance"] = summarise(getattr(series, "provenance", None) or {})
    return info


def _codec_text(codec: Any) -> str:
    try:
        config = codec.to_dict()
    except (AttributeError, TypeError):
        return repr(codec)
    options = ", ".join(f"{k}={v}" for k, v in (config.get("configuration") or {}).items()
                        if k not in ("typesize", "blocksize"))
    return f"{config.get('name', type(codec).__name__)}({options})"


def _bytes_text(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _nested_text(value: dict[str, Any]) -> str:
    try:
        import yaml

        text = "".join(
            yaml.safe_dump({k: v}, sort_keys=False, default_flow_style=None, width=96)
            if isinstance(v, dict | list) else f"{k}: {v}\n" for k, v in value.items())
    except ImportError:
        text = json.dumps(value, indent=2, default=str)
    return "\n".join("  " + line for line in text.rstrip().splitlines())


def summarise(value: Any) -> Any:
    """``value`` as JSON-able data, arrays shown by shape and dtype (small ones in full)."""
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 8 else f"<array {value.shape} {value.dtype}>"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): summarise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [summarise(v) for v in value]
    return value


def cmd_stats(args: argparse.Namespace, client: Any) -> int:
    import pipeline
    from pipeline import pipelinefile

    stat = "percentile" if args.percentile is not None else next(
        (s for s in STAT_FLAGS if getattr(args, s)), None)
    if stat is None:
        raise BadInput(ValueError(
            "choose a statistic: --max, --min, --sum, --mean, --median or --percentile P"))
    with _input():
        series = pipeline.open(args.path, format=args.format)
        if args.nframes < 0 or args.nframes > len(series):
            raise ValueError(f"--nframes {args.nframes} must be 0 (all) to {len(series)}")
        import pipeline.stats
    result = runner.execute(
        lambda: pipelinefile.compute_stat(series, stat, args.nframes, args.percentile),
        nframes=args.nframes or len(series), progress=runner.show_progress(args.quiet))
    if args.output:
        with _input():
            _save_array(result, args.output)
    if not args.quiet:
        where = f" to {args.output}" if args.output else ""
        print(f"{stat} of {args.nframes or len(series)} frames: {result.shape} {result.dtype}, "
              f"values {result.min()}..{result.max()}, mean {result.mean():.4g}{where}")
    return 0


def _save_array(arr: np.ndarray, path: str) -> None:
    if path.lower().endswith((".tif", ".tiff")):
        from ops._compat import require

        require("tifffile", "tiff", "writing .tif files").imwrite(path, arr)
    elif path.lower().endswith(".npy"):
        np.save(path, arr)
    else:
        raise ValueError(f"-o {path!r}: write the result to a .npy or .tif file")


def demo(out: str, nframes: int = 64, size: int = 256, overwrite: bool = False,
         progress: bool = False) -> int:
    """Process the built-in synthetic series (dark, flip, crop), write it to Zarr, reopen it."""
    import pipeline

    raw = pipeline.synthetic(nframes, (size, size))
    dark = raw.metadata["dark"]
    half = size // 4
    ps = raw.process([("dark", dark), ("flip", "v"),
                      ("rectangle", ((half, size - half), (half, size - half)))])
    with _input():
        task = pipeline.write(ps, out, overwrite=overwrite, compute=False)
    runner.execute(task, nframes=len(ps), progress=progress)
    reopened = pipeline.open(out)
    same = all(np.array_equal(reopened[j], ps[j]) for j in (0, len(ps) // 2, len(ps) - 1))
    arr = getattr(reopened, "zarr_array")  # noqa: B009  (a Zarr store: written just above)
    print(f"source:    {raw!r}")
    print(f"ops:       {', '.join(repr(op) for op in ps.chain)}")
    print(f"wrote:     {out}")
    print(f"reopened:  {len(reopened)} frames of {reopened.shape} {reopened.dtype}, "
          f"chunks {arr.chunks}, shards {arr.shards}")
    print(f"metadata:  {sorted(reopened.metadata)}")
    print(f"frames match the processed series: {same}")
    print(f"next:      lazyseries info {out}")
    return 0 if same else 1


# -- parsing ------------------------------------------------------------------------------------

_RECT = re.compile(r"\s*(-?\d+)\s*:\s*(-?\d+)\s*,\s*(-?\d+)\s*:\s*(-?\d+)\s*")
_STAT = re.compile(r"(max|min|sum|mean|average|median)(?::(\d+))?")
_PCT = re.compile(r"percentile:([0-9.]+)(?::(\d+))?")


def parse_op(text: str) -> dict[str, Any]:
    """``NAME=VALUE`` from ``--op`` as a pipeline-file op ``{"name": ..., "param": ...}``.

    VALUE is ``r0:r1,c0:c1`` (a rectangle), a path ending in .npy/.tif (an
    array), ``median[:N]`` and the like (a statistic of the first N frames,
    0 or none meaning all), ``percentile:P[:N]``, else a YAML scalar or list.
    """
    import yaml

    import ops

    name, sep, value = text.partition("=")
    name = name.strip()
    if name not in ops.registry:
        raise UnknownOpError(f"--op {text!r}: unknown op {name!r}; known ops: {list(ops.registry)}")
    if not sep:
        return {"name": name, "param": None}
    if m := _RECT.fullmatch(value):
        r0, r1, c0, c1 = (int(g) for g in m.groups())
        return {"name": name, "param": [[r0, r1], [c0, c1]]}
    if m := _STAT.fullmatch(value):
        return {"name": name, "param": {"stat": m[1], "nframes": int(m[2] or 0)}}
    if m := _PCT.fullmatch(value):
        return {"name": name, "param": {"stat": "percentile", "pct": float(m[1]),
                                        "nframes": int(m[2] or 0)}}
    try:
        param = yaml.safe_load(value)
    except yaml.YAMLError:
        param = value
    return {"name": name, "param": param}


def _frames(text: str) -> str | list[int]:
    if ":" in text:
        return text
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--frames {text!r}: give start:stop[:step] or a comma-separated list of frames"
        ) from None


def make_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("evaluation")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on an existing dask cluster, e.g. tcp://host:8786")
    where.add_argument("--workers", type=int, metavar="N",
                       help="start a local dask.distributed cluster of N workers")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    group.add_argument("--debug", action="store_true", help="show tracebacks of errors")

    parser = argparse.ArgumentParser(prog="lazyseries", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", parents=[common], help="run a pipeline file")
    p.add_argument("pipeline", help="the pipeline file (YAML)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")

    p = sub.add_parser("process", parents=[common], help="process a series with ops, write it")
    p.add_argument("src", help="the series to process")
    p.add_argument("out", help="where to write the result (Zarr unless the name says otherwise)")
    p.add_argument("--op", action="append", default=[], metavar="NAME=VALUE",
                   help="an op, applied in the order given: dark=dark.npy, dark=median:100, "
                        "flip=v, rectangle=0:1024,0:1024, add=10")
    p.add_argument("--frames", type=_frames, help="start:stop[:step] or a list: 0,5,9")
    p.add_argument("--source-format", help="the source's format (default: inferred)")
    p.add_argument("--format", help="the output's format (default: from the name, else zarr)")
    p.add_argument("--codec", help="the output's codec (Zarr: default, blosc-lz4, zstd, ...)")
    p.add_argument("--levels", type=int, default=0, metavar="N",
                   help="Zarr: N downsampled OME-Zarr levels beside the frames (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")

    p = sub.add_parser("info", parents=[common], help="describe a series")
    p.add_argument("path")
    p.add_argument("--format", help="the series' format (default: inferred)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--pipeline", metavar="FILE",
                   help="write a pipeline file that recomputes this store from its provenance")

    p = sub.add_parser("stats", parents=[common], help="a statistic over the frames")
    p.add_argument("path")
    p.add_argument("--format", help="the series' format (default: inferred)")
    for name in STAT_FLAGS:
        p.add_argument(f"--{name}", action="store_true", help=f"the pixel-wise {name}")
    p.add_argument("--percentile", type=float, metavar="P", help="the P-th percentile")
    p.add_argument("--nframes", type=int, default=0, help="use the first N frames (0: all)")
    p.add_argument("-o", "--output", help="save the result (.npy or .tif)")

    p = sub.add_parser("demo", parents=[common],
                       help="process the built-in synthetic series into a Zarr store")
    p.add_argument("out", help="path of the Zarr store to write")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--overwrite", action="store_true")
    return parser


COMMANDS = {"run": cmd_run, "process": cmd_process, "info": cmd_info, "stats": cmd_stats}


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        with runner.scheduler(args.scheduler, args.workers, quiet=args.quiet) as client:
            if args.command == "demo":
                return demo(args.out, args.frames, args.size, args.overwrite,
                            progress=runner.show_progress(args.quiet))
            return COMMANDS[args.command](args, client)
    except KeyboardInterrupt:
        print("lazyseries: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001  (the one place that turns errors into exit codes)
        cause = err.__cause__ if isinstance(err, BadInput) and err.__cause__ else err
        code = 2 if isinstance(err, BadInput) or isinstance(cause, BAD_INPUT) else 1
        if args.debug:
            traceback.print_exception(cause)
        text = str(cause) or type(cause).__name__
        if isinstance(cause, FileExistsError):  # the library's advice, in the CLI's words
            text = text.replace("pass overwrite=True", "pass --overwrite")
        print(f"lazyseries: error: {text}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())

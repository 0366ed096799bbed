"""The ``lazyseries`` command line (also ``python -m pipeline``).

Subcommands: ``run`` (a pipeline file), ``process`` (a one-liner), ``info``,
``stats`` and ``demo``.  Work runs on dask's threaded scheduler, or on a
cluster with ``--scheduler ADDRESS`` / ``--workers N``, or on batch jobs with
``--cluster slurm --jobs N`` (or a pipeline file's ``cluster:`` section); every
phase shows its progress on a terminal.  Errors are one line on stderr, their
exit code chosen by their class (:func:`exit_code`): 2 for bad input, 1 for a
failure, 75 for a cluster whose workers were lost (run again to finish), 130
for Ctrl-C and 143 for SIGTERM (``--debug`` shows the traceback).  Nothing is guessed: an output name whose extension no writer
knows, an extension that contradicts ``--format``, a frame selection beyond
the source or selecting nothing, an op without its value: each is refused
before anything is read or written.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import logging
import os
import re
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import pipeline
from ops import require
from pipeline import _progress, clusters, errors, pipelinefile, runner, stats, storage
from pipeline.cli_args import (
    check_output,
    chosen_stats,
    cluster_spec,
    join_values,
    live_options,
    make_parser,
    parse_op,
    writers,  # noqa: F401  (part of the command line's face)
)
from pipeline.disk import remove_owned_scratch
from pipeline.errors import BadInputError, PipelineFileError
from pipeline.formats.live.growth import live_source
from pipeline.formats.zarr import ZarrSeries
from pipeline.persist import claim as claims
from pipeline.series import ImageSeries, counted

BUILTIN_CODES: dict[type[BaseException], int] = {
    KeyboardInterrupt: 130,
    # built-ins the project does not own that name a path the user gave: a missing
    # source found only by a worker, an output that appeared meanwhile
    FileNotFoundError: 2,
    FileExistsError: 2,
}
"""Exit codes of built-in exceptions, which cannot declare one."""


def _declared_codes() -> tuple[tuple[type[BaseException], int], ...]:
    """Every error class of :mod:`pipeline.errors` with the ``exit_code`` it declares."""
    declared = []
    for name in errors.__all__:
        kind, code = getattr(errors, name), getattr(getattr(errors, name), "exit_code", None)
        if isinstance(kind, type) and issubclass(kind, BaseException) and isinstance(code, int):
            declared.append((kind, code))
    return tuple(declared)


EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    *BUILTIN_CODES.items(), *_declared_codes())
"""Error classes and the exit code each means: 2 bad input, 1 a failure, 130 Ctrl-C.

Derived from the classes of :mod:`pipeline.errors`, each of which declares its
code as ``exit_code`` (inherited by its subclasses, yours too), and
:data:`BUILTIN_CODES`.  Any error raised while the command reads its input
arrives as a :class:`~pipeline.errors.BadInputError` (2).
"""

SCHEDULER_TIMEOUT = 5
"""Seconds to reach a ``--scheduler`` before giving up."""


def exit_code(err: BaseException) -> int:
    """The exit code of ``err``: the nearest ``exit_code`` declared in its class's method
    resolution order, or a built-in's from :data:`BUILTIN_CODES`; 1 for any other error."""
    for kind in type(err).__mro__:
        code = vars(kind).get("exit_code")
        if isinstance(code, int):
            return code
        if kind in BUILTIN_CODES:
            return BUILTIN_CODES[kind]
    return 1


@contextlib.contextmanager
def _input() -> Iterator[None]:
    """Everything that goes wrong while reading input is the input's fault."""
    try:
        yield
    except (ValueError, KeyError, TypeError, OSError, ImportError) as err:
        raise BadInputError(err) from err


# -- subcommands -------------------------------------------------------------------------------


def prepare_run(args: argparse.Namespace) -> Prepared:
    """The pipeline file's spec, checked (no frame read) and the output refused if taken."""
    with _input():
        spec = pipelinefile.load(args.pipeline)
        if args.overwrite and "output" in spec:
            spec["output"]["overwrite"] = True
        spec = pipelinefile.with_storage_options(spec, args.storage_options)
    return _checked(spec)


def prepare_process(args: argparse.Namespace) -> Prepared:
    """The command line's pipeline as a spec, checked (no frame read)."""
    with _input():
        check_output(args.out, args.format)
        source: dict[str, Any] = {"path": args.src, "format": args.source_format}
        if live_options(args):
            source["options"] = live_options(args)
        raw: dict[str, Any] = {
            "source": source,
            "ops": [parse_op(text) for text in args.op],
            "output": {"path": args.out, "format": args.format, "overwrite": args.overwrite},
        }
        if args.frames is not None:
            raw["frame_list"] = args.frames
        if args.dtype is not None:
            raw["ops"].append({"name": "astype", "param": args.dtype})
        if args.codec is not None:
            raw["output"]["codec"] = args.codec
        options = {"levels": args.levels} if args.levels else {}
        if args.threshold is not None:
            options["threshold"] = args.threshold
        if options:
            raw["output"]["options"] = options
        spec = pipelinefile.validate(raw, where="command line")
        spec = pipelinefile.with_storage_options(spec, args.storage_options)
    return _checked(spec)


@dataclass(frozen=True)
class Prepared:
    """A write's spec, checked, and for a live source the series opened to check it."""

    spec: dict[str, Any]
    live: ImageSeries | None


def _checked(spec: dict[str, Any]) -> Prepared:
    """``spec``, its whole chain checked against the source with stand-ins for statistics and
    its output against what exists: before any job is submitted or frame read."""
    out = spec.get("output")
    if out is None:
        raise PipelineFileError(f"{spec['where']}: output: missing; give the path to write to")
    with _input():
        series = pipelinefile.build(spec, compute_stats=False, check_output=True)
    source = live_source(series)
    if source is None:
        return Prepared(spec, None)
    # a live source is opened once: a stream connected to again would miss what the first
    # connection took, so the series checked is the one written
    if pipelinefile.uses_stats(spec):
        with contextlib.closing(source):
            raise BadInputError(f"{spec['where']}: a statistic as an op's parameter is not "
                                "computed over a live source; compute it first (lazyseries "
                                "stats) and give the array file")
    return Prepared(spec, series)


def cmd_write(args: argparse.Namespace, prepared: Prepared) -> int:
    """``run`` and ``process``: compute what the ops need (a dark), then write."""
    spec = prepared.spec
    if prepared.live is not None:
        return _write_live(prepared.live, spec, args)
    with _input():
        series = pipelinefile.build(spec)
    # every format alike; a failed write removes what it made, under its claim (persist)
    pipelinefile.write_output(series, spec)
    if not args.quiet:
        print(f"wrote {counted(len(series), 'frame')} of {series.shape} {series.dtype} to "
              f"{spec['output']['path']}")
    return 0


def _write_live(series: Any, spec: dict[str, Any], args: argparse.Namespace) -> int:
    """A live source written as its frames arrive, with frames received, written and dropped."""
    out, source = spec["output"], live_source(series)
    assert source is not None  # cmd_write sends only live series here
    with _progress.LiveBar(source.expected) as bar, contextlib.closing(source):
        written = pipelinefile.write_output(series, spec, progress=bar.update)
    if not args.quiet:
        print(f"wrote {counted(len(written), 'frame')} of {written.shape} {written.dtype} to "
              f"{out['path']} as they arrived; {bar.summary(source.status(), len(written))}"
              + ("; the store's record lists the frames dropped" if len(written.dropped) else ""))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    with _input():
        series = _open(args)
    info = describe(series)
    if args.pipeline:
        with _input():
            if not info.get("provenance") or not isinstance(series, ZarrSeries):
                raise BadInputError(f"{args.path!r} records no provenance to rebuild it from")
            stored = series.provenance or {}
            spec = pipelinefile.from_provenance(
                stored, output={"path": _rerun_name(args.path)},
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
        elif key == "size":
            print(f"{'size:':<12} {_bytes_text(value)} uncompressed")
        else:
            print(f"{key + ':':<12} {value}")
    return 0


def _open(args: argparse.Namespace) -> Any:
    """The series ``args.path`` names, a URL's with ``--storage-options``."""
    options = {} if storage.is_local(args.path) or not args.storage_options else \
        {"storage_options": args.storage_options}
    return pipeline.open(args.path, format=args.format, **options, **live_options(args))


def _rerun_name(path: str) -> str:
    """``x.zarr`` -> ``x.rerun.zarr``: beside the store, with an extension a writer knows."""
    name = path.rstrip("/\\")
    root, ext = os.path.splitext(os.path.abspath(name) if storage.is_local(name) else name)
    return f"{root}.rerun{ext or '.zarr'}"


def describe(series: Any) -> dict[str, Any]:
    """What ``lazyseries info`` shows, as JSON-able data (arrays summarised)."""
    desc = series.description()
    info: dict[str, Any] = {
        "path": desc.get("path", ""), "format": desc.get("format", type(series).__name__),
        "frames": len(series), "shape": list(series.shape), "dtype": str(series.dtype),
    }
    if isinstance(series, ZarrSeries):
        arr = series.zarr_array
        info["chunks"] = list(arr.chunks)
        info["shards"] = list(arr.shards) if arr.shards else None
        info["codec"] = ", ".join(_codec_text(c) for c in arr.compressors) or "none"
        if series.store_version is not None:  # an object store's: the one read
            info["version"] = series.store_version
            info["versions kept"] = series.versions_kept
    else:
        info["chunks"] = series.frame_chunk
    info["size"] = int(series.nbytes)  # bytes, uncompressed
    info["metadata"] = summarise(series.metadata)
    provenance = series.provenance if isinstance(series, ZarrSeries) else None
    info["provenance"] = summarise(provenance or {})
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


SHOWN_ITEMS = 8
"""Arrays and lists of numbers longer than this are summarised by ``info``."""


def summarise(value: Any) -> Any:
    """``value`` as JSON-able data for people: arrays and long lists of numbers by their
    length, range and type (short ones in full), bytes as text where they are text."""
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= SHOWN_ITEMS else \
            f"<array {value.shape} {value.dtype}>"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {str(k): summarise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        numbers = all(isinstance(v, int | float | np.number) and not isinstance(v, bool)
                      for v in value)
        if numbers and len(value) > SHOWN_ITEMS:
            return f"<{len(value)} numbers, {min(value)} to {max(value)}>"
        return [summarise(v) for v in value]
    return value


def cmd_stats(args: argparse.Namespace) -> int:
    chosen = chosen_stats(args)
    with _input():
        if args.output and len(chosen) > 1 and not args.output.lower().endswith(".npz"):
            raise BadInputError(f"-o {args.output!r}: several statistics go to one .npz file "
                                "(one array per statistic)")
        series = _open(args)
    if live_source(series) is not None:
        return _stats_live(series, chosen, args)
    with _input():
        if args.nframes < 0 or args.nframes > len(series):
            raise BadInputError(f"--nframes {args.nframes} must be 0 (all) to {len(series)}")
        lazy = [stats.compute(c.stat, series, c.param, args.nframes, lazy=True)
                for c in chosen]
    # one pass of the scheduler for all of them: they share its threads
    count = args.nframes or len(series)
    results = [np.asarray(r) for r in _progress.compute(
        *lazy, label=f"{', '.join(c.label for c in chosen)} of {count} frames", nframes=count)]
    _report(chosen, results, args, count)
    return 0


def _stats_live(series: Any, chosen: list[Any], args: argparse.Namespace) -> int:
    """Statistics of a live source, folded in as its frames arrive (stats.follow)."""
    source = live_source(series)
    assert source is not None  # cmd_stats sends only live series here
    if args.nframes < 0:
        raise BadInputError(f"--nframes {args.nframes} must be 0 (all) or more")
    with _progress.LiveBar(source.expected) as bar, \
            contextlib.closing(source):
        results = stats.follow([(c.stat, c.param) for c in chosen], series, args.nframes,
                               on_batch=lambda done: bar.update(source.status(), done))
    done = min(len(source), args.nframes or len(source))
    kept = done - int((source.dropped < done).sum())
    _report(chosen, results, args, kept)
    if not args.quiet:
        print(bar.summary(source.status(), done))
    return 0


def _report(chosen: list[Any], results: list[np.ndarray], args: argparse.Namespace,
            nframes: int) -> None:
    """Save and summarise the statistics computed."""
    if args.output:
        with _input():
            _save_array({c.key: r for c, r in zip(chosen, results, strict=True)}, args.output)
    if not args.quiet:
        where = f" to {args.output}" if args.output else ""
        for c, result in zip(chosen, results, strict=True):
            print(f"{c.label} of {nframes} frames: {result.shape} "
                  f"{result.dtype}, values {result.min()}..{result.max()}, "
                  f"mean {result.mean():.4g}{where}")


def _save_array(arrays: dict[str, np.ndarray], path: str) -> None:
    if path.lower().endswith(".npz"):
        savez: Any = np.savez  # numpy's stubs read ** as its allow_pickle keyword
        savez(path, **arrays)
        return
    (arr,) = arrays.values()
    if path.lower().endswith((".tif", ".tiff")):
        require("tifffile", "tiff", "writing .tif files").imwrite(path, arr)
    elif path.lower().endswith(".npy"):
        np.save(path, arr)
    else:
        raise BadInputError(f"-o {path!r}: write the result to a .npy, .tif or .npz file")


def demo(out: str, nframes: int = 64, size: int = 256, overwrite: bool = False) -> int:
    """Process the built-in synthetic series (dark, flip, crop), write it to Zarr, reopen it."""
    raw = pipeline.synthetic(nframes, (size, size))
    dark = raw.metadata["dark"]
    half = size // 4
    ps = raw.process([("dark", dark), ("flip", "v"),
                      ("rectangle", ((half, size - half), (half, size - half)))])
    with _input():
        pipeline.write(ps, out, overwrite=overwrite)
    reopened = pipeline.open(out)
    assert isinstance(reopened, ZarrSeries)  # written just above
    same = all(np.array_equal(reopened[j], ps[j]) for j in (0, len(ps) // 2, len(ps) - 1))
    arr = reopened.zarr_array  # a Zarr store: written just above
    print(f"source:    {raw!r}")
    print(f"ops:       {', '.join(repr(op) for op in ps.chain)}")
    print(f"wrote:     {out}")
    print(f"reopened:  {counted(len(reopened), 'frame')} of {reopened.shape} {reopened.dtype}, "
          f"chunks {arr.chunks}, shards {arr.shards}")
    print(f"metadata:  {sorted(reopened.metadata)}")
    print(f"frames match the processed series: {same}")
    print(f"next:      lazyseries info {out}")
    return 0 if same else 1


PREPARE = {"run": prepare_run, "process": prepare_process}
COMMANDS = {"info": cmd_info, "stats": cmd_stats}


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(join_values(list(sys.argv[1:] if argv is None else argv)))
    with _on_sigterm():
        return _main(args)


@contextlib.contextmanager
def _on_sigterm() -> Iterator[None]:
    """SIGTERM (``scancel`` of the job running the command, say) ends the run as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _main(args: argparse.Namespace) -> int:
    folded = FoldedWarnings()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")  # each counted, shown folded
            warnings.showwarning = folded.show
            try:
                return _run(args)
            finally:
                folded.summary()
    except KeyboardInterrupt as err:
        _interrupted(err)
    except BrokenPipeError:  # `lazyseries info x | head`: the reader is gone; so are we
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool ended that way
    except Exception as err:  # noqa: BLE001  (the one place that turns errors into exit codes)
        cause = err.__cause__ if isinstance(err, BadInputError) and err.__cause__ else err
        if args.debug:
            traceback.print_exception(cause)
        text = " ".join((str(cause) or type(cause).__name__).split())  # one line
        print(f"lazyseries: error: {text}", file=sys.stderr)
        return exit_code(err)
    return 130  # pragma: no cover  (_interrupted does not return)


def _run(args: argparse.Namespace) -> int:
    for name in args.imports:
        import_plugin(name)
    prepared = PREPARE[args.command](args) if args.command in PREPARE else None
    cluster = cluster_spec(args, prepared.spec.get("cluster") if prepared else None)
    if args.job_script:
        if cluster is None:
            raise BadInputError("--job-script shows the job script of a --cluster (or of "
                                "the pipeline file's cluster section); none is given")
        print(clusters.job_script(cluster), end="")
        return 0
    progress = _progress.show_progress(args.quiet)
    with runner.scheduler(args.scheduler, args.workers, cluster, quiet=args.quiet,
                          timeout=SCHEDULER_TIMEOUT), \
            _progress.shown() if progress else contextlib.nullcontext():
        if args.command == "demo":
            return demo(args.out, args.frames, args.size, args.overwrite)
        if prepared is not None:
            return cmd_write(args, prepared)
        return COMMANDS[args.command](args)


class FoldedWarnings:
    """Warnings as one line each on stderr, the first of a kind at once and the rest
    counted (a warning per frame of 1,440 frames is two lines, not 1,440): of a kind are
    those of one class whose messages differ only in their numbers."""

    def __init__(self) -> None:
        self.first: dict[tuple[type[Warning], str], str] = {}
        self.counts: dict[tuple[type[Warning], str], int] = {}
        self.lock = threading.Lock()

    def show(self, message: Warning | str, category: type[Warning], filename: str,
             lineno: int, file: Any = None, line: str | None = None) -> None:
        text = " ".join(str(message).split())
        key = (category, re.sub(r"\d+(?:\.\d+)?", "#", text))
        with self.lock:
            seen = self.counts.get(key, 0)
            self.counts[key] = seen + 1
            self.first.setdefault(key, text)
        if not seen:
            print(f"lazyseries: warning: {category.__name__}: {text}", file=sys.stderr)

    def summary(self) -> None:
        for key, count in self.counts.items():
            if count > 1:
                print(f"lazyseries: warning: {key[0].__name__}: {count} in all like "
                      f"{self.first[key][:60]!r}...", file=sys.stderr)


def import_plugin(name: str) -> None:
    """``--import``: the module ``name`` (on the Python path), or the ``.py`` file ``name``,
    imported for what it registers.  A file is imported under its stem, as ``python
    file.py`` would see it, once."""
    stem = os.path.splitext(os.path.basename(name))[0]
    found = None
    if name.endswith(".py"):
        found = importlib.util.spec_from_file_location(stem, os.path.abspath(name))
        if found is None or found.loader is None or not os.path.isfile(name):
            raise BadInputError(f"--import {name!r}: no such file")
        if stem in sys.modules:
            raise BadInputError(f"--import {name!r}: a module named {stem!r} is imported "
                                "already; rename the file")
    try:
        if found is None:
            importlib.import_module(name)
            return
        module = importlib.util.module_from_spec(found)
        sys.modules[stem] = module
        try:
            found.loader.exec_module(module)  # type: ignore[union-attr]
        except BaseException:
            del sys.modules[stem]
            raise
    except Exception as err:  # noqa: BLE001  (whatever the user's module raises)
        # the message says it all: the command line prints a BadInputError's cause instead
        raise BadInputError(f"--import {name!r}: {type(err).__name__}: {err}") from None


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``scancel`` of the job running the command): ended as Ctrl-C is."""


def _terminated(signum: int, frame: Any) -> None:
    raise Terminated


def _interrupted(err: KeyboardInterrupt) -> None:
    """Ctrl-C (exit 130) or SIGTERM (exit 143): one line, every batch job of the run cancelled,
    without waiting for running tasks or the event loops' complaints about tasks they never
    finished (zarr's, distributed's).  A store being written is left incomplete: the same
    command run again finishes it."""
    terminated = isinstance(err, Terminated)
    print(f"lazyseries: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    runner.cancel_jobs()
    claims.release_held()
    remove_owned_scratch()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(143 if terminated else 130)


if __name__ == "__main__":
    sys.exit(main())

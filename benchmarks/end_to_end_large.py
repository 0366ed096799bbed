"""End to end on large frames: open -> dark -> flip v -> central crop -> Zarr 3 store.

Full: 200 frames of 2048 x 2048 uint16 (1.7 GB); quick: 16 frames of 512 x 512.
Every competitor writes with Blosc zstd level 3 bitshuffle; lazyseries is also
run with its default codec, for its compression ratio and throughput.  The
reference of the targets is the codec floor (:mod:`benchmarks._floor`).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from benchmarks import _floor as F
from benchmarks import _pipelines as P
from benchmarks._harness import OPS_NOTE, Context, Report, dir_bytes, interleaved, median, remove

NAME = "end_to_end_large"
LAZY = "lazyseries open->process->write"
HAND = "dask by hand (from_zarr.map_blocks)"
FLOOR = P.CODEC_FLOOR
DASK_COPY = "dask copy of crop through zarr-python (no ops)"
TENSORSTORE = "tensorstore read -> numpy -> tensorstore write"
DEFAULT_CODEC = "lazyseries, default codec"
HEXRD = "hexrd ProcessedImageSeries -> HDF5"


def run_competitors(ctx: Context, report: Report, case: P.Case,
                    competitors: dict[str, Callable[[P.Case, str], None]],
                    once: frozenset[str] = frozenset()) -> None:
    """Time ``competitors`` interleaved; add rows with MB/s of input and compression ratio."""
    outdir = os.path.join(ctx.tmp, f"out-{report.name}")
    paths = {name: os.path.join(outdir, f"{i}.zarr") for i, name in enumerate(competitors)}
    sizes: dict[str, int] = {}

    def bound(name: str) -> Callable[[], None]:
        def call() -> None:
            competitors[name](case, paths[name])
            # the frames array only: a lazyseries store also holds metadata arrays (the dark)
            images = os.path.join(paths[name], P.ARRAY)
            sizes[name] = dir_bytes(images if os.path.isdir(images) else outdir)
        return call

    errors: dict[str, str] = {}
    times = interleaved({name: bound(name) for name in competitors}, ctx.repeats,
                        cleanup=lambda: remove(outdir), once=once, errors=errors)
    out_bytes = case.out_shape[0] * case.out_shape[1] * case.out_shape[2] * 2
    for name, values in times.items():
        secs = median(values)
        if name in errors:  # a failing competitor is a row with its error, not the end
            report.add(name, secs, repeats=len(values), error=errors[name])
            continue
        report.add(name, secs, repeats=len(values),
                   MBps_in=round(case.input_bytes / 1e6 / secs, 1),
                   cratio=round(out_bytes / max(sizes.get(name, 1), 1), 2))


def optional_competitors(report: Report) -> dict[str, Callable[[P.Case, str], None]]:
    """tensorstore when importable (else a note)."""
    comps: dict[str, Callable[[P.Case, str], None]] = {}
    if F.tensorstore_available():
        comps[TENSORSTORE] = F.tensorstore_pipeline
    else:
        report.notes.append("tensorstore not importable: its competitor was skipped")
    return comps


def competitors_for(ctx: Context, report: Report) -> dict[str, Callable[[P.Case, str], None]]:
    comps = dict(P.COMPETITORS)
    comps.update(optional_competitors(report))
    comps[DEFAULT_CODEC] = P.lazyseries_default_codec
    comps[P.NO_CHECKSUM] = P.lazyseries_no_checksum
    if P.hexrd_available():
        comps[HEXRD] = P.hexrd_processed
    else:
        report.notes.append("hexrd not importable: its ProcessedImageSeries + HDF5 writer "
                            "competitor was skipped")
    return comps


def run(ctx: Context) -> Report:
    nframes, side = ctx.size((16, 512), (200, 2048))
    report = Report(NAME, reference=HAND)
    case = P.make_case(ctx.source(nframes, (side, side)))
    report.params = {"frames": f"{nframes} x {side}x{side} uint16 "
                     f"({case.input_bytes / 1e9:.2f} GB)", "chain": OPS_NOTE,
                     "codec": "Blosc zstd 3 bitshuffle", "repeats": ctx.repeats}
    run_competitors(ctx, report, case, competitors_for(ctx, report))
    report.check("lazyseries / dask by hand", report.ratio(LAZY, HAND), "<=", 1.05)
    report.check("lazyseries / codec floor", report.ratio(LAZY, FLOOR), "<=", 1.10)
    report.notes.append("cratio = raw output bytes / bytes on disk; MBps_in = input MB / s")
    report.notes.append(f"checksums (zarr's crc32c, on by default) cost "
                        f"{report.ratio(LAZY, P.NO_CHECKSUM):.3f}x the write without them")
    return report

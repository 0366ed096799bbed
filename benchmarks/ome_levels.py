"""OME-Zarr levels: what downsampled levels cost on top of writing the frames.

Full: 100 frames of 1024 x 1024 uint16; quick: 16 of 512 x 512.  The source
is a lazyseries Zarr store; each competitor reads it, flips the frames (so
the work is a processed series, as in use) and writes an OME-Zarr image:

- lazyseries without levels (the reference), and with ``levels=2``, both
  levels computed in the graph that writes level 0 (each frame read once);
- the same two levels made in a second pass over the written level 0 (what a
  user adds after the fact: read level 0 back, pool, write);
- ome-zarr-py's ``write_image`` of the same dask array with two levels
  (``scale_factors=[2, 4]``, local mean), the codec matched (Blosc lz4).
"""

from __future__ import annotations

from typing import Any

from benchmarks._harness import Context, Report, interleaved, remove

NAME = "ome_levels"
REF = "lazyseries write, no levels"
SAME = "lazyseries write, levels=2 (same graph)"
TWO_PASS = "lazyseries write, then levels 1-2 in a second pass"
OMEZARR = "ome-zarr-py write_image, 2 levels (local mean)"


def _lazy(src: str, out: str, levels: int) -> None:
    import pipeline

    pipeline.write(pipeline.open(src).process([("flip", "v")]), out, levels=levels)


def _two_pass(src: str, out: str) -> None:
    import dask.array as da
    import zarr

    from pipeline import ome
    from pipeline.formats.zarr.layout import resolve_codec

    _lazy(src, out, 0)
    group = zarr.open_group(out, mode="r+")
    frames = da.from_zarr(group["0"])
    sources, targets = ome.create_levels(group, frames, 2, group["0"].chunks[0],
                                         compressors=resolve_codec("default"))
    da.store(sources, targets, lock=False)


def _ome_zarr_py(src: str, out: str) -> None:
    import zarr
    from ome_zarr.scale import Methods
    from ome_zarr.writer import write_image

    import pipeline
    from pipeline.formats.zarr.layout import resolve_codec

    frames = pipeline.open(src).process([("flip", "v")]).to_dask()
    group = zarr.open_group(out, mode="w")
    write_image(frames, group, axes="tyx", scale_factors=[2, 4], method=Methods.LOCAL_MEAN,
                storage_options={"compressor": resolve_codec("default", checksum=False)[0],
                                 "chunks": (1, *frames.shape[1:])})


def run(ctx: Context) -> Report:
    nframes, side = ctx.size((16, 512), (100, 1024))
    src = ctx.source(nframes, (side, side))
    report = Report(NAME, reference=REF)
    report.params = {"frames": f"{nframes} x {side}x{side} uint16", "chain": "flip v",
                     "levels": "2 (2x2 and 4x4 means over y, x)", "repeats": ctx.repeats}
    outs: list[str] = []

    def target() -> str:
        outs.append(ctx.scratch("ome"))
        return outs[-1]

    comps: dict[str, Any] = {
        REF: lambda: _lazy(src, target(), 0),
        SAME: lambda: _lazy(src, target(), 2),
        TWO_PASS: lambda: _two_pass(src, target()),
    }
    try:
        import ome_zarr.writer  # noqa: F401
        import skimage  # noqa: F401  (ome-zarr-py's local mean)

        comps[OMEZARR] = lambda: _ome_zarr_py(src, target())
    except ImportError:
        report.notes.append("ome-zarr-py or scikit-image not importable: its row is skipped")

    def cleanup() -> None:
        while outs:
            remove(outs.pop())

    report.add_times(interleaved(comps, ctx.repeats, warmup=1, cleanup=cleanup))
    report.check("levels=2 in the same graph / no levels", report.ratio(SAME, REF), "<=", 1.5)
    report.check("same graph / second pass", report.ratio(SAME, TWO_PASS), "<", 1.0)
    return report

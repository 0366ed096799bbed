"""How a series looks in Jupyter: a thumbnail of one frame beside what the series is.

The view shows the source and the op chain (with the frame shape after each
op), the frames, the storage chunking and the dask chunking, and for a series
with omega metadata its omega range and wedges.  Those come from headers and
the chain; the one thing read is the thumbnail's frame, when the view is
rendered (never when the series is made), downsampled to at most
:data:`~pipeline._thumbnail.MAX_SIDE` pixels a side.
:meth:`pipeline.series.ImageSeries._repr_html_` calls :func:`repr_html` with
the series taken apart (its :class:`~pipeline.plan.Plan` and its dask chunk).
"""

from __future__ import annotations

import html
from typing import Any

from pipeline import _thumbnail, graph
from pipeline._selection import SeriesLike
from pipeline.errors import OmegaSeriesError
from pipeline.plan import Plan
from pipeline.wedges import OMEGA_KEY, check_omega, find_wedges

WEDGE_TOL = 1.0e-6
"""Steps within this many degrees of each other belong to one wedge (as hexrd's)."""

_STYLE = (
    "<style>.lazyseries-repr{display:flex;gap:16px;align-items:flex-start;font-size:90%}"
    ".lazyseries-repr table{border-collapse:collapse}"
    ".lazyseries-repr th{text-align:right;padding:2px 10px 2px 0;font-weight:600;"
    "vertical-align:top;white-space:nowrap}.lazyseries-repr td{text-align:left;padding:2px 0}"
    ".lazyseries-repr code{white-space:pre-wrap}"
    ".lazyseries-repr figure{margin:0;text-align:center}"
    ".lazyseries-repr figure img{image-rendering:pixelated;border:1px solid rgba(128,128,128,.5)}"
    ".lazyseries-repr figcaption{font-size:85%;opacity:.75}"
    ".lazyseries-repr ol{margin:0;padding-left:1.4em}"
    ".lazyseries-repr table.wedges td,.lazyseries-repr table.wedges th{padding:0 8px 0 0;"
    "text-align:right;font-weight:normal}</style>"
)

MAX_WEDGES = 8
"""Wedges listed in the view; the rest are counted."""

THUMB_DISPLAY = 160
"""CSS pixels of the thumbnail's longest side: small frames are shown enlarged, pixelated."""


def _source_text(desc: dict[str, Any]) -> str:
    fmt = desc.get("format", "?")
    rest = ", ".join(f"{k}={v!r}" for k, v in desc.items() if k != "format")
    return f"{fmt} ({rest})" if rest else str(fmt)


def _shape_text(shape: tuple[int, ...]) -> str:
    return " \u00d7 ".join(str(n) for n in shape)


def op_steps(work: Plan) -> list[tuple[str, str]]:
    """``(op, frame after it)`` for each op of the chain, shapes folded from the source's spec."""
    source, _, chain, _ = work
    spec, steps = source.spec, []
    for op in chain:
        spec = op.resolve(spec)
        steps.append((repr(op), f"{_shape_text(spec.shape)} {spec.dtype}"))
    return steps


def storage_text(source: SeriesLike) -> str:
    """How the source stores its frames: chunks, and the shards holding them, or in memory."""
    chunks = source.storage_chunks
    if chunks is None:
        return "in memory" if source.in_memory else "not chunked (read a frame at a time)"
    text = f"{source.description().get('format', '')} chunks {_shape_text(chunks)}".lstrip()
    stored = source.frame_chunk
    if stored is not None and stored > chunks[0]:  # objects of several chunks: shards
        text += f" in shards {_shape_text((stored, *source.shape))}"
    return text


def omega_rows(series: SeriesLike) -> list[tuple[str, str]]:
    """The omega range and wedges of a series with valid omega metadata, else nothing."""
    if OMEGA_KEY not in series.metadata:
        return []
    try:
        om = check_omega(series.metadata[OMEGA_KEY], len(series))
    except OmegaSeriesError as err:
        return [("omega", f"not usable: {err}")]
    if len(series) == 0:
        return []
    wedge_om, wedge_f = find_wedges(om, WEDGE_TOL)
    n = len(wedge_f)
    rows = [("omega", (f"{om[:, 0].min():g}\u00b0 to {om[:, 1].max():g}\u00b0 in "
                       f"{n} wedge{'s' if n != 1 else ''}"))]
    shown = min(n, MAX_WEDGES)
    rows.append(("wedges", "; ".join(
        f"{ostart:g}\u00b0\u2192{ostop:g}\u00b0 in {int(nsteps)} steps of {delta:g}\u00b0"
        for (ostart, ostop, delta), (_, nsteps) in zip(wedge_om[:shown], wedge_f[:shown]))
        + (f"; and {n - shown} more" if n > shown else "")))
    return rows


def summary(series: SeriesLike, work: Plan, size: int, kind: str | None = None
            ) -> list[tuple[str, str]]:
    """``(label, text)`` rows describing ``series``, which does ``work`` in dask chunks of
    ``size`` frames; ``kind`` names it (default: its class)."""
    from dask.utils import format_bytes

    source, frames, chain, spec = work
    rows = [("type", kind or type(series).__name__),
            ("source", _source_text(source.description()))]
    if chain:
        rows.append(("ops", " \u2192 ".join(op for op, _ in op_steps(work))))
    selected = f" (selected from {len(source)})" if frames is not None else ""
    rows.append(("frames", f"{len(series)}{selected}"))
    rows.append(("frame shape", _shape_text(spec.shape)))
    rows.append(("dtype", str(spec.dtype)))
    rows.append(("axes", series.axes))
    rows.append(("storage chunks", storage_text(source)))
    nchunks = len(graph.chunk_bounds(len(series), size))
    per = min(size, len(series))
    rows.append(("dask chunks", (f"{nchunks} chunk{'s' if nchunks != 1 else ''} of up to "
                                 f"{_shape_text((per, *spec.shape))}, one task each")))
    rows.append(("size", format_bytes(series.nbytes)))
    return rows + omega_rows(series)


def thumbnail(series: Any) -> tuple[str, int, tuple[int, int]] | None:
    """``(PNG data URI, frame index, (h, w))`` of the middle frame, or None for no frames.

    Reads that one frame (through the chain, as ``series[j]`` does) and nothing else.
    """
    if len(series) == 0:
        return None
    j = len(series) // 2
    image = _thumbnail.picture(series[j], series.axes[1:])
    return _thumbnail.data_uri(image), j, image.shape[:2]


def _figure(series: Any) -> str:
    try:
        thumb = thumbnail(series)
    except Exception as err:  # noqa: BLE001  (a view must render even when a frame cannot be read)
        return (f"<figure><figcaption>no preview: {html.escape(type(err).__name__)}: "
                f"{html.escape(str(err)[:200])}</figcaption></figure>")
    if thumb is None:
        return ""
    uri, j, (h, w) = thumb
    scale = THUMB_DISPLAY / max(h, w)
    return (f'<figure><img src="{uri}" width="{round(w * scale)}" height="{round(h * scale)}" '
            f'alt="frame {j}"><figcaption>frame {j} of {len(series)}</figcaption></figure>')


def _cell(label: str, text: str, work: Plan) -> str:
    if label == "ops":
        items = "".join(f"<li><code>{html.escape(op)}</code> \u2192 <code>{html.escape(out)}"
                        "</code></li>" for op, out in op_steps(work))
        return f"<ol>{items}</ol>"
    return f"<code>{html.escape(text)}</code>"


def repr_html(series: SeriesLike, work: Plan, size: int, kind: str | None = None) -> str:
    """The HTML Jupyter shows for a series: a thumbnail, then the summary table (see
    :func:`summary` for the arguments)."""
    body = "".join(f"<tr><th>{html.escape(label)}</th><td>{_cell(label, text, work)}</td></tr>"
                   for label, text in summary(series, work, size, kind))
    return (f'{_STYLE}<div class="lazyseries-repr">{_figure(series)}'
            f"<table>{body}</table></div>")

__all__ = ["omega_rows", "op_steps", "repr_html", "storage_text", "summary", "thumbnail"]

"""How a series looks in Jupyter: a compact HTML summary, the way dask arrays show theirs.

Nothing is computed to render it: the source's description, the op chain,
the number of frames, one frame's shape and dtype, and the chunks of the dask
array the series would become.
"""

from __future__ import annotations

import html
from typing import Any

_STYLE = (
    "<style>.lazyseries-repr table{border-collapse:collapse;font-size:90%}"
    ".lazyseries-repr th{text-align:right;padding:1px 8px 1px 0;font-weight:600;"
    "vertical-align:top}.lazyseries-repr td{text-align:left;padding:1px 0}"
    ".lazyseries-repr code{white-space:pre-wrap}</style>"
)


def _source_text(desc: dict[str, Any]) -> str:
    fmt = desc.get("format", "?")
    rest = ", ".join(f"{k}={v!r}" for k, v in desc.items() if k != "format")
    return f"{fmt} ({rest})" if rest else str(fmt)


def summary(series: Any) -> list[tuple[str, str]]:
    """``(label, text)`` rows describing ``series``; shared by the HTML view and tests."""
    from dask.utils import format_bytes

    from pipeline import graph
    from pipeline.processed import plan

    source, frames, chain, spec = plan(series)
    rows = [("type", type(series).__name__), ("source", _source_text(source.description()))]
    if chain:
        rows.append(("ops", " \u2192 ".join(repr(op) for op in chain)))
    selected = f" (selected from {len(source)})" if frames is not None else ""
    rows.append(("frames", f"{len(series)}{selected}"))
    rows.append(("frame shape", " \u00d7 ".join(str(n) for n in spec.shape)))
    rows.append(("dtype", str(spec.dtype)))
    size = graph.frames_per_chunk(series)  # what to_dask() would use, without building it
    nchunks = len(graph.chunk_bounds(len(series), size))
    rows.append(("chunks", f"{nchunks} chunks of up to {min(size, len(series))} frames"))
    rows.append(("size", format_bytes(series.nbytes)))
    return rows


def repr_html(series: Any) -> str:
    """The HTML Jupyter shows for a series."""
    body = "".join(
        f"<tr><th>{html.escape(label)}</th><td><code>{html.escape(text)}</code></td></tr>"
        for label, text in summary(series)
    )
    return f'{_STYLE}<div class="lazyseries-repr"><table>{body}</table></div>'


__all__ = ["repr_html", "summary"]

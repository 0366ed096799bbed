"""Draw the benchmark figure of the documentation from benchmarks/README.md.

The figures are the ones recorded in benchmarks/README.md, section "The full suite on a quiet
machine": each bar is the first bold ratio of the table row named below, drawn against the
row's target.  A row that is renamed or loses its ratio stops the docs build, naming it, so
the plot never shows a figure the README no longer holds.  Run by ``notebooks/conf.py`` when
the site is built; ``python notebooks/_build_figures.py OUTDIR`` draws it by hand.
"""

from __future__ import annotations

import pathlib
import re
import sys

README = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "README.md"
SECTION = "### The full suite on a quiet machine"

# (start of the row's first cell, label on the plot, target ratio, what the ratio compares)
ROWS = [
    ("large end to end", "write 200 x 2048², dark → flip → crop", 1.10, "codec floor"),
    ("small end to end", "write 5000 x 128²", 1.20, "codec floor"),
    ("raw `s[j]`, small", "read one 128² frame", 1.5, "h5py"),
    ("raw `s[j]`, large", "read one 2048² frame", 1.2, "h5py"),
    ("stats, 200 x 1024²", "stats.max over 200 x 1024²", 1.0, "hexrd's loop"),
    ("memory, large run", "peak memory of the large write", 1.5, "codec floor"),
]


def figures(text: str) -> list[tuple[str, float, float, str]]:
    """The (label, ratio, target, reference) of each row of ROWS, read from the README's text."""
    try:
        section = text.split(SECTION, 1)[1].split("\n### ", 1)[0]
    except IndexError:
        raise SystemExit(f"{README}: no section {SECTION!r}; update notebooks/_build_figures.py")
    found = []
    for start, label, target, reference in ROWS:
        row = next((line for line in section.splitlines() if line.startswith(f"| {start}")), None)
        ratio = re.search(r"\*\*(\d+(?:\.\d+)?)x\*\*", row or "")
        if ratio is None:
            raise SystemExit(f"{README}: no row {start!r} with a bold ratio (**1.00x**) in "
                             f"{SECTION!r}; update notebooks/_build_figures.py")
        found.append((label, float(ratio.group(1)), target, reference))
    return found


def main(outdir: pathlib.Path) -> pathlib.Path:
    """Write ``benchmarks.png`` into ``outdir`` and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = figures(README.read_text(encoding="utf-8"))
    outdir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 3.6), layout="constrained")
    y = range(len(rows))
    ratios = [r[1] for r in rows]
    colors = ["#2b7bba" if r[1] <= r[2] else "#d9822b" for r in rows]
    ax.barh(y, ratios, color=colors, height=0.6)
    ax.scatter([r[2] for r in rows], y, marker="|", s=400, color="black", zorder=3)
    for j, (_, ratio, target, reference) in enumerate(rows):
        ax.text(max(ratio, target) + 0.04, j, f"{ratio:.2f}x {reference} (target {target:g}x)",
                va="center", fontsize=9)
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(list(y), [r[0] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, max(max(ratios), max(r[2] for r in rows)) * 1.9)
    ax.set_xlabel("time (or memory) of lazyseries / the reference: lower is better; | target")
    ax.spines[["top", "right"]].set_visible(False)
    out = outdir / "benchmarks.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")))

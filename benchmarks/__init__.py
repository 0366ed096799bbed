"""Side-by-side speed and memory figures for lazyseries: ``python -m benchmarks``.

Each benchmark is a module with ``NAME`` and ``run(ctx) -> Report``; the suite
builds its own synthetic data, runs the competitors of each benchmark in one
process, interleaved, and reports medians and ratios (see ``benchmarks/README.md``).
"""

from __future__ import annotations

BENCHMARKS: tuple[str, ...] = (
    "end_to_end_large",
    "end_to_end_small",
    "random_access",
    "stats_speed",
    "graph_scale",
    "memory",
    "stats_memory",
    "pushdown",
    "cluster",
    "scaling",
    "codecs",
    "detector_reads",
    "ome_levels",
    "video",
    "pickle_size",
    "hexrd_reads",
    "object_store",
    "live",
)
"""Benchmark names, in the order they run; each is the module ``benchmarks.<name>``."""

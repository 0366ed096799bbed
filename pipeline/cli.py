"""The ``lazyseries`` command line (also ``python -m pipeline``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np


def demo(out: str, nframes: int = 64, size: int = 256, overwrite: bool = False) -> int:
    """Process the built-in synthetic series (dark, flip, crop), write it to Zarr, reopen it."""
    import pipeline

    raw = pipeline.synthetic(nframes, (size, size))
    dark = raw.metadata["dark"]
    half = size // 4
    ps = raw.process([("dark", dark), ("flip", "v"),
                      ("rectangle", ((half, size - half), (half, size - half)))])
    stored = pipeline.write(ps, out, overwrite=overwrite)
    reopened = pipeline.open(out)
    same = all(np.array_equal(reopened[j], ps[j]) for j in (0, len(ps) // 2, len(ps) - 1))
    print(f"source:    {raw!r}")
    print(f"ops:       {', '.join(repr(op) for op in ps.chain)}")
    print(f"wrote:     {out}")
    print(f"reopened:  {len(reopened)} frames of {reopened.shape} {reopened.dtype}, "
          f"chunks {stored.zarr_array.chunks}, shards {stored.zarr_array.shards}")
    print(f"metadata:  {sorted(reopened.metadata)}")
    print(f"frames match the processed series: {same}")
    return 0 if same else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lazyseries", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="process the built-in synthetic series into a Zarr store")
    p.add_argument("out", help="path of the Zarr store to write")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args.out, args.frames, args.size, args.overwrite)
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())

"""A small picture of one frame: downsampled, contrast-stretched, encoded as a PNG data URI.

The PNG is written here (zlib and a CRC are all it takes), so the view needs
no imaging library.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

from pipeline.errors import FrameShapeError

MAX_SIDE = 128
"""The thumbnail's longest side, in pixels, at most."""


def picture(frame: np.ndarray, axes: str, max_side: int = MAX_SIDE) -> np.ndarray:
    """``frame`` (axes ``...YX``) as a small uint8 image: ``(h, w)`` grey or ``(h, w, 3)`` colour."""
    data = np.asarray(frame)
    if data.dtype.kind == "c":
        data = np.abs(data)
    colour = len(axes) >= 3 and axes[-3] == "C" and data.shape[-3] in (3, 4)
    keep = 3 if colour else 2
    while data.ndim > keep:  # one plane of any other axis: the middle of Z, the first of others
        letter = axes[-data.ndim]
        data = data[data.shape[0] // 2 if letter == "Z" else 0]
    if colour:
        data = np.moveaxis(data[:3], 0, -1)
    # a large frame is thinned by striding before averaging, so no float copy of it is made
    step = max(1, max(data.shape[:2]) // (4 * max_side))
    small = downsample(data[::step, ::step].astype(np.float64), max_side)
    if colour and frame.dtype == np.uint8:
        return small.round().astype(np.uint8)  # an RGB picture is shown as it is
    return stretch(small)


def downsample(data: np.ndarray, max_side: int) -> np.ndarray:
    """Block means over ``factor x factor`` pixels so that the longest side is at most ``max_side``."""
    rows, cols = data.shape[:2]
    factor = max(1, -(-max(rows, cols) // max_side))
    if factor == 1:
        return data
    rows, cols = rows // factor * factor, cols // factor * factor
    blocks = data[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor,
                                        *data.shape[2:])
    with np.errstate(invalid="ignore"):
        return np.nanmean(blocks, axis=(1, 3)) if np.isnan(blocks).any() else blocks.mean((1, 3))


def stretch(data: np.ndarray) -> np.ndarray:
    """The 0.5 to 99.5 percentile range mapped onto 0 to 255 (robust to hot pixels)."""
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return np.zeros(data.shape, np.uint8)
    lo, hi = np.percentile(finite, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1
    scaled = np.clip((np.nan_to_num(data, nan=lo) - lo) / (hi - lo), 0, 1)
    return (scaled * 255).round().astype(np.uint8)


def png(image: np.ndarray) -> bytes:
    """``image`` (uint8, ``(h, w)`` grey or ``(h, w, 3)`` RGB) as PNG file bytes."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise FrameShapeError(f"a PNG here is uint8 (h, w) or (h, w, 3), not {image.dtype} "
                              f"{image.shape}")
    rows, cols = image.shape[:2]
    colour_type = 2 if image.ndim == 3 else 0
    raw = np.zeros((rows, 1 + image[0].size), np.uint8)  # filter byte 0 (none) on every row
    raw[:, 1:] = image.reshape(rows, -1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", cols, rows, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))


def data_uri(image: np.ndarray) -> str:
    """``image`` as a PNG ``data:`` URI, for an ``<img src=...>`` in the HTML view."""
    return "data:image/png;base64," + base64.b64encode(png(image)).decode("ascii")


__all__ = ["MAX_SIDE", "data_uri", "downsample", "picture", "png", "stretch"]

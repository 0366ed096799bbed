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
    small = downsample(data, max_side)
    if colour and frame.dtype == np.uint8:
        return small  # an RGB picture is shown as it is
    return stretch(small)


def downsample(data: np.ndarray, max_side: int) -> np.ndarray:
    """Block maxima over ``factor x factor`` pixels so that the longest side is at most
    ``max_side`` (NaN ignored): a bright spot of one pixel stays in the picture, where a
    mean would dilute it into the background.  Works in the frame's dtype (no float copy)."""
    rows, cols = data.shape[:2]
    factor = max(1, -(-max(rows, cols) // max_side))
    if factor == 1:
        return data
    # the last partial blocks keep their pixels: padded with NaN (floats) or the lowest value
    pad = [(0, -rows % factor), (0, -cols % factor)] + [(0, 0)] * (data.ndim - 2)
    fill = np.nan if data.dtype.kind == "f" else data.min()
    padded = np.pad(data, pad, constant_values=fill)
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor,
                            *data.shape[2:])
    return np.fmax.reduce(np.fmax.reduce(blocks, axis=3), axis=1)


SPARSE_RATIO = 4.0
"""A frame whose maximum lies more than this many times the 0.5-99.5 percentile spread above
the 0.5 percentile holds sparse bright features (diffraction spots, beads): it is shown on a
logarithmic scale, so that both they and the background show."""


def stretch(data: np.ndarray) -> np.ndarray:
    """``data`` as 0 to 255, robust to hot pixels and to sparse bright spots.

    The 0.5 to 99.5 percentile range is mapped linearly onto 0 to 255; when the
    brightest value lies far above that range (:data:`SPARSE_RATIO`), a few
    bright pixels would then be all that is white and a linear map up to them
    would leave the rest black, so the range from the 0.5 percentile to the
    maximum is mapped logarithmically instead.
    """
    values = np.asarray(data, np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, np.uint8)
    lo, hi = np.percentile(finite, [0.5, 99.5])
    top = finite.max()
    shifted = np.nan_to_num(values, nan=lo, posinf=top, neginf=lo) - lo
    if top - lo > SPARSE_RATIO * (hi - lo):
        soft = max(hi - lo, 1.0) / 10  # the bulk up to the 99.5 percentile: about a fifth
        scaled = np.log1p(np.clip(shifted, 0, None) / soft) / np.log1p((top - lo) / soft)
    else:
        scaled = np.clip(shifted / (hi - lo if hi > lo else 1.0), 0, 1)
    return (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8)


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

"""Neighbourhood filters (optional dependency: scipy)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ops.optional import require
from ops.registry import FrameSpec, OpKind, param_error

TRUNCATE = 4.0
"""scipy's default truncation: the kernel reaches ``TRUNCATE * sigma`` pixels out."""


def _parse_sigma(sigma: Any) -> float | tuple[float, float]:
    try:
        values = np.atleast_1d(np.asarray(sigma, dtype=object))
    except ValueError:  # a ragged nest
        values = np.empty((0, 0), dtype=object)
    ok = values.ndim == 1 and len(values) in (1, 2) and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)
        and np.isfinite(float(v)) and float(v) > 0 for v in values
    )
    if not ok:
        raise param_error(
            "gauss_laplace", f"sigma must be a positive finite number or a (rows, cols) pair "
            f"of them, got {sigma!r:.80}"
        )
    floats = [float(v) for v in values]
    return floats[0] if len(floats) == 1 else (floats[0], floats[1])


def _validate_sigma(sigma: float | tuple[float, float], spec: FrameSpec) -> Any:
    # a kernel wider than the frame filters nothing more, and a huge one never finishes
    longest = max(spec.shape[-2:])
    for value in np.atleast_1d(sigma):
        if value * TRUNCATE > longest:
            raise param_error(
                "gauss_laplace", f"sigma {sigma!r} is too large for frames of shape "
                f"{spec.shape}: sigma * {TRUNCATE:g} (the kernel's reach) must not exceed "
                f"the frame's longer side, so sigma <= {longest / TRUNCATE:g}"
            )
    return sigma


def _float_dtype(dtype: np.dtype) -> np.dtype:
    return dtype if dtype.kind == "f" else np.dtype(np.float32)


def gauss_laplace(block: np.ndarray, sigma: float | tuple[float, float]) -> np.ndarray:
    """scipy's Gaussian-Laplace filter on each frame (rows and columns only).

    Integer frames are filtered in float32: the result is signed and would wrap
    around in the frame's own dtype.
    """
    ndimage = require("scipy.ndimage", "scipy", "the gauss_laplace op")
    data = block.astype(_float_dtype(block.dtype), copy=False)
    return ndimage.gaussian_laplace(data, sigma, axes=(-2, -1), truncate=TRUNCATE)


GAUSS_LAPLACE = OpKind(
    "gauss_laplace",
    gauss_laplace,
    parse=_parse_sigma,
    validate=_validate_sigma,
    resolve=lambda sigma, spec: FrameSpec(spec.shape, _float_dtype(spec.dtype)),
    doc=gauss_laplace.__doc__ or "",
)

"""Neighbourhood filters (optional dependency: scipy)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ops._compat import require
from ops.registry import FrameSpec, OpKind, param_error


def _parse_sigma(sigma: Any) -> float | tuple[float, float]:
    values = np.atleast_1d(np.asarray(sigma, dtype=object))
    try:
        floats = [float(v) for v in values]
    except (TypeError, ValueError):
        floats = []
    if values.ndim != 1 or len(floats) not in (1, 2) or not all(f > 0 for f in floats):
        raise param_error(
            "gauss_laplace", f"sigma must be a positive number or a (rows, cols) pair, got {sigma!r}"
        )
    return floats[0] if len(floats) == 1 else (floats[0], floats[1])


def _float_dtype(dtype: np.dtype) -> np.dtype:
    return dtype if dtype.kind == "f" else np.dtype(np.float32)


def gauss_laplace(block: np.ndarray, sigma: float | tuple[float, float]) -> np.ndarray:
    """scipy's Gaussian-Laplace filter on each frame (rows and columns only).

    Integer frames are filtered in float32: the result is signed and would wrap
    around in the frame's own dtype.
    """
    ndimage = require("scipy.ndimage", "scipy", "the gauss_laplace op")
    data = block.astype(_float_dtype(block.dtype), copy=False)
    return ndimage.gaussian_laplace(data, sigma, axes=(-2, -1))


GAUSS_LAPLACE = OpKind(
    "gauss_laplace",
    gauss_laplace,
    parse=_parse_sigma,
    resolve=lambda sigma, spec: FrameSpec(spec.shape, _float_dtype(spec.dtype)),
    doc=gauss_laplace.__doc__ or "",
)

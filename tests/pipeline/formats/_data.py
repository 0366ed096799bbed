"""Frames and metadata shared by the format tests."""

from __future__ import annotations

import os

import numpy as np

META = {"omega": np.linspace(0.0, 3.0, 12).reshape(6, 2), "name": "scan"}


def frames(n: int = 6, shape: tuple[int, ...] = (20, 30), dtype: str = "uint16") -> np.ndarray:
    """Dense frames with real spread."""
    return np.random.default_rng(11).integers(0, 4000, (n, *shape)).astype(dtype)


def sparse_frames(n: int = 6, shape: tuple[int, int] = (20, 30)) -> np.ndarray:
    """Frames that are mostly zero, as frame caches hold them."""
    out = frames(n, shape)
    out[out < 3400] = 0
    return out


def siblings(path: os.PathLike[str] | str) -> list[str]:
    """Everything in the directory of ``path`` (to see that a failed write left nothing)."""
    return sorted(os.listdir(os.path.dirname(os.fspath(path))))


class Exploding:
    """A frame function that fails at frame ``bad``: a write that dies half way."""

    def __init__(self, data: np.ndarray, bad: int) -> None:
        self.data, self.bad = data, bad

    def __call__(self, j: int) -> np.ndarray:
        if j == self.bad:
            raise RuntimeError(f"frame {j} cannot be made")
        return self.data[j]

"""A synthetic detector: realistic example frames, reproducible from a seed.

Each frame is a fixed dark level with fixed-pattern noise, Poisson background
counts, and a few Gaussian diffraction spots that light up over a range of
frames, the way spots do while a crystal rotates through them.  The frames
have real entropy, so codecs and benchmarks see what a detector gives them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from pipeline.errors import OptionValueError
from pipeline.formats.function import FunctionSeries


@dataclasses.dataclass(frozen=True)
class SyntheticDetector:
    """The frame generator behind :func:`synthetic`; picklable, so it runs on workers."""

    nframes: int = 64
    shape: tuple[int, int] = (256, 256)
    seed: int = 0
    nspots: int = 12
    background: float = 8.0
    dark_level: int = 100
    spot_sigma: float = 2.5
    spot_peak: float = 2000.0
    omega_step: float = 0.25

    @property
    def dark(self) -> np.ndarray:
        """The true dark frame (uint16): what a dark subtraction should remove."""
        rng = np.random.default_rng((self.seed, 0xDA4C))
        pattern = rng.normal(0.0, 3.0, self.shape)
        return np.clip(np.rint(self.dark_level + pattern), 0, None).astype(np.uint16)

    def _spots(self) -> np.ndarray:
        rng = np.random.default_rng((self.seed, 0x5907))
        rows = rng.uniform(0, self.shape[0], self.nspots)
        cols = rng.uniform(0, self.shape[1], self.nspots)
        centre = rng.uniform(0, max(self.nframes, 1), self.nspots)
        width = rng.uniform(1.0, 4.0, self.nspots)
        peak = rng.uniform(0.2, 1.0, self.nspots) * self.spot_peak
        return np.stack([rows, cols, centre, width, peak], axis=1)

    def __call__(self, j: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, int(j)))
        frame = rng.poisson(self.background, self.shape).astype(np.float64)
        half = int(np.ceil(4 * self.spot_sigma))
        for row, col, centre, width, peak in self._spots():
            amplitude = peak * np.exp(-0.5 * ((j - centre) / width) ** 2)
            if amplitude < 1.0:
                continue
            r0, r1 = max(int(row) - half, 0), min(int(row) + half + 1, self.shape[0])
            c0, c1 = max(int(col) - half, 0), min(int(col) + half + 1, self.shape[1])
            rr, cc = np.ogrid[r0:r1, c0:c1]
            blob = amplitude * np.exp(-((rr - row) ** 2 + (cc - col) ** 2) / (2 * self.spot_sigma**2))
            frame[r0:r1, c0:c1] += rng.poisson(blob)
        frame += self.dark
        return np.clip(frame, 0, np.iinfo(np.uint16).max).astype(np.uint16)

    def omega(self) -> np.ndarray:
        """Rotation angles, one ``(start, stop)`` pair per frame, in degrees."""
        start = np.arange(self.nframes) * self.omega_step
        return np.stack([start, start + self.omega_step], axis=1)


def synthetic(
    nframes: int = 64, shape: tuple[int, int] = (256, 256), seed: int = 0, **options: Any
) -> FunctionSeries:
    """The built-in example series: a synthetic detector of ``nframes`` uint16 frames.

    Frames are generated on demand (none is held in memory) and are the same
    for the same arguments.  ``metadata`` holds ``omega`` and the true
    ``dark`` frame.  Other options are :class:`SyntheticDetector` fields.
    """
    sizes = {"nframes": nframes, "seed": seed, **{f"shape[{k}]": n for k, n in enumerate(
        shape if isinstance(shape, tuple | list) else [shape])}}
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise OptionValueError(f"synthetic: {name} must be a whole number >= 0, got "
                                   f"{value!r:.80}")
    if len(sizes) != 4:
        raise OptionValueError(f"synthetic: shape must be (rows, cols), got {shape!r:.80}")
    det = SyntheticDetector(nframes=nframes, shape=tuple(shape), seed=seed, **options)  # type: ignore[arg-type]
    meta = {"omega": det.omega(), "dark": det.dark, "source": "synthetic detector", "seed": seed}
    return FunctionSeries(det, nframes, det.shape, np.uint16, meta)

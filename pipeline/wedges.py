"""Rotation angles: checking a series' ``omega`` metadata and finding its wedges.

``metadata["omega"]`` holds one ``(start, stop)`` pair of angles (degrees)
per frame; a wedge is a run of frames of equal steps with no gap between them.
:class:`pipeline.omega.OmegaImageSeries` answers questions about them, and the
notebook view of any series with omega metadata shows its wedges.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.errors import OmegaSeriesError

OMEGA_KEY = "omega"


def check_omega(omega: Any, nframes: int) -> np.ndarray:
    """``omega`` as a float64 ``(nframes, 2)`` array of start and stop angles, checked."""
    if omega is None:
        raise OmegaSeriesError(
            "the series has no omega metadata; set metadata['omega'] to an (nframes, 2) "
            "array of start and stop angles (OmegaWedges(nframes).omegas builds one)"
        )
    try:
        arr = np.array(omega, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise OmegaSeriesError(f"omega metadata {omega!r:.80} is not numeric") from exc
    if arr.shape != (nframes, 2):
        raise OmegaSeriesError(
            f"omega metadata has shape {arr.shape}; expected ({nframes}, 2), one (start, stop) "
            "pair per frame (an omega array mismatch)"
        )
    if not np.isfinite(arr).all():
        raise OmegaSeriesError("omega metadata holds NaN or infinite angles")
    bad = np.flatnonzero(arr[:, 1] <= arr[:, 0])
    if bad.size:
        raise OmegaSeriesError(
            f"omega must be increasing within each frame; frame {int(bad[0])} runs from "
            f"{float(arr[bad[0], 0])!r} to {float(arr[bad[0], 1])!r}"
        )
    return arr


def find_wedges(om: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """``(ostart, ostop, delta)`` and ``(first frame, nsteps)`` of each wedge."""
    if len(om) == 0:
        return np.zeros((0, 3)), np.zeros((0, 2), dtype=int)
    step = om[:, 1] - om[:, 0]
    breaks = (np.abs(np.diff(step)) > tol) | (np.abs(om[1:, 0] - om[:-1, 1]) > tol)
    starts = np.concatenate(([0], np.flatnonzero(breaks) + 1, [len(om)])).astype(int)
    first, stop = starts[:-1], starts[1:]
    ostart, ostop = om[first, 0], om[stop - 1, 1]
    nsteps = stop - first
    wedge_om = np.stack([ostart, ostop, (ostop - ostart) / nsteps], axis=1)
    return wedge_om, np.stack([first, nsteps], axis=1)


__all__ = ["OMEGA_KEY", "check_omega", "find_wedges"]

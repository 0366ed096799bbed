"""Rotation-angle (omega) metadata: wedges of frames and the frames at an angle.

hexrd's ``imageseries.omega``: :class:`OmegaImageSeries` reads
``metadata["omega"]``, one ``(start, stop)`` pair in degrees per frame, and
splits the frames into wedges wherever the step changes or the ranges stop
being contiguous; :class:`OmegaWedges` builds such an array from wedges.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ops import Region
from pipeline import display, graph
from pipeline.errors import OmegaSeriesError, OptionValueError
from pipeline.formats.live.growth import live_source
from pipeline.series import FrameSelection, ImageSeries, as_series, counted, plan_of
from pipeline.wedges import OMEGA_KEY, check_omega, find_wedges

if TYPE_CHECKING:
    import dask.array as da

__all__ = ["OMEGA_KEY", "OmegaImageSeries", "OmegaSeriesError", "OmegaWedges"]



class OmegaImageSeries(ImageSeries):
    """A series whose frames carry rotation angles, organised in wedges.

    Parameters
    ----------
    series
        Any series (processed, sliced, reopened) with ``metadata["omega"]``
        of shape ``(len(series), 2)``: each frame's start and stop angle in
        degrees, ``stop > start``.  A live series' omegas cover the frames it
        announced, which the wedges then describe while it grows.  Frames are
        read from ``series``, so an omega series processes, slices (frame
        lists carry their omegas), goes through dask and writes to Zarr like
        the series it wraps.

    Raises
    ------
    OmegaSeriesError
        When the omega metadata is missing, of the wrong shape, not finite,
        or not increasing within a frame.
    """

    DFLT_TOL = 1.0e-6
    TAU = 360.0

    def __init__(self, series: ImageSeries) -> None:
        self._series = series = as_series(series)
        live = live_source(series)  # a live series' omegas cover the frames it announced
        count = len(series) if live is None or live.expected is None else live.expected
        self._omega = check_omega(series.metadata.get(OMEGA_KEY), count)
        self._omega.flags.writeable = False
        self._wedge_om, self._wedge_f = find_wedges(self._omega, self.DFLT_TOL)

    # -- the series interface, read from the wrapped series ----------------------------

    def __len__(self) -> int:
        return len(self._series)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._series.shape

    @property
    def dtype(self) -> np.dtype:
        return self._series.dtype

    @property
    def metadata(self) -> dict[str, Any]:
        return self._series.metadata

    @property
    def frame_chunk(self) -> int | None:
        return self._series.frame_chunk

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        return self._series.read(frames, region)

    @property
    def closed(self) -> bool:
        return self._series.closed

    def close(self) -> None:
        """Close the wrapped series."""
        self._series.close()

    def to_dask(self, frames_per_chunk: int | None = None) -> da.Array:
        # the wrapped series' own graph: its fused chain, its chunking
        return self._series.to_dask(frames_per_chunk)

    def _dask_token(self) -> str:
        return self._series.__dask_tokenize__()

    def _repr_html_(self) -> str:
        # the wrapped series' source and chain, under this series' own name
        work = plan_of(self._series)
        return display.repr_html(self, work, graph.frames_per_chunk(self._series, work.source),
                                 f"{type(self).__name__} over {type(self._series).__name__}")

    def description(self) -> dict[str, Any]:
        return self._series.description()

    def source_paths(self) -> list[str]:
        return self._series.source_paths()

    @property
    def series(self) -> ImageSeries:
        """The wrapped series."""
        return self._series

    # -- omega ------------------------------------------------------------------------

    @property
    def omega(self) -> np.ndarray:
        """``(nframes, 2)`` start and stop angle of each frame (read-only)."""
        return self._omega

    @property
    def omegawedges(self) -> OmegaWedges:
        """The wedges as an :class:`OmegaWedges` (a new one each time)."""
        wedges = OmegaWedges(len(self))
        for (ostart, ostop, _), (_, nsteps) in zip(self._wedge_om, self._wedge_f):
            wedges.addwedge(float(ostart), float(ostop), int(nsteps))
        return wedges

    @property
    def nwedges(self) -> int:
        return len(self._wedge_f)

    def wedge(self, i: int) -> dict[str, Any]:
        """Wedge ``i`` as a new dict: ``ostart``, ``ostop``, ``nsteps``, ``delta``."""
        ostart, ostop, delta = self._wedge_om[i]
        return {"ostart": float(ostart), "ostop": float(ostop),
                "nsteps": int(self._wedge_f[i, 1]), "delta": float(delta)}

    def omega_to_frame(self, om: float) -> tuple[int, int]:
        """``(frame, wedge)`` holding angle ``om`` (taken modulo 360), ``(-1, -1)`` if none.

        A frame holds ``[start, stop)``; the first wedge containing the angle wins.
        """
        for w, ((omin, omax, delta), (f0, nsteps)) in enumerate(zip(self._wedge_om,
                                                                    self._wedge_f)):
            check = omin + np.mod(om - omin, self.TAU)
            if check < omax:
                # rounding must not carry an angle past its wedge's last frame
                step = min(int(np.floor((check - omin) / delta)), int(nsteps) - 1)
                return int(f0) + step, w
        return -1, -1

    def omegarange_to_frames(self, omin: float, omax: float) -> list[int] | tuple[()]:
        """Frames from the one holding ``omin`` to the one holding ``omax``, inclusive.

        Both ends in one wedge (``omax``'s frame not before ``omin``'s), or in
        two wedges where the first ends where the second starts modulo 360
        (a range across the 0/360 wrap).  Otherwise, or when an end is in no
        wedge, ``()`` as in hexrd (empty, and unequal to a list of frames).
        """
        f0, w0 = self.omega_to_frame(omin)
        f1, w1 = self.omega_to_frame(omax)
        if w0 < 0 or w1 < 0:
            return ()
        if w0 == w1 and f1 >= f0:
            return list(range(f0, f1 + 1))
        gap = np.mod(self._wedge_om[w1, 0] - self._wedge_om[w0, 1], self.TAU)
        if min(gap, self.TAU - gap) < self.DFLT_TOL:
            end0 = int(self._wedge_f[w0].sum())
            return list(range(f0, end0)) + list(range(int(self._wedge_f[w1, 0]), f1 + 1))
        return ()

    def __repr__(self) -> str:
        return (f"<OmegaImageSeries: {counted(len(self), 'frame')} of {self.shape} {self.dtype} in "
                f"{self.nwedges} wedge(s); over {self._series!r}>")


class OmegaWedges:
    """Piecewise-linear omega ranges: wedges of equal steps making an omega array.

    Parameters
    ----------
    nframes
        The number of frames the wedges must cover for :attr:`omegas`.
    """

    def __init__(self, nframes: int) -> None:
        if isinstance(nframes, bool) or not isinstance(nframes, int | np.integer) or nframes < 0:
            raise OptionValueError(f"nframes must be a whole number >= 0, got {nframes!r:.80}")
        self.nframes = int(nframes)
        self._wedges: list[dict[str, Any]] = []

    @property
    def wedges(self) -> list[dict[str, Any]]:
        """The wedges as dicts ``ostart``, ``ostop``, ``nsteps`` (copies)."""
        return [dict(w) for w in self._wedges]

    @property
    def nwedges(self) -> int:
        return len(self._wedges)

    @property
    def wframes(self) -> int:
        """Frames covered by the wedges."""
        return int(np.sum([w["nsteps"] for w in self._wedges], dtype=int))

    def addwedge(self, ostart: float, ostop: float, nsteps: int, loc: int | None = None) -> None:
        """Insert a wedge of ``nsteps`` equal frames from ``ostart`` to ``ostop`` at ``loc`` (end)."""
        if int(nsteps) <= 0 or not ostop > ostart:
            raise OmegaSeriesError(
                f"a wedge needs ostop > ostart and nsteps > 0, got ostart={ostart!r}, "
                f"ostop={ostop!r}, nsteps={nsteps!r}"
            )
        wedge = {"ostart": ostart, "ostop": ostop, "nsteps": int(nsteps)}
        self._wedges.insert(self.nwedges if loc is None else loc, wedge)

    def delwedge(self, i: int) -> None:
        """Remove wedge ``i``."""
        self._wedges.pop(i)

    @property
    def omegas(self) -> np.ndarray:
        """``(nframes, 2)`` start and stop angle per frame.

        Raises :class:`OmegaSeriesError` when the wedges do not cover exactly
        ``nframes`` frames.
        """
        if self.nframes != self.wframes:
            raise OmegaSeriesError(
                f"the wedges cover {self.wframes} frames, which does not match nframes "
                f"{self.nframes}; add or remove wedges (or steps) until they match"
            )
        out = np.zeros((self.nframes, 2))
        start = 0
        for w in self._wedges:
            edges = np.linspace(w["ostart"], w["ostop"], w["nsteps"] + 1)
            out[start:start + w["nsteps"], 0] = edges[:-1]
            out[start:start + w["nsteps"], 1] = edges[1:]
            start += w["nsteps"]
        return out

    def save_omegas(self, fname: str | os.PathLike[str]) -> None:
        """Save :attr:`omegas` with ``numpy.save``."""
        np.save(fname, self.omegas)

    def __repr__(self) -> str:
        return f"<OmegaWedges: {self.nwedges} wedge(s), {self.wframes} of {self.nframes} frames>"

"""Conformance classes and hypothesis strategies for testing formats, ops and series.

The laws the project's own formats, ops and series pass, shipped so that a
third-party format, op or series is tested with the same ones (as
``zarr.testing`` does for stores).  Subclass a class in a pytest module and
say what is under test:

- :class:`SeriesConformance`: any series (``make(tmp_path)`` returns the
  series, its frames as numpy and its metadata);
- :class:`OpConformance`: a registered op (``name``, ``params``,
  ``bad_params``, a numpy ``reference``);
- :class:`FormatConformance`: a :class:`pipeline.formats.Format` (``format``;
  ``sample`` for one that does not write), and the series laws on what it opens;
- :class:`StoreConformance`: a storage backend (``root(tmp_path)`` returns an
  empty :class:`pipeline.storage.Location` of it).

:mod:`pipeline.testing.slurm` starts a real one-node Slurm batch system on this machine
(munged, slurmctld, slurmd from Debian's packages; root only) for tests and
benchmarks of batch clusters, and ends exactly the processes it started.
:mod:`pipeline.testing.strategies` holds hypothesis strategies (frame specs,
dtypes and shapes, blocks of frames, regions, chains of built-in ops) for
fuzzing.  pytest and hypothesis come with ``pip install 'lazyseries[testing]'``;
the rest of the package never imports them, nor this package.
"""

from __future__ import annotations

from pipeline.testing.formats import FormatConformance
from pipeline.testing.ops import NUMPY_FLIPS, OpConformance, frames_of, random_region
from pipeline.testing.series import SeriesConformance
from pipeline.testing.storage import StoreConformance

__all__ = ["NUMPY_FLIPS", "FormatConformance", "OpConformance", "SeriesConformance",
           "StoreConformance", "frames_of", "random_region"]

"""ProcessedImageSeries: a series plus a chain of ops, evaluated lazily.

The class lives with the series interface that makes it
(:class:`pipeline.series.ProcessedImageSeries`); this is its long-standing
module name.
"""

from __future__ import annotations

from pipeline.series import ProcessedImageSeries

__all__ = ["ProcessedImageSeries"]

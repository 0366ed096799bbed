"""hexrd's module name for the processed series: ``from pipeline.process import ProcessedImageSeries``."""

from pipeline.processed import ProcessedImageSeries

__all__ = ["ProcessedImageSeries"]

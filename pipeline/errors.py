"""Every error the framework raises, each refining the built-in a caller would catch."""

from __future__ import annotations

from ops.errors import OpParameterError, OpResultError, OpUnavailableError, UnknownOpError

__all__ = [
    "FrameIndexError",
    "FrameSelectionError",
    "IncompleteStoreError",
    "MissingDependencyError",
    "NotASeriesError",
    "NotMyFormat",
    "OmegaSeriesError",
    "OpParameterError",
    "OpResultError",
    "OpUnavailableError",
    "PipelineFileError",
    "ReadOnlyError",
    "RegionError",
    "SeriesOptionError",
    "SourceUnavailableError",
    "StoreExistsError",
    "UnknownFormatError",
    "UnknownOpError",
    "UnsupportedCompressionError",
]


class UnknownFormatError(ValueError):
    """A format name nobody registered, or a path no reader claims."""


class NotMyFormat(Exception):
    """Raised by a reader that cannot handle a file, so that detection tries the next one.

    Distinct from a real failure (a corrupt file of the reader's own format),
    which propagates.
    """


class NotASeriesError(ValueError):
    """A path that exists but does not hold an image series (or holds a corrupt one)."""


class IncompleteStoreError(NotASeriesError):
    """A store whose write did not finish; writing the same series again completes it."""


class PipelineFileError(ValueError):
    """A pipeline file that is not YAML or breaks the schema; the message names the place."""


class StoreExistsError(FileExistsError):
    """A write to a path that exists, without ``overwrite=True``."""


class ReadOnlyError(PermissionError):
    """A write into a series opened read-only."""


class MissingDependencyError(ImportError):
    """An optional dependency that is not installed; the message names the extra."""


class OmegaSeriesError(ValueError):
    """Omega (rotation-angle) metadata that is missing or malformed, or wedges that do not fit."""


class UnsupportedCompressionError(ValueError):
    """A stored frame in an encoding no decoder here knows (names the encodings that are)."""


class SeriesOptionError(ValueError, NotImplementedError):
    """A reader option that does not exist or a value it cannot take.

    Also a NotImplementedError, which hexrd's ``set_option`` raises.
    """


class FrameIndexError(IndexError):
    """A frame index, or an index in a frame selection, outside the series."""


class FrameSelectionError(TypeError, ValueError):
    """A frame index or selection of a kind a series cannot take (a bool, a float array,
    a slice where a frame list is wanted) or with an impossible value (a slice step of 0)."""


class RegionError(ValueError):
    """A region of a frame that is not ``((row0, row1), (col0, col1))`` of integers within it."""


class SourceUnavailableError(RuntimeError):
    """A source that reached a process which cannot read it (a dask worker lacking its code)."""

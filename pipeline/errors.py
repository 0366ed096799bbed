"""Every error the framework raises, each refining the built-in a caller would catch.

Each class refines one family of built-ins (``ValueError``, ``TypeError``,
``LookupError``, ``OSError``, ``RuntimeError``, ``ImportError``), so that
``except OSError`` around a write catches the disk's complaints and nothing
else (:class:`NotMyFormat` and :class:`BadInputError`, signals no caller
catches as a built-in, are plain Exceptions).  Two classes are also a second
built-in, because hexrd raises that one and hexrd's own tests
(``tests/core/imageseries/`` of HEXRD/hexrd) catch it:

- :class:`MissingOptionError` is also a ``KeyError``:
  ``load/test_function.py::test_function_adapter_missing_args``;
- :class:`OptionValueError` is also a ``TypeError`` (a bad frame-cache ``style``):
  ``load/test_framecache.py::test_init_error``.

Each error declares ``exit_code``, what the command line exits with when it ends a
run: 2 for bad input, 1 for a failure while computing (``pipeline.cli.EXIT_CODES``).
"""

from __future__ import annotations

from ops.errors import (
    MissingDependencyError,
    OpParameterError,
    OpResultError,
    OpUnavailableError,
    RegistrationError,
    UnknownOpError,
)

__all__ = [
    "AxesError",
    "BadInputError",
    "BatchSystemError",
    "ClosedSeriesError",
    "ClusterOptionError",
    "DamagedChunkError",
    "DenseFrameWarning",
    "DiskFullError",
    "DroppedFrameError",
    "EmptySeriesError",
    "FormatPluginWarning",
    "FrameIndexError",
    "FrameReleasedError",
    "FrameSelectionError",
    "FrameShapeError",
    "FramesDroppedWarning",
    "IncompleteStoreError",
    "LiveTimeoutError",
    "InvalidMetadataError",
    "InvalidMetadataWarning",
    "MetadataClashError",
    "MetadataError",
    "MissingChunkError",
    "MissingDatasetError",
    "MissingDependencyError",
    "MissingOptionError",
    "NotASeriesError",
    "NotMyFormat",
    "OmegaSeriesError",
    "OpParameterError",
    "OpResultError",
    "OpUnavailableError",
    "OptionValueError",
    "PipelineFileError",
    "ReadOnlyError",
    "RegionError",
    "RegistrationError",
    "SchedulerUnreachableError",
    "SeriesOptionError",
    "SeriesTypeError",
    "SourceTargetError",
    "SourceUnavailableError",
    "StorageError",
    "StoreChangedError",
    "StoreExistsError",
    "StreamMessageError",
    "TargetBusyError",
    "TargetMovedError",
    "TargetRefusedError",
    "UnknownFormatError",
    "UnknownOpError",
    "UnreadableFrameError",
    "UnsafeStoreWarning",
    "UnsupportedCompressionError",
    "UnsupportedDtypeError",
    "UnsupportedVersionError",
    "ValueRangeError",
    "WorkersLostError",
    "WriteTargetError",
    "WrongFormatError",
    "YAMLError",
    "YAMLLimitError",
]


class UnknownFormatError(ValueError):
    """A format name nobody registered, or a path no reader claims."""

    exit_code = 2


class NotMyFormat(Exception):
    """Raised by a reader that cannot handle a file, so that detection tries the next one.

    Distinct from a real failure (a corrupt file of the reader's own format),
    which propagates.
    """

    exit_code = 2


class NotASeriesError(ValueError):
    """A path that exists but does not hold an image series (or holds a corrupt one)."""

    exit_code = 2


class IncompleteStoreError(NotASeriesError):
    """A store whose write did not finish; writing the same series again completes it."""


class PipelineFileError(ValueError):
    """A pipeline file that is not YAML or breaks the schema; the message names the place."""

    exit_code = 2


class StoreExistsError(FileExistsError):
    """A write to a path that exists, without ``overwrite=True``."""

    exit_code = 2

    @classmethod
    def at(cls, path: str) -> StoreExistsError:
        """The error for ``path``, its fix in the words of each way a write is asked for."""
        return cls(f"{path!r} exists; to replace it pass overwrite=True (--overwrite on the "
                   "command line, overwrite: true in a pipeline file's output), or write to "
                   "another path")


class ReadOnlyError(PermissionError):
    """A write into a series opened read-only."""

    exit_code = 1


class OmegaSeriesError(ValueError):
    """Omega (rotation-angle) metadata that is missing or malformed, or wedges that do not fit."""

    exit_code = 1


class UnsupportedCompressionError(ValueError):
    """A stored frame in an encoding no decoder here knows (names the encodings that are)."""

    exit_code = 1


class SeriesOptionError(ValueError):
    """A reader option that does not exist or a value it cannot take (hexrd's ``set_option``
    raises NotImplementedError there)."""

    exit_code = 1


class FrameIndexError(IndexError):
    """A frame index, or an index in a frame selection, outside the series."""

    exit_code = 2


class FrameSelectionError(TypeError):
    """A frame index or selection of a kind a series cannot take (a bool, a float array,
    a slice where a frame list is wanted, a slice step of 0)."""

    exit_code = 1


class RegionError(ValueError):
    """A region of a frame that is not ``((row0, row1), (col0, col1))`` of integers within it,
    or a region or patch size, offset, stride or corner that is not pairs of integers in range."""

    exit_code = 2


class SourceUnavailableError(RuntimeError):
    """A source that reached a process which cannot read it (a dask worker lacking its code)."""

    exit_code = 1


class MetadataError(TypeError):
    """Metadata a container cannot hold (a type the codec does not know, nesting too deep)."""

    exit_code = 1


class TargetRefusedError(StoreExistsError):
    """A write target that must not be replaced: not a series of the format, a source, the cwd."""


class SourceTargetError(TargetRefusedError):
    """A write target that is, contains or lies inside a file the series reads."""


class TargetBusyError(StoreExistsError):
    """A write target claimed by another writer that is still alive; the message names it."""


class StoreChangedError(NotASeriesError):
    """A store replaced or being rewritten since this series opened it; reopen it."""

    exit_code = 1


class MissingChunkError(NotASeriesError):
    """A chunk absent from a complete store (deleted or lost); the message names it."""

    exit_code = 1


class DiskFullError(OSError):
    """Not enough free space for a write; the message names the target and the bytes."""

    exit_code = 1


class EmptySeriesError(ValueError):
    """A series of no frames where a frame is needed: a writer whose container cannot hold
    none, a statistic over frames, or a frame shape and dtype only a first frame could tell."""

    exit_code = 1


class YAMLError(ValueError):
    """YAML text that does not parse; the message names the file and the line."""

    exit_code = 2


class YAMLLimitError(YAMLError):
    """A YAML document whose aliases expand, or whose nesting goes, beyond the loader's limits."""


class UnreadableFrameError(NotASeriesError):
    """A frame whose stored bytes do not decode: a file cut short or damaged after its header.

    The decoder's own complaint (Pillow's OSError "image file is truncated") is its cause.
    """

    exit_code = 1


class MissingOptionError(TypeError, KeyError):
    """A reader option that must be given and was not.

    Also a KeyError, which hexrd raises there (see the module's docstring).
    """

    exit_code = 2

    __str__ = Exception.__str__  # the message, not KeyError's quoted repr of it


class OptionValueError(ValueError, TypeError):
    """An option or argument value that is not one of the valid ones: a reader option, a
    writer's ``style=`` or ``gzip=``, a statistic's ``nchunk=``.

    Also a TypeError, which hexrd raises for a bad frame-cache ``style`` (see the module's
    docstring).
    """

    exit_code = 2


class DenseFrameWarning(UserWarning):
    """A frame written to a sparse frame cache keeps too many of its pixels to be sparse."""


class UnsupportedVersionError(NotASeriesError):
    """A file of a format version this reader does not know (hexrd raises NotImplementedError
    there)."""


class ValueRangeError(ValueError):
    """Frame values that do not fit the dtype asked for (hexrd raises RuntimeError there)."""

    exit_code = 1


class UnsupportedDtypeError(TypeError):
    """Values of a kind a dtype cannot take at all (complex to real, text to numbers)."""

    exit_code = 1


class SchedulerUnreachableError(ConnectionError):
    """A ``--scheduler`` address where no dask scheduler answers in time."""

    exit_code = 1


class ClusterOptionError(ValueError):
    """A batch cluster asked for that cannot be: an unknown kind or option, job resources
    missing, the batch system's commands not on PATH; found before any job is submitted."""

    exit_code = 2


class BatchSystemError(RuntimeError):
    """A batch system that does not do what it was asked: a daemon that exits while starting,
    a command that fails, jobs that do not reach a state in time (the one-node Slurm of
    ``pipeline.testing.slurm``)."""

    exit_code = 1


class WorkersLostError(RuntimeError):
    """A batch cluster without workers for too long: its jobs never started (pending, failed)
    or all ended (cancelled, past their walltime).  Every job is cancelled and a store being
    written is kept: running the same command again finishes it (exit code 75, EX_TEMPFAIL:
    try again)."""

    exit_code = 75


class BadInputError(Exception):
    """An error found while the command line read its input (exit code 2); the cause is it."""

    exit_code = 2


class WrongFormatError(NotASeriesError):
    """A file that is not of the format the caller named (``open(p, format="hdf5")``)."""


class InvalidMetadataError(NotASeriesError):
    """Image metadata that breaks its format's rules (OME-Zarr's NGFF 0.5), refused with
    ``strict=True``; the message names each rule broken."""


class InvalidMetadataWarning(UserWarning):
    """Image metadata that breaks its format's rules: the broken part is not used (the
    message names each rule); ``strict=True`` refuses the image instead."""


class FormatPluginWarning(UserWarning):
    """A third-party format whose entry point does not load; it is left out of the registry."""


# -- errors of shape, axes and targets (each the built-in family it replaced) ------------------


class FrameShapeError(ValueError):
    """Frames of a shape or dtype a series or container cannot take: fewer than two
    dimensions (Y, X), one frame unlike the others, a 3-d frame for a 2-d frame cache."""

    exit_code = 2


class AxesError(ValueError):
    """An axes string (``"TYX"``, ``"CTYX"``) that is not a string, names an unknown or
    repeated axis, lacks Y or X, or does not match the number of dimensions."""

    exit_code = 2


class SeriesTypeError(TypeError):
    """An object given where an image series is wanted that is neither a series, an array
    of frames, nor hexrd's series protocol (``len``, ``[i]``, ``shape``, ``dtype``)."""

    exit_code = 1


class ClosedSeriesError(ValueError):
    """A series used after ``close()`` (a ValueError, as for a closed Python file)."""

    exit_code = 1


class MissingDatasetError(NotASeriesError):
    """An HDF5 group or dataset that is not in the file (hexrd raises KeyError there)."""


class MetadataClashError(ValueError):
    """Metadata keys a container reserves for its own entries (a frame cache's ``shape``)."""

    exit_code = 2


class WriteTargetError(ValueError):
    """A write target this format cannot write into: an open HDF5 node given to a format
    that writes files, or a file opened read-only (open it with mode ``'a'``)."""

    exit_code = 2


class DamagedChunkError(UnreadableFrameError):
    """A stored chunk whose bytes are not a whole chunk (zarr-python raises RuntimeError for
    the same chunk)."""


class StorageError(OSError):
    """A storage operation refused: what is at a path is not what was expected (a FIFO, a
    link, a directory where a file was), the place is read-only, or a name is too long.
    The message names the path."""

    exit_code = 1


class TargetMovedError(StorageError):
    """A write target's directory moved or replaced while the write ran; the message says
    where the data went."""


class UnsafeStoreWarning(UserWarning):
    """A write to an object store that cannot guarantee one writer at a time, made because the
    caller asked for it (``unsafe_conditional_writes=True``)."""


# -- live sources -------------------------------------------------------------------------------


class DroppedFrameError(UnreadableFrameError):
    """A frame a live source lost (the consumer fell behind the receiver's bound, or the frame
    never arrived); the message names it and where the lost frames are listed."""


class FrameReleasedError(FrameIndexError):
    """A frame of a live stream that its consumer already released: a stream keeps only the
    frames not yet consumed; write the stream to a store to read any frame again."""

    exit_code = 1


class LiveTimeoutError(TimeoutError):
    """A live source that did not start (no first message or frame) within the time given; the
    message names the address or path and the time."""

    exit_code = 1


class StreamMessageError(NotASeriesError):
    """A message of a detector stream that breaks its specification (a missing field, a frame
    whose size disagrees with its shape); the message names the field and the value."""

    exit_code = 1


class FramesDroppedWarning(UserWarning):
    """A live write ended with frames its source lost; the store's record lists them."""

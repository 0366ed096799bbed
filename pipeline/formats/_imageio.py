"""What the readers built on imageio share: importing it, reading an image, images as frames.

imageio gives colour images as ``(rows, cols, channels)``; a series keeps
channels before the image plane (``C, Y, X``) so that geometric ops act on
rows and columns, as they do for TIFF and Zarr frames.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import warnings
from typing import IO, Any

import numpy as np

from ops import Region, require
from pipeline.errors import FrameShapeError, NotASeriesError, NotMyFormat, UnreadableFrameError
from pipeline.formats.base import FileSeries, frame_by_frame
from pipeline.series import region_index

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".jp2", ".tif", ".tiff")
"""Single images, and the files a directory or glob of images is made of (PNM files are
left to ``detector``: fabio reads 16-bit ones as uint16, Pillow as int32)."""


def imageio(extra: str = "images") -> Any:
    """``imageio.v3``, or an ImportError naming the extra that installs it."""
    return require("imageio.v3", extra, "image and video files")


def read_image(path: str, props: bool = False, data: IO[bytes] | None = None,
               **options: Any) -> Any:
    """``imageio.v3.imread(path, **options)`` (``improps`` with ``props``), the file closed after.

    imageio is given a file opened here: given a name, it opens the file once
    for each plugin it tries, and leaves those open when every plugin declines.
    ``data``, when given, holds the file's bytes (a member of an archive named ``path``).
    """
    iio = imageio()
    extension = os.path.splitext(path)[1].lower() or None
    with contextlib.ExitStack() as stack, warnings.catch_warnings():
        fh = data if data is not None else stack.enter_context(builtins.open(path, "rb"))
        # trying its plugins in turn, imageio imports deprecated ones (DICOM) and says so
        warnings.simplefilter("ignore", DeprecationWarning)
        read = iio.improps if props else iio.imread
        return read(fh, extension=extension, **options)


def frame_shape(image_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The frame shape of an image of ``image_shape``: ``(Y, X)`` or ``(C, Y, X)``."""
    shape = tuple(int(n) for n in image_shape)
    if len(shape) == 3:
        return (shape[2], shape[0], shape[1])
    if len(shape) != 2:
        raise FrameShapeError(f"an image of shape {shape} is neither (rows, cols) nor "
                              "(rows, cols, channels)")
    return shape


def as_frame(image: np.ndarray) -> np.ndarray:
    """An image from imageio as a frame: channels moved before rows and columns."""
    image = np.asarray(image)
    return np.moveaxis(image, -1, 0) if image.ndim == 3 else image


def not_readable() -> tuple[type[BaseException], ...]:
    """What imageio raises for a file none of its plugins reads (its "not my format").

    Beyond imageio's own ``InitializationError``, its plugins' parsers raise
    whatever they meet on bytes that are not theirs (``struct.error``,
    ``EOFError``, ``SyntaxError``...), so a header that does not parse is
    taken as "not this format" whatever the exception.
    """
    return (Exception,)


def first_line(err: BaseException) -> str:
    """imageio's messages run over several lines of install hints; the first says what failed."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def unreadable_frame(path: str, j: int, err: BaseException) -> UnreadableFrameError:
    """The error for frame ``j`` of ``path`` that its plugin fails to decode (cut short, corrupt).

    The header was read at open, so the file is of the format: whatever the
    decoder raised (``OSError``, ``struct.error``, ``SyntaxError``...) means
    its bytes are damaged.
    """
    return UnreadableFrameError(f"{path!r}: frame {j} cannot be read: {type(err).__name__}: "
                           f"{first_line(err)}")


class PluginSeries(FileSeries):
    """The frames of one multi-frame file, read one at a time through an imageio v3 plugin.

    Subclasses set :attr:`format_name`, :attr:`plugin` and :attr:`extra` and
    implement :meth:`_header`, which reads the file's header into
    ``_nframes``, ``_shape``, ``_dtype`` and ``_meta`` without decoding a
    frame.  The plugin (an open file, or a running ffmpeg) is the series'
    handle, opened on the first read and kept for the next, which is what
    makes reading frames in order cheap; a pickled copy opens its own.
    """

    format_name = ""
    plugin = ""
    extra = "images"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        if not os.path.isfile(self._path):
            raise NotMyFormat(f"{self._path!r} is not a file")
        try:
            with self._imopen() as plugin:
                self._header(plugin)
        except NotASeriesError:  # the file is of this format, and says what is wrong with it
            raise
        except not_readable() as err:
            raise NotMyFormat(f"{self._path!r} is not a file imageio's {self.plugin} plugin "
                              f"reads: {first_line(err)}") from err

    def _imopen(self) -> Any:
        return imageio(self.extra).imopen(self._path, "r", plugin=self.plugin)

    def _header(self, plugin: Any) -> None:
        raise NotImplementedError

    def open_handle(self, stack: contextlib.ExitStack) -> Any:
        return stack.enter_context(self._imopen())

    def _read_options(self) -> dict[str, Any]:
        return {}

    @frame_by_frame
    def read(self, j: int, region: Region) -> np.ndarray:
        with self.lock:  # one plugin per series: its file position is shared state
            handle = self.handle
            try:
                image = handle.read(index=j, **self._read_options())
            except not_readable() as err:
                raise unreadable_frame(self._path, j, err) from err
        return as_frame(image)[region_index(region)]


__all__ = [
    "IMAGE_EXTENSIONS",
    "PluginSeries",
    "as_frame",
    "first_line",
    "frame_shape",
    "imageio",
    "not_readable",
    "read_image",
    "unreadable_frame",
]

"""Animated GIFs (and other multi-frame images Pillow reads), a frame per read.

The header gives the number of frames and their size; every frame is read
in the mode of the first (grey, RGB or RGBA), so frames whose palettes
differ still share a shape.  Colour frames are ``(C, Y, X)``.  The
metadata holds what the file says of its timing: ``duration`` (milliseconds
per frame) and ``loop``.
"""

from __future__ import annotations

import builtins
import os
from typing import Any

import numpy as np

from pipeline.formats._imageio import PluginSeries, frame_shape
from pipeline.formats._plugin import Format

_MODES = {None: "L", 3: "RGB", 4: "RGBA"}


class GifSeries(PluginSeries):
    """The frames of an animated GIF.

    Parameters
    ----------
    path
        The GIF file.
    """

    format_name = "gif"
    plugin = "pillow"

    def _header(self, plugin: Any) -> None:
        props = plugin.properties(index=...)
        self._nframes = int(props.n_images or 1)
        shape = frame_shape(props.shape[1:] if props.is_batch else props.shape)
        self._shape, self._dtype = shape, np.dtype(props.dtype)
        self._pil_mode = _MODES.get(shape[0] if len(shape) == 3 else None, "RGBA")
        info = plugin.metadata(index=0)
        self._meta = {k: info[k] for k in ("duration", "loop")
                      if isinstance(info.get(k), int | float)}

    def _read_options(self) -> dict[str, Any]:
        return {"mode": self._pil_mode}


def open(path: str | os.PathLike[str]) -> GifSeries:
    """An animated GIF, lazily: its header now, a frame per read."""
    return GifSeries(path)


def sniff(path: str) -> bool:
    """Whether ``path`` starts with a GIF signature (``GIF87a`` or ``GIF89a``)."""
    try:
        with builtins.open(path, "rb") as fh:
            return fh.read(6) in (b"GIF87a", b"GIF89a")
    except OSError:
        return False


class GifFormat(Format):
    """Animated GIFs (:func:`open`)."""

    name = "gif"
    aliases = ("animated-gif",)
    extensions = (".gif",)
    requires = ("imageio", "PIL")
    extra = "images"
    open = staticmethod(open)
    sniff = staticmethod(sniff)


FORMAT = GifFormat()

__all__ = ["FORMAT", "GifFormat", "GifSeries", "open", "sniff"]

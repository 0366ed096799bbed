"""DECTRIS Stream V1 (multipart JSON headers and binary blobs over ZeroMQ) as a live series: the
``dectris-stream-v1`` format.

``pipeline.open("tcp://eiger-dcu:9999", format="dectris-stream-v1")`` connects
to the detector's legacy stream and returns a :class:`StreamV1Series` that grows
as the detector sends images (see :mod:`pipeline.formats.live.stream`).
"""

from __future__ import annotations

from typing import Any

from pipeline.formats._plugin import Format
from pipeline.formats.live.stream import StreamSeries


class StreamV1Series(StreamSeries):
    """A series of a detector's Stream V1 (see :class:`~.stream.StreamSeries`)."""

    format_name = "dectris-stream-v1"
    version = 1


def open(address: str, **options: Any) -> StreamV1Series:
    """The Stream V1 series at ``address`` (``tcp://host:port``), as it arrives."""
    return StreamV1Series(address, **options)


class StreamV1Format(Format):
    """DECTRIS Stream V1 (SIMPLON's legacy stream, ``dheader-1.0``...): :func:`open`."""

    name = "dectris-stream-v1"
    aliases = ("stream-v1",)
    schemes = ("tcp",)
    file_based = False
    requires = ("zmq", "lz4", "dectris.compression")
    extra = "live"
    open = staticmethod(open)


FORMAT = StreamV1Format()

__all__ = ["FORMAT", "StreamV1Format", "StreamV1Series", "open"]

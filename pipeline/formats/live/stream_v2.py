"""DECTRIS Stream V2 (CBOR messages over ZeroMQ) as a live series: the ``dectris-stream-v2``
format.

``pipeline.open("tcp://eiger-dcu:31001", format="dectris-stream-v2")`` connects
to the detector's stream and returns a :class:`StreamV2Series` that grows as
the detector sends images (see :mod:`pipeline.formats.live.stream`).
"""

from __future__ import annotations

from typing import Any

from pipeline.formats._plugin import Format
from pipeline.formats.live.stream import StreamSeries


class StreamV2Series(StreamSeries):
    """A series of a detector's Stream V2 (see :class:`~.stream.StreamSeries`)."""

    format_name = "dectris-stream-v2"
    version = 2


def open(address: str, **options: Any) -> StreamV2Series:
    """The Stream V2 series at ``address`` (``tcp://host:port``), as it arrives."""
    return StreamV2Series(address, **options)


class StreamV2Format(Format):
    """DECTRIS Stream V2: one CBOR message per ZeroMQ message (:func:`open`)."""

    name = "dectris-stream-v2"
    aliases = ("stream-v2",)
    schemes = ("tcp",)
    file_based = False
    requires = ("zmq", "cbor2", "dectris.compression")
    extra = "live"
    open = staticmethod(open)


FORMAT = StreamV2Format()

__all__ = ["FORMAT", "StreamV2Format", "StreamV2Series", "open"]

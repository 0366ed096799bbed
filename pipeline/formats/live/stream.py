"""A detector's ZeroMQ stream as a live series: a receiver thread and a bounded buffer.

:class:`Receiver` pulls one series of a DECTRIS stream (V1 or V2) on a thread
of its own, as fast as the detector sends: a detector cannot wait for its
consumer.  It holds the frames as they came (still compressed) until the
consumer releases them, within ``buffer`` bytes.  When the consumer falls
behind past that bound, ``on_full="drop"`` (the default, what a detector
needs) drops the arriving frames and lists them by number;
``on_full="block"`` stops pulling, so ZeroMQ holds the sender back (for a
replay, which can wait).  A frame that never arrives (another client of the
same stream took it, or the sender skipped it) is listed the same way: the
frame numbers are the detector's image numbers, so a lost frame is a gap that
is named, never a shift of the frames after it.

:class:`StreamSeries` is the series over a receiver: its length grows as
frames arrive (:meth:`StreamSeries.refresh`, :meth:`StreamSeries.wait`), its
shape, dtype and metadata come from the ``start`` message (or, for a receiver
that joins a series already running, from the first frame), and it ends with
the ``end`` message or ``idle`` seconds without one.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ops import Region, require
from pipeline.errors import (
    DroppedFrameError,
    FrameReleasedError,
    LiveTimeoutError,
    OptionValueError,
    SeriesTypeError,
    StreamMessageError,
)
from pipeline.formats.base import frame_numbers, output
from pipeline.formats.live import dectris
from pipeline.formats.live.growth import DEFAULT_IDLE, Growing, end_rule
from pipeline.series import FrameSelection, ImageSeries, region_index

ON_FULL = ("drop", "block")
DEFAULT_BUFFER = "1GiB"
DEFAULT_START_TIMEOUT = 600.0
"""Seconds :func:`StreamSeries` waits for a series to begin (the detector to be armed)."""
TICK = 0.05
"""Seconds the receiver waits for a message before it looks at its own state again."""
_ADDRESS = re.compile(r"^tcp://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def check_address(address: Any) -> str:
    """A ZeroMQ address ``tcp://host:port`` (checked; the error names the value)."""
    m = _ADDRESS.match(address) if isinstance(address, str) else None
    if m is None or not 0 < int(m[2]) < 65536:
        raise OptionValueError(f"{address!r} is not a stream address: give tcp://HOST:PORT, "
                               "e.g. tcp://eiger-dcu:31001 (Stream V2) or tcp://eiger-dcu:9999 "
                               "(Stream V1)")
    return str(address)


def _buffer_bytes(value: Any) -> int:
    from dask.utils import parse_bytes

    try:
        found = parse_bytes(value) if isinstance(value, str) else value
    except ValueError:
        found = None
    if isinstance(found, bool) or not isinstance(found, int) or found < 1:
        raise OptionValueError(f"buffer={value!r}: expected bytes > 0 (an int, or text such as "
                               "'1GiB', '512MB')")
    return found


class Receiver:
    """Pulls one series of a stream into a buffer of at most ``capacity`` bytes of frames.

    Everything it knows is read under :attr:`cond`; the consumer wakes on it.
    """

    def __init__(self, address: str, version: int, capacity: int, on_full: str,
                 channel: str | None, idle: float) -> None:
        zmq = require("zmq", "live", "DECTRIS streams")
        self.address, self.version, self.capacity = address, version, capacity
        self.on_full, self.channel, self.idle = on_full, channel, idle
        self.cond = threading.Condition()
        self.start: dectris.Message | None = None
        self.first: dectris.Message | None = None  # the first image, when no start came
        self.series: tuple[Any, Any] | None = None
        self.frames: dict[int, dectris.EncodedFrame] = {}
        self.held = 0
        self.top = 0  # one past the highest frame number seen
        self.skip_below = 0
        self.released = 0
        self.lost: list[int] = []
        self.duplicates = 0
        self.ended_by: str | None = None
        self.error: Exception | None = None
        self.last = time.monotonic()
        self.arrived: dict[int, float] = {}
        self._stop = threading.Event()
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.PULL)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.RCVHWM, 1000)
        self._socket.connect(address)
        self._zmq = zmq
        self._thread = threading.Thread(target=self._run, name=f"receiver {address}", daemon=True)
        self._thread.start()

    # -- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set() and self.ended_by is None:
                if self.on_full == "block" and not self._room():
                    continue
                if not self._socket.poll(int(TICK * 1000)):
                    self._check_idle()
                    continue
                if self.version == 2:
                    message = dectris.decode_v2(self._socket.recv())
                else:
                    message = dectris.decode_v1(self._socket.recv_multipart())
                self._take(message)
        except Exception as err:  # noqa: BLE001  (said to the consumer, which raises it)
            with self.cond:
                self.error = err
                self.cond.notify_all()
        finally:
            self._socket.close(linger=0)
            self._context.term()

    def _room(self) -> bool:
        """Wait a tick for the consumer to release frames; whether there is room now."""
        with self.cond:
            if self.held < self.capacity:
                return True
            self.cond.wait(TICK)
            return self.held < self.capacity

    def _check_idle(self) -> None:
        with self.cond:
            started = self.start is not None or self.first is not None
            if started and time.monotonic() - self.last >= self.idle:
                self.ended_by = "idle"
                self.cond.notify_all()

    def _take(self, message: dectris.Message) -> None:
        with self.cond:
            if message.kind == "start":
                self._begin(message)
            elif message.kind == "image":
                self._image(message)
            elif self.series is not None and self._ours(message):
                self.ended_by = "end"
            self.cond.notify_all()

    def _ours(self, message: dectris.Message) -> bool:
        assert self.series is not None
        ident = message.series
        return all(a is None or b is None or a == b for a, b in zip(ident, self.series))

    def _begin(self, message: dectris.Message) -> None:
        if self.series is not None:  # the next series began: ours ended (its end was lost)
            self.ended_by = "end"
            return
        self.start, self.series, self.last = message, message.series, time.monotonic()

    def _image(self, message: dectris.Message) -> None:
        if self.series is None:
            self.series, self.first = message.series, message
        elif not self._ours(message):
            self.ended_by = "end"  # another series' frames: ours is over
            return
        j = message.image_id
        frame = self._pick(message)
        self.last = now = time.monotonic()
        if j < max(self.top, self.skip_below):
            if j >= self.skip_below:
                self.duplicates += 1  # a frame number seen before: never written twice
            return
        self.lost.extend(range(max(self.top, self.skip_below), j))  # never arrived
        self.top = j + 1
        try:
            frame.check()
        except StreamMessageError:
            self.lost.append(j)  # damaged in transit: lost, and said so
            return
        if self.on_full == "drop" and self.held + frame.nbytes > self.capacity:
            self.lost.append(j)  # the consumer is behind by the whole buffer
            return
        self.frames[j] = frame
        self.held += frame.nbytes
        self.arrived[j] = now

    def _pick(self, message: dectris.Message) -> dectris.EncodedFrame:
        frames = message.frames
        if self.channel is None:
            channels = (self.start.fields.get("channels") if self.start is not None else None)
            self.channel = str(channels[0]) if isinstance(channels, list) and channels \
                and str(channels[0]) in frames else next(iter(frames))
        try:
            return frames[self.channel]
        except KeyError:
            raise StreamMessageError(
                f"image {message.image_id} has channels {sorted(frames)}, not {self.channel!r}; "
                "open the stream with channel= one of them") from None

    # -- the consumer's side ---------------------------------------------------------

    def get(self, j: int) -> dectris.EncodedFrame:
        with self.cond:
            found = self.frames.get(j)
            if found is not None:
                return found
            if j < self.released or j < self.skip_below:
                raise FrameReleasedError(
                    f"frame {j} of the stream at {self.address} was released by its consumer "
                    f"(frames below {max(self.released, self.skip_below)} are no longer held); "
                    "a stream keeps only the frames not yet consumed: write it to a store to "
                    "read any frame again")
        raise DroppedFrameError(
            f"frame {j} of the stream at {self.address} was lost (it never arrived, or came "
            "while the consumer was behind by the whole buffer); the series lists its lost "
            "frames in .dropped, and a store written from it in its record")

    def release(self, upto: int) -> None:
        with self.cond:
            for j in [j for j in self.frames if j < upto]:
                self.held -= self.frames.pop(j).nbytes
            self.released = max(self.released, upto)
            self.cond.notify_all()

    def skip(self, first: int) -> None:
        with self.cond:
            self.skip_below = max(self.skip_below, first)
            self.lost = [j for j in self.lost if j >= first]
            for j in [j for j in self.frames if j < first]:
                self.held -= self.frames.pop(j).nbytes

    def close(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10 * TICK + 5)


class StreamSeries(Growing, ImageSeries):
    """One series of a DECTRIS detector's ZeroMQ stream, as it arrives.

    Opening connects and waits (``start_timeout`` seconds) for the series to
    begin: its ``start`` message gives the frames' shape and dtype (else the
    first frame does) and the metadata, with ``omega`` from the goniometer's
    omega axis.  Frames are numbered by their image number.

    Parameters
    ----------
    address
        ``tcp://host:port`` of the detector's stream (the DCU's; 31001 for
        Stream V2, 9999 for V1).
    idle
        Seconds without a message after which the series is taken as ended
        (its ``end`` message lost); default 60, or ten frame times if longer.
    start_timeout
        Seconds to wait for the series to begin.
    buffer
        Bytes of received, not yet consumed frames held at most (as sent,
        compressed): ``"1GiB"`` by default.
    on_full
        ``"drop"`` (default): frames arriving while the buffer is full are
        lost, and listed; ``"block"``: stop pulling until the consumer
        catches up (ZeroMQ then holds the sender back).
    channel
        The channel (threshold) read, of a multi-threshold Stream V2 series;
        default the first of the start message's ``channels``.
    count
        The number of frames, where the start message does not say it.
    """

    format_name = "dectris-stream"
    version = 2

    def __init__(self, address: str, idle: float | None = None,
                 start_timeout: float = DEFAULT_START_TIMEOUT, buffer: Any = DEFAULT_BUFFER,
                 on_full: str = "drop", channel: str | None = None, count: int | None = None
                 ) -> None:
        self._address = check_address(address)
        rule = end_rule(count=count, idle=DEFAULT_IDLE if idle is None else idle)
        if on_full not in ON_FULL:
            raise OptionValueError(f"on_full={on_full!r}: expected one of {ON_FULL}")
        if channel is not None and not isinstance(channel, str):
            raise OptionValueError(f"channel={channel!r}: expected a channel name")
        waiting = end_rule(idle=start_timeout).idle
        self._receiver = Receiver(self._address, self.version, _buffer_bytes(buffer), on_full,
                                  channel, rule.idle)
        self._len, self._dropped = 0, np.empty(0, np.int64)
        self._count = rule.count
        try:
            self._begin(waiting, idle)
        except BaseException:
            self.close()
            raise

    def _begin(self, waiting: float, idle: float | None) -> None:
        r = self._receiver
        deadline = time.monotonic() + waiting
        with r.cond:
            while r.start is None and r.first is None and r.error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LiveTimeoutError(
                        f"no series began on {self._address} within {waiting:g} s (no start "
                        "message nor frame came); arm the detector, check the address and "
                        "that its stream is enabled, or give start_timeout=")
                r.cond.wait(min(left, TICK))
            if r.error is not None:
                raise r.error
            facts = dectris.series_facts(self.version, r.start)
            first = None if r.first is None else r.first.frames.get(r.channel or "")
        if "shape" not in facts:
            first = first or self._first_frame(deadline)
            facts["shape"], facts["dtype"] = first.shape, first.dtype.newbyteorder("=")
        self._shape = tuple(int(n) for n in facts["shape"])
        self._dtype = np.dtype(facts["dtype"])
        self._meta: dict[str, Any] = facts["metadata"]
        self._expected = self._count or facts.get("expected")
        frame_time = facts.get("frame_time")
        if idle is None and frame_time:  # slow exposures: ten frame times at least
            r.idle = max(r.idle, 10 * float(frame_time))
        with r.cond:
            self._series_ids = r.series

    def _first_frame(self, deadline: float) -> dectris.EncodedFrame:
        """The first frame's header: a start message without the image size (Stream V1's
        ``header_detail`` none) leaves the frames to say their shape."""
        r = self._receiver
        with r.cond:
            while not r.frames and r.error is None and r.ended_by is None:
                if time.monotonic() > deadline:
                    raise LiveTimeoutError(f"the series on {self._address} began but sent no "
                                           "frame in time to tell the frames' shape")
                r.cond.wait(TICK)
            if r.error is not None:
                raise r.error
            if not r.frames:
                raise StreamMessageError(f"the series on {self._address} ended before its "
                                         "first frame; it has no frames to read")
            return r.frames[min(r.frames)]

    # -- the live protocol -----------------------------------------------------------

    def refresh(self) -> int:
        r = self._receiver
        with r.cond:
            if r.error is not None:
                raise r.error
            top = r.top if self._count is None else min(r.top, self._count)
            lost = np.asarray(sorted(j for j in r.lost if j < top), np.int64)
            ended = r.ended_by is not None or (self._count is not None and r.top >= self._count)
            self._ended_by = r.ended_by or ("count" if ended else None)
        self._len, self._dropped = top, lost
        return top

    def wait(self, n: int | None = None, timeout: float | None = None) -> int:
        want = self._len + 1 if n is None else int(n)
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        r = self._receiver
        while True:
            got = self.refresh()
            if got >= want or self.ended:
                return got
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return got
            with r.cond:  # woken by the next message; the receiver's idle rule ends the wait
                if r.top == got and r.ended_by is None and r.error is None:
                    r.cond.wait(TICK if deadline is None else min(TICK, deadline - now))

    @property
    def ended(self) -> bool:
        return self.__dict__.get("_ended_by") is not None

    @property
    def ended_by(self) -> str | None:
        return self.__dict__.get("_ended_by")

    @property
    def expected(self) -> int | None:
        return self._expected

    @property
    def dropped(self) -> np.ndarray:
        return self._dropped

    def release(self, upto: int) -> None:
        self._receiver.release(upto)

    def start_at(self, first: int) -> None:
        self._receiver.skip(first)

    def arrival_times(self) -> dict[int, float]:
        """When each frame still counted arrived (``time.monotonic()``), by frame number."""
        with self._receiver.cond:
            return dict(self._receiver.arrived)

    # -- the series interface --------------------------------------------------------

    def __len__(self) -> int:
        return self._len

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def metadata(self) -> dict[str, Any]:
        return self._meta

    @property
    def frame_chunk(self) -> int | None:
        return 1  # each frame decoded on its own

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        indices = frame_numbers(frames, len(self))
        out = output(indices, region, self._dtype)
        index = region_index(region)
        for k, j in enumerate(indices):
            frame = self._receiver.get(int(j))
            if frame.shape != self._shape:
                raise StreamMessageError(f"frame {int(j)} of {self._address} is "
                                         f"{frame.shape}, the series' frames {self._shape}")
            out[k] = dectris.decode_frame(frame)[index]
        return out

    def description(self) -> dict[str, Any]:
        series_id, unique = self._series_ids or (None, None)
        desc = {"format": self.format_name, "address": self._address, "series_id": series_id}
        if unique is not None:
            desc["series_unique_id"] = unique
        return desc

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        raise SeriesTypeError(
            f"the stream at {self._address} cannot be sent to another process (a second "
            "receiver would split the detector's frames with this one); write it to a store "
            "and read that")

    def close(self) -> None:
        """Stop receiving and close the connection."""
        receiver = self.__dict__.get("_receiver")
        if receiver is not None:
            receiver.close()

    def __enter__(self) -> StreamSeries:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"ended ({self.ended_by})" if self.ended else "receiving"
        return (f"<{type(self).__name__} {self._address}: {len(self)} frames of {self.shape} "
                f"{self.dtype}, {len(self._dropped)} lost, {state}>")


__all__ = ["ON_FULL", "Receiver", "StreamSeries", "check_address"]

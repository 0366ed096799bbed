"""A replay sender: a DECTRIS stream (V1 or V2) sent from a process of its own, at a set rate.

``python -m pipeline.formats.live.replay --bind tcp://127.0.0.1:0 --frames 1000 --rate 500``
binds a ZeroMQ PUSH socket, prints the address it bound (first line of its
output), and sends ``start``, the frames and ``end``, as a detector does: frames
bit-shuffled and LZ4-compressed (``--encoding``), numbered from 0, each at its
time (``--rate`` frames per second; 0 sends as fast as the receiver takes
them).  The frames are :func:`frames` (a detector-like pattern, the same for
the same arguments), or those of any series lazyseries opens (``--source``).
``--log FILE`` saves each frame's send time (``time.time()``) as ``.npy``;
``--skip`` leaves frames out (a loss on the way); ``--garbage`` sends a
message that is no stream message before the given frame; ``--no-start`` and
``--no-end`` leave those messages out (a receiver joining late, an end lost).

The tests and ``benchmarks/live.py`` start it with :func:`launch` and end it
by its pid.  Messages follow :mod:`pipeline.formats.live.dectris`.
"""

from __future__ import annotations

import argparse
import datetime
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ops import require
from pipeline.errors import LiveTimeoutError
from pipeline.formats.live import dectris

SERIES_UNIQUE_ID = "01LAZYSERIESREPLAY0000000000"


def frames(count: int, shape: tuple[int, ...] = (512, 1028), dtype: Any = "uint16",
           seed: int = 0, distinct: int = 16) -> np.ndarray:
    """``count`` detector-like frames: ``distinct`` patterns (a low Poisson background, a few
    bright Bragg-like spots) cycled, the same for the same arguments."""
    rng = np.random.default_rng(seed)
    kinds = min(count, distinct)
    pool = rng.poisson(2.0, (kinds, *shape)).astype(dtype)
    rows, cols = shape[-2], shape[-1]
    for k in range(kinds):
        for _ in range(12):
            r, c = int(rng.integers(3, rows - 3)), int(rng.integers(3, cols - 3))
            pool[k, ..., r - 2:r + 3, c - 2:c + 3] += np.asarray(rng.integers(50, 3000),
                                                                 dtype=dtype)
    return pool[np.arange(count) % kinds]


def start_fields(version: int, count: int, shape: tuple[int, ...], dtype: np.dtype,
                 omega: tuple[float, float] | None, frame_time: float) -> dict[str, Any]:
    """A start message's fields as a detector sends them (the geometry is an example's)."""
    if version == 1:
        config: dict[str, Any] = {
            "nimages": count, "ntrigger": 1, "trigger_mode": "ints",
            "x_pixels_in_detector": shape[-1], "y_pixels_in_detector": shape[-2],
            "bit_depth_image": dtype.itemsize * 8, "frame_time": frame_time,
            "count_time": frame_time * 0.99, "wavelength": 0.2952, "detector_distance": 0.75,
            "x_pixel_size": 7.5e-5, "y_pixel_size": 7.5e-5, "beam_center_x": 514.0,
            "beam_center_y": 256.0, "description": "Dectris EIGER2 500K replay",
            "sensor_material": "CdTe", "sensor_thickness": 7.5e-4, "compression": "bslz4"}
        if omega is not None:
            config["omega_start"], config["omega_increment"] = omega
        return {"series_id": 1, "header_detail": "basic", "config": config}
    fields: dict[str, Any] = {
        "series_id": 1, "series_unique_id": SERIES_UNIQUE_ID,
        "arm_date": datetime.datetime.now(datetime.timezone.utc),
        "beam_center_x": 514.0, "beam_center_y": 256.0, "channels": ["threshold_1"],
        "count_time": frame_time * 0.99, "countrate_correction_enabled": False,
        "detector_description": "Dectris EIGER2 CdTe 500K replay",
        "detector_serial_number": "E-02-0000", "detector_translation": [0.0, 0.0, 0.75],
        "flatfield_enabled": False, "frame_time": frame_time,
        "image_dtype": dtype.name, "image_size_x": shape[-1], "image_size_y": shape[-2],
        "incident_energy": 42000.0, "incident_wavelength": 0.2952, "number_of_images": count,
        "pixel_mask": {"threshold_1": np.zeros(shape[-2:], np.uint32)},
        "pixel_mask_enabled": True, "pixel_size_x": 7.5e-5, "pixel_size_y": 7.5e-5,
        "saturation_value": int(np.iinfo(dtype).max) - 1, "sensor_material": "CdTe",
        "sensor_thickness": 7.5e-4, "threshold_energy": {"threshold_1": 21000.0},
        "virtual_pixel_interpolation_enabled": False}
    if omega is not None:
        fields["goniometer"] = {"omega": {"start": omega[0], "increment": omega[1]}}
    return fields


class Sender:
    """The messages of one series, encoded before the first is sent."""

    def __init__(self, version: int, pixels: np.ndarray, encoding: str | None,
                 omega: tuple[float, float] | None, frame_time: float) -> None:
        self.version, self.count = version, len(pixels)
        distinct: dict[int, dectris.EncodedFrame] = {}
        self.encoded = []
        for j in range(self.count):  # frames cycled from a pool are encoded once each
            digest = hash(pixels[j].tobytes())
            if digest not in distinct:
                distinct[digest] = dectris.encode_frame(pixels[j], encoding)
            self.encoded.append(distinct[digest])
        self.start = start_fields(version, self.count, tuple(pixels.shape[1:]),
                                  np.dtype(pixels.dtype), omega, frame_time)

    def message(self, kind: str, j: int = 0, now: float = 0.0) -> Any:
        ids = {"series_id": 1, "series_unique_id": SERIES_UNIQUE_ID}
        if self.version == 1:
            if kind == "start":
                return dectris.encode_v1("start", self.start)
            if kind == "end":
                return dectris.encode_v1("end", ids)
            t = int(now * 1e9)
            return dectris.encode_v1("image", {**ids, "image_id": j, "start_time": t,
                                               "stop_time": t, "real_time": 0},
                                     self.encoded[j])
        if kind == "start":
            return dectris.encode_v2("start", self.start)
        if kind == "end":
            return dectris.encode_v2("end", ids)
        return dectris.encode_v2("image", {**ids, "image_id": j, "real_time": [0, 1],
                                           "start_time": [j, 1], "stop_time": [j + 1, 1],
                                           "user_data": {"sent": now}},
                                 {"threshold_1": self.encoded[j]})


def send(socket: Any, sender: Sender, rate: float, skip: set[int], garbage: int | None,
         start: bool = True, end: bool = True) -> np.ndarray:
    """Send the series; each frame's send time (``time.time()``, NaN for skipped ones)."""
    multipart = sender.version == 1

    def put(message: Any) -> None:
        if multipart:
            socket.send_multipart(message, copy=False)
        else:
            socket.send(message, copy=False)

    if start:
        put(sender.message("start"))
    sent = np.full(sender.count, np.nan)
    began = time.monotonic()
    for j in range(sender.count):
        if rate > 0:
            pause = began + j / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        if garbage == j:
            socket.send(b"\x00 not a stream message")
        if j in skip:
            continue
        now = time.time()
        put(sender.message("image", j, now))
        sent[j] = now
    if end:
        put(sender.message("end"))
    return sent


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.formats.live.replay",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--bind", default="tcp://127.0.0.1:0", help="tcp://HOST:PORT (0: any port)")
    p.add_argument("--version", type=int, choices=(1, 2), default=2)
    p.add_argument("--frames", type=int, default=100, help="frames of the generated series")
    p.add_argument("--shape", default="512,1028", help="rows,cols of the generated frames")
    p.add_argument("--dtype", default="uint16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--distinct", type=int, default=16, help="patterns cycled (all frames "
                   "differ when it is --frames)")
    p.add_argument("--source", help="send the frames of this series instead (any lazyseries "
                                    "opens)")
    p.add_argument("--rate", type=float, default=0.0, help="frames/s (0: as fast as taken)")
    p.add_argument("--encoding", default="bslz4", help="bslz4, lz4, lz4-block (V1) or raw")
    p.add_argument("--omega", help="start,increment in degrees (the goniometer's omega)")
    p.add_argument("--frame-time", type=float, default=0.002)
    p.add_argument("--skip", default="", help="frames not sent, e.g. 5,6,7")
    p.add_argument("--garbage", type=int, help="send a non-message before this frame")
    p.add_argument("--no-start", action="store_true", help="send no start message (a "
                   "receiver joining a series already running)")
    p.add_argument("--no-end", action="store_true", help="send no end message (one lost)")
    p.add_argument("--log", help="save the send times here (.npy)")
    args = p.parse_args(argv)
    zmq = require("zmq", "live", "the replay sender")
    context = zmq.Context()
    socket = context.socket(zmq.PUSH)
    socket.setsockopt(zmq.SNDHWM, 64)
    host, _, port = args.bind.rpartition(":")
    if port == "0":
        socket.bind_to_random_port(host)
    else:
        socket.bind(args.bind)
    print(socket.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
    if args.source:
        from pipeline.formats.opening import open as open_series

        pixels = np.asarray(open_series(args.source))
    else:
        shape = tuple(int(n) for n in args.shape.split(","))
        pixels = frames(args.frames, shape, args.dtype, args.seed, args.distinct)
    omega = tuple(float(v) for v in args.omega.split(",")) if args.omega else None
    sender = Sender(args.version, pixels, None if args.encoding == "raw" else args.encoding,
                    omega, args.frame_time)  # type: ignore[arg-type]
    skip = {int(v) for v in args.skip.split(",") if v.strip()}
    sent = send(socket, sender, args.rate, skip, args.garbage, not args.no_start,
                not args.no_end)
    if args.log:
        np.save(args.log, sent)
    socket.close(linger=60_000)  # what is queued still goes out
    context.term()
    print("done", flush=True)
    return 0


def launch(*args: str, timeout: float = 60.0) -> tuple[subprocess.Popen[str], str]:
    """Start a replay sender (``args`` as on its command line); the process and the address
    it bound.  End it with ``proc.kill()`` (by its pid) when done."""
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.formats.live.replay", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    line = ""
    with selectors.DefaultSelector() as sel:  # a sender that says nothing is not waited for
        sel.register(proc.stdout, selectors.EVENT_READ)
        if sel.select(timeout):
            line = proc.stdout.readline().strip()
    if not line.startswith("tcp://"):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise LiveTimeoutError(f"the replay sender did not bind within {timeout:g} s: "
                               f"{line!r} {err[-2000:]}")
    return proc, line


if __name__ == "__main__":
    sys.exit(main())

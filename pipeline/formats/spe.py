"""Princeton Instruments SPE files (versions 2.x and 3.0), read a frame at a time.

An SPE file is a 4100-byte header, the frames, and (from version 3.0) an
XML footer.  The header gives the pixel type (offset 108), the frame width
(42) and height (656), the number of frames (1446), the header version
(1992) and, from 3.0, where the XML footer starts (678).  In 3.0 files the
footer's ``DataFormat/DataBlock`` says how many bytes apart frames lie
(``stride``), which exceeds a frame's size when per-frame metadata (time
stamps) follows each frame; that stride is honoured here.

A read opens the file, seeks to the rows it needs and reads only those.
The metadata holds ``spe_version``, and ``spe_xml`` (the footer) for 3.0.
"""

from __future__ import annotations

import builtins
import os
import warnings
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np

from ops import Region
from pipeline.errors import NotASeriesError, NotMyFormat
from pipeline.formats._plugin import Format
from pipeline.formats.base import FileSeries, frame_numbers, output
from pipeline.series import FrameSelection

DATA_START = 4100
HEADER = {  # name: (offset, little-endian dtype), from the SPE 2.5 and 3.0 specifications
    "datatype": (108, "<i2"), "xdim": (42, "<u2"), "ydim": (656, "<u2"),
    "xml_offset": (678, "<u8"), "nframes": (1446, "<i4"), "version": (1992, "<f4"),
    "exposure_sec": (10, "<f4"),
}
DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"), 1: np.dtype("<i4"), 2: np.dtype("<i2"), 3: np.dtype("<u2"),
    5: np.dtype("<f8"), 6: np.dtype("u1"), 8: np.dtype("<u4")}
"""The header's pixel type codes."""


def read_header(path: str) -> dict[str, Any]:
    """The header fields of :data:`HEADER` of the SPE file at ``path``."""
    with builtins.open(path, "rb") as fh:
        head = fh.read(DATA_START)
    if len(head) < DATA_START:
        raise NotMyFormat(f"{path!r} is too short for an SPE file ({len(head)} bytes; the "
                          f"header alone is {DATA_START})")
    return {name: np.frombuffer(head, dt, 1, off)[0].item()
            for name, (off, dt) in HEADER.items()}


def _footer_layout(path: str, offset: int) -> tuple[str, int | None]:
    """The 3.0 XML footer and the frame stride it declares (None when it declares none)."""
    with builtins.open(path, "rb") as fh:
        fh.seek(offset)
        xml = fh.read().decode("utf-8", "replace")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise NotASeriesError(f"{path!r}: the SPE 3.0 XML footer at byte {offset} does not "
                              f"parse: {err}") from err
    for block in root.iter():
        if block.tag.rsplit("}", 1)[-1] == "DataBlock" and block.get("type") == "Frame":
            regions = [b for b in block if b.get("type") == "Region"]
            if len(regions) > 1:
                raise NotASeriesError(f"{path!r} holds {len(regions)} regions per frame; "
                                      "only single-region SPE files are series of frames")
            stride = block.get("stride")
            return xml, int(stride) if stride else None
    return xml, None


class SpeSeries(FileSeries):
    """The frames of a Princeton Instruments SPE file.

    Parameters
    ----------
    path
        The ``.spe`` file.
    """

    format_name = "spe"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        if not os.path.isfile(self._path):
            raise NotMyFormat(f"{self._path!r} is not a file")
        head = read_header(self._path)
        if head["datatype"] not in DTYPES or not head["xdim"] or not head["ydim"]:
            raise NotMyFormat(
                f"{self._path!r} is not an SPE file: pixel type {head['datatype']!r} (valid: "
                f"{sorted(DTYPES)}), frame {head['ydim']} x {head['xdim']}"
            )
        self._dtype = DTYPES[head["datatype"]]
        self._shape = (int(head["ydim"]), int(head["xdim"]))
        frame_bytes = self._shape[0] * self._shape[1] * self._dtype.itemsize
        self._stride = frame_bytes
        self._meta: dict[str, Any] = {"spe_version": round(float(head["version"]), 3)}
        end = os.path.getsize(self._path)
        if head["version"] >= 3 and head["xml_offset"]:
            if not DATA_START <= head["xml_offset"] <= end:
                raise NotASeriesError(f"{self._path!r}: the header puts the XML footer at byte "
                                      f"{head['xml_offset']}, outside the file ({end} bytes)")
            xml, stride = _footer_layout(self._path, int(head["xml_offset"]))
            self._meta["spe_xml"] = xml
            self._stride = stride or frame_bytes
            end = int(head["xml_offset"])
        else:
            self._meta["exposure_sec"] = float(head["exposure_sec"])
        self._nframes = self._count(int(head["nframes"]), end, frame_bytes)

    def _count(self, declared: int, end: int, frame_bytes: int) -> int:
        # the last frame needs only its pixels, not a whole stride after it
        held = max(0, (end - DATA_START - frame_bytes) // self._stride + 1)
        if held == 0:
            raise NotASeriesError(
                f"{self._path!r} holds no whole frame: a frame of {self._shape[0]} x "
                f"{self._shape[1]} {self._dtype} is {frame_bytes} bytes, the data "
                f"{max(0, end - DATA_START)}"
            )
        if declared > held:  # some acquisition software writes a wrong count; trust the bytes
            warnings.warn(f"{self._path!r}: the header says {declared} frames but the file "
                          f"holds {held}; reading {held}", stacklevel=4)
            return held
        return declared

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        # one open file for all the frames of a read, and of each only the rows asked for
        indices = frame_numbers(frames, len(self))
        (r0, r1), (c0, c1) = region
        cols = self._shape[1]
        out = output(indices, region, self._dtype)
        item = self._dtype.itemsize
        with builtins.open(self._path, "rb") as fh:
            for k, j in enumerate(indices):
                # the rows lie contiguous in the frame
                fh.seek(DATA_START + int(j) * self._stride + r0 * cols * item)
                block = np.fromfile(fh, self._dtype, (r1 - r0) * cols)
                out[k] = block.reshape(r1 - r0, cols)[:, c0:c1]
        return out


def open(path: str | os.PathLike[str]) -> SpeSeries:
    """A Princeton Instruments SPE file, lazily: its header now, the rows asked for per read."""
    return SpeSeries(path)


def sniff(path: str) -> bool:
    """SPE files carry no signature: detection takes only ``.spe`` files (``format="spe"`` any)."""
    return path.lower().endswith(".spe")


class SpeFormat(Format):
    """Princeton Instruments SPE files (:func:`open`)."""

    name = "spe"
    aliases = ("princeton",)
    extensions = (".spe",)
    open = staticmethod(open)
    sniff = staticmethod(sniff)


FORMAT = SpeFormat()

__all__ = ["DTYPES", "FORMAT", "SpeFormat", "SpeSeries", "open", "read_header", "sniff"]

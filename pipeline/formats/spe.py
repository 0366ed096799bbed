"""Princeton Instruments SPE files (versions 2.x and 3.0), read a frame at a time.

An SPE file is a 4100-byte header, the frames, and (from version 3.0) an
XML footer.  The header gives the pixel type (offset 108), the frame width
(42) and height (656), the number of frames (1446), the header version
(1992) and, from 3.0, where the XML footer starts (678).  In 3.0 files the
footer's ``DataFormat/DataBlock`` says how many bytes apart frames lie
(``stride``), which exceeds a frame's size when per-frame metadata (time
stamps) follows each frame; that stride is honoured here.

A read opens the file, seeks to the rows it needs and reads only those.
The metadata holds ``spe_version``; for 2.x files every documented header
field (:data:`FIELDS`: exposure, temperatures, ADC settings, comments,
software version...), the regions of interest (``ROIs``), the ``[x, y]``
pairs of :data:`PAIRS` and the acquisition's ``date``, ``time_local`` and
``datetime`` (ISO 8601), under the names imageio gives them; for 3.0 files
``spe_xml``, the footer LightField writes them in.
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
FIELDS: dict[str, tuple[int, str, int]] = {
    # name: (offset, little-endian dtype, count), the SPE 2.x header as Princeton documents
    # it (WinView/WinSpec manual, appendix "Data Structure"); names as imageio gives them
    "controller_version": (0, "<i2", 1), "logic_output": (2, "<i2", 1),
    "amp_high_cap_low_noise": (4, "<u2", 1), "mode": (8, "<i2", 1),
    "exposure_sec": (10, "<f4", 1), "date": (20, "S10", 1), "detector_temp": (36, "<f4", 1),
    "detector_type": (40, "<i2", 1), "st_diode": (44, "<i2", 1), "delay_time": (46, "<f4", 1),
    "shutter_control": (50, "<u2", 1), "absorb_live": (52, "<i2", 1),
    "absorb_mode": (54, "<u2", 1), "can_do_virtual_chip": (56, "<i2", 1),
    "threshold_min_live": (58, "<i2", 1), "threshold_min_val": (60, "<f4", 1),
    "threshold_max_live": (64, "<i2", 1), "threshold_max_val": (66, "<f4", 1),
    "time_local": (172, "S7", 1), "time_utc": (179, "S7", 1), "adc_offset": (188, "<u2", 1),
    "adc_rate": (190, "<u2", 1), "adc_type": (192, "<u2", 1), "adc_resolution": (194, "<u2", 1),
    "adc_bit_adjust": (196, "<u2", 1), "gain": (198, "<u2", 1), "comments": (200, "S80", 5),
    "geometric": (600, "<u2", 1), "readout_time": (672, "<f4", 1), "sw_version": (688, "S16", 1),
    "type": (704, "<i2", 1), "spare_4": (742, "S436", 1), "clockspeed_us": (1428, "<f4", 1),
    "readout_mode": (1480, "<u2", 1), "window_size": (1482, "<u2", 1),
    "xml_footer_offset": (678, "<u8", 1), "file_header_ver": (1992, "<f4", 1),
}
"""The header fields given as metadata; :data:`PAIRS` and the ROIs are read beside them."""

PAIRS: dict[str, tuple[tuple[int, str], tuple[int, str]]] = {
    "chip_size": ((6, "<u2"), (18, "<u2")), "virt_chip_size": ((14, "<i2"), (16, "<i2")),
    "pre_pixels": ((98, "<i2"), (102, "<i2")), "post_pixels": ((100, "<i2"), (104, "<i2")),
}
"""Header fields given as ``[x, y]`` pairs."""

ROI_COUNT, ROI_START, ROI_SLOTS = 1510, 1512, 10
"""The number of regions of interest, where their (startx, endx, groupx, starty, endy,
groupy) records start, and how many the header has room for."""

CONTROLLERS = ("new120 (Type II)", "old120 (Type I)", "ST130", "ST121", "ST138",
               "DC131 (PentaMax)", "ST133 (MicroMax/Roper)", "ST135 (GPIB)", "VTCCD",
               "ST116 (GPIB)", "OMA3 (GPIB)", "OMA4")
"""Controller names of the header's ``type`` codes 1, 2, ..."""

READOUT_MODES = ("full frame", "frame transfer", "kinetics")
"""Readout modes of the header's ``readout_mode`` codes 1, 2, 3."""

MAX_FOOTER_BYTES = 2**26
"""The largest SPE 3.0 XML footer read (64 MiB): LightField's are a few KiB."""

DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"), 1: np.dtype("<i4"), 2: np.dtype("<i2"), 3: np.dtype("<u2"),
    5: np.dtype("<f8"), 6: np.dtype("u1"), 8: np.dtype("<u4")}
"""The header's pixel type codes."""


def read_head(path: str) -> bytes:
    """The 4100-byte header of the SPE file at ``path``."""
    with builtins.open(path, "rb") as fh:
        head = fh.read(DATA_START)
    if len(head) < DATA_START:
        raise NotMyFormat(f"{path!r} is too short for an SPE file ({len(head)} bytes; the "
                          f"header alone is {DATA_START})")
    return head


def read_header(path: str, head: bytes | None = None) -> dict[str, Any]:
    """The layout fields of :data:`HEADER` of the SPE file at ``path`` (from ``head``, its
    header, when given)."""
    head = read_head(path) if head is None else head
    return {name: np.frombuffer(head, dt, 1, off)[0].item()
            for name, (off, dt) in HEADER.items()}


def header_metadata(head: bytes) -> dict[str, Any]:
    """The SPE 2.x header's fields (:data:`FIELDS`, :data:`PAIRS`, the ROIs and the date) as
    metadata: text decoded as Latin-1, codes named, flags as booleans and lists."""
    meta: dict[str, Any] = {}
    for name, (offset, dtype, count) in FIELDS.items():
        values = np.frombuffer(head, dtype, count, offset)
        if name == "spare_4":  # free space programs fill as they like: left as bytes
            meta[name] = values[0].item()
        elif values.dtype.kind == "S":
            text = [v.decode("latin-1") for v in values.tolist()]
            meta[name] = text if count > 1 else text[0]
        else:
            meta[name] = values[0].item()
    for name, ((ox, tx), (oy, ty)) in PAIRS.items():
        meta[name] = [np.frombuffer(head, tx, 1, ox)[0].item(),
                      np.frombuffer(head, ty, 1, oy)[0].item()]
    for flag in ("absorb_live", "can_do_virtual_chip", "threshold_min_live",
                 "threshold_max_live"):
        meta[flag] = bool(meta[flag])
    bits = meta["geometric"]
    meta["geometric"] = [op for bit, op in ((1, "rotate"), (2, "reverse"), (4, "flip"))
                         if bits & bit]
    meta["type"] = _named(CONTROLLERS, meta["type"])
    meta["readout_mode"] = _named(READOUT_MODES, meta["readout_mode"])
    meta["ROIs"] = _rois(head)
    stamp = _datetime(meta["date"], meta["time_local"])
    if stamp is not None:
        meta["datetime"] = stamp
    return meta


def _named(names: tuple[str, ...], code: int) -> str | None:
    return names[code - 1] if 1 <= code <= len(names) else None


def _rois(head: bytes) -> list[dict[str, list[int]]]:
    """The regions of interest: at least one (a count of 0 means the first), at most the
    header's ten slots (a larger count is damage, not more regions)."""
    count = min(max(int(np.frombuffer(head, "<i2", 1, ROI_COUNT)[0]), 1), ROI_SLOTS)
    records = np.frombuffer(head, "<u2", 6 * count, ROI_START).reshape(count, 6).tolist()
    return [{"top_left": [sx, sy], "bottom_right": [ex, ey], "bin": [gx, gy]}
            for sx, ex, gx, sy, ey, gy in records]


def _datetime(date: str, time: str) -> str | None:
    """The acquisition's local date and time as ISO 8601 text (``"22Jul2015"`` and
    ``"094018"``), or None when the header's are not a date."""
    import datetime

    try:
        day = datetime.datetime.strptime(date.strip(), "%d%b%Y")
        clock = datetime.datetime.strptime(time.strip() or "000000", "%H%M%S").time()
    except ValueError:
        return None
    return datetime.datetime.combine(day.date(), clock).isoformat()


def _footer_layout(path: str, offset: int) -> tuple[str, int | None]:
    """The 3.0 XML footer and the frame stride it declares (None when it declares none)."""
    with builtins.open(path, "rb") as fh:
        fh.seek(offset)
        raw = fh.read(MAX_FOOTER_BYTES + 1)
    if len(raw) > MAX_FOOTER_BYTES:
        raise NotASeriesError(f"{path!r}: the SPE 3.0 XML footer at byte {offset} is longer "
                              f"than {MAX_FOOTER_BYTES} bytes; the header is damaged")
    xml = raw.decode("utf-8", "replace")
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
            try:
                return xml, int(stride) if stride else None
            except ValueError:
                raise NotASeriesError(f"{path!r}: the SPE 3.0 XML footer gives the frame stride "
                                      f"{stride!r}, not a number of bytes") from None
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
        raw = read_head(self._path)
        head = read_header(self._path, raw)
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
            if stride is not None and stride < frame_bytes:
                raise NotASeriesError(
                    f"{self._path!r}: the SPE 3.0 XML footer puts frames {stride} bytes apart, "
                    f"less than a frame of {self._shape[0]} x {self._shape[1]} {self._dtype} "
                    f"({frame_bytes} bytes)")
            self._meta["spe_xml"] = xml
            self._stride = stride or frame_bytes
            end = int(head["xml_offset"])
        else:
            self._meta.update(header_metadata(raw))
        self._nframes = self._count(int(head["nframes"]), end, frame_bytes)

    def _count(self, declared: int, end: int, frame_bytes: int) -> int:
        if declared < 0:
            raise NotASeriesError(f"{self._path!r}: the SPE header declares {declared} frames; "
                                  "the header is damaged")
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

__all__ = ["DTYPES", "FIELDS", "FORMAT", "PAIRS", "SpeFormat", "SpeSeries", "header_metadata",
           "open", "read_head", "read_header", "sniff"]

"""DECTRIS stream messages, decoded and encoded: Stream V2 (CBOR) and Stream V1 (JSON + blobs).

Stream V2 (DECTRIS' documentation repository, ``stream_v2/README.md`` and
``cbor/dectris-compression-tag.md``): one CBOR map per ZeroMQ message, its
``type`` ``start``, ``image`` or ``end``.  An image's ``data`` maps each
channel (threshold) to a multi-dimensional array (tag 40: dimensions, then a
typed array, RFC 8746), whose bytes may be a compressed byte string (tag 56500:
``["bslz4", element size, bytes]`` or ``["lz4", 0, bytes]``, both in the
framing of the HDF5 filters: 8-byte big-endian size, 4-byte block size, then
blocks each after its 4-byte compressed size).

Stream V1 (the SIMPLON API manual, as cctbx/dxtbx's ``FormatEigerStream`` and
LiberTEM-live read it): multipart messages whose parts are JSON headers and
binary blobs.  ``dheader-1.0`` (then, for ``header_detail`` ``basic`` or
``all``, the detector configuration, and for ``all`` the flatfield, pixel
mask and count-rate table, each a header and a blob), ``dimage-1.0`` (then
``dimage_d-1.0``: ``shape`` as ``[x, y]``, ``type``, ``encoding``; the blob;
``dconfig-1.0``), ``dseries_end-1.0``.  An encoding ``bs16-lz4<`` is
bit-shuffled LZ4 in the HDF5 filter's framing, ``lz4<`` one plain LZ4 block,
``<`` raw little-endian bytes.

Frames stay encoded until read (:func:`decode_frame`), so a receiver holds
them compressed and the decoding runs in the consumer's threads.  The
encoders make the same messages for the replay sender and the tests.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ops import require
from pipeline.errors import StreamMessageError
from pipeline.formats import eiger

KINDS = ("start", "image", "end")
DECTRIS_TAG = 56500
SELF_DESCRIBED = 55799
MULTI_DIM, MULTI_DIM_F = 40, 1040
TYPED: dict[int, str] = {
    64: "u1", 65: ">u2", 66: ">u4", 67: ">u8", 68: "u1", 69: "<u2", 70: "<u4", 71: "<u8",
    72: "i1", 73: ">i2", 74: ">i4", 75: ">i8", 77: "<i2", 78: "<i4", 79: "<i8",
    80: ">f2", 81: ">f4", 82: ">f8", 84: "<f2", 85: "<f4", 86: "<f8",
}
"""RFC 8746 typed-array tags and their dtypes."""
TAG_OF = {np.dtype(v).str: k for k, v in TYPED.items() if k != 68}
BLOCK_BYTES = 8192
"""The block size the detector's bitshuffle-LZ4 and LZ4 framings use."""
MAX_FRAME_BYTES = 2**32
"""A frame declaring more decoded bytes than this is refused before decoding."""
_V1_ENCODING = re.compile(r"^(?:bs(8|16|32)-)?(lz4)?([<>])?$")


@dataclass(frozen=True)
class EncodedFrame:
    """One frame as it came: its shape and dtype, and its bytes in ``encoding``.

    ``encoding`` is ``"bslz4"`` or ``"lz4"`` (the HDF5 filters' framing),
    ``"lz4-block"`` (Stream V1's ``lz4<``: one LZ4 block) or None (raw bytes).
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    encoding: str | None
    elem_size: int
    data: bytes

    @property
    def nbytes(self) -> int:
        return len(self.data)

    def check(self) -> None:
        """Refuse a frame whose declared size disagrees with its shape and dtype (before any
        decoding, so a header claiming an absurd frame allocates nothing)."""
        wanted = math.prod(self.shape) * self.dtype.itemsize
        if not self.shape or min(self.shape) < 1 or wanted > MAX_FRAME_BYTES:
            raise StreamMessageError(f"a frame of shape {self.shape} {self.dtype} is not one "
                                     "a detector sends")
        if self.encoding in ("bslz4", "lz4"):
            stored = int.from_bytes(self.data[:8], "big") if len(self.data) >= 12 else -1
        elif self.encoding is None:
            stored = len(self.data)
        else:
            return  # a plain LZ4 block says nothing of its size: the decoder checks it
        if stored != wanted:
            raise StreamMessageError(
                f"a frame of shape {self.shape} {self.dtype} is {wanted} bytes, but its "
                f"{self.encoding or 'raw'} bytes hold {stored}")


def decode_frame(frame: EncodedFrame) -> np.ndarray:
    """The pixels of ``frame`` (a new array, native byte order)."""
    frame.check()
    if frame.encoding == "lz4-block":
        lz4 = require("lz4.block", "live", "Stream V1 'lz4<' frames")
        size = math.prod(frame.shape) * frame.dtype.itemsize
        try:
            raw: Any = lz4.decompress(frame.data, uncompressed_size=size)
        except Exception as err:  # noqa: BLE001  (lz4's LZ4BlockError: any damage)
            raise StreamMessageError(f"an 'lz4<' frame does not decode: {err}") from None
        if len(raw) != size:
            raise StreamMessageError(f"an 'lz4<' frame decodes to {len(raw)} bytes, not {size}")
    elif frame.encoding is None:
        raw = frame.data
    else:
        fields = {"compression_type": frame.encoding, "dtype": frame.dtype.str,
                  "shape": frame.shape, "elem_size": frame.elem_size, "data": frame.data}
        try:
            return eiger.decompress_frame(fields).astype(frame.dtype.newbyteorder("="))
        except (RuntimeError, ValueError) as err:
            raise StreamMessageError(f"a {frame.encoding!r} frame does not decode: {err}"
                                     ) from None
    out = np.frombuffer(raw, frame.dtype).reshape(frame.shape)
    return out.astype(frame.dtype.newbyteorder("="))


def encode_frame(pixels: np.ndarray, encoding: str | None = "bslz4") -> EncodedFrame:
    """``pixels`` encoded as a detector sends them (``"bslz4"``, ``"lz4"``, ``"lz4-block"``
    or None for raw bytes)."""
    pixels = np.ascontiguousarray(pixels)
    dtype = pixels.dtype.newbyteorder("<") if pixels.dtype.itemsize > 1 else pixels.dtype
    pixels = pixels.astype(dtype, copy=False)
    raw = pixels.tobytes()
    if encoding is None:
        data = raw
    elif encoding == "bslz4":
        bitshuffle = require("bitshuffle", "live", "encoding bslz4 frames")
        block = BLOCK_BYTES // dtype.itemsize
        body = bitshuffle.compress_lz4(pixels.reshape(-1), block).tobytes()
        data = struct.pack(">QI", len(raw), BLOCK_BYTES) + body
    elif encoding == "lz4":
        data = _lz4_hdf5(raw)
    elif encoding == "lz4-block":
        data = require("lz4.block", "live", "lz4 frames").compress(raw, store_size=False)
    else:
        raise StreamMessageError(f"unknown frame encoding {encoding!r}; known: 'bslz4', "
                                 "'lz4', 'lz4-block', None")
    return EncodedFrame(tuple(pixels.shape), dtype, encoding, dtype.itemsize, data)


def _lz4_hdf5(raw: bytes) -> bytes:
    """LZ4 in the HDF5 LZ4 filter's framing; a block LZ4 cannot shrink is stored as it is."""
    lz4 = require("lz4.block", "live", "lz4 frames")
    parts = [struct.pack(">QI", len(raw), BLOCK_BYTES)]
    for start in range(0, len(raw), BLOCK_BYTES):
        block = raw[start:start + BLOCK_BYTES]
        packed = lz4.compress(block, store_size=False)
        if len(packed) >= len(block):
            packed = block
        parts += [struct.pack(">I", len(packed)), packed]
    return b"".join(parts)


@dataclass
class Message:
    """One stream message: its kind, its fields, and for an image its frames by channel."""

    kind: str
    fields: dict[str, Any]
    frames: dict[str, EncodedFrame] = field(default_factory=dict)

    @property
    def series(self) -> tuple[Any, Any]:
        """``(series_id, series_unique_id)`` (V1 has no unique id: None)."""
        return self.fields.get("series_id"), self.fields.get("series_unique_id")

    @property
    def image_id(self) -> int:
        value = self.fields.get("image_id")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise StreamMessageError(f"an image message's number is {value!r}, not a whole "
                                     "number >= 0")
        return value


# -- Stream V2 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Compressed:
    algorithm: str
    elem_size: int
    data: bytes


@dataclass(frozen=True)
class _TypedCompressed:
    dtype: np.dtype
    payload: _Compressed


def _tag_hook(*args: Any) -> Any:
    # cbor2 calls hook(decoder, tag) before 6.0 and hook(tag, immutable) since
    tag = next(a for a in args if hasattr(a, "tag") and hasattr(a, "value"))
    number, value = tag.tag, tag.value
    if number == DECTRIS_TAG:
        if not (isinstance(value, list | tuple) and len(value) == 3 and isinstance(value[0], str)
                and isinstance(value[1], int) and isinstance(value[2], bytes)):
            raise StreamMessageError(f"a compressed byte string (tag {DECTRIS_TAG}) is "
                                     f"{value!r:.80}, not [algorithm, element size, bytes]")
        if value[0] not in ("bslz4", "lz4"):
            raise StreamMessageError(f"compression {value[0]!r} (tag {DECTRIS_TAG}) is not "
                                     "one this reader knows: 'bslz4', 'lz4'")
        return _Compressed(value[0], int(value[1]), value[2])
    if number in TYPED:
        dtype = np.dtype(TYPED[number])
        if isinstance(value, _Compressed):
            return _TypedCompressed(dtype, value)
        if not isinstance(value, bytes) or len(value) % dtype.itemsize:
            raise StreamMessageError(f"a typed array (tag {number}) holds {value!r:.60}, not "
                                     f"bytes of {dtype}")
        return np.frombuffer(value, dtype)
    if number in (MULTI_DIM, MULTI_DIM_F):
        return _multi_dim(value, number == MULTI_DIM_F)
    return tag


def _multi_dim(value: Any, column_major: bool) -> Any:
    if not (isinstance(value, list | tuple) and len(value) == 2 and
            isinstance(value[0], list | tuple) and all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value[0])):
        raise StreamMessageError(f"a multi-dimensional array is {value!r:.80}, not "
                                 "[dimensions, contents]")
    dims, contents = tuple(int(n) for n in value[0]), value[1]
    if isinstance(contents, _TypedCompressed):
        if column_major:
            raise StreamMessageError("a compressed column-major frame is not one a detector "
                                     "sends")
        payload = contents.payload
        return EncodedFrame(dims, contents.dtype, payload.algorithm, payload.elem_size,
                            payload.data)
    arr = np.array(contents, dtype=object if isinstance(contents, list | tuple) else None)
    if arr.size != math.prod(dims):
        raise StreamMessageError(f"a multi-dimensional array of dimensions {list(dims)} holds "
                                 f"{arr.size} values")
    return arr.reshape(dims, order="F" if column_major else "C")


def decode_v2(raw: bytes) -> Message:
    """One Stream V2 message (CBOR), its frames left encoded."""
    cbor2 = require("cbor2", "live", "DECTRIS Stream V2")
    if raw[:1] in (b"{", b"[") or raw[:1].isspace():
        raise StreamMessageError(
            f"this message starts {bytes(raw[:40])!r}: JSON, as Stream V1 sends, not Stream "
            "V2's CBOR; open the stream with format='dectris-stream-v1'")
    try:
        doc = cbor2.loads(raw, tag_hook=_tag_hook)
    except StreamMessageError:
        raise
    except Exception as err:  # noqa: BLE001  (cbor2's decode errors, of several types)
        raise StreamMessageError(f"a message of {len(raw)} bytes is not CBOR: {err}") from None
    if isinstance(doc, Mapping) and doc.get("type") in KINDS:
        fields = dict(doc)
        kind = fields.pop("type")
    else:
        raise StreamMessageError(f"a message is {doc!r:.80}: a Stream V2 message is a map "
                                 f"whose 'type' is one of {KINDS}")
    if kind != "image":
        return Message(kind, {k: plain(v) for k, v in fields.items()})
    data = fields.pop("data", None)
    if not isinstance(data, Mapping) or not data or not all(
            isinstance(f, EncodedFrame | np.ndarray) for f in data.values()):
        raise StreamMessageError(f"image {fields.get('image_id')!r}: its 'data' is "
                                 f"{data!r:.80}, not a map of channels to frames")
    frames = {str(k): v if isinstance(v, EncodedFrame) else _raw_frame(v)
              for k, v in data.items()}
    return Message(kind, fields, frames)


def _raw_frame(arr: np.ndarray) -> EncodedFrame:
    return EncodedFrame(tuple(arr.shape), arr.dtype, None, arr.dtype.itemsize, arr.tobytes())


def plain(value: Any) -> Any:
    """A decoded value as metadata takes it: maps as dicts, sequences as lists, frames and
    typed arrays as numpy arrays, dates as ISO text, anything else CBOR has as its repr."""
    if isinstance(value, EncodedFrame):
        return decode_frame(value)
    if isinstance(value, np.ndarray):
        return value.astype(value.dtype.newbyteorder("=")) if value.dtype.kind != "O" \
            else value.tolist()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    return repr(value)


def _cbor_value(value: Any) -> Any:
    cbor2 = require("cbor2", "live", "DECTRIS Stream V2")
    if isinstance(value, EncodedFrame):
        inner = cbor2.CBORTag(DECTRIS_TAG, [value.encoding, value.elem_size, value.data]) \
            if value.encoding in ("bslz4", "lz4") else value.data
        return cbor2.CBORTag(MULTI_DIM, [list(value.shape),
                                         cbor2.CBORTag(TAG_OF[value.dtype.str], inner)])
    if isinstance(value, np.ndarray):
        arr = value.astype(value.dtype.newbyteorder("<")) if value.dtype.itemsize > 1 else value
        return cbor2.CBORTag(MULTI_DIM, [list(arr.shape),
                                         cbor2.CBORTag(TAG_OF[arr.dtype.str], arr.tobytes())])
    if isinstance(value, Mapping):
        return {k: _cbor_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cbor_value(v) for v in value]
    return value


def encode_v2(kind: str, fields: dict[str, Any], frames: dict[str, EncodedFrame] | None = None
              ) -> bytes:
    """A Stream V2 message of ``kind`` (``type`` first, as the detector sends it)."""
    cbor2 = require("cbor2", "live", "DECTRIS Stream V2")
    doc: dict[str, Any] = {"type": kind, **{k: _cbor_value(v) for k, v in fields.items()}}
    if frames is not None:
        doc["data"] = {c: _cbor_value(f) for c, f in frames.items()}
    return bytes(cbor2.dumps(cbor2.CBORTag(SELF_DESCRIBED, doc)))


# -- Stream V1 ---------------------------------------------------------------------------------


def _json_part(part: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(bytes(part))
    except (ValueError, UnicodeDecodeError):
        raise StreamMessageError(f"{what} is {bytes(part[:40])!r}, not JSON") from None
    if not isinstance(doc, dict):
        raise StreamMessageError(f"{what} is {doc!r:.60}, not a JSON object")
    return doc


def v1_encoding(text: Any, type_name: Any) -> tuple[str | None, np.dtype, int]:
    """A ``dimage_d-1.0`` ``encoding`` and ``type`` as (encoding, dtype, element size)."""
    match = _V1_ENCODING.match(text) if isinstance(text, str) else None
    try:
        dtype = np.dtype(str(type_name))
    except TypeError:
        dtype = None
    if match is None or dtype is None or dtype.kind not in "uif":
        raise StreamMessageError(f"encoding {text!r} of type {type_name!r} is not one Stream V1 "
                                 "sends ('[bs<BIT>-][lz4][<|>]' of an integer or float type)")
    bits, lz4, order = match.groups()
    dtype = dtype.newbyteorder("<" if order == "<" or not order else ">")
    if bits is not None:
        return "bslz4", dtype, int(bits) // 8
    return ("lz4-block" if lz4 else None), dtype, dtype.itemsize


def _v1_array(head: dict[str, Any], blob: bytes, what: str) -> np.ndarray:
    shape = head.get("shape")
    if not isinstance(shape, list) or not shape:
        raise StreamMessageError(f"{what}: its shape is {shape!r}, not [x, y]")
    encoding, dtype, elem = v1_encoding(head.get("encoding", "<"), head.get("type"))
    frame = EncodedFrame(tuple(int(n) for n in reversed(shape)), dtype, encoding, elem,
                         bytes(blob))
    return decode_frame(frame)


def decode_v1(parts: list[bytes]) -> Message:
    """One Stream V1 multipart message (the parts as received), its frame left encoded."""
    if not parts:
        raise StreamMessageError("an empty multipart message")
    if parts[0][:1] not in (b"{", b" ", b"\n"):
        raise StreamMessageError(
            f"this message starts {bytes(parts[0][:40])!r}, not a JSON header as Stream V1 "
            "sends; a CBOR message is Stream V2's: open the stream with "
            "format='dectris-stream-v2'")
    head = _json_part(parts[0], "a message's first part")
    htype = head.get("htype")
    if htype == "dheader-1.0":
        return _v1_header(head, parts)
    if htype == "dimage-1.0":
        if len(parts) < 4:
            raise StreamMessageError(f"image {head.get('frame')!r} has {len(parts)} parts; "
                                     "dimage-1.0 is followed by dimage_d-1.0, the data and "
                                     "dconfig-1.0")
        info = _json_part(parts[1], f"image {head.get('frame')!r}'s second part")
        shape = info.get("shape")
        if info.get("htype") != "dimage_d-1.0" or not isinstance(shape, list) or not shape:
            raise StreamMessageError(f"image {head.get('frame')!r}: its second part is "
                                     f"{info!r:.80}, not dimage_d-1.0 with a shape [x, y]")
        encoding, dtype, elem = v1_encoding(info.get("encoding"), info.get("type"))
        frame = EncodedFrame(tuple(int(n) for n in reversed(shape)), dtype, encoding, elem,
                             bytes(parts[2]))
        config = _json_part(parts[3], f"image {head.get('frame')!r}'s dconfig part")
        fields = {"image_id": head.get("frame"), "series_id": head.get("series"),
                  "hash": head.get("hash"), **{k: v for k, v in config.items() if k != "htype"}}
        if len(parts) > 4:
            fields["appendix"] = bytes(parts[4]).decode("utf-8", "replace")
        return Message("image", fields, {"image": frame})
    if htype == "dseries_end-1.0":
        return Message("end", {"series_id": head.get("series")})
    raise StreamMessageError(f"a message's header is {head!r:.80}; Stream V1 headers are "
                             "dheader-1.0, dimage-1.0 and dseries_end-1.0")


V1_TABLES = {"dflatfield-1.0": "flatfield", "dpixelmask-1.0": "pixel_mask",
             "dcountrate_table-1.0": "countrate_correction_table"}


def _v1_header(head: dict[str, Any], parts: list[bytes]) -> Message:
    detail = head.get("header_detail", "none")
    fields: dict[str, Any] = {"series_id": head.get("series"), "header_detail": detail}
    rest = list(parts[1:])
    if detail in ("basic", "all"):
        if not rest:
            raise StreamMessageError(f"a dheader-1.0 of header_detail {detail!r} lacks the "
                                     "detector configuration part")
        fields["config"] = _json_part(rest.pop(0), "the detector configuration")
    while detail == "all" and len(rest) >= 2 and rest[0][:1] == b"{":
        table = _json_part(rest[0], "a table header")
        name = V1_TABLES.get(str(table.get("htype")))
        if name is None:
            break
        fields[name] = _v1_array(table, rest[1], str(table.get("htype")))
        rest = rest[2:]
    if rest:
        fields["appendix"] = bytes(rest[0]).decode("utf-8", "replace")
    return Message("start", fields)


def encode_v1(kind: str, fields: dict[str, Any], frame: EncodedFrame | None = None
              ) -> list[bytes]:
    """A Stream V1 multipart message of ``kind`` (``start``, ``image``, ``end``)."""
    def part(doc: dict[str, Any]) -> bytes:
        return json.dumps(doc).encode()

    series = fields.get("series_id", 1)
    if kind == "start":
        detail = fields.get("header_detail", "basic")
        out = [part({"htype": "dheader-1.0", "series": series, "header_detail": detail})]
        if detail in ("basic", "all"):
            out.append(part(fields.get("config", {})))
        return out
    if kind == "end":
        return [part({"htype": "dseries_end-1.0", "series": series})]
    assert frame is not None
    bits = f"bs{frame.elem_size * 8}-" if frame.encoding == "bslz4" else ""
    text = bits + ("lz4" if frame.encoding in ("bslz4", "lz4-block") else "") + "<"
    return [part({"htype": "dimage-1.0", "series": series, "frame": fields["image_id"],
                  "hash": fields.get("hash", "")}),
            part({"htype": "dimage_d-1.0", "shape": list(reversed(frame.shape)),
                  "type": frame.dtype.newbyteorder("=").name, "encoding": text,
                  "size": frame.nbytes}),
            frame.data,
            part({"htype": "dconfig-1.0", **{k: fields.get(k, 0) for k in
                                             ("start_time", "stop_time", "real_time")}})]


# -- what a start message says about the series -----------------------------------------------


def series_facts(version: int, start: Message | None) -> dict[str, Any]:
    """From a start message: ``expected`` frames, ``shape``, ``dtype`` (when it says),
    ``frame_time``, and the series' ``metadata`` (``omega`` from the goniometer, as
    hexrd's OmegaImageSeries reads it)."""
    if start is None:
        return {"metadata": {}}
    meta = {k: v for k, v in start.fields.items()}
    if version == 1:
        found = meta.get("config")
        config: dict[str, Any] = found if isinstance(found, dict) else {}
        facts = _v1_facts(config)
    else:
        facts = _v2_facts(meta)
    omega = _omega(facts.pop("omega_start", None), facts.pop("omega_increment", None),
                   facts.get("expected"))
    if omega is not None:
        meta["omega"] = omega
    facts["metadata"] = meta
    return facts


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value) else None


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 \
        else None


def _v2_facts(meta: dict[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {"expected": _count(meta.get("number_of_images")),
                             "frame_time": _number(meta.get("frame_time"))}
    x, y, kind = meta.get("image_size_x"), meta.get("image_size_y"), meta.get("image_dtype")
    rows, cols = _count(y), _count(x)
    if rows and cols and kind in ("uint8", "uint16", "uint32"):
        facts["shape"], facts["dtype"] = (rows, cols), np.dtype(kind)
    axis = (meta.get("goniometer") or {}).get("omega") if isinstance(
        meta.get("goniometer"), dict) else None
    if isinstance(axis, dict):
        facts["omega_start"], facts["omega_increment"] = axis.get("start"), axis.get("increment")
    return facts


def _v1_facts(config: dict[str, Any]) -> dict[str, Any]:
    nimages, ntrigger = _count(config.get("nimages")), _count(config.get("ntrigger"))
    mode = config.get("trigger_mode")
    expected = (ntrigger if mode in ("exte", "inte") else
                nimages * ntrigger if nimages and ntrigger else nimages)
    facts: dict[str, Any] = {"expected": expected, "frame_time": _number(config.get("frame_time")),
                             "omega_start": config.get("omega_start"),
                             "omega_increment": config.get("omega_increment")}
    return facts


def _omega(start: Any, step: Any, count: int | None) -> np.ndarray | None:
    """hexrd's omega array ``(count, 2)`` from a rotation's start and increment (degrees)."""
    first, inc = _number(start), _number(step)
    if first is None or inc is None or inc <= 0 or not count:
        return None
    edges = first + inc * np.arange(count + 1, dtype=np.float64)
    return np.stack([edges[:-1], edges[1:]], axis=1)


__all__ = ["EncodedFrame", "Message", "decode_frame", "decode_v1", "decode_v2", "encode_frame",
           "encode_v1", "encode_v2", "plain", "series_facts", "v1_encoding"]

"""How one chunk's bytes are made and read back: the codec chain after Zarr's ``bytes`` codec.

The chains lazyseries reads and writes itself are ``bytes``, at most one
compressor (Blosc, Zstd or GZip) and an optional ``crc32c`` checksum, byte
for byte as zarr-python makes them.  Every decode is checked before its
result counts: the checksum where there is one, and the decoded size always,
so a damaged, truncated or foreign chunk raises
:class:`~pipeline.errors.DamagedChunkError` naming it, never leaves a
buffer's earlier pixels in a frame.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.errors import DamagedChunkError

COMPRESSORS = ("blosc", "zstd", "gzip")
"""The compressors of a chain this module reads and writes directly."""

_SHUFFLES = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}
_BLOSC_HEADER = struct.Struct("<BBBBIII")  # version, versionlz, flags, typesize, nbytes, blocksize, cbytes


def _crc_value(data: Any) -> int:
    import google_crc32c  # zarr-python's own checksum library (a dependency of zarr)

    # its C extension takes bytes and numpy arrays, not memoryviews: a view of the same bytes
    return int(google_crc32c.value(np.frombuffer(data, np.uint8)))


def crc32c(data: Any) -> bytes:
    """zarr's ``crc32c`` codec's checksum of ``data``: 4 bytes, little-endian."""
    return struct.pack("<I", _crc_value(data))


def numcodecs_codec(spec: dict[str, Any]) -> Any:
    """The numcodecs codec zarr-python builds for the Zarr 3 compressor ``spec``."""
    import numcodecs

    name, conf = spec["name"], dict(spec.get("configuration") or {})
    if name == "blosc":
        return numcodecs.Blosc(cname=conf["cname"], clevel=int(conf["clevel"]),
                               shuffle=_SHUFFLES[conf["shuffle"]],
                               blocksize=int(conf.get("blocksize", 0)),
                               typesize=int(conf["typesize"]))
    if name == "zstd":
        return numcodecs.Zstd(level=int(conf.get("level", 0)),
                              checksum=bool(conf.get("checksum", False)))
    return numcodecs.GZip(level=int(conf.get("level", 5)))


@dataclass
class ChunkCodec:
    """A chain ``bytes [+ compressor] [+ crc32c]``; picklable (codecs rebuilt where used).

    ``compressor`` is the Zarr 3 spec of the compressor (None: none).
    """

    compressor: dict[str, Any] | None
    crc: bool = False
    _built: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"compressor": self.compressor, "crc": self.crc, "_built": {}}

    @classmethod
    def of(cls, codecs: list[dict[str, Any]], dtype: np.dtype) -> ChunkCodec | None:
        """The codec of a chain of Zarr 3 codec specs, or None if the chain is not one of these."""
        if not codecs or codecs[0].get("name") != "bytes":
            return None
        endian = (codecs[0].get("configuration") or {}).get("endian")
        native = "little" if np.little_endian else "big"
        if dtype.itemsize > 1 and (endian != native or not dtype.isnative):
            return None
        rest = list(codecs[1:])
        crc = bool(rest) and rest[-1].get("name") == "crc32c"
        if crc:
            rest.pop()
        if not rest:
            return cls(None, crc)
        if len(rest) == 1 and rest[0].get("name") in COMPRESSORS:
            return cls(rest[0], crc)
        return None

    # -- decoding --------------------------------------------------------------------

    def decode_into(self, data: Any, out: np.ndarray, where: str | Callable[[], str]) -> None:
        """Decode one stored chunk's bytes into ``out`` (C-contiguous, the chunk's shape).

        ``where`` names the chunk in errors (a function giving the name: it is made
        only when there is an error).
        """
        data = memoryview(data)
        if self.crc:
            if len(data) < 4 or _crc_value(data[:-4]) != int.from_bytes(data[-4:], "little"):
                raise DamagedChunkError(f"{_name(where)}: its CRC-32C checksum does not match "
                                        "its bytes; the store is damaged, rewrite it from its "
                                        "source")
            data = data[:-4]
        self._decoder(data, out, where)

    @functools.cached_property
    def _decoder(self) -> Callable[[Any, np.ndarray, Any], None]:
        spec = self.compressor
        if spec is None:
            return _copy_raw
        if spec["name"] == "blosc":
            return _blosc_into
        codec = numcodecs_codec(spec)

        def decode(data: Any, out: np.ndarray, where: Any) -> None:
            try:
                raw = codec.decode(data)
            except Exception as err:  # noqa: BLE001  (the codec's own complaint, any type)
                raise DamagedChunkError(f"{_name(where)} does not decode ({spec['name']}): {err}") \
                    from None
            _copy_raw(raw, out, where)

        return decode

    # -- encoding --------------------------------------------------------------------

    def encode(self, chunk: np.ndarray) -> bytes:
        """The stored bytes of ``chunk`` (C-contiguous), as zarr-python makes them."""
        payload = self._encoder(chunk)
        if self.crc:
            return bytes(payload) + crc32c(payload)
        return payload  # type: ignore[no-any-return]

    @functools.cached_property
    def _encoder(self) -> Callable[[np.ndarray], Any]:
        spec = self.compressor
        if spec is None:
            return np.ndarray.tobytes
        codec = numcodecs_codec(spec)
        if spec["name"] == "blosc":
            from numcodecs import blosc

            # what Blosc.encode calls, without its argument checks (a contiguous chunk here)
            conf = spec["configuration"]
            return functools.partial(blosc.compress, cname=conf["cname"].encode("ascii"),
                                     clevel=codec.clevel, shuffle=codec.shuffle,
                                     blocksize=codec.blocksize, typesize=int(conf["typesize"]))
        return codec.encode  # type: ignore[no-any-return]


def _name(where: str | Callable[[], str]) -> str:
    return where() if callable(where) else where


def _blosc_into(data: Any, out: np.ndarray, where: Any) -> None:
    from numcodecs import blosc

    if len(data) < _BLOSC_HEADER.size:
        raise DamagedChunkError(f"{_name(where)} holds {len(data)} bytes, too few for a Blosc "
                                "chunk; "
                                "the store is damaged, rewrite it from its source")
    header = _BLOSC_HEADER.unpack_from(data)
    nbytes, cbytes = header[4], header[6]
    if nbytes != out.nbytes or cbytes != len(data):
        # a chunk of another array, a damaged header, a data type widened in zarr.json: what
        # would decode is not this chunk, and must not fill part of it
        raise DamagedChunkError(
            f"{_name(where)}: its Blosc header says {nbytes} bytes compressed into {cbytes}, but the "
            f"chunk is {out.nbytes} bytes stored in {len(data)}; the store is damaged or its "
            "metadata does not describe it; rewrite it from its source")
    try:
        blosc.decompress(data, out)
    except RuntimeError as err:
        raise DamagedChunkError(f"{_name(where)} does not decode (Blosc): {err}") from None


def _copy_raw(data: Any, out: np.ndarray, where: Any) -> None:
    if len(data) != out.nbytes:
        raise DamagedChunkError(f"{_name(where)} holds {len(data)} bytes, not the chunk's "
                                f"{out.nbytes}; the store is damaged, rewrite it from its source")
    out.reshape(-1).view(np.uint8)[...] = np.frombuffer(data, np.uint8)


__all__ = ["COMPRESSORS", "ChunkCodec", "crc32c", "numcodecs_codec"]

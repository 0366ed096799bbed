"""Frames of Dectris Eiger streams saved to HDF5, and the decoding they need.

The stream writer stores every frame as a group of small datasets, the fields
of one image message of the Dectris stream:

``data``
    the encoded bytes (an opaque scalar), in the encoding named by
``compression_type``
    ``"lz4"`` or ``"bslz4"`` (LZ4, or bitshuffle then LZ4, both in the HDF5
    filter's framing: 8-byte big-endian size, 4-byte block size, then blocks),
    ``"bszstd"``, ``"csrnpz"`` (a scipy CSR matrix saved as NPZ after an 8-byte
    size) or absent/empty for raw bytes;
``dtype``, ``shape``, ``elem_size``
    what the decoded frame is (the same for every frame of a series: read
    once, from frame 0).

Version 1 files hold ``/data/<i>/<fields>``; version 2 (stream2, Eiger2 with
two energy thresholds) hold ``/data/<i>/<channel>/<fields>`` with channels
``threshold_1`` and ``threshold_2``.  ``/metadata`` holds the stream's start
message (and more), unwrapped into nested dicts.

Both stream formats (:mod:`pipeline.formats.eiger_stream_v1`,
:mod:`pipeline.formats.eiger_stream_v2`) build on :class:`EigerStreamSeries`.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import zipfile
from typing import Any

import numpy as np

from ops import Region, require
from pipeline.errors import (
    NotASeriesError,
    NotMyFormat,
    SeriesOptionError,
    UnsupportedCompressionError,
)
from pipeline.formats import _h5
from pipeline.formats.base import FileSeries, frame_by_frame
from pipeline.series import counted, region_index

ENCODINGS = (None, "lz4", "bslz4", "bszstd", "csrnpz")
"""Values of ``compression_type`` that :func:`decompress_frame` decodes."""

FRAME_FIELDS = ("compression_type", "dtype", "shape", "elem_size", "data")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size == 1 else value
    if isinstance(value, bytes | np.bytes_):
        value = value.decode("ascii", "replace")
    text = str(value).strip()
    return None if text in ("", "none", "None") else text


def _as_bytes(data: Any) -> bytes | bytearray | memoryview:
    if isinstance(data, bytes | bytearray | memoryview):
        return data
    return np.asarray(data).tobytes()  # np.void (HDF5 opaque) or a uint8 array


def decompress_frame(d: dict[str, Any]) -> np.ndarray:
    """Decode one stored frame, given as a dict of its fields (hexrd's ``decompress_frame``).

    Parameters
    ----------
    d
        ``compression_type`` (None for raw bytes, ``"lz4"``, ``"bslz4"``,
        ``"bszstd"`` or ``"csrnpz"``), ``dtype``, ``shape``, ``elem_size`` and
        ``data`` (bytes, or the ``np.void`` HDF5 hands back).

    Returns
    -------
    numpy.ndarray
        The frame, of ``shape`` and ``dtype``.
    """
    encoding = _text(d.get("compression_type"))
    dtype = np.dtype(_text(d["dtype"]) if isinstance(d["dtype"], bytes | str | np.ndarray)
                     else d["dtype"])
    shape = tuple(int(n) for n in np.atleast_1d(d["shape"]))
    if encoding is None:
        check_size(d, shape, dtype)
        return np.frombuffer(_as_bytes(d["data"]), dtype=dtype).reshape(shape)
    if encoding == "csrnpz":
        check_size(d, shape, dtype)
        return _decode_csrnpz(_as_bytes(d["data"]), shape, dtype)
    if encoding in ("lz4", "bslz4", "bszstd"):
        dectris = require("dectris.compression", "eiger", f"{encoding!r}-encoded Eiger frames")
        check_size(d, shape, dtype)
        elem_size = int(np.asarray(d.get("elem_size", dtype.itemsize)))
        raw = dectris.decompress(bytes(_as_bytes(d["data"])), encoding, elem_size=elem_size)
        return np.frombuffer(raw, dtype=dtype).reshape(shape)
    raise UnsupportedCompressionError(
        f"Unsupported compression type: {encoding} (compression_type={d.get('compression_type')!r});"
        f" known types are {list(ENCODINGS)}"
    )


def _decode_csrnpz(data: bytes | bytearray | memoryview, shape: tuple[int, ...], dtype: np.dtype
                   ) -> np.ndarray:
    """A CSR matrix saved by ``scipy.sparse.save_npz`` after an 8-byte size, as a dense frame."""
    with np.load(io.BytesIO(bytes(data[8:])), allow_pickle=False) as npz:
        kind = _text(npz["format"]) if "format" in npz else None
        if kind != "csr":
            raise NotASeriesError(f"a 'csrnpz' frame holds a {kind!r} matrix; only 'csr' is known")
        nrows, ncols = (int(n) for n in npz["shape"])
        values, indices, indptr = npz["data"], npz["indices"], npz["indptr"]
    _check_csr(nrows, ncols, values, indices, indptr, shape)
    out = np.zeros((nrows, ncols), dtype=values.dtype)
    rows = np.repeat(np.arange(nrows), np.diff(indptr))
    np.add.at(out, (rows, indices), values)  # sums duplicates, as scipy's toarray does
    if out.shape != shape and out.size == int(np.prod(shape)):
        out = out.reshape(shape)
    return out.astype(dtype, copy=False)


def _check_csr(nrows: int, ncols: int, values: np.ndarray, indices: np.ndarray,
               indptr: np.ndarray, shape: tuple[int, ...]) -> None:
    """A CSR matrix's arrays as scipy keeps them, for a frame of ``shape``: else
    NotASeriesError (never a value wrapped from a negative column into the last one)."""
    problem = None
    if nrows * ncols != math.prod(shape):
        problem = f"a {nrows} x {ncols} matrix for a frame of shape {shape}"
    elif indptr.ndim != 1 or len(indptr) != nrows + 1 or indptr.dtype.kind not in "iu":
        problem = f"an indptr of shape {indptr.shape} {indptr.dtype} for {nrows} rows"
    elif indices.ndim != 1 or values.shape != indices.shape or indices.dtype.kind not in "iu":
        problem = f"indices of shape {indices.shape} and data of shape {values.shape}"
    elif indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
        problem = f"an indptr that does not step through the {len(indices)} entries"
    elif len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= ncols):
        problem = f"a column of {int(indices.min()) if indices.min() < 0 else int(indices.max())}" \
            f" outside {ncols} columns"
    if problem is not None:
        raise NotASeriesError(f"a 'csrnpz' frame holds {problem}")


def read_fields(group: Any, constant: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fields of one frame group, as :func:`decompress_frame` takes them.

    ``constant`` holds fields known to be the same for every frame (dtype,
    shape, elem_size: one per stream series, read once from frame 0); only the
    others are read here.
    """
    d: dict[str, Any] = dict(constant or {})
    for key in FRAME_FIELDS:
        if key not in d:
            node = group.get(key)
            if node is not None:
                d[key] = node[()]
    if "data" not in d or "dtype" not in d or "shape" not in d:
        raise NotASeriesError(
            f"frame group {group.name!r} lacks {sorted(set(FRAME_FIELDS[1:]) - set(d))}; "
            f"an Eiger stream frame holds {list(FRAME_FIELDS)}"
        )
    return d


def constant_fields(group: Any) -> dict[str, Any]:
    """The fields of frame 0 that hold for the whole series: ``dtype``, ``shape``, ``elem_size``."""
    d = {key: group[key][()] for key in ("dtype", "shape", "elem_size") if key in group}
    if "dtype" not in d or "shape" not in d:
        raise NotASeriesError(f"frame group {group.name!r} has no 'shape' or no 'dtype' field")
    return d


def unwrap(group: Any) -> dict[str, Any]:
    """A group as nested dicts: strings decoded, one-element arrays as scalars (as hexrd)."""
    out: dict[str, Any] = {}
    for key, node in group.items():
        if not hasattr(node, "shape"):
            out[key] = unwrap(node)
            continue
        value = node[()]
        if node.dtype.kind == "O" or isinstance(value, bytes):
            value = node.asstr()[()] if node.dtype.kind == "O" else value.decode("utf-8", "replace")
        elif isinstance(value, np.ndarray) and value.ndim == 1 and len(value) == 1:
            value = value[0]
        out[key] = value
    return out


def sniff_version(path: str) -> int | None:
    """1 or 2 for an HDF5 file laid out as an Eiger stream of that version, else None."""
    found = _h5.layout(path)
    return int(found[-1]) if found is not None and found.startswith("eiger-stream-v") else None


class EigerStreamSeries(FileSeries):
    """What both stream versions share: the file, frames counted at open, one decode per frame.

    Subclasses call :meth:`_init_file` and set ``_shape`` and ``_dtype`` in
    ``__init__`` (:meth:`_frame0` checks them), and implement :meth:`_fields`
    (frame ``j``'s stored fields, read under the lock) and :meth:`_combine`
    (those fields decoded into the frame, outside it).  The metadata is
    read on first use, and again where a pickled series is used.
    """

    format_name = "eiger-stream"

    def _init_file(self, fname: Any, version: int) -> Any:
        """Remember the file (an open ``h5py.File`` is read while open); return its /data group."""
        if _h5.is_h5_node(fname):
            self.borrow(fname.file)
            self._path = fname.file.filename
        else:
            self._path = os.fspath(fname)
            if not _h5.is_hdf5(self._path):
                raise NotMyFormat(f"{self._path!r} is not an HDF5 file")
        found = _h5.stream_version(self.handle)
        if found != version:
            self.close()
            raise NotMyFormat(
                f"{self._path!r} is not an Eiger stream v{version} file "
                f"(/data/0 {'is laid out as v' + str(found) if found else 'is missing'})"
            )
        data = self.handle["data"]
        self._nframes = len(data)
        return data

    def open_handle(self, stack: contextlib.ExitStack) -> Any:
        return stack.enter_context(_h5.open_file(self._path, "Eiger stream files"))

    def _frame0(self, group: Any) -> tuple[dict[str, Any], tuple[tuple[int, ...], np.dtype]]:
        """Frame 0's constant fields and spec, its stored size checked against the spec."""
        try:
            constant = constant_fields(group)
            spec = frame_spec(constant)
            check_size(read_fields(group, constant), *spec)
        except NotASeriesError as err:
            raise NotASeriesError(f"{self._path!r}: frame 0: {err}") from None
        return constant, spec

    def read_metadata(self) -> dict[str, Any]:
        """``/metadata`` unwrapped (the dict is the caller's to change)."""
        with self.lock:
            group = self.handle.get("metadata")
            return unwrap(group) if group is not None else {}

    def _group(self, j: int) -> Any:
        data = self.handle["data"]
        try:
            return data[str(j)]
        except KeyError:
            raise NotASeriesError(
                f"{self._path!r}: /data holds {len(data)} entries but no frame {str(j)!r}; "
                "frames are numbered 0, 1, ... without gaps"
            ) from None

    @frame_by_frame
    def read(self, j: int, region: Region) -> np.ndarray:
        with self.lock:  # h5py serialises calls; the decode itself runs outside it
            fields = self._fields(j)
        return self._decode_checked(j, fields)[region_index(region)]

    def _decode_checked(self, j: int, fields: Any) -> np.ndarray:
        try:
            return self._combine(fields)
        except ImportError:
            raise
        except UnsupportedCompressionError as err:
            raise UnsupportedCompressionError(f"{self._path!r}: frame {j}: {err}") from None
        except NotASeriesError as err:
            raise NotASeriesError(f"{self._path!r}: frame {j} cannot be decoded ({err})"
                                  ) from None
        except (RuntimeError, ValueError, EOFError, OSError, KeyError, zipfile.BadZipFile) as err:
            # the decoder's complaint, bytes of the wrong size, or a broken NPZ (csrnpz)
            raise NotASeriesError(
                f"{self._path!r}: frame {j} cannot be decoded ({err}); its stored bytes do "
                "not match its encoding, dtype and shape"
            ) from err

    def _fields(self, j: int) -> Any:
        raise NotImplementedError

    def _combine(self, fields: Any) -> np.ndarray:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        return self.option_values()

    def option_values(self) -> dict[str, Any]:
        """The reader's options and their values (hexrd's ``option_values``; none here)."""
        return {}

    def set_option(self, key: str, value: Any) -> None:
        """hexrd's ``set_option``: this format has no options to set."""
        raise SeriesOptionError(f"{self.format_name} has no option {key!r} (it has none)")

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self._path!r}: {counted(len(self), 'frame')} of "
                f"{self.shape} {self.dtype}>")


def frame_spec(fields: dict[str, Any]) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a frame, from its ``shape`` and ``dtype`` fields (checked)."""
    try:
        shape = tuple(int(n) for n in np.atleast_1d(fields["shape"]))
        dtype = np.dtype(_text(fields["dtype"]))
    except (TypeError, ValueError) as err:
        raise NotASeriesError(f"the shape {fields['shape']!r} or dtype "
                              f"{fields['dtype']!r} is not a frame's: {err}") from None
    if dtype.kind not in "biuf" or not shape or min(shape) < 1:
        raise NotASeriesError(f"it declares shape {shape} of dtype {dtype}; frames have "
                              "positive sizes and a numeric dtype")
    return shape, dtype


def check_size(d: dict[str, Any], shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Refuse a frame whose stored size disagrees with ``shape`` and ``dtype``, before decoding.

    Raw bytes are the frame itself; every encoding starts with the 8-byte
    big-endian size of the decoded frame.  A header claiming an absurd frame
    is caught here, not by an allocation.
    """
    encoding = _text(d.get("compression_type"))
    data = _as_bytes(d["data"])
    if encoding is None:
        stored = len(data)
    elif encoding in ENCODINGS:
        stored = int.from_bytes(bytes(data[:8]), "big") if len(data) >= 8 else -1
    else:
        return  # decoding names the unknown encoding
    wanted = math.prod(shape) * dtype.itemsize
    if stored != wanted:
        raise NotASeriesError(
            f"a frame of shape {shape} {dtype} is {wanted} bytes, but the stored "
            f"{encoding or 'raw'} frame holds {stored}"
        )


__all__ = ["EigerStreamSeries", "decompress_frame", "sniff_version"]

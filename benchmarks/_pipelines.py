"""The competitors of the end-to-end benchmarks, each a function ``(case, out) -> None``.

All of them compute the same frames: dark subtraction (uint16, clipped at 0),
a flip about the vertical axis (columns reversed), then the central crop (half
of each side), and write them to a Zarr 3 store with the same codec, except
where a row says otherwise (lazyseries' default codec, hexrd's HDF5 writer).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np

ARRAY = "0"  # the frames array of a store lazyseries writes (level 0 of the OME-Zarr image)


def blosc_zstd() -> Any:
    """The codec every competitor writes with: Blosc zstd level 3, bitshuffle."""
    import zarr.codecs

    return zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")


@dataclasses.dataclass(frozen=True)
class Case:
    """One end-to-end problem: a source store and the chain to run on it."""

    src: str
    nframes: int
    shape: tuple[int, int]
    dark: np.ndarray

    @property
    def crop(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The central crop, half of each side, in output (flipped) coordinates."""
        h, w = self.shape
        return (h // 4, h // 4 + h // 2), (w // 4, w // 4 + w // 2)

    @property
    def source_crop(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Where the crop lies in the source frame (the flip reverses columns)."""
        (r0, r1), (c0, c1) = self.crop
        w = self.shape[1]
        return (r0, r1), (w - c1, w - c0)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        (r0, r1), (c0, c1) = self.crop
        return self.nframes, r1 - r0, c1 - c0

    @property
    def oplist(self) -> list[tuple[str, Any]]:
        return [("dark", self.dark), ("flip", "v"), ("rectangle", self.crop)]

    @property
    def input_bytes(self) -> int:
        return self.nframes * self.shape[0] * self.shape[1] * 2


def make_case(src: str) -> Case:
    import pipeline

    series = pipeline.open(src)
    dark = np.asarray(series.metadata["dark"], dtype=np.uint16)
    return Case(src, len(series), tuple(series.shape), dark)  # type: ignore[arg-type]


def fused_ops(block: np.ndarray, dark: np.ndarray, crop: tuple[tuple[int, int], ...]
              ) -> np.ndarray:
    """The chain written by hand in numpy, in its natural order, on a block (n, h, w)."""
    (r0, r1), (c0, c1) = crop
    out = np.maximum(block, dark)
    out -= dark
    return np.ascontiguousarray(out[:, :, ::-1][:, r0:r1, c0:c1])


# -- competitors ---------------------------------------------------------------------------


def lazyseries(case: Case, out: str, codec: Any = None, checksum: bool = True) -> None:
    import pipeline

    ps = pipeline.open(case.src).process(case.oplist)
    pipeline.write(ps, out, codec=blosc_zstd() if codec is None else codec, checksum=checksum)


def lazyseries_default_codec(case: Case, out: str) -> None:
    lazyseries(case, out, codec="default")


def lazyseries_no_checksum(case: Case, out: str) -> None:
    """lazyseries without zarr's crc32c after the codec: what the checksums cost."""
    lazyseries(case, out, checksum=False)


NO_CHECKSUM = "lazyseries, checksum=False"


def dask_floor(case: Case, out: str, frames_per_chunk: int | None = None) -> None:
    """I/O and codec alone: copy the cropped region, no ops."""
    import dask.array as da

    (r0, r1), (c0, c1) = case.source_crop
    chunks = None if frames_per_chunk is None else (frames_per_chunk, *case.shape)
    arr = da.from_zarr(case.src, component=ARRAY, chunks=chunks)[:, r0:r1, c0:c1]
    arr.to_zarr(out, component=ARRAY, compressors=blosc_zstd())


def _dask_chain(case: Case, frames_per_chunk: int | None) -> Any:
    import dask.array as da

    chunks = None if frames_per_chunk is None else (frames_per_chunk, *case.shape)
    arr = da.from_zarr(case.src, component=ARRAY, chunks=chunks)
    _, h, w = case.out_shape
    return arr.map_blocks(fused_ops, case.dark, case.crop, dtype=np.uint16,
                          chunks=(arr.chunks[0], (h,), (w,)),
                          meta=np.empty((0, 0, 0), np.uint16))


def dask_by_hand(case: Case, out: str, frames_per_chunk: int | None = None,
                 write_empty_chunks: bool | None = None) -> None:
    """``from_zarr -> map_blocks(fused ops) -> to_zarr``, as a dask user writes it."""
    arr = _dask_chain(case, frames_per_chunk)
    options: dict[str, Any] = {}
    if write_empty_chunks is not None:
        options["config"] = {"write_empty_chunks": write_empty_chunks}
    arr.to_zarr(out, component=ARRAY, compressors=blosc_zstd(), **options)


def numpy_loop(case: Case, out: str) -> None:
    """One frame at a time: read, ops, write into a pre-created Zarr array."""
    import zarr

    src = zarr.open_array(case.src, path=ARRAY, mode="r")
    n, h, w = case.out_shape
    dst = zarr.create_array(out, name=ARRAY, shape=(n, h, w), chunks=(1, h, w),
                            dtype=np.uint16, compressors=blosc_zstd(), fill_value=0)
    for j in range(n):
        dst[j] = fused_ops(np.asarray(src[j])[np.newaxis], case.dark, case.crop)[0]


def hexrd_available() -> bool:
    try:
        import hexrd.imageseries  # noqa: F401
    except ImportError:
        return False
    return True


def hexrd_processed(case: Case, out: str) -> None:
    """hexrd's ProcessedImageSeries over the source array, written by its HDF5 writer."""
    import zarr
    from hexrd import imageseries
    from hexrd.imageseries.process import ProcessedImageSeries

    data = zarr.open_array(case.src, path=ARRAY, mode="r")
    raw = imageseries.open(None, "array", data=data)
    ps = ProcessedImageSeries(raw, case.oplist)
    # the harness removes the output folder between runs; zarr writers make it again, h5py not
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    imageseries.write(ps, out.replace(".zarr", ".h5"), "hdf5", path="/imageseries")


def codec_floor(case: Case, out: str) -> None:
    """numcodecs + numpy + plain file I/O, 2 threads: see :mod:`benchmarks._floor`."""
    from benchmarks._floor import codec_floor as floor

    floor(case, out)


CODEC_FLOOR = "codec floor: numcodecs + numpy + file I/O, 2 threads"

COMPETITORS: dict[str, Callable[[Case, str], None]] = {
    "lazyseries open->process->write": lazyseries,
    CODEC_FLOOR: codec_floor,
    "dask copy of crop through zarr-python (no ops)": dask_floor,
    "dask by hand (from_zarr.map_blocks)": dask_by_hand,
    "dask by hand, write_empty_chunks=True": lambda c, o: dask_by_hand(c, o,
                                                                       write_empty_chunks=True),
    "numpy per-frame loop": numpy_loop,
}

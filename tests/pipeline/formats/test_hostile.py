"""Truncated, corrupt and hostile files, for every reader.

Each format's valid file is written with its own library (or its documented
layout); the hostile variants are cut short (in the header, mid-frame, the
last byte), empty, random bytes behind the format's magic, a header that
declares absurd sizes, and a directory where a file belongs.  Opening one
and reading its first and last frames must either raise one of the
project's errors, naming the file, quickly, or give a non-empty prefix of
the valid file's frames (a reader may trust the bytes over a header that
promises more).  Never MemoryError, a library's raw exception, a hang, or
wrong frames.
"""

from __future__ import annotations

import os
import shutil
import struct
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pipeline
import pipeline.errors as perrors
from pipeline.formats import registry
from tests.pipeline.formats._data import frames

pytestmark = pytest.mark.slow  # ~160 cases, 35-60 s on this machine

PROJECT_ERRORS = tuple(getattr(perrors, name) for name in perrors.__all__)
BUDGET_S = 5.0  # generous on a shared 2-core machine; a hang or a huge allocation takes far longer
BIG = 10**9

h5py = pytest.importorskip("h5py")


@dataclass
class Case:
    """A valid file of one format and what its frames are."""

    path: Path
    expected: np.ndarray
    format: str
    options: dict[str, Any] = field(default_factory=dict)
    target: Path | None = None  # the file the hostile variants damage (default: path)
    magic: bytes = b""

    @property
    def victim(self) -> Path:
        return self.target or self.path


# -- valid files -----------------------------------------------------------------------


def _eiger_v1(tmp: Path) -> Case:
    from tests.pipeline.formats.test_eiger import write_v1

    data = frames(3, (12, 10), "uint32")
    return Case(write_v1(tmp / "s.h5", data, encoding=None), data, "eiger-stream-v1",
                magic=b"\x89HDF\r\n\x1a\n")


def _eiger_v1_bslz4(tmp: Path) -> Case:
    from tests.pipeline.formats.test_eiger import write_v1

    data = frames(3, (12, 10), "uint32")
    return Case(write_v1(tmp / "s.h5", data), data, "eiger-stream-v1", magic=b"\x89HDF\r\n\x1a\n")


def _eiger_v2(tmp: Path) -> Case:
    from tests.pipeline.formats.test_eiger import two_thresholds, write_v2

    t1, t2 = two_thresholds(3, (12, 10))
    return Case(write_v2(tmp / "s.h5", t1, t2), t1, "eiger-stream-v2",
                magic=b"\x89HDF\r\n\x1a\n")


def _nexus(tmp: Path) -> Case:
    from tests.pipeline.formats.test_hdf5_detector import eiger_master

    master, data = eiger_master(tmp, parts=(2, 2), shape=(10, 14))
    return Case(master, data, "hdf5", target=tmp / "scan_data_000002.h5",
                magic=b"\x89HDF\r\n\x1a\n")


def _ge(tmp: Path) -> Case:
    from tests.pipeline.formats.test_detector import write_ge

    data = frames(3, (16, 12))
    return Case(write_ge(tmp / "s.ge2", data), data, "detector", magic=b"ADEPT")


def _edf(tmp: Path) -> Case:
    from tests.pipeline.formats.test_detector import write_edf

    data = frames(3, (16, 12))
    return Case(write_edf(tmp / "s.edf", data), data, "detector", magic=b"{\n")


def _spe(tmp: Path) -> Case:
    from tests.pipeline.formats.test_spe import write_spe

    data = frames(3, (16, 12))
    return Case(write_spe(tmp / "s.spe", data), data, "spe")


def _gif(tmp: Path) -> Case:
    import imageio.v3 as iio

    from tests.pipeline.formats.test_gif_video import as_frames, blocky

    path = tmp / "a.gif"
    iio.imwrite(path, blocky(3, 16, 16), loop=0, duration=80)
    return Case(path, as_frames(iio.imread(path, index=...)), "gif", magic=b"GIF89a")


def _video(tmp: Path) -> Case:
    pytest.importorskip("imageio_ffmpeg")
    import imageio.v3 as iio

    from tests.pipeline.formats.test_gif_video import blocky, video_frames

    path = tmp / "v.mp4"
    iio.imwrite(path, blocky(4, 32, 32), fps=8, plugin="FFMPEG")
    return Case(path, video_frames(path), "video",
                magic=b"\x00\x00\x00\x20ftypisom")


def _png_dir(tmp: Path) -> Case:
    import imageio.v3 as iio

    data = frames(3, (16, 12), "uint8")
    folder = tmp / "imgs"
    folder.mkdir()
    for j, frame in enumerate(data):
        iio.imwrite(folder / f"f{j}.png", frame)
    return Case(folder, data, "image-sequence", target=folder / "f2.png",
                magic=b"\x89PNG\r\n\x1a\n")


def _png(tmp: Path) -> Case:
    import imageio.v3 as iio

    data = frames(1, (16, 12), "uint8")
    iio.imwrite(tmp / "one.png", data[0])
    return Case(tmp / "one.png", data, "image-sequence", magic=b"\x89PNG\r\n\x1a\n")


def _tiff(tmp: Path) -> Case:
    import tifffile

    data = frames(3, (16, 12))
    tifffile.imwrite(tmp / "s.tif", data, photometric="minisblack")
    return Case(tmp / "s.tif", data, "tiff", magic=b"II*\x00")


def _hdf5(tmp: Path) -> Case:
    data = frames(3, (16, 12))
    with h5py.File(tmp / "s.h5", "w") as f:
        f.create_dataset("imageseries/images", data=data, chunks=(1, 16, 12))
    return Case(tmp / "s.h5", data, "hdf5", magic=b"\x89HDF\r\n\x1a\n")


def _written(name: str, fmt: str, magic: bytes, sparse: bool = False) -> Callable[[Path], Case]:
    def build(tmp: Path) -> Case:
        data = frames(3, (16, 12))
        if sparse:
            data[data < 3000] = 0
        pipeline.write(pipeline.open(None, "array", data=data), tmp / name, format=fmt)
        return Case(tmp / name, data, fmt, magic=magic)

    return build


def _zarr(tmp: Path) -> Case:
    data = frames(3, (16, 12))
    pipeline.write(pipeline.open(None, "array", data=data), tmp / "s.zarr")
    return Case(tmp / "s.zarr", data, "zarr", target=tmp / "s.zarr" / "zarr.json", magic=b"{")


def _image_files(tmp: Path) -> Case:
    import tifffile

    data = frames(3, (16, 12))
    (tmp / "imgs").mkdir()
    for j, frame in enumerate(data):
        tifffile.imwrite(tmp / "imgs" / f"f{j}.tif", frame)
    (tmp / "files.yml").write_text(
        "image-files:\n  directory: imgs\n  files: 'f*.tif'\noptions: {}\nmeta: {}\n")
    return Case(tmp / "files.yml", data, "image-files", target=tmp / "imgs" / "f2.tif",
                magic=b"II*\x00")


def _raw(tmp: Path) -> Case:
    data = frames(3, (16, 12))
    data.astype("<u2").tofile(tmp / "s.raw")
    return Case(tmp / "s.raw", data, "raw", {"dtype": "<u2", "shape": (16, 12)})


NEW = {"eiger-v1": _eiger_v1, "eiger-v1-bslz4": _eiger_v1_bslz4, "eiger-v2": _eiger_v2,
       "nexus": _nexus, "ge": _ge, "edf": _edf, "spe": _spe, "gif": _gif, "video": _video,
       "png-dir": _png_dir, "png": _png}
OLD = {"hdf5": _hdf5, "npz": _written("s.npz", "frame-cache", b"PK\x03\x04", sparse=True),
       "fch5": _written("s.fch5", "frame-cache", b"\x89HDF\r\n\x1a\n", sparse=True),
       "tiff": _tiff, "zarr": _zarr, "image-files": _image_files, "raw": _raw}
BUILDERS = {**NEW, **OLD}


# -- the check -------------------------------------------------------------------------


def attempt(case: Case, path: Path | str | None = None, format: str | None = "given",
            valid: bool = False) -> None:
    """Open and read first and last frames: a project error naming the file, or right frames.

    ``valid``: the file is the valid one, so only all of its frames will do; a
    refusal, however well worded, fails.
    """
    path = case.path if path is None else path
    fmt = case.format if format == "given" else format
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a header promising more than the bytes hold
            s = pipeline.open(path, format=fmt, **case.options)
            n = len(s)
            if n:
                s[0], s[n - 1]
    except PROJECT_ERRORS as err:
        if valid:
            raise AssertionError(f"{path} is a valid {case.format} file, refused: {err!r}") from err
        elapsed = time.perf_counter() - start
        assert elapsed < BUDGET_S, f"{elapsed:.1f} s to refuse {path}"
        names = {os.path.basename(os.fspath(p).rstrip("/")) for p in (path, case.victim)}
        assert any(name in str(err) for name in names), f"{err!r} names neither of {names}"
        return
    elapsed = time.perf_counter() - start
    assert elapsed < BUDGET_S, f"{elapsed:.1f} s to read {path}"
    assert n >= 1, f"{path} opened as an empty series instead of an error"
    if valid:
        assert n == len(case.expected), f"{path}: {n} frames of the {len(case.expected)} written"
    assert s.nbytes <= case.expected.nbytes, f"{path} declares {s.shape} frames of {s.dtype}"
    np.testing.assert_array_equal(np.asarray(s), case.expected[:n],
                                  err_msg=f"{path} gave frames other than the file's")


@pytest.fixture(params=sorted(BUILDERS))
def case(request, tmp_path) -> Case:
    built = BUILDERS[request.param](tmp_path)
    _expect_failure(request, request.param, request.node.callspec.params.get("where"))
    return built


def _expect_failure(request, name: str, where: str | None) -> None:
    test = request.node.originalname
    reason = XFAIL.get((name, test, where)) or XFAIL.get((name, test))
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def _damage(case: Case, content: bytes) -> None:
    case.victim.write_bytes(content)


def test_the_valid_file_reads_as_written(case):
    attempt(case, valid=True)


def test_the_baseline_fails_when_the_reader_refuses_the_valid_file(case, monkeypatch):
    fmt = registry.lookup(case.format)

    def refuse(path, *args, **kwargs):
        raise perrors.NotASeriesError(f"{os.fspath(path)!r} is refused by a broken reader")

    monkeypatch.setattr(type(fmt), "open", staticmethod(refuse))
    with pytest.raises(AssertionError, match="is a valid .* file, refused"):
        attempt(case, valid=True)
    attempt(case)  # where any file may be damaged, a refusal naming it is an answer


@pytest.mark.parametrize("where", ["header", "mid-frame", "last byte"])
def test_truncated(case, where):
    whole = case.victim.read_bytes()
    cut = {"header": min(16, len(whole) // 4), "mid-frame": len(whole) // 2 + 7,
           "last byte": len(whole) - 1}[where]
    _damage(case, whole[:cut])
    attempt(case)


def test_empty(case):
    _damage(case, b"")
    attempt(case)


def test_random_bytes_behind_the_magic(case):
    if case.format == "raw":
        pytest.skip("a headerless raw file has no wrong bytes: any bytes are frames")
    size = max(case.victim.stat().st_size, 256)
    junk = np.random.default_rng(3).integers(0, 256, size, dtype=np.uint8).tobytes()
    _damage(case, case.magic + junk[len(case.magic):])
    attempt(case)


def test_a_directory_where_the_file_belongs(case):
    if case.victim.is_dir():
        pytest.skip("the format is a directory")
    case.victim.unlink()
    case.victim.mkdir()
    (case.victim / "x").write_bytes(b"\0" * 64)
    attempt(case)


def test_detection_of_a_damaged_file(case):
    whole = case.victim.read_bytes()
    _damage(case, whole[: len(whole) // 2 + 7])
    attempt(case, format=None)


# -- absurd headers ------------------------------------------------------------------------


def _patch(path: Path, offset: int, fmt: str, value: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(struct.pack(fmt, value))


def _eiger_field(case: Case, name: str, value: Any, channel: str = "") -> None:
    with h5py.File(case.path, "r+") as f:
        group = f[f"data/0/{channel}".rstrip("/")]
        del group[name]
        group[name] = value


ABSURD: dict[str, Callable[[Case], None]] = {
    "eiger-v1-frames": lambda c: _eiger_field(c, "shape", [BIG, 10**6]),
    "eiger-v1-pixels": lambda c: _eiger_field(c, "shape", [10**6, 10**6]),
    "eiger-v1-negative": lambda c: _eiger_field(c, "shape", [-4, 10]),
    "eiger-v1-bslz4-pixels": lambda c: _eiger_field(c, "shape", [10**6, 10**6]),
    "eiger-v1-dtype": lambda c: _eiger_field(c, "dtype", "V1000000000"),
    "eiger-v2-pixels": lambda c: _eiger_field(c, "shape", [10**6, 10**6], "threshold_1"),
    "spe-frames": lambda c: _patch(c.path, 1446, "<i", BIG),
    "spe-pixels": lambda c: (_patch(c.path, 42, "<H", 65535), _patch(c.path, 656, "<H", 65535)),
    "spe-footer": lambda c: _patch(c.path, 678, "<Q", 2**63),
    "ge-frames": lambda c: _patch(c.path, 10 + 14, "<H", 65535),
    "ge-pixels": lambda c: (_patch(c.path, 10 + 16, "<H", 65535),
                            _patch(c.path, 10 + 18, "<H", 65535)),
    "edf-pixels": lambda c: c.path.write_bytes(c.path.read_bytes().replace(
        b"Dim_1 = 12", b"Dim_1 = 1000000", 1).replace(b"Dim_2 = 16", b"Dim_2 = 1000000", 1)),
    "tiff-pixels": lambda c: _tiff_tags(c.path, {"ImageWidth": 10**6, "ImageLength": 10**6}),
}


def _tiff_tags(path: Path, values: dict[str, int]) -> None:
    import tifffile

    with tifffile.TiffFile(path) as tf:
        spots = [(tf.pages.first.tags[name], value) for name, value in values.items()]
        layout = [(tag.valueoffset, tag.dtype, value) for tag, value in spots]
    for offset, dtype, value in layout:
        _patch(path, offset, "<I" if int(dtype) == 4 else "<H", min(value, 65535)
               if int(dtype) == 3 else value)


@pytest.mark.parametrize("variant", sorted(ABSURD))
def test_absurd_header(variant, tmp_path, request):
    name = next(n for n in sorted(BUILDERS, key=len, reverse=True) if variant.startswith(n))
    case = BUILDERS[name](tmp_path)
    ABSURD[variant](case)
    _expect_failure(request, variant, None)
    attempt(case)


@pytest.mark.parametrize("name", ["hdf5", "tiff"])
@pytest.mark.parametrize("where", ["header", "mid-frame"])
def test_truncated_file_url(name, where, tmp_path, request):
    """Through fsspec (``file://``) as through a path."""
    case = BUILDERS[name](tmp_path)
    whole = case.path.read_bytes()
    case.path.write_bytes(whole[:16] if where == "header" else whole[: len(whole) // 2 + 7])
    _expect_failure(request, name, where)
    attempt(case, path=case.path.as_uri())


def test_nexus_master_whose_part_is_a_directory(tmp_path):
    case = _nexus(tmp_path)
    shutil.rmtree(case.victim, ignore_errors=True)
    case.victim.unlink(missing_ok=True)
    case.victim.mkdir()
    attempt(case)


XFAIL: dict[tuple[str, ...], str] = {}
"""Cases a reader still fails: (case, test[, where]) -> what to fix (none at present)."""


# -- OME-Zarr metadata, napari and the HTML view over hostile files ------------------------


def _ome_store(tmp: Path) -> Path:
    data = frames(4, (32, 32))
    path = tmp / "o.zarr"
    pipeline.write(pipeline.open(None, "array", data=data), path, levels=1)
    return path


def _mangle_multiscale(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    import json

    meta_file = path / "zarr.json"
    meta = json.loads(meta_file.read_text())
    change(meta["attributes"]["ome"]["multiscales"][0])
    meta_file.write_text(json.dumps(meta))


OME_DAMAGE: dict[str, Callable[[dict[str, Any]], None]] = {
    "datasets-not-a-list": lambda m: m.update(datasets="0"),
    "dataset-not-an-object": lambda m: m.update(datasets=[0, 1]),
    "dataset-without-path": lambda m: m.update(datasets=[{}, {}]),
    "path-to-nothing": lambda m: m["datasets"][1].update(path="../../elsewhere"),
    "transforms-garbage": lambda m: [d.update(coordinateTransformations=[{"type": "scale",
                                                                          "scale": "big"}])
                                     for d in m["datasets"]],
    "axes-garbage": lambda m: m.update(axes=7),
}


@pytest.mark.parametrize("level", [0, 1])
@pytest.mark.parametrize("damage", sorted(OME_DAMAGE))
def test_ome_zarr_with_damaged_multiscales(damage, level, tmp_path):
    path = _ome_store(tmp_path)
    expected = np.asarray(pipeline.open(path, level=level))
    _mangle_multiscale(path, OME_DAMAGE[damage])
    attempt(Case(path, expected, "zarr", {"level": level}))


@pytest.mark.parametrize("name", ["eiger-v1", "spe", "gif", "png-dir", "ge", "nexus"])
def test_napari_declines_a_truncated_file(name, tmp_path):
    from pipeline import napari_plugin

    case = BUILDERS[name](tmp_path)
    whole = case.victim.read_bytes()
    case.victim.write_bytes(whole[:16])
    try:
        reader = napari_plugin.get_reader(os.fspath(case.path))
    except PROJECT_ERRORS:
        return
    if reader is not None:  # the header survived (a later file or part is damaged)
        with pytest.raises(PROJECT_ERRORS):
            reader(os.fspath(case.path))[0][0][-1].compute()


@pytest.mark.parametrize("name", ["eiger-v1", "spe", "gif", "png-dir", "ge"])
def test_html_view_of_a_series_whose_frames_are_damaged(name, tmp_path):
    case = BUILDERS[name](tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = pipeline.open(case.path, format=case.format)
    whole = case.victim.read_bytes()
    cut = len(whole) // 2 + 7
    case.victim.write_bytes(whole[:cut] + bytes(len(whole) - cut))  # same size, frames zeroed
    s._release()  # what was read from the file before it was damaged is dropped
    html = s._repr_html_()
    assert "<" in html and str(len(s)) in html

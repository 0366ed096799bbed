"""Any readable format converts to any writable one through ``write(open(a), b)``."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import pipeline
from tests.pipeline.formats._data import sparse_frames

META = {"omega": np.arange(12.0).reshape(6, 2), "name": "scan"}


def _sources(tmp_path, data):
    """One file of each readable format holding ``data``."""
    src = pipeline.from_array(data, dict(META))
    pipeline.write(src, tmp_path / "a.h5")
    pipeline.write(src, tmp_path / "a.npz")
    pipeline.write(src, tmp_path / "a.fch5")
    pipeline.write(src, tmp_path / "a.tif")
    pipeline.write(src, tmp_path / "a.zarr")
    data.tofile(tmp_path / "a.raw")
    (tmp_path / "a_raw.yml").write_text(
        "filename: a.raw\nscalar: {type: i, bytes: 2, signed: false, endian: little}\n"
        "shape: 20 30\nskip: 0\n")
    (tmp_path / "imgs").mkdir()
    for k, frame in enumerate(data):
        tifffile.imwrite(tmp_path / "imgs" / f"f{k}.tif", frame)
    (tmp_path / "a_files.yml").write_text("image-files: {directory: imgs, files: '*.tif'}\n")
    return ["a.h5", "a.npz", "a.fch5", "a.tif", "a.zarr", "a_raw.yml", "a_files.yml"]


@pytest.mark.parametrize("target", ["b.h5", "b.npz", "b.fch5", "b.tiff", "b.zarr"])
def test_every_readable_format_converts(tmp_path, target):
    data = sparse_frames()
    for name in _sources(tmp_path, data):
        out = tmp_path / f"{name}-{target}"
        pipeline.write(pipeline.open(tmp_path / name), out)
        back = pipeline.open(out)
        np.testing.assert_array_equal(np.asarray(back), data, err_msg=f"{name} -> {target}")
        if name not in ("a_raw.yml", "a_files.yml"):
            np.testing.assert_array_equal(back.metadata["omega"], META["omega"])


def test_detection_tells_shared_extensions_apart(tmp_path):
    _sources(tmp_path, sparse_frames())
    kinds = {name: pipeline.open(tmp_path / name).description()["format"]
             for name in ("a.h5", "a.fch5", "a_raw.yml", "a_files.yml")}
    assert kinds == {"a.h5": "hdf5", "a.fch5": "frame-cache", "a_raw.yml": "raw",
                     "a_files.yml": "image-files"}
    pipeline.write(pipeline.open(tmp_path / "a.npz"), tmp_path / "cache.h5", "frame-cache")
    assert pipeline.open(tmp_path / "cache.h5").description()["format"] == "frame-cache"

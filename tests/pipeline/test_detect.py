"""Format detection in ``pipeline.open``: which readers were tried, and why each declined."""

from __future__ import annotations

import uuid

import h5py
import numpy as np
import pytest

import pipeline
from pipeline.errors import NotASeriesError, UnknownFormatError


def test_an_unknown_extension_lists_every_reader_and_its_reason(tmp_path):
    path = tmp_path / "mystery.xyz"
    path.write_bytes(b"\x01\x02" * 3000)
    with pytest.raises(UnknownFormatError) as info:
        pipeline.open(path)
    text = str(info.value)
    assert "no format is registered for the extension '.xyz'; tried: zarr (" in text
    assert "raw said" not in text  # no one reader's complaint leads for a file nobody owns
    for name in ("hdf5", "tiff", "raw", "image-sequence", "spe"):
        assert f" {name} (" in text
    assert "raw (a headerless raw file needs dtype= and shape=" in text
    # named up front, not again by every reader whose reason starts with it
    assert text.startswith(f"no reader recognises {str(path)!r}")
    assert text.count(repr(str(path))) < 3


def test_the_extensions_own_reader_leads(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UnknownFormatError, match=r"; image-sequence said: is not an image "
                                                 r"imageio reads.*; tried: image-sequence, zarr \("):
        pipeline.open(tmp_path / "broken.png")


def test_an_option_no_candidate_takes_is_named(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["imageseries/images"] = np.zeros((2, 4, 5), np.uint8)
    with pytest.raises(UnknownFormatError, match=r"hdf5 said: takes no option pth="):
        pipeline.open(tmp_path / "s.h5", pth="imageseries")
    assert len(pipeline.open(tmp_path / "s.h5", path="imageseries")) == 2


def test_a_url_without_extension_still_finds_its_zarr_store():
    url = f"memory://{uuid.uuid4().hex}/store"
    pipeline.write(pipeline.from_array(np.arange(24, dtype=np.uint8).reshape(2, 3, 4)), url)
    np.testing.assert_array_equal(pipeline.open(url)[1], np.arange(12, 24).reshape(3, 4))


SIGNATURES = [b"", b"GIF89a", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"BM", b"\xff\xd8\xff"]
EXTENSIONS = [".png", ".gif", ".spe", ".tif", ".jpg", ".bmp", ".xyz", ""]


@pytest.mark.parametrize("seed", range(4))
def test_garbage_is_refused_with_the_projects_errors(tmp_path, seed):
    """Whatever the bytes, opening says "no reader" or "corrupt", or opens lazily: no other crash.

    Seeded random files (a signature, then random or zero bytes, under each extension).
    """
    rng = np.random.default_rng(seed)
    for k in range(12):
        head = SIGNATURES[rng.integers(len(SIGNATURES))]
        size = int(rng.integers(0, 5000))
        body = bytes(size) if k % 4 == 0 else rng.integers(0, 256, size, np.uint8).tobytes()
        path = tmp_path / f"junk{k}{EXTENSIONS[rng.integers(len(EXTENSIONS))]}"
        path.write_bytes(head + body)
        try:
            s = pipeline.open(path)
        except (UnknownFormatError, NotASeriesError):
            continue
        assert len(s) >= 1  # a header that parses (a lucky BMP or JPEG); its read may still fail

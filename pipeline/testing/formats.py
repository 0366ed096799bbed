"""The conformance class a format passes: :class:`FormatConformance`.

A third-party format (a :class:`pipeline.formats.Format`, registered through
the ``lazyseries.formats`` entry-point group or given here) subclasses it in
its own tests::

    from pipeline.testing import FormatConformance

    class TestNpyStack(FormatConformance):
        format = "npy-stack"          # as registered by the entry point; or the Format class
        file_backed = False           # np.load'ed frames pickle as pixels

It checks the declaration (name, aliases, extensions, libraries, what it
writes), that ``open`` reads the format's own files and answers
:class:`~pipeline.errors.NotMyFormat` for a foreign one (so detection moves
on), which ``pipeline.open(..., format=name)`` reports as a
:class:`~pipeline.errors.WrongFormatError`; then every law of
:class:`~pipeline.testing.SeriesConformance` on a series it opens; and, where
the format writes, a round trip through ``pipeline.write`` with the
persistence layer's guarantees (an existing target kept unless
``overwrite=True``).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

import pipeline
from ops import require
from pipeline.errors import NotMyFormat, StoreExistsError, UnknownFormatError, WrongFormatError
from pipeline.formats import Format, registry
from pipeline.series import ImageSeries
from pipeline.testing.ops import frames_of
from pipeline.testing.series import SeriesConformance

pytest = require("pytest", "testing", "the conformance classes of pipeline.testing")

FOREIGN_BYTES = b"\x00\x01 not a series of any format \xff\xfe" * 8
"""What the default foreign file holds: no format's signature, no text header."""


class FormatConformance(SeriesConformance):
    """What a format owes, checked for one format, then the series laws on what it opens.

    Implementers owe
    ----------------
    ``format``
        The format under test: its registered name (one that arrives through
        an entry point), or the :class:`~pipeline.formats.Format` (class or
        instance), registered for each test when no format of its name is.
    ``sample(tmp_path)``
        Only for a format that does not write: ``(path, frames, metadata)``,
        a file of the format made in ``tmp_path`` (None for a format without
        files, whose ``open_options`` then say what to open), its frames as
        numpy and the metadata it holds.  A format that writes gets one from
        ``pipeline.write`` of :meth:`sample_frames` and ``sample_metadata``.

    Implementers may set
    --------------------
    ``open_options``, ``write_options``
        Options given to every open and write.
    ``sample_metadata``
        The metadata written into the default sample, compared when read back.
    ``detectable``
        Whether ``pipeline.open(path)`` without ``format=`` finds the
        format from the sample's extension (default True; set False when a
        built-in format claims the same extension first).
    ``foreign_files(tmp_path)``
        Files that are not of the format (default: one of bytes no format
        writes, named with the format's extension; none for a format every
        byte sequence is a file of, such as raw frames).
    ``file_backed``
        As in :class:`~pipeline.testing.SeriesConformance`.
    """

    format: ClassVar[str | Format | type[Format]]
    open_options: ClassVar[dict[str, Any]] = {}
    write_options: ClassVar[dict[str, Any]] = {}
    sample_metadata: ClassVar[dict[str, Any]] = {}
    detectable: ClassVar[bool] = True

    # -- what the tests work on ------------------------------------------------------------

    @property
    def name(self) -> str:
        """The name of the format under test."""
        if isinstance(self.format, str):
            return self.format
        return self.format.name

    @property
    def fmt(self) -> Format:
        """The registered format under test."""
        return registry.lookup(self.name)

    @pytest.fixture(autouse=True)
    def _registered(self) -> Iterator[None]:
        """Registers the format for the test when no format of its name is; restores after."""
        before = registry.snapshot()
        if not isinstance(self.format, str) and self.format.name not in registry:
            registry.add(self.format)
        yield
        registry.restore(before)

    def extension(self) -> str:
        """The extension of the files the tests name (the format's first, or none)."""
        return self.fmt.extensions[0] if self.fmt.extensions else ""

    def sample_frames(self) -> np.ndarray:
        """The frames of the default sample and of the write tests (5 x 12 x 17 uint16)."""
        return frames_of(np.uint16, (5, 12, 17), seed=11)

    def sample(self, tmp_path: os.PathLike[str]
               ) -> tuple[pathlib.Path | None, np.ndarray, dict[str, Any]]:
        """A file of the format in ``tmp_path``, its frames and its metadata."""
        if self.fmt.writes is None:
            raise NotImplementedError(
                f"{type(self).__name__}: the format {self.name!r} does not write, so the "
                "test class owes sample(tmp_path) -> (path, frames, metadata)")
        frames, meta = self.sample_frames(), dict(self.sample_metadata)
        path = pathlib.Path(tmp_path) / f"sample{self.extension()}"
        pipeline.write(pipeline.from_array(frames, metadata=dict(meta)), path, format=self.name,
                       **self.write_options)
        return path, frames, meta

    def foreign_files(self, tmp_path: os.PathLike[str]) -> list[pathlib.Path]:
        """Files that are not of the format (each must be declined with NotMyFormat)."""
        path = pathlib.Path(tmp_path) / f"foreign{self.extension()}"
        path.write_bytes(FOREIGN_BYTES)
        return [path]

    def make(self, tmp_path: os.PathLike[str]) -> tuple[ImageSeries, np.ndarray, dict[str, Any]]:
        """The sample, opened with ``format=`` the format under test."""
        path, frames, meta = self.sample(tmp_path)
        return pipeline.open(path, format=self.name, **self.open_options), frames, meta

    def _reopen(self, path: os.PathLike[str]) -> ImageSeries:
        return pipeline.open(path, format=self.name, **self.open_options)

    def _write(self, frames: np.ndarray, target: pathlib.Path, **options: Any) -> ImageSeries:
        series = pipeline.from_array(frames, metadata=dict(self.sample_metadata))
        return pipeline.write(series, target, format=self.name, **self.write_options, **options)

    # -- the declaration -------------------------------------------------------------------

    def test_declaration(self):
        fmt = self.fmt
        assert isinstance(fmt, Format), f"{fmt!r} is not a pipeline.formats.Format"
        assert isinstance(fmt.name, str) and fmt.name.strip() == fmt.name != "", fmt.name
        assert type(fmt).open is not Format.open, f"format {fmt.name!r} declares no open"
        assert fmt.writes in (None, "file", "store"), fmt.writes
        has_encoder = type(fmt).encoder is not Format.encoder
        assert has_encoder == (fmt.writes is not None), "a writer declares an encoder"
        assert (fmt.name in registry.writable()) == (fmt.writes is not None)

    def test_name_and_aliases_lead_to_it(self):
        fmt = self.fmt
        assert list(registry).count(fmt.name) == 1
        for name in (fmt.name, *fmt.aliases):
            assert name in registry and registry.lookup(name) is fmt, name

    def test_extensions_are_claimed(self):
        fmt = self.fmt
        assert fmt.file_based or not fmt.extensions, "a format without files claims no extension"
        for ext in fmt.extensions:
            assert ext.startswith(".") and ext == ext.lower(), f"extension {ext!r}: '.lower'"
            assert fmt.name in registry.by_extension(f"some/file{ext.upper()}"), ext

    def test_its_libraries_import(self):
        fmt = self.fmt
        assert all(isinstance(p, str) and p for p in fmt.requires), fmt.requires
        assert not fmt.requires or isinstance(fmt.extra, str), "requires= names its extra="
        fmt.require()  # the test environment has what the format needs

    def test_open_declares_its_options(self):
        params = self.fmt.open_parameters()
        assert params is None or set(self.open_options) <= set(params), params

    # -- reading its own files, declining others --------------------------------------------

    def test_opens_its_own_file(self, tmp_path):
        path, frames, _ = self.sample(tmp_path)
        if self.fmt.file_based:
            assert self.fmt.sniff(str(path)) is True, "sniff does not recognise the format's file"
        for name in (self.fmt.name, *self.fmt.aliases):
            s = pipeline.open(path, format=name, **self.open_options)
            assert (len(s), s.shape, s.dtype) == (len(frames), frames.shape[1:], frames.dtype)
            np.testing.assert_array_equal(s[len(frames) - 1], frames[-1])

    def test_detected_from_its_extension(self, tmp_path):
        if not (self.fmt.file_based and self.fmt.extensions and self.detectable):
            pytest.skip("the format is not found from an extension")
        path, frames, _ = self.sample(tmp_path)
        np.testing.assert_array_equal(np.asarray(pipeline.open(path, **self.open_options)),
                                      frames)

    def _foreign(self, tmp_path: os.PathLike[str]) -> list[pathlib.Path]:
        if not self.fmt.file_based:
            pytest.skip("the format reads no files")
        paths = self.foreign_files(tmp_path)
        if not paths:
            pytest.skip("no file is foreign to the format (any bytes are one of its files)")
        return paths

    def test_a_foreign_file_is_not_my_format(self, tmp_path):
        sniffs = type(self.fmt).sniff is not Format.sniff
        for path in self._foreign(tmp_path):
            with pytest.raises(NotMyFormat):
                self.fmt.open(str(path), **self.open_options)
            if sniffs:
                assert self.fmt.sniff(str(path)) is False, path

    def test_a_foreign_file_named_with_this_format_is_a_wrong_format_error(self, tmp_path):
        for path in self._foreign(tmp_path):
            with pytest.raises(WrongFormatError) as info:
                pipeline.open(str(path), format=self.name, **self.open_options)
            message = str(info.value)
            assert repr(str(path)) in message and f"format={self.name!r}" in message, message

    # -- writing ---------------------------------------------------------------------------

    def test_write_round_trip(self, tmp_path):
        frames = self.sample_frames()
        target = tmp_path / f"out{self.extension()}"
        if self.fmt.writes is None:
            with pytest.raises(UnknownFormatError, match=repr(self.name)):
                self._write(frames, target)
            assert not os.path.lexists(target)
            return
        written = self._write(frames, target)
        np.testing.assert_array_equal(np.asarray(written), frames)
        back = self._reopen(target)
        assert back.dtype == frames.dtype and back.shape == frames.shape[1:]
        np.testing.assert_array_equal(np.asarray(back), frames)
        for key, value in self.sample_metadata.items():
            np.testing.assert_equal(back.metadata[key], value)

    def test_write_keeps_an_existing_target_unless_told(self, tmp_path):
        if self.fmt.writes is None:
            pytest.skip("the format does not write")
        first = self.sample_frames()
        second = np.ascontiguousarray(first[::-1])
        target = tmp_path / f"out{self.extension()}"
        self._write(first, target)
        with pytest.raises(StoreExistsError):
            self._write(second, target)
        np.testing.assert_array_equal(np.asarray(self._reopen(target)), first)
        self._write(second, target, overwrite=True)
        np.testing.assert_array_equal(np.asarray(self._reopen(target)), second)


__all__ = ["FOREIGN_BYTES", "FormatConformance"]

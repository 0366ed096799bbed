"""The format registry: every format's declared members, third-party entry points, named formats."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pipeline
from pipeline.errors import (
    FormatPluginWarning,
    NotASeriesError,
    RegistrationError,
    SeriesOptionError,
    StoreExistsError,
    UnknownFormatError,
    WrongFormatError,
)
from pipeline.formats import BUILTIN_FORMATS, ENTRY_POINT_GROUP, Format, FormatRegistry, registry
from pipeline.formats._plugin import WRITES

from ._data import frames

NAMES = list(registry)


def test_builtin_formats_are_all_registered():
    assert len(NAMES) == len(BUILTIN_FORMATS) and len(set(NAMES)) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
class TestDeclaredFormat:
    """What every registered format declares, checked for each of them."""

    def test_name_and_aliases_lead_to_it(self, name):
        fmt = registry.lookup(name)
        assert isinstance(fmt, Format) and fmt.name == name and name in registry
        for alias in fmt.aliases:
            assert alias in registry and registry.lookup(alias) is fmt
        assert registry[name] is fmt

    def test_extensions_and_requirements(self, name):
        fmt = registry.lookup(name)
        assert all(e.startswith(".") and e == e.lower() for e in fmt.extensions)
        assert all(isinstance(p, str) and p for p in fmt.requires)
        assert (fmt.extra is not None) == bool(fmt.requires)
        assert fmt.file_based or not fmt.extensions
        for ext in fmt.extensions:
            assert name in registry.by_extension(f"some/file{ext.upper()}")

    def test_writes_as_declared(self, name, tmp_path):
        fmt = registry.lookup(name)
        assert fmt.writes in WRITES
        has_encoder = type(fmt).encoder is not Format.encoder
        assert has_encoder == (fmt.writes is not None)  # every writer through an encoder
        assert (name in registry.writable()) == (fmt.writes is not None)
        if fmt.writes is None:
            with pytest.raises(UnknownFormatError, match=f"{name!r} can be read but not"):
                pipeline.write(pipeline.from_array(frames(2)), tmp_path / "out", format=name)

    def test_open_parameters_fit_open(self, name):
        fmt = registry.lookup(name)
        params = fmt.open_parameters()
        assert params is None or all(isinstance(p, str) for p in params)

    def test_sniff_answers_for_a_foreign_file(self, name, tmp_path):
        fmt = registry.lookup(name)
        junk = tmp_path / "junk.bin"
        junk.write_bytes(b"\x00\x01 nothing any format writes " * 8)
        assert fmt.sniff(str(junk)) in (True, False)
        if type(fmt).sniff is not Format.sniff and name not in ("raw", "video"):
            assert fmt.sniff(str(junk)) is False  # a sniffer recognises only its own files

    def test_missing_library_names_the_extra(self, name, monkeypatch):
        fmt = registry.lookup(name)
        if not fmt.requires:
            fmt.require()  # nothing to import: never fails
            return
        monkeypatch.setitem(sys.modules, fmt.requires[0], None)
        with pytest.raises(ImportError, match=rf"lazyseries\[{fmt.extra}\]"):
            registry.require(name)


def test_importing_the_formats_imports_no_optional_library():
    code = ("import sys; from pipeline.formats import registry; names = list(registry); "
            "assert all(registry.lookup(n).extensions is not None for n in names); "
            "print(sorted({'h5py', 'tifffile', 'fabio', 'imageio', 'PIL', 'zarr'} "
            "& set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownFormatError, match=r"unknown format 'nope'.*'hdf5'"):
        registry.lookup("nope")
    assert "nope" not in registry and 3 not in registry


# -- a third-party format, installed as a distribution with an entry point ------------------

PLUGIN = '''
from __future__ import annotations

import numpy as np

from pipeline.errors import NotMyFormat
from pipeline.formats import FileEncoding, Format
from pipeline.formats.array import ArraySeries

MAGIC = b"\\x93NUMPY"


def is_npy(path):
    try:
        with open(path, "rb") as fh:
            return fh.read(6) == MAGIC
    except OSError:
        return False


class NpyStack(Format):
    """One .npy array of frames."""

    name = "npy-stack"
    aliases = ("npystack",)
    extensions = (".npystack",)

    def open(self, path, /, mmap=True):
        if not is_npy(path):
            raise NotMyFormat(f"{str(path)!r} is not a .npy file")
        return ArraySeries(np.load(path, mmap_mode="r" if mmap else None))

    def sniff(self, path):
        return is_npy(path)

    writes = "file"

    def encoder(self, series, target, **options):
        if options:
            raise TypeError(f"npy-stack takes no options, got {sorted(options)}")

        def encode(path, blocks):
            out = np.lib.format.open_memmap(path, "w+", series.dtype, (len(series), *series.shape))
            for start, block in blocks:
                out[start:start + len(block)] = block
            out.flush()

        return FileEncoding(self.name, encode, is_npy, self.open)
'''


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A distribution on sys.path offering two formats: one that loads, one that does not."""
    site = tmp_path / "site"
    (site / "npystack_plugin.py").parent.mkdir()
    (site / "npystack_plugin.py").write_text(PLUGIN)
    info = site / "npystack_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: npystack-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(f"""\
        [{ENTRY_POINT_GROUP}]
        npy-stack = npystack_plugin:NpyStack
        broken = npystack_plugin_missing:Format
        zarr = npystack_plugin:NpyStack
        """))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_loaded", None)  # as in a fresh process with it installed
    return tmp_path


def test_entry_point_format_is_found_alike_by_in_lookup_and_iteration(installed):
    with pytest.warns(FormatPluginWarning, match="broken.*npystack_plugin_missing"):
        names = list(registry)
    assert "npy-stack" in names and "npy-stack" in registry and "npystack" in registry
    assert registry.lookup("npystack").name == "npy-stack"
    assert "broken" not in names and "broken" not in registry
    with pytest.raises(UnknownFormatError):
        registry.lookup("broken")
    assert type(registry.lookup("zarr")).__module__ == "pipeline.formats.zarr"  # built-in kept
    assert names.count("npy-stack") == 1 and "npy-stack" in registry.writable()


def test_entry_point_format_reads_and_writes_through_the_persistence_layer(installed):
    data = frames(4)
    path = installed / "x.npystack"
    with pytest.warns(FormatPluginWarning):
        written = pipeline.write(pipeline.from_array(data), path)
    np.testing.assert_array_equal(np.load(path), data)  # the file numpy itself reads
    np.testing.assert_array_equal(np.asarray(written), data)
    np.testing.assert_array_equal(np.asarray(pipeline.open(path)), data)  # by extension
    with pytest.raises(StoreExistsError):
        pipeline.write(pipeline.from_array(data + 1), path)
    np.testing.assert_array_equal(np.load(path), data)
    pipeline.write(pipeline.from_array(data + 1), path, overwrite=True)
    np.testing.assert_array_equal(np.load(path), data + 1)
    with pytest.raises(TypeError, match="no options"):
        pipeline.write(pipeline.from_array(data), installed / "y.npystack", level=3)
    assert not (installed / "y.npystack").exists()


def test_a_registry_without_entry_points_sees_only_its_modules(installed):
    own = FormatRegistry(BUILTIN_FORMATS)
    assert "npy-stack" not in own and list(own) == NAMES


def test_adding_a_format_by_hand():
    class Plain(Format):
        name = "plain-test"
        extensions = (".plaintest",)

        def open(self, path, /):
            return pipeline.from_array(np.zeros((1, 2, 2)))

    fmt = registry.add(Plain)
    assert registry.lookup("plain-test") is fmt and "plain-test" in list(registry)
    with pytest.raises(RegistrationError, match="registered"):
        registry.add(Plain())
    registry.remove("plain-test")
    assert "plain-test" not in registry
    with pytest.raises(RegistrationError, match="must be a pipeline.formats.Format"):
        registry.add(object())  # type: ignore[arg-type]

    class Unwritten(Plain):
        name = "unwritten-test"
        writes = "file"  # without an encoder

    with pytest.raises(RegistrationError, match="goes with an encoder"):
        registry.add(Unwritten)
    with pytest.raises(RegistrationError, match="declares no open"):
        registry.add(type("Openless", (Format,), {"name": "openless"}))
    assert "unwritten-test" not in registry and "openless" not in registry


# -- a named format that does not fit the file ----------------------------------------------


@pytest.mark.parametrize("name", ["hdf5", "tiff", "frame-cache", "spe", "eiger-stream-v1",
                                  "image-files", "detector", "gif"])
def test_named_format_that_does_not_fit_is_wrong_format_error(tmp_path, name):
    path = tmp_path / "frames.zarr"
    pipeline.write(pipeline.from_array(frames(2)), path)
    other = tmp_path / "frames.npy"
    np.save(other, frames(2))
    target = path if name in ("image-files", "detector", "gif") else other
    with pytest.raises(WrongFormatError, match=rf"frames\.(zarr|npy).*format={name!r}") as err:
        pipeline.open(target, format=name)
    assert isinstance(err.value, NotASeriesError) and isinstance(err.value, ValueError)


def test_cli_exits_2_for_a_named_format_that_does_not_fit(tmp_path, capsys):
    from pipeline.cli import main

    path = tmp_path / "frames.tif"
    pipeline.write(pipeline.from_array(frames(2)), path)
    assert main(["info", str(path), "--format", "hdf5"]) == 2
    assert "frames.tif" in capsys.readouterr().err


def test_an_option_a_named_format_does_not_take_is_refused_naming_its_options():
    with pytest.raises(SeriesOptionError, match=r"format 'function' takes no option "
                                                r"function=; its options are func=, "):
        pipeline.open(None, "function", function=lambda j: None, nframes=2)


@pytest.mark.parametrize(("data", "problem"), [
    (np.zeros((3, 0, 4)), "which hold no pixels"),
    (np.zeros((3, 4, 4), "u2,f4"), "not a numeric pixel type"),
    (np.array([["a", "b"], ["c", "d"]]), "not a numeric pixel type"),
])
def test_every_opened_series_declares_a_header_a_series_can_have(data, problem):
    with pytest.raises(NotASeriesError, match=problem):
        pipeline.open(None, "array", data=data)

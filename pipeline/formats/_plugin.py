"""The declared shape of a format: what it is called, which files are its own, how it reads and writes.

A format is one object (like xarray's ``BackendEntrypoint``): a subclass of
:class:`Format` stating its name, aliases, extensions and optional libraries
as class attributes, with ``open`` and, where it has them, ``sniff`` and a
writer.  Every optional member has its default here, so the registry and its
callers ask a format, never probe it with ``getattr``.  Each format module
ends with one instance, ``FORMAT``; third-party ones arrive through the
``lazyseries.formats`` entry-point group (:mod:`pipeline.formats`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any, ClassVar

from ops import require as require_package
from pipeline.errors import RegistrationError, UnknownFormatError, WriteTargetError
from pipeline.formats._encoding import Encoding, FileEncoding
from pipeline.series import ImageSeries

WRITES = (None, "file", "store")
"""What :attr:`Format.writes` may say: nothing, one file, or a directory store of chunks."""


def _owed(fmt: Format, path: Any, /, **options: Any) -> ImageSeries:
    raise NotImplementedError(f"format {fmt.name!r} declares no open")


def _not_written(fmt: Format, series: ImageSeries, target: str, **options: Any) -> FileEncoding:
    raise UnknownFormatError(f"format {fmt.name!r} can be read but not written")


def _same_path(fmt: Format, path: str | os.PathLike[str], options: dict[str, Any]) -> str:
    return os.fspath(path)


def _not_in_place(fmt: Format, series: ImageSeries, node: Any, **options: Any) -> ImageSeries:
    raise WriteTargetError(f"the {fmt.name} format writes files; give a path, not {node!r:.60}")


class Format:
    """A format of series.

    Implementers owe
    ----------------
    ``name``
        The format's registered name (``format="name"``).
    ``open(path, **options)`` (a method, or a function as a ``staticmethod``)
        The series at ``path``, lazily (nothing but headers read).  A file
        that is not of this format raises :class:`~pipeline.errors.NotMyFormat`,
        so that detection tries the next format; a damaged file of this
        format raises :class:`~pipeline.errors.NotASeriesError`.

    Implementers may also declare
    -----------------------------
    ``aliases``, ``extensions``
        Other names, and the path endings (lower case) the format claims.
    ``requires``, ``extra``
        Optional packages it needs, and the ``pip install lazyseries[extra]``
        bringing them.  A format module imports them where it uses them, so
        that importing it stays cheap.
    ``file_based``
        Whether it reads paths (False for ``array``, ``function``).
    ``schemes``
        The address schemes it reads (``("tcp",)`` for a detector's ZeroMQ
        stream); such an address goes to these formats, never to a file's.
    ``sniff(path)``
        Whether ``path`` looks like this format, from its first bytes; the
        default says it may be, and lets ``open`` decide.
    ``writes``, ``encoder(series, target, **options)``
        What the format writes, and how: :meth:`encoder` returns the encoding
        :mod:`pipeline.persist` runs for every format alike, a
        :class:`~pipeline.formats._encoding.FileEncoding` (``writes = "file"``:
        one file) or a :class:`~pipeline.formats._encoding.StoreEncoding`
        (``writes = "store"``: a directory store of chunks); ``None``
        (default): read only.
    ``target(path, options)``, ``write_into(series, node, **options)``
        Where a write of ``path`` goes (default: ``path``), and a write into an
        open container the caller holds (hexrd's open ``h5py.File``).
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    extensions: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None
    file_based: ClassVar[bool] = True
    schemes: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[str | None] = None

    open: Callable[..., ImageSeries] = _owed
    """``open(path, **options)``: the series at ``path``, read lazily (owed by every format)."""

    def sniff(self, path: str) -> bool:
        """Whether ``path`` may be of this format, from a look at it (default: let open decide)."""
        return True

    def open_parameters(self) -> tuple[str, ...] | None:
        """The options :meth:`open` takes (None: any), so detection skips a format they do not fit."""
        try:
            params = list(inspect.signature(self.open).parameters.values())[1:]
        except (TypeError, ValueError):  # a callable without a signature: let it decide
            return None
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return tuple(p.name for p in params if p.kind is not p.POSITIONAL_ONLY)

    encoder: Callable[..., Encoding] = _not_written
    """``encoder(series, target, **options)``: how ``series`` is encoded into the file
    ``target``, every option and the metadata checked before any frame is computed."""

    target: Callable[..., str] = _same_path
    """``target(path, options)``: the file a write of ``path`` goes to; it may take its own
    options out of ``options`` (default: ``path``)."""

    write_into: Callable[..., ImageSeries] = _not_in_place
    """``write_into(series, node, **options)``: write ``series`` into the caller's open
    container ``node``, in place (default: refused)."""

    def require(self) -> None:
        """Import the optional packages; an ImportError names the extra that brings them."""
        for package in self.requires:
            require_package(package, self.extra or "all", f"the {self.name!r} format")

    def claims(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` ends with one of :attr:`extensions`."""
        text = os.fspath(path).rstrip("/\\").lower()
        return any(text.endswith(ext) for ext in self.extensions)

    def __repr__(self) -> str:
        return f"<format {getattr(self, 'name', '?')!r}>"


def check_format(fmt: Any, name: str | None = None) -> Format:
    """``fmt`` as a Format (a Format class is instantiated); TypeError for anything else."""
    if isinstance(fmt, type) and issubclass(fmt, Format):
        fmt = fmt()
    if not isinstance(fmt, Format):
        raise RegistrationError(f"a format must be a pipeline.formats.Format, got {fmt!r:.80}")
    if not isinstance(getattr(type(fmt), "name", None), str):
        raise RegistrationError(f"the format class {type(fmt).__name__} declares no name")
    if type(fmt).open is Format.open:
        raise RegistrationError(f"format {fmt.name!r} declares no open")
    if name is not None and fmt.name != name:
        raise RegistrationError(f"the format registered as {name!r} calls itself {fmt.name!r}")
    if fmt.writes not in WRITES:
        raise RegistrationError(
            f"format {fmt.name!r}: writes={fmt.writes!r}; expected one of {WRITES}"
        )
    if (fmt.writes is not None) != (type(fmt).encoder is not Format.encoder):
        raise RegistrationError(
            f"format {fmt.name!r}: writes={fmt.writes!r} goes with an encoder, and "
            "an encoder with writes='file' or 'store'"
        )
    return fmt


__all__ = ["WRITES", "Format", "check_format"]

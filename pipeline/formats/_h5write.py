"""Writing hexrd's HDF5 layout: dataset options from hexrd's arguments, writing into a group.

:mod:`pipeline.formats.hdf5` encodes whole files with these (staged by
:mod:`pipeline.persist`) and writes into a caller's open file in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.errors import OptionValueError, StoreExistsError, WriteTargetError
from pipeline.formats._filewrite import iter_blocks
from pipeline.series import ImageSeries


def h5_options(shape: tuple[int, ...], gzip: int, shuffle: bool, chunk_rows: int,
                compression: Any) -> dict[str, Any]:
    if not 0 <= int(gzip) <= 9:
        raise OptionValueError(f"gzip={gzip!r}: the gzip level must be 0 (none) to 9")
    rows = int(chunk_rows)
    rows = shape[-2] if rows < 1 or rows > shape[-2] else rows
    options: dict[str, Any] = {"chunks": (1, *shape[:-2], rows, shape[-1])}
    if compression is not None:
        # as hexrd: an explicit spec is used as it is, with its own shuffle, no gzip
        options.update(compression_options(compression))
        return options
    options["shuffle"] = bool(shuffle)
    if gzip > 0:
        options.update(compression="gzip", compression_opts=int(gzip))
    return options


def compression_options(compression: Any) -> dict[str, Any]:
    """h5py ``create_dataset`` options from a filter name, a mapping or an hdf5plugin filter.

    ``"lzf"``/``"gzip"``, ``{"compression": 32001, "compression_opts": (...)}``
    and ``hdf5plugin.Blosc(cname="zstd", clevel=5)`` (a mapping of exactly
    those options) are all accepted.
    """
    if isinstance(compression, str):
        return {"compression": compression}
    if isinstance(compression, Mapping) and "compression" in compression:
        return dict(compression)
    raise OptionValueError(
        f"compression={compression!r} must be a filter name ('lzf', 'gzip'), a mapping of "
        "h5py create_dataset options such as {'compression': 'lzf'}, or an hdf5plugin "
        "filter such as hdf5plugin.Blosc(cname='zstd', clevel=5)"
    )


def write_group(series: ImageSeries, group: Any, dataname: str, options: dict[str, Any],
                 meta: dict[str, Any]) -> None:
    ds = group.create_dataset(dataname, (len(series), *series.shape), series.dtype, **options)
    from pipeline import _json
    from pipeline.formats._h5meta import write_attrs

    _json.check(meta)
    write_attrs(group, meta)
    for start, block in iter_blocks(series):
        ds[start:start + len(block)] = block


def target_group(node: Any, path: str, dataname: str, overwrite: bool) -> Any:
    """The group ``path`` of an open file to write ``dataname`` into, after the overwrite check."""
    if node.file.mode != "r+":
        raise WriteTargetError(f"{node.file.filename!r} is open read-only; open it with mode 'a' "
                               "or 'w' to write into it")
    group = node.require_group(path)
    if dataname in group:
        if not overwrite:
            raise StoreExistsError(
                f"{node.file.filename!r} already holds {group.name}/{dataname}; pass "
                "overwrite=True to replace it, or choose another path= or dataname="
            )
        del group[dataname]
    return group


__all__ = ["compression_options", "h5_options", "target_group", "write_group"]

"""h5py, with the compression filters of hdf5plugin registered whenever it is installed.

Detector HDF5 (Eiger, Pilatus, Jungfrau) is compressed with bitshuffle-LZ4,
Blosc, zstd and friends, filters the HDF5 library finds only once
``hdf5plugin`` is imported.  Every reader and writer takes h5py from here, so
that a series unpickled on a dask worker reads such data as it did where it
was opened.
"""

from __future__ import annotations

from typing import Any

_plugins_loaded: bool | None = None


def h5py(purpose: str = "HDF5 files") -> Any:
    """The h5py module (ImportError naming the ``hdf5`` extra if missing), filters registered."""
    from ops import require

    module = require("h5py", "hdf5", purpose)
    register_plugins()
    return module


def register_plugins() -> bool:
    """Import hdf5plugin once, if installed, registering its filters; whether it is."""
    global _plugins_loaded
    if _plugins_loaded is None:
        try:
            import hdf5plugin  # noqa: F401  (importing registers the filters)
        except ImportError:
            _plugins_loaded = False
        else:
            _plugins_loaded = True
    return _plugins_loaded


def open_file(path: Any, purpose: str = "HDF5 files", name: str | None = None) -> Any:
    """``h5py.File(path, "r")``; a file HDF5 cannot open is NotASeriesError naming it.

    ``path`` may be an open binary file object (an fsspec URL's); ``name``
    then says which file it is.

    HDF5 says "truncated file", "bad superblock", "bad symbol table" and the
    like as a bare OSError; a file that starts as HDF5 but will not open is a
    corrupt file of this format, not another format's.
    """
    from pipeline.errors import NotASeriesError

    module = h5py(purpose)
    try:
        return module.File(path, "r")
    except OSError as err:
        where = path if name is None else name
        raise NotASeriesError(f"{where!r} is not a readable HDF5 file: {err}") from err

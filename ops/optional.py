"""Optional dependencies, imported where used: :func:`require`."""

from __future__ import annotations

import importlib
from types import ModuleType

from ops.errors import MissingDependencyError


def require(module: str, extra: str, purpose: str = "") -> ModuleType:
    """Import an optional dependency, or say which extra installs it.

    Parameters
    ----------
    module
        The module to import, e.g. ``"h5py"`` or ``"scipy.ndimage"``.
    extra
        The lazyseries extra that installs it, e.g. ``"hdf5"``.
    purpose
        What it is needed for, for the message (e.g. ``"the 'hdf5' format"``).

    Returns
    -------
    types.ModuleType
        The imported module.

    Raises
    ------
    MissingDependencyError
        (an ImportError) when ``module`` cannot be imported; it names the
        package and the ``pip install 'lazyseries[extra]'`` that fixes it, and
        chains the import's own error.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(module, extra, purpose) from err

"""Optional dependencies, imported where used."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise an ImportError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        what = f" for {purpose}" if purpose else ""
        raise ImportError(
            f"{module} is needed{what} but is not installed; "
            f"install it with: pip install 'lazyseries[{extra}]'"
        ) from err

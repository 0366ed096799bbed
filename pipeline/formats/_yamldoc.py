"""hexrd's YAML descriptions of series: loading one, and the metadata triggers they use.

Read by the ``image-files`` format (lists of image files), the ``raw`` format
(raw-image descriptions) and the ``frame-cache`` format (deprecated ``yml``
caches).  hexrd takes a description as a file or as the YAML text itself.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from ops import require
from pipeline._yaml import load_yaml as bounded
from pipeline.errors import NotASeriesError, YAMLError, YAMLLimitError

LEGACY_ARRAY = "++np.array"
"""Old frame caches stored an array ``k`` as ``k: ++np.array`` plus ``k-array: [...]``."""

MAX_BYTES = 2**20
"""Detection looks into YAML files up to this size (a description is a few lines)."""


def load_yaml(path: str) -> Any:
    """The YAML document at ``path`` (or in ``path``, YAML text), or None if it is not YAML.

    Loaded by :func:`pipeline._yaml.load_yaml`: a document whose aliases expand
    beyond its limits raises :class:`~pipeline.errors.YAMLLimitError`.
    """
    require("yaml", "yaml", "YAML-described series")
    try:
        return bounded(path, what="image-files YAML")
    except YAMLLimitError:
        raise
    except YAMLError:
        return None


def sniff_yaml(path: str) -> Any:
    """The document of a small YAML file at ``path``, for detection; None for anything else."""
    if not os.path.isfile(path) or os.path.getsize(path) > MAX_BYTES:
        return None
    return load_yaml(path)


def is_yaml_text(source: Any) -> bool:
    """Whether ``source`` is a YAML document rather than a path (hexrd accepts both)."""
    return isinstance(source, str) and ("\n" in source or source.lstrip().startswith("{"))


def load_yaml_source(source: Any) -> tuple[Any, str | None]:
    """``(document, path)`` of a YAML file, or ``(document, None)`` of YAML text."""
    if not is_yaml_text(source):
        path = os.fspath(source)
        return load_yaml(path), path
    yaml = require("yaml", "yaml", "YAML-described series")
    try:
        return yaml.safe_load(source), None
    except yaml.YAMLError:
        return None, None


def yaml_metadata(meta: dict[str, Any] | None, path: str | None = None) -> dict[str, Any]:
    """hexrd's ``yamlmeta``: metadata read from YAML, with its triggers applied.

    Parameters
    ----------
    meta
        The YAML ``meta:`` mapping (not changed).
    path
        The YAML file's path; files named by triggers are found in its
        directory (default: the working directory).

    Returns
    -------
    dict
        The metadata: a value ``"! load-numpy-array f.npy"`` becomes the array
        in ``f.npy``; ``k: "++np.array"`` with ``k-array: [...]`` becomes an
        array ``k`` (hexrd's obsolete frame-cache form).  A value starting with
        ``"! "`` and an unknown command is dropped, as hexrd does, with a warning.
    """
    meta = dict(meta or {})
    base = os.path.dirname(path) if path is not None else "."
    legacy = {f"{k}-array" for k, v in meta.items() if isinstance(v, str) and v == LEGACY_ARRAY}
    out: dict[str, Any] = {}
    for key, value in meta.items():
        words = value.split() if isinstance(value, str) else []
        if key in legacy:
            continue
        if isinstance(value, str) and value == LEGACY_ARRAY:
            out[key] = np.array(meta.get(f"{key}-array", []))
        elif len(words) > 1 and words[0] == "!":
            _trigger(out, key, words, base)
        else:
            out[key] = value
    return out


def _trigger(out: dict[str, Any], key: str, words: list[str], base: str) -> None:
    if words[1] != "load-numpy-array":
        warnings.warn(f"metadata {key!r}: unknown trigger {' '.join(words)!r} dropped; the "
                      "known one is '! load-numpy-array FILE.npy'", UserWarning, stacklevel=3)
        return
    if len(words) < 3:
        raise NotASeriesError(f"metadata {key!r}: '! load-numpy-array' needs a file name after it")
    out[key] = np.load(os.path.join(base, " ".join(words[2:])), allow_pickle=False)


__all__ = ["is_yaml_text", "load_yaml", "load_yaml_source", "sniff_yaml", "yaml_metadata"]

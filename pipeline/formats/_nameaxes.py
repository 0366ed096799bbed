"""Axes from file names, as pims' ``ImageSequenceND`` reads them: ``cell_t001_z002_c1.png``.

Each letter of ``name_axes`` (``"tzc"``) is followed in a file's name by its
index along that axis (``t001``: time point 1); a letter not in a name is
index 0, and the last mention counts (``t01file_t02`` is ``t`` 2).  A letter
preceded by another letter is part of a word, not an axis (``test_t1``: only
``t1``).  The indices found along an axis, sorted, are its positions: they
need not start at 0 or be contiguous.  Every combination must be named by
exactly one file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np

from pipeline.axes import AXIS_LETTERS
from pipeline.errors import AxesError, NotASeriesError, OptionValueError

NAME_AXES = "TCZ"
"""The axes a file name may give: time, channel and z (rows and columns are the images')."""


def parse_letters(name_axes: str) -> str:
    """``name_axes`` as upper-case letters of :data:`NAME_AXES`, each at most once."""
    if not isinstance(name_axes, str) or not name_axes:
        raise OptionValueError(f"name_axes={name_axes!r:.80} must be letters of "
                               f"{NAME_AXES.lower()!r} such as 'tzc'")
    letters = name_axes.upper()
    bad = sorted({a for a in letters if a not in NAME_AXES})
    if bad or len(set(letters)) != len(letters):
        raise AxesError(f"name_axes={name_axes!r} must name each of {NAME_AXES.lower()!r} at "
                        "most once (rows and columns come from the images)"
                        + (f"; {''.join(bad).lower()!r} is none of them" if bad else ""))
    return "".join(a for a in AXIS_LETTERS if a in letters)


def indices(name: str, letters: str) -> tuple[int, ...]:
    """The index along each axis of ``letters`` that the file ``name`` gives (0 when none)."""
    stem = os.path.splitext(os.path.basename(name))[0]
    found = []
    for letter in letters:
        hits = re.findall(rf"(?<![A-Za-z]){letter}(\d+)", stem, flags=re.IGNORECASE)
        found.append(int(hits[-1]) if hits else 0)
    return tuple(found)


def grid(names: Sequence[str], letters: str) -> np.ndarray:
    """The position of each file in the grid the names span: an int array, one axis per letter.

    Raises :class:`~pipeline.errors.NotASeriesError` naming two files that give the
    same indices, or a combination no file gives.
    """
    found = [indices(n, letters) for n in names]
    values = [sorted({f[k] for f in found}) for k in range(len(letters))]
    out = np.full([len(v) for v in values], -1, np.int64)
    for k, index in enumerate(found):
        at = tuple(v.index(i) for v, i in zip(values, index))
        if out[at] >= 0:
            raise NotASeriesError(
                f"{names[out[at]]!r} and {names[k]!r} both name "
                f"{_where(letters, index)}; each combination of {letters.lower()!r} must be "
                "one file")
        out[at] = k
    if (out < 0).any():
        missing = tuple(v[i] for v, i in zip(values, np.argwhere(out < 0)[0]))
        raise NotASeriesError(
            f"no file names {_where(letters, missing)} (among {len(names)} files spanning "
            + ", ".join(f"{a.lower()} {v[0]}..{v[-1]}" for a, v in zip(letters, values))
            + "); every combination must be there")
    return out


def _where(letters: str, index: Sequence[int]) -> str:
    return " ".join(f"{a.lower()}={i}" for a, i in zip(letters, index))


__all__ = ["NAME_AXES", "grid", "indices", "parse_letters"]

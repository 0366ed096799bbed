"""One conversion of frame values into a dtype, under a policy named by the caller.

Every place that puts values into a dtype it did not choose itself (a stack's
incoming frames, an image-files series' ``dtype`` option, a function series'
``dtype=``, an integer statistic) calls :func:`convert` with the policy it
means, so "what happens to a value the dtype cannot hold" is written down once.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from pipeline.errors import OptionValueError, UnsupportedDtypeError, ValueRangeError

Policy = Literal["round", "truncate", "clip"]

POLICIES: tuple[str, ...] = ("round", "truncate", "clip")
"""The policies :func:`convert` knows."""


def convert(values: Any, dtype: Any, policy: Policy, *, what: str = "values", hint: str = "",
            copy: bool = False) -> np.ndarray:
    """``values`` as an array of ``dtype``; a value the dtype cannot hold follows ``policy``.

    Parameters
    ----------
    values
        An array (or anything :func:`numpy.asarray` takes) of booleans or numbers.
    dtype
        The dtype wanted.
    policy
        What happens on the way into the dtype:

        ``"round"``
            Floats going to integers are rounded to the nearest integer (half
            to even, :func:`numpy.rint`).  NaN or infinity going to integers,
            and any value outside the dtype's range (for a float dtype: a
            finite value beyond its largest finite value), raise
            :class:`~pipeline.errors.ValueRangeError`.  ``ImageStack`` uses it.
        ``"truncate"``
            As ``"round"``, but floats going to integers lose their fraction
            (towards zero, as ``astype`` does).  Image files with a ``dtype``
            option and function series use it.
        ``"clip"``
            Floats going to integers are rounded as in ``"round"``; values
            outside the dtype's range become its nearest end (infinities
            too, for an integer dtype); NaN going to integers raises
            :class:`~pipeline.errors.ValueRangeError`.  Statistics asked for in an
            integer dtype use it.

        Under every policy, values the dtype holds exactly come through
        unchanged, and infinities and NaN going to a float dtype carry over.
    what
        How the error messages name the values (e.g. ``"frame values"``).
    hint
        A sentence the error messages end with: the fix for the caller's case.
    copy
        Always return a new array (otherwise ``values`` itself when it is
        already of ``dtype``).

    Returns
    -------
    numpy.ndarray
        Of ``dtype`` and the shape of ``values``.

    Raises
    ------
    ValueRangeError
        A value the policy refuses; the message names the values' range (or
        the first NaN or infinity) and the dtype's.
    UnsupportedDtypeError
        Values of a kind the dtype cannot take at all (complex to real,
        text or objects to numbers).
    OptionValueError
        An unknown ``policy``.
    """
    if policy not in POLICIES:
        raise OptionValueError(f"dtype conversion policy {policy!r} is not one of {POLICIES}")
    arr = np.asarray(values)
    target = np.dtype(dtype)
    src = arr.dtype
    if src == target or np.can_cast(src, target, "safe"):
        return arr.astype(target, copy=copy)
    if src.kind not in "biufc" or target.kind not in "biufc" or (
            src.kind == "c" and target.kind != "c"):
        raise UnsupportedDtypeError(
            f"cannot convert {what} of dtype {src} to the dtype {target}; convert them first"
            + (" (e.g. .real or np.abs() for complex values)" if src.kind == "c" else ""))
    if target.kind in "biu":
        out = _to_integer(arr, target, policy, what, hint)
    else:
        out = _to_float(arr, target, policy, what, hint)
    return out


def limits(dtype: np.dtype) -> tuple[Any, Any]:
    """The lowest and highest value ``dtype`` holds (finite values for a float dtype)."""
    if dtype.kind == "b":
        return 0, 1
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return int(info.min), int(info.max)
    top = float(np.finfo(dtype).max)
    return -top, top


def _to_integer(arr: np.ndarray, target: np.dtype, policy: str, what: str,
                hint: str) -> np.ndarray:
    lo, hi = limits(target)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) if policy != "clip" else np.isnan(arr)
        if bad.any():
            value = arr[bad].flat[0].item()
            raise ValueRangeError(
                f"{what} hold {value!r}; the dtype {target} holds no NaN or infinity"
                + (f"; {hint}" if hint else ""))
        if policy == "clip":
            return _clip_float(arr, target, lo, hi)
        arr = np.trunc(arr) if policy == "truncate" else np.rint(arr)
    if policy == "clip":
        info = np.iinfo(arr.dtype) if arr.dtype.kind in "iu" else None
        if info is not None:  # bounds the source dtype holds, so that clip never overflows
            kind = arr.dtype.type
            arr = np.clip(arr, kind(max(lo, int(info.min))), kind(min(hi, int(info.max))))
        return arr.astype(target)
    _check_range(arr, lo, hi, target, what, hint)
    return arr.astype(target)


def _clip_float(arr: np.ndarray, target: np.dtype, lo: int, hi: int) -> np.ndarray:
    """Rounded and clipped in float64, its upper bound moved inside the integer range where
    float64 cannot hold it exactly (2**63 - 1 becomes 2**63), the values above set to it."""
    wide = np.rint(arr.astype(np.float64))
    flo, fhi = float(lo), float(hi)  # the low end, 0 or -2**k, float64 holds exactly
    if fhi > hi:
        fhi = float(np.nextafter(fhi, -np.inf))
    out = np.clip(wide, flo, fhi).astype(target)
    out[wide > fhi] = hi  # the integer range's top, which float64 cannot name
    return out


def _to_float(arr: np.ndarray, target: np.dtype, policy: str, what: str,
              hint: str) -> np.ndarray:
    lo, hi = limits(target)
    parts = (arr.real, arr.imag) if arr.dtype.kind == "c" else (arr,)
    if policy == "clip":
        if arr.dtype.kind == "c":
            return (_clip_finite(arr.real, lo, hi) + 1j * _clip_finite(arr.imag, lo, hi)
                    ).astype(target)
        return _clip_finite(arr, lo, hi).astype(target)
    for part in parts:
        finite = part[np.isfinite(part)] if part.dtype.kind in "fc" else part
        _check_range(finite, lo, hi, target, what, hint)
    return arr.astype(target)


def _clip_finite(part: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if part.dtype.kind != "f":
        part = part.astype(np.float64)
    return np.where(np.isfinite(part), np.clip(part, lo, hi), part)


def _check_range(values: np.ndarray, lo: Any, hi: Any, target: np.dtype, what: str,
                 hint: str) -> None:
    if not values.size:
        return
    low, high = values.min().item(), values.max().item()
    if low < lo or high > hi:  # Python compares int and float exactly
        raise ValueRangeError(
            f"{what} span [{low!r}, {high!r}] and do not fit the dtype {target}, which holds "
            f"[{lo!r}, {hi!r}]" + (f"; {hint}" if hint else ""))

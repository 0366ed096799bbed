"""Eiger stream files, version 2: ``/data/<i>/<channel>/{data, compression_type, ...}``.

hexrd's ``eiger-stream-v2`` format, for Eiger2 detectors counting at two
energy thresholds.  Which frames a read gives is an option, switched at run
time with :meth:`EigerStreamV2Series.set_option` (as in hexrd):

``threshold_setting``
    ``"threshold_1"`` (default), ``"threshold_2"``, or ``"man_diff"``:
    ``threshold_1 - multiplier * threshold_2`` in float64.
``multiplier``
    A float (default 1), used by ``"man_diff"`` only.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from pipeline.errors import NotASeriesError, SeriesOptionError
from pipeline.formats._plugin import Format
from pipeline.formats.eiger import (
    EigerStreamSeries,
    decompress_frame,
    read_fields,
    sniff_version,
)

THRESHOLD_SETTINGS = ("threshold_1", "threshold_2", "man_diff")
OPTIONS = ("threshold_setting", "multiplier")


class EigerStreamV2Series(EigerStreamSeries):
    """Frames of an Eiger stream v2 file, one threshold channel (or their difference) at a time.

    Parameters
    ----------
    fname
        The HDF5 file (a path, or an open ``h5py.File``, used as is).
    threshold_setting, multiplier
        Which frames reads give (see the module's docstring).

    Notes
    -----
    :meth:`set_option` changes this series in place, as hexrd's does; a
    processed series built on it before the change keeps the frame dtype it
    was built with.  :meth:`with_options` gives a new series instead.
    """

    format_name = "eiger-stream-v2"

    def __init__(self, fname: str | os.PathLike[str] | Any, threshold_setting: str = "threshold_1",
                 multiplier: float = 1, **kwargs: Any) -> None:
        if kwargs:
            raise SeriesOptionError(
                f"eiger-stream-v2 has no option {min(kwargs)!r}; its options are {OPTIONS}"
            )
        self._threshold_setting = _check_setting(threshold_setting)
        self._multiplier = _check_multiplier(multiplier)
        data = self._init_file(fname, 2)
        first = data["0"]
        self._channels = tuple(k for k in first if hasattr(first[k], "keys"))
        frame0 = {c: self._frame0(first[c]) for c in self._channels if c in THRESHOLD_SETTINGS}
        self._constant = {c: fields for c, (fields, _) in frame0.items()}
        self._specs = {c: spec for c, (_, spec) in frame0.items()}
        self._check_channels(self._threshold_setting)

    # -- hexrd's options -------------------------------------------------------------

    @property
    def threshold_setting(self) -> str:
        """``"threshold_1"``, ``"threshold_2"`` or ``"man_diff"``."""
        return self._threshold_setting

    @threshold_setting.setter
    def threshold_setting(self, value: str) -> None:
        self._check_channels(_check_setting(value))
        self._threshold_setting = value

    @property
    def multiplier(self) -> float:
        """The factor of threshold_2 in ``"man_diff"``: ``threshold_1 - multiplier * threshold_2``."""
        return self._multiplier

    @multiplier.setter
    def multiplier(self, value: float) -> None:
        self._multiplier = _check_multiplier(value)

    def set_option(self, key: str, value: Any) -> None:
        """Set ``threshold_setting`` or ``multiplier`` (hexrd's ``set_option``)."""
        if key not in OPTIONS:
            raise SeriesOptionError(f"{key!r} is not an option of eiger-stream-v2; "
                                    f"its options are {OPTIONS}")
        setattr(self, key, value)

    def option_values(self) -> dict[str, Any]:
        """The current options, ``{"threshold_setting": ..., "multiplier": ...}``."""
        return {"threshold_setting": self._threshold_setting, "multiplier": self._multiplier}

    def with_options(self, **options: Any) -> EigerStreamV2Series:
        """A new series over the same file with ``options`` changed (this one unchanged)."""
        return EigerStreamV2Series(self._path, **{**self.option_values(), **options})

    def _check_channels(self, setting: str) -> None:
        wanted = ("threshold_1", "threshold_2") if setting == "man_diff" else (setting,)
        missing = [c for c in wanted if c not in self._specs]
        if missing:
            raise NotASeriesError(
                f"{self._path!r}: threshold_setting={setting!r} needs channel(s) {missing}, "
                f"but frame 0 holds {list(self._channels)}"
            )

    # -- the interface ---------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        channel = "threshold_1" if self._threshold_setting == "man_diff" else self._threshold_setting
        return self._specs[channel][0]

    @property
    def dtype(self) -> np.dtype:
        if self._threshold_setting == "man_diff":
            return np.dtype(np.float64)
        return self._specs[self._threshold_setting][1]

    def _fields(self, j: int) -> tuple[str, float, list[dict[str, Any]]]:
        setting, multiplier = self._threshold_setting, self._multiplier
        group = self._group(j)
        wanted = ("threshold_1", "threshold_2") if setting == "man_diff" else (setting,)
        return setting, multiplier, [read_fields(group[c], self._constant[c]) for c in wanted]

    def _combine(self, fields: tuple[str, float, list[dict[str, Any]]]) -> np.ndarray:
        setting, multiplier, parts = fields
        frames = [decompress_frame(d) for d in parts]
        if setting == "man_diff":
            return frames[0].astype(np.float64) - multiplier * frames[1]
        return frames[0]


def _check_setting(value: Any) -> str:
    if value not in THRESHOLD_SETTINGS:
        raise SeriesOptionError(
            f"threshold_setting={value!r} is not one of the possible values; "
            f"possible values are: {', '.join(THRESHOLD_SETTINGS)}"
        )
    return str(value)


def _check_multiplier(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SeriesOptionError(f"multiplier={value!r} must be a number") from None


def open(fname: str | os.PathLike[str] | Any, threshold_setting: str = "threshold_1",
         multiplier: float = 1, **kwargs: Any) -> EigerStreamV2Series:
    """hexrd's ``open(f, "eiger-stream-v2", threshold_setting=..., multiplier=...)``, lazily."""
    return EigerStreamV2Series(fname, threshold_setting=threshold_setting,
                               multiplier=multiplier, **kwargs)


def sniff(path: str) -> bool:
    """Whether ``path`` is an HDF5 file laid out as an Eiger stream, version 2."""
    return sniff_version(path) == 2


class EigerStreamV2Format(Format):
    """Eiger stream files, version 2 (:func:`open`)."""

    name = "eiger-stream-v2"
    aliases = ("eiger_stream_v2",)
    extensions = (".h5", ".hdf5")
    requires = ("h5py",)
    extra = "eiger"
    open = staticmethod(open)
    sniff = staticmethod(sniff)


FORMAT = EigerStreamV2Format()

__all__ = ["FORMAT", "EigerStreamV2Format", "EigerStreamV2Series", "open", "sniff"]

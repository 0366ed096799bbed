"""What a statistic over frames declares, and the registry of them.

A statistic is one frozen value: its name and aliases, a line of help, the
parameter it takes if any, and how it is computed.  Two methods cover the
built-ins, and each is declared by a few plain functions:

- a :class:`Reduction` folds frames, one group at a time, into an
  accumulator (``start``, ``fold``), merges the accumulators of groups folded
  in parallel (``merge``) and makes the result from the last one (``finish``):
  max, min, sum, average;
- a :class:`BandStatistic` needs every frame of a pixel at once, so it works
  on all frames x a band of rows (``band``): median, percentile.

:mod:`pipeline.stats` fills :data:`pipeline.stats.registry` with the built-ins
in one place; the ``stats`` functions, the ``lazyseries stats`` flags and the
pipeline-file schema (``{stat: NAME, ...}``) are all derived from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from pipeline.errors import OptionValueError, RegistrationError


@dataclasses.dataclass(frozen=True)
class Parameter:
    """The parameter a statistic takes (a percentile's ``pct``).

    Parameters
    ----------
    name
        Its keyword: in Python calls, as the key of a pipeline file's
        ``{stat: ...}`` mapping.
    parse
        ``parse(value) -> value``: checks and normalises it; raises
        :class:`~pipeline.errors.OptionValueError` naming the bad value.
    metavar, help
        How the command line shows it (``--percentile P``).
    type
        What the command line converts its text with before ``parse``.
    """

    name: str
    parse: Callable[[Any], Any]
    metavar: str = "VALUE"
    help: str = ""
    type: Callable[[str], Any] = float


@dataclasses.dataclass(frozen=True)
class Statistic:
    """What every statistic declares: its names, a line of help and its parameter.

    Parameters
    ----------
    name
        The name in :data:`pipeline.stats.registry`, a command-line flag
        ``--NAME`` and ``{stat: NAME}`` in a pipeline file.
    doc
        One line for ``lazyseries stats --help``.
    aliases
        Other names for it, each also a flag (``--mean`` for ``average``).
    parameter
        The parameter it needs, or None.
    """

    name: str
    doc: str
    aliases: tuple[str, ...] = ()
    parameter: Parameter | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def parse(self, value: Any) -> Any:
        """The parameter ``value`` checked and normalised (None for a statistic without one)."""
        if self.parameter is None:
            if value is not None:
                raise OptionValueError(
                    f"the statistic {self.name!r} takes no parameter, got {value!r}")
            return None
        if value is None:
            raise OptionValueError(
                f"the statistic {self.name!r} needs its {self.parameter.name}: "
                f"{self.parameter.help or self.parameter.metavar}")
        return self.parameter.parse(value)


@dataclasses.dataclass(frozen=True)
class Accumulator:
    """The running images of a reduction: ``planes`` images of the frame shape, in ``dtype``.

    ``scratch`` counts the images of the same size that ``fold`` holds
    besides, so that the memory plan can count them.
    """

    dtype: np.dtype
    planes: int = 1
    scratch: int = 0

    def nbytes(self, shape: tuple[int, ...]) -> int:
        return (self.planes + self.scratch) * int(np.prod(shape)) * self.dtype.itemsize


@dataclasses.dataclass(frozen=True)
class Reduction(Statistic):
    """A statistic folded frame by frame into an accumulator (max, min, sum, average).

    Parameters
    ----------
    accumulator
        ``accumulator(frame_dtype, count) -> Accumulator`` for ``count`` frames.
    start
        ``start(frame, acc) -> array (acc.planes, *frame_shape)`` in
        ``acc.dtype``, holding one frame.
    fold
        ``fold(array, frames, seen) -> array``: the frames (an iterable, read
        as it is consumed) folded in, ``seen`` frames being in it already; may
        work in place.
    merge
        ``merge(a, b, na, nb) -> array``: the accumulator of the frames of
        both (``na`` frames in ``a``, ``nb`` in ``b``); may work in place on ``a``.
    finish
        ``finish(array, count) -> image``: the result from the accumulator of
        ``count`` frames; may return a view of it or change it.
    result
        ``result(frame_dtype) -> dtype`` of the image ``finish`` returns.
    """

    accumulator: Callable[[np.dtype, int], Accumulator] = dataclasses.field(kw_only=True)
    start: Callable[[np.ndarray, Accumulator], np.ndarray] = dataclasses.field(kw_only=True)
    fold: Callable[[np.ndarray, Iterable[np.ndarray], int], np.ndarray] = dataclasses.field(
        kw_only=True)
    merge: Callable[[np.ndarray, np.ndarray, int, int], np.ndarray] = dataclasses.field(
        kw_only=True)
    finish: Callable[[np.ndarray, int], np.ndarray] = dataclasses.field(kw_only=True)
    result: Callable[[np.dtype], np.dtype] = dataclasses.field(kw_only=True)


def _no_lead(param: Any) -> tuple[int, ...]:
    return ()


@dataclasses.dataclass(frozen=True)
class BandStatistic(Statistic):
    """A statistic of every frame of a pixel at once, band of rows by band (median, percentile).

    Parameters
    ----------
    band
        ``band(block, param, dtype) -> array``: the result for ``block``, all
        frames x a band of rows ``(n, ..., rows, cols)``, in ``dtype``, shaped
        ``(*lead(param), ..., rows, cols)``; ``block`` is its own and may be
        overwritten.
    lead
        ``lead(param) -> shape`` of the result's leading axes (one image per
        percentile asked for); none by default.
    """

    band: Callable[[np.ndarray, Any, np.dtype], np.ndarray] = dataclasses.field(kw_only=True)
    lead: Callable[[Any], tuple[int, ...]] = dataclasses.field(default=_no_lead, kw_only=True)


class StatRegistry:
    """Statistics by name, in the order they were added; aliases are looked up too.

    ``name in registry`` and :meth:`lookup` take names and aliases; iterating
    gives the statistics' names.  Filled by explicit :meth:`add` calls: nothing
    registers itself on import.
    """

    def __init__(self, stats: Iterable[Statistic] = ()) -> None:
        self._stats: dict[str, Statistic] = {}
        self._names: dict[str, str] = {}  # every name and alias -> the statistic's name
        for stat in stats:
            self.add(stat)

    def add(self, stat: Statistic, *, replace: bool = False) -> Statistic:
        """Register ``stat`` under its name and aliases; a name taken needs ``replace=True``,
        which removes the statistic that had it."""
        if not isinstance(stat, Reduction | BandStatistic):
            raise RegistrationError(
                f"a statistic is a Reduction or a BandStatistic, got {stat!r:.80}")
        owners = {self._names[n] for n in stat.names if n in self._names}
        if owners and not replace:
            raise RegistrationError(
                f"a statistic named {sorted(owners)[0]!r} already has one of the names "
                f"{list(stat.names)}; pass replace=True to replace it")
        for owner in owners:
            self.remove(owner)
        self._stats[stat.name] = stat
        self._names.update(dict.fromkeys(stat.names, stat.name))
        return stat

    def remove(self, name: str) -> None:
        """Remove the statistic called ``name`` (or one of its aliases), with all its names."""
        stat = self.lookup(name)
        del self._stats[stat.name]
        for alias in stat.names:
            del self._names[alias]

    def lookup(self, name: str) -> Statistic:
        """The statistic called ``name`` (or one of its aliases)."""
        if isinstance(name, str) and name in self._names:
            return self._stats[self._names[name]]
        raise OptionValueError(
            f"unknown statistic {name!r}; known statistics: {self.all_names()}")

    def all_names(self) -> list[str]:
        """Every name and alias, each statistic's name before its aliases."""
        return [n for stat in self._stats.values() for n in stat.names]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._stats))

    def __len__(self) -> int:
        return len(self._stats)

    def values(self) -> list[Statistic]:
        """The statistics, in the order they were added."""
        return list(self._stats.values())

    def snapshot(self) -> list[Statistic]:
        return self.values()

    def restore(self, stats: Iterable[Statistic]) -> None:
        self._stats, self._names = {}, {}
        for stat in stats:
            self.add(stat)

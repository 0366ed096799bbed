"""The conveniences of :class:`~pipeline.series.ImageSeries` that higher layers implement.

``s.to_dask()``, ``s.process(...)``, ``s.materialize()`` and the rest need
modules above the series layer (the dask graph, the processed series, the
persistence layer, xarray, HTML display).  The series layer must not import
them, so each convenience calls a generic function declared here with
:func:`functools.singledispatch`, and the layer that owns the work registers
its implementation for :class:`~pipeline.series.ImageSeries` (or a narrower
type) when it is imported:

=================  ======================
generic            registered by
=================  ======================
``to_dask``        :mod:`pipeline.graph`
``process``        :mod:`pipeline.processed`
``select``         :mod:`pipeline.processed`
``materialize``    :mod:`pipeline.disk`
``load``           :mod:`pipeline.disk`
``region``         :mod:`pipeline.regions`
``patches``        :mod:`pipeline.regions`
``to_xarray``      :mod:`pipeline.interop`
``repr_html``      :mod:`pipeline.display`
=================  ======================

``import pipeline`` imports every layer, so all of them are registered
whenever a series exists; a call made before its layer is loaded raises
:class:`~pipeline.errors.LayerNotLoadedError` naming the module.  A
third-party series type may register its own implementation of any of them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pipeline.errors import LayerNotLoadedError

__all__ = [
    "load", "materialize", "patches", "process", "region", "repr_html", "select", "to_dask",
    "to_xarray",
]


def _generic(name: str, module: str) -> Callable[..., Any]:
    @functools.singledispatch
    def generic(series: Any, *args: Any, **kwargs: Any) -> Any:
        raise LayerNotLoadedError(
            f"{name}() of a {type(series).__name__} is implemented in {module}, which is not "
            f"loaded (or has no implementation for this type); import {module}, or import "
            "pipeline, which loads every layer"
        )

    generic.__name__ = generic.__qualname__ = name
    generic.__doc__ = f"``{name}`` of a series; implemented by :mod:`{module}`."
    return generic


to_dask = _generic("to_dask", "pipeline.graph")
process = _generic("process", "pipeline.processed")
select = _generic("select", "pipeline.processed")
materialize = _generic("materialize", "pipeline.disk")
load = _generic("load", "pipeline.disk")
region = _generic("region", "pipeline.regions")
patches = _generic("patches", "pipeline.regions")
to_xarray = _generic("to_xarray", "pipeline.interop")
repr_html = _generic("repr_html", "pipeline.display")

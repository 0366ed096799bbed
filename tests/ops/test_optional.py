"""Optional dependencies: ``ops.require`` raises MissingDependencyError naming the extra."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest

import ops
import pipeline
import pipeline.errors
from ops import MissingDependencyError, require


def test_require_imports_what_is_installed():
    assert require("json", "all") is sys.modules["json"]


def test_a_missing_module_names_itself_and_the_extra():
    with pytest.raises(MissingDependencyError) as info:
        require("lazyseries_not_a_module", "hdf5", "the 'hdf5' format")
    err = info.value
    assert isinstance(err, ImportError) and err.name == "lazyseries_not_a_module"
    assert (err.package, err.extra) == ("lazyseries_not_a_module", "hdf5")
    assert str(err) == ("'lazyseries_not_a_module' is needed for the 'hdf5' format but is not "
                        "installed; install it with: pip install 'lazyseries[hdf5]'")
    assert isinstance(err.__cause__, ModuleNotFoundError)
    again = pickle.loads(pickle.dumps(err))  # crosses to a dask client intact
    assert type(again) is MissingDependencyError and str(again) == str(err)


def test_one_class_in_both_packages():
    assert pipeline.errors.MissingDependencyError is ops.errors.MissingDependencyError
    assert "require" in ops.__all__ and "MissingDependencyError" in pipeline.errors.__all__


def test_a_format_whose_library_is_missing_says_which_extra(tmp_path, monkeypatch):
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "s.tif", np.zeros((3, 4, 5), np.uint16))
    monkeypatch.setitem(sys.modules, "tifffile", None)  # import tifffile now fails
    with pytest.raises(MissingDependencyError, match=r"'tifffile'.*lazyseries\[tiff\]"):
        pipeline.open(tmp_path / "s.tif", format="tiff")


def test_an_op_whose_library_is_missing_says_which_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.ndimage", None)
    series = pipeline.from_array(np.zeros((2, 8, 8), np.float32)).process(
        [("gauss_laplace", 1.0)])
    with pytest.raises(MissingDependencyError, match=r"lazyseries\[scipy\]"):
        series[0]

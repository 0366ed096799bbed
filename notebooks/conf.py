"""Sphinx configuration of the lazyseries documentation site.

Build: ``python -m sphinx -W --keep-going -n -b html notebooks build/html`` (``pip install -e
'.[docs]'``).  The pages are Markdown (MyST); the example notebooks beside them are executed by
myst-nb when the site is built and rendered with their outputs.

Theme: the PyData Sphinx theme, the one dask, xarray, napari, numpy and pandas use, so readers
coming from those projects find the navigation (sections across the top, the page's sections
on the right, the API reference laid out as theirs) where they expect it.  Sphinx rather than
MkDocs because the API reference is generated from the numpydoc docstrings by autodoc and
autosummary, as in those projects, and myst-nb executes and renders the notebooks.
"""

from __future__ import annotations

import pathlib
import re
import sys
import warnings

import pipeline

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # _build_figures.py, run below

project = "lazyseries"
author = "lazyseries developers"
copyright = "lazyseries developers"  # noqa: A001 (Sphinx's name)
release = pipeline.__version__
version = release

extensions = [
    "myst_nb",                # Markdown pages (MyST) and executed notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",               # the docstrings are numpydoc style
    "sphinx.ext.viewcode",
]

root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "make_notebooks.py", "jupyter_execute"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}  # .rst: autosummary's stubs

# MyST: headings get anchors so pages can link to sections (page.md#section)
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# Notebooks: executed when the site is built, results cached beside the build (a rebuild with
# unchanged notebooks executes nothing).  The Markdown pages have no code cells to execute:
# their examples are run by tests/test_docs.py instead.
nb_execution_mode = "cache"
nb_execution_timeout = 120
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# API reference: generated from the docstrings
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"        # the numpydoc "Parameters" sections say the types
templates_path = ["_templates"]  # autosummary's class page: the class and its own members
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()

# internal references are checked (-n); names of other projects are not ours to resolve here
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|dask|da|zarr|xarray|xr|distributed|h5py|os|pathlib|typing"
               r"|collections|concurrent|numbers|fsspec|s3fs|tifffile|contextlib|abc)\..*"),
]

html_theme = "pydata_sphinx_theme"
html_title = "lazyseries"
html_static_path: list[str] = []
html_theme_options = {
    "github_url": "https://github.com/lazyseries/lazyseries",
    "navbar_align": "left",
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}

suppress_warnings = ["mystnb.unknown_mime_type"]


def _figures(app: object) -> None:
    """Draw the benchmark figures (``benchmarks.png``) from benchmarks/README.md's tables."""
    import _build_figures

    _build_figures.main(HERE / "_generated")


# Base classes state what an implementer owes in sections of their own ("Implementers owe",
# "Implementers may also declare", ...), which numpydoc does not know and would drop: they
# become rubrics before numpydoc reads the docstring.
_IMPLEMENTERS = re.compile(r"^(?P<indent>\s*)(?P<title>Implementers [^\n]*)\n(?P=indent)-{3,}[ \t]*$",
                           re.M)


warnings.filterwarnings("ignore", "Unknown section Implementers", UserWarning)  # they are kept


def _implementers(app: object, what: str, name: str, obj: object, options: object,
                  lines: list[str]) -> None:
    text = _IMPLEMENTERS.sub(r"\g<indent>.. rubric:: \g<title>\n", "\n".join(lines))
    lines[:] = text.split("\n")


def setup(app):  # noqa: ANN001, ANN201 (Sphinx's hook)
    app.connect("builder-inited", _figures)
    app.connect("autodoc-process-docstring", _implementers, priority=100)  # before numpydoc

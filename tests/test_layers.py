"""The layers of the house, as the import-linter contracts in pyproject.toml state them.

``lint-imports`` runs here with the repository's own configuration, so the
suite fails when a module imports a higher layer (inside a function too), the
package's face, or closes an import cycle.  The other tests check that the
contracts cover every module and that they catch what they are meant to, and
that no built-in format module imports another (directly or through helpers).
"""

from __future__ import annotations

import ast
import os
import pathlib
import shutil
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def lint(root: pathlib.Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache", "--no-logo", str(root / "pyproject.toml")],
        check=False, cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )


def contract(cid: str) -> dict:
    return next(c for c in CONFIG["contracts"] if c["id"] == cid)


def layer_modules() -> list[list[str]]:
    """The modules of each layer, highest first (optional ones without their parentheses)."""
    return [[m.strip().strip("()") for m in layer.replace("|", ":").split(":")]
            for layer in contract("layers")["layers"]]


def test_the_contracts_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


LAYERS = ["testing", "face", "analysis", "persistence", "formats", "series", "storage",
          "foundations", "operations"]
"""The layers, highest first, named for what they hold (each layer's comment in pyproject)."""


def test_the_layers_are_named_for_what_they_hold():
    layers = layer_modules()
    assert len(layers) == len(LAYERS)
    assert layers[0] == ["pipeline.testing"]  # it may import everything, the face included
    assert layers[-1] == ["ops"] and layers[-2][0] == "pipeline.errors"
    assert layers[LAYERS.index("storage")] == ["pipeline.storage"]
    assert layers[LAYERS.index("series")][0] == "pipeline.series"
    assert layers[LAYERS.index("formats")][0] == "pipeline.formats"
    assert layers[LAYERS.index("persistence")][0] == "pipeline.persist"
    assert contract("layers")["name"] == " < ".join(
        "ops" if name == "operations" else name for name in reversed(LAYERS))
    assert CONFIG["root_packages"] == ["pipeline", "ops"]
    assert CONFIG["exclude_type_checking_imports"] is True


def test_no_module_imports_one_of_its_own_package_only_for_annotations():
    """An import under TYPE_CHECKING would hide a circle the contracts cannot see."""
    found = []
    for path in sorted([*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "ops").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and (inner.module or "").split(".")[0] \
                            in ("pipeline", "ops"):
                        found.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert found == []


def test_every_module_has_a_layer():
    named = {m for layer in layer_modules() for m in layer}
    found = {"pipeline." + p.stem for p in (ROOT / "pipeline").glob("*.py") if p.stem != "__init__"}
    found |= {"pipeline." + p.name for p in (ROOT / "pipeline").iterdir()
              if (p / "__init__.py").exists()}
    assert found - named == set(), "modules in no layer: add them to [tool.importlinter]"
    # the face contract lists every module below the face as a source
    below = {m for layer in layer_modules()[2:] for m in layer if not m.startswith("(")}
    sources = set(contract("face")["source_modules"])
    assert {m for m in below if m in found or m == "ops"} - sources == set()


def _copy(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "repo"
    for name in ("pipeline", "ops"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


UPWARD = {
    "the series reaching up to the persistence layer, in a function": (
        "pipeline/series.py", "\n\ndef _up():\n    from pipeline import disk\n\n    return disk\n"),
    "the graph reaching up to a format": (
        "pipeline/graph.py", "\n\ndef _up():\n    import pipeline.formats.zarr\n"),
    "the persistence layer importing the package's face": (
        "pipeline/disk.py", "\n\ndef _up():\n    import pipeline\n\n    return pipeline.open\n"),
    "ops importing pipeline": ("ops/geometry.py", "\n\ndef _up():\n    import pipeline.series\n"),
    "the face importing the testing classes": (
        "pipeline/cli.py", "\n\ndef _up():\n    import pipeline.testing\n"),
    "a cycle between two analysis modules": (
        "pipeline/regions.py", "\n\ndef _up():\n    from pipeline import omega\n\n    return omega\n"),
}


@pytest.mark.parametrize("case", sorted(UPWARD))
def test_the_contracts_catch(case, tmp_path):
    root = _copy(tmp_path)
    if case.startswith("a cycle"):  # omega -> regions, then regions -> omega closes a cycle
        with open(root / "pipeline/omega.py", "a") as f:
            f.write("\n\ndef _down():\n    from pipeline import regions\n\n    return regions\n")
    path, code = UPWARD[case]
    with open(root / path, "a") as f:
        f.write(code)
    result = lint(root)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout


FORMAT_CHAINS = """
import grimp
from pipeline.formats import BUILTIN_FORMATS

graph = grimp.build_graph("pipeline", "ops", exclude_type_checking_imports=True)
for importer in BUILTIN_FORMATS:
    for imported in BUILTIN_FORMATS:
        chain = importer != imported and graph.find_shortest_chain(importer, imported)
        if chain:
            print(" -> ".join(chain))
"""
"""Prints every chain of imports from one built-in format module to another (the list of
formats is the registry's own, so a new format is checked without being named here)."""


def format_chains(root: pathlib.Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run([sys.executable, "-c", FORMAT_CHAINS], check=True, cwd=root,
                            env=env, capture_output=True, text=True, timeout=120)
    return result.stdout.splitlines()


def test_no_format_module_imports_another():
    # what formats share lives in helper modules (pipeline/formats/_*.py, base, eiger)
    assert format_chains(ROOT) == []


def test_the_format_check_catches_one_format_reaching_another(tmp_path):
    root = _copy(tmp_path)
    with open(root / "pipeline/formats/_yamldoc.py", "a") as f:  # through a helper, in a function
        f.write("\n\ndef _up():\n    from pipeline.formats import imagefiles\n")
    assert "pipeline.formats.raw -> pipeline.formats._yamldoc -> pipeline.formats.imagefiles" \
        in format_chains(root)


def _calls_of_getattr(tree: ast.AST) -> list[tuple[int, str]]:
    return [(node.lineno, node.args[1].value) for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr") and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)]


HOOKS = ("_as_dask", "_axes", "_dask_token", "_in_memory", "description", "frame_chunk",
         "source_paths", "storage_chunks")
"""The optional members of a series; ``shape``, ``metadata``... are probed on foreign objects
(arrays, h5py nodes, hexrd's duck-typed series) and stay out of this check."""


def test_no_optional_series_member_is_probed_with_getattr():
    from pipeline.series import ImageSeries

    assert set(HOOKS) <= set(vars(ImageSeries)), "each hook is declared, with its default"
    probed = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        for line, name in _calls_of_getattr(ast.parse(path.read_text())):
            if name in HOOKS:
                probed.append(f"{path.relative_to(ROOT)}:{line} getattr(..., {name!r})")
    assert probed == []


PRIVATE = {"_read_frame", "_frame_index", "_frame_list", "_check_region", "_index_frame",
           "_dask_token", "_as_dask", "_plan_region", "_in_memory", "_axes"}
"""Members of a series that only the series itself (and its subclasses) may use."""

OUTSIDE = {  # module: the hooks it is the designated caller of
    "pipeline/graph.py": {"_as_dask"}, "pipeline/plan.py": set(),
    "pipeline/regions.py": set(), "pipeline/omega.py": set(), "pipeline/_stats_graph.py": set(),
    "pipeline/_stats_bands.py": set(), "pipeline/display.py": set(), "pipeline/interop.py": set(),
    "pipeline/disk.py": set(), "pipeline/persist/target.py": set(), "pipeline/cli.py": set(),
}


@pytest.mark.parametrize("module", sorted(OUTSIDE))
def test_other_layers_use_only_public_members_of_a_series(module):
    tree = ast.parse((ROOT / module).read_text())
    used = [(node.lineno, node.attr) for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in PRIVATE - OUTSIDE[module]
            and not (isinstance(node.value, ast.Name) and node.value.id == "self")]
    assert used == []


# -- pytest and hypothesis: only pipeline.testing ------------------------------------------

TEST_LIBRARIES = {"pytest", "_pytest", "hypothesis"}


def _modules_outside_testing() -> list[pathlib.Path]:
    return [path for package in ("pipeline", "ops")
            for path in sorted((ROOT / package).rglob("*.py"))
            if path.relative_to(ROOT).parts[:2] != ("pipeline", "testing")]


def _imported_roots(tree: ast.AST) -> set[str]:
    """Top-level packages a module imports, by statement or by ``require("name", ...)``."""
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute)
              and getattr(node.func, "id", getattr(node.func, "attr", "")) in
              ("require", "import_module") and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def test_only_pipeline_testing_imports_pytest_and_hypothesis():
    found = {str(path.relative_to(ROOT)): sorted(_imported_roots(ast.parse(path.read_text()))
                                                 & TEST_LIBRARIES)
             for path in _modules_outside_testing()}
    assert {path: libs for path, libs in found.items() if libs} == {}
    testing = (ROOT / "pipeline" / "testing").glob("*.py")
    assert set().union(*(_imported_roots(ast.parse(p.read_text())) for p in testing)) \
        >= {"hypothesis", "pytest"}  # the scan sees both where they are


def test_importing_every_other_module_loads_neither():
    names = []
    for path in _modules_outside_testing():
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] != "__main__":
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n    importlib.import_module(name)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            f"set({sorted(TEST_LIBRARIES)!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120, check=True)
    assert len(names) > 80 and out.stdout.strip() == "[]", out.stdout + out.stderr

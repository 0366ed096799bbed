"""Every example of the README and of the documentation pages runs, as a reader would run it.

Each page (README.md and every ``.md`` under notebooks/) runs in a fresh temporary directory
of its own, in one Python process: its ``python`` blocks in order, sharing one namespace as a
reader's session does, and its shell blocks where they stand.  In a ``console`` block the
lines starting with ``$ `` are commands (the rest is their output, shown to the reader); in a
``bash``/``sh``/``shell`` block every line that is not a comment is.  Commands run in bash
with this interpreter's scripts first on PATH, so ``lazyseries`` and ``python`` are the ones
under test.  ``pip install`` lines are the reader's, not the test's.

A block that cannot run here (a real scheduler's address, a GUI, a bucket) is preceded, on
the line before its fence, by ``<!-- not run: why -->``; a page may have two such blocks, each
with its reason.  A page with ``<!-- slow: why -->`` anywhere is marked slow.  Relative links
of every page must lead to a file of the repository.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "notebooks"
MAX_NOT_RUN = 2
SHELLS = {"console": "prompt", "bash": "all", "sh": "all", "shell": "all"}
NOT_RUN = re.compile(r"^\s*<!--\s*not run:(.*?)-->\s*$")
SLOW = re.compile(r"<!--\s*slow:\s*\S.*?-->")
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
PIP_INSTALL = re.compile(r"^(python3? -m )?pip3? install\b")


@dataclass
class Block:
    """One fenced block of a page: its language, first line of code (1-based) and text."""

    lang: str
    line: int
    code: str
    not_run: str | None  # the reason given, "" when the comment gives none


def pages() -> list[Path]:
    """README.md and every Markdown page of the documentation, found by glob."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, in order (CommonMark fences)."""
    found: list[Block] = []
    lines = text.splitlines()
    j = 0
    while j < len(lines):
        opening = FENCE.match(lines[j])
        if opening is None:
            j += 1
            continue
        fence = opening["fence"]
        end = j + 1
        while end < len(lines) and not re.match(rf"^ {{0,3}}{fence[0]}{{{len(fence)},}}\s*$",
                                                lines[end]):
            end += 1
        marker = NOT_RUN.match(lines[j - 1]) if j > 0 else None
        found.append(Block(opening["info"].lower(), j + 2,
                           textwrap.dedent("\n".join(lines[j + 1:end])),  # a list item's
                           None if marker is None else marker[1].strip()))
        j = end + 1
    return found


def commands(block: Block) -> list[str]:
    """The shell commands of a console or shell block, ``pip install`` lines left out."""
    lines = block.code.splitlines()
    if SHELLS[block.lang] == "prompt":
        cmds = [line[2:] for line in lines if line.startswith("$ ")]
    else:
        cmds = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return [cmd for cmd in cmds if not PIP_INSTALL.match(cmd.strip())]


# Runs in the page's own process: blocks in order, python ones in one namespace, tracebacks
# naming the page's own line numbers.
DRIVER = """
import json, os, subprocess, sys
page, steps = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
for kind, line, payload in steps:
    print(f"=== {page}:{line} ({kind})", flush=True)
    if kind == "python":
        exec(compile("\\n" * (line - 1) + payload, page, "exec"), namespace)
        continue
    for cmd in payload:
        print("$", cmd, flush=True)
        done = subprocess.run(cmd, shell=True, executable="/bin/bash", timeout=240)
        if done.returncode != 0:
            sys.exit(f"{page}:{line}: `{cmd}` exited with {done.returncode}")
"""


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _params() -> list:
    params = []
    for page in pages():
        slow = SLOW.search(page.read_text(encoding="utf-8")) is not None
        params.append(pytest.param(page, id=_name(page),
                                   marks=[pytest.mark.slow] if slow else []))
    return params


def test_pages_are_found():
    names = {_name(p) for p in pages()}
    assert {"README.md", "notebooks/index.md", "notebooks/getting-started.md"} <= names


@pytest.mark.parametrize("page", _params())
def test_not_run_blocks_are_few_and_say_why(page):
    skipped = [b for b in blocks(page.read_text(encoding="utf-8")) if b.not_run is not None]
    assert all(b.not_run for b in skipped), \
        f"{_name(page)}: a <!-- not run: ... --> without a reason, line {skipped[0].line - 2}"
    assert len(skipped) <= MAX_NOT_RUN, \
        f"{_name(page)}: {len(skipped)} blocks not run (lines {[b.line for b in skipped]}); " \
        f"at most {MAX_NOT_RUN} a page"


@pytest.mark.parametrize("page", _params())
def test_examples_run(page, tmp_path):
    steps = []
    for block in blocks(page.read_text(encoding="utf-8")):
        if block.not_run is not None:
            continue
        if block.lang == "python":
            steps.append(("python", block.line, block.code))
        elif block.lang in SHELLS and commands(block):
            steps.append(("shell", block.line, commands(block)))
    if not steps:
        pytest.skip(f"{_name(page)} has no example to run")
    work = tmp_path / "work"
    work.mkdir()
    script = tmp_path / "steps.json"
    script.write_text(json.dumps([_name(page), steps]))
    env = dict(os.environ, MPLBACKEND="Agg",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    done = subprocess.run([sys.executable, "-c", DRIVER, str(script)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{_name(page)}\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"


LINK = re.compile(r"(?<!!)\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


@pytest.mark.parametrize("page", _params())
def test_relative_links_lead_to_files(page):
    text = page.read_text(encoding="utf-8")
    in_code = {line for b in blocks(text) for line in range(b.line, b.line + b.code.count("\n") + 1)}
    broken = []
    for number, line in enumerate(text.splitlines(), 1):
        if number in in_code:
            continue
        for link in LINK.finditer(line):
            target = link["target"].split("#", 1)[0]
            if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):  # an anchor, a URL
                continue
            if not (page.parent / target).exists():
                broken.append(f"line {number}: {link['target']}")
    assert not broken, f"{_name(page)}: links to nothing: {broken}"

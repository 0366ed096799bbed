"""One bounded YAML loader for pipeline files, image-files and raw-image descriptions.

YAML anchors and aliases let a few hundred bytes describe a document of
billions of nodes ("billion laughs"): ``yaml.safe_load`` builds it with
shared references, but everything that walks it afterwards (validation,
metadata written as JSON) pays the expanded size.  :func:`load_yaml`
composes the node graph first, measures what it would expand to without
expanding it, and refuses a document beyond :data:`MAX_NODES` nodes,
:data:`MAX_DEPTH` levels of nesting or an expanded text
:data:`MAX_GROWTH` times its own size, or one whose aliases refer to
themselves.  Only then is the document constructed.
"""

from __future__ import annotations

import os
from typing import Any

from pipeline.errors import YAMLError, YAMLLimitError

MAX_NODES = 200_000
"""Nodes (scalars, sequences, mappings) the document may hold with its aliases expanded."""

MAX_DEPTH = 200
"""Levels of nesting; far more than any description needs, far fewer than Python's stack."""

MAX_GROWTH = 8
"""How many times its own size the document's text may grow when its aliases are expanded."""

MIN_BUDGET = 1 << 20
"""Expanded characters always allowed, however short the text."""


def load_yaml(source: str | bytes | os.PathLike[str], what: str = "YAML") -> Any:
    """The document in the file ``source``, or in ``source`` itself when it is YAML text.

    Parameters
    ----------
    source
        A path (str or path-like) of a YAML file, or YAML text (a str that is
        not an existing file's path and holds a newline or ``": "``).
    what
        What the document is, for messages (``"pipeline file"``,
        ``"image-files YAML"``).

    Raises
    ------
    YAMLError
        Text that is not YAML; the message names the file (or says it was
        given as text) and the line.
    YAMLLimitError
        A document beyond the limits of this module (a :class:`YAMLError`).
    FileNotFoundError
        A path that does not exist.
    """
    text, name = _text_of(source, what)
    import yaml

    try:
        loader = _loader_class()(text)
    except yaml.YAMLError as err:  # the reader refuses control characters at once
        raise YAMLError(f"{name}: {_place(err)}not valid YAML: {_problem(err)}") from None
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YAMLLimitError(
                f"{name}: nested deeper than Python can follow; a {what} may nest at most "
                f"{MAX_DEPTH} levels") from None
        except yaml.YAMLError as err:
            raise YAMLError(f"{name}: {_place(err)}not valid YAML: {_problem(err)}") from None
        if node is None:
            return None
        _check(node, name, what, len(text))
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as err:  # a tag safe_load does not construct, e.g. !!python/...
            raise YAMLError(f"{name}: {_place(err)}not valid YAML: {_problem(err)}") from None
        except _BadScalar as err:  # a number or date Python cannot make (5000 digits, month 13)
            raise YAMLError(f"{name}: line {err.line}: {err.value!r:.60} is not a valid "
                            f"{err.kind}: {err.reason}") from None
    finally:
        loader.dispose()


class _BadScalar(Exception):
    def __init__(self, node: Any, kind: str, reason: str) -> None:
        self.line, self.value, self.kind, self.reason = \
            node.start_mark.line + 1, node.value, kind, reason


_LOADER: Any = None


def _loader_class() -> Any:
    """PyYAML's safe loader, with YAML 1.2's numbers and checked scalar constructors.

    YAML 1.1's base-60 numbers (``1:59:59`` is 7199) are strings here, as in
    YAML 1.2: constructing one costs time quadratic in its length (2.4 MB: minutes),
    and ``frame_list: 1:10`` means a range, not the integer 70.  A number or date
    Python cannot make raises naming its line instead of a bare ValueError.
    """
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def yaml_12(pattern: str) -> str:  # PyYAML's int and float patterns less their base 60
        for alternative in (r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
                            r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*"):
            pattern = pattern.replace(alternative, "")
        return pattern

    Loader.yaml_implicit_resolvers = {
        first: [(tag, re.compile(yaml_12(rx.pattern), rx.flags)
                 if tag.endswith((":int", ":float")) else rx) for tag, rx in resolvers]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    for kind in ("int", "float", "timestamp"):
        tag = f"tag:yaml.org,2002:{kind}"
        Loader.add_constructor(tag, _checked(yaml.SafeLoader.yaml_constructors[tag], kind))
    _LOADER = Loader
    return Loader


def _checked(construct: Any, kind: str) -> Any:
    def checked(loader: Any, node: Any) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, OverflowError) as err:
            raise _BadScalar(node, kind, str(err)) from None

    return checked


def _text_of(source: str | bytes | os.PathLike[str], what: str) -> tuple[str, str]:
    """The YAML text and the name messages call it by."""
    if isinstance(source, str) and not os.path.exists(source) and (
            "\n" in source or ": " in source or source.lstrip().startswith(("{", "["))):
        return source, f"{what} given as text"
    path = os.fspath(source)
    name = path.decode() if isinstance(path, bytes) else path
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(), name
    except UnicodeDecodeError:
        raise YAMLError(f"{name}: not a {what}: not UTF-8 text") from None
    except IsADirectoryError:
        raise YAMLError(f"{name}: not a {what}: it is a directory") from None


def _place(err: Any) -> str:
    mark = getattr(err, "problem_mark", None)
    return f"line {mark.line + 1}: " if mark is not None else ""


def _problem(err: Any) -> str:
    return str(getattr(err, "problem", None) or err).strip()


def _check(root: Any, name: str, what: str, length: int) -> None:
    """Refuse a node graph whose expansion is too large, too deep or cyclic.

    Each distinct node is measured once (memoised by identity), so measuring
    costs the size of the text, not of the expansion.
    """
    from yaml.nodes import CollectionNode

    budget = max(MIN_BUDGET, MAX_GROWTH * length)
    sizes: dict[int, tuple[int, int, int]] = {}  # id -> (nodes, characters, depth)
    active: set[int] = set()
    # an explicit stack: nesting must not use Python's
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in sizes and not done:
            continue
        children = _children(node) if isinstance(node, CollectionNode) else []
        if not done:
            if key in active:
                raise YAMLLimitError(f"{name}: an alias refers to the node that holds it "
                                     f"(line {node.start_mark.line + 1}); a {what} must be a "
                                     "tree")
            active.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in active:
                    raise YAMLLimitError(
                        f"{name}: an alias refers to the node that holds it (line "
                        f"{child.start_mark.line + 1}); a {what} must be a tree")
                stack.append((child, False))
            continue
        active.discard(key)
        parts = [sizes[id(c)] for c in children]
        nodes = 1 + sum(p[0] for p in parts)
        chars = (len(node.value) if not isinstance(node, CollectionNode) else 0) + \
            sum(p[1] for p in parts)
        depth = 1 + max((p[2] for p in parts), default=0)
        sizes[key] = (nodes, chars, depth)
        if nodes > MAX_NODES or chars > budget or depth > MAX_DEPTH:
            _refuse(name, what, node, nodes, chars, depth, budget)


def _children(node: Any) -> list[Any]:
    from yaml.nodes import MappingNode

    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value)


def _refuse(name: str, what: str, node: Any, nodes: int, chars: int, depth: int,
            budget: int) -> None:
    line = node.start_mark.line + 1
    if depth > MAX_DEPTH:
        raise YAMLLimitError(f"{name}: nested more than {MAX_DEPTH} levels deep (line {line}); "
                             f"a {what} may nest at most {MAX_DEPTH} levels")
    raise YAMLLimitError(
        f"{name}: its anchors and aliases expand to more than "
        f"{min(nodes, MAX_NODES + 1) if nodes > MAX_NODES else chars} "
        f"{'nodes' if nodes > MAX_NODES else 'characters'} (line {line}); a {what} may expand "
        f"to at most {MAX_NODES} nodes and {budget} characters: write the values out, or "
        "use fewer aliases")


__all__ = ["MAX_DEPTH", "MAX_GROWTH", "MAX_NODES", "load_yaml"]

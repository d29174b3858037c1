"""The one reader of the YAML a user gives autoq (recipes, search spaces, statistics),
bounded before anything is built from it: a regular file of at most ``MAX_BYTES``, UTF-8,
at most ``MAX_DEPTH`` levels deep, at most ``MAX_NODES`` values once its aliases are
expanded (a "billion laughs" document is refused, not expanded), and no key given twice
in one mapping (YAML would keep the last one in silence). Each refusal is one
``AutoqError`` naming the file and, where there is one, the line.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .errors import AutoqError

MAX_BYTES = 64 * 2 ** 20
MAX_DEPTH = 100
MAX_NODES = 2_000_000


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {str(key)[:80]!r} given twice (lines {seen[key]} and {line})",
                            key_node.start_mark)
                    seen[key] = line
                except TypeError:  # an unhashable key: PyYAML says so itself
                    pass
        return super().construct_mapping(node, deep)


def read_text(path: str | os.PathLike, what: str) -> str:
    """A user's text file, refused if it is not a regular file, too large or not UTF-8."""
    path = Path(path)
    try:
        if not path.is_file():
            why = "no such file" if not path.exists() else "not a regular file"
            raise AutoqError(f"{what} {path}: cannot read it ({why})")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise AutoqError(f"{what} {path}: {size} bytes, more than the {MAX_BYTES} allowed")
        data = path.read_bytes()
    except OSError as e:
        raise AutoqError(f"{what} {path}: cannot read it ({e.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise AutoqError(f"{what} {path} line {line}: not UTF-8 text (byte {e.start})") from None


def parse(text: str, source: str) -> Any:
    """YAML text as Python values, within the bounds above."""
    if len(text) > MAX_BYTES:
        raise AutoqError(f"{source}: {len(text)} characters, more than the {MAX_BYTES} allowed")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, source)
        return loader.construct_document(node)
    except RecursionError:
        raise AutoqError(f"{source}: nested too deeply (at most {MAX_DEPTH} levels)") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise AutoqError(f"{source}{where}: {problem}") from None
    finally:
        loader.dispose()


def load(path: str | os.PathLike, what: str) -> Any:
    """A user's YAML file (``what`` names it in messages: "recipe", "search space", ...)."""
    return parse(read_text(path, what), f"{what} {path}")


def _check_size(root: yaml.Node, source: str) -> None:
    """Refuse a document deeper than MAX_DEPTH, or larger than MAX_NODES values once its
    aliases (shared nodes) are expanded; counted without expanding them."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if depth > MAX_DEPTH:
            raise AutoqError(f"{source} line {node.start_mark.line + 1}: nested more than "
                             f"{MAX_DEPTH} levels deep")
        if id(node) in sizes and not done:
            continue
        kids = _children(node)
        if done:
            sizes[id(node)] = 1 + sum(sizes[id(k)] for k in kids)
            if sizes[id(node)] > MAX_NODES:
                raise AutoqError(f"{source}: more than {MAX_NODES} values once its aliases are "
                                 f"expanded (an alias bomb?)")
            continue
        stack.append((node, depth, True))
        stack.extend((k, depth + 1, False) for k in kids if id(k) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []

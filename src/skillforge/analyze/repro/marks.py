"""pytest marks on a test: which decorators are marks, and their literal arguments.

Marks on the function, on its classes and in ``pytestmark`` combine as in
pytest (the innermost decorator first). ``mock.patch`` decorators are read too:
they inject positional arguments that are not fixtures.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

from tree_sitter import Node

from skillforge.analyze.entities import text as _text
from skillforge.analyze.lang.python import _assigned_names
from skillforge.analyze.repro.source import _walk


def _decorator_heads(decs: Iterable[str]) -> list[str]:
    return [d.split("(", 1)[0].strip() for d in decs]


def _mock_patch_args(decs: Iterable[str]) -> int:
    """How many positional mocks ``mock.patch`` decorators inject (pytest's num_mock_patch_args)."""
    n = 0
    for d in decs:
        head, _, args = d.partition("(")
        head = head.strip()
        parts = head.split(".")
        if parts[-1] == "patch":
            is_object = False
        elif parts[-2:] == ["patch", "object"]:
            is_object = True
        else:
            continue
        if "new=" in args.replace(" ", ""):
            continue
        positional = _count_positional(args.rsplit(")", 1)[0])
        if positional < (3 if is_object else 2):
            n += 1
    return n


def _count_positional(args: str) -> int:
    depth = 0
    count = 0
    current = ""
    for ch in args + ",":
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            item = current.strip()
            if item and "=" not in item.split("(", 1)[0] and not item.startswith("*"):
                count += 1
            current = ""
        else:
            current += ch
    return count


@dataclass
class _Mark:
    name: str  # the mark's last dotted part: parametrize, usefixtures, xfail, ...
    node: Node | None  # the call (for its arguments); None for a bare ``pytest.mark.x``
    where: str


def _mark_of(expr: Node, where: str) -> _Mark | None:
    fn = expr.child_by_field_name("function") if expr.type == "call" else expr
    if fn is None or fn.type not in ("attribute", "identifier"):
        return None
    head = _text(fn).replace(" ", "")
    tail = head.rsplit(".", 1)[-1]
    if ".mark." in f".{head}" or head.startswith("mark.") or tail in ("parametrize", "usefixtures"):
        return _Mark(tail, expr if expr.type == "call" else None, where)
    return None


def _decorator_marks(decs: list[Node], where: str) -> list[tuple[_Mark, Node]]:
    """(mark, decorator) for the decorators that are marks, innermost (bottom) first."""
    out = []
    for d in reversed(decs):
        expr = next((c for c in d.named_children if c.type != "comment"), None)
        mark = _mark_of(expr, where) if expr is not None else None
        if mark is not None:
            out.append((mark, d))
    return out


def _pytestmark(body: Node, where: str) -> list[_Mark]:
    out: list[_Mark] = []
    for stmt in body.children:
        if stmt.type != "expression_statement" or "pytestmark" not in _assigned_names(stmt):
            continue
        assign = stmt.named_children[0]
        value = assign.child_by_field_name("right") if assign.type == "assignment" else None
        items = value.named_children if value is not None and value.type in ("list", "tuple") else [value]
        for item in items:
            mark = _mark_of(item, where) if item is not None else None
            if mark is not None:
                out.append(mark)
            elif item is not None and "xfail" in _text(item):
                out.append(_Mark("xfail", None, where))
    return out


def _call_args(call: Node) -> tuple[list[Node], dict[str, Node]]:
    args = call.child_by_field_name("arguments")
    positional: list[Node] = []
    keywords: dict[str, Node] = {}
    for c in args.named_children if args is not None else []:
        if c.type == "keyword_argument":
            keywords[_text(c.child_by_field_name("name"))] = c.child_by_field_name("value")
        elif c.type != "comment":
            positional.append(c)
    return positional, keywords


def _literal(node: Node | None):
    if node is None:
        raise ValueError("no value")
    if any(n.type == "interpolation" for n in _walk(node)):
        raise ValueError("f-string")
    return ast.literal_eval(_text(node))


def _string_list(node: Node | None) -> list[str]:
    """Fixture/argument names from a mark argument: ``"a, b"``, ``["a", "b"]``, ``("a",)``."""
    value = _literal(node)
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError("not names")

"""Trivial changes: what a change to one file amounts to once whitespace,
comments, docstrings and version numbers are set aside.

:func:`change_kind` compares the syntax trees (tree-sitter) of a file's old and
new contents and returns

* ``None`` -- a real change;
* ``"whitespace"`` -- the trees are the same, comments included (re-indented
  continuation lines, blank lines, trailing spaces);
* ``"comments"`` -- they differ only in comments (Rust/Java doc comments and
  JSDoc are comments);
* ``"docstrings"`` -- only in Python docstrings (any statement that is a lone
  string literal: module, class, function and attribute docstrings);
* ``"version bump"`` -- only in version numbers: module-level ``__version__`` /
  ``VERSION`` / ``version_info`` / ... assigned a literal, ``setup(version=...)``
  in ``setup.py``, the version fields of ``pyproject.toml``, ``setup.cfg``,
  ``package.json`` and ``Cargo.toml``.

The trees are compared node by node (types and leaf texts, with the nesting),
so a statement moved out of a block is a real change even though its tokens
are the same; a trailing comma before a closing bracket counts as formatting
(a one-element tuple's comma is part of the tuple's syntax, and stays). Files without a grammar or a parser,
and Python nested too deep to parse whole (:mod:`.lang.pydeep`), are trivial only when they differ in
whitespace alone. Added, removed and renamed files are real changes.
:func:`combine` folds the kinds of a change's files: the change is trivial only
when every file is.
"""

from __future__ import annotations

import json
import posixpath
import tomllib
from collections.abc import Callable

from tree_sitter import Node, Tree

from skillforge.analyze.lang import PYTHON, adapter_for
from skillforge.analyze.lang.pydeep import too_deep
from skillforge.analyze.split import ini_sections, toml_data

__all__ = ["KINDS", "change_kind", "combine", "parse_for"]

KINDS = ("whitespace", "comments", "docstrings", "version bump")

_VERSION_NAMES = frozenset({
    "__version__", "__version_info__", "__VERSION__", "VERSION", "version", "version_info", "__version_tuple__",
    "version_tuple", "VERSION_INFO",
})
_LITERALS = frozenset({"string", "concatenated_string", "integer", "float", "tuple", "list", "true", "false", "none"})
_PY_IGNORED = ("line_continuation",)
_CLOSERS = (")", "]", "}")


def parse_for(path: str, source: bytes) -> tuple[Tree, tuple[str, ...]] | None:
    """(tree, comment node types) for a file a grammar is installed for; None otherwise."""
    adapter = adapter_for(path)
    if adapter is None:
        return None
    return adapter.parse(source), adapter.comment_types


# --------------------------------------------------------------------------- trees


def _is_docstring(node: Node) -> bool:
    if node.type != "expression_statement" or node.named_child_count != 1:
        return False
    return node.named_children[0].type in ("string", "concatenated_string")


def _is_literal(node: Node | None) -> bool:
    """A literal, or tuples/lists/parentheses/signs of literals (nested to any depth)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n is None:
            return False
        if n.type in ("tuple", "list", "parenthesized_expression"):
            stack.extend(n.named_children)
        elif n.type == "unary_operator":
            stack.append(n.child_by_field_name("argument"))
        elif n.type not in _LITERALS:
            return False
    return True


def _is_version_statement(node: Node, *, setup_py: bool) -> bool:
    if node.type == "expression_statement" and node.named_child_count == 1:
        a = node.named_children[0]
        if a.type == "assignment":
            left, right = a.child_by_field_name("left"), a.child_by_field_name("right")
            if left is not None and left.type == "identifier" and (left.text or b"").decode() in _VERSION_NAMES:
                return _is_literal(right)
    if setup_py and node.type == "keyword_argument":
        name = node.child_by_field_name("name")
        return name is not None and name.text == b"version" and _is_literal(node.child_by_field_name("value"))
    return False


def _kids(node: Node, skip: Callable[[Node], bool], ignored: tuple[str, ...]) -> list[Node]:
    out = []
    for c in node.children:
        if c.type in ignored or skip(c):
            continue
        if c.type == "," and c.next_sibling is not None and c.next_sibling.type in _CLOSERS:
            continue  # a trailing comma (black's "magic" comma, gofmt): formatting
        out.append(c)
    return out


def _is_literal_text(node: Node) -> bool:
    """Nodes whose bytes are their meaning, whitespace included (string contents):
    compared exactly, never by their children (an escape sequence child leaves the
    rest of the content outside every child)."""
    t = node.type
    return "string" in t or t.endswith(("_content", "_fragment", "char_literal", "rune_literal"))


def _gaps(node: Node) -> list[bytes]:
    """The non-whitespace bytes of ``node`` that lie outside all of its children."""
    out = []
    text = node.text or b""
    base = node.start_byte
    pos = 0
    for c in node.children:
        gap = text[pos:c.start_byte - base]
        if gap.strip():
            out.append(b" ".join(gap.split()))
        pos = c.end_byte - base
    tail = text[pos:]
    if tail.strip():
        out.append(b" ".join(tail.split()))
    return out


def _same(old: Node, new: Node, skip: Callable[[Node], bool], ignored: tuple[str, ...],
          comments: tuple[str, ...]) -> bool:
    """Are the two trees the same once ``skip``ped subtrees are left out? Walked in
    lockstep; byte-identical subtrees are not entered (a change is found at once)."""
    stack = [(old, new)]
    while stack:
        a, b = stack.pop()
        if a.type != b.type:
            return False
        if a.end_byte - a.start_byte == b.end_byte - b.start_byte and a.text == b.text:
            continue  # (texts of other lengths differ: neither is copied out to be compared)
        if a.type in comments:
            if b" ".join((a.text or b"").split()) != b" ".join((b.text or b"").split()):
                return False
            continue
        if _is_literal_text(a) or _gaps(a) != _gaps(b):
            return False
        ka, kb = _kids(a, skip, ignored), _kids(b, skip, ignored)
        if not ka and not kb:
            if not a.children and not b.children:
                return False  # two leaves with different text
            continue
        if len(ka) != len(kb):
            return False
        stack.extend(zip(ka, kb))
    return True


def _tree_kind(path: str, old: Tree, new: Tree, comments: tuple[str, ...], python: bool) -> str | None:
    setup_py = posixpath.basename(path) == "setup.py"

    def skip_all(node: Node) -> bool:
        if node.type in comments:
            return True
        if python and _is_docstring(node):
            return True
        if python and _is_version_statement(node, setup_py=setup_py):
            return node.type == "keyword_argument" or (node.parent is not None and node.parent.type == "module")
        return False

    def skip_docs(node: Node) -> bool:
        return node.type in comments or (python and _is_docstring(node))

    def skip_comments(node: Node) -> bool:
        return node.type in comments

    def none(node: Node) -> bool:
        return False

    ignored = _PY_IGNORED if python else ()
    # the most permissive comparison first: a real change fails it at its first difference
    if not _same(old.root_node, new.root_node, skip_all, ignored, comments):
        return None
    for kind, skip in (("whitespace", none), ("comments", skip_comments), ("docstrings", skip_docs)):
        if _same(old.root_node, new.root_node, skip, ignored, comments):
            return kind
    return "version bump"


# --------------------------------------------------------------------------- configuration files


def _drop(data: dict, *paths: tuple[str, ...]) -> dict:
    """A copy of ``data`` without the keys at ``paths`` (the tables along them copied, ``data``
    left as it is: it may be :func:`.split.toml_data`'s, shared)."""
    data = dict(data)
    for path in paths:
        cur = data
        for key in path[:-1]:
            table = cur.get(key)
            if not isinstance(table, dict):
                break
            cur[key] = cur = dict(table)
        else:
            cur.pop(path[-1], None)
    return data


def _config_kind(path: str, old: bytes, new: bytes) -> str | None:
    base = posixpath.basename(path)
    try:
        old_t, new_t = old.decode("utf-8"), new.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if base in ("pyproject.toml", "Cargo.toml"):
        try:
            a, b = toml_data(old_t), toml_data(new_t)
        except tomllib.TOMLDecodeError:
            return None
        if a == b:
            return "comments"
        keys = (("project", "version"), ("tool", "poetry", "version"), ("package", "version"),
                ("workspace", "package", "version"))
        return "version bump" if _drop(a, *keys) == _drop(b, *keys) else None
    if base == "package.json":
        try:
            a, b = json.loads(old_t), json.loads(new_t)
        except json.JSONDecodeError:
            return None
        if a == b:
            return "whitespace"
        return "version bump" if isinstance(a, dict) and isinstance(b, dict) and _drop(a, ("version",)) == _drop(b, ("version",)) else None
    if base == "setup.cfg":
        a2, b2 = ini_sections(old_t), ini_sections(new_t)
        if a2 is None or b2 is None:
            return None
        if a2 == b2:
            return "comments"
        return "version bump" if _drop(a2, ("metadata", "version")) == _drop(b2, ("metadata", "version")) else None
    return None


# --------------------------------------------------------------------------- the API


def change_kind(
    path: str,
    old: bytes | None,
    new: bytes | None,
    *,
    status: str = "modified",
    old_tree: Tree | None = None,
    new_tree: Tree | None = None,
) -> str | None:
    """What the change of one file amounts to (see the module docstring); None for a real change.
    Trees already parsed may be passed to save parsing them again."""
    if status != "modified" or old is None or new is None:
        return None
    if old == new:
        return "whitespace"  # a mode change
    adapter = adapter_for(path)
    if adapter is PYTHON and (too_deep(old) or too_deep(new)):
        adapter = None  # its trees have the deepest bodies blanked: compared as text
    if adapter is not None:
        if old_tree is None or new_tree is None:
            old_tree, new_tree = adapter.parse(old), adapter.parse(new)
        return _tree_kind(path, old_tree, new_tree, adapter.comment_types, adapter is PYTHON)
    if old.split() == new.split():
        return "whitespace"
    return _config_kind(path, old, new)


def combine(kinds: list[str | None]) -> str | None:
    """The kind of a whole change: None when any file's change is real (or there is none),
    else the weightiest of its files' kinds."""
    if not kinds or any(k is None for k in kinds):
        return None
    return max(kinds, key=KINDS.index)

"""The source files a reproduction script takes code from: the test module and its conftests.

A :class:`_Module` holds one parsed file, the edits to make to it (deleted
lines, absolute imports, renamed fixtures) and its top-level statements; its
:meth:`_Module.select` keeps the statements the roots use, transitively, by
tree-sitter identifier references. In a test module imports, module-level
calls (``matplotlib.use("Agg")``), blocks holding imports and the
``setup_module``/``teardown_module``/``setUpModule``/``tearDownModule``/
``setup_function``/``teardown_function`` hooks are always kept; in a conftest
only what the kept fixtures use (imports by the names they bind). Relative
imports are made absolute when the test directory is a package (else
:class:`NotStandalone`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field

from tree_sitter import Node

from skillforge.analyze.entities import text as _text
from skillforge.analyze.lang.python import _BLOCK_STATEMENTS, _assigned_names, _definition, module_name, parse
from skillforge.analyze.lang.python import _flatten as _statements  # a body's statements through if/try/with blocks


class NotStandalone(Exception):
    """The test cannot run without the pytest runner (a plugin's fixture, xfail, ...)."""


_SETUP_NAMES = ("setup_module", "teardown_module", "setUpModule", "tearDownModule", "setup_function", "teardown_function")


@dataclass
class _Stmt:
    node: Node
    defines: set[str]
    always: bool
    future: bool = False
    imports: dict[str, str] = field(default_factory=dict)  # name -> what it binds (conftest imports)


def _line_start(src: bytes, byte: int) -> int:
    return src.rfind(b"\n", 0, byte) + 1


def _line_end(src: bytes, byte: int) -> int:
    nl = src.find(b"\n", byte)
    return len(src) if nl == -1 else nl + 1


def _param_names(fn: Node) -> list[str]:
    """Arguments without defaults (what pytest fills with fixtures), ``self`` included."""
    params = fn.child_by_field_name("parameters")
    names: list[str] = []
    for p in params.named_children if params is not None else []:
        if p.type == "identifier":
            names.append(_text(p))
        elif p.type == "typed_parameter":
            ident = next((c for c in p.children if c.type == "identifier"), None)
            if ident is not None:
                names.append(_text(ident))
    return names


def _references(node: Node, skip: list[tuple[int, int]]) -> set[str]:
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if any(a <= n.start_byte and n.end_byte <= b for a, b in skip):
            continue
        if n.type in ("import_statement", "import_from_statement", "future_import_statement"):
            continue  # the names in an import bind, they do not refer
        if n.type == "identifier":
            parent = n.parent
            if parent is not None:
                if parent.type == "attribute" and parent.child_by_field_name("attribute") == n:
                    continue
                if parent.type == "keyword_argument" and parent.child_by_field_name("name") == n:
                    continue
            out.add(_text(n))
            continue
        stack.extend(n.children)
    return out


def _block_defines(node: Node) -> tuple[set[str], bool]:
    """Names a module-level compound statement binds, and whether it holds an import
    (blocks nested to any depth)."""
    names: set[str] = set()
    has_import = False
    stack = [node]
    while stack:
        for child in stack.pop().children:
            if child.type in ("import_statement", "import_from_statement", "future_import_statement"):
                has_import = True
                names |= set(_import_bindings(child))
            elif child.type in ("function_definition", "class_definition", "decorated_definition"):
                defn, _ = _definition(child)
                names.add(_text(defn.child_by_field_name("name")))
            elif child.type == "expression_statement":
                names.update(_assigned_names(child))
            elif child.type in _BLOCK_STATEMENTS:
                stack.append(child)
    return names, has_import


def _import_bindings(node: Node) -> dict[str, str]:
    """Names an import binds -> what they are bound to (``import a.b`` binds ``a``)."""
    out: dict[str, str] = {}
    if node.type == "import_statement":
        for c in node.named_children:
            if c.type == "dotted_name":
                top = _text(c).split(".")[0]
                out[top] = f"import {top}"
            elif c.type == "aliased_import":
                out[_text(c.child_by_field_name("alias"))] = f"import {_text(c.child_by_field_name('name'))}"
    elif node.type == "import_from_statement":
        module = _text(node.child_by_field_name("module_name"))
        for c in node.children_by_field_name("name"):
            if c.type == "dotted_name":
                out[_text(c)] = f"from {module} import {_text(c)}"
            elif c.type == "aliased_import":
                out[_text(c.child_by_field_name("alias"))] = f"from {module} import {_text(c.child_by_field_name('name'))}"
        if any(c.type == "wildcard_import" for c in node.children):
            out["*"] = f"from {module} import *"
    return out


def _is_main_guard(node: Node) -> bool:
    if node.type != "if_statement":
        return False
    cond = _text(node.child_by_field_name("condition")).replace(" ", "").replace("'", '"')
    return cond in ('__name__=="__main__"', '"__main__"==__name__')


def _top_statements(root: Node, *, conftest: bool = False) -> list[_Stmt]:
    """The module's statements. In a test module imports and module-level calls are
    always kept; in a conftest only what the kept fixtures use (imports by the names
    they bind)."""
    out: list[_Stmt] = []
    first = True
    for node in root.children:
        if node.type == "comment":
            continue
        is_first, first = first, False
        if node.type == "future_import_statement":
            out.append(_Stmt(node, set(), not conftest, future=True))
        elif node.type in ("import_statement", "import_from_statement"):
            binds = _import_bindings(node)
            if conftest:
                out.append(_Stmt(node, set(binds), "*" in binds, imports=binds))
            else:
                out.append(_Stmt(node, set(), True, imports=binds))
        elif node.type in ("function_definition", "class_definition", "decorated_definition"):
            defn, _ = _definition(node)
            out.append(_Stmt(node, {_text(defn.child_by_field_name("name"))}, False))
        elif node.type in ("expression_statement", "type_alias_statement"):
            names = set(_assigned_names(node))
            if names:
                out.append(_Stmt(node, names, False))
            elif is_first and node.named_children and node.named_children[0].type == "string":
                continue  # module docstring
            elif node.named_children and node.named_children[0].type == "string":
                continue  # a stray string
            elif not conftest:
                out.append(_Stmt(node, set(), True))  # a module-level call: kept, it may set things up
        elif _is_main_guard(node):
            continue
        elif node.type in ("if_statement", "try_statement", "with_statement", "for_statement", "while_statement", "match_statement"):
            names, has_import = _block_defines(node)
            out.append(_Stmt(node, names, (has_import or not names) and not conftest))
        elif not conftest:
            out.append(_Stmt(node, set(), True))
    return out


def _find_class(root: Node, name: str) -> Node | None:
    for stmt in _statements(root):
        defn, _ = _definition(stmt) if stmt.type in ("class_definition", "decorated_definition") else (stmt, [])
        if defn.type == "class_definition" and _text(defn.child_by_field_name("name")) == name:
            return stmt
    return None


def _find_function(body: Node, name: str) -> Node | None:
    for stmt in _statements(body):
        defn, _ = _definition(stmt) if stmt.type in ("function_definition", "decorated_definition") else (stmt, [])
        if defn.type == "function_definition" and _text(defn.child_by_field_name("name")) == name:
            return stmt
    return None


def _top_level_of(node: Node) -> Node:
    while node.parent is not None and node.parent.type != "module":
        node = node.parent
    return node


def _test_package(test_path: str, repo_files: Iterable[str] | None) -> tuple[str | None, str]:
    """(dotted package of the test module or None, the sys.path entry pytest's prepend mode uses)."""
    test_dir = posixpath.dirname(test_path)
    if repo_files is None:
        return (test_dir.replace("/", ".") or None), "."
    files = set(repo_files)
    if test_dir and f"{test_dir}/__init__.py" in files:
        pkg = module_name(f"{test_dir}/__init__.py", files)
        top = test_dir
        while "/" in top and f"{posixpath.dirname(top)}/__init__.py" in files:
            top = posixpath.dirname(top)
        return pkg, posixpath.dirname(top) or "."
    return None, test_dir or "."


def _walk(node: Node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def _class_node_by_qual(root: Node, qual: str) -> Node | None:
    names = qual.split(".")
    node = _find_class(root, names[0])
    for name in names[1:]:
        if node is None:
            return None
        defn, _ = _definition(node)
        body = defn.child_by_field_name("body")
        node = _find_class(body, name) if body is not None else None
    return node


class _Module:
    """One source file the script takes code from (the test module or a conftest.py)."""

    def __init__(self, path: str, text: str, repo_files: Iterable[str] | None, *, conftest: bool):
        self.path = path
        self.src = text.encode("utf-8", "surrogateescape")
        self.tree = parse(self.src)
        self.root = self.tree.root_node
        self.conftest = conftest
        self.edits: list[tuple[int, int, bytes]] = []
        self.skip: list[tuple[int, int]] = []
        self.pkg, self.basedir = _test_package(path, repo_files)
        self.repo_files = repo_files
        self._stmts: list[_Stmt] | None = None

    @property
    def stmts(self) -> list[_Stmt]:
        if self._stmts is None:
            self._stmts = _top_statements(self.root, conftest=self.conftest)
        return self._stmts

    def delete_lines(self, node: Node, upto: Node | None = None) -> None:
        """Delete the lines of ``node`` (up to the line where ``upto`` starts), and ignore its references."""
        start = _line_start(self.src, node.start_byte)
        end = _line_start(self.src, upto.start_byte) if upto is not None else _line_end(self.src, node.end_byte)
        self.edits.append((start, end, b""))
        self.skip.append((node.start_byte, node.end_byte))

    def absolutize_imports(self) -> None:
        for node in _walk(self.root):
            if node.type != "relative_import":
                continue
            if self.pkg is None:
                raise NotStandalone(f"{self.path}: relative import {_text(node)!r} but its directory is not a package")
            prefix = next((c for c in node.children if c.type == "import_prefix"), None)
            level = len(_text(prefix)) if prefix is not None else 1
            dotted = next((c for c in node.children if c.type == "dotted_name"), None)
            base = self.pkg.split(".")
            if level - 1 >= len(base):
                raise NotStandalone(f"{self.path}: relative import {_text(node)!r} goes above the top-level package")
            anchor = base[: len(base) - (level - 1)]
            absolute = ".".join([*anchor, *([_text(dotted)] if dotted is not None else [])])
            self.edits.append((node.start_byte, node.end_byte, absolute.encode()))

    def select(self, roots: Iterable[Node], extra_refs: Iterable[str] = ()) -> set[int]:
        """Indices of the statements to keep: the roots, what is always kept, and what they use."""
        stmts = self.stmts
        by_name: dict[str, list[int]] = {}
        for k, s in enumerate(stmts):
            for name in s.defines:
                by_name.setdefault(name, []).append(k)
        keep: set[int] = set()
        queue: list[int] = []

        def add(k: int) -> None:
            if k not in keep:
                keep.add(k)
                queue.append(k)

        root_ids = {r.id for r in roots}
        for k, s in enumerate(stmts):
            if s.always or s.node.id in root_ids or (not self.conftest and s.defines & set(_SETUP_NAMES)):
                add(k)
        for name in extra_refs:
            for j in by_name.get(name, ()):
                add(j)
        while queue:
            k = queue.pop()
            for name in _references(stmts[k].node, self.skip):
                for j in by_name.get(name, ()):
                    add(j)
        return keep

    def render(self, node: Node) -> str:
        start = _line_start(self.src, node.start_byte)
        end = _line_end(self.src, node.end_byte)
        out = bytearray()
        pos = start
        for a, b, rep in sorted(e for e in self.edits if start <= e[0] and e[1] <= end):
            if a < pos:
                continue
            out += self.src[pos:a] + rep
            pos = b
        out += self.src[pos:end]
        return out.decode("utf-8", "surrogateescape").rstrip() + "\n"


def _module_binding(module: _Module, name: str) -> Node | None:
    """The definition (function/class node) or single-target assignment that binds ``name`` at module level."""
    found: Node | None = None
    for stmt in module.root.children:
        if stmt.type in ("function_definition", "class_definition", "decorated_definition"):
            defn, _ = _definition(stmt)
            if _text(defn.child_by_field_name("name")) == name:
                found = defn
        elif stmt.type == "expression_statement" and stmt.named_children:
            assign = stmt.named_children[0]
            if assign.type == "assignment" and _text(assign.child_by_field_name("left")) == name:
                found = assign
        elif stmt.type in ("import_statement", "import_from_statement") and name in _import_bindings(stmt):
            found = stmt
    return found


def _base_classes(root: Node, cdef: Node) -> list[Node]:
    supers = cdef.child_by_field_name("superclasses")
    out = []
    for c in supers.named_children if supers is not None else []:
        if c.type == "identifier":
            node = _find_class(root, _text(c))
            if node is not None:
                out.append(node)
    return out


def _next_sibling(node: Node) -> Node | None:
    parent = node.parent
    if parent is None:
        return None
    siblings = parent.children
    for k, c in enumerate(siblings):
        if c.id == node.id:
            return siblings[k + 1] if k + 1 < len(siblings) else None
    return None

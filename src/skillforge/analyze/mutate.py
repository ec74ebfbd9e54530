"""Mutants of the changed code: small, plausible bugs made with tree-sitter.

A mutation operator is one small class that says where it applies
(:meth:`Operator.applies` on a tree-sitter node, :meth:`Operator.can_change`
on a whole entity) and makes one change there (:meth:`Operator.apply`, seeded:
where an operator has a choice, such as ``n + 1`` or ``n - 1``, a
``random.Random`` seeded from the mutant's place decides it). The operators:

==================  ==========================================================
``comparison_flip``  ``<`` <-> ``>=``, ``>`` <-> ``<=``, ``==`` <-> ``!=``,
                     ``is`` <-> ``is not``, ``in`` <-> ``not in``
``boundary_shift``   ``<`` <-> ``<=``, ``>`` <-> ``>=``
``bool_op_swap``     ``and`` <-> ``or``
``negation_drop``    ``not x`` -> ``x``
``bool_flip``        ``True`` <-> ``False``
``arith_swap``       ``+`` <-> ``-``, ``*`` <-> ``/``, ``//`` -> ``/``,
                     ``%`` -> ``//``, ``**`` -> ``*`` (and the ``+=`` family);
                     not on string or list literals (concatenation, formatting)
``off_by_one``       a numeric constant ``n`` (decimal integer or plain float)
                     -> ``n + 1`` or ``n - 1`` (``n + 1`` below 1)
``return_none``      ``return <value>`` -> ``return None``
``statement_drop``   an assignment, call or ``raise`` statement is deleted
                     (``pass`` when it is the only statement of its block)
``arg_swap``         two adjacent positional arguments of a call change places
==================  ==========================================================

:func:`mutants_for` restricts them to a change's *target code*: the entities
the change modifies or adds (``path::Class.func``; a class entity without the
methods that are entities of their own), in the file as it is after the change.
Sites on lines the change itself added come first, operators are interleaved
so one entity's mutants differ in kind, and everything is decided by ``seed``:
the same inputs and seed always give the same mutants.

A mutant is kept only if the mutated file parses (tree-sitter finds no ERROR
or MISSING node), differs from the original, and its Python AST differs too
(a change the interpreter cannot see is no behaviour change). Whether it
*changes behaviour* is then for the tests to say: callers run the gold tests
on it in Docker and keep the mutants they kill.

Work stays linear in the size of the file: sites are looked for only inside
the target entity's own subtree; entities over :data:`MAX_ENTITY_BYTES` (data
literals, generated tables) are not mutated; at most :data:`MAX_TRIES` sites
are tried per entity; and in files over :data:`LARGE_FILE_BYTES` a mutant is
checked by an incremental reparse and the AST of the statement it changes
(diffs of large files are :mod:`.textdiff`'s anchored ones).

:attr:`Mutant.patch` is a ``git apply``-able diff from the file as it is after
the change (the merge commit) to the mutated file, so it applies on top of the
gold patch: ``base commit + code patch + mutant patch`` is the fixed code with
one bug put back in. :func:`file_diff` makes such diffs.
"""

from __future__ import annotations

import ast
import bisect
import decimal
import hashlib
import random
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from tree_sitter import Node

from skillforge.schema import Analysis
from skillforge.analyze.patch import parse_patch
from skillforge.analyze.textdiff import file_diff
from skillforge.analyze.lang.pydeep import too_deep
from skillforge.analyze.lang.python import PYTHON, entities, parse

__all__ = [
    "OPERATORS",
    "Edit",
    "Mutant",
    "Operator",
    "file_diff",
    "is_valid_mutant",
    "mutants_for",
    "mutate_source",
    "operator",
    "sites",
]

ReadFile = Callable[[str], "bytes | None"]


@dataclass(frozen=True)
class Edit:
    """Replace bytes ``[start, end)`` of the source by ``text``."""

    start: int
    end: int
    text: bytes
    description: str


@dataclass(frozen=True)
class Mutant:
    """One mutant of one entity; ``patch`` goes from the file after the change to the mutated file."""

    file: str
    entity: str  # path::qualname
    operator: str
    line: int  # 1-based line of the change in the file after the change
    description: str
    original: str  # the changed source text, before
    mutated: str  # ... and after
    patch: str
    on_changed_line: bool = False

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")


MAX_ENTITY_BYTES = 1 << 20  # larger entities are data (literals, tables), not logic: no mutants there
MAX_TRIES = 200  # sites tried per entity (each try parses the mutated file)
LARGE_FILE_BYTES = 64 << 10  # from this size on, mutants are checked locally (see the module docstring)


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def _rng(seed: int | str, *parts: object) -> random.Random:
    """A generator seeded from text: the same on every run and machine (no hash randomization)."""
    return random.Random(":".join(str(p) for p in (seed, *parts)))


class Operator(ABC):
    """One kind of mutation. ``applies(node)`` says whether it can change this node;
    ``apply(node, rng)`` returns the change (or None when, after all, it cannot)."""

    name: ClassVar[str]
    summary: ClassVar[str]

    @abstractmethod
    def applies(self, node: Node) -> bool: ...

    @abstractmethod
    def apply(self, node: Node, rng: random.Random) -> Edit | None: ...

    def can_change(self, node: Node) -> bool:
        """Whether the operator applies anywhere inside ``node`` (an entity's definition)."""
        return any(self.applies(n) for n in _walk(node))


# --------------------------------------------------------------------------- operators


def _operator_tokens(node: Node, table: dict[str, str]) -> list[Node]:
    return [c for c in node.children if c.type in table]


def _token_edit(tok: Node, table: dict[str, str], what: str) -> Edit:
    old = tok.type
    new = table[old]
    return Edit(tok.start_byte, tok.end_byte, new.encode(), f"{what}: `{old}` -> `{new}`")


class _TokenSwap(Operator):
    node_type: ClassVar[str]
    table: ClassVar[dict[str, str]]
    what: ClassVar[str]

    def applies(self, node: Node) -> bool:
        return node.type == self.node_type and bool(_operator_tokens(node, self.table))

    def apply(self, node: Node, rng: random.Random) -> Edit | None:
        tokens = _operator_tokens(node, self.table)
        if not tokens:
            return None
        return _token_edit(rng.choice(tokens), self.table, self.what)


class ComparisonFlip(_TokenSwap):
    name = "comparison_flip"
    summary = "negate a comparison (< to >=, == to !=, in to not in, ...)"
    node_type = "comparison_operator"
    table = {"<": ">=", ">=": "<", ">": "<=", "<=": ">", "==": "!=", "!=": "==", "is": "is not", "is not": "is",
             "in": "not in", "not in": "in"}
    what = "comparison negated"


class BoundaryShift(_TokenSwap):
    name = "boundary_shift"
    summary = "move a comparison's boundary (< to <=, > to >=, and back)"
    node_type = "comparison_operator"
    table = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}
    what = "boundary shifted"


class BoolOpSwap(_TokenSwap):
    name = "bool_op_swap"
    summary = "swap `and` and `or`"
    node_type = "boolean_operator"
    table = {"and": "or", "or": "and"}
    what = "boolean operator swapped"


class NegationDrop(Operator):
    name = "negation_drop"
    summary = "drop a `not`"

    def applies(self, node: Node) -> bool:
        return node.type == "not_operator" and node.child_by_field_name("argument") is not None

    def apply(self, node: Node, rng: random.Random) -> Edit | None:
        arg = node.child_by_field_name("argument")
        if arg is None:
            return None
        return Edit(node.start_byte, node.end_byte, arg.text or b"", f"negation dropped: `{_text(node)}` -> `{_text(arg)}`")


class BoolFlip(Operator):
    name = "bool_flip"
    summary = "flip a boolean constant"

    def applies(self, node: Node) -> bool:
        return node.type in ("true", "false")

    def apply(self, node: Node, rng: random.Random) -> Edit | None:
        new = "False" if node.type == "true" else "True"
        return Edit(node.start_byte, node.end_byte, new.encode(), f"boolean constant flipped: `{_text(node)}` -> `{new}`")


_ARITH = {"+": "-", "-": "+", "*": "/", "/": "*", "//": "/", "%": "//", "**": "*"}
_AUG = {f"{k}=": f"{v}=" for k, v in _ARITH.items()}
_SEQUENCE_LITERALS = ("string", "concatenated_string", "list", "list_comprehension", "tuple", "dictionary")


class ArithSwap(Operator):
    name = "arith_swap"
    summary = "swap an arithmetic operator (+ and -, * and /, ...)"

    def applies(self, node: Node) -> bool:
        if node.type == "binary_operator":
            op = node.child_by_field_name("operator")
            if op is None or op.type not in _ARITH:
                return False
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            return not any(side is not None and side.type in _SEQUENCE_LITERALS for side in (left, right))
        if node.type == "augmented_assignment":
            op = node.child_by_field_name("operator")
            right = node.child_by_field_name("right")
            return op is not None and op.type in _AUG and not (right is not None and right.type in _SEQUENCE_LITERALS)
        return False

    def apply(self, node: Node, rng: random.Random) -> Edit | None:
        op = node.child_by_field_name("operator")
        if op is None:
            return None
        table = _ARITH if node.type == "binary_operator" else _AUG
        if op.type not in table:
            return None
        return _token_edit(op, table, "arithmetic operator swapped")


_FLOAT = re.compile(r"^[0-9]+\.[0-9]*$|^\.[0-9]+$")


class OffByOne(Operator):
    name = "off_by_one"
    summary = "change a numeric constant by one (decimal integers and plain floats)"

    def applies(self, node: Node) -> bool:
        text = _text(node)
        if node.type == "integer":
            return text.isdigit() and (text == "0" or not text.startswith("0"))
        return node.type == "float" and bool(_FLOAT.match(text))

    def apply(self, node: Node, rng: random.Random) -> Edit | None:
        text = _text(node)
        value = decimal.Decimal(text if not text.startswith(".") else "0" + text)
        step = rng.choice((1, -1)) if value >= 1 else 1
        new = value + step
        out = str(new) if node.type == "integer" else _float_text(new)
        return Edit(node.start_byte, node.end_byte, out.encode(), f"constant off by one: `{text}` -> `{out}`")


def _float_text(value: decimal.Decimal) -> str:
    text = str(value)
    return text if "." in text else text + ".0"


class ReturnNone(Operator):
    name = "return_none"
    summary = "return None instead of the computed value"

    def applies(self, node: Node) -> bool:
        if node.type != "return_statement":
            return False
        values = [c for c in node.named_children if c.type != "comment"]
        return bool(values) and not (len(values) == 1 and values[0].type == "none")

    def apply(self, node: Node, rng: random.Random) -> Edit | None:
        values = [c for c in node.named_children if c.type != "comment"]
        if not values:
            return None
        value = _text(values[0]) if len(values) == 1 else ", ".join(_text(v) for v in values)
        short = value if len(value) <= 40 and "\n" not in value else value.split("\n", 1)[0][:37] + "..."
        return Edit(values[0].start_byte, values[-1].end_byte, b"None", f"return value replaced: `{short}` -> `None`")


_DROPPABLE = ("expression_statement", "raise_statement", "assert_statement", "delete_statement")


class StatementDrop(Operator):
    name = "statement_drop"
    summary = "delete a statement (assignment, call, raise, assert, del)"

    def applies(self, node: Node) -> bool:
        if node.type not in _DROPPABLE or node.parent is None or node.parent.type != "block":
            return False
        if node.type == "expression_statement":
            first = node.named_children[0] if node.named_children else None
            if first is None or first.type in ("string", "concatenated_string", "ellipsis"):
                return False  # docstrings and `...` bodies
        return True

    def apply(self, node: Node, rng: random.Random) -> Edit | None:
        block = node.parent
        assert block is not None
        src_line = _line_of(node)
        siblings = [c for c in block.named_children if c.type != "comment"]
        text = _text(node)
        short = text if len(text) <= 50 and "\n" not in text else text.split("\n", 1)[0][:47] + "..."
        alone = _alone_on_lines(node)
        if len(siblings) > 1 and alone is not None:
            start, end = alone
            return Edit(start, end, b"", f"statement deleted (line {src_line}): `{short}`")
        return Edit(node.start_byte, node.end_byte, b"pass", f"statement replaced by `pass` (line {src_line}): `{short}`")


def _line_of(node: Node) -> int:
    return node.start_point[0] + 1


def _alone_on_lines(node: Node) -> tuple[int, int] | None:
    """The byte range of the whole lines ``node`` occupies, when nothing else is on them."""
    root = node
    while root.parent is not None:
        root = root.parent
    src = root.text or b""
    start = src.rfind(b"\n", 0, node.start_byte) + 1
    end = src.find(b"\n", node.end_byte)
    end = len(src) if end == -1 else end + 1
    if src[start:node.start_byte].strip() or src[node.end_byte:end].strip():
        return None
    return start, end


class ArgSwap(Operator):
    name = "arg_swap"
    summary = "swap two adjacent positional arguments of a call"

    @staticmethod
    def _pairs(node: Node) -> list[tuple[Node, Node]]:
        args = node.child_by_field_name("arguments")
        if args is None or args.type != "argument_list":
            return []
        positional: list[Node] = []
        for c in args.named_children:
            if c.type in ("keyword_argument", "list_splat", "dictionary_splat", "comment", "parenthesized_list_splat"):
                break  # only the leading positional arguments
            positional.append(c)
        return [(a, b) for a, b in zip(positional, positional[1:]) if a.text != b.text]

    def applies(self, node: Node) -> bool:
        return node.type == "call" and bool(self._pairs(node))

    def apply(self, node: Node, rng: random.Random) -> Edit | None:
        pairs = self._pairs(node)
        if not pairs:
            return None
        a, b = rng.choice(pairs)
        src = node.text or b""
        base = node.start_byte
        between = src[a.end_byte - base:b.start_byte - base]
        text = (b.text or b"") + between + (a.text or b"")
        return Edit(a.start_byte, b.end_byte, text, f"arguments swapped: `{_text(a)}` <-> `{_text(b)}`")


OPERATORS: tuple[Operator, ...] = (
    ComparisonFlip(), BoundaryShift(), BoolOpSwap(), NegationDrop(), BoolFlip(), ArithSwap(), OffByOne(),
    ReturnNone(), StatementDrop(), ArgSwap(),
)


def operator(name: str) -> Operator:
    for op in OPERATORS:
        if op.name == name:
            return op
    raise ValueError(f"unknown mutation operator {name!r}; choose from {', '.join(o.name for o in OPERATORS)}")


# --------------------------------------------------------------------------- applying


def _has_error(tree) -> bool:
    return tree.root_node.has_error


def _python_ast(source: bytes):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.dump(ast.parse(source))
    except (SyntaxError, ValueError, RecursionError):  # too deep for this interpreter: tree-sitter decides
        return None


def mutate_source(source: bytes, edit: Edit) -> bytes:
    return source[:edit.start] + edit.text + source[edit.end:]


def is_valid_mutant(original: bytes, mutated: bytes, original_ast: str | None = None) -> bool:
    """Parses (no ERROR/MISSING node), differs from the original, and (when Python can
    parse the original here) differs in its AST too."""
    if mutated == original or _has_error(parse(mutated)):
        return False
    before = original_ast if original_ast is not None else _python_ast(original)
    if before is None:
        return True  # syntax newer than this interpreter: tree-sitter's word is enough
    after = _python_ast(mutated)
    return after is not None and after != before


# --------------------------------------------------------------------------- sites


@dataclass(frozen=True)
class _Site:
    operator: Operator
    node: Node
    on_changed_line: bool


class _Entities:
    """A file's entities, by qualname and by first line (looked up once per file, not per target)."""

    def __init__(self, tree) -> None:
        self.all = sorted(entities(tree), key=lambda e: e.start_line)
        self.starts = [e.start_line for e in self.all]
        self.by_name: dict[str, list] = {}
        for e in self.all:
            self.by_name.setdefault(e.qualname, []).append(e)

    def within(self, lo: int, hi: int) -> list:
        """Entities that start on lines ``lo..hi``."""
        return self.all[bisect.bisect_left(self.starts, lo):bisect.bisect_right(self.starts, hi)]


def _entity_ranges(tree, qualname: str, other_targets: set[str], found: _Entities | None = None
                   ) -> list[tuple[int, int]]:
    """Line ranges (1-based, inclusive) of one entity, minus nested entities that are targets of their own."""
    found = found or _Entities(tree)
    own = found.by_name.get(qualname, [])
    if not own:
        return []
    out = []
    for e in own:
        holes = sorted((n.start_line, n.end_line) for n in found.within(e.start_line, e.end_line)
                       if n.qualname != qualname and n.qualname in other_targets
                       and n.qualname.startswith(qualname + ".") and n.end_line <= e.end_line)
        lo = e.start_line
        for hs, he in holes:
            if hs > lo:
                out.append((lo, hs - 1))
            lo = max(lo, he + 1)
        if lo <= e.end_line:
            out.append((lo, e.end_line))
    return out


def sites(tree, ranges: list[tuple[int, int]], changed: set[int] = frozenset(),
          operators: tuple[Operator, ...] = OPERATORS) -> list[_Site]:
    """Every (operator, node) pair inside the line ranges, in source order. Only the
    subtree around the ranges is walked (the smallest node holding them all), and
    only the children that overlap a range are entered."""
    out: list[_Site] = []
    if not ranges:
        return out
    marks = sorted(changed)

    def inside(n: Node) -> bool:
        s, e = n.start_point[0] + 1, n.end_point[0] + 1
        return any(lo <= s and e <= hi for lo, hi in ranges)

    def overlaps(n: Node) -> bool:
        s, e = n.start_point[0] + 1, n.end_point[0] + 1
        return any(s <= hi and lo <= e for lo, hi in ranges)

    first, last = min(lo for lo, _ in ranges), max(hi for _, hi in ranges)
    root = tree.root_node
    start = root.descendant_for_point_range((first - 1, 0), (last, 0)) or root
    while start.parent is not None and inside(start.parent):
        start = start.parent
    stack = [start]
    while stack:
        n = stack.pop()
        if inside(n):
            for op in operators:
                if op.applies(n):
                    k = bisect.bisect_left(marks, n.start_point[0] + 1)  # a changed line among the node's lines?
                    out.append(_Site(op, n, k < len(marks) and marks[k] <= n.end_point[0] + 1))
        stack.extend(c for c in reversed(n.children) if overlaps(c))
    return out


def _order(cands: list[_Site], rng: random.Random) -> list[_Site]:
    """Operators interleaved (in a seeded order), sites on changed lines first within each operator."""
    groups: dict[str, list[_Site]] = {}
    for c in cands:
        groups.setdefault(c.operator.name, []).append(c)
    names = sorted(groups)
    rng.shuffle(names)
    # operators with a site on a changed line go first
    names.sort(key=lambda n: not any(c.on_changed_line for c in groups[n]))
    queues = []
    for n in names:
        g = groups[n][:]
        rng.shuffle(g)
        g.sort(key=lambda c: not c.on_changed_line)
        queues.append(g)
    out: list[_Site] = []
    for depth in range(max((len(q) for q in queues), default=0)):  # round robin, linear
        out.extend(q[depth] for q in queues if depth < len(q))
    return out


def _point(src: bytes, byte: int) -> tuple[int, int]:
    return src.count(b"\n", 0, byte), byte - (src.rfind(b"\n", 0, byte) + 1)


class _File:
    """One target file: its source, tree, entities, and the checks of its mutants."""

    _UNSET = object()

    def __init__(self, source: bytes, tree) -> None:
        self.source = source
        self.tree = tree
        self.entities = _Entities(tree)
        self.large = len(source) > LARGE_FILE_BYTES
        self._ast = self._UNSET
        self._starts: list[int] | None = None

    def span(self, e) -> int:
        """Bytes of an entity's lines."""
        if self._starts is None:
            self._starts = [0, *(m.end() for m in re.finditer(b"\n", self.source))]
        starts = self._starts
        end = starts[e.end_line] if e.end_line < len(starts) else len(self.source)
        return end - starts[min(e.start_line - 1, len(starts) - 1)]

    def whole_ast(self):
        if self._ast is self._UNSET:
            self._ast = _python_ast(self.source)
        return self._ast

    def valid(self, node: Node, edit: Edit, mutated: bytes) -> bool:
        """:func:`is_valid_mutant`; for a large file by an incremental reparse and the AST of
        the smallest statement around the edit that Python parses on its own."""
        if not self.large:
            return is_valid_mutant(self.source, mutated, self.whole_ast())
        if mutated == self.source or self._reparse_has_error(edit, mutated):
            return False
        before, after = self._local_asts(node, edit, mutated)
        if before is None:
            return True  # syntax newer than this interpreter: tree-sitter's word is enough
        return after is not None and after != before

    def _reparse_has_error(self, edit: Edit, mutated: bytes) -> bool:
        new_end = edit.start + len(edit.text)
        old = self.tree.copy()
        old.edit(start_byte=edit.start, old_end_byte=edit.end, new_end_byte=new_end,
                 start_point=_point(self.source, edit.start), old_end_point=_point(self.source, edit.end),
                 new_end_point=_point(mutated, new_end))
        return PYTHON.parser().parse(mutated, old).root_node.has_error

    def _local_asts(self, node: Node, edit: Edit, mutated: bytes):
        src, grow = self.source, len(edit.text) - (edit.end - edit.start)
        stmt: Node | None = node
        while stmt is not None and stmt.parent is not None:
            while stmt.parent is not None and stmt.parent.type not in ("module", "block"):
                stmt = stmt.parent
            if stmt.parent is None:
                break
            a = src.rfind(b"\n", 0, stmt.start_byte) + 1
            b = src.find(b"\n", stmt.end_byte)
            b = len(src) if b == -1 else b + 1
            if a <= edit.start and edit.end <= b:
                head = b"if 1:\n" if src[a:a + 1] in (b" ", b"\t") else b""
                before = _python_ast(head + src[a:b])
                if before is not None:
                    return before, _python_ast(head + mutated[a:b + grow])
            stmt = stmt.parent  # a clause (else:, except:) or a part of a longer statement: look further out
        return self.whole_ast(), _python_ast(mutated)


def mutants_for(read_new: ReadFile, analysis: Analysis, *, seed: int | str = 0, max_per_entity: int = 2,
                max_total: int = 6, operators: tuple[Operator, ...] = OPERATORS) -> list[Mutant]:
    """Mutants of the entities a change modifies or adds (removed ones have no code
    left to mutate), read from the files after the change (``read_new``). At most
    ``max_per_entity`` per entity and ``max_total`` in all, entities taken in turn
    (in the analysis's order); deterministic for a seed."""
    removed = set(analysis.removed_entities)
    targets = [e for e in analysis.entities if e not in removed and e.split("::", 1)[0].endswith(".py")]
    target_set = {e.split("::", 1)[1] for e in targets}
    changed: dict[str, set[int]] = {}
    for fd in parse_patch(analysis.code_patch) if analysis.code_patch.strip() else []:
        if not fd.binary:
            changed.setdefault(fd.path, set()).update(fd.added_lines)
    per_entity: list[list[Mutant]] = []
    seen: set[tuple[str, bytes]] = set()
    files: dict[str, _File | None] = {}
    with_mutants = 0
    for entity in targets:
        if with_mutants >= max_total:
            break  # the round robin below takes the first mutant of the first max_total entities that have one
        path, _, qual = entity.partition("::")
        if path not in files:
            data = read_new(path)
            tree = parse(data) if data is not None and not too_deep(data) else None  # too deep: never importable
            # a file tree-sitter cannot read cleanly: no safe mutants
            files[path] = _File(data, tree) if tree is not None and not _has_error(tree) else None
        f = files[path]
        if f is None:
            continue
        source = f.source
        ranges = _entity_ranges(f.tree, qual, target_set, f.entities)
        if not ranges or any(f.span(e) > MAX_ENTITY_BYTES for e in f.entities.by_name.get(qual, [])):
            continue
        found: list[Mutant] = []
        for tries, site in enumerate(_order(sites(f.tree, ranges, changed.get(path, set()), operators),
                                            _rng(seed, entity))):
            if len(found) >= max_per_entity or tries >= MAX_TRIES:
                break
            edit = site.operator.apply(site.node, _rng(seed, entity, site.operator.name, site.node.start_byte))
            if edit is None:
                continue
            mutated = mutate_source(source, edit)
            key = (path, hashlib.blake2b(mutated, digest_size=16).digest())
            if key in seen or not f.valid(site.node, edit, mutated):
                continue
            seen.add(key)
            old_text = source.decode("utf-8", "surrogateescape")
            new_text = mutated.decode("utf-8", "surrogateescape")
            line = source.count(b"\n", 0, edit.start) + 1
            found.append(Mutant(
                file=path, entity=entity, operator=site.operator.name, line=line, description=edit.description,
                original=source[edit.start:edit.end].decode("utf-8", "replace"),
                mutated=edit.text.decode("utf-8", "replace"),
                patch=file_diff(path, old_text, new_text), on_changed_line=site.on_changed_line,
            ))
        per_entity.append(found)
        with_mutants += bool(found)
    out: list[Mutant] = []
    depth = 0
    while len(out) < max_total and any(depth < len(f) for f in per_entity):
        for found in per_entity:
            if depth < len(found) and len(out) < max_total:
                out.append(found[depth])
        depth += 1
    return out

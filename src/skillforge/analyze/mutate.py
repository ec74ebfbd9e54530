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

:attr:`Mutant.patch` is a ``git apply``-able diff from the file as it is after
the change (the merge commit) to the mutated file, so it applies on top of the
gold patch: ``base commit + code patch + mutant patch`` is the fixed code with
one bug put back in. :func:`file_diff` makes such diffs.
"""

from __future__ import annotations

import ast
import decimal
import difflib
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
from skillforge.analyze.lang.python import entities, parse

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
    except (SyntaxError, ValueError):
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


def file_diff(path: str, old: str | None, new: str | None, *, context: int = 3) -> str:
    """A ``git apply``-able diff of one file (``old``/``new`` None: the file is added/deleted)."""
    if old == new:
        return ""
    a = (old or "").splitlines(keepends=True)
    b = (new or "").splitlines(keepends=True)
    header = f"diff --git a/{path} b/{path}\n"
    if old is None:
        header += "new file mode 100644\n"
    elif new is None:
        header += "deleted file mode 100644\n"
    lines = list(difflib.unified_diff(a, b, "/dev/null" if old is None else f"a/{path}",
                                      "/dev/null" if new is None else f"b/{path}", n=context))
    out = []
    for line in lines:
        if line.startswith(("---", "+++")) and len(out) < 2:
            out.append(line.rstrip("\n") + "\n")
        elif line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return header + "".join(out)


# --------------------------------------------------------------------------- sites


@dataclass(frozen=True)
class _Site:
    operator: Operator
    node: Node
    on_changed_line: bool


def _entity_ranges(tree, qualname: str, other_targets: set[str]) -> list[tuple[int, int]]:
    """Line ranges (1-based, inclusive) of one entity, minus nested entities that are targets of their own."""
    ents = entities(tree)
    own = [e for e in ents if e.qualname == qualname]
    if not own:
        return []
    out = []
    for e in own:
        holes = sorted((n.start_line, n.end_line) for n in ents
                       if n.qualname in other_targets and n.qualname.startswith(qualname + ".")
                       and e.start_line <= n.start_line and n.end_line <= e.end_line)
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
    """Every (operator, node) pair inside the line ranges, in source order."""
    out: list[_Site] = []

    def inside(n: Node) -> bool:
        s, e = n.start_point[0] + 1, n.end_point[0] + 1
        return any(lo <= s and e <= hi for lo, hi in ranges)

    for n in _walk(tree.root_node):
        if not inside(n):
            continue
        for op in operators:
            if op.applies(n):
                lines = set(range(n.start_point[0] + 1, n.end_point[0] + 2))
                out.append(_Site(op, n, bool(lines & changed)))
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
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


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
    trees: dict[str, tuple[bytes, object, str | None]] = {}
    for entity in targets:
        path, _, qual = entity.partition("::")
        if path not in trees:
            data = read_new(path)
            if data is None:
                continue
            tree = parse(data)
            if _has_error(tree):
                continue  # a file tree-sitter cannot read cleanly: no safe mutants
            trees[path] = (data, tree, _python_ast(data))
        if path not in trees:
            continue
        source, tree, original_ast = trees[path]
        ranges = _entity_ranges(tree, qual, {t for t in target_set if t != qual})
        if not ranges:
            continue
        found: list[Mutant] = []
        for site in _order(sites(tree, ranges, changed.get(path, set()), operators), _rng(seed, entity)):
            if len(found) >= max_per_entity:
                break
            edit = site.operator.apply(site.node, _rng(seed, entity, site.operator.name, site.node.start_byte))
            if edit is None:
                continue
            mutated = mutate_source(source, edit)
            if (path, mutated) in seen or not is_valid_mutant(source, mutated, original_ast):
                continue
            seen.add((path, mutated))
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
    out: list[Mutant] = []
    depth = 0
    while len(out) < max_total and any(depth < len(f) for f in per_entity):
        for found in per_entity:
            if depth < len(found) and len(out) < max_total:
                out.append(found[depth])
        depth += 1
    return out

"""``parametrize`` cases expanded, with the ids pytest gives them.

The argument values of each case are read from the marks' source (a literal
list or tuple, or a module-level name bound to one; ``pytest.param(...,
id=...)`` included), and their ids are computed the way pytest does (explicit
ids, else per value: strings, numbers, booleans, ``None`` as themselves,
classes and functions by name, other objects as ``argname<index>``; duplicates
suffixed), so a node id ``test_x[case-id]`` selects exactly that case; a node
id without a case runs every case (at most :data:`MAX_CASES`).
"""

from __future__ import annotations

import builtins
import codecs
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass

from tree_sitter import Node

from skillforge.analyze.entities import text as _text
from skillforge.analyze.repro.marks import _call_args, _literal, _Mark, _string_list
from skillforge.analyze.repro.source import NotStandalone, _Module, _module_binding


MAX_CASES = 200


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


def _value_text(node: Node) -> str:
    text = _text(node)
    if "\n" in text or node.type in ("named_expression", "lambda", "conditional_expression", "yield"):
        return f"({text})"
    return text

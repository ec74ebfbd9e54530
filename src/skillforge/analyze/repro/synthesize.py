"""The entry point: a pytest test turned into a standalone script (see the package docstring).

:func:`synthesize_script` runs in phases: find the test in its module and the
marks on it (:func:`_locate`), expand its marks (:func:`_read_marks`), look
its fixtures up and plan each parametrize case (:func:`_plan_case`), select
the code the script keeps from the test module and the conftests
(:func:`_select_code`), and write the script (:func:`.emit.emit_script`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tree_sitter import Node

from skillforge.analyze.entities import TestItem
from skillforge.analyze.entities import text as _text
from skillforge.analyze.lang.python import _decorator_name, _definition, test_items
from skillforge.analyze.repro.emit import _CasePlan, emit_script, sys_path_entries
from skillforge.analyze.repro.fixtures import _Fixture, _fixture_defs, _Fixtures, _merge_conftests, _read_conftests
from skillforge.analyze.repro.marks import (
    _call_args,
    _decorator_heads,
    _decorator_marks,
    _Mark,
    _mock_patch_args,
    _pytestmark,
    _string_list,
)
from skillforge.analyze.repro.parametrize import _Combined, _Parametrize, _select_cases, _value_text
from skillforge.analyze.repro.source import (
    NotStandalone,
    _base_classes,
    _class_node_by_qual,
    _find_class,
    _find_function,
    _line_end,
    _line_start,
    _Module,
    _next_sibling,
    _param_names,
    _references,
    _top_level_of,
)

if TYPE_CHECKING:  # pragma: no cover
    from skillforge.analyze.split import TestConfig

__all__ = ["synthesize_script"]


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
    package docstring). ``repo_files`` (the repository's file list) tells
    whether the test directory is a package; without it the directory is
    assumed to be one (only relevant for relative imports) and both it and the
    root go on ``sys.path``. ``extra_sys_path`` entries (relative to the
    repository root, e.g. ``["src"]``) are put first on ``sys.path``.
    ``test_config`` supplies non-default ``python_functions``/``python_classes``.
    ``read_file(path)`` reads repository files (the ``conftest.py`` files whose
    fixtures the test may use); without it only the test module's fixtures and
    the built-in ones are found. Raises :class:`NotStandalone` (with the
    reason) for a test that needs the pytest runner."""
    parts, case_id = _split_nodeid(nodeid)
    repo_files = list(repo_files) if repo_files is not None else None
    test = _Module(test_path, test_source, repo_files, conftest=False)
    if test.root.has_error:
        raise NotStandalone(f"{test_path} does not parse")
    what = "::".join(parts)

    target = _locate(test, parts, what, test_config)
    usefixtures, cases = _read_marks(target, test, case_id, what)
    args = _test_arguments(target)
    conftests = _read_conftests(test_path, repo_files, read_file)
    levels: list[list[_Fixture]] = [
        *target.class_levels,
        _fixture_defs(test, test.root, 0, in_class=False, what=what),
        *[_fixture_defs(c, c.root, 0, in_class=False, what=what) for c in conftests],
    ]
    for i, level in enumerate(levels):
        for fx in level:
            fx.level = i
    if target.kind == "unittest" and any(fx.in_class for lvl in target.class_levels for fx in lvl):
        raise NotStandalone(f"{what}: fixtures defined in a unittest.TestCase")
    plans = [_plan_case(combo, levels, usefixtures, args, target.kind, what) for combo in cases]

    keep_test, kept_conftests, conftest_chunks = _select_code(test, conftests, plans, target.roots)
    heading = (f"# Reproduction script for {test_path}::{what}{f'[{case_id}]' if case_id is not None else ''}, "
               "synthesized by skillforge.")
    return emit_script(
        test=test,
        keep_test=keep_test,
        conftests=kept_conftests,
        conftest_chunks=conftest_chunks,
        heading=heading,
        sys_path=sys_path_entries(test, kept_conftests, extra_sys_path, repo_files is not None),
        kind=target.kind,
        parts=parts,
        plans=plans,
    )


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


# --------------------------------------------------------------------------- the test and its marks


@dataclass
class _Target:
    """The test in its module: its function, decorators and marks, and where its fixtures are."""

    fn: Node  # the function definition
    dec_names: list[str]
    kind: str  # function | class | unittest
    roots: list[Node] = field(default_factory=list)  # the top-level statements holding the test
    marks: list[_Mark] = field(default_factory=list)  # pytest's iter_markers order: function, classes (innermost first), module
    param_decorators: list[Node] = field(default_factory=list)  # parametrize decorators: deleted from the script
    class_levels: list[list[_Fixture]] = field(default_factory=list)  # fixtures of the test's classes, innermost first

    @property
    def is_method(self) -> bool:
        return self.kind != "function"

    def add_marks(self, decs: list[Node], where: str) -> None:
        for mark, dec in _decorator_marks(decs, where):
            self.marks.append(mark)
            if mark.name == "parametrize":
                self.param_decorators.append(dec)


def _locate(test: _Module, parts: list[str], what: str, test_config: TestConfig | None) -> _Target:
    root = test.root
    items = {tuple(t.nodeid.split("::")[1:]): t for t in test_items(test.path, test.tree, test_config)}
    item = items.get(tuple(parts))
    if item is None:
        raise NotStandalone(f"{what}: no such test in {test.path}")
    if item.class_qualname is None:
        outer = _find_function(root, parts[-1])
        assert outer is not None
        fn, decs = _definition(outer)
        target = _Target(fn, [_decorator_name(d) for d in decs], "function", roots=[_top_level_of(outer)])
        target.add_marks(decs, what)
    else:
        target = _locate_method(test, items, item, parts, what)
    target.marks += _pytestmark(root, test.path)
    return target


def _locate_method(test: _Module, items: dict[tuple[str, ...], TestItem], item: TestItem, parts: list[str],
                   what: str) -> _Target:
    """A test method: its class chain's marks and fixtures, and the module with the class's other tests removed."""
    root = test.root
    assert item.class_qualname is not None
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
    target = _Target(fn, [], "unittest" if item.unittest else "class")
    target.add_marks(decs, what)
    target.dec_names = [_decorator_name(d) for d in decs]
    for cn in reversed(class_nodes):  # innermost class first
        cdef, cdecs = _definition(cn)
        cname = f"class {_text(cdef.child_by_field_name('name'))}"
        body = cdef.child_by_field_name("body")
        if body is not None:
            target.marks += _pytestmark(body, cname)
        target.add_marks(cdecs, cname)
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
        target.class_levels.append(level)
    target.roots = [_top_level_of(class_nodes[0])]
    if owner_node is not class_nodes[-1] and owner_node not in class_nodes:
        target.roots.append(_top_level_of(owner_node))
    _drop_other_tests(test, items, owner, parts[-1])
    return target


def _read_marks(target: _Target, test: _Module, case_id: str | None, what: str) -> tuple[list[str], list[_Combined]]:
    """(fixtures ``usefixtures`` requests, the parametrize cases to run); xfail refuses."""
    usefixtures: list[str] = []
    parametrize: list[_Parametrize] = []
    for mark in target.marks:
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
            if target.kind == "unittest":
                raise NotStandalone(f"{what}: parametrize on a unittest.TestCase")
            parametrize.append(_Parametrize(mark, test, what))
    cases = _select_cases(parametrize, case_id, what)
    for combo in cases:
        for case in combo.parts:
            if "xfail" in case.marks or "skip" in case.marks:
                raise NotStandalone(f"{what}: a selected parametrize case is marked {case.marks}")
    for dec in target.param_decorators:
        test.delete_lines(dec, _next_sibling(dec))
    return usefixtures, cases


def _test_arguments(target: _Target) -> list[str]:
    """The test's arguments pytest fills with fixtures or parametrize values."""
    heads = _decorator_heads(target.dec_names)
    args = _param_names(target.fn)
    if target.is_method and "staticmethod" not in heads and args:
        args = args[1:]
    if any(h.rsplit(".", 1)[-1] == "given" for h in heads):
        args = []  # hypothesis supplies the arguments
    return args[_mock_patch_args(target.dec_names):]


# --------------------------------------------------------------------------- cases and code


def _plan_case(combo: _Combined, levels: list[list[_Fixture]], usefixtures: list[str], args: list[str], kind: str,
               what: str) -> _CasePlan:
    """One case's values and fixture set-up, and the test's arguments."""
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
    return _CasePlan(combo, call, assigns, fixtures)


def _select_code(test: _Module, conftests: list[_Module], plans: list[_CasePlan], roots: list[Node]
                 ) -> tuple[set[int], list[tuple[_Module, set[int]]], list[str]]:
    """What the test, its fixtures and the case values need from the modules:
    (the test module's statements to keep, each used conftest (the root's
    first) with its statements, the conftest code to put after the test
    module's)."""
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
    # names a conftest and the test module both bind must agree
    planned = list({id(fx): fx for *_, f in plans for _, fx, _ in f.plan}.values())
    chunks = _merge_conftests(test, keep_test, kept_conftests, posixpath.dirname(test.path), planned)
    return keep_test, kept_conftests, chunks


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

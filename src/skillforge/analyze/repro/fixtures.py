"""Fixtures inlined into a reproduction script.

A fixture the test requests (an argument, a ``usefixtures`` mark, or an
``autouse`` fixture in scope) is looked up like pytest does -- the test's
classes, the test module, then every ``conftest.py`` from the test's directory
up to the repository root, then the built-in ones (:data:`BUILTIN_FIXTURES`,
whose code is in :mod:`.prelude`) -- and its function is copied into the script
without its ``@pytest.fixture`` decorator, with the conftest's imports and
helpers it uses. :class:`_Fixtures` plans the set-up in dependency order (a
fixture's own arguments first; autouse ones first of all). Every fixture is set
up once per test, whatever its scope. A conftest fixture whose name the test
module (or a narrower conftest) also binds is renamed in the script.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from tree_sitter import Node

from skillforge.analyze.entities import text as _text
from skillforge.analyze.lang.python import _definition
from skillforge.analyze.repro.marks import _call_args, _literal
from skillforge.analyze.repro.source import (
    NotStandalone,
    _Module,
    _param_names,
    _references,
    _statements,
    _top_level_of,
)


_FIXTURE_HEADS = ("pytest.fixture", "fixture", "pytest.yield_fixture", "yield_fixture", "pytest_asyncio.fixture")
BUILTIN_FIXTURES = ("tmp_path", "tmp_path_factory", "monkeypatch", "capsys")


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
    for stmt in _statements(body):  # through if/try/... blocks, in order
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


def _read_conftests(test_path: str, repo_files: list[str] | None,
                    read_file: Callable[[str], str | None] | None) -> list[_Module]:
    """The conftest.py files that apply to the test (nearest first) that ``read_file`` finds."""
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
    return conftests


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

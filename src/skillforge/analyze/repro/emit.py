"""Writing the standalone script: header, kept code, and the ``__main__`` runner.

The script puts the repository's directories on ``sys.path`` (resolved against
the current directory: it runs from the repository root), then the kept code
of the test module and of the conftests, then :mod:`.prelude`'s helpers (read
as text) and ``_sf_reproduce``, which runs the test like pytest would: a
function is called (``asyncio.run`` for ``async def``); a plain ``Test*``
class is instantiated, with ``setup_class``/``setup_method``/
``teardown_method``/``teardown_class`` around the call; a
``unittest.TestCase`` runs as ``Class("test_x").debug()`` between
``setUpClass``/``tearDownClass``. Fixtures are set up in an ``ExitStack`` and
torn down after the test, last set up first torn down; with several
parametrize cases each runs in turn.
"""

from __future__ import annotations

import functools
import importlib.resources
import posixpath
import re
from collections.abc import Sequence
from typing import NamedTuple

from skillforge.analyze.repro.fixtures import _Fixtures
from skillforge.analyze.repro.parametrize import _Combined
from skillforge.analyze.repro.source import _SETUP_NAMES, _Module, _references

_SECTION = re.compile(r"^# section: (\w+)\n", re.MULTILINE)


class _CasePlan(NamedTuple):
    """How the script runs one parametrize case (or the test, when it has none)."""

    combo: _Combined
    call: dict[str, str]  # the test's arguments: name -> expression
    assigns: list[str]  # statements binding the case's values
    fixtures: _Fixtures


@functools.cache
def _sections() -> dict[str, str]:
    """The sections of :mod:`.prelude` by name, each as the script carries it (two blank lines first)."""
    text = importlib.resources.files(__package__).joinpath("prelude.py").read_text(encoding="utf-8")
    pieces = _SECTION.split(text)  # [head, name, body, name, body, ...]
    return {name: "\n\n" + body.strip("\n") + "\n" for name, body in zip(pieces[1::2], pieces[2::2])}


def _prelude(name: str) -> str:
    return _sections()[name]


def emit_script(
    *,
    test: _Module,
    keep_test: set[int],
    conftests: list[tuple[_Module, set[int]]],
    conftest_chunks: list[str],
    heading: str,
    sys_path: list[str],
    kind: str,
    parts: list[str],
    plans: list[_CasePlan],
) -> str:
    """The script: ``from __future__`` imports, the header, the kept statements
    of the test module then the conftests' (``conftest_chunks``), and the runner."""
    future = list(dict.fromkeys(
        [c.render(c.stmts[k].node) for c, keep in conftests for k in sorted(keep) if c.stmts[k].future]
        + [test.render(test.stmts[k].node) for k in sorted(keep_test) if test.stmts[k].future]))
    uses_file = any("__file__" in _references(test.stmts[k].node, test.skip) for k in keep_test) or any(
        "__file__" in _references(c.stmts[k].node, c.skip) for c, keep in conftests for k in keep)
    defined_setups = {name for k in keep_test for name in test.stmts[k].defines if name in _SETUP_NAMES}
    needs_stack = any(f.plan for *_, f in plans)
    builtins_used = sorted({fx.name for *_, f in plans for _, fx, _ in f.plan if fx.module is None})
    lines: list[str] = []
    lines += future
    lines.append(heading)
    lines.append("# Run it with plain `python` from the repository root.")
    if needs_stack:
        lines.append("import contextlib as _sf_contextlib")
    lines.append("import os as _sf_os")
    lines.append("import sys as _sf_sys")
    lines.append("")
    lines.append(f"_sf_sys.path[:0] = [_sf_os.path.abspath(_p) for _p in {sys_path!r}]")
    if uses_file:
        lines.append(f"__file__ = _sf_os.path.abspath({test.path!r})")
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
    lines.append("".join(chunks + conftest_chunks))
    lines.append("")
    lines.append("")
    lines.append(_runner(kind, parts, defined_setups, plans, builtins_used))
    return "\n".join(lines).rstrip("\n") + "\n"


def sys_path_entries(test: _Module, conftests: list[tuple[_Module, set[int]]], extra_sys_path: Sequence[str],
                     repo_files_known: bool) -> list[str]:
    """``sys.path`` entries, relative to the repository root: ``extra_sys_path``,
    then the directories pytest's "prepend" import mode inserts for the test
    module and its conftests (without the file list: the test's directory and the root)."""
    basedirs = [test.basedir] + [c.basedir for c, _ in conftests]
    test_dir = posixpath.dirname(test.path)
    paths = [*extra_sys_path, *basedirs] if repo_files_known else [*extra_sys_path, test_dir or ".", "."]
    return list(dict.fromkeys(p.rstrip("/") or "." for p in paths))


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


def _runner(kind: str, parts: list[str], setups: set[str], plans: list[_CasePlan], builtins_used: list[str]) -> str:
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
    helpers = _prelude("helpers").lstrip("\n")
    if any(f.plan for *_, f in plans):
        helpers += _prelude("fixture")
    for b in builtins_used:
        helpers += _prelude(b)
    return helpers + "\n\n" + run + "\n" + _prelude("main")

"""The runtime prelude of reproduction scripts is a real module, shipped as package
data and read as text: every section lands in the scripts that need it, unchanged."""

from __future__ import annotations

import ast
import importlib.resources
import sys
import textwrap

from skillforge.analyze.repro import synthesize_script
from skillforge.analyze.repro.emit import _sections
from skillforge.analyze.repro.fixtures import BUILTIN_FIXTURES

TEST = textwrap.dedent(
    '''\
    import pytest


    @pytest.fixture
    def answer():
        yield 42


    def test_plain():
        assert 1 + 1 == 2


    def test_fixtures(answer, tmp_path, tmp_path_factory, monkeypatch, capsys):
        assert answer == 42
    '''
)


def _prelude_text() -> str:
    return importlib.resources.files("skillforge.analyze.repro").joinpath("prelude.py").read_text(encoding="utf-8")


def test_prelude_is_valid_python_with_every_section():
    tree = ast.parse(_prelude_text())
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert {"_sf_call", "_sf_await", "_sf_fixture", "_sf_is_skip"} <= defined
    assert set(_sections()) == {"helpers", "fixture", "main", *BUILTIN_FIXTURES}
    for name, section in _sections().items():
        assert section.startswith("\n\ndef ") or section.startswith("\n\nclass "), name
        assert section.endswith("\n") and not section.endswith("\n\n"), name


def test_sections_go_only_into_the_scripts_that_need_them():
    sections = _sections()
    plain = synthesize_script(TEST, "test_plain", test_path="tests/test_x.py")
    assert sections["helpers"].lstrip("\n") in plain and plain.endswith(sections["main"])
    assert "def _sf_fixture(" not in plain and "_sf_tmp_path" not in plain
    full = synthesize_script(TEST, "test_fixtures", test_path="tests/test_x.py")
    for name in ("fixture", *BUILTIN_FIXTURES):
        assert sections[name] in full, name
    compile(full, "script.py", "exec")


def test_the_prelude_is_never_imported():
    synthesize_script(TEST, "test_fixtures", test_path="tests/test_x.py")
    assert "skillforge.analyze.repro.prelude" not in sys.modules

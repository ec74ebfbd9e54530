"""Trivial changes by syntax trees: whitespace, comments, docstrings, version bumps.

Golden cases (tests/fixtures/analyze/): trivial_docstrings, trivial_release,
trivial_comments are trivial; not_trivial_subtle looks trivial and is not.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from skillforge.analyze.trivial import change_kind, combine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "analyze"


@pytest.mark.parametrize(
    ("case", "kind"),
    [("trivial_docstrings", "docstrings"), ("trivial_release", "version bump"), ("trivial_comments", "comments"),
     ("not_trivial_subtle", None), ("money", None), ("storefront_ts", None), ("ledger_rs", None)],
)
def test_golden_verdicts(case, kind):
    golden = json.loads((FIXTURES / case / "expected.json").read_text(encoding="utf-8"))
    assert golden["trivial"] == kind
    if kind is not None:
        assert golden["files"]  # trivial code files are still code files
        assert golden["test_files"]  # and the PR still touches tests: only triviality drops it


def test_golden_files_one_by_one():
    """Every code file of the trivial cases, compared alone (before/after trees on disk)."""
    expect = {
        ("trivial_docstrings", "src/units/convert.py"): "docstrings",
        ("trivial_release", "pyproject.toml"): "version bump",
        ("trivial_release", "setup.py"): "version bump",
        ("trivial_release", "src/units/__init__.py"): "version bump",
        ("trivial_release", "web/package.json"): "version bump",
        ("trivial_comments", "pkg/geo/point.go"): "comments",
        ("trivial_comments", "crate/src/lib.rs"): "comments",
        ("trivial_comments", "src/main/java/com/acme/Strings.java"): "comments",
        ("trivial_comments", "web/src/math.ts"): "comments",
        ("trivial_comments", "web/src/dom.js"): "comments",
        ("not_trivial_subtle", "app/retry.py"): None,
    }
    for (case, path), kind in expect.items():
        old = (FIXTURES / case / "before" / path).read_bytes()
        new = (FIXTURES / case / "after" / path).read_bytes()
        assert change_kind(path, old, new) == kind, (case, path)


PY = b'''"""Module."""
import os

__version__ = "1.0"


def f(x, y):
    """Doc."""
    # add them
    return x + y


class C:
    attr = 1
    """Attribute docstring."""
'''


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        (b"# add them", b"#  add both of them", "comments"),
        (b"return x + y", b"return (x\n            + y)", None),  # parentheses are syntax
        (b"return x + y", b"return x  +  y", "whitespace"),
        (b"def f(x, y):", b"def f(\n    x,\n    y,\n):", "whitespace"),  # black's exploded signature
        (b'"""Doc."""', b'"""Better doc."""', "docstrings"),
        (b'"""Attribute docstring."""', b'"""Other."""', "docstrings"),
        (b'__version__ = "1.0"', b'__version__ = "1.1"', "version bump"),
        (b'__version__ = "1.0"', b"__version__ = get_version()", None),  # not a literal any more
        (b"attr = 1", b"attr = 2", None),
        (b"import os", b"import os, sys", None),
    ],
)
def test_python_kinds(old, new, kind):
    assert old in PY
    assert change_kind("pkg/mod.py", PY, PY.replace(old, new, 1)) == kind


def test_one_element_tuple_comma_is_not_formatting():
    assert change_kind("a.py", b"x = (1,)\n", b"x = (1)\n") is None
    assert change_kind("a.py", b"f(a, b)\n", b"f(a, b,)\n") == "whitespace"


def test_string_whitespace_is_a_real_change():
    assert change_kind("a.js", b'const s = "a b";\n', b'const s = "a  b";\n') is None
    assert change_kind("a.go", b"package a\nvar s = `a b`\n", b"package a\nvar s = `a  b`\n") is None


def test_statement_moved_out_of_a_block_is_real():
    old = b"if a:\n    b = 1\n    c = 2\n"
    new = b"if a:\n    b = 1\nc = 2\n"
    assert change_kind("a.py", old, new) is None


def test_added_removed_renamed_files_are_real():
    assert change_kind("a.py", None, b"x = 1\n", status="added") is None
    assert change_kind("a.py", b"x = 1\n", None, status="removed") is None
    assert change_kind("a.py", b"x = 1\n", b"x = 1\n", status="renamed") is None


def test_files_without_grammar():
    assert change_kind("Makefile", b"all:\n\tcc  a.c\n", b"all:\n\tcc a.c\n") == "whitespace"
    assert change_kind("setup.cfg", b"[metadata]\nname = x\nversion = 1.0\n", b"[metadata]\nname = x\nversion = 1.1\n") == "version bump"
    assert change_kind("Cargo.toml", b'[package]\nname = "x"\nversion = "0.1.0"\n', b'[package]\nname = "x"\nversion = "0.2.0"\n') == "version bump"
    assert change_kind("Cargo.toml", b'[package]\nname = "x"\n', b'[package]\nname = "y"\n') is None
    assert change_kind("requirements.txt", b"attrs\n", b"attrs>=23\n") is None


def test_setup_py_version_keyword_only_there():
    old = b'setup(name="x", version="1.0")\n'
    new = b'setup(name="x", version="1.1")\n'
    assert change_kind("setup.py", old, new) == "version bump"
    assert change_kind("pkg/api.py", old, new) is None  # a version= argument elsewhere is code


def test_combine():
    assert combine(["comments", "whitespace"]) == "comments"
    assert combine(["docstrings", "version bump"]) == "version bump"
    assert combine(["comments", None]) is None
    assert combine([]) is None


def test_string_contents_around_escape_sequences():
    """tree-sitter keeps a string's text beside its escape-sequence children: found on real
    histories (pallets/click#48, python-attrs/attrs#878), where a changed docstring read as whitespace."""
    old = b'def f():\n    """Whitelist *what*.\\n"""\n    return "a\\tb"\n'
    assert change_kind("a.py", old, old.replace(b"Whitelist", b"Include")) == "docstrings"
    assert change_kind("a.py", old, old.replace(b'"a\\tb"', b'"c\\tb"')) is None
    assert change_kind("a.js", b'const s = "a\\nb";\n', b'const s = "c\\nb";\n') is None
    assert change_kind("a.rs", b'fn f() -> &str { "a\\nb" }\n', b'fn f() -> &str { "c\\nb" }\n') is None


def test_a_toml_version_compared_again_reads_the_same():
    """``pyproject.toml`` texts are parsed once (``split.toml_data``, shared between the pytest
    configuration and this comparison): comparing them leaves the shared tables as they were, so the
    same text compared again, or read for the configuration, reads the same."""
    from skillforge.analyze.split import load_test_config, toml_data

    v1 = b'[project]\nname = "x"\nversion = "1.0"\n\n[tool.poetry]\nversion = "1.0"\n\n[tool.pytest.ini_options]\ntestpaths = ["t"]\n'
    v2 = v1.replace(b'"1.0"', b'"1.1"')
    v3 = v2.replace(b'name = "x"', b'name = "y"')
    before = {text: toml_data(text.decode()) for text in (v1, v2, v3)}
    copies = {text: tomllib.loads(text.decode()) for text in (v1, v2, v3)}
    for _ in range(2):
        assert change_kind("pyproject.toml", v1, v2) == "version bump"
        assert change_kind("pyproject.toml", v2, v3) is None
        assert change_kind("pyproject.toml", v1, v1 + b"# a comment\n") == "comments"
    for text in (v1, v2, v3):
        assert toml_data(text.decode()) is before[text]  # kept, and
        assert before[text] == copies[text]  # as it was parsed
    assert load_test_config({"pyproject.toml": v2.decode()}.get).testpaths == ("t",)

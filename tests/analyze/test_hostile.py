"""Hostile input to the analyzers: huge files, thousands of hunks, giant lines, deep
nesting, symlinks and data where tests are looked for. Every walk is iterative (or
depth-safe), every algorithm about linear: labels come out whole and in bounded time."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from skillforge.analyze import analyze_change, analyze_change_labels
from skillforge.analyze.entities import Entity, _line_owners, _nonblank, _painted
from skillforge.analyze.lang import GoAdapter, JavaAdapter, JavaScriptAdapter, RustAdapter, TypeScriptAdapter
from skillforge.analyze.lang import pydeep
from skillforge.analyze.lang.python import _piece_entities, entities, parse, test_items
from skillforge.analyze.mutate import OPERATORS, _order, _Site, file_diff, mutants_for
from skillforge.analyze.patch import apply_patch_to_text, parse_patch
from skillforge.analyze.split import TestConfig, is_python_test_module, runnable_test_modules
from skillforge.analyze.trivial import change_kind

SRC = Path(__file__).resolve().parents[2] / "src" / "skillforge"


def _names(n: int, prefix: str = "f") -> list[str]:
    return [".".join(f"{prefix}{i}" for i in range(k + 1)) for k in range(n)]


def _change(patch: str, old: dict[str, bytes], new: dict[str, bytes]):
    return analyze_change_labels(patch, old.get, new.get, [*old, *new], TestConfig())


# --------------------------------------------------------------------------- deep Python


def _nested(n: int, value: int = 0) -> str:
    return "".join("    " * i + f"def f{i}():\n" for i in range(n)) + "    " * n + f"return {value}\n"


def test_1500_nested_defs_keep_every_name():
    src = _nested(1500)
    ents = entities(src)
    assert [e.qualname for e in ents] == _names(1500)
    last = src.count("\n")
    assert all(e.def_line == k + 1 and e.end_line == last for k, e in enumerate(ents))
    assert ents[-1].parent == ".".join(f"f{i}" for i in range(1499))


def test_deep_python_with_strings_classes_and_decorators_does_not_crash_the_parser():
    """A string 500 levels deep overflows the grammar's scanner state: such a source is never parsed as it is."""
    lines = []
    for i in range(1200):
        pad = "    " * i
        if i % 7 == 3:
            lines.append(f"{pad}@decorate\n")
        lines.append(f"{pad}class C{i}:\n" if i % 5 == 0 else f"{pad}def f{i}(a=(1,\n{pad}        2)):\n")
        if i % 11 == 0:
            lines.append(f'{pad}    """doc\n{pad}    string"""\n')
    lines.append("    " * 1200 + "x = '''deep\nstring'''\n")
    src = "".join(lines).encode()
    assert pydeep.too_deep(src)
    readable = pydeep.parsable(src)
    assert len(readable) == len(src) and readable.count(b"\n") == src.count(b"\n")
    assert not parse(src).root_node.has_error
    names = [e.name for e in entities(src)]
    assert names == [f"C{i}" if i % 5 == 0 else f"f{i}" for i in range(1200)]
    assert change_kind("deep.py", src, src.replace(b"'''deep", b"'''DEEP")) is None  # a real change, deep down


def test_piecewise_naming_equals_the_one_parse(monkeypatch):
    """Cut at depth 2 (instead of 200), the pieces name every entity of ordinary modules as one parse does."""
    monkeypatch.setattr(pydeep, "CUT", 2)
    for path in sorted(SRC.rglob("*.py"))[:60]:
        data = path.read_bytes()
        whole = [(e.qualname, e.kind, e.start_line, e.end_line, e.def_line, e.decorators, e.parent)
                 for e in entities(parse(data))]
        pieces = pydeep._piece(data.splitlines(keepends=True), 0, [], None, True, _piece_entities)
        assert [(e.qualname, e.kind, e.start_line, e.end_line, e.def_line, e.decorators, e.parent)
                for e in pieces] == whole, path
        readable = pydeep.parsable(data) if pydeep.too_deep(data) else data
        assert not parse(readable).root_node.has_error


def test_a_change_1500_levels_down_names_its_entity_and_is_fast():
    old, new = _nested(1500, 0), _nested(1500, 1)
    patch = file_diff("pkg/deep.py", old, new)
    started = time.monotonic()
    labels = _change(patch, {"pkg/deep.py": old.encode()}, {"pkg/deep.py": new.encode()})
    assert time.monotonic() - started < 30
    assert labels.analysis.entities == ["pkg/deep.py::" + _names(1500)[-1]] and labels.trivial is None


def test_deep_class_chains_and_nesting_in_test_modules():
    chain = "class C0:\n    pass\n" + "".join(f"class C{i}(C{i - 1}):\n    pass\n" for i in range(1, 1500))
    chain += "class TestX(C1499):\n    def test_a(self):\n        pass\n"
    assert [t.nodeid for t in test_items("tests/test_chain.py", chain)] == ["tests/test_chain.py::TestX::test_a"]
    blocks = "".join("    " * i + "if x:\n" for i in range(450)) + "    " * 450 + "def test_deep():\n" + \
        "    " * 451 + "pass\n"
    assert [e.name for e in entities(blocks)] == ["test_deep"]


def test_deep_targets_and_literals():
    deep_tuple = "(" * 3000 + "a" + ",)" * 3000
    src = f"{deep_tuple} = 1\n__version__ = {'(' * 150}1,{'),' * 149})\n"
    assert [e.name for e in entities(src)] == ["a", "__version__"]
    old = "__version__ = " + "(" * 150 + "1," + ")," * 149 + ")\n"
    assert change_kind("v.py", old.encode(), old.replace("1,", "2,").encode()) == "version bump"


# --------------------------------------------------------------------------- deep JavaScript and others


def test_a_deeply_nested_javascript_file():
    n = 5000
    src = "".join(f"function f{i}() {{\n" for i in range(n)) + "return " + "[" * n + "]" * n + ";\n" + "}\n" * n
    ents = JavaScriptAdapter().entities(src)
    assert [e.qualname for e in ents] == _names(n)
    arrays = "const x = " + "[" * n + "1" + "]" * n + ";\nconst cb = " + "(() => " * 3000 + "1" + ")" * 3000 + ";\n"
    assert [e.qualname for e in JavaScriptAdapter().entities(arrays)] == ["x", "cb"]
    member = "a" + ".b" * 5000 + ".prototype.m = function () {};\n"
    assert [e.qualname for e in JavaScriptAdapter().entities(member)] == ["a" + ".b" * 5000 + ".m"]
    pattern = "const " + "[" * 2000 + "z" + "]" * 2000 + " = v;\n"
    assert [e.qualname for e in TypeScriptAdapter().entities(pattern)] == ["z"]


def test_deep_rust_java_and_go():
    rust = "".join(f"mod m{i} {{\n" for i in range(3000)) + "fn f() {}\n" + "}\n" * 3000
    assert RustAdapter().entities(rust)[-1].qualname == ".".join([*(f"m{i}" for i in range(3000)), "f"])
    java = "".join(f"class C{i} {{\n" for i in range(3000)) + "void m() {}\n" + "}\n" * 3000
    assert len(JavaAdapter().entities(java)) == 3001
    go = "package p\n\nfunc F() int {\n\treturn " + "(" * 3000 + "1" + ")" * 3000 + "\n}\n"
    assert [e.qualname for e in GoAdapter().entities(go)] == ["F"]


# --------------------------------------------------------------------------- big inputs


def _many(k: int, n: int = 5000) -> str:
    body = "    y = x + {i}\n    z = y * 2\n    w = z - 1\n    v = w + 3\n    return v + {k}\n\n\n"
    return "".join(f"def f{i}(x):\n" + body.format(i=i, k=k) for i in range(n))


def test_a_5000_hunk_patch_is_labelled_and_mutated_in_linear_time():
    old, new = _many(0), _many(1)
    started = time.monotonic()
    patch = file_diff("pkg/many.py", old, new)  # difflib alone is quadratic on repeated lines
    assert time.monotonic() - started < 5
    assert patch.count("\n@@ ") == 5000 and apply_patch_to_text(old, parse_patch(patch)[0]) == new
    started = time.monotonic()
    a = analyze_change(patch, {"pkg/many.py": old.encode()}.get, {"pkg/many.py": new.encode()}.get,
                       ["pkg/many.py"], TestConfig())
    assert len(a.entities) == 5000 and a.hunks == 5000
    found = mutants_for({"pkg/many.py": new.encode()}.get, a, max_total=6)
    assert len(found) == 6 and time.monotonic() - started < 30
    for m in found:
        assert apply_patch_to_text(new, parse_patch(m.patch)[0]) != new


def test_a_data_literal_gets_no_mutants():
    data = ("DATA = [" + ", ".join(str(i % 997) for i in range(600_000)) + "]\n").encode()
    a = analyze_change(file_diff("d.py", None, data.decode()), {}.get, {"d.py": data}.get, ["d.py"], TestConfig())
    assert a.added_entities == ["d.py::DATA"]
    started = time.monotonic()
    assert mutants_for({"d.py": data}.get, a) == []  # data, not logic: over MAX_ENTITY_BYTES
    assert time.monotonic() - started < 20


def test_a_megabyte_line_of_code():
    src = "def big():\n    return " + " + ".join(["1"] * 333_000) + "\n\n\ndef small(x):\n    return x > 1\n"
    started = time.monotonic()
    a = analyze_change(file_diff("pkg/line.py", None, src), {}.get, {"pkg/line.py": src.encode()}.get,
                       ["pkg/line.py"], TestConfig())
    assert a.added_entities == ["pkg/line.py::big", "pkg/line.py::small"]
    found = mutants_for({"pkg/line.py": src.encode()}.get, a, max_total=4)
    assert found and time.monotonic() - started < 60
    for m in found:
        assert apply_patch_to_text(src, parse_patch(m.patch)[0]) != src


def test_ordering_sites_is_linear():
    class Node:
        start_byte = 0

    sites = [_Site(OPERATORS[k % len(OPERATORS)], Node(), k % 3 == 0) for k in range(300_000)]
    started = time.monotonic()
    out = _order(sites, random.Random(0))
    assert time.monotonic() - started < 5 and len(out) == len(sites)
    first = [s.operator.name for s in out[:len(OPERATORS)]]
    assert sorted(first) == sorted(o.name for o in OPERATORS)  # operators interleaved


def test_innermost_lines_in_one_sweep():
    rng = random.Random(7)
    for _ in range(500):
        ents = []

        def grow(lo, hi, depth):
            pos = lo
            while pos <= hi and rng.random() < 0.7 and len(ents) < 25:
                s = rng.randint(pos, hi)
                e = rng.randint(s, hi + (2 if rng.random() < 0.1 else 0))  # now and then overlapping, not nested
                ents.append(Entity("q", "q", "function", s, e, s))
                if depth < 4:
                    grow(s + 1, e, depth + 1)
                pos = e + 1

        n = rng.randint(0, 40)
        grow(1, n + 1, 0)
        painted = _painted(ents, n)
        assert _line_owners(ents, range(-1, n + 3), n) == {ln: painted[ln] for ln in range(1, n + 1)}
        some = rng.sample(range(1, n + 1), k=min(n, rng.randint(0, 4)))  # a few lines: the sweep stops early
        assert _line_owners(ents, some, n) == {ln: painted[ln] for ln in some}
        assert _line_owners(ents, sorted(some), n, ordered=True) == {ln: painted[ln] for ln in some}  # as _nonblank gives
    deep = [Entity("q", "q", "function", k + 1, 6000, k + 1) for k in range(5000)]
    started = time.monotonic()
    owner = _line_owners(deep, range(1, 6001), 6000)
    assert time.monotonic() - started < 1 and owner[4999] == 4998 and owner[5999] == 4999


def test_nonblank_lines_are_those_split_gives():
    rng = random.Random(11)
    for _ in range(300):
        source = bytes(rng.choice(b"ab \t\n\r\x0b\x0c") for _ in range(rng.randint(0, 30)))
        lines = source.split(b"\n")
        asked = [rng.randint(-1, len(lines) + 2) for _ in range(rng.randint(0, 8))]
        expected = sorted({ln for ln in asked if 1 <= ln <= len(lines) and lines[ln - 1].strip()})
        got = _nonblank(source, asked)
        assert got == (expected, len(lines)), source
        assert _nonblank(source, asked) is got and _nonblank(source, list(asked)) == got  # kept for the same two


# --------------------------------------------------------------------------- what a test module is


def test_symlinks_and_data_under_tests_are_not_test_modules():
    assert is_python_test_module("tests/test_a.py", mode="100644")
    assert not is_python_test_module("tests/test_link.py", mode="120000")
    assert not is_python_test_module("tests/test_sub.py", mode="160000")
    assert not is_python_test_module("tests/test_cases.json")
    files = {"tests/test_a.py": b"def test_a():\n    pass\n", "tests/test_blob.py": b"\x00\x01data",
             "tests/test_link.py": b"../pkg/core.py", "tests/test_cases.json": b"{}"}
    modes = {"tests/test_a.py": "100644", "tests/test_blob.py": "100644", "tests/test_link.py": "120000",
             "tests/test_cases.json": "100644"}
    assert runnable_test_modules(sorted(files), TestConfig(), modes.get, files.get) == ["tests/test_a.py"]
    patch = ("diff --git a/tests/test_link.py b/tests/test_link.py\nnew file mode 120000\n--- /dev/null\n"
             "+++ b/tests/test_link.py\n@@ -0,0 +1 @@\n+test_real.py\n\\ No newline at end of file\n"
             + file_diff("tests/test_real.py", None, "def test_one():\n    pass\n"))
    new = {"tests/test_link.py": b"test_real.py", "tests/test_real.py": b"def test_one():\n    pass\n"}
    a = analyze_change(patch, {}.get, new.get, list(new), TestConfig())
    assert a.test_files == ["tests/test_link.py", "tests/test_real.py"]
    assert a.test_functions == ["tests/test_real.py::test_one"]


@pytest.mark.parametrize("width", [1, 5000])
def test_wide_changes_stay_fast(width):
    """A file of 2,000 lines, each ``width`` times wider, changed throughout."""
    old = "".join(f"x{i} = {'1' * width}\n" for i in range(2000))
    new = old.replace("= 1", "= 2")
    started = time.monotonic()
    a = analyze_change(file_diff("w.py", old, new), {"w.py": old.encode()}.get, {"w.py": new.encode()}.get,
                       ["w.py"], TestConfig())
    assert len(a.entities) == 2000 and time.monotonic() - started < 30


def test_keyword_scan_finds_what_the_regex_finds():
    import re

    from skillforge.analyze.lang.python import _holds_keyword

    regex = re.compile(rb"\b(?:def|class)\b")
    rng = random.Random(5)
    pieces = [b"def", b"class", b"de", b"f", b"cla", b"ss", b"_", b"x", b"9", b" ", b"\n", b"(", b"\xc3\xa9", b":"]
    for _ in range(3000):
        source = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        start = rng.randint(0, len(source) + 1)
        end = rng.randint(start, len(source) + 3)
        assert _holds_keyword(source, start, end) is (regex.search(source, start, end) is not None), (source, start, end)


@pytest.mark.parametrize("blank", [" ", "\t", "\f", " \t"])
def test_deep_nesting_is_found_whatever_blanks_indent_it(blank):
    """Tabs and form feeds count as blanks in the quick check (copied to spaces only when a source has
    any): nesting indented with them is found as with spaces, and a shallow source is not too deep."""
    depth = pydeep.LIMIT + 5
    deep = "".join(f"{blank * i}if x{i}:\n" for i in range(depth)) + blank * depth + "pass\n"
    shallow = "".join(f"{blank * i}if x{i}:\n" for i in range(5)) + blank * 5 + "pass\n"
    assert pydeep.too_deep(deep.encode())
    assert not pydeep.too_deep(shallow.encode())
    assert not pydeep.too_deep(shallow.encode() + b"x = '" + blank.encode() * (pydeep.LIMIT + 1) + b"'\n")

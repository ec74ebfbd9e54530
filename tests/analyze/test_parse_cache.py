"""The parse cache: a version of a file never seen is parsed incrementally from another version of the
same path (the span where they differ as one edit), and that gives the tree -- and the entities -- a parse
from scratch gives; newlines are where a scan finds them."""

from __future__ import annotations

import importlib.util
import os
import random
from pathlib import Path

import pytest

from skillforge.analyze import _ParseCache, _edited_whole, _newlines, _Parsed
from skillforge.analyze.lang import adapter_for


def _load_builder():
    path = Path(__file__).resolve().parent / "build_fixtures.py"
    spec = importlib.util.spec_from_file_location("skillforge_analyze_build_fixtures_parse_cache", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()

SOURCES = sorted({(path, data) for case in builder.cases() for side in ("before", "after")
                  if (case / side).is_dir()
                  for path, data in builder.tree_files(case / side).items()
                  if adapter_for(path) is not None and data.strip()}, key=lambda x: (x[0], len(x[1])))


def test_newlines():
    rng = random.Random(7)
    texts = [b"", b"\n", b"a", b"a\n", b"\n\n", b"ab\ncd", b"ab\r\ncd\n", "é\nü\n".encode()]
    texts += [bytes(rng.choice(b"ab\n") for _ in range(rng.randint(0, 60))) for _ in range(500)]
    for text in texts:
        assert _newlines(text).tolist() == [i for i, c in enumerate(text) if c == 10], text
    # the last texts scanned are looked up by identity: interleaved, each still gets its own newlines
    for a, b, c in zip(texts, texts[1:], texts[2:]):
        for text in (a, b, a, c, b, bytes(a), a):
            got = _newlines(text)
            assert got.tolist() == [i for i, ch in enumerate(text) if ch == 10], text
            assert not got.flags.writeable  # shared: no caller may change it


def _edits(data: bytes, rng: random.Random) -> list[bytes]:
    """Other versions of a file: lines inserted, removed, changed (whole or in part), at its start, its
    end, in its middle; its final newline dropped or added; everything replaced."""
    lines = data.split(b"\n")
    out = []
    for _ in range(6):
        ls = list(lines)
        i = rng.randrange(len(ls))
        what = rng.choice(("insert", "remove", "change", "partial"))
        if what == "insert":
            ls[i:i] = [b"x = %d" % rng.randrange(100), b""]
        elif what == "remove":
            del ls[i:i + rng.randint(1, 5)]
        elif what == "change":
            ls[i] = b"def f%d():\n    return %d" % (i, i)
        else:
            ls[i] = ls[i][: len(ls[i]) // 2] + b"  # edited"
        out.append(b"\n".join(ls))
    out += [b"import os\n" + data, data + b"\nVALUE = 1\n", data.rstrip(b"\n"), data + b"\n",
            data.replace(b"def ", b"def  ", 1), b"Y = 2\n", b""]
    return [o for o in out if o != data]


@pytest.mark.parametrize("path,data", SOURCES, ids=[f"{p}-{len(d)}" for p, d in SOURCES])
def test_incremental_from_another_version_equals_a_parse_from_scratch(path, data):
    adapter = adapter_for(path)
    parser = adapter.parser()
    previous = _Parsed(parser.parse(data), adapter.entities, data=data)
    rng = random.Random(path)
    for new in _edits(data, rng):
        edited = _edited_whole(previous, new)
        # the whole lines from the first difference to the last: over half of the old text, parsed from scratch
        limit = min(len(data), len(new))
        start = data.rfind(b"\n", 0, len(os.path.commonprefix([data[:limit], new[:limit]]))) + 1
        tail = len(os.path.commonprefix([data[start:][::-1], new[start:][::-1]]))
        old_end = len(data) - tail
        if tail and data[old_end - 1:old_end] != b"\n":
            old_end = data.find(b"\n", old_end) + 1 or len(data)
        assert (edited is None) == (2 * (old_end - start) > len(data)), new
        if edited is None:
            continue
        incremental, full = parser.parse(new, edited), parser.parse(new)
        assert str(incremental.root_node) == str(full.root_node)
        assert (incremental.root_node.start_point, incremental.root_node.end_point) == \
            (full.root_node.start_point, full.root_node.end_point)
        assert adapter.entities(incremental) == adapter.entities(full)
    assert _edited_whole(previous, data) is None  # the same text: nothing to edit


def test_an_unseen_version_is_parsed_from_the_last_version_of_its_path(monkeypatch):
    import skillforge.analyze as analyze

    path, data = next((p, d) for p, d in SOURCES if p.endswith(".py") and d.count(b"\n") > 20)
    calls = []
    real = analyze._edited_whole

    def counted(previous, new):
        calls.append(previous.data)
        return real(previous, new)

    monkeypatch.setattr(analyze, "_edited_whole", counted)
    cache = _ParseCache()
    first = cache.get(path, data)
    assert calls == []  # nothing to start from
    newer = data + b"\n\ndef added():\n    return 1\n"
    got = cache.get(path, newer)
    assert calls == [data]
    adapter = adapter_for(path)
    assert got.entities == adapter.entities(adapter.parser().parse(newer))
    assert cache.get(path, data) is first and calls == [data]  # seen: the cache's
    cache.get("other/" + path, newer + b"# elsewhere\n")  # another path: from scratch
    assert calls == [data]


MODULE = b'''"""A module."""
import os

X = 1
a, b = 2, 3


@decorator
def first(x):
    def inner():
        return x
    return inner


class Thing(Base):
    size: int = 0

    @property
    def area(self):
        return self.size ** 2

    async def fetch(self):
        class Local:
            pass


if os.name == "nt":
    def platform():
        return "windows"
else:
    def platform():
        return "posix"

try:
    from fast import speed
except ImportError:
    def speed():
        return 0
'''


def test_statement_memo_gives_what_a_walk_gives(monkeypatch):
    """Module-level statements seen before (on the same lines, on others, at another column) give the
    entities a walk of the module gives; one with a syntax error is walked, never looked up."""
    from skillforge.analyze.lang import python as py

    rng = random.Random(3)
    statements = MODULE.split(b"\n\n\n")
    extras = [b"def added():\n    pass", b"Y = 2; Z = 3", b"def broken(:\n    pass", b"class Thing(Base):\n    pass",
              b"    def indented():\n        pass", b"@decorator\ndef first(x):\n    return x"]
    memo = py._StatementMemo(max_entities=16)  # small: kept entities are let go now and then
    shared = errors = cleared = kept_before = 0
    for _ in range(200):
        parts = list(statements)
        for _ in range(rng.randint(0, 3)):
            parts.insert(rng.randint(0, len(parts)), rng.choice(extras))
        if rng.random() < 0.2:
            rng.shuffle(parts)
        source = b"\n" * rng.randint(0, 2) + rng.choice([b"\n\n\n", b"\n\n", b"\n"]).join(parts) + b"\n"
        tree = py.parse(source)
        monkeypatch.setattr(py, "_STATEMENTS", py._StatementMemo())
        expected = py.entities(tree)
        monkeypatch.setattr(py, "_STATEMENTS", memo)
        got = py.entities(tree)
        assert got == expected, source
        shared += sum(a is b for a, b in zip(got, py.entities(tree)))
        errors += any(n.has_error for n in tree.root_node.children)
        cleared += memo._kept < kept_before
        kept_before = memo._kept
    assert shared > 150, shared  # the same statements on the same lines: the very entities
    assert cleared > 3, cleared
    assert errors > 20  # the same text parsed with an error here and without one there: walked each time


def test_class_body_memo_gives_what_a_walk_gives(monkeypatch):
    """The definitions of a class body are kept by their text too: versions of a module whose classes
    gain, lose, change and reorder methods -- the same method text in two classes, in a nested class
    (another column), decorated, with a syntax error -- give what a walk that keeps nothing gives."""
    from skillforge.analyze.entities import run_walk
    from skillforge.analyze.lang import python as py

    rng = random.Random(5)
    methods = [b"def size(self):\n    return 1", b"@property\ndef name(self):\n    return 'x'",
               b"async def fetch(self):\n    def inner():\n        return 2\n    return inner()",
               b"@staticmethod\ndef make():\n    class Local:\n        pass\n    return Local",
               b"def broken(self:\n    pass", b"class Inner:\n    def size(self):\n        return 1",
               b"x = 1", b"def size(self):\n    return 2"]

    def body(indent: bytes) -> bytes:
        picked = [rng.choice(methods) for _ in range(rng.randint(1, 6))]
        return b"\n\n".join(b"\n".join(indent + line for line in m.split(b"\n")) for m in picked)

    memo = py._StatementMemo(max_entities=64)
    monkeypatch.setattr(py, "_STATEMENTS", memo)
    shared = 0
    for _ in range(150):
        classes = [b"class %s:\n%s" % (name, body(b"    ")) for name in rng.sample([b"A", b"B", b"C"], rng.randint(1, 3))]
        if rng.random() < 0.3:
            classes.append(b"class Outer:\n    class Nested:\n" + body(b"        "))
        source = b"import os\n\n\n" + b"\n\n\n".join(classes) + b"\n"
        tree = py.parse(source)
        walked: list = []
        run_walk(py._walk_entities(tree.root_node, [], None, walked, True, None))  # no source: nothing kept
        got = py.entities(tree)
        assert got == walked, source
        shared += sum(a is b for a, b in zip(got, py.entities(tree)))
    assert shared > 100, shared


SETTLE = b'''import os
import sys


class Box:
    """A box."""

    size = 1

    def area(self):
        """Its area."""
        total = self.size
        if total:
            return total ** 2

    @property
    def name(self):
        # the name
        return "box"
'''


@pytest.mark.parametrize("row,floor,expected", [
    (3, 0, 1),  # blank lines before the class: back to the import above them
    (4, 0, 1),  # the class line
    (5, 0, 1),  # the class's first statement (its docstring): back past the class line too
    (7, 0, 7),  # `size = 1`: indented as the docstring before it
    (9, 0, 7),  # the method line (a definition starts there)
    (11, 0, 11),  # the method's second statement
    (13, 0, 12),  # `return` opens the `if` block: back to `if`, indented as the line before it
    (15, 0, 12),  # the decorator, after a blank line
    (17, 0, 12),  # a comment opening the method's body
    (18, 0, 12),  # the method's first statement, after that comment
    (9, 8, 9),  # nothing settled below the hunk above: where the hunk starts
    (1, 0, 1),  # `import sys` follows `import os`
    (0, 0, 0),  # the first line: nothing above
])
def test_an_edit_starts_on_a_settled_line(row, floor, expected):
    """Python edits start on a code line indented as the code line before it and beginning no
    definition (tree-sitter reuses what follows an edit that starts there)."""
    from skillforge.analyze import _settled_row

    assert _settled_row(SETTLE, _newlines(SETTLE), row, floor) == expected


@pytest.mark.parametrize("path,data", [(p, d) for p, d in SOURCES if p.endswith(".py")],
                         ids=[f"{p}-{len(d)}" for p, d in SOURCES if p.endswith(".py")])
def test_incremental_from_the_hunks_equals_a_parse_from_scratch(path, data):
    """The new side parsed from the old tree and the diff's hunks, each edit starting where the hunk
    does or on a settled line above it (with 0, 1 and 3 lines of context): the tree and the entities of
    a parse from scratch."""
    from skillforge.analyze import _edited
    from skillforge.analyze.patch import parse_patch
    from skillforge.analyze.textdiff import file_diff

    adapter = adapter_for(path)
    parser = adapter.parser()
    old = _Parsed(parser.parse(data), adapter.entities, data=data)
    rng = random.Random(path)
    checked = 0
    for new in _edits(data, rng):
        for context in (0, 1, 3):
            (fd,) = parse_patch(file_diff(path, data.decode(), new.decode(), context=context))
            full = parser.parse(new)
            for settle in (False, True):
                edited = _edited((old, data, fd), len(new), settle)
                if any(line.startswith("\\") for hunk in fd.hunks for line in hunk):
                    assert edited is None  # "\ No newline at end of file": parsed from scratch
                    continue
                assert edited is not None
                incremental = parser.parse(new, edited)
                assert str(incremental.root_node) == str(full.root_node), (context, settle)
                assert adapter.entities(incremental) == adapter.entities(full)
                checked += 1
    assert checked


def test_a_moved_entity_is_what_replace_gives():
    """``Entity.moved`` (the statement memo's move) gives ``dataclasses.replace`` of the three line
    fields, every other field as it was, and leaves the entity it moves as it was."""
    import dataclasses

    from skillforge.analyze.entities import Entity

    rng = random.Random(11)
    for _ in range(200):
        start = rng.randint(1, 500)
        e = Entity(f"C{rng.randrange(9)}.f", "f", rng.choice(["method", "class", "variable"]), start,
                   start + rng.randint(0, 40), start + rng.randint(0, 2), tuple(rng.sample(["a", "b", "c"], 2)),
                   rng.choice([None, "C"]), f"{rng.getrandbits(64):x}", rng.random() < 0.5)
        before = dataclasses.astuple(e)
        rows = rng.randint(-start + 1, 300)
        got = e.moved(rows)
        want = dataclasses.replace(e, start_line=e.start_line + rows, end_line=e.end_line + rows,
                                   def_line=e.def_line + rows)
        assert got == want and hash(got) == hash(want) and repr(got) == repr(want)
        assert [getattr(got, f.name) for f in dataclasses.fields(Entity)] == \
            [getattr(want, f.name) for f in dataclasses.fields(Entity)]
        assert dataclasses.astuple(e) == before
        with pytest.raises(dataclasses.FrozenInstanceError):
            got.start_line = 0


def test_a_version_whose_key_another_holds_is_parsed_as_itself():
    """Versions are kept by language, size and Python's hash of their bytes, and the bytes are compared
    on a hit: a version whose key another version holds (a hash collision) is parsed, not given the
    other's tree."""
    from skillforge.analyze import _adapter

    cache = _ParseCache()
    a, b = b"def f():\n    return 1\n", b"def g():\n    return 2\n"
    assert len(a) == len(b)
    first = cache.get("m.py", a)
    assert cache.get("m.py", a) is first  # a hit
    cache._items[(_adapter("m.py").name, len(b), hash(b))] = first  # as if a's bytes hashed as b's do
    got = cache.get("m.py", b)
    assert got is not first and got.data == b and [e.name for e in got.entities] == ["g"]
    assert cache.get("m.py", b) is got


def test_a_versions_tests_are_kept_by_module_path_and_configuration():
    """A parsed version keeps its tests per module path and pytest configuration: a test module renamed,
    or read under another configuration, names its own tests (the list kept is the one given again)."""
    from skillforge.analyze.lang.python import test_items
    from skillforge.analyze.split import TestConfig

    source = b"def test_one():\n    pass\n\n\ndef check_two():\n    pass\n\n\nclass TestBox:\n    def test_three(self):\n        pass\n"
    parsed = _ParseCache().get("tests/test_box.py", source)
    default, checks = TestConfig(), TestConfig(python_functions=("check",))
    first = parsed.test_items("tests/test_box.py", default)
    assert [t.nodeid for t in first] == ["tests/test_box.py::test_one", "tests/test_box.py::TestBox::test_three"]
    assert parsed.test_items("tests/test_box.py", default) is first
    assert [t.nodeid for t in parsed.test_items("tests/test_moved.py", default)] == [
        "tests/test_moved.py::test_one", "tests/test_moved.py::TestBox::test_three"]
    assert [t.nodeid for t in parsed.test_items("tests/test_box.py", checks)] == ["tests/test_box.py::check_two"]
    for path, config in (("tests/test_box.py", default), ("tests/test_moved.py", default), ("tests/test_box.py", checks)):
        assert parsed.test_items(path, config) == test_items(path, source, config)

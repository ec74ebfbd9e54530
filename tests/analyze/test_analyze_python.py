"""tree-sitter entities, touched entities and pytest node ids."""

from __future__ import annotations

import textwrap

import pytest

from skillforge.analyze.lang.python import entities, module_name, parse, test_functions, test_items, touched_entities
from skillforge.analyze.split import TestConfig

SOURCE = textwrap.dedent(
    '''\
    """Module docstring."""
    import functools
    from typing import TYPE_CHECKING

    TIMEOUT = 30
    RETRIES: int = 3
    a, (b, c) = 1, (2, 3)
    __all__ = ["Client"]
    __all__ += ["helper"]
    type Alias = list[int]
    obj.attr = 1

    if TYPE_CHECKING:
        from collections.abc import Iterator

    try:
        import ujson as json
    except ImportError:
        import json
        HAVE_UJSON = False


    @functools.lru_cache(maxsize=None)
    @other
    def helper(x):
        def inner(y):
            def innermost():
                return y
            return innermost()
        return inner(x)


    class Client:
        """A client."""

        retries = 3

        class Options:
            verbose = False

            def merged(self, other):
                return other

        def __init__(self, url):
            self.url = url

        @property
        def host(self):
            return self.url.split("/")[2]

        @host.setter
        def host(self, value):
            self.url = value

        @classmethod
        def from_env(cls):
            return cls("http://localhost")

        @staticmethod
        def version():
            return 1

        async def fetch(self, path):
            return path

        def run(self):
            class Local:
                def go(self):
                    return 1
            return Local().go()


    async def main():
        async with Client("x") as c:
            await c.fetch("/")


    if __name__ == "__main__":
        main()
    '''
)


def _by_qual(src: str = SOURCE):
    out: dict[str, list] = {}
    for e in entities(src.encode()):
        out.setdefault(e.qualname, []).append(e)
    return out


def test_qualnames_and_kinds():
    ents = _by_qual()
    kinds = {q: [e.kind for e in es] for q, es in ents.items()}
    assert kinds == {
        "TIMEOUT": ["variable"],
        "RETRIES": ["variable"],
        "a": ["variable"],
        "b": ["variable"],
        "c": ["variable"],
        "__all__": ["variable", "variable"],
        "Alias": ["variable"],
        "HAVE_UJSON": ["variable"],
        "helper": ["function"],
        "helper.inner": ["function"],
        "helper.inner.innermost": ["function"],
        "Client": ["class"],
        "Client.Options": ["class"],
        "Client.Options.merged": ["method"],
        "Client.__init__": ["method"],
        "Client.host": ["property", "property"],
        "Client.from_env": ["classmethod"],
        "Client.version": ["staticmethod"],
        "Client.fetch": ["async_method"],
        "Client.run": ["method"],
        "Client.run.Local": ["class"],
        "Client.run.Local.go": ["method"],
        "main": ["async_function"],
    }


def test_lines_include_decorators():
    ents = _by_qual()
    helper = ents["helper"][0]
    lines = SOURCE.splitlines()
    assert lines[helper.start_line - 1].startswith("@functools.lru_cache")
    assert lines[helper.def_line - 1].startswith("def helper")
    assert lines[helper.end_line - 1].strip() == "return inner(x)"
    assert helper.decorators == ("functools.lru_cache(maxsize=None)", "other")
    getter, setter = ents["Client.host"]
    assert lines[getter.start_line - 1].strip() == "@property"
    assert lines[setter.start_line - 1].strip() == "@host.setter"
    assert ents["Client.host"][0].parent == "Client"
    assert ents["helper.inner.innermost"][0].parent == "helper.inner"


def _lines_of(src: str, needle: str) -> list[int]:
    return [k for k, line in enumerate(src.splitlines(), 1) if needle in line]


def test_touched_maps_to_innermost_entity():
    new = SOURCE.replace("return y", "return y + 1").replace("return 1\n    \n", "return 2\n")
    new = new.replace("self.url = value", "self.url = str(value)")
    old_lines = _lines_of(SOURCE, "return y") + _lines_of(SOURCE, "self.url = value")
    new_lines = _lines_of(new, "return y + 1") + _lines_of(new, "self.url = str(value)")
    res = touched_entities("m.py", SOURCE, new, old_lines, new_lines)
    assert res.modified == ["m.py::helper.inner.innermost", "m.py::Client.host"]
    assert res.added == [] and res.removed == [] and res.module_level is False


def test_decorator_line_belongs_to_the_function():
    new = SOURCE.replace("@other\n", "@other(1)\n")
    res = touched_entities("m.py", SOURCE, new, _lines_of(SOURCE, "@other"), _lines_of(new, "@other(1)"))
    assert res.modified == ["m.py::helper"]


def test_module_level_changes():
    new = SOURCE.replace("import functools\n", "import functools\nimport os\n")
    res = touched_entities("m.py", SOURCE, new, [], _lines_of(new, "import os"))
    assert res.module_level and res.entities == []
    new = SOURCE.replace("TIMEOUT = 30", "TIMEOUT = 60")
    res = touched_entities("m.py", SOURCE, new, _lines_of(SOURCE, "TIMEOUT = 30"), _lines_of(new, "TIMEOUT = 60"))
    assert res.modified == ["m.py::TIMEOUT"] and not res.module_level
    new = SOURCE.replace("    HAVE_UJSON = False", "    HAVE_UJSON = None")
    res = touched_entities("m.py", SOURCE, new, _lines_of(SOURCE, "HAVE_UJSON"), _lines_of(new, "HAVE_UJSON"))
    assert res.modified == ["m.py::HAVE_UJSON"]


def test_class_body_change_names_the_class():
    new = SOURCE.replace("    retries = 3", "    retries = 5")
    res = touched_entities("m.py", SOURCE, new, _lines_of(SOURCE, "retries = 3"), _lines_of(new, "retries = 5"))
    assert res.modified == ["m.py::Client"]


def test_blank_lines_are_ignored():
    new = SOURCE.replace("class Client:\n", "\nclass Client:\n")
    line = _lines_of(new, "class Client:")[0] - 1
    res = touched_entities("m.py", SOURCE, new, [], [line])
    assert res.entities == [] and not res.module_level


def test_added_and_removed():
    new = SOURCE.replace(
        "    @staticmethod\n    def version():\n        return 1\n",
        "    def close(self):\n        pass\n",
    )
    old_lines = list(range(_lines_of(SOURCE, "@staticmethod")[0], _lines_of(SOURCE, "def version")[0] + 2))
    new_lines = list(range(_lines_of(new, "def close")[0], _lines_of(new, "def close")[0] + 2))
    res = touched_entities("m.py", SOURCE, new, old_lines, new_lines)
    assert res.added == ["m.py::Client.close"]
    assert res.removed == ["m.py::Client.version"]
    assert res.modified == []
    assert res.entities == ["m.py::Client.close", "m.py::Client.version"]


def test_new_and_deleted_files():
    res = touched_entities("m.py", None, "def f():\n    pass\n\nX = 1\n", [], [1, 2, 4])
    assert res.added == ["m.py::f", "m.py::X"] and res.removed == []
    res = touched_entities("m.py", "def f():\n    pass\n", None, [1, 2], [])
    assert res.removed == ["m.py::f"] and res.added == []


def test_realigned_but_identical_function_is_not_modified():
    old = "def a():\n    return 1\n"
    new = "def b():\n    return 1\n\n\ndef a():\n    return 1\n"
    # a diff that aligned "def a" with "def b" and re-added "def a" below
    res = touched_entities("m.py", old, new, [1], [1, 2, 3, 4, 5])
    assert res.added == ["m.py::b"] and res.modified == []


# --------------------------------------------------------------------------- tests


TESTS = textwrap.dedent(
    '''\
    import unittest

    import pytest


    @pytest.fixture
    def test_data():
        return 1


    def test_plain():
        pass


    async def test_async():
        pass


    @pytest.mark.parametrize("x", [1, 2])
    def test_param(x):
        pass


    def helper_test():
        pass


    class TestThing:
        def setup_method(self, method):
            pass

        def test_one(self):
            pass

        def helper(self):
            pass

        class TestNested:
            def test_deep(self):
                pass


    class TestWithInit:
        def __init__(self):
            pass

        def test_never(self):
            pass


    class TestChild(TestThing):
        def test_two(self):
            pass


    class MyCase(unittest.TestCase):
        def setUp(self):
            pass

        def test_u(self):
            pass

        def testCamel(self):
            pass


    class Derived(MyCase):
        def test_v(self):
            pass


    class TestDisabled:
        __test__ = False

        def test_skip(self):
            pass


    class Helper:
        def test_not_collected(self):
            pass


    if True:
        def test_conditional():
            pass
    '''
)


def test_test_functions_follow_pytest_rules():
    assert test_functions("tests/test_x.py", TESTS) == [
        "tests/test_x.py::test_plain",
        "tests/test_x.py::test_async",
        "tests/test_x.py::test_param",
        "tests/test_x.py::TestThing::test_one",
        "tests/test_x.py::TestThing::TestNested::test_deep",
        "tests/test_x.py::TestChild::test_one",  # inherited
        "tests/test_x.py::TestChild::test_two",
        "tests/test_x.py::TestChild::TestNested::test_deep",
        "tests/test_x.py::MyCase::testCamel",  # unittest sorts by name
        "tests/test_x.py::MyCase::test_u",
        "tests/test_x.py::Derived::testCamel",
        "tests/test_x.py::Derived::test_u",
        "tests/test_x.py::Derived::test_v",
        "tests/test_x.py::test_conditional",
    ]


def test_test_items_carry_lines_and_owner():
    items = {t.nodeid.split("::", 1)[1]: t for t in test_items("t.py", TESTS)}
    child = items["TestChild::test_one"]
    assert child.class_qualname == "TestChild" and child.defined_in == "TestThing"
    assert items["test_async"].is_async
    assert items["MyCase::test_u"].unittest and not items["TestThing::test_one"].unittest
    lines = TESTS.splitlines()
    assert lines[items["test_param"].start_line - 1].startswith("@pytest.mark.parametrize")


def test_test_functions_with_configured_prefixes():
    src = "def check_a():\n    pass\n\n\ndef test_b():\n    pass\n\n\nclass CheckX:\n    def check_y(self):\n        pass\n"
    cfg = TestConfig(python_functions=("check_",), python_classes=("Check",))
    assert test_functions("t.py", src, cfg) == ["t.py::check_a", "t.py::CheckX::check_y"]
    cfg = TestConfig(python_functions=("*_check",), python_classes=("Test",))
    assert test_functions("t.py", "def a_check():\n    pass\n", cfg) == ["t.py::a_check"]


@pytest.mark.parametrize(
    "path,files,expected",
    [
        ("src/pkg/mod.py", None, "pkg.mod"),
        ("src/pkg/__init__.py", None, "pkg"),
        ("pkg/sub/mod.py", ["pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/mod.py"], "pkg.sub.mod"),
        ("src/pkg/mod.py", ["src/pkg/__init__.py", "src/pkg/mod.py"], "pkg.mod"),
        ("lib/python/pkg/mod.py", ["lib/python/pkg/__init__.py"], "pkg.mod"),
        ("src/ns/pkg/mod.py", ["src/ns/pkg/__init__.py"], "pkg.mod"),
        ("src/ns/mod.py", ["src/x.py"], "ns.mod"),  # namespace package in src/
        ("setup.py", [], "setup"),
        ("pkg/stubs.pyi", ["pkg/__init__.py"], "pkg.stubs"),
        ("README.md", [], None),
    ],
)
def test_module_name(path, files, expected):
    assert module_name(path, files) == expected


def test_parse_accepts_text_and_bytes():
    assert parse("x = 1\n").root_node.type == "module"
    assert parse(b"x = 1\n").root_node.type == "module"

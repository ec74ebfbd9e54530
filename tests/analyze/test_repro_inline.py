"""Fixtures and parametrize cases inlined into reproduction scripts: every script
here runs with plain ``python`` against a real project, once with the bug
(must exit 1) and once with the fix (must exit 0)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from skillforge.analyze.repro import NotStandalone, synthesize_script
from skillforge.analyze.repro.parametrize import _unique

FIXED = textwrap.dedent(
    '''\
    """A small shopping cart."""
    import os


    class Cart:
        def __init__(self, currency="EUR"):
            self.items = []
            self.currency = os.environ.get("SHOP_CURRENCY", currency)

        def add(self, name, price, qty=1):
            self.items.append((name, price, qty))

        def total(self):
            return sum(price * qty for _, price, qty in self.items)

        def save(self, path):
            path.write_text("\\n".join(f"{n},{p},{q}" for n, p, q in self.items))

        def report(self):
            print(f"{len(self.items)} items, total {self.total()} {self.currency}")


    def bulk_discount(qty):
        return 10 if qty >= 10 else 0
    '''
)
BUGGY = FIXED.replace("sum(price * qty for", "sum(price for").replace("qty >= 10", "qty > 10")

ROOT_CONFTEST = textwrap.dedent(
    '''\
    import pytest

    collect_ignore = ["setup.py"]


    @pytest.fixture(autouse=True)
    def _currency(monkeypatch):
        monkeypatch.setenv("SHOP_CURRENCY", "USD")
    '''
)

TESTS_CONFTEST = textwrap.dedent(
    '''\
    import json

    import pytest

    from shop.cart import Cart

    pytest_plugins = ["this_plugin_does_not_exist"]


    @pytest.fixture
    def cart():
        c = Cart()
        c.add("apple", 3, qty=2)
        return c


    @pytest.fixture(name="catalog")
    def catalog_fixture(tmp_path):
        path = tmp_path / "catalog.json"
        path.write_text(json.dumps({"apple": 3, "pear": 5}))
        return path


    @pytest.fixture
    def ledger():
        entries = []
        yield entries
        print(f"ledger closed with {entries}")


    @pytest.fixture(params=[1, 2])
    def numbered(request):
        return request.param
    '''
)

TEST_MODULE = textwrap.dedent(
    '''\
    import json

    import pytest

    from shop.cart import Cart, bulk_discount

    LIMITS = [(9, 0), (10, 10), (11, 10)]
    PAIRS = list(zip([10, 11], [10, 10]))


    @pytest.fixture
    def cart(cart):
        cart.add("pear", 5)
        return cart


    def test_total(cart):
        assert cart.total() == 11


    def test_total_from_catalog(catalog, ledger):
        ledger.append("read")
        prices = json.loads(catalog.read_text())
        c = Cart()
        c.add("apple", prices["apple"], qty=3)
        assert c.total() == 9


    def test_currency_and_total():
        c = Cart()
        c.add("x", 2, qty=2)
        assert (c.currency, c.total()) == ("USD", 4)


    def test_report(cart, capsys):
        cart.report()
        assert capsys.readouterr().out == "2 items, total 11 USD\\n"


    @pytest.mark.usefixtures("ledger")
    def test_save(tmp_path_factory):
        folder = tmp_path_factory.mktemp("carts")
        c = Cart()
        c.add("a", 1, qty=4)
        c.save(folder / "c.csv")
        assert (folder / "c.csv").read_text() == "a,1,4" and c.total() == 4


    @pytest.mark.parametrize("qty, discount", [(9, 0), (10, 10), pytest.param(11, 10, id="above")])
    def test_discount(qty, discount):
        assert bulk_discount(qty) == discount


    @pytest.mark.parametrize("qty", [10, 20])
    @pytest.mark.parametrize("name", ["apple", "pear"])
    def test_stacked(name, qty, cart):
        cart.add(name, 1, qty=qty)
        assert bulk_discount(qty) == 10 and cart.total() == 11 + qty


    @pytest.mark.parametrize("qty,discount", LIMITS, ids=["below", "at", "beyond"])
    def test_limits(qty, discount):
        assert bulk_discount(qty) == discount


    @pytest.mark.parametrize("item", [Cart(), {"qty": 10}])
    def test_objects(item):
        assert bulk_discount(10 if isinstance(item, Cart) else item["qty"]) == 10


    @pytest.mark.parametrize("qty", ["10", "10"])
    def test_duplicates(qty):
        assert bulk_discount(int(qty)) == 10


    @pytest.mark.parametrize("qty,discount", PAIRS)
    def test_computed(qty, discount):
        assert bulk_discount(qty) == discount


    def test_numbered(numbered):
        assert numbered


    def test_needs_request(request):
        assert request


    class TestCart:
        @pytest.fixture
        def big_cart(self, cart):
            cart.add("melon", 2, qty=10)
            return cart

        def test_big(self, big_cart):
            assert big_cart.total() == 31


    @pytest.mark.parametrize("qty", [10, 12])
    class TestParametrizedClass:
        def test_qty(self, qty):
            assert bulk_discount(qty) == 10
    '''
)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shop")
    (root / "src" / "shop").mkdir(parents=True)
    (root / "src" / "shop" / "__init__.py").write_text("")
    (root / "src" / "shop" / "cart.py").write_text(BUGGY)
    (root / "tests").mkdir()
    (root / "conftest.py").write_text(ROOT_CONFTEST)
    (root / "tests" / "conftest.py").write_text(TESTS_CONFTEST)
    (root / "tests" / "test_cart.py").write_text(TEST_MODULE)
    return root


def _files(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]


def _synthesize(root: Path, nodeid: str) -> str:
    def read(path: str) -> str | None:
        p = root / path
        return p.read_text() if p.is_file() else None

    return synthesize_script((root / "tests" / "test_cart.py").read_text(), nodeid, test_path="tests/test_cart.py",
                             extra_sys_path=["src"], repo_files=_files(root), read_file=read)


def _run(root: Path, text: str, tmp_path: Path, fixed: bool) -> subprocess.CompletedProcess:
    (root / "src" / "shop" / "cart.py").write_text(FIXED if fixed else BUGGY)
    script = tmp_path / "repro.py"
    script.write_text(text)
    return subprocess.run([sys.executable, str(script)], cwd=root, capture_output=True, text=True, timeout=60)


REPRODUCING = [
    "test_total",  # a conftest fixture extended by a module fixture of the same name
    "test_total_from_catalog",  # a named fixture using tmp_path, a yield fixture
    "test_currency_and_total",  # an autouse fixture (root conftest) using monkeypatch
    "test_report",  # capsys
    "test_save",  # usefixtures + tmp_path_factory
    "test_discount[10-10]",  # auto ids
    "test_discount",  # no case id: every case runs
    "test_stacked[pear-10]",  # the innermost decorator's id comes first
    "test_limits[at]",  # explicit ids, values from a module-level name
    "test_objects[item0]",  # objects are named argname + index
    "test_duplicates[10_1]",  # duplicate ids suffixed as pytest 8 does
    "TestCart::test_big",  # a class fixture method using a module fixture
    "TestParametrizedClass::test_qty[10]",  # parametrize on the class
]


@pytest.mark.parametrize("nodeid", REPRODUCING)
def test_script_fails_with_the_bug_and_passes_with_the_fix(project, tmp_path, nodeid):
    text = _synthesize(project, f"tests/test_cart.py::{nodeid}")
    compile(text, "repro.py", "exec")
    before = _run(project, text, tmp_path, fixed=False)
    assert before.returncode == 1, before.stdout + before.stderr
    assert any(line.startswith("REPRODUCED: ") for line in before.stdout.splitlines()), before.stdout
    after = _run(project, text, tmp_path, fixed=True)
    assert after.returncode == 0, after.stdout + after.stderr
    assert after.stdout.strip().endswith("NOT REPRODUCED")


@pytest.mark.parametrize("nodeid", ["test_discount[9-0]", "test_discount[above]", "test_limits[below]",
                                    "TestParametrizedClass::test_qty[12]"])
def test_the_selected_case_is_the_one_that_runs(project, tmp_path, nodeid):
    # these cases hold with the bug too: a script running another case would fail
    text = _synthesize(project, f"tests/test_cart.py::{nodeid}")
    assert _run(project, text, tmp_path, fixed=False).returncode == 0


def test_yield_fixture_is_torn_down_after_the_test(project, tmp_path):
    text = _synthesize(project, "tests/test_cart.py::test_total_from_catalog")
    out = _run(project, text, tmp_path, fixed=False).stdout
    assert out.index("ledger closed with ['read']") < out.index("REPRODUCED: AssertionError")
    assert "assert c.total() == 9" in out  # a bare assert is reported by its line
    out = _run(project, text, tmp_path, fixed=True).stdout
    assert out.splitlines() == ["ledger closed with ['read']", "NOT REPRODUCED"]


def test_script_shape(project):
    text = _synthesize(project, "tests/test_cart.py::test_total")
    assert "@pytest.fixture" not in text  # fixtures are plain functions in the script
    assert "# from tests/conftest.py" in text and "# from conftest.py" in text
    assert "pytest_plugins" not in text and "collect_ignore" not in text and "def numbered" not in text
    # the module's cart extends the conftest's: the conftest's function is renamed, set up first and passed on
    assert "def _sf_tests_conftest_cart():" in text
    assert "_sf_fx_cart = _sf_fixture(_sf_stack, _sf_tests_conftest_cart)" in text
    assert "_sf_fx_cart_0 = _sf_fixture(_sf_stack, cart, cart=_sf_fx_cart)" in text
    assert "test_total(cart=_sf_fx_cart_0)" in text
    # the autouse fixture of the root conftest comes first, with the built-in monkeypatch
    assert text.index("_sf_monkeypatch(_sf_stack)") < text.index("_sf_fixture(_sf_stack, _currency,")
    text = _synthesize(project, "tests/test_cart.py::test_discount[above]")
    assert "@pytest.mark.parametrize" not in text
    assert "_sf_p_qty = 11" in text and "_sf_p_discount = 10" in text
    assert "test_discount(qty=_sf_p_qty, discount=_sf_p_discount)" in text


def test_a_helper_both_modules_define_differently_is_refused():
    conftest = "import pytest\n\n\ndef make():\n    return 1\n\n\n@pytest.fixture\ndef one():\n    return make()\n"
    module = "def make():\n    return 2\n\n\ndef test_x(one):\n    assert one == make()\n"
    with pytest.raises(NotStandalone, match="both define 'make'"):
        synthesize_script(module, "tests/test_a.py::test_x", test_path="tests/test_a.py",
                          read_file=lambda p: conftest if p == "tests/conftest.py" else None)


@pytest.mark.parametrize(
    "nodeid,reason",
    [
        ("test_numbered", "parametrized"),
        ("test_needs_request", "request"),
        ("test_computed[10-10]", "not a literal list"),
        ("test_discount[nope]", "no parametrize case has this id"),
        ("test_total[x]", "not parametrized"),
    ],
)
def test_not_standalone(project, nodeid, reason):
    with pytest.raises(NotStandalone, match=reason):
        _synthesize(project, f"tests/test_cart.py::{nodeid}")


def test_unknown_fixture_and_conftest_file_use_are_refused(tmp_path):
    src = "def test_x(db):\n    assert db\n"
    with pytest.raises(NotStandalone, match="fixture 'db'"):
        synthesize_script(src, "tests/test_a.py::test_x", test_path="tests/test_a.py", read_file=lambda p: None)
    conftest = "import pathlib\nimport pytest\n\n\n@pytest.fixture\ndef here():\n    return pathlib.Path(__file__)\n"
    with pytest.raises(NotStandalone, match="__file__"):
        synthesize_script("def test_x(here):\n    assert here\n", "tests/unit/test_a.py::test_x",
                          test_path="tests/unit/test_a.py",
                          read_file=lambda p: conftest if p == "tests/conftest.py" else None)


def test_duplicate_id_suffixes_of_pytest_8_and_7():
    assert _unique(["1", "1", "a", "a", None], legacy=False) == ["1_0", "1_1", "a0", "a1", None]
    assert _unique(["1", "1", "a", "a", None], legacy=True) == ["10", "11", "a0", "a1", None]
    assert _unique(["a0", "a", "a"], legacy=False) == ["a0", "a1", "a2"]  # a suffix never repeats an id

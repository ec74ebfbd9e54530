"""Localization labels for JavaScript/TypeScript, Go, Java and Rust (tree-sitter adapters),
the code/test split by those runners' conventions, and the golden cases
storefront_ts, inventory_go, billing_java, ledger_rs and catalog_moves
(tests/fixtures/analyze/<case>/, regenerate with tests/analyze/build_fixtures.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from skillforge.analyze import analyze_change_labels
from skillforge.analyze.lang import GrammarMissing, JavaAdapter, adapter_for, language_entities
from skillforge.analyze.split import TestConfig, classify, is_language_test_file


def _load_builder():
    path = Path(__file__).resolve().parent / "build_fixtures.py"
    spec = importlib.util.spec_from_file_location("skillforge_analyze_build_fixtures_lang", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()
CASES = [c.name for c in builder.cases()]


def _patch(name: str) -> str:
    return (builder.FIXTURES / name / "change.patch").read_bytes().decode("utf-8", "surrogateescape")


def _golden(name: str) -> dict:
    return json.loads((builder.FIXTURES / name / "expected.json").read_text(encoding="utf-8"))


def _names(path: str, src: str) -> dict[str, str]:
    return {e.qualname: e.kind for e in language_entities(path, src)}


@pytest.mark.parametrize("name", CASES)
def test_full_labels_match_golden(name):
    """trivial and test_entities, beside the Analysis fields test_analyze_golden compares."""
    got = builder.labels_json(builder.labels_case(builder.FIXTURES / name, _patch(name)))
    want = _golden(name)
    for key in want:
        assert got[key] == want[key], key


# --------------------------------------------------------------------------- golden cases, by hand


def test_storefront_ts_labels_by_hand():
    a = _golden("storefront_ts")
    assert a["files"] == ["package.json", "src/cart.ts", "src/components/Price.tsx", "src/format.js", "src/lib/money.ts"]
    assert set(a["entities"]) == {
        "src/cart.ts::CartItem",  # an interface gained a field
        "src/cart.ts::Cart.total",  # a decorated method
        "src/cart.ts::Cart.lineCents",  # added
        "src/cart.ts::emptyCart",  # arrow function assigned to a const
        "src/cart.ts::legacyTotal",  # removed
        "src/format.js::SYMBOLS",  # module-level const
        "src/format.js::Formatter.price",  # Formatter.prototype.price = function
        "src/lib/money.ts::toCents",  # in a moved file: the new path
    }
    assert "src/cart.ts::Cart" not in a["entities"]  # only its members changed
    assert a["added_entities"] == ["src/cart.ts::Cart.lineCents"]
    assert a["removed_entities"] == ["src/cart.ts::legacyTotal"]
    # Price.tsx changed only an import: the file, no entity
    assert not [e for e in a["entities"] if e.startswith("src/components/")]
    assert a["test_files"] == ["src/__tests__/cart.test.ts", "src/format.test.js"]
    kinds = {c["path"]: (c["kind"], c["status"], c["old_path"]) for c in a["changes"]}
    assert kinds["CHANGELOG.md"] == ("doc", "added", None)
    assert kinds["src/lib/money.ts"] == ("code", "renamed", "src/util/money.ts")
    assert a["test_functions"] == []  # pytest node ids only; Jest tests are not pytest's
    assert a["modules"] == []


def test_inventory_go_labels_by_hand():
    a = _golden("inventory_go")
    assert a["files"] == ["internal/lru/lru.go", "store/store.go"]
    assert set(a["entities"]) == {
        "internal/lru/lru.go::List.Push",  # method of a generic type, pointer receiver
        "store/store.go::MaxQuantity",  # a const inside a const ( ... ) group
        "store/store.go::Store",  # a struct field was added
        "store/store.go::New",
        "store/store.go::Store.Get",
        "store/store.go::Store.Available",  # added method
        "store/store.go::Reader.Available",  # added interface method
    }
    assert a["added_entities"] == ["store/store.go::Reader.Available", "store/store.go::Store.Available"]
    assert "store/store.go::DefaultCapacity" not in a["entities"]
    assert a["test_files"] == ["store/store_test.go", "store/testdata/skus.json"]


def test_billing_java_labels_by_hand():
    a = _golden("billing_java")
    assert a["files"] == ["src/main/java/com/acme/billing/Invoice.java"]
    assert a["entities"] == [
        "src/main/java/com/acme/billing/Invoice.java::Invoice",  # a field initialiser changed
        "src/main/java/com/acme/billing/Invoice.java::Invoice.Invoice",  # the constructor
        "src/main/java/com/acme/billing/Invoice.java::Invoice.total",  # changed, and an overload added
    ]
    assert a["test_files"] == ["src/test/java/com/acme/billing/InvoiceTest.java"]
    assert "pom.xml" not in a["files"]  # unchanged: the version did not move


def test_ledger_rs_labels_by_hand():
    a = _golden("ledger_rs")
    assert set(a["entities"]) == {
        "src/money.rs::Money",  # its #[derive] attribute changed
        "src/money.rs::Money.checked_add",  # added to `impl Money`
        "src/money.rs::Money.add",  # `impl Add for Money`
        "src/money.rs::Money.fmt",  # `impl fmt::Display for Money`
        "src/parse.rs::ParseError",  # a variant added
        "src/parse.rs::parse_amount",
    }
    assert a["added_entities"] == ["src/money.rs::Money.checked_add"]
    # the unit test added inside `#[cfg(test)] mod tests` is a test, and the file stays code
    assert a["test_entities"] == ["src/money.rs::tests.displays_negative_amounts"]
    assert not [e for e in a["entities"] if "::tests" in e]
    assert a["files"] == ["src/money.rs", "src/parse.rs"]
    assert a["test_files"] == ["tests/parse.rs"]


def test_catalog_moves_labels_by_hand():
    """A module moved to another package with changes; decorators, properties, async, module code."""
    a = _golden("catalog_moves")
    assert a["files"] == ["src/catalog/api.py", "src/catalog/utils/text.py"]
    assert set(a["entities"]) == {
        "src/catalog/api.py::Item.price",  # the property's setter
        "src/catalog/api.py::list_items",  # only its decorator's arguments changed
        "src/catalog/api.py::fetch_item",  # async def
        "src/catalog/utils/text.py::slugify",  # modified in the moved file: new path
        "src/catalog/utils/text.py::Normalizer",  # class attribute changed: the class
        "src/catalog/utils/text.py::truncate",  # added: new path
        "src/catalog/helpers.py::titlecase",  # removed from the moved file: old path
    }
    assert a["removed_entities"] == ["src/catalog/helpers.py::titlecase"]
    assert a["added_entities"] == ["src/catalog/utils/text.py::truncate"]
    assert "src/catalog/utils/text.py::Normalizer.__call__" not in a["entities"]
    # the import and logging.basicConfig changes are module-level: the module, no entity
    assert a["modules"] == ["catalog.api", "catalog.utils.text"]
    renamed = {c["path"]: c["old_path"] for c in a["changes"] if c["status"] == "renamed"}
    assert renamed == {"src/catalog/utils/text.py": "src/catalog/helpers.py"}


# --------------------------------------------------------------------------- entities per language


def test_javascript_entities():
    src = """
@sealed
export class Store extends Base {
  @observable items = [];
  handle = () => { return 1; };
  static async *stream() {}
  get size() { return this.items.length; }
  set size(v) {}
  #secret() { function helper() {} }
}
export const load = async (url) => fetch(url);
const LIMIT = 10, options = { retry: () => 2 };
module.exports.save = function (x) {};
Store.prototype.legacy = function () {};
describe("suite", () => { const local = () => 1; });
(function () { var hidden = 1; })();
"""
    got = _names("src/store.js", src)
    assert got == {
        "Store": "class", "Store.handle": "method", "Store.stream": "staticmethod", "Store.size": "property",
        "Store.#secret": "method", "Store.#secret.helper": "function", "load": "async_function",
        "LIMIT": "variable", "options": "variable", "save": "function", "Store.legacy": "method",
        "local": "function",
    }
    ents = {e.qualname: e for e in language_entities("src/store.js", src)}
    assert ents["Store"].start_line == 2  # the decorator is part of the class


def test_typescript_entities():
    src = """
export interface Shape { area(): number; name: string }
export abstract class Base<T> implements Shape {
  abstract area(): number;
  constructor(private a: T) { super(); }
  @HostListener("click")
  public onClick = (e: Event): void => {};
}
export type Id = string | number;
export enum Color { Red, Green }
namespace Geometry { export function origin() {} }
export function overload(a: string): void;
export function overload(a: any) {}
"""
    got = _names("src/shapes.ts", src)
    assert got == {
        "Shape": "interface", "Shape.area": "method", "Base": "class", "Base.area": "method",
        "Base.constructor": "method", "Base.onClick": "method", "Id": "type", "Color": "enum",
        "Geometry": "namespace", "Geometry.origin": "function", "overload": "function",
    }
    ents = [e for e in language_entities("src/shapes.ts", src) if e.qualname == "Base.onClick"]
    assert ents[0].start_line == 6  # the decorator sibling is included
    assert adapter_for("src/App.tsx").name == "tsx" and adapter_for("types/index.d.ts").name == "typescript"


def test_python_is_one_adapter_among_the_others():
    from skillforge.analyze.entities import LanguageAdapter
    from skillforge.analyze.lang import ADAPTERS, PYTHON
    from skillforge.analyze.lang.python import entities

    assert adapter_for("src/pkg/mod.py") is PYTHON and adapter_for("typings/mod.pyi") is PYTHON
    assert adapter_for("src/pkg/MOD.PY") is None  # case-sensitive, like pytest's discovery
    assert adapter_for("src/ext.pyx") is None and adapter_for("README.md") is None
    assert all(isinstance(a, LanguageAdapter) for a in ADAPTERS)
    src = "class A:\n    def f(self):\n        return 1\n\n\nX = 1\n"
    assert language_entities("a.py", src) == entities(src)
    assert [e.qualname for e in language_entities("a.py", src)] == ["A", "A.f", "X"]
    test_src = "def test_a():\n    pass\n\n\nclass TestB:\n    def test_c(self):\n        pass\n"
    assert [t.nodeid for t in PYTHON.test_items("tests/test_a.py", test_src)] == [
        "tests/test_a.py::test_a", "tests/test_a.py::TestB::test_c"]
    assert JavaAdapter().test_items("src/test/java/ATest.java", "class ATest {}") == []


def test_go_entities():
    src = """package store

// Limits.
const (
	A = 1
	B, C = 2, 3
)

type (
	Store struct{ m map[string]int }
	Getter interface{ Get(k string) (int, error) }
)

type List[T any] struct{}

// Get reads.
func (s *Store) Get(k string) (int, error) { return 0, nil }
func (l *List[T]) Len() int { return 0 }
func New() *Store { return nil }
"""
    assert _names("store.go", src) == {
        "A": "variable", "B": "variable", "C": "variable", "Store": "struct", "Getter": "interface",
        "Getter.Get": "method", "List": "struct", "Store.Get": "method", "List.Len": "method", "New": "function",
    }
    get = next(e for e in language_entities("store.go", src) if e.qualname == "Store.Get")
    assert get.start_line == 16  # its doc comment belongs to it


def test_java_entities():
    src = """package com.acme;

@Deprecated
public class Cart<T> extends Base {
    private static final int MAX = 3;
    public Cart() { super(); }
    @Override
    public void run() { }
    static class Item { int price() { return 1; } }
    interface Listener { void changed(); }
    enum Kind { A, B; int code() { return 0; } }
    record Point(int x, int y) { Point { } }
}
"""
    assert _names("Cart.java", src) == {
        "Cart": "class", "Cart.Cart": "constructor", "Cart.run": "method", "Cart.Item": "class",
        "Cart.Item.price": "method", "Cart.Listener": "interface", "Cart.Listener.changed": "method",
        "Cart.Kind": "enum", "Cart.Kind.code": "method", "Cart.Point": "record", "Cart.Point.Point": "constructor",
    }


def test_rust_entities_and_tests():
    src = """use std::fmt;
pub const MAX: usize = 3;
#[derive(Debug)]
pub struct Money { cents: i64 }
impl Money { pub fn new() -> Self { fn helper() {} todo!() } const ZERO: i64 = 0; }
impl fmt::Display for Money { fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result { Ok(()) } }
impl<T> Wrapper<T> { fn get(&self) {} }
pub trait Shape { fn area(&self) -> f64; }
macro_rules! cents { ($e:expr) => { $e * 100 } }
#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn it_works() {}
}
#[tokio::test]
async fn loose() {}
mod declared_elsewhere;
"""
    ents = language_entities("src/lib.rs", src)
    got = {(e.qualname, e.kind, e.is_test) for e in ents}
    assert got == {
        ("MAX", "variable", False), ("Money", "struct", False), ("Money", "impl", False),
        ("Money.new", "method", False), ("Money.new.helper", "function", False), ("Money.fmt", "method", False),
        ("Wrapper", "impl", False), ("Wrapper.get", "method", False), ("Shape", "trait", False),
        ("Shape.area", "method", False), ("cents", "macro", False), ("tests", "module", True),
        ("tests.it_works", "function", True), ("loose", "function", True),
    }
    money = next(e for e in ents if e.qualname == "Money" and e.kind == "struct")
    assert money.start_line == 3 and money.decorators == ("derive(Debug)",)


def test_rust_unit_test_change_is_a_test_not_an_entity():
    old = "pub fn double(x: i32) -> i32 { x * 2 }\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn doubles() { assert_eq!(super::double(2), 4); }\n}\n"
    new = old.replace("assert_eq!(super::double(2), 4);", "assert_eq!(super::double(3), 6);")
    patch = (
        "diff --git a/src/lib.rs b/src/lib.rs\n--- a/src/lib.rs\n+++ b/src/lib.rs\n"
        "@@ -6 +6 @@ mod tests {\n"
        "-    fn doubles() { assert_eq!(super::double(2), 4); }\n"
        "+    fn doubles() { assert_eq!(super::double(3), 6); }\n"
    )
    labels = analyze_change_labels(patch, {"src/lib.rs": old.encode()}.get, {"src/lib.rs": new.encode()}.get,
                                   ["src/lib.rs", "Cargo.toml"], TestConfig())
    assert labels.analysis.files == ["src/lib.rs"]  # the file stays code
    assert labels.analysis.entities == []
    assert labels.test_entities == ["src/lib.rs::tests.doubles"]


def test_missing_grammar_names_the_install_line(monkeypatch):
    import sys

    from skillforge.analyze.entities import LanguageAdapter

    monkeypatch.setattr(LanguageAdapter, "_languages", {})
    monkeypatch.setitem(sys.modules, "tree_sitter_java", None)  # what an uninstalled package looks like
    with pytest.raises(GrammarMissing, match=r"pip install 'tree-sitter-java>=0.23'"):
        JavaAdapter().language()


# --------------------------------------------------------------------------- split


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("web/src/cart.test.ts", "test"),
        ("web/src/cart.spec.jsx", "test"),
        ("web/src/__tests__/cart.js", "test"),
        ("web/src/__mocks__/api.ts", "test"),
        ("web/src/cart.ts", "code"),
        ("web/src/testing.ts", "code"),
        ("test/helpers.js", "test"),  # Mocha's test/ directory
        ("store/store_test.go", "test"),
        ("store/testdata/golden.json", "test"),
        ("store/store.go", "code"),
        ("src/test/java/com/acme/CartTest.java", "test"),
        ("src/test/resources/carts.json", "test"),
        ("src/main/java/com/acme/Cart.java", "code"),
        ("src/main/java/com/acme/TestUtils.java", "code"),  # under src/main: shipped code
        ("app/src/androidTest/java/com/acme/UiTest.kt", "test"),
        ("crate/tests/integration.rs", "test"),
        ("crate/src/lib.rs", "code"),  # #[cfg(test)] modules inside keep it code
        ("crate/Cargo.toml", "code"),
        ("go.mod", "code"),
        ("pom.xml", "code"),
        ("web/package.json", "code"),
        ("web/README.md", "doc"),
    ],
)
def test_split_by_other_runners(path, kind):
    files = ["web/src/cart.ts", "web/src/cart.test.ts", "test/helpers.js", "store/store.go", "store/store_test.go",
             "src/main/java/com/acme/Cart.java", "src/test/java/com/acme/CartTest.java", "crate/src/lib.rs",
             "crate/tests/integration.rs", path]
    assert classify(path, files, TestConfig()) == kind


def test_language_test_file_rules():
    assert is_language_test_file("a/b/c.test.mjs")
    assert not is_language_test_file("a/b/contest.js")
    assert not is_language_test_file("src/attest.go")
    assert not is_language_test_file("src/main/java/Test.java")


@pytest.mark.parametrize("name", CASES)
def test_incremental_parse_equals_full_parse(name):
    """The new side is parsed incrementally from the old tree and the diff's hunks: same tree, same entities."""
    from skillforge.analyze import _edited, _is_python, _PARSED
    from skillforge.analyze.patch import parse_patch
    from skillforge.analyze.lang.python import _parser, entities

    before = builder.tree_files(builder.FIXTURES / name / "before")
    after = builder.tree_files(builder.FIXTURES / name / "after")
    checked = 0
    for fd in parse_patch(_patch(name)):
        adapter = adapter_for(fd.path)
        if fd.binary or not fd.hunks or fd.status not in ("modified", "renamed") or not (_is_python(fd.path) or adapter):
            continue
        old, new = before[fd.old_path or fd.path], after[fd.path]
        edited = _edited((_PARSED.get(fd.path, old), old, fd), len(new))
        if any(line.startswith("\\") for hunk in fd.hunks for line in hunk):
            assert edited is None  # "\ No newline at end of file": parsed from scratch
            continue
        assert edited is not None, fd.path
        parser = adapter.parser() if adapter else _parser()
        incremental, full = parser.parse(new, edited), parser.parse(new)
        assert str(incremental.root_node) == str(full.root_node), fd.path
        find = adapter.entities if adapter else entities
        assert find(incremental) == find(full), fd.path
        checked += 1
    assert checked or name.startswith("trivial_release")
    # a diff that is not the one between the two texts is refused (parse from scratch)
    if checked:
        assert _edited((_PARSED.get(fd.path, old), old, fd), len(new) + 1) is None

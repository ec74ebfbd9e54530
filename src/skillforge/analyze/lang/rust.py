"""Rust entities.

Qualified names (rendered ``path::qualname``): ``func``,
``Struct``/``Enum``/``Trait``/``Union``/``Type``, ``Type.method`` for functions
of ``impl Type`` and ``impl Trait for Type`` blocks (the impl block itself is
``Type`` too: a change to its associated items names the type), trait methods
``Trait.method``, modules ``mod_name.func``, nested functions ``outer.inner``,
module-level ``const``/``static``, ``macro_rules!``. Functions marked
``#[test]`` (or ``#[tokio::test]``, ``#[rstest]``, ...) and everything inside
an item marked ``#[cfg(test)]`` carry ``is_test=True``: the file stays code,
these entities are tests.
"""

from __future__ import annotations

from tree_sitter import Node

from skillforge.analyze.entities import Entity, LanguageAdapter, WalkContext
from skillforge.analyze.entities import text as _text

__all__ = ["RustAdapter"]

_RUST_TEST_ATTRS = {"test", "tokio::test", "async_std::test", "rstest", "test_case", "quickcheck", "proptest",
                    "wasm_bindgen_test", "actix_rt::test", "sqlx::test"}


def _rust_attr(attr_item: Node) -> str:
    attr = next((c for c in attr_item.named_children if c.type == "attribute"), None)
    if attr is None:
        return ""
    return _text(attr)


def _rust_type_name(typ: Node | None) -> str:
    while typ is not None and typ.type in ("generic_type", "reference_type", "pointer_type", "scoped_type_identifier"):
        if typ.type == "generic_type":
            typ = typ.child_by_field_name("type")
        elif typ.type == "scoped_type_identifier":
            typ = typ.child_by_field_name("name")
        else:
            typ = typ.child_by_field_name("type")
    return _text(typ)


class RustAdapter(LanguageAdapter):
    name = "rust"
    extensions = (".rs",)
    package = "tree-sitter-rust"
    module = "tree_sitter_rust"
    comment_types = ("line_comment", "block_comment")
    leading_types = ("attribute_item",)

    def _walk(self, node: Node, scope: list[str], out: list[Entity], ctx: WalkContext):
        for child in node.named_children:
            t = child.type
            if t not in ("function_item", "function_signature_item", "struct_item", "enum_item", "union_item",
                         "trait_item", "impl_item", "mod_item", "const_item", "static_item", "type_item",
                         "macro_definition"):
                continue
            first = self._leading(child)
            attrs: list[str] = []
            a: Node | None = first
            while a is not None and a.id != child.id:
                if a.type == "attribute_item":
                    attrs.append(_rust_attr(a))
                a = a.next_named_sibling
            cfg_test = any(x.replace(" ", "") in ("cfg(test)",) or x.replace(" ", "").startswith("cfg(all(test")
                           for x in attrs)
            test_attr = any(x.split("(", 1)[0].strip() in _RUST_TEST_ATTRS for x in attrs)
            is_test = ctx.is_test or cfg_test
            inner_ctx = ctx.inner(is_test=is_test)
            if t in ("function_item", "function_signature_item"):
                name = _text(child.child_by_field_name("name"))
                if not name:
                    continue
                qual = [*scope, name]
                kind = "method" if ctx.in_class else "function"
                out.append(self._entity(qual, kind, child, child, first=first, decorators=tuple(attrs),
                                        is_test=is_test or test_attr))
                body = child.child_by_field_name("body")
                if body is not None:
                    yield self._walk(body, qual, out, inner_ctx.inner(module_level=False, in_class=False,
                                                                is_test=is_test or test_attr))
            elif t in ("struct_item", "enum_item", "union_item", "type_item"):
                name = _text(child.child_by_field_name("name"))
                if name:
                    kind = {"struct_item": "struct", "enum_item": "enum", "union_item": "union", "type_item": "type"}[t]
                    out.append(self._entity([*scope, name], kind, child, child, first=first, decorators=tuple(attrs),
                                            is_test=is_test))
            elif t == "trait_item":
                name = _text(child.child_by_field_name("name"))
                if not name:
                    continue
                qual = [*scope, name]
                out.append(self._entity(qual, "trait", child, child, first=first, decorators=tuple(attrs),
                                        is_test=is_test))
                body = child.child_by_field_name("body")
                if body is not None:
                    yield self._walk(body, qual, out, inner_ctx.inner(in_class=True, module_level=False))
            elif t == "impl_item":
                name = _rust_type_name(child.child_by_field_name("type"))
                if not name:
                    continue
                qual = [*scope, name]
                out.append(self._entity(qual, "impl", child, child, first=first, decorators=tuple(attrs),
                                        is_test=is_test))
                body = child.child_by_field_name("body")
                if body is not None:
                    yield self._walk(body, qual, out, inner_ctx.inner(in_class=True, module_level=False))
            elif t == "mod_item":
                name = _text(child.child_by_field_name("name"))
                body = child.child_by_field_name("body")
                if not name or body is None:
                    continue  # `mod foo;` declares a file module: nothing to name here
                qual = [*scope, name]
                out.append(self._entity(qual, "module", child, child, first=first, decorators=tuple(attrs),
                                        is_test=is_test))
                yield self._walk(body, qual, out, inner_ctx.inner(in_class=False, module_level=True))
            elif t in ("const_item", "static_item") and ctx.module_level:
                name = _text(child.child_by_field_name("name"))
                if name:
                    out.append(self._entity([*scope, name], "variable", child, child, first=first,
                                            decorators=tuple(attrs), is_test=is_test))
            elif t == "macro_definition":
                name = _text(child.child_by_field_name("name"))
                if name:
                    out.append(self._entity([*scope, name], "macro", child, child, first=first,
                                            decorators=tuple(attrs), is_test=is_test))

"""Entities of JavaScript, TypeScript, Go, Java and Rust with tree-sitter: one adapter per language.

Each adapter turns a parsed file into :class:`skillforge.analyze.python.Entity`
records (qualified name, kind, lines with decorators/attributes/annotations
included, a hash of the definition's text), so that the language-independent
:func:`skillforge.analyze.python.touch_entities` maps a diff's changed lines onto
them exactly as it does for Python. The Python adapter is :mod:`.python` itself.

Qualified names (rendered ``path::qualname``)
---------------------------------------------
* JavaScript / TypeScript: ``func``, ``Class``, ``Class.method`` (getters and
  setters share the property's name), class fields holding functions
  (``handle = () => {}``) are methods, ``const f = () => ...`` / ``const f =
  function () {}`` are functions named ``f``, ``A.prototype.m = function`` is
  ``A.m``, ``exports.f = ...`` / ``module.exports.f = ...`` is ``f``; functions
  nested in functions are ``outer.inner``; TypeScript interfaces (with their
  method signatures ``Shape.area``), enums, type aliases and namespaces
  (``NS.func``); overload signatures share the implementation's name.
  Module-level ``const``/``let``/``var`` names that hold no function are
  entities of kind ``variable``.
* Go: ``Func``, ``Type`` (struct, interface or other named type),
  ``Type.Method`` for methods with receivers (pointer and generic receivers
  included: ``func (l *List[T]) Len()`` is ``List.Len``), interface methods
  ``Iface.Method``, package-level ``const``/``var`` names.
* Java: ``Class``, ``Class.method``, nested types ``Outer.Inner.method``,
  constructors ``Class.Class``; interfaces, enums, records and annotation types
  are classes; overloads share one name. Fields belong to their class.
* Rust: ``func``, ``Struct``/``Enum``/``Trait``/``Union``/``Type``, ``Type.method``
  for functions of ``impl Type`` and ``impl Trait for Type`` blocks (the impl
  block itself is ``Type`` too: a change to its associated items names the
  type), trait methods ``Trait.method``, modules ``mod_name.func``, nested
  functions ``outer.inner``, module-level ``const``/``static``, ``macro_rules!``.
  Functions marked ``#[test]`` (or ``#[tokio::test]``, ``#[rstest]``, ...) and
  everything inside an item marked ``#[cfg(test)]`` carry ``is_test=True``: the
  file stays code, these entities are tests.

A missing grammar package raises :class:`GrammarMissing` naming the exact
``pip install`` line.
"""

from __future__ import annotations

import hashlib
import importlib
import posixpath
import threading
from dataclasses import dataclass
from typing import ClassVar

from tree_sitter import Language, Node, Parser, Tree

from skillforge.analyze.python import Entity

__all__ = [
    "ADAPTERS",
    "Adapter",
    "GrammarMissing",
    "adapter_for",
    "language_entities",
]


class GrammarMissing(ImportError):
    """A tree-sitter grammar package is not installed."""


def _text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")


def _end_line(node: Node) -> int:
    row, col = node.end_point
    return row if col == 0 and row > node.start_point[0] else row + 1


def _hash(*nodes: Node) -> str:
    h = hashlib.sha1()
    for n in nodes:
        h.update(n.text or b"")
        h.update(b"\0")
    return h.hexdigest()


_local = threading.local()


class Adapter:
    """One language: which files, which grammar, and how to find its entities."""

    name: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    package: ClassVar[str]  # the grammar's PyPI distribution
    module: ClassVar[str]  # its import name
    function: ClassVar[str] = "language"  # the module's function returning the grammar
    comment_types: ClassVar[tuple[str, ...]] = ("comment", "line_comment", "block_comment")
    leading_types: ClassVar[tuple[str, ...]] = ()  # decorators / attributes that precede a definition as siblings
    _languages: ClassVar[dict[str, Language]] = {}

    def language(self) -> Language:
        key = f"{self.module}.{self.function}"
        lang = Adapter._languages.get(key)
        if lang is None:
            try:
                mod = importlib.import_module(self.module)
            except ImportError as exc:
                raise GrammarMissing(
                    f"the {self.name} grammar is not installed: pip install '{self.package}>=0.23'"
                ) from exc
            lang = Adapter._languages[key] = Language(getattr(mod, self.function)())
        return lang

    def parser(self) -> Parser:
        """One parser per thread and language (tree-sitter parsers are not thread-safe)."""
        parsers = getattr(_local, "parsers", None)
        if parsers is None:
            parsers = _local.parsers = {}
        p = parsers.get(self.name)
        if p is None:
            p = parsers[self.name] = Parser(self.language())
        return p

    def parse(self, source: bytes | str) -> Tree:
        if isinstance(source, str):
            source = source.encode("utf-8", "surrogateescape")
        return self.parser().parse(source)

    def entities(self, source: bytes | str | Tree) -> list[Entity]:
        tree = source if isinstance(source, Tree) else self.parse(source)
        out: list[Entity] = []
        self._walk(tree.root_node, [], out, ctx=_Ctx())
        return out

    def _walk(self, node: Node, scope: list[str], out: list[Entity], ctx: _Ctx) -> None:  # pragma: no cover
        raise NotImplementedError

    # helpers ---------------------------------------------------------------
    def _leading(self, node: Node) -> Node:
        """The first of the decorators/attributes and doc comments right before
        ``node`` (or ``node``): a comment belongs to the definition when it
        touches it (no blank line between) and starts its own line."""
        first = node
        prev = node.prev_named_sibling
        while prev is not None:
            if prev.type in self.leading_types:
                pass
            elif prev.type in self.comment_types:
                if prev.end_point[0] < first.start_point[0] - 1:
                    break  # a blank line between
                before = prev.prev_sibling
                if before is not None and before.end_point[0] == prev.start_point[0]:
                    break  # a trailing comment of the statement before
            else:
                break
            first = prev
            prev = prev.prev_named_sibling
        return first

    def _entity(self, qual: list[str], kind: str, outer: Node, defn: Node, *, first: Node | None = None,
                decorators: tuple[str, ...] = (), is_test: bool = False) -> Entity:
        start = first if first is not None else self._leading(outer)
        extra = [start] if start is not outer else []
        # the hash covers leading attributes/decorators that are siblings, not children
        nodes = []
        if extra:
            sib: Node | None = start
            while sib is not None and sib.id != outer.id:
                nodes.append(sib)
                sib = sib.next_named_sibling
        nodes.append(outer)
        return Entity(
            qualname=".".join(qual),
            name=qual[-1],
            kind=kind,
            start_line=start.start_point[0] + 1,
            end_line=_end_line(outer),
            def_line=defn.start_point[0] + 1,
            decorators=decorators,
            parent=".".join(qual[:-1]) or None,
            text_hash=_hash(*nodes),
            is_test=is_test,
        )


@dataclass
class _Ctx:
    module_level: bool = True
    in_class: bool = False
    is_test: bool = False

    def inner(self, **changes) -> _Ctx:
        return _Ctx(**{**self.__dict__, **changes})


# --------------------------------------------------------------------------- JavaScript / TypeScript


_JS_FUNCTION_VALUES = ("arrow_function", "function_expression", "function", "generator_function")
_JS_CLASS_VALUES = ("class",)


def _is_async(node: Node) -> bool:
    return any(c.type == "async" for c in node.children)


class JavaScriptAdapter(Adapter):
    name = "javascript"
    extensions = (".js", ".jsx", ".mjs", ".cjs")
    package = "tree-sitter-javascript"
    module = "tree_sitter_javascript"
    comment_types = ("comment", "html_comment")
    leading_types = ("decorator",)

    def _walk(self, node: Node, scope: list[str], out: list[Entity], ctx: _Ctx) -> None:
        for child in node.named_children:
            self._statement(child, child, scope, out, ctx)

    def _statement(self, outer: Node, node: Node, scope: list[str], out: list[Entity], ctx: _Ctx) -> None:
        t = node.type
        if t == "export_statement":
            decl = node.child_by_field_name("declaration") or node.child_by_field_name("value")
            if decl is not None:
                self._statement(outer, decl, scope, out, ctx)
            return
        if t in ("function_declaration", "generator_function_declaration", "function_signature"):
            name = _text(node.child_by_field_name("name"))
            if not name:
                return
            qual = [*scope, name]
            kind = ("async_method" if _is_async(node) else "method") if ctx.in_class else (
                "async_function" if _is_async(node) else "function")
            out.append(self._entity(qual, kind, outer, node, first=None))
            self._body(node, qual, out, ctx)
            return
        if t in ("class_declaration", "abstract_class_declaration", "class"):
            name = _text(node.child_by_field_name("name"))
            if not name:
                return
            qual = [*scope, name]
            out.append(self._entity(qual, "class", outer, node, first=None))
            body = node.child_by_field_name("body")
            if body is not None:
                self._class_body(body, qual, out, ctx)
            return
        if t in ("interface_declaration", "enum_declaration", "type_alias_declaration"):
            name = _text(node.child_by_field_name("name"))
            if not name:
                return
            kind = {"interface_declaration": "interface", "enum_declaration": "enum", "type_alias_declaration": "type"}[t]
            qual = [*scope, name]
            out.append(self._entity(qual, kind, outer, node))
            body = node.child_by_field_name("body")
            if t == "interface_declaration" and body is not None:
                for m in body.named_children:
                    if m.type == "method_signature":
                        mname = _text(m.child_by_field_name("name"))
                        if mname:
                            out.append(self._entity([*qual, mname], "method", m, m))
            return
        if t in ("internal_module", "module"):
            name_node = node.child_by_field_name("name")
            name = _text(name_node).strip("\"'")
            body = node.child_by_field_name("body")
            if not name:
                return
            qual = [*scope, name]
            out.append(self._entity(qual, "namespace", outer, node))
            if body is not None:
                self._walk(body, qual, out, ctx.inner(in_class=False))
            return
        if t in ("expression_statement", "ambient_declaration"):
            for c in node.named_children:
                if c.type in ("internal_module", "module", "function_signature", "class_declaration",
                              "interface_declaration", "lexical_declaration", "variable_declaration"):
                    self._statement(outer if len(node.named_children) == 1 else c, c, scope, out, ctx)
                elif c.type == "assignment_expression" and ctx.module_level:
                    self._assignment(outer, c, scope, out, ctx)
                else:
                    self._descend(c, scope, out, ctx)
            return
        if t in ("lexical_declaration", "variable_declaration"):
            decls = [c for c in node.named_children if c.type == "variable_declarator"]
            for d in decls:
                name_node = d.child_by_field_name("name")
                value = d.child_by_field_name("value")
                names = [_text(name_node)] if name_node is not None and name_node.type == "identifier" else \
                    [_text(i) for i in _identifiers(name_node)]
                the_outer = outer if len(decls) == 1 else d
                if value is not None and value.type in _JS_FUNCTION_VALUES and len(names) == 1:
                    qual = [*scope, names[0]]
                    kind = "async_function" if _is_async(value) else "function"
                    out.append(self._entity(qual, kind, the_outer, d))
                    self._body(value, qual, out, ctx.inner(module_level=False, in_class=False))
                elif value is not None and value.type in _JS_CLASS_VALUES and len(names) == 1:
                    qual = [*scope, names[0]]
                    out.append(self._entity(qual, "class", the_outer, d))
                    body = value.child_by_field_name("body")
                    if body is not None:
                        self._class_body(body, qual, out, ctx)
                else:
                    if ctx.module_level:
                        for n in names:
                            if n:
                                out.append(self._entity([*scope, n], "variable", the_outer, d))
                    if value is not None:
                        self._descend(value, scope, out, ctx.inner(module_level=False))
            return
        self._descend(node, scope, out, ctx)

    def _assignment(self, outer: Node, node: Node, scope: list[str], out: list[Entity], ctx: _Ctx) -> None:
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if left is None or right is None:
            return
        if right.type not in _JS_FUNCTION_VALUES + _JS_CLASS_VALUES or left.type != "member_expression":
            self._descend(right, scope, out, ctx.inner(module_level=False))
            return
        chain = _member_chain(left)
        if not chain:
            return
        if chain[:2] == ["module", "exports"]:
            chain = chain[2:]
        elif chain[:1] == ["exports"]:
            chain = chain[1:]
        chain = [c for c in chain if c != "prototype"]
        if not chain:
            return
        qual = [*scope, *chain]
        if right.type in _JS_CLASS_VALUES:
            out.append(self._entity(qual, "class", outer, node))
            body = right.child_by_field_name("body")
            if body is not None:
                self._class_body(body, qual, out, ctx)
            return
        kind = ("async_method" if _is_async(right) else "method") if len(chain) > 1 else (
            "async_function" if _is_async(right) else "function")
        out.append(self._entity(qual, kind, outer, node))
        self._body(right, qual, out, ctx.inner(module_level=False, in_class=False))

    def _class_body(self, body: Node, qual: list[str], out: list[Entity], ctx: _Ctx) -> None:
        for m in body.named_children:
            t = m.type
            if t in ("method_definition", "abstract_method_signature", "method_signature"):
                name = _text(m.child_by_field_name("name"))
                if not name:
                    continue
                kinds = {c.type for c in m.children}
                if "get" in kinds or "set" in kinds:
                    kind = "property"
                elif "static" in kinds:
                    kind = "staticmethod"
                else:
                    kind = "async_method" if "async" in kinds else "method"
                mq = [*qual, name]
                out.append(self._entity(mq, kind, m, m, first=None))
                self._body(m, mq, out, ctx.inner(module_level=False, in_class=False))
            elif t in ("field_definition", "public_field_definition"):
                name_node = m.child_by_field_name("property") or m.child_by_field_name("name")
                value = m.child_by_field_name("value")
                if name_node is not None and value is not None and value.type in _JS_FUNCTION_VALUES:
                    mq = [*qual, _text(name_node)]
                    kind = "async_method" if _is_async(value) else "method"
                    out.append(self._entity(mq, kind, m, m, first=None))
                    self._body(value, mq, out, ctx.inner(module_level=False, in_class=False))
            elif t == "class_static_block":
                self._descend(m, qual, out, ctx.inner(module_level=False, in_class=False))

    def _body(self, fn: Node, qual: list[str], out: list[Entity], ctx: _Ctx) -> None:
        body = fn.child_by_field_name("body")
        if body is not None:
            self._descend(body, qual, out, ctx.inner(module_level=False, in_class=False))

    def _descend(self, node: Node, scope: list[str], out: list[Entity], ctx: _Ctx) -> None:
        """Look for named definitions inside statements and expressions (blocks,
        callbacks): anonymous functions keep the scope but end module level."""
        for c in node.named_children:
            if c.type in ("function_declaration", "generator_function_declaration", "class_declaration",
                          "abstract_class_declaration", "lexical_declaration", "variable_declaration",
                          "interface_declaration", "enum_declaration", "type_alias_declaration", "export_statement",
                          "internal_module", "function_signature"):
                self._statement(c, c, scope, out, ctx)
            elif c.type in _JS_FUNCTION_VALUES or c.type in ("statement_block", "class_body"):
                self._descend(c, scope, out, ctx.inner(module_level=False))
            elif c.type not in self.comment_types:
                self._descend(c, scope, out, ctx)


def _identifiers(node: Node | None) -> list[Node]:
    if node is None:
        return []
    if node.type in ("identifier", "shorthand_property_identifier_pattern"):
        return [node]
    out: list[Node] = []
    for c in node.named_children:
        if c.type == "pair_pattern":
            v = c.child_by_field_name("value")
            out += _identifiers(v)
        elif c.type != "property_identifier":
            out += _identifiers(c)
    return out


def _member_chain(node: Node) -> list[str]:
    """``a.b.c`` -> ["a", "b", "c"]; [] for computed or call-based members."""
    if node.type == "identifier":
        return [_text(node)]
    if node.type == "this":
        return ["this"]
    if node.type == "member_expression":
        obj = node.child_by_field_name("object")
        prop = node.child_by_field_name("property")
        if obj is None or prop is None:
            return []
        head = _member_chain(obj)
        return [*head, _text(prop)] if head else []
    return []


class TypeScriptAdapter(JavaScriptAdapter):
    name = "typescript"
    extensions = (".ts", ".mts", ".cts")
    package = "tree-sitter-typescript"
    module = "tree_sitter_typescript"
    function = "language_typescript"
    comment_types = ("comment",)


class TSXAdapter(TypeScriptAdapter):
    name = "tsx"
    extensions = (".tsx",)
    function = "language_tsx"


# --------------------------------------------------------------------------- Go


def _go_receiver_type(receiver: Node | None) -> str:
    if receiver is None:
        return ""
    for param in receiver.named_children:
        if param.type != "parameter_declaration":
            continue
        typ = param.child_by_field_name("type")
        while typ is not None and typ.type in ("pointer_type", "parenthesized_type"):
            typ = next((c for c in typ.named_children), None)
        if typ is not None and typ.type == "generic_type":
            typ = typ.child_by_field_name("type")
        if typ is not None and typ.type == "qualified_type":
            typ = typ.child_by_field_name("name")
        return _text(typ)
    return ""


class GoAdapter(Adapter):
    name = "go"
    extensions = (".go",)
    package = "tree-sitter-go"
    module = "tree_sitter_go"
    comment_types = ("comment",)

    def _walk(self, node: Node, scope: list[str], out: list[Entity], ctx: _Ctx) -> None:
        for child in node.named_children:
            t = child.type
            if t == "function_declaration":
                name = _text(child.child_by_field_name("name"))
                if name:
                    out.append(self._entity([name], "function", child, child))
            elif t == "method_declaration":
                name = _text(child.child_by_field_name("name"))
                recv = _go_receiver_type(child.child_by_field_name("receiver"))
                if name:
                    out.append(self._entity([recv, name] if recv else [name], "method", child, child))
            elif t == "type_declaration":
                specs = [c for c in child.named_children if c.type in ("type_spec", "type_alias")]
                for spec in specs:
                    name = _text(spec.child_by_field_name("name"))
                    if not name:
                        continue
                    typ = spec.child_by_field_name("type")
                    kind = {"struct_type": "struct", "interface_type": "interface"}.get(typ.type if typ else "", "type")
                    the_outer = child if len(specs) == 1 else spec
                    out.append(self._entity([name], kind, the_outer, spec))
                    if typ is not None and typ.type == "interface_type":
                        for m in typ.named_children:
                            if m.type in ("method_elem", "method_spec"):
                                mname = _text(m.child_by_field_name("name"))
                                if mname:
                                    out.append(self._entity([name, mname], "method", m, m))
            elif t in ("const_declaration", "var_declaration"):
                specs = [c for c in child.named_children if c.type in ("const_spec", "var_spec", "var_spec_list")]
                flat: list[Node] = []
                for s in specs:
                    flat += [x for x in s.named_children if x.type == "var_spec"] if s.type == "var_spec_list" else [s]
                for spec in flat:
                    names = [_text(c) for c in spec.children_by_field_name("name") if c.type == "identifier"]
                    the_outer = child if len(flat) == 1 else spec
                    for n in names:
                        if n and n != "_":
                            out.append(self._entity([n], "variable", the_outer, spec))


# --------------------------------------------------------------------------- Java


_JAVA_TYPES = {
    "class_declaration": "class",
    "interface_declaration": "interface",
    "enum_declaration": "enum",
    "record_declaration": "record",
    "annotation_type_declaration": "annotation",
}


class JavaAdapter(Adapter):
    name = "java"
    extensions = (".java",)
    package = "tree-sitter-java"
    module = "tree_sitter_java"
    comment_types = ("line_comment", "block_comment")

    def _walk(self, node: Node, scope: list[str], out: list[Entity], ctx: _Ctx) -> None:
        for child in node.named_children:
            t = child.type
            if t in _JAVA_TYPES:
                name = _text(child.child_by_field_name("name"))
                if not name:
                    continue
                qual = [*scope, name]
                out.append(self._entity(qual, _JAVA_TYPES[t], child, child))
                body = child.child_by_field_name("body")
                if body is not None:
                    self._walk(body, qual, out, ctx.inner(in_class=True))
            elif t == "enum_body_declarations":
                self._walk(child, scope, out, ctx)
            elif t in ("method_declaration", "annotation_type_element_declaration") and scope:
                name = _text(child.child_by_field_name("name"))
                if name:
                    out.append(self._entity([*scope, name], "method", child, child))
            elif t in ("constructor_declaration", "compact_constructor_declaration") and scope:
                out.append(self._entity([*scope, scope[-1]], "constructor", child, child))


# --------------------------------------------------------------------------- Rust


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


class RustAdapter(Adapter):
    name = "rust"
    extensions = (".rs",)
    package = "tree-sitter-rust"
    module = "tree_sitter_rust"
    comment_types = ("line_comment", "block_comment")
    leading_types = ("attribute_item",)

    def _walk(self, node: Node, scope: list[str], out: list[Entity], ctx: _Ctx) -> None:
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
                    self._walk(body, qual, out, inner_ctx.inner(module_level=False, in_class=False,
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
                    self._walk(body, qual, out, inner_ctx.inner(in_class=True, module_level=False))
            elif t == "impl_item":
                name = _rust_type_name(child.child_by_field_name("type"))
                if not name:
                    continue
                qual = [*scope, name]
                out.append(self._entity(qual, "impl", child, child, first=first, decorators=tuple(attrs),
                                        is_test=is_test))
                body = child.child_by_field_name("body")
                if body is not None:
                    self._walk(body, qual, out, inner_ctx.inner(in_class=True, module_level=False))
            elif t == "mod_item":
                name = _text(child.child_by_field_name("name"))
                body = child.child_by_field_name("body")
                if not name or body is None:
                    continue  # `mod foo;` declares a file module: nothing to name here
                qual = [*scope, name]
                out.append(self._entity(qual, "module", child, child, first=first, decorators=tuple(attrs),
                                        is_test=is_test))
                self._walk(body, qual, out, inner_ctx.inner(in_class=False, module_level=True))
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


# --------------------------------------------------------------------------- registry


ADAPTERS: tuple[Adapter, ...] = (JavaScriptAdapter(), TypeScriptAdapter(), TSXAdapter(), GoAdapter(), JavaAdapter(),
                                 RustAdapter())
_BY_EXT: dict[str, Adapter] = {ext: a for a in ADAPTERS for ext in a.extensions}


def adapter_for(path: str) -> Adapter | None:
    """The adapter for a (non-Python) source file, by extension; None when there is none."""
    if path.endswith(".d.ts"):
        return _BY_EXT[".ts"]
    return _BY_EXT.get(posixpath.splitext(path)[1].lower())


def language_entities(path: str, source: bytes | str) -> list[Entity]:
    """Entities of one file of a supported language (see the module docstring)."""
    adapter = adapter_for(path)
    if adapter is None:
        raise ValueError(f"{path}: no tree-sitter adapter for this file type")
    return adapter.entities(source)



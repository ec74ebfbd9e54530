"""JavaScript and TypeScript entities (TSX too).

Qualified names (rendered ``path::qualname``): ``func``, ``Class``,
``Class.method`` (getters and setters share the property's name), class fields
holding functions (``handle = () => {}``) are methods, ``const f = () => ...`` /
``const f = function () {}`` are functions named ``f``, ``A.prototype.m =
function`` is ``A.m``, ``exports.f = ...`` / ``module.exports.f = ...`` is
``f``; functions nested in functions are ``outer.inner``; TypeScript interfaces
(with their method signatures ``Shape.area``), enums, type aliases and
namespaces (``NS.func``); overload signatures share the implementation's name.
Module-level ``const``/``let``/``var`` names that hold no function are entities
of kind ``variable``.
"""

from __future__ import annotations

from tree_sitter import Node

from skillforge.analyze.entities import Entity, LanguageAdapter, WalkContext
from skillforge.analyze.entities import text as _text

__all__ = ["JavaScriptAdapter", "TSXAdapter", "TypeScriptAdapter"]

_JS_FUNCTION_VALUES = ("arrow_function", "function_expression", "function", "generator_function")
_JS_CLASS_VALUES = ("class",)


def _is_async(node: Node) -> bool:
    return any(c.type == "async" for c in node.children)


class JavaScriptAdapter(LanguageAdapter):
    name = "javascript"
    extensions = (".js", ".jsx", ".mjs", ".cjs")
    package = "tree-sitter-javascript"
    module = "tree_sitter_javascript"
    comment_types = ("comment", "html_comment")
    leading_types = ("decorator",)

    def _walk(self, node: Node, scope: list[str], out: list[Entity], ctx: WalkContext):
        for child in node.named_children:
            yield self._statement(child, child, scope, out, ctx)

    def _statement(self, outer: Node, node: Node, scope: list[str], out: list[Entity], ctx: WalkContext):
        t = node.type
        if t == "export_statement":
            decl = node.child_by_field_name("declaration") or node.child_by_field_name("value")
            if decl is not None:
                yield self._statement(outer, decl, scope, out, ctx)
            return
        if t in ("function_declaration", "generator_function_declaration", "function_signature"):
            name = _text(node.child_by_field_name("name"))
            if not name:
                return
            qual = [*scope, name]
            kind = ("async_method" if _is_async(node) else "method") if ctx.in_class else (
                "async_function" if _is_async(node) else "function")
            out.append(self._entity(qual, kind, outer, node, first=None))
            yield self._body(node, qual, out, ctx)
            return
        if t in ("class_declaration", "abstract_class_declaration", "class"):
            name = _text(node.child_by_field_name("name"))
            if not name:
                return
            qual = [*scope, name]
            out.append(self._entity(qual, "class", outer, node, first=None))
            body = node.child_by_field_name("body")
            if body is not None:
                yield self._class_body(body, qual, out, ctx)
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
                yield self._walk(body, qual, out, ctx.inner(in_class=False))
            return
        if t in ("expression_statement", "ambient_declaration"):
            for c in node.named_children:
                if c.type in ("internal_module", "module", "function_signature", "class_declaration",
                              "interface_declaration", "lexical_declaration", "variable_declaration"):
                    yield self._statement(outer if len(node.named_children) == 1 else c, c, scope, out, ctx)
                elif c.type == "assignment_expression" and ctx.module_level:
                    yield self._assignment(outer, c, scope, out, ctx)
                else:
                    yield self._descend(c, scope, out, ctx)
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
                    yield self._body(value, qual, out, ctx.inner(module_level=False, in_class=False))
                elif value is not None and value.type in _JS_CLASS_VALUES and len(names) == 1:
                    qual = [*scope, names[0]]
                    out.append(self._entity(qual, "class", the_outer, d))
                    body = value.child_by_field_name("body")
                    if body is not None:
                        yield self._class_body(body, qual, out, ctx)
                else:
                    if ctx.module_level:
                        for n in names:
                            if n:
                                out.append(self._entity([*scope, n], "variable", the_outer, d))
                    if value is not None:
                        yield self._descend(value, scope, out, ctx.inner(module_level=False))
            return
        yield self._descend(node, scope, out, ctx)

    def _assignment(self, outer: Node, node: Node, scope: list[str], out: list[Entity], ctx: WalkContext):
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if left is None or right is None:
            return
        if right.type not in _JS_FUNCTION_VALUES + _JS_CLASS_VALUES or left.type != "member_expression":
            yield self._descend(right, scope, out, ctx.inner(module_level=False))
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
                yield self._class_body(body, qual, out, ctx)
            return
        kind = ("async_method" if _is_async(right) else "method") if len(chain) > 1 else (
            "async_function" if _is_async(right) else "function")
        out.append(self._entity(qual, kind, outer, node))
        yield self._body(right, qual, out, ctx.inner(module_level=False, in_class=False))

    def _class_body(self, body: Node, qual: list[str], out: list[Entity], ctx: WalkContext):
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
                yield self._body(m, mq, out, ctx.inner(module_level=False, in_class=False))
            elif t in ("field_definition", "public_field_definition"):
                name_node = m.child_by_field_name("property") or m.child_by_field_name("name")
                value = m.child_by_field_name("value")
                if name_node is not None and value is not None and value.type in _JS_FUNCTION_VALUES:
                    mq = [*qual, _text(name_node)]
                    kind = "async_method" if _is_async(value) else "method"
                    out.append(self._entity(mq, kind, m, m, first=None))
                    yield self._body(value, mq, out, ctx.inner(module_level=False, in_class=False))
            elif t == "class_static_block":
                yield self._descend(m, qual, out, ctx.inner(module_level=False, in_class=False))

    def _body(self, fn: Node, qual: list[str], out: list[Entity], ctx: WalkContext):
        body = fn.child_by_field_name("body")
        if body is not None:
            yield self._descend(body, qual, out, ctx.inner(module_level=False, in_class=False))

    def _descend(self, node: Node, scope: list[str], out: list[Entity], ctx: WalkContext):
        """Look for named definitions inside statements and expressions (blocks,
        callbacks): anonymous functions keep the scope but end module level."""
        for c in node.named_children:
            if c.type in ("function_declaration", "generator_function_declaration", "class_declaration",
                          "abstract_class_declaration", "lexical_declaration", "variable_declaration",
                          "interface_declaration", "enum_declaration", "type_alias_declaration", "export_statement",
                          "internal_module", "function_signature"):
                yield self._statement(c, c, scope, out, ctx)
            elif c.type in _JS_FUNCTION_VALUES or c.type in ("statement_block", "class_body"):
                yield self._descend(c, scope, out, ctx.inner(module_level=False))
            elif c.type not in self.comment_types:
                yield self._descend(c, scope, out, ctx)


def _identifiers(node: Node | None) -> list[Node]:
    """The names a destructuring pattern binds, in source order (walked without recursion)."""
    if node is None:
        return []
    out: list[Node] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type in ("identifier", "shorthand_property_identifier_pattern"):
            out.append(n)
            continue
        kids: list[Node] = []
        for c in n.named_children:
            if c.type == "pair_pattern":
                v = c.child_by_field_name("value")
                if v is not None:
                    kids.append(v)
            elif c.type != "property_identifier":
                kids.append(c)
        stack.extend(reversed(kids))
    return out


def _member_chain(node: Node) -> list[str]:
    """``a.b.c`` -> ["a", "b", "c"]; [] for computed or call-based members (walked without recursion)."""
    props: list[str] = []
    while node.type == "member_expression":
        obj = node.child_by_field_name("object")
        prop = node.child_by_field_name("property")
        if obj is None or prop is None:
            return []
        props.append(_text(prop))
        node = obj
    if node.type == "identifier":
        head = _text(node)
    elif node.type == "this":
        head = "this"
    else:
        return []
    return [head, *reversed(props)]


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

"""Java entities.

Qualified names (rendered ``path::qualname``): ``Class``, ``Class.method``,
nested types ``Outer.Inner.method``, constructors ``Class.Class``; interfaces,
enums, records and annotation types are classes; overloads share one name.
Fields belong to their class.
"""

from __future__ import annotations

from tree_sitter import Node

from skillforge.analyze.entities import Entity, LanguageAdapter, WalkContext
from skillforge.analyze.entities import text as _text

__all__ = ["JavaAdapter"]

_JAVA_TYPES = {
    "class_declaration": "class",
    "interface_declaration": "interface",
    "enum_declaration": "enum",
    "record_declaration": "record",
    "annotation_type_declaration": "annotation",
}


class JavaAdapter(LanguageAdapter):
    name = "java"
    extensions = (".java",)
    package = "tree-sitter-java"
    module = "tree_sitter_java"
    comment_types = ("line_comment", "block_comment")

    def _walk(self, node: Node, scope: list[str], out: list[Entity], ctx: WalkContext):
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
                    yield self._walk(body, qual, out, ctx.inner(in_class=True))
            elif t == "enum_body_declarations":
                yield self._walk(child, scope, out, ctx)
            elif t in ("method_declaration", "annotation_type_element_declaration") and scope:
                name = _text(child.child_by_field_name("name"))
                if name:
                    out.append(self._entity([*scope, name], "method", child, child))
            elif t in ("constructor_declaration", "compact_constructor_declaration") and scope:
                out.append(self._entity([*scope, scope[-1]], "constructor", child, child))

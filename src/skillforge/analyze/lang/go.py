"""Go entities.

Qualified names (rendered ``path::qualname``): ``Func``, ``Type`` (struct,
interface or other named type), ``Type.Method`` for methods with receivers
(pointer and generic receivers included: ``func (l *List[T]) Len()`` is
``List.Len``), interface methods ``Iface.Method``, package-level
``const``/``var`` names.
"""

from __future__ import annotations

from tree_sitter import Node

from skillforge.analyze.entities import Entity, LanguageAdapter, WalkContext
from skillforge.analyze.entities import text as _text

__all__ = ["GoAdapter"]

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


class GoAdapter(LanguageAdapter):
    name = "go"
    extensions = (".go",)
    package = "tree-sitter-go"
    module = "tree_sitter_go"
    comment_types = ("comment",)

    def _walk(self, node: Node, scope: list[str], out: list[Entity], ctx: WalkContext) -> None:
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

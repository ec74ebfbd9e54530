"""One adapter per language (the contract is :class:`skillforge.analyze.entities.LanguageAdapter`).

:func:`adapter_for` picks a file's adapter by extension: Python (``.py``,
``.pyi``), JavaScript, TypeScript (``.d.ts`` included), TSX, Go, Java, Rust.
The grammars of the languages other than Python are imported on first use; a
missing one raises :class:`~skillforge.analyze.entities.GrammarMissing` naming
the exact ``pip install`` line.
"""

from __future__ import annotations

import posixpath

from skillforge.analyze.entities import Entity, GrammarMissing, LanguageAdapter
from skillforge.analyze.lang.go import GoAdapter
from skillforge.analyze.lang.java import JavaAdapter
from skillforge.analyze.lang.javascript import JavaScriptAdapter, TSXAdapter, TypeScriptAdapter
from skillforge.analyze.lang.python import PYTHON, PythonAdapter
from skillforge.analyze.lang.rust import RustAdapter

__all__ = [
    "ADAPTERS",
    "PYTHON",
    "GoAdapter",
    "GrammarMissing",
    "JavaAdapter",
    "JavaScriptAdapter",
    "PythonAdapter",
    "RustAdapter",
    "TSXAdapter",
    "TypeScriptAdapter",
    "adapter_for",
    "language_entities",
]

ADAPTERS: tuple[LanguageAdapter, ...] = (PYTHON, JavaScriptAdapter(), TypeScriptAdapter(), TSXAdapter(), GoAdapter(),
                                         JavaAdapter(), RustAdapter())
_BY_EXT: dict[str, LanguageAdapter] = {ext: a for a in ADAPTERS if a is not PYTHON for ext in a.extensions}


def adapter_for(path: str) -> LanguageAdapter | None:
    """The adapter for a source file, by extension; None when there is none."""
    if path.endswith(PYTHON.extensions):  # case-sensitive, as pytest's discovery and the split rules are
        return PYTHON
    if path.endswith(".d.ts"):
        return _BY_EXT[".ts"]
    return _BY_EXT.get(posixpath.splitext(path)[1].lower())


def language_entities(path: str, source: bytes | str) -> list[Entity]:
    """Entities of one file of a supported language (see each adapter's module)."""
    adapter = adapter_for(path)
    if adapter is None:
        raise ValueError(f"{path}: no tree-sitter adapter for this file type")
    return adapter.entities(source)

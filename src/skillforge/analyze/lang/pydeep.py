"""Python nested deeper than tree-sitter-python can parse.

The grammar's scanner keeps its indentation stack in tree-sitter's 1 KiB state
buffer, two bytes a level: beyond about 500 levels of indentation the parse
breaks down into ERROR nodes and most definitions lose their names, and a
string that deep overflows the buffer (the process crashes). So such a source
is never given to the parser as it is.

The logical lines of the source (strings, brackets, comments and backslash
continuations accounted for) give each line's nesting depth, and the bodies of
the compound statements at depth :data:`CUT` are what is too deep:

* :func:`parsable` gives a copy of the same length (every byte offset and line
  number the same) in which those bodies are statements ``0``: what the parser
  reads instead of the source;
* :func:`deep_entities` names every entity: each body is parsed by itself,
  dedented, in the scope around it (its definition's, for a ``def`` or
  ``class``) -- again in pieces if it is still too deep -- while the text
  around it holds a ``pass`` and blank lines. The pieces' entities are put back
  in source order with their real lines; a definition whose body was taken out
  ends where its body ends, and its hash covers the bodies taken out (by their
  digests: hashing each entity's whole text would cost the square of the depth).

CPython itself refuses more than 100 levels of indentation, so such a file is
never imported or run: its entities are named, and that is all.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace

__all__ = ["CUT", "LIMIT", "deep_entities", "parsable", "too_deep"]

LIMIT = 400  # levels of indentation from which a file is parsed in pieces (the scanner breaks at about 510)
CUT = 200  # the depth of the definitions whose bodies become pieces

_BLANKS = bytes.maketrans(b"\t\f", b"  ")
_DEEP_RUN = b" " * LIMIT
_DEEP_INDENT = re.compile(rb"^[ \t\f]{%d,}\S" % LIMIT, re.M)  # fewer columns than levels are impossible
_TOKEN = re.compile(rb"#|[(\[{]|[)\]}]|[rRbBuUfF]{0,2}(\"\"\"|'''|\"|')")
_HEADER = re.compile(rb"[ \t\f]*(?:async[ \t]+)?(def|class)\b")


@dataclass
class _Logical:
    first: int  # 0-based line of its start
    last: int  # 0-based line of its end
    indent: int  # columns of leading whitespace (a tab counts as one)


def _logical_lines(lines: list[bytes]) -> list[_Logical]:
    """Logical lines that hold code (blank and comment-only lines left out)."""
    out: list[_Logical] = []
    depth = 0  # open brackets
    quote: bytes | None = None  # the string being read across lines (a triple-quoted one)
    cur: _Logical | None = None
    continued = False
    for k, line in enumerate(lines):
        pos, n = 0, len(line)
        if cur is None and not continued and quote is None and depth == 0:
            stripped = line.lstrip(b" \t\f")
            if not stripped.strip() or stripped.startswith(b"#"):
                continue
            pos = n - len(stripped)  # the search for tokens starts after the indentation
            cur = _Logical(k, k, pos)
        continued = comment = False
        while pos < n:
            if quote is not None:
                end = _close(line, pos, quote)
                if end < 0:
                    if len(quote) == 1:
                        quote = None  # an unterminated one-line string: the line ends it
                    pos = n
                    break
                quote, pos = None, end
                continue
            m = _TOKEN.search(line, pos)
            if m is None:
                break
            tok = m.group()
            if tok == b"#":
                comment = True
                break
            if m.group(1):
                quote, pos = m.group(1), m.end()
            else:
                depth = depth + 1 if tok in b"([{" else max(0, depth - 1)
                pos = m.end()
        code = line.rstrip(b"\r\n")
        if quote is None and not comment and code.endswith(b"\\") and not code.endswith(b"\\\\"):
            continued = True  # a backslash continuation
        if cur is not None:
            cur.last = k
            if depth == 0 and quote is None and not continued:
                out.append(cur)
                cur = None
    if cur is not None:
        out.append(cur)
    return out


def _close(line: bytes, pos: int, quote: bytes) -> int:
    """Where the string closed by ``quote`` ends on ``line`` from ``pos`` (-1: not on this line)."""
    while True:
        q = line.find(quote, pos)
        b = line.find(b"\\", pos)
        if q < 0:
            return -1
        if 0 <= b < q:
            pos = b + 2  # an escaped character (raw strings too, for where a string ends)
            continue
        return q + len(quote)


def _depths(logical: list[_Logical]) -> list[int]:
    """The indentation depth of each logical line (0 at module level)."""
    stack = [0]
    out = []
    for ll in logical:
        while len(stack) > 1 and ll.indent < stack[-1]:
            stack.pop()
        if ll.indent > stack[-1]:
            stack.append(ll.indent)
        out.append(len(stack) - 1)
    return out


@dataclass
class _Cut:
    header: int  # 0-based line of the compound statement (def, class, if, for, ...)
    definition: bool  # a def or class (its body is a scope of its own)
    body_first: int  # 0-based first line of its body
    stub: int  # 0-based first line of its body's first statement (where the stand-in goes)
    body_last: int  # 0-based last line of its body
    body_indent: int


def _cuts(lines: list[bytes], logical: list[_Logical], depths: list[int]) -> list[_Cut]:
    """The bodies of the compound statements at depth :data:`CUT` (a block under each)."""
    out: list[_Cut] = []
    k = 0
    while k < len(logical):
        ll = logical[k]
        if depths[k] == CUT and k + 1 < len(logical) and logical[k + 1].indent > ll.indent:
            j = k + 1
            while j < len(logical) and logical[j].indent > ll.indent:
                j += 1
            body = logical[k + 1]
            out.append(_Cut(ll.first, bool(_HEADER.match(lines[ll.first])), ll.last + 1, body.first,
                            logical[j - 1].last, body.indent))
            k = j
            continue
        k += 1
    return out


def too_deep(source: bytes) -> bool:
    """Nested beyond what tree-sitter-python parses (see the module docstring)."""
    # fewer columns than levels are impossible: the cheap answers first (a run of LIMIT blanks anywhere,
    # found in C -- tabs and form feeds counted as blanks, in a copy only when there are any -- then one
    # at the start of a line)
    blanks = source.translate(_BLANKS) if b"\t" in source or b"\f" in source else source
    if _DEEP_RUN not in blanks or not _DEEP_INDENT.search(source):
        return False
    return max(_depths(_logical_lines(source.splitlines(keepends=True))), default=0) >= LIMIT


def parsable(source: bytes) -> bytes:
    """``source`` when tree-sitter-python can parse it; else a copy of the same length in
    which the bodies of the compound statements at depth :data:`CUT` are statements ``0``
    (at the body's indentation, padded with spaces: lines of blanks under a deep
    indentation stack are slow for the grammar's scanner)."""
    if not too_deep(source):
        return source
    lines = source.splitlines(keepends=True)
    out = list(lines)
    logical = _logical_lines(lines)
    for c in _cuts(lines, logical, _depths(logical)):  # every line deeper than CUT is in one of these bodies
        indent = lines[c.stub][:c.body_indent]
        for k in range(c.body_first, c.body_last + 1):
            line = lines[k]
            body = line.rstrip(b"\r\n")
            end = line[len(body):]
            if len(body) > c.body_indent:
                out[k] = indent + b"0" + b" " * (len(body) - c.body_indent - 1) + end
            else:
                out[k] = b" " * len(body) + end
    return b"".join(out)


def deep_entities(source: bytes, walk) -> list | None:
    """The entities of a module too deep for one parse (see the module docstring); None when it
    is not that deep. ``walk(source, scope, scope_kind, module_level)`` parses one piece (never
    too deep) and lists its entities (the one-parse walk)."""
    if not too_deep(source):
        return None
    return _piece(source.splitlines(keepends=True), 0, [], None, True, walk)


def _piece(lines: list[bytes], offset: int, scope: list[str], scope_kind: str | None, module_level: bool, walk,
           ) -> list:
    """The entities of one piece (``lines``, its first line ``offset`` lines into the file)."""
    logical = _logical_lines(lines)
    depths = _depths(logical)
    cuts = _cuts(lines, logical, depths) if max(depths, default=0) > CUT else []
    text = list(lines)
    for c in cuts:
        for k in range(c.body_first, c.body_last + 1):
            text[k] = b"\n"
        text[c.stub] = lines[c.stub][:c.body_indent] + b"pass\n"
    digests = [hashlib.sha1(b"".join(lines[c.body_first:c.body_last + 1])).digest() for c in cuts]
    ents = []
    for e in walk(b"".join(text), scope, scope_kind, module_level):
        end = e.end_line - 1
        grown = next((c for c in cuts if c.body_first <= end <= c.body_last), None)
        if grown is not None:  # it ended on the stand-in: it ends where the body does
            e = replace(e, end_line=grown.body_last + 1)
        inside = [d for c, d in zip(cuts, digests) if e.start_line - 1 <= c.header and c.body_last <= e.end_line - 1]
        if inside:  # its text with the stand-ins, and the digests of the bodies they stand for
            e = replace(e, text_hash=hashlib.sha1(e.text_hash.encode() + b"".join(inside)).hexdigest())
        ents.append(e)
    by_header = {e.def_line - 1: e for e in ents}
    out = [_shift(e, offset) for e in ents]
    for c in cuts:  # each body in its scope: its definition's, or (an if, a for...) the one around it
        body = [_dedent(ln, c.body_indent) for ln in lines[c.body_first:c.body_last + 1]]
        if c.definition:
            head = by_header.get(c.header)
            if head is None:
                continue  # not a definition after all (a syntax error): nothing to name in it
        else:
            around = [e for e in ents if e.kind != "variable" and e.start_line <= c.header + 1 <= e.end_line]
            head = max(around, key=lambda e: e.start_line) if around else None
        if head is not None:
            out += _piece(body, offset + c.body_first, head.qualname.split("."),
                          "class" if head.kind == "class" else "function", False, walk)
        else:
            out += _piece(body, offset + c.body_first, scope, scope_kind, module_level, walk)
    out.sort(key=lambda e: e.start_line)  # stable: source order, outer before inner
    return out


def _dedent(line: bytes, width: int) -> bytes:
    """``line`` without up to ``width`` leading blanks."""
    head = line[:width]
    return line[len(head) - len(head.lstrip(b" \t\f")):]


def _shift(e, offset: int):
    if not offset:
        return e
    return replace(e, start_line=e.start_line + offset, end_line=e.end_line + offset, def_line=e.def_line + offset)

"""Unified diffs of one file (``git apply``-able), in about linear time on any input.

:func:`file_diff` is ``difflib.unified_diff`` for ordinary files. difflib's
matching is quadratic on long inputs with repeated lines (a 40,000-line module
changed in 5,000 places takes minutes), so a long input (over
``LARGE_DIFF_BYTES`` or ``LARGE_DIFF_LINES``) is matched as patience diff does:
the common head and tail, then the lines that occur once on each side as
anchors (in the order both sides have them), and difflib only between anchors.
The hunks are grouped and written exactly as difflib writes them.
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterator

__all__ = ["LARGE_DIFF_BYTES", "LARGE_DIFF_LINES", "file_diff", "hunk_line_numbers"]

LARGE_DIFF_BYTES = 64 << 10
LARGE_DIFF_LINES = 4000


def _anchors(a: list[str], b: list[str], lo: int, hi: int, lo2: int, hi2: int) -> list[tuple[int, int]]:
    """Lines found once in ``a[lo:hi]`` and once in ``b[lo2:hi2]``, the longest run of them in the
    same order in both (patience diff's anchors), as (index in a, index in b)."""
    count: dict[str, list[int]] = {}
    for i in range(lo, hi):
        count.setdefault(a[i], [0, -1, 0, -1])
        c = count[a[i]]
        c[0] += 1
        c[1] = i
    for j in range(lo2, hi2):
        c = count.get(b[j])
        if c is not None:
            c[2] += 1
            c[3] = j
    pairs = sorted((c[1], c[3]) for c in count.values() if c[0] == 1 and c[2] == 1)
    # the longest increasing run of b-indices (patience sorting), linear-logarithmic
    tails: list[int] = []
    tail_at: list[int] = []
    back = [-1] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        x = bisect.bisect_left(tails, j)
        if x == len(tails):
            tails.append(j)
            tail_at.append(k)
        else:
            tails[x] = j
            tail_at[x] = k
        back[k] = tail_at[x - 1] if x else -1
    out = []
    k = tail_at[-1] if tail_at else -1
    while k != -1:
        out.append(pairs[k])
        k = back[k]
    return out[::-1]


def _opcodes_large(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    """SequenceMatcher-style opcodes for long inputs, in about linear time: the common head
    and tail, then lines unique to both sides as anchors (patience diff), and difflib only
    between anchors (on long inputs with repeated lines difflib alone is quadratic)."""
    p = 0
    top = min(len(a), len(b))
    while p < top and a[p] == b[p]:
        p += 1
    q = 0
    while q < top - p and a[len(a) - 1 - q] == b[len(b) - 1 - q]:
        q += 1
    codes: list[tuple[str, int, int, int, int]] = [("equal", 0, p, 0, p)] if p else []
    i, j = p, p
    for ai, bj in [*_anchors(a, b, p, len(a) - q, p, len(b) - q), (len(a) - q, len(b) - q)]:
        if ai > i or bj > j:
            sm = difflib.SequenceMatcher(None, a[i:ai], b[j:bj], autojunk=True)
            codes += [(tag, i1 + i, i2 + i, j1 + j, j2 + j) for tag, i1, i2, j1, j2 in sm.get_opcodes()]
        if ai < len(a) - q:
            codes.append(("equal", ai, ai + 1, bj, bj + 1))
        i, j = ai + 1, bj + 1
    if q:
        codes.append(("equal", len(a) - q, len(a), len(b) - q, len(b)))
    return codes


def _unified_large(a: list[str], b: list[str], fromfile: str, tofile: str, n: int) -> Iterator[str]:
    """``difflib.unified_diff`` for long inputs, on :func:`_opcodes_large`'s opcodes."""
    codes = _opcodes_large(a, b)
    sm = difflib.SequenceMatcher(None, (), ())  # for its grouping of opcodes (given below) only
    merged: list[tuple[str, int, int, int, int]] = []
    for c in codes:
        if merged and merged[-1][0] == "equal" == c[0]:
            merged[-1] = ("equal", merged[-1][1], c[2], merged[-1][3], c[4])
        elif c[1] != c[2] or c[3] != c[4]:
            merged.append(c)
    sm.get_opcodes = lambda: merged  # difflib's grouping and formatting, on these opcodes
    started = False
    for group in sm.get_grouped_opcodes(n):
        if not started:
            started = True
            yield f"--- {fromfile}\n"
            yield f"+++ {tofile}\n"
        first, last = group[0], group[-1]
        yield (f"@@ -{difflib._format_range_unified(first[1], last[2])} "  # noqa: SLF001 - difflib's own format
               f"+{difflib._format_range_unified(first[3], last[4])} @@\n")  # noqa: SLF001
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                yield from (" " + line for line in a[i1:i2])
                continue
            if tag in ("replace", "delete"):
                yield from ("-" + line for line in a[i1:i2])
            if tag in ("replace", "insert"):
                yield from ("+" + line for line in b[j1:j2])


def file_diff(path: str, old: str | None, new: str | None, *, context: int = 3) -> str:
    """A ``git apply``-able diff of one file (``old``/``new`` None: the file is added/deleted)."""
    if old == new:
        return ""
    a = (old or "").splitlines(keepends=True)
    b = (new or "").splitlines(keepends=True)
    header = f"diff --git a/{path} b/{path}\n"
    if old is None:
        header += "new file mode 100644\n"
    elif new is None:
        header += "deleted file mode 100644\n"
    large = len(old or "") + len(new or "") > LARGE_DIFF_BYTES or len(a) + len(b) > LARGE_DIFF_LINES
    lines = list((_unified_large if large else difflib.unified_diff)(
        a, b, "/dev/null" if old is None else f"a/{path}", "/dev/null" if new is None else f"b/{path}", n=context))
    out = []
    for line in lines:
        if line.startswith(("---", "+++")) and len(out) < 2:
            out.append(line.rstrip("\n") + "\n")
        elif line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return header + "".join(out)


def hunk_line_numbers(hunks, counts: list[tuple[int, int, int, int]], paths=()) -> tuple[list[int], list[int]] | None:
    """(old-side numbers of the removed lines, new-side numbers of the added lines) of a file's hunks
    (each a header and its lines, ``counts`` their headers' numbers), numbered as unidiff numbers
    them; None when a hunk holds a line other than context, ``+``, ``-`` (a ``\\`` marker) or one of
    the file's ``paths`` a line break (unidiff would read its header otherwise): let unidiff number them."""
    if any(p is not None and ("\n" in p or "\r" in p) for p in paths):
        return None
    removed: list[int] = []
    added: list[int] = []
    for hunk, (old_no, _, new_no, _) in zip(hunks, counts):
        for line in hunk[1:]:
            tag = line[:1]
            if tag == "+":
                added.append(new_no)
                new_no += 1
            elif tag == "-":
                removed.append(old_no)
                old_no += 1
            elif tag == " " or line in ("\n", "\r\n"):
                old_no += 1
                new_no += 1
            else:
                return None
    return removed, added

"""Unified-diff helpers on top of :mod:`unidiff`.

Patches come from ``git diff`` / ``git log -p`` / ``git format-patch``. A patch
is cut into one :class:`FileDiff` per file *keeping the raw text of every
line*, so that sub-patches (:func:`select_files`, :func:`drop_hunk`) are
byte-for-byte what git printed and ``git apply`` accepts them. :mod:`unidiff`
parses each file's hunks (line numbers, line kinds); the raw cutting is done
here because unidiff's ``str()`` does not round-trip binary payloads and it
swallows commit messages of ``git log -p`` output into the patch info.

Line numbers are 1-based: ``added_lines`` are new-side numbers of ``+`` lines,
``removed_lines`` old-side numbers of ``-`` lines.

Binary files (``Binary files a/x and b/x differ`` or a ``GIT binary patch``
payload) are kept in the patch text and flagged with ``binary=True``; they have
no hunks and :func:`apply_patch_to_text` refuses them. Only sections with a
``GIT binary patch`` payload (``has_binary_payload``) can be applied by git.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchedFile

from skillforge.analyze.textdiff import hunk_line_numbers

__all__ = [
    "FileDiff",
    "PatchError",
    "apply_patch",
    "apply_patch_to_text",
    "changed_lines",
    "drop_hunk",
    "hunk_count",
    "join_files",
    "parse_patch",
    "reverse_patch",
    "select_files",
    "split_lines",
]

Status = Literal["added", "removed", "modified", "renamed"]

DEV_NULL = "/dev/null"
_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_PREFIX_RE = re.compile(r"^[abciow12]/")
_GIT_HEADER_PREFIXES = (
    "old mode ",
    "new mode ",
    "deleted file mode ",
    "new file mode ",
    "copy from ",
    "copy to ",
    "rename from ",
    "rename to ",
    "rename old ",
    "rename new ",
    "similarity index ",
    "dissimilarity index ",
    "index ",
)
# one line of a "GIT binary patch" payload: a block header, a base85 line, or the blank separator
_BINARY_PAYLOAD_RE = re.compile(r"^(?:literal \d+|delta \d+|[A-Za-z][0-9A-Za-z!#$%&()*+;<=>?@^_`{|}~-]*)?\r?\n?$")


class PatchError(ValueError):
    """A patch that cannot be parsed, or does not apply to the text it is applied to."""


def split_lines(text: str) -> list[str]:
    """Split on ``\\n`` only (``str.splitlines`` also splits on ``\\r``, form feeds, ...), keeping the ends."""
    if not text:
        return []
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


# --------------------------------------------------------------------------- paths


def _unquote(path: str) -> str:
    """Undo git's C-style quoting (``"a/t\\303\\251st.py"``)."""
    if not (len(path) >= 2 and path.startswith('"') and path.endswith('"')):
        return path
    body = path[1:-1]
    out = bytearray()
    i = 0
    simple = {"n": b"\n", "t": b"\t", "\\": b"\\", '"': b'"', "a": b"\a", "b": b"\b", "f": b"\f", "r": b"\r", "v": b"\v"}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567" and re.match(r"[0-7]{3}", body[i + 1 : i + 4]):
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
            if nxt in simple:
                out += simple[nxt]
                i += 2
                continue
        out += ch.encode("utf-8", "surrogateescape")
        i += 1
    return out.decode("utf-8", "surrogateescape")


def _quote(path: str) -> str:
    """git's quoting of a path for headers (only when it needs it)."""
    raw = path.encode("utf-8", "surrogateescape")
    if not any(b < 0x20 or b >= 0x7F or b in (0x22, 0x5C) for b in raw):
        return path
    simple = {0x0A: "\\n", 0x09: "\\t", 0x5C: "\\\\", 0x22: '\\"', 0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0D: "\\r", 0x0B: "\\v"}
    out = []
    for b in raw:
        if b in simple:
            out.append(simple[b])
        elif b < 0x20 or b >= 0x7F:
            out.append(f"\\{b:03o}")
        else:
            out.append(chr(b))
    return '"' + "".join(out) + '"'


def _strip_prefix(path: str) -> str:
    return _PREFIX_RE.sub("", path, count=1)


def _header_path(value: str) -> str | None:
    """Path from a ``---``/``+++`` line value (timestamp and prefix removed); None for /dev/null."""
    value = value.rstrip("\r\n")
    if value.startswith('"'):
        end = value.find('"', 1)
        while end != -1 and value[end - 1] == "\\" and value[end - 2 : end] != "\\\\":
            end = value.find('"', end + 1)
        value = value[: end + 1] if end != -1 else value
    else:
        value = value.split("\t", 1)[0]
    value = _unquote(value)
    if value == DEV_NULL:
        return None
    return _strip_prefix(value)


def _split_git_header(rest: str) -> tuple[str | None, str | None]:
    """``a/x b/y`` (possibly quoted) -> (x, y); (None, None) when ambiguous."""
    rest = rest.rstrip("\r\n")
    tokens: list[str] = []
    i = 0
    while i < len(rest) and len(tokens) < 2:
        if rest[i] == " ":
            i += 1
            continue
        if rest[i] == '"':
            j = i + 1
            while j < len(rest) and not (rest[j] == '"' and rest[j - 1] != "\\"):
                j += 1
            tokens.append(rest[i : j + 1])
            i = j + 1
        else:
            if tokens or '"' in rest[i:]:
                j = rest.find(" ", i) if not tokens else len(rest)
                j = len(rest) if j == -1 else j
                tokens.append(rest[i:j])
                i = j
            else:
                # both unquoted: "a/p b/p" -- split in the middle when both halves agree
                half = (len(rest) - 1) // 2
                if len(rest) % 2 == 1 and rest[half] == " " and _strip_prefix(rest[:half]) == _strip_prefix(rest[half + 1 :]):
                    return _strip_prefix(rest[:half]), _strip_prefix(rest[half + 1 :])
                parts = rest.split(" ")
                if len(parts) == 2:
                    return _strip_prefix(parts[0]), _strip_prefix(parts[1])
                return None, None
    if len(tokens) != 2:
        return None, None
    return _strip_prefix(_unquote(tokens[0])), _strip_prefix(_unquote(tokens[1]))


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class FileDiff:
    """One file's part of a patch, with its raw lines."""

    header: tuple[str, ...]
    hunks: tuple[tuple[str, ...], ...] = ()
    binary_lines: tuple[str, ...] = ()
    old_path: str | None = None
    new_path: str | None = None
    binary: bool = False
    has_binary_payload: bool = False
    is_copy: bool = False
    old_mode: str | None = None
    new_mode: str | None = None

    @property
    def path(self) -> str:
        """The path after the change (before it, for deletions)."""
        return self.new_path if self.new_path is not None else (self.old_path or "")

    @property
    def status(self) -> Status:
        if self.old_path is None:
            return "added"
        if self.new_path is None:
            return "removed"
        if self.is_copy:
            return "added"
        if self.old_path != self.new_path:
            return "renamed"
        return "modified"

    @property
    def text(self) -> str:
        lines = [*self.header, *(line for h in self.hunks for line in h), *self.binary_lines]
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        return "".join(lines)

    @cached_property
    def patched_file(self) -> PatchedFile:
        """The unidiff view of this file (hunks with line numbers)."""
        if self.binary:
            return PatchedFile(source=self.old_path or DEV_NULL, target=self.new_path or DEV_NULL, is_binary_file=True)
        if not self.hunks:
            return PatchedFile(source=self.old_path or DEV_NULL, target=self.new_path or DEV_NULL)
        text = "".join(
            [
                f"--- {'a/' + self.old_path if self.old_path is not None else DEV_NULL}\n",
                f"+++ {'b/' + self.new_path if self.new_path is not None else DEV_NULL}\n",
                *(line if line.endswith("\n") else line + "\n" for h in self.hunks for line in h),
            ]
        )
        try:
            ps = PatchSet(text)
        except UnidiffParseError as exc:  # pragma: no cover - the cutter validated the counts
            raise PatchError(f"{self.path}: {exc}") from exc
        if len(ps) != 1:  # pragma: no cover
            raise PatchError(f"{self.path}: expected one file, unidiff saw {len(ps)}")
        return ps[0]

    @cached_property
    def _line_numbers(self) -> tuple[list[int], list[int]] | None:
        """(removed, added) line numbers as unidiff numbers them (see :func:`.textdiff.hunk_line_numbers`)."""
        if self.binary or not self.hunks:
            return [], []
        return hunk_line_numbers(self.hunks, [_hunk_counts(h[0]) for h in self.hunks], (self.old_path, self.new_path))

    @cached_property
    def added_lines(self) -> list[int]:
        """New-side (1-based) numbers of the added lines."""
        got = self._line_numbers
        return got[1] if got is not None else [ln.target_line_no for h in self.patched_file for ln in h if ln.is_added]

    @cached_property
    def removed_lines(self) -> list[int]:
        """Old-side (1-based) numbers of the removed lines."""
        got = self._line_numbers
        return got[0] if got is not None else [ln.source_line_no for h in self.patched_file for ln in h if ln.is_removed]

    @cached_property
    def added_count(self) -> int:
        return sum(1 for h in self.hunks for line in h[1:] if line[:1] == "+")

    @cached_property
    def removed_count(self) -> int:
        return sum(1 for h in self.hunks for line in h[1:] if line[:1] == "-")


def changed_lines(fd: FileDiff) -> tuple[list[int], list[int]]:
    """(old-side removed line numbers, new-side added line numbers)."""
    return fd.removed_lines, fd.added_lines


# --------------------------------------------------------------------------- cutting


def _hunk_counts(line: str) -> tuple[int, int, int, int]:
    m = _HUNK_RE.match(line)
    if not m:
        raise PatchError(f"bad hunk header: {line!r}")
    return (
        int(m[1]),
        int(m[2]) if m[2] is not None else 1,
        int(m[3]),
        int(m[4]) if m[4] is not None else 1,
    )


def _read_hunks(lines: list[str], i: int, where: str) -> tuple[list[tuple[str, ...]], int]:
    hunks: list[tuple[str, ...]] = []
    n = len(lines)
    while i < n and lines[i].startswith("@@ "):
        header = lines[i]
        _, old_len, _, new_len = _hunk_counts(header)
        body = [header]
        i += 1
        old_left, new_left = old_len, new_len
        while old_left > 0 or new_left > 0:
            if i >= n:
                raise PatchError(f"{where}: hunk {header.strip()!r} is shorter than its header says")
            line = lines[i]
            tag = line[:1]
            if tag == " " or line in ("\n", "\r\n"):
                old_left -= 1
                new_left -= 1
            elif tag == "-":
                old_left -= 1
            elif tag == "+":
                new_left -= 1
            elif tag == "\\":
                pass
            else:
                raise PatchError(f"{where}: unexpected line in hunk {header.strip()!r}: {line!r}")
            if old_left < 0 or new_left < 0:
                raise PatchError(f"{where}: hunk {header.strip()!r} is longer than its header says")
            body.append(line)
            i += 1
        while i < n and lines[i].startswith("\\"):
            body.append(lines[i])
            i += 1
        hunks.append(tuple(body))
    return hunks, i


def _read_binary_payload(lines: list[str], i: int) -> tuple[list[str], int]:
    out: list[str] = []
    n = len(lines)
    while i < n and not lines[i].startswith("diff --git ") and _BINARY_PAYLOAD_RE.match(lines[i]):
        out.append(lines[i])
        i += 1
    return out, i


def _is_plain_header(lines: list[str], i: int) -> bool:
    return lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")


def _parse_section(lines: list[str], i: int) -> tuple[FileDiff, int]:
    n = len(lines)
    header: list[str] = []
    old_path: str | None = None
    new_path: str | None = None
    git_old: str | None = None
    git_new: str | None = None
    added = removed = copy = False
    old_mode = new_mode = None
    binary = payload = False
    binary_lines: list[str] = []
    saw_minus = saw_plus = False

    if lines[i].startswith("diff --git "):
        header.append(lines[i])
        git_old, git_new = _split_git_header(lines[i][len("diff --git ") :])
        i += 1
        while i < n:
            line = lines[i]
            stripped = line.rstrip("\r\n")
            if line.startswith(_GIT_HEADER_PREFIXES):
                header.append(line)
                if stripped.startswith("new file mode "):
                    added = True
                    new_mode = stripped.split()[-1]
                elif stripped.startswith("deleted file mode "):
                    removed = True
                    old_mode = stripped.split()[-1]
                elif stripped.startswith("old mode "):
                    old_mode = stripped.split()[-1]
                elif stripped.startswith("new mode "):
                    new_mode = stripped.split()[-1]
                elif stripped.startswith(("rename from ", "rename old ")):
                    old_path = _unquote(stripped.split(" ", 2)[2])
                elif stripped.startswith(("rename to ", "rename new ")):
                    new_path = _unquote(stripped.split(" ", 2)[2])
                elif stripped.startswith("copy from "):
                    copy = True
                    old_path = _unquote(stripped[len("copy from ") :])
                elif stripped.startswith("copy to "):
                    copy = True
                    new_path = _unquote(stripped[len("copy to ") :])
                elif stripped.startswith("index "):
                    parts = stripped.split()
                    if len(parts) == 3:
                        old_mode = old_mode or parts[2]
                        new_mode = new_mode or parts[2]
                i += 1
            elif line.startswith("--- ") and not saw_minus:
                header.append(line)
                saw_minus = True
                p = _header_path(line[4:])
                if p is not None and old_path is None:
                    old_path = p
                i += 1
            elif line.startswith("+++ ") and saw_minus and not saw_plus:
                header.append(line)
                saw_plus = True
                p = _header_path(line[4:])
                if p is not None and new_path is None:
                    new_path = p
                i += 1
            else:
                break
    elif _is_plain_header(lines, i):
        header += [lines[i], lines[i + 1]]
        old_path = _header_path(lines[i][4:])
        new_path = _header_path(lines[i + 1][4:])
        added = old_path is None
        removed = new_path is None
        saw_minus = saw_plus = True
        i += 2
    else:  # pragma: no cover - callers only start sections on headers
        raise PatchError(f"not a file header: {lines[i]!r}")

    hunks: list[tuple[str, ...]] = []
    if i < n and lines[i].startswith("Binary files "):
        binary = True
        binary_lines.append(lines[i])
        m = re.match(r"^Binary files (.+?) and (.+?) differ", lines[i].rstrip("\r\n"))
        if m and old_path is None and new_path is None and git_old is None:
            a, b = _unquote(m[1]), _unquote(m[2])
            old_path = None if a == DEV_NULL else _strip_prefix(a)
            new_path = None if b == DEV_NULL else _strip_prefix(b)
        i += 1
    elif i < n and lines[i].startswith("GIT binary patch"):
        binary = payload = True
        binary_lines.append(lines[i])
        more, i = _read_binary_payload(lines, i + 1)
        binary_lines += more
    else:
        hunks, i = _read_hunks(lines, i, where=new_path or old_path or git_new or "?")

    # fill in paths the ---/+++ lines did not give (pure renames, mode changes, binaries)
    if not added and old_path is None:
        old_path = git_old
    if not removed and new_path is None:
        new_path = git_new
    if added:
        old_path = None
        new_path = new_path or git_new
    if removed:
        new_path = None
        old_path = old_path or git_old
    if old_path is None and new_path is None:
        raise PatchError(f"cannot tell which file this diff is for: {header[0]!r}")
    fd = FileDiff(
        header=tuple(header),
        hunks=tuple(hunks),
        binary_lines=tuple(binary_lines),
        old_path=old_path,
        new_path=new_path,
        binary=binary,
        has_binary_payload=payload,
        is_copy=copy,
        old_mode=old_mode,
        new_mode=new_mode,
    )
    return fd, i


def parse_patch(patch_text: str) -> list[FileDiff]:
    """Cut a patch into files. Text before the first file and between files
    (``git log -p`` commit headers, ``format-patch`` signatures) is dropped."""
    lines = split_lines(patch_text)
    files: list[FileDiff] = []
    i, n = 0, len(lines)
    while i < n:
        if lines[i].startswith("diff --git ") or _is_plain_header(lines, i):
            fd, i = _parse_section(lines, i)
            files.append(fd)
        else:
            i += 1
    return files


def join_files(files: Iterable[FileDiff]) -> str:
    """The patch made of these files, in this order."""
    return "".join(f.text for f in files)


# --------------------------------------------------------------------------- selection


def _find(files: list[FileDiff], path: str) -> int:
    for k, f in enumerate(files):
        if f.path == path:
            return k
    for k, f in enumerate(files):
        if path in (f.old_path, f.new_path):
            return k
    raise PatchError(f"no file {path!r} in the patch")


def select_files(patch_text: str, predicate: Callable[[str], bool]) -> str:
    """The sub-patch of the files whose path (after the change; before it for
    deletions) satisfies ``predicate``. Each file's lines are kept verbatim."""
    return join_files(f for f in parse_patch(patch_text) if predicate(f.path))


def hunk_count(patch_text: str, path: str | None = None) -> int:
    """Number of hunks in the patch, or in one file of it."""
    files = parse_patch(patch_text)
    if path is not None:
        return len(files[_find(files, path)].hunks)
    return sum(len(f.hunks) for f in files)


def _with_new_start(header: str, delta: int) -> str:
    m = _HUNK_RE.match(header)
    assert m is not None
    start = int(m[3]) + delta
    return header[: m.start(3)] + str(start) + header[m.end(3) :]


def drop_hunk(patch_text: str, path: str, index: int) -> str:
    """The patch minus hunk ``index`` (0-based) of file ``path``; still applicable:
    later hunks' new-side starts are shifted. A file left without hunks is
    dropped, unless it still renames or re-modes the file (then its header stays)."""
    files = parse_patch(patch_text)
    k = _find(files, path)
    fd = files[k]
    if not 0 <= index < len(fd.hunks):
        raise PatchError(f"{path}: no hunk {index} (it has {len(fd.hunks)})")
    dropped = fd.hunks[index]
    delta = -(sum(1 for ln in dropped[1:] if ln.startswith("+")) - sum(1 for ln in dropped[1:] if ln.startswith("-")))
    hunks = list(fd.hunks[:index])
    for h in fd.hunks[index + 1 :]:
        hunks.append((_with_new_start(h[0], delta), *h[1:]))
    if hunks:
        files[k] = replace(fd, hunks=tuple(hunks))
    elif fd.status == "renamed" or (fd.old_mode and fd.new_mode and fd.old_mode != fd.new_mode and fd.status == "modified"):
        header = tuple(ln for ln in fd.header if not ln.startswith(("index ", "--- ", "+++ ")))
        if fd.status == "renamed":
            header = tuple(
                "similarity index 100%\n" if ln.startswith(("similarity index ", "dissimilarity index ")) else ln
                for ln in header
            )
        files[k] = replace(fd, header=header, hunks=())
    else:
        del files[k]
    return join_files(files)


# --------------------------------------------------------------------------- reversing


def _reverse_hunk(hunk: tuple[str, ...]) -> tuple[str, ...]:
    m = _HUNK_RE.match(hunk[0])
    assert m is not None
    old = m[1] + (f",{m[2]}" if m[2] is not None else "")
    new = m[3] + (f",{m[4]}" if m[4] is not None else "")
    head = f"@@ -{new} +{old} @@" + hunk[0][m.end() :]
    out: list[str] = [head]
    # group each line with the "\ No newline" markers that follow it
    groups: list[list[str]] = []
    for line in hunk[1:]:
        if line.startswith("\\") and groups:
            groups[-1].append(line)
        else:
            groups.append([line])
    run_minus: list[list[str]] = []
    run_plus: list[list[str]] = []

    def flush() -> None:
        for g in run_minus + run_plus:
            out.extend(g)
        run_minus.clear()
        run_plus.clear()

    for g in groups:
        first = g[0]
        if first.startswith("+"):
            run_minus.append(["-" + first[1:], *g[1:]])
        elif first.startswith("-"):
            run_plus.append(["+" + first[1:], *g[1:]])
        else:
            flush()
            out.extend(g)
    flush()
    return tuple(out)


def _reverse_binary(lines: tuple[str, ...]) -> tuple[str, ...]:
    if not lines:
        return lines
    if lines[0].startswith("Binary files "):
        m = re.match(r"^Binary files (.+?) and (.+?) differ(.*)$", lines[0], re.S)
        if not m:
            return lines
        a, b = m[1], m[2]
        a2 = DEV_NULL if b == DEV_NULL else "a/" + _strip_prefix(_unquote(b))
        b2 = DEV_NULL if a == DEV_NULL else "b/" + _strip_prefix(_unquote(a))
        return (f"Binary files {a2} and {b2} differ{m[3]}",)
    # GIT binary patch: forward block, then reverse block -- swap them
    blocks: list[list[str]] = []
    for line in lines[1:]:
        if line.startswith(("literal ", "delta ")):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
    if len(blocks) != 2:
        raise PatchError("binary patch without a reverse block cannot be reversed")
    return (lines[0], *blocks[1], *blocks[0])


def _reverse_file(fd: FileDiff) -> FileDiff:
    if fd.is_copy:
        raise PatchError(f"{fd.path}: a copy cannot be reversed from the patch alone")
    old, new = fd.new_path, fd.old_path  # the reversed patch's sides
    a = old if old is not None else new
    b = new if new is not None else old
    header: list[str] = []
    if fd.header and fd.header[0].startswith("diff --git "):
        header.append(f"diff --git {_quote('a/' + (a or ''))} {_quote('b/' + (b or ''))}\n")
    mode_lines: dict[str, str] = {}
    rest: list[str] = []
    for line in fd.header[1:] if fd.header and fd.header[0].startswith("diff --git ") else fd.header:
        s = line.rstrip("\r\n")
        if s.startswith("new file mode "):
            rest.append("deleted file mode " + s[len("new file mode ") :] + "\n")
        elif s.startswith("deleted file mode "):
            rest.append("new file mode " + s[len("deleted file mode ") :] + "\n")
        elif s.startswith("old mode "):
            mode_lines["new"] = "new mode " + s[len("old mode ") :] + "\n"
        elif s.startswith("new mode "):
            mode_lines["old"] = "old mode " + s[len("new mode ") :] + "\n"
        elif s.startswith(("rename from ", "rename to ")):
            continue  # re-emitted below
        elif s.startswith("index "):
            parts = s.split(" ")
            ids = parts[1].split("..")
            parts[1] = f"{ids[1]}..{ids[0]}" if len(ids) == 2 else parts[1]
            rest.append(" ".join(parts) + "\n")
        elif s.startswith("--- "):
            rest.append("--- " + (_header_name("a/", old) if old is not None else DEV_NULL) + "\n")
        elif s.startswith("+++ "):
            rest.append("+++ " + (_header_name("b/", new) if new is not None else DEV_NULL) + "\n")
        else:
            rest.append(line)
    if "old" in mode_lines:
        header.append(mode_lines["old"])
    if "new" in mode_lines:
        header.append(mode_lines["new"])
    if fd.status == "renamed":
        # keep similarity first, as git prints it
        sim = [ln for ln in rest if ln.startswith(("similarity index ", "dissimilarity index "))]
        rest = [ln for ln in rest if ln not in sim]
        header += sim
        header.append(f"rename from {_quote(old or '')}\n")
        header.append(f"rename to {_quote(new or '')}\n")
    header += rest
    return FileDiff(
        header=tuple(header),
        hunks=tuple(_reverse_hunk(h) for h in fd.hunks),
        binary_lines=_reverse_binary(fd.binary_lines),
        old_path=old,
        new_path=new,
        binary=fd.binary,
        has_binary_payload=fd.has_binary_payload,
        old_mode=fd.new_mode,
        new_mode=fd.old_mode,
    )


def _header_name(prefix: str, path: str) -> str:
    """A ``---``/``+++`` name as git prints it: quoted when needed, a tab after names with spaces."""
    return _quote(prefix + path) + ("\t" if " " in path else "")


def reverse_patch(patch_text: str) -> str:
    """The patch that undoes ``patch_text``."""
    return join_files(_reverse_file(fd) for fd in parse_patch(patch_text))


# --------------------------------------------------------------------------- applying


@dataclass
class _Line:
    tag: str
    text: str  # including its newline, unless "\ No newline" followed it


def _hunk_lines(hunk) -> list[_Line]:
    """Lines of a unidiff Hunk (or a raw hunk tuple) with the ``\\ No newline`` markers resolved."""
    out: list[_Line] = []
    if isinstance(hunk, tuple):
        items = [(ln[:1] if ln[:1] in "+-\\" else " ", ln[1:] if ln[:1] in " +-\\" else ln) for ln in hunk[1:]]
    else:
        items = [(ln.line_type, ln.value) for ln in hunk]
    for tag, value in items:
        if tag == "\\":
            if out and out[-1].text.endswith("\n"):
                out[-1].text = out[-1].text[:-1]
            continue
        if tag not in ("+", "-", " "):
            continue  # unidiff's trailing empty lines
        out.append(_Line(tag, value))
    return out


def _hunk_starts(hunk) -> tuple[int, int]:
    if isinstance(hunk, tuple):
        s, sl, _, _ = _hunk_counts(hunk[0])
        return s, sl
    return hunk.source_start, hunk.source_length


def apply_patch_to_text(old: str, patched_file: FileDiff | PatchedFile) -> str:
    """Apply one file's hunks to its old text (pure Python, like ``git apply``:
    exact context, searched nearest to the stated position when lines moved).
    Returns ``""`` for a deletion. Raises :class:`PatchError` when a hunk does not match."""
    if isinstance(patched_file, FileDiff):
        if patched_file.binary:
            raise PatchError(f"{patched_file.path}: binary patches cannot be applied to text")
        hunks = list(patched_file.hunks)
        name = patched_file.path
    else:
        if patched_file.is_binary_file:
            raise PatchError(f"{patched_file.path}: binary patches cannot be applied to text")
        hunks = list(patched_file)
        name = patched_file.path
    src = split_lines(old)
    out: list[str] = []
    pos = 0  # next unconsumed line of src
    offset = 0  # how far the previous hunks drifted from their stated positions
    for k, hunk in enumerate(hunks):
        lines = _hunk_lines(hunk)
        before = [ln.text for ln in lines if ln.tag != "+"]
        after = [ln.text for ln in lines if ln.tag != "-"]
        start, length = _hunk_starts(hunk)
        want = (start - 1 if length else start) + offset
        at = _locate(src, before, want, pos)
        if at is None:
            raise PatchError(
                f"{name}: hunk #{k + 1} (@@ -{start},{length} @@) does not apply: "
                + _mismatch(src, before, max(want, pos))
            )
        out.extend(src[pos:at])
        out.extend(after)
        pos = at + len(before)
        offset = at - (start - 1 if length else start)
    out.extend(src[pos:])
    return "".join(out)


def _matches(src: list[str], before: list[str], at: int) -> bool:
    return src[at : at + len(before)] == before


def _locate(src: list[str], before: list[str], want: int, lo: int) -> int | None:
    if not before:
        return min(max(want, lo), len(src))
    hi = len(src) - len(before)
    if lo <= want <= hi and _matches(src, before, want):
        return want
    for d in range(1, max(hi - lo, 0) + 2):
        for cand in (want - d, want + d):
            if lo <= cand <= hi and _matches(src, before, cand):
                return cand
    return None


def _mismatch(src: list[str], before: list[str], at: int) -> str:
    for j, line in enumerate(before):
        have = src[at + j] if at + j < len(src) else "<end of file>"
        if have != line:
            return f"line {at + j + 1}: expected {line!r}, found {have!r}"
    return "context not found"


def apply_patch(patch_text: str, read_old: Callable[[str], str | None]) -> dict[str, str | None]:
    """Apply a whole (text) patch: ``{path: new text}`` for every file it touches,
    ``None`` for files it deletes or renames away. Binary files are skipped."""
    result: dict[str, str | None] = {}
    for fd in parse_patch(patch_text):
        if fd.binary:
            continue
        if fd.status == "removed":
            result[fd.old_path or fd.path] = None
            continue
        old = "" if fd.status == "added" and not fd.is_copy else read_old(fd.old_path or fd.path)
        if old is None:
            raise PatchError(f"{fd.old_path or fd.path}: file to patch is missing")
        if fd.status == "renamed" and fd.old_path not in result:
            result[fd.old_path or ""] = None
        result[fd.path] = apply_patch_to_text(old, fd)
    return result


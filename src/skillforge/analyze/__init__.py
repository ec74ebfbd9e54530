"""Ground-truth labels of a change: which files, entities, modules and tests it touches.

:func:`analyze_change` is the core: a patch plus a way to read each file's old
and new contents gives a :class:`skillforge.schema.Analysis`.
:func:`analyze_commit_patch` and :func:`analyze_pr_commits` read those contents
from a local git repository (one file listing per commit, from the trees kept
by id, blobs through GitPython's persistent ``git cat-file --batch``).

Conventions (see :mod:`.entities` and each language's adapter in :mod:`.lang`
for qualified names, and :mod:`.split` for the code/test/doc rules):

* ``entities`` = modified + added + removed entities of *code* files in
  Python, JavaScript, TypeScript, Go, Java and Rust (see :mod:`.lang`),
  rendered ``path::Class.func``; module-level names are ``path::NAME``. A
  class (struct, impl block, interface) is named when a line of its own body
  changes, not when only its methods do. Tests defined inside code files
  (Rust ``#[test]`` / ``#[cfg(test)] mod tests``) are not entities of the fix:
  :func:`analyze_change_labels` lists them in ``test_entities``.
  Changes outside every entity (imports, module docstrings, top-level calls)
  name no entity: the file's module is in ``modules`` (every touched Python
  code file's module is) and that is all.
* ``edit_locations`` / ``added_locations``: the same change in the convention
  of SWE-bench-derived localization data (see :func:`.entities.locate_edits`):
  functions, classes and methods of the base revision the code patch edits or
  deletes (a nested function rolled up to the function or method around it;
  module-level code, constants included, as one ``kind="module"`` item per
  file, first), and those that exist only after it. Files in patch order,
  named as in ``files`` (a renamed file by its new path). Code files of a
  language without an adapter have none.
* A renamed file's entities are compared by qualname across the rename;
  modified/added ones are rendered with the new path, removed ones with the old.
* Binary files appear only in ``changes`` (``binary=True``, ``kind`` by their
  path). Without a ``GIT binary patch`` payload git cannot apply them, so they
  go to ``other_patch`` whatever their kind; with one they stay in their
  kind's patch. They are never in ``files``/``test_files``/``entities``.
* ``test_functions``: node ids of the tests of new-side test modules (regular
  files: a symlink named ``test_x.py`` holds none) whose
  lines (decorators included) the test patch changes on either side, of every
  test of a class whose own body or non-test methods (``setUp``,
  ``setup_method``, helpers) change, and of every test the patch adds.
"""

from __future__ import annotations

import posixpath
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from dataclasses import dataclass, field

from skillforge.schema import Analysis, CodeLocation, FileChange
from skillforge.analyze import trivial as _trivial
from skillforge.analyze.entities import (
    Entity, TestItem, TouchResult, _line_owners, _newlines, _nonblank, definitions, line_at, locate_edits, touch_entities,
)
from skillforge.analyze.lang import PYTHON, LanguageAdapter, adapter_for
from skillforge.analyze.lang.pydeep import too_deep
from skillforge.analyze.lang.python import module_name
from skillforge.analyze.patch import FileDiff, PatchError, _hunk_counts, apply_patch_to_text, join_files, parse_patch, reverse_patch
from skillforge.analyze.split import (
    REGULAR_FILE_MODES,
    TestConfig,
    is_python_test_module,
    layout,
    load_test_config,
    split_files,
)

__all__ = [
    "AnalysisError",
    "ChangeLabels",
    "GitTree",
    "analyze_change",
    "analyze_change_labels",
    "analyze_commit_patch",
    "analyze_pr_commits",
    "code_locations",
    "language_of",
]

ReadFile = Callable[[str], "bytes | None"]

_LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".pyx": "cython",
    ".pxd": "cython",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".rs": "rust",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".go": "go",
    ".java": "java",
    ".kt": "kotlin",
    ".scala": "scala",
    ".toml": "toml",
    ".cfg": "ini",
    ".ini": "ini",
    ".json": "json",
    ".yml": "yaml",
    ".yaml": "yaml",
    ".rst": "rst",
    ".md": "markdown",
}


class AnalysisError(ValueError):
    """A change that cannot be analyzed (a file's contents cannot be recovered)."""


def language_of(path: str) -> str | None:
    ext = posixpath.splitext(path)[1].lower()
    return _LANGUAGES.get(ext)


def _is_python(path: str) -> bool:
    return path.endswith((".py", ".pyi"))


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class _Parsed:
    """A parsed file (and its source) and (on first use) its entities and its tests."""

    __slots__ = ("_entities", "_tests", "data", "deep", "find", "tree")

    def __init__(self, tree, find, deep: bool = False, data: bytes | None = None) -> None:
        self.tree = tree
        self.find = find
        self.deep = deep  # too deep to parse whole: the tree has its deepest bodies blanked
        self.data = data
        self._entities = None
        self._tests: dict[tuple[str, TestConfig], list[TestItem]] = {}

    @property
    def entities(self) -> list[Entity]:
        if self._entities is None:
            self._entities = self.find(self.tree)
        return self._entities

    def test_items(self, path: str, config: TestConfig) -> list[TestItem]:
        """The tests pytest would collect from this version as module ``path`` (kept: a test
        module's new side is the next change's old side; the list is shared, never to be changed)."""
        key = (path, config)
        got = self._tests.get(key)
        if got is None:
            got = self._tests[key] = _adapter(path).test_items(path, self.tree, config)
        return got


class _ParseCache:
    """Parsed files by language and content: in a history, one PR's new side is
    the next PR's old side, so each version of a file is parsed once. At most
    ``size`` files and ``max_bytes`` of source are kept (a syntax tree takes tens
    of times its source): a file over a quarter of that is parsed, never kept.
    The count is ample for a repository's files in history order: with 96, the
    versions of its busiest files pushed out the last of its quieter ones (on
    pallets/click, 105 of 1,836 lookups parsed again a path met before, 4 with
    512; the source bound holds the memory either way).

    A version never seen is parsed incrementally from one that was: the new side
    from the old side's tree and the diff's hunks; an old side (its file changed
    since by commits no PR analysed here holds) from the last kept version of
    the same path, edited where the two texts differ (their common first and
    last lines kept). An incremental parse gives the tree a parse from scratch
    gives (tree-sitter's guarantee), in a fraction of its time."""

    def __init__(self, size: int = 512, max_bytes: int = 24 << 20) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, int, int], _Parsed] = OrderedDict()
        self._sizes: dict[tuple[str, int, int], int] = {}
        self._bytes = 0
        self._latest: dict[tuple[str, str], tuple[str, int, int]] = {}  # (language, path) -> its last kept version
        self._lock = threading.Lock()

    def get(self, path: str, data: bytes, base: tuple[_Parsed, bytes, FileDiff] | None = None) -> _Parsed:
        """The parsed ``data``; with ``base`` (the old side's parse, its bytes and
        the diff between them) an unseen new side is parsed incrementally."""
        adapter = _adapter(path)
        # by language, size and Python's hash of the bytes (kept by the bytes object), the bytes compared
        # on a hit: a hash of every version looked up in a cryptographic hash took 3% of the analysis
        key = (adapter.name, len(data), hash(data))
        with self._lock:
            got = self._items.get(key)
            if got is not None and got.data == data:
                self._items.move_to_end(key)
                self._latest[(adapter.name, path)] = key
                return got
            previous = self._items.get(self._latest.get((adapter.name, path)))  # type: ignore[arg-type]
        find, deep = adapter.entities, adapter is PYTHON and too_deep(data)
        if deep:  # parsed with its deepest bodies blanked, named in pieces
            tree, find = PYTHON.parse(data), (lambda _tree, data=data: PYTHON.entities(data))
        else:
            old_tree = _edited(base, len(data), adapter is PYTHON) if base is not None and not base[0].deep else None
            if old_tree is None and previous is not None and not previous.deep and previous.data is not None:
                old_tree = _edited_whole(previous, data)
            parser = adapter.parser()
            tree = parser.parse(data, old_tree) if old_tree is not None else parser.parse(data)
        got = _Parsed(tree, find, deep, data)
        if len(data) > self.max_bytes // 4:
            return got
        with self._lock:
            if key not in self._items:
                self._sizes[key] = len(data)
                self._bytes += len(data)
            self._items[key] = got
            self._latest[(adapter.name, path)] = key
            while len(self._items) > self.size or self._bytes > self.max_bytes:
                old, _ = self._items.popitem(last=False)
                self._bytes -= self._sizes.pop(old)
            if len(self._latest) > 4 * self.size:  # paths whose last version is gone
                self._latest = {p: k for p, k in self._latest.items() if k in self._items}
        return got


_PARSED = _ParseCache()


def _adapter(path: str) -> LanguageAdapter:
    """The adapter that parses ``path`` for the cache (test modules are Python)."""
    return adapter_for(path) or PYTHON


def _common_prefix(a: bytes, b: bytes, limit: int) -> int:
    """Bytes ``a`` and ``b`` share at their start (at most ``limit``), by halving (each test a memcmp)."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: bytes, b: bytes, limit: int) -> int:
    """Bytes ``a`` and ``b`` share at their end (at most ``limit``)."""
    la, lb = len(a), len(b)
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[la - mid:la - lo] == b[lb - mid:lb - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _point(data: bytes, offset: int) -> tuple[int, int]:
    return data.count(b"\n", 0, offset), offset - (data.rfind(b"\n", 0, offset) + 1)


def _edited_whole(previous: _Parsed, new: bytes):
    """A copy of the tree of another version of a file with the span where it and ``new``
    differ recorded as one edit (whole lines: from the first line that differs to the
    last), ready for an incremental parse of ``new``; None when they are the same, or
    when the span is over half of the old text (on pallets/click, such parses took 451 ms
    incrementally against 393 ms from scratch; below half, 83 ms against 312 ms). (Starting
    the edit at a :func:`_settled_row` does not help here: one edit spans every difference.)"""
    old = previous.data
    assert old is not None
    limit = min(len(old), len(new))
    head = _common_prefix(old, new, limit)
    if head == len(old) == len(new):
        return None
    start = old.rfind(b"\n", 0, head) + 1  # the start of the line of the first difference
    tail = _common_suffix(old, new, limit - start)
    old_end, new_end = len(old) - tail, len(new) - tail
    if tail and old[old_end - 1:old_end] != b"\n":  # the kept end starts at a line's start
        nl = old.find(b"\n", old_end)
        step = len(old) - old_end if nl == -1 else nl + 1 - old_end
        old_end, new_end = old_end + step, new_end + step
    if 2 * (old_end - start) > len(old):
        return None
    tree = previous.tree.copy()
    tree.edit(start_byte=start, old_end_byte=old_end, new_end_byte=new_end, start_point=_point(old, start),
              old_end_point=_point(old, old_end), new_end_point=_point(new, new_end))
    return tree


# a line that begins a definition (or its decorators): an edit must not start there (see _settled_row)
_DEFINITION = re.compile(rb"[ \t]*(?:@|def\b|class\b|async\b)")


def _code_line(line: bytes) -> bool:
    text = line.strip()
    return bool(text) and not text.startswith(b"#")


def _indent(line: bytes) -> bytes:
    return line[:len(line) - len(line.lstrip(b" \t"))]


def _settled_row(data: bytes, newlines, row: int, floor: int, limit: int = 40) -> int:
    """Where an edit of Python source that changes lines from ``row`` on should start, for
    tree-sitter to reuse what follows it: the nearest row at or above ``row`` (not above
    ``floor``, at most ``limit`` rows up) holding a code line indented as the code line
    before it and not beginning a definition; ``row`` itself when there is none.

    tree-sitter's Python parser reuses little after an edit that starts where a block, a
    definition or its blank lines start: it parses the rest of the enclosing block again
    (on pallets/click, a hunk whose context begins at the blank line before a method took
    9 ms against 0.8 ms from the line above it, and a full parse 12 ms). Lines moved into
    the edit are the same on both sides, so the tree is the same either way."""
    r = row
    while r >= floor and row - r <= limit:
        line = line_at(data, newlines, r)
        if _code_line(line) and not _DEFINITION.match(line):
            q = r - 1
            while q >= 0 and r - q <= limit and not _code_line(line_at(data, newlines, q)):
                q -= 1
            if q >= 0 and r - q <= limit and _indent(line_at(data, newlines, q)) == _indent(line):
                return r
        r -= 1
    return row


def _edited(base: tuple[_Parsed, bytes, FileDiff], new_size: int, settle: bool = False):
    """A copy of the old tree with every hunk of the diff recorded as an edit
    (bottom-up, so the positions of the hunks above stay valid), ready for an
    incremental parse of the new side; None (parse from scratch) when the diff
    cannot say exactly which bytes changed, or its edits do not add up to the
    new side's size. With ``settle`` (Python), each edit starts at a
    :func:`_settled_row` at or above its hunk."""
    old_p, old, fd = base
    if fd.binary or not fd.hunks:
        return None
    newlines = _newlines(old)  # line i > 0 starts after newline i - 1; after a final one, at len(old)
    lines = len(newlines) + 1
    edits = []
    floor = 0  # the first row below the hunk above
    for hunk in fd.hunks:
        try:
            s, ls, _t, lt = _hunk_counts(hunk[0])
        except PatchError:
            return None
        body = hunk[1:]
        if any(ln[:1] == "\\" for ln in body):
            return None  # "no newline at end of file": parse from scratch
        # the new side's lines: context and added ones without their mark, blank context lines whole
        kept = [ln for ln in body if ln[:1] in (" ", "+")]
        blank = sum(len(ln) for ln in body if ln in ("\n", "\r\n"))
        text = "".join(kept)
        new_bytes = blank + (len(text) if text.isascii() else len(text.encode("utf-8", "surrogateescape"))) - len(kept)
        row = s - 1 if ls else s
        if row < floor or row + ls >= lines:
            return None
        first = _settled_row(old, newlines, row, floor) if settle else row
        start = int(newlines[first - 1]) + 1 if first else 0
        hunk_start = int(newlines[row - 1]) + 1 if row else 0
        old_end = int(newlines[row + ls - 1]) + 1 if row + ls else 0
        edits.append(dict(start_byte=start, old_end_byte=old_end, new_end_byte=hunk_start + new_bytes,
                          start_point=(first, 0), old_end_point=(row + ls, 0), new_end_point=(row + lt, 0)))
        floor = row + ls
    if len(old) + sum(e["new_end_byte"] - e["old_end_byte"] for e in edits) != new_size:
        return None  # the diff is not the one between these two texts
    tree = old_p.tree.copy()
    for e in reversed(edits):
        tree.edit(**e)
    return tree


@dataclass
class _Sides:
    old: bytes | None
    new: bytes | None


def _sides(fd: FileDiff, read_old: ReadFile, read_new: ReadFile) -> _Sides:
    """Old and new contents of one (text) file; a missing side is rebuilt from the other with the patch."""
    created = fd.status == "added" and not fd.is_copy
    old = None if created else read_old(fd.old_path or fd.path)
    new = None if fd.status == "removed" else read_new(fd.path)
    if fd.status != "removed" and new is None:
        if old is None and not created:
            raise AnalysisError(f"{fd.path}: neither side of the file can be read")
        try:
            new = _encode(apply_patch_to_text(_decode(old or b""), fd))
        except PatchError as exc:
            raise AnalysisError(str(exc)) from exc
    if not created and old is None:
        if new is None or fd.is_copy:
            raise AnalysisError(f"{fd.old_path or fd.path}: the old side of the file cannot be read")
        try:
            (rev,) = parse_patch(reverse_patch(fd.text))
            old = _encode(apply_patch_to_text(_decode(new), rev))
        except (PatchError, ValueError) as exc:
            raise AnalysisError(f"{fd.path}: cannot rebuild the old side: {exc}") from exc
    return _Sides(old=old, new=new)


def _changed_tests(
    path: str,
    old_src: bytes | None,
    new_src: bytes,
    fd: FileDiff,
    config: TestConfig,
) -> list[str]:
    old_p = _PARSED.get(path, old_src) if old_src is not None else None
    new_p = _PARSED.get(path, new_src, (old_p, old_src, fd) if old_p is not None else None)
    new_items = new_p.test_items(path, config)
    if not new_items:
        return []
    old_items = old_p.test_items(fd.old_path or path, config) if old_p is not None else []
    old_quals = {t.qualname for t in old_items}

    touched: set[str] = set()
    for src, parsed, lines in ((new_src, new_p, fd.added_lines), (old_src, old_p, fd.removed_lines)):
        if src is None or parsed is None:
            continue
        ents = definitions(parsed.entities)
        nonblank, n_lines = _nonblank(src, lines)
        owner = _line_owners(ents, nonblank, n_lines, ordered=True)  # the innermost definition of each line, in one sweep
        for ln in nonblank:
            if owner[ln] != -1:
                touched.add(ents[owner[ln]].qualname)

    test_quals = {t.qualname for t in new_items} | old_quals
    classes = {t.class_qualname for t in new_items} | {t.defined_in for t in new_items}
    touched_tests: set[str] = set()
    touched_classes: set[str] = set()
    for q in touched:
        # the innermost test around the change (a function nested in a test is part of it); else a test
        # class whose body or non-test method (setUp, setup_method, helpers) changed: all its tests
        parts = q.split(".")
        for k in range(len(parts), 0, -1):
            cand = ".".join(parts[:k])
            if cand in test_quals:
                touched_tests.add(cand)
                break
            if cand in classes:
                touched_classes.add(cand)
                break

    out: list[str] = []
    for t in new_items:
        if (
            t.qualname not in old_quals
            or t.qualname in touched_tests
            or t.class_qualname in touched_classes
            or t.defined_in in touched_classes
        ):
            out.append(t.nodeid)
    return list(dict.fromkeys(out))


@dataclass
class ChangeLabels:
    """Everything the analysis of one change finds: the :class:`Analysis` (the
    labels that are stored and exported) and what the analysis stage filters on."""

    analysis: Analysis
    trivial: str | None = None  # whitespace | comments | docstrings | version bump; None: a real code change
    test_entities: list[str] = field(default_factory=list)  # tests inside code files (path::qualname)
    code_files: list[FileDiff] = field(default_factory=list, repr=False, compare=False)  # the code patch, parsed


def analyze_change(
    patch_text: str,
    read_old: ReadFile,
    read_new: ReadFile,
    repo_files: Iterable[str],
    test_config: TestConfig,
) -> Analysis:
    """Labels of one change. ``read_old(path)``/``read_new(path)`` return a
    file's bytes before/after the change, or None when unknown (a missing new
    side is rebuilt by applying the patch, a missing old side by reversing it).
    ``repo_files`` lists the repository's files (either side; files the patch
    adds are added to it)."""
    return analyze_change_labels(patch_text, read_old, read_new, repo_files, test_config, check_trivial=False).analysis


# how much of a change :func:`analyze_change_labels` labels (``wanted``'s answer)
LABELS = "labels"  # everything
TRIVIAL_ONLY = "trivial"  # the path-level fields and whether the code change is trivial (tree-sitter for that alone)
PATHS_ONLY = "paths"  # the path-level fields alone: nothing read or parsed


def analyze_change_labels(
    patch_text: str,
    read_old: ReadFile,
    read_new: ReadFile,
    repo_files: Iterable[str],
    test_config: TestConfig,
    *,
    check_trivial: bool = True,
    wanted: Callable[[Analysis], str] | None = None,
    prefetch: Callable[[list[FileDiff]], None] | None = None,
) -> ChangeLabels:
    """:func:`analyze_change` plus whether the code change is trivial (see
    :mod:`.trivial`; each file is parsed once for both) and the tests found
    inside code files.

    ``wanted``, given the path-level fields (``changes``, ``files``,
    ``test_files``, ``code_lines``, ``hunks``, the patches), says how much more
    to find: :data:`LABELS` (everything), :data:`TRIVIAL_ONLY` or
    :data:`PATHS_ONLY`; short of everything, the analysis is marked
    ``labelled=False`` (no entities, locations or test functions). The
    analysis stage asks for less for a PR its filters drop by its paths.
    ``prefetch`` is told the files whose sides are about to be read (the code
    files, and the test files when everything is labelled), before any is."""
    files = parse_patch(patch_text)
    all_files = set(repo_files)
    all_files.update(f.path for f in files)
    lay = layout(all_files, test_config)
    code, test, other = split_files(files, lay)
    code_ids = {id(f) for f in code}
    test_ids = {id(f) for f in test}

    result = Analysis()
    modules: list[str] = []
    for fd in files:  # the path-level fields
        kind = lay.classify(fd.path)
        result.changes.append(
            FileChange(
                path=fd.path,
                old_path=fd.old_path if fd.old_path is not None and fd.old_path != fd.path else None,
                kind=kind,
                status=fd.status,
                language=language_of(fd.path),
                added_lines=fd.added_count,
                removed_lines=fd.removed_count,
                binary=fd.binary,
            )
        )
        if fd.binary:
            continue
        if id(fd) in code_ids:
            result.files.append(fd.path)
            result.code_lines += fd.added_count + fd.removed_count
            if _is_python(fd.path):
                mod = module_name(fd.path, all_files)
                if mod:
                    modules.append(mod)
        elif id(fd) in test_ids:
            result.test_files.append(fd.path)
    result.modules = list(dict.fromkeys(modules))
    result.code_patch = join_files(code)
    result.test_patch = join_files(test)
    result.other_patch = join_files(other)
    result.hunks = sum(len(f.hunks) for f in code)

    scope = wanted(result) if wanted is not None else LABELS
    kinds: list[str | None] = [] if check_trivial and code and scope != PATHS_ONLY else [None]
    if prefetch is not None and scope != PATHS_ONLY:
        prefetch([fd for fd in (code if scope != LABELS else [*code, *test]) if not fd.binary])
    if scope != LABELS:
        result.labelled = False
        for fd in code:  # the first real change decides
            if kinds and kinds[-1] is None:
                break
            kinds.append(_trivial_kind(fd, read_old, read_new))
        return ChangeLabels(analysis=result, trivial=_trivial.combine(kinds), code_files=code)

    entity_mod: list[str] = []
    entity_add: list[str] = []
    entity_rem: list[str] = []
    edit_locations: list[CodeLocation] = []
    added_locations: list[CodeLocation] = []
    test_entities: list[str] = []
    for fd in files:
        if fd.binary:
            if id(fd) in code_ids:
                kinds.append(None)
            continue
        if id(fd) in code_ids:
            still_trivial = not kinds or all(k is not None for k in kinds)
            touch, trees, sides = _touch_file(fd, read_old, read_new, need_sides=still_trivial)
            if touch is not None:
                entity_mod += touch.modified
                entity_add += touch.added
                entity_rem += touch.removed
                test_entities += touch.tests
                edit_locations += touch.edit_locations
                added_locations += touch.added_locations
            if still_trivial:
                if sides is None or fd.status != "modified":
                    kinds.append(None)
                else:
                    kinds.append(_trivial.change_kind(fd.path, sides.old, sides.new, status=fd.status,
                                                      old_tree=trees[0], new_tree=trees[1]))
        elif id(fd) in test_ids:
            regular = fd.new_mode is None or fd.new_mode in REGULAR_FILE_MODES  # a symlink holds no tests
            if fd.status != "removed" and regular and (fd.path in lay.test_modules
                                                         or is_python_test_module(fd.path, test_config)):
                sides = _sides(fd, read_old, read_new)
                assert sides.new is not None
                result.test_functions += _changed_tests(fd.path, sides.old, sides.new, fd, test_config)

    result.entities = list(dict.fromkeys([*entity_mod, *entity_add, *entity_rem]))
    result.added_entities = list(dict.fromkeys(entity_add))
    result.removed_entities = list(dict.fromkeys(entity_rem))
    result.edit_locations = _unique(edit_locations)
    result.added_locations = _unique(added_locations)
    result.test_functions = list(dict.fromkeys(result.test_functions))
    return ChangeLabels(analysis=result, trivial=_trivial.combine(kinds),
                        test_entities=list(dict.fromkeys(test_entities)), code_files=code)


def _trivial_kind(fd: FileDiff, read_old: ReadFile, read_new: ReadFile) -> str | None:
    """Whether one code file's change is trivial (:func:`.trivial.change_kind`), parsing no more than
    that needs: the file's two sides (through the parse cache), no entities."""
    if fd.binary or fd.status != "modified":
        return None
    if adapter_for(fd.path) is None:
        try:
            sides = _sides(fd, read_old, read_new)
        except AnalysisError:
            return None  # unreadable non-source file: not trivial
        return _trivial.change_kind(fd.path, sides.old, sides.new, status=fd.status)
    sides, old_p, new_p = _parsed_sides(fd, read_old, read_new)
    return _trivial.change_kind(fd.path, sides.old, sides.new, status=fd.status,
                                old_tree=old_p.tree if old_p is not None else None,
                                new_tree=new_p.tree if new_p is not None else None)


def _unique(locations: list[CodeLocation]) -> list[CodeLocation]:
    return list({(x.file, x.name, x.kind): x for x in reversed(locations)}.values())[::-1]


def code_locations(patch_text: str, read_old: ReadFile, read_new: ReadFile
                   ) -> tuple[list[CodeLocation], list[CodeLocation]]:
    """(``edit_locations``, ``added_locations``) of a code patch alone, for an analysis stored before
    they existed: every file of ``patch_text`` with an adapter is read and parsed as
    :func:`analyze_change` would."""
    edits: list[CodeLocation] = []
    added: list[CodeLocation] = []
    for fd in parse_patch(patch_text):
        if fd.binary or adapter_for(fd.path) is None:
            continue
        touch, _trees, _sides = _touch_file(fd, read_old, read_new, need_sides=False)
        if touch is not None:
            edits += touch.edit_locations
            added += touch.added_locations
    return _unique(edits), _unique(added)


@dataclass
class _Touch(TouchResult):
    tests: list[str] = field(default_factory=list)
    edit_locations: list[CodeLocation] = field(default_factory=list)
    added_locations: list[CodeLocation] = field(default_factory=list)


def _parsed_sides(fd: FileDiff, read_old: ReadFile, read_new: ReadFile
                  ) -> tuple[_Sides, _Parsed | None, _Parsed | None]:
    """One source file's two sides and their parses (the new side incrementally from the old)."""
    sides = _sides(fd, read_old, read_new)
    old_p = _PARSED.get(fd.path, sides.old) if sides.old is not None else None
    base = (old_p, sides.old, fd) if old_p is not None and sides.new is not None else None
    new_p = _PARSED.get(fd.path, sides.new, base) if sides.new is not None else None
    return sides, old_p, new_p


def _touch_file(fd: FileDiff, read_old: ReadFile, read_new: ReadFile, *, need_sides: bool
                ) -> tuple[_Touch | None, tuple, _Sides | None]:
    """Entities one code file's change touches (None for a language without an
    adapter), its parsed (old, new) trees and its contents. Each side is parsed once."""
    adapter = adapter_for(fd.path)
    if adapter is None:
        if not need_sides:
            return None, (None, None), None
        try:
            return None, (None, None), _sides(fd, read_old, read_new)
        except AnalysisError:
            return None, (None, None), None  # unreadable non-source file: not trivial, not an error
    sides, old_p, new_p = _parsed_sides(fd, read_old, read_new)
    old_tree = old_p.tree if old_p is not None else None
    new_tree = new_p.tree if new_p is not None else None
    old_ents = old_p.entities if old_p is not None else []
    new_ents = new_p.entities if new_p is not None else []
    tests = {e.qualname for e in [*old_ents, *new_ents] if e.is_test}
    touch = touch_entities(fd.path, sides.old, old_ents, sides.new, new_ents, fd.removed_lines, fd.added_lines)
    prefix = fd.path + "::"
    out = _Touch(module_level=touch.module_level)
    copied = fd.is_copy and fd.status == "added"  # a new file, whatever it was copied from
    out.edit_locations, out.added_locations = locate_edits(
        fd.path, None if copied else sides.old, old_ents,
        sides.new, new_ents, fd.removed_lines, fd.added_lines)
    for name in ("modified", "added", "removed"):
        for label in getattr(touch, name):
            (out.tests if label[len(prefix):] in tests else getattr(out, name)).append(label)
    if fd.old_path and fd.old_path != fd.path and fd.status == "renamed":
        # a removed entity of a renamed (moved) file is named by the path it had
        out.removed = [f"{fd.old_path}::{r[len(prefix):]}" for r in out.removed]
        out.tests = [f"{fd.old_path}::{t[len(prefix):]}" if t[len(prefix):] not in {e.qualname for e in new_ents} else t
                     for t in out.tests]
    return out, (old_tree, new_tree), sides


# --------------------------------------------------------------------------- git


class GitTree:
    """One commit's file listing (what ``git ls-tree -r`` lists: from the trees kept by id of a
    :func:`skillforge.gitio.open_repo` handle, else from git) and its blobs (read through the
    repository's persistent ``git cat-file --batch``)."""

    def __init__(self, repo, commit: str) -> None:
        from skillforge.gitio import CachingObjectDB

        self.repo = repo
        odb = repo.odb
        self._object = odb.object if isinstance(odb, CachingObjectDB) else None
        blobs = odb.commit_blobs(commit) if isinstance(odb, CachingObjectDB) else None
        if blobs is not None:  # from the trees kept by id: those a commit shares with others are read once
            self.commit = commit
            self.entries: Mapping[str, tuple[str, str]] = MappingProxyType(blobs)
            return
        self.commit = repo.commit(commit).hexsha
        out = repo.git.ls_tree("-r", "-z", "--full-tree", self.commit, stdout_as_string=False)
        self.entries = {}
        for rec in out.split(b"\0"):
            if not rec:
                continue
            meta, _, raw_path = rec.partition(b"\t")
            mode, otype, sha = meta.decode().split()
            if otype != "blob":
                continue  # submodules
            self.entries[raw_path.decode("utf-8", "surrogateescape")] = (mode, sha)

    @property
    def paths(self) -> list[str]:
        return list(self.entries)

    def read(self, path: str) -> bytes | None:
        entry = self.entries.get(path)
        if entry is None:
            return None
        binsha = bytes.fromhex(entry[1])
        if self._object is not None:  # the very bytes the object cache keeps (immutable): no copy, hashed once
            return self._object(binsha)[1]
        return self.repo.odb.stream(binsha).read()

    def blob_ids(self, paths: Iterable[str]) -> list[bytes]:
        """The ids of the blobs of those of ``paths`` the commit has (for a prefetch)."""
        return [bytes.fromhex(entry[1]) for entry in map(self.entries.get, paths) if entry is not None]

    def read_text(self, path: str) -> str | None:
        data = self.read(path)
        return None if data is None else data.decode("utf-8", "replace")


def _open_repo(repo_or_path):
    import git

    from skillforge.gitio import open_repo

    return repo_or_path if isinstance(repo_or_path, git.Repo) else open_repo(repo_or_path)


def analyze_commit_patch(repo_path, commit: str, patch_text: str) -> Analysis:
    """Analyze ``patch_text`` applied on top of ``commit`` of a local repository:
    old side from the commit's tree, new side by applying the patch in memory.
    The pytest configuration is read from the new side."""
    repo = _open_repo(repo_path)
    tree = GitTree(repo, commit)
    new: dict[str, bytes | None] = {}
    for fd in parse_patch(patch_text):
        if fd.binary:
            continue
        if fd.status == "renamed" and fd.old_path:
            new.setdefault(fd.old_path, None)
        if fd.status == "removed":
            new[fd.old_path or fd.path] = None
            continue
        old = b"" if fd.status == "added" and not fd.is_copy else tree.read(fd.old_path or fd.path)
        if old is None:
            raise AnalysisError(f"{fd.old_path or fd.path}: not in {commit}")
        try:
            new[fd.path] = _encode(apply_patch_to_text(_decode(old), fd))
        except PatchError as exc:
            raise AnalysisError(f"patch does not apply to {commit}: {exc}") from exc

    def read_new(path: str) -> bytes | None:
        return new[path] if path in new else tree.read(path)

    def read_new_text(path: str) -> str | None:
        data = read_new(path)
        return None if data is None else data.decode("utf-8", "replace")

    repo_files = [*tree.paths, *(p for p, v in new.items() if v is not None and p not in tree.entries)]
    config = load_test_config(read_new_text)
    return analyze_change(patch_text, tree.read, read_new, repo_files, config)


def analyze_pr_commits(repo, base: str, merge: str, patch_text: str) -> Analysis:
    """Analyze a merged pull request: old side from ``base``, new side from
    ``merge`` (``patch_text`` is the diff between them). The pytest
    configuration is read from the merge commit."""
    repo = _open_repo(repo)
    old_tree = GitTree(repo, base)
    new_tree = GitTree(repo, merge)
    repo_files = list(dict.fromkeys([*old_tree.paths, *new_tree.paths]))
    config = load_test_config(new_tree.read_text)
    return analyze_change(patch_text, old_tree.read, new_tree.read, repo_files, config)

"""Caching git objects must not change what is mined and analyzed.

The analysis reads trees and blobs through :class:`skillforge.gitio.CachingObjectDB`
(objects kept by id, tree listings built from tree objects instead of ``git ls-tree``),
Python entities with a walk that skips bodies that define nothing, and changed line
numbers counted from the hunks instead of by unidiff. Each is checked here against
what it replaces, on a small real repository with the odd cases (an executable, a
symlink, a submodule, a non-UTF-8 path, nested directories, renames, files that
come back with content seen before).
"""

from __future__ import annotations

import sqlite3
import subprocess

import git
import pytest

from skillforge import gitio
from skillforge.analyze import analyze_pr_commits
from skillforge.analyze.lang import python as py
from skillforge.analyze.patch import parse_patch
from skillforge.mine.local import mine_local
from skillforge.stages.analyze import Filters, run_analyze
from skillforge.workspace import Workspace

ENV = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "A",
       "GIT_COMMITTER_EMAIL": "a@example.com", "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00",
       "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00", "PATH": "/usr/bin:/bin"}

CODE_1 = """\
import os

LIMIT = 3


def helper(x):
    if x:
        def inner():
            return 1
        return inner()
    return 0


class Widget:
    \"\"\"A widget: its docstring says class and def.\"\"\"

    def size(self):
        for i in range(3):
            class Local:
                pass
        return LIMIT

    async def fetch(self):
        return await os.fspath(self)
"""

CODE_2 = CODE_1.replace("return LIMIT", "return LIMIT + 1").replace("return 0", "return -1")

TESTS_1 = """\
from pkg.mod import Widget, helper


def test_helper():
    assert helper(1) == 1


class TestWidget:
    def test_size(self):
        assert Widget().size() == 3
"""

TESTS_2 = TESTS_1.replace("== 3", "== 4") + "\n\ndef test_more():\n    assert helper(0) == -1\n"


def sh(repo, *args: str, input: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=ENV, check=True, capture_output=True,
                          input=input).stdout.decode("utf-8", "surrogateescape")


def pr(repo, branch: str, number: int, files: dict[str, str | None]) -> None:
    """A branch changing ``files`` (None: removed), merged as ``Merge pull request #number``."""
    sh(repo, "checkout", "-qb", branch)
    for path, text in files.items():
        target = repo / path
        if text is None:
            sh(repo, "rm", "-q", path)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        sh(repo, "add", path)
    sh(repo, "commit", "-qm", f"change {branch}")
    sh(repo, "checkout", "-q", "main")
    sh(repo, "merge", "--no-ff", "-q", branch, "-m", f"Merge pull request #{number} from o/{branch}\n\nFixes #1")


@pytest.fixture
def project(tmp_path):
    repo = tmp_path / "proj"
    repo.mkdir()
    sh(repo, "init", "-q", "-b", "main")
    (repo / "src" / "pkg" / "deep" / "er").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "src" / "pkg" / "__init__.py").write_text("")
    (repo / "src" / "pkg" / "mod.py").write_text(CODE_1)
    (repo / "src" / "pkg" / "deep" / "er" / "leaf.py").write_text("X = 1\n")
    (repo / "tests" / "test_mod.py").write_text(TESTS_1)
    (repo / "run.sh").write_text("#!/bin/sh\n")
    (repo / "run.sh").chmod(0o755)
    (repo / "link").symlink_to("run.sh")
    (repo / "caf\xe9.txt").write_bytes(b"odd name\n")
    sh(repo, "add", ".")
    sh(repo, "update-index", "--add", "--cacheinfo", f"160000,{'a' * 40},vendor/sub")  # a submodule
    sh(repo, "commit", "-qm", "initial")
    pr(repo, "fix", 2, {"src/pkg/mod.py": CODE_2, "tests/test_mod.py": TESTS_2})
    pr(repo, "move", 3, {"src/pkg/deep/er/leaf.py": None, "src/pkg/deep/leaf.py": "X = 1\nY = 2\n",
                         "tests/test_leaf.py": "def test_leaf():\n    pass\n"})
    pr(repo, "back", 4, {"src/pkg/mod.py": CODE_1, "tests/test_mod.py": TESTS_1})  # content seen before
    pr(repo, "again", 5, {"src/pkg/mod.py": CODE_2, "tests/test_mod.py": TESTS_2})
    return repo


def commits(repo) -> list[str]:
    return sh(repo, "rev-list", "--all").split()


def _git_blobs(project, sha: str, submodule: bool = True) -> list[tuple[str, tuple[str, str]]]:
    """The files ``git ls-tree -r`` lists for ``sha`` (submodules left out): (path, (mode, id)), in its order."""
    out = subprocess.run(["git", "ls-tree", "-r", "-z", "--full-tree", sha], cwd=project, env=ENV,
                         capture_output=True, check=True).stdout
    records = [rec.split(b"\t", 1) for rec in out.split(b"\0") if rec]
    assert not submodule or any(meta.split()[1] == b"commit" for meta, _ in records)  # the submodule is listed by git
    return [(path.decode("utf-8", "surrogateescape"), (meta.split()[0].decode(), meta.split()[2].decode()))
            for meta, path in records if meta.split()[1] == b"blob"]


def test_commit_listings_are_what_git_ls_tree_prints(project):
    repo = gitio.open_repo(project)
    try:
        assert isinstance(repo.odb, gitio.CachingObjectDB)
        for sha in commits(project) * 2:  # the second round comes from the cache
            assert list(repo.odb.commit_blobs(sha).items()) == _git_blobs(project, sha)
        modes = {mode for mode, _ in repo.odb.commit_blobs(commits(project)[0]).values()}
        assert {"120000", "100755", "100644"} <= modes
        assert repo.odb.commit_blobs("f" * 40) is None and repo.odb.commit_blobs("HEAD") is None  # git says
    finally:
        repo.close()


@pytest.mark.parametrize("max_entries", [2, 1 << 18])
def test_commit_files_are_what_git_ls_tree_lists(project, monkeypatch, max_entries):
    """A commit's files built from the subtrees kept by id are those a ``git ls-tree`` lists, in its order."""
    from skillforge.analyze import GitTree

    monkeypatch.setattr(gitio.CachingObjectDB, "max_entries", max_entries)
    repo, plain = gitio.open_repo(project), git.Repo(project)
    try:
        for sha in commits(project) * 2:
            fast, slow = GitTree(repo, sha), GitTree(plain, sha)
            assert list(fast.entries.items()) == list(slow.entries.items()) and fast.commit == slow.commit == sha
            assert fast.read("run.sh") == slow.read("run.sh") == b"#!/bin/sh\n"
        first = GitTree(repo, commits(project)[-1])
        assert first.entries["link"][0] == "120000" and first.entries["run.sh"][0] == "100755"
        assert "caf\xe9.txt" in first.entries and "vendor/sub" not in first.entries  # a submodule is no file
        with pytest.raises(TypeError):
            first.entries["x"] = ("100644", "0" * 40)  # shared with the next commits: never changed
        assert GitTree(repo, "HEAD").entries == GitTree(plain, "HEAD").entries  # a name: git resolves it
        for handle in (repo, plain):  # an unknown commit: what GitPython says of it, as before
            with pytest.raises((ValueError, git.BadName)):
                GitTree(handle, "f" * 40)
    finally:
        repo.close()
        plain.close()


@pytest.mark.parametrize("max_entries", [2, 1 << 18])
def test_one_subtree_under_several_names_is_listed_under_each(tmp_path, monkeypatch, max_entries):
    """Listings are kept by tree id and the folder it is listed under: a folder copied (the same tree
    id at ``a/``, ``b/`` and ``x/a/``), then one copy changed, lists each copy's files by its own path."""
    monkeypatch.setattr(gitio.CachingObjectDB, "max_entries", max_entries)
    repo_dir = tmp_path / "copies"
    repo_dir.mkdir()
    sh(repo_dir, "init", "-q", "-b", "main")
    for folder in ("a", "b", "x/a"):
        (repo_dir / folder / "in").mkdir(parents=True)
        (repo_dir / folder / "f.py").write_text("F = 1\n")
        (repo_dir / folder / "in" / "g.py").write_text("G = 1\n")
    sh(repo_dir, "add", ".")
    sh(repo_dir, "commit", "-qm", "copies")
    (repo_dir / "b" / "in" / "g.py").write_text("G = 2\n")
    sh(repo_dir, "commit", "-qam", "one copy changed")
    repo = gitio.open_repo(repo_dir)
    try:
        assert sh(repo_dir, "rev-parse", "HEAD~1:a") == sh(repo_dir, "rev-parse", "HEAD~1:x/a")  # one tree
        for sha in commits(repo_dir) * 2:
            assert list(repo.odb.commit_blobs(sha).items()) == _git_blobs(repo_dir, sha, submodule=False)
        assert "x/a/in/g.py" in repo.odb.commit_blobs(commits(repo_dir)[0])
    finally:
        repo.close()


def test_root_trees_are_asked_for_by_commit(project, monkeypatch):
    """``prefetch_commits`` reads each commit's root tree (``<commit>^{tree}``) and no commit object;
    an id that is no commit (a tree peels to itself), a name or one git lacks is left to
    ``commit_blobs``, which says None for it as before."""
    repo = gitio.open_repo(project)
    try:
        shas = commits(project)
        root = sh(project, "rev-parse", f"{shas[0]}^{{tree}}").strip()
        repo.odb.prefetch_commits([*shas, root, "HEAD", "f" * 40])
        asked = []
        real, ours = git.cmd.Git.get_object_data, repo.odb._git
        monkeypatch.setattr(git.cmd.Git, "get_object_data",
                            lambda self, ref: (self is ours and asked.append(ref)) or real(self, ref))
        for sha in shas:
            assert list(repo.odb.commit_blobs(sha).items()) == _git_blobs(project, sha)
        assert not asked and bytes.fromhex(shas[0]) not in repo.odb._objects  # no commit object read
        assert repo.odb.commit_blobs(root) is None and repo.odb.commit_blobs("f" * 40) is None
    finally:
        repo.close()


@pytest.mark.parametrize("max_bytes", [64, 2048, 1 << 20])  # nothing kept, some evicted, everything kept
def test_objects_come_back_as_git_has_them_whatever_the_cache_keeps(project, monkeypatch, max_bytes):
    monkeypatch.setattr(gitio.CachingObjectDB, "max_bytes", max_bytes)
    monkeypatch.setattr(gitio.CachingObjectDB, "max_entries", 2)
    repo, plain = gitio.open_repo(project), git.Repo(project)
    try:
        for sha in commits(project) * 2:  # every object read again
            want = _git_blobs(project, sha)
            assert list(repo.odb.commit_blobs(sha).items()) == want
            for _path, (_mode, hexsha) in want:
                blob = bytes.fromhex(hexsha)
                assert repo.odb.stream(blob).read() == plain.odb.stream(blob).read()
                assert repo.odb.info(blob).size == plain.odb.info(blob).size
        assert repo.odb._bytes <= max_bytes
    finally:
        repo.close()
        plain.close()


@pytest.mark.parametrize("max_bytes", [64, 1 << 20])  # small objects kept, or everything
def test_objects_asked_for_at_once_are_what_git_has(project, monkeypatch, max_bytes):
    """Objects prefetched in one round trip (in batches smaller than the request; ids repeated, one
    git lacks, some over the size kept) come back as git has them, those kept are not asked for again,
    and every read after them is still in step with git."""
    monkeypatch.setattr(gitio.CachingObjectDB, "max_bytes", max_bytes)
    monkeypatch.setattr(gitio.CachingObjectDB, "prefetch_batch", 3)
    repo, plain = gitio.open_repo(project), git.Repo(project)
    try:
        ids = []
        for sha in commits(project):
            ids.append(bytes.fromhex(sha))
            ids += [bytes.fromhex(hexsha) for _path, (_mode, hexsha) in _git_blobs(project, sha)]
        missing = b"\x01" * 20
        repo.odb.prefetch([*ids, missing, *ids[:3]])
        repo.odb.prefetch_commits([*commits(project), "HEAD", "f" * 40])  # names and unknown ids: left alone
        asked = []
        real, ours = git.cmd.Git.get_object_data, repo.odb._git
        monkeypatch.setattr(git.cmd.Git, "get_object_data",
                            lambda self, ref: (self is ours and asked.append(ref)) or real(self, ref))
        for binsha in dict.fromkeys(ids):
            assert repo.odb.stream(binsha).read() == plain.odb.stream(binsha).read()
        kept = {binsha for binsha in ids if len(plain.odb.stream(binsha).read()) <= max_bytes // 8}
        assert not {bytes.fromhex(ref) for ref in asked} & kept and (asked or max_bytes > 64)
        with pytest.raises(ValueError):
            repo.odb.object(missing)
        assert repo.odb._bytes <= max_bytes
        for sha in commits(project):  # listings after the prefetches: still what git lists
            assert list(repo.odb.commit_blobs(sha).items()) == _git_blobs(project, sha)
    finally:
        repo.close()
        plain.close()


def _stored(root) -> list[tuple]:
    """The ``prs`` rows as stored: record, analysis, stage and reason of each PR."""
    (db,) = root.rglob("skillforge.db")
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT pr_id, record, analysis, stage, reason FROM prs ORDER BY pr_id").fetchall()


def test_the_analysis_stage_stores_the_same_with_and_without_the_caches(project, tmp_path, monkeypatch):
    """Mined and analyzed through the caches vs through plain GitPython handles (``git ls-tree``
    per commit, every blob read again), the unpruned entity walk and unidiff's line numbers."""
    results = []
    for cached in (True, False):
        with monkeypatch.context() as m:
            if not cached:
                m.setattr(gitio, "open_repo", lambda path, name=None: git.Repo(path))
                m.setattr("skillforge.stages.analyze.open_repo", lambda path, name=None: git.Repo(path))
                m.setattr(py, "_defines", lambda node, source: True)
                m.setattr(py._STATEMENTS, "get", lambda key, row: None)  # every statement walked
                m.setattr("skillforge.analyze.patch.hunk_line_numbers", lambda *a: None)
            ws = Workspace(tmp_path / f"ws-{cached}")
            summary = mine_local(ws, project, repo_name="o/proj")
            assert summary.prs_new == 4
            run_analyze(ws, filters=Filters(max_files=10_000, max_code_lines=10**9))
            ws.close()
            results.append(_stored(tmp_path / f"ws-{cached}"))
    assert results[0] == results[1]
    assert any(a is not None and "Widget.size" in a for _, _, a, _, _ in results[0])


def test_one_handle_analyzes_every_pr_as_a_fresh_one_does(project, tmp_path):
    ws = Workspace(tmp_path / "ws")
    mine_local(ws, project, repo_name="o/proj")
    prs = [r.record for r in ws.prs()]
    ws.close()
    shared = gitio.open_repo(project)
    try:
        for record in [*prs, *reversed(prs)]:  # warm caches, either order
            fresh = git.Repo(project)
            try:
                want = analyze_pr_commits(fresh, record.base_commit, record.merge_commit, record.patch)
            finally:
                fresh.close()
            assert analyze_pr_commits(shared, record.base_commit, record.merge_commit, record.patch) == want
    finally:
        shared.close()


@pytest.mark.parametrize("source", [CODE_1, CODE_2, TESTS_2, "\n\n" + CODE_1, "def broken(:\n    class X:\n"
                                    "        def y(self): pass\n", "class A:\n    '''no defs here, only a default'''\n"])
def test_the_pruned_entity_walk_names_what_the_full_walk_names(source, monkeypatch):
    tree = py.parse(source)
    pruned = py.entities(tree)
    monkeypatch.setattr(py, "_defines", lambda node, src: True)
    assert py.entities(tree) == pruned


def test_changed_line_numbers_are_unidiffs(project):
    patch = sh(project, "log", "-p", "-M", "--no-color", "--format=", "--first-parent", "main")
    patch += "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n-a\n+b\n c\n\\ No newline at end of file\n"
    for fd in parse_patch(patch):
        pf = fd.patched_file
        assert fd.added_lines == [ln.target_line_no for h in pf for ln in h if ln.is_added]
        assert fd.removed_lines == [ln.source_line_no for h in pf for ln in h if ln.is_removed]

"""The git layer on real repositories made in temporary directories."""

from __future__ import annotations

import io
import subprocess
import tarfile
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from skillforge import gitio
from skillforge.gitio import GitCache, GitError, RepoError, RepoHandle, RepoSet
from skillforge.workspace import Workspace

ENV = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "A",
       "GIT_COMMITTER_EMAIL": "a@example.com", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent",
       "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}


def sh(repo: Path, *args: str, date: str = "2024-01-01T00:00:00+00:00") -> str:
    env = {**ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> dict:
    """main: c1 (v1.0) -- c2 (export-ignored tests, a symlink, an executable) --- merge (v1.1rc1)
                                 \\-- side --/"""
    r = tmp_path / "proj"
    r.mkdir()
    sh(r, "init", "-q", "-b", "main")
    (r / "mod.py").write_text("def f():\n    return 1\n")
    sh(r, "add", ".")
    sh(r, "commit", "-qm", "initial", date="2024-01-01T00:00:00+00:00")
    c1 = sh(r, "rev-parse", "HEAD")
    sh(r, "tag", "v1.0")
    sh(r, "tag", "not-a-version")
    (r / "tests").mkdir()
    (r / "tests" / "test_mod.py").write_text("def test_f():\n    pass\n")
    (r / ".gitattributes").write_text("tests export-ignore\n")
    (r / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (r / "run.sh").chmod(0o755)
    (r / "link").symlink_to("mod.py")
    sh(r, "add", ".")
    sh(r, "commit", "-qm", "tests, script, link", date="2024-02-01T12:00:00+01:00")
    c2 = sh(r, "rev-parse", "HEAD")
    sh(r, "checkout", "-qb", "side")
    (r / "mod.py").write_text("def f():\n    return 2\n")
    sh(r, "commit", "-qam", "return 2\n\nFixes #1", date="2024-02-02T00:00:00+00:00")
    side = sh(r, "rev-parse", "HEAD")
    sh(r, "checkout", "-q", "main")
    sh(r, "merge", "--no-ff", "-q", "side", "-m", "Merge pull request #2 from bob/side\n\nReturn 2",
       date="2024-02-03T00:00:00+00:00")
    merge = sh(r, "rev-parse", "HEAD")
    sh(r, "tag", "-a", "-m", "release candidate", "v1.1rc1", date="2024-02-04T00:00:00+00:00")
    return {"path": r, "c1": c1, "c2": c2, "side": side, "merge": merge}


# --------------------------------------------------------------------------- handles


def test_handle_reads_files_and_lists_trees(repo):
    h = RepoHandle("o/proj", repo["path"])
    assert h.read(repo["c1"], "mod.py") == b"def f():\n    return 1\n"
    assert h.read(repo["merge"], "mod.py") == b"def f():\n    return 2\n"
    assert h.read(repo["merge"], "tests/test_mod.py").startswith(b"def test_f")
    assert h.reader(repo["c1"])("mod.py") == h.read(repo["c1"], "mod.py")
    assert h.files(repo["c1"]) == ("mod.py",)
    assert set(h.files(repo["c2"])) == {".gitattributes", "link", "mod.py", "run.sh", "tests/test_mod.py"}


def test_reads_of_missing_paths_are_none(repo):
    h = RepoHandle("o/proj", repo["path"])
    assert h.read(repo["c1"], "tests/test_mod.py") is None  # added later
    assert h.read(repo["merge"], "nope.py") is None
    assert h.read(repo["merge"], "tests/nope.py") is None


def test_handle_is_safe_across_threads(repo):
    h = RepoHandle("o/proj", repo["path"])
    results: list[bytes | None] = []

    def work():
        for _ in range(20):
            results.append(h.read(repo["c1"], "mod.py"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [b"def f():\n    return 1\n"] * 80


def test_handle_on_a_non_repository_names_it(tmp_path):
    with pytest.raises(RepoError, match=r"repository o/x: .* is not a git repository"):
        RepoHandle("o/x", tmp_path)
    with pytest.raises(RepoError, match="is not a git repository"):
        gitio.open_repo(tmp_path / "missing")


def test_repo_set_opens_recorded_clones_once(repo, tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.set_repo_state("o/proj", {}, location=str(repo["path"]))
    repos = RepoSet(ws)
    assert repos["o/proj"] is repos["o/proj"]
    assert repos["o/proj"].read(repo["c1"], "mod.py")
    with pytest.raises(RepoError, match="o/other has no local clone recorded"):
        repos["o/other"]


# --------------------------------------------------------------------------- tars


def _tar(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def _content(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


def test_archive_follows_gitattributes_and_tree_tar_ignores_them(repo):
    h = RepoHandle("o/proj", repo["path"])
    archived = _tar(h.archive(repo["c2"]))
    assert "mod.py" in archived and "tests/test_mod.py" not in archived  # export-ignore applies

    data = gitio.tree_tar(repo["path"], repo["c2"])
    assert data == h.tree_tar(repo["c2"])
    members = _tar(data)
    assert set(members) == {".gitattributes", "link", "mod.py", "run.sh", "tests/test_mod.py"}
    assert _content(data, "tests/test_mod.py") == b"def test_f():\n    pass\n"
    assert members["run.sh"].mode == 0o755 and members["mod.py"].mode == 0o644
    assert members["link"].issym() and members["link"].linkname == "mod.py"
    when = int(datetime.fromisoformat("2024-02-01T12:00:00+01:00").timestamp())
    assert {m.mtime for m in members.values()} == {when}


def test_tree_tar_of_an_unknown_commit_is_a_git_error(repo):
    with pytest.raises(GitError, match="failed in"):
        gitio.tree_tar(repo["path"], "0" * 40)


# --------------------------------------------------------------------------- history


def test_history_is_first_parent_and_newest_first(repo):
    path = repo["path"]
    log = list(gitio.history(path))
    assert [c.sha for c in log] == [repo["merge"], repo["c2"], repo["c1"]]
    merge = log[0]
    assert merge.parents == [repo["c2"], repo["side"]]
    assert merge.message == "Merge pull request #2 from bob/side\n\nReturn 2"
    assert merge.commit_date == "2024-02-03T00:00:00+00:00" and merge.author == "A"
    assert [c.sha for c in gitio.history(path, first_parent=False)][:2] == [repo["merge"], repo["side"]]
    since = datetime(2024, 1, 15, tzinfo=timezone.utc)
    assert [c.sha for c in gitio.history(path, since=since)] == [repo["merge"], repo["c2"]]
    assert [c.sha for c in gitio.history(path, since=since.replace(tzinfo=None))] == [repo["merge"], repo["c2"]]


def test_commit_records_missing_and_ancestry(repo):
    path = repo["path"]
    records = gitio.commit_records(path, [repo["side"], repo["c1"], repo["side"], ""])
    assert list(records) == [repo["side"], repo["c1"]]
    assert records[repo["side"]].message == "return 2\n\nFixes #1"
    assert records[repo["c1"]].parents == []
    assert records[repo["side"]].author_date == "2024-02-02T00:00:00+00:00"
    assert gitio.commit_records(path, []) == {}
    unknown = "1" * 40
    assert gitio.missing_commits(path, [repo["c1"], unknown]) == {unknown}
    assert gitio.missing_commits(path, [repo["c1"][:10], "v1.1rc1", "no-such-tag"]) == {"no-such-tag"}
    assert gitio.missing_commits(path, []) == set()
    assert gitio.newest_commit(path, [repo["c1"], repo["merge"][:12], repo["side"]]) == repo["merge"][:12]
    assert gitio.newest_commit(path, [repo["c2"]]) == repo["c2"]
    assert gitio.resolve_commit(path, "main") == repo["merge"]
    assert gitio.resolve_commit(path, "no-such-branch") is None
    assert gitio.first_parent_ancestor(path, repo["merge"], 2) == repo["c1"]
    assert gitio.first_parent_ancestor(path, repo["merge"], 5) is None
    assert gitio.is_ancestor(path, repo["c1"], repo["merge"])
    assert not gitio.is_ancestor(path, repo["merge"], repo["c1"])


def test_patches_diffs_and_messages(repo):
    path = repo["path"]
    patches = gitio.first_parent_patches(path, [repo["merge"], repo["c2"]], batch=1)
    assert set(patches) == {repo["merge"], repo["c2"]}
    assert patches[repo["merge"]].startswith("diff --git a/mod.py b/mod.py")
    assert "-    return 1\n+    return 2" in patches[repo["merge"]]
    assert "run.sh" not in patches[repo["merge"]] and "run.sh" in patches[repo["c2"]]
    assert gitio.diff(path, repo["c2"], repo["merge"]) == patches[repo["merge"]]
    assert gitio.messages(path, repo["c2"], repo["side"]) == ["return 2\n\nFixes #1"]
    assert gitio.messages(path, repo["c2"], "no-such-ref") == []


@pytest.mark.parametrize(("data", "codec"), [
    (b"plain", "utf-8"), ("café ✓".encode(), "utf-8"), (b"caf\xe9", "latin-1"), (b"\xff\xfe\x00\x80", "latin-1"),
    (b"\xed\xa0\x80", "latin-1"),  # an encoded surrogate is not UTF-8
])
def test_decode_text_is_lossless(data, codec):
    text, used = gitio.decode_text(data)
    assert used == codec and text.encode(used) == data
    (a, b), both = gitio.decode_texts(b"ascii", data)
    assert both == codec and a.encode(both) == b"ascii" and b.encode(both) == data


def _raw_commit(path: Path, message: bytes, files: dict[str, bytes]) -> str:
    """A commit whose message is stored byte for byte (``git commit`` would re-encode a latin-1 one)."""
    for name, data in files.items():
        (path / name).write_bytes(data)
    sh(path, "add", ".")
    tree, head = sh(path, "write-tree"), sh(path, "rev-parse", "HEAD")
    who = b"A <a@example.com> 1706745600 +0000"
    obj = f"tree {tree}\nparent {head}\n".encode() + b"author " + who + b"\ncommitter " + who + b"\n\n" + message
    sha = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=path, input=obj, env=ENV,
                         check=True, capture_output=True).stdout.decode().strip()
    sh(path, "update-ref", "refs/heads/main", sha)
    return sha


def test_latin1_messages_and_patches_come_back_as_their_bytes(repo):
    path = repo["path"]
    sha = _raw_commit(path, b"Caf\xe9 (#3)\n\nNa\xefve\n", {"mod.py": b"# Jos\xe9\ndef f():\n    return 3\n"})
    newest = next(gitio.history(path))
    assert newest.sha == sha and newest.encoding == "latin-1" and newest.message == "Café (#3)\n\nNaïve"
    assert newest.raw_message == b"Caf\xe9 (#3)\n\nNa\xefve"
    assert gitio.commit_records(path, [sha])[sha].raw_message == newest.raw_message
    assert gitio.messages(path, repo["merge"], sha) == ["Café (#3)\n\nNaïve"]
    raw = gitio.first_parent_patch_bytes(path, [sha])[sha]
    assert b"+# Jos\xe9\n" in raw and gitio.diff_bytes(path, repo["merge"], sha) == raw
    text = gitio.first_parent_patches(path, [sha])[sha]
    assert text.encode("latin-1") == raw and gitio.diff(path, repo["merge"], sha) == text
    utf8 = next(r for r in gitio.history(path) if r.sha == repo["merge"])
    assert utf8.encoding == "utf-8"


def test_shallow_commits_and_empty_repositories(repo, tmp_path):
    path = repo["path"]
    assert gitio.shallow_commits(path) == set() and gitio.has_commits(path)
    clone = tmp_path / "shallow"
    sh(tmp_path, "clone", "-q", "--depth", "1", f"file://{path}", str(clone))
    assert gitio.shallow_commits(clone) == {repo["merge"]}
    assert [c.parents for c in gitio.history(clone)] == [[]]
    empty = tmp_path / "empty"
    empty.mkdir()
    sh(empty, "init", "-q")
    assert not gitio.has_commits(empty) and gitio.shallow_commits(empty) == set()


def test_remote_url(repo):
    assert gitio.remote_url(repo["path"]) is None
    sh(repo["path"], "remote", "add", "origin", "https://github.com/o/proj.git")
    assert gitio.remote_url(repo["path"]) == "https://github.com/o/proj.git"


# --------------------------------------------------------------------------- commit facts


def test_commit_info_date_version_and_ancestry(repo):
    path = repo["path"]
    first = gitio.commit_info(path, repo["c1"])
    assert first.sha == repo["c1"] and first.version == "1.0"
    assert first.date == datetime(2024, 1, 1, tzinfo=timezone.utc)
    second = gitio.commit_info(path, repo["c2"])
    assert second.version == "1.0"  # the nearest release tag in its history
    assert second.date == datetime.fromisoformat("2024-02-01T12:00:00+01:00")
    assert second.contains(repo["c1"]) and not second.contains(repo["side"])
    last = RepoHandle("o/proj", path).commit_info(repo["merge"])
    assert last.version == "1.1rc1" and last.contains(repo["side"])


def test_commit_info_of_an_unknown_commit_knows_nothing(repo):
    info = gitio.commit_info(repo["path"], "2" * 40)
    assert (info.date, info.version) == (None, None)
    assert info.contains is not None and not info.contains(repo["c1"])


@pytest.mark.parametrize(("tag", "version"), [
    ("v1.2.3", "1.2.3"), ("1.2", "1.2"), ("project-2.0rc1", "2.0rc1"), ("release-1.0.post1", "1.0.post1"),
    ("nightly", None), ("v1", None),
])
def test_tag_version(tag, version):
    assert gitio.tag_version(tag) == version


# --------------------------------------------------------------------------- subprocess, redaction


def test_run_git_environment_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "1")
    env = gitio.git_env({"EXTRA": "1"})
    assert env["LC_ALL"] == "C" and env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_ASKPASS"] == ""
    assert env["SSH_ASKPASS"] == "" and env["EXTRA"] == "1"
    assert gitio.run_git(None, "--version").stdout.startswith("git version")
    with pytest.raises(GitError) as err:
        gitio.run_git(tmp_path, "rev-parse", "HEAD")
    assert isinstance(err.value, RepoError) and err.value.returncode != 0
    assert str(tmp_path) in str(err.value) and "not a git repository" in str(err.value)
    assert gitio.run_git(tmp_path, "rev-parse", "HEAD", check=False).returncode != 0


def test_cloning_an_unreachable_url_never_prompts_and_hides_credentials(tmp_path):
    url = "https://user:s3cr3t-token@127.0.0.1:9/o/r.git"
    with pytest.raises(GitError) as err:
        gitio.run_git(None, "clone", "--quiet", url, str(tmp_path / "clone"), timeout=60)
    assert "s3cr3t-token" not in str(err.value) and "s3cr3t-token" not in err.value.stderr
    assert "https://***@127.0.0.1:9/o/r.git" in str(err.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("https://user:tok@github.com/o/r.git", "https://***@github.com/o/r.git"),
    ("https://x-access-token:ghs_abc@github.com/o/r", "https://***@github.com/o/r"),
    ("fatal: unable to access 'https://tok@host/x/': error; retry http://a:b@h/",
     "fatal: unable to access 'https://***@host/x/': error; retry http://***@h/"),
    ("https://github.com/o/r.git", "https://github.com/o/r.git"),
    ("git@github.com:o/r.git", "git@github.com:o/r.git"),
    ("mail a@b.c about it", "mail a@b.c about it"),
])
def test_redact_url(text, expected):
    assert gitio.redact_url(text) == expected


def test_redact_secrets_and_urls():
    text = "token abcdef123 and abcdef123456 at https://u:p@host/simple"
    assert gitio.redact(text, ["abcdef123", "abcdef123456", ""]) == "token *** and *** at https://***@host/simple"
    assert gitio.redact("nothing secret", []) == "nothing secret"


# --------------------------------------------------------------------------- clone cache


def test_clone_cache_clones_fetches_incrementally_and_reads_from_the_clone(repo, tmp_path):
    origin = repo["path"]
    cache = GitCache(tmp_path / "repos")
    path = cache.sync("o/proj", f"file://{origin}", "main")
    assert path == tmp_path / "repos" / "o__proj" and (path / "HEAD").is_file()
    assert cache.fetches == 1
    assert gitio.resolve_commit(path, "HEAD") == repo["merge"]
    assert gitio.resolve_commit(path, "refs/tags/v1.0") == repo["c1"]
    assert cache.missing("o/proj", [repo["merge"], repo["side"]]) == set()  # side is on a branch

    # a new commit upstream: missing until refreshed
    (origin / "new.txt").write_text("new\n")
    sh(origin, "add", ".")
    sh(origin, "commit", "-qm", "Add new (#3)", date="2024-03-01T00:00:00+00:00")
    new = sh(origin, "rev-parse", "HEAD")
    assert cache.missing("o/proj", [new]) == {new}
    cache.refresh("o/proj")
    assert cache.missing("o/proj", [new]) == set() and cache.fetches == 2
    info = cache.commits("o/proj", [new])[new]
    assert info.parents == [repo["merge"]] and info.message == "Add new (#3)"
    assert "+new" in cache.patches("o/proj", [new])[new]
    assert cache.diff("o/proj", repo["merge"], new) == cache.patches("o/proj", [new])[new]
    assert cache.first_parent_ancestor("o/proj", new, 1) == repo["merge"]
    assert cache.messages("o/proj", repo["merge"], new) == ["Add new (#3)"]


def test_clone_cache_fetches_pull_heads_and_follows_a_new_url(repo, tmp_path):
    origin = repo["path"]
    sh(origin, "checkout", "-qb", "pr5", repo["c1"])
    (origin / "pr.txt").write_text("pr\n")
    sh(origin, "add", ".")
    sh(origin, "commit", "-qm", "PR 5 work")
    head = sh(origin, "rev-parse", "HEAD")
    sh(origin, "checkout", "-q", "main")
    sh(origin, "update-ref", "refs/pull/5/head", head)
    sh(origin, "branch", "-qD", "pr5")

    cache = GitCache(tmp_path / "repos")
    cache.sync("o/proj", f"file://{origin}")
    assert cache.missing("o/proj", [head]) == {head}
    cache.fetch_pull_heads("o/proj", [5, 404])  # 404 does not exist: skipped, the others still fetched
    assert cache.missing("o/proj", [head]) == set()
    assert gitio.resolve_commit(cache.path("o/proj"), "refs/pull/5/head") == head
    cache.fetch_pull_heads("o/proj", [])

    moved = tmp_path / "moved"
    subprocess.run(["git", "clone", "-q", "--bare", str(origin), str(moved)], check=True, capture_output=True)
    cache.sync("o/proj", f"file://{moved}")
    assert gitio.remote_url(cache.path("o/proj")) == f"file://{moved}"


def test_clone_cache_failure_is_a_git_error_with_the_url_redacted(tmp_path):
    cache = GitCache(tmp_path / "repos")
    with pytest.raises(GitError) as err:
        cache.sync("o/gone", f"file://user:hunter2@{tmp_path}/nowhere")
    assert "hunter2" not in str(err.value) and "fetch" in str(err.value)
    assert str(cache.path("o/gone")) in str(err.value)

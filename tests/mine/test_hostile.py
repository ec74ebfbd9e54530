"""Hostile histories and issues files through the real `skillforge mine` command.

Every case is built here (git commands and raw bytes, `git fast-import` for long
histories) and run through the CLI. For each: the exit status, one line naming
the PR or the issues-file item (an `error:` when nothing can be mined, a
`warning:` when one thing is dropped), and every other PR of the history mined.
Nothing ends in a traceback; a run killed with SIGKILL and run again ends with
the workspace an uninterrupted run leaves.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skillforge.cli.main import app
from skillforge.schema import unescape_surrogates
from skillforge.workspace import Workspace

runner = CliRunner()

GIT_ENV = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "A",
           "GIT_COMMITTER_EMAIL": "a@example.com", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
T0 = 1_700_000_000


def git(repo: Path, *args: str, input: bytes | None = None, when: int = T0) -> bytes:
    env = {**GIT_ENV, "GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000"}
    proc = subprocess.run(["git", "-C", str(repo), *args], input=input, env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    return proc.stdout


class History:
    """A work tree whose commits are written from raw bytes: messages and files as given
    (``git commit`` would re-encode a message that is not UTF-8; these are written with
    ``git hash-object``, as old imported histories hold them)."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True)
        git(path, "init", "-q", "-b", "main")
        self.clock = T0
        self.commit(b"initial\n", {"mod.py": b"def f():\n    return 1\n", "notes.txt": b"notes\n"})

    def write(self, files: dict[str, bytes]) -> str:
        """Write and stage ``files``; the tree of the index."""
        for name, data in files.items():
            (self.path / name).parent.mkdir(parents=True, exist_ok=True)
            (self.path / name).write_bytes(data)
        git(self.path, "add", "-A")
        return git(self.path, "write-tree").decode().strip()

    def obj(self, tree: str, parents: list[str], message: bytes) -> str:
        self.clock += 60
        who = f"A <a@example.com> {self.clock} +0000".encode()
        data = f"tree {tree}\n".encode() + b"".join(f"parent {p}\n".encode() for p in parents) + \
            b"author " + who + b"\ncommitter " + who + b"\n\n" + message
        return git(self.path, "hash-object", "-t", "commit", "-w", "--stdin", input=data).decode().strip()

    def head(self) -> str | None:
        proc = subprocess.run(["git", "-C", str(self.path), "rev-parse", "--verify", "-q", "HEAD"],
                              capture_output=True, env=GIT_ENV)
        return proc.stdout.decode().strip() or None

    def advance(self, sha: str) -> str:
        git(self.path, "update-ref", "refs/heads/main", sha)
        return sha

    def commit(self, message: bytes, files: dict[str, bytes] | None = None) -> str:
        head = self.head()
        return self.advance(self.obj(self.write(files or {}), [head] if head else [], message))

    def squash(self, number: int, title: bytes = b"Change", files: dict[str, bytes] | None = None,
               body: bytes = b"") -> str:
        files = files or {f"f{number}.txt": f"pr {number}\n".encode()}
        return self.commit(title + f" (#{number})".encode() + (b"\n\n" + body if body else b"") + b"\n", files)

    def merge(self, number: int, title: bytes = b"Merge change", files: dict[str, bytes] | None = None,
              body: bytes = b"") -> str:
        """A PR branch of one commit merged with a merge commit (``Merge pull request #N ...``)."""
        base = self.head()
        tree = self.write(files or {f"m{number}.txt": f"merge {number}\n".encode()})
        side = self.obj(tree, [base], b"work on " + title + b"\n")
        message = f"Merge pull request #{number} from bob/pr{number}\n\n".encode() + title + \
            (b"\n\n" + body if body else b"") + b"\n"
        return self.advance(self.obj(tree, [base, side], message))


def mine(*args: str, ws: Path | None = None):
    argv = ["mine", *args] + (["--workspace", str(ws)] if ws is not None else [])
    result = runner.invoke(app, argv)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def lines(text: str, prefix: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(prefix)]


def prs(ws: Path) -> dict[int, object]:
    w = Workspace(ws)
    try:
        return {row.number: row.record for row in w.prs()}
    finally:
        w.close()


def one_error(result, *needles: str) -> str:
    assert result.exit_code == 1, result.output
    errors = lines(result.stderr, "error:")
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


# --------------------------------------------------------------------------- bytes are data


def test_latin1_messages_and_file_contents_are_kept_losslessly(tmp_path):
    h = History(tmp_path / "proj")
    h.merge(1, b"Plain merge", {"mod.py": b"def f():\n    return 2\n"})
    latin_msg = h.squash(2, b"Caf\xe9 cr\xe8me", body=b"Na\xefve body\n\nFixes #7")
    latin_file = h.squash(3, b"Latin-1 source", {"legacy.py": b"# -*- coding: latin-1 -*-\nname = 'Jos\xe9'\n"})
    h.merge(4, "Ünïcödé merge".encode(), {"uni.py": "s = 'ü'\n".encode()})
    h.squash(5, b"Newest")
    issues = [{"number": 7, "title": "Caf\u00e9 issue", "body": "ok"}]
    (tmp_path / "proj.issues.json").write_text(json.dumps(issues))

    result = mine(str(h.path), "--repo-name", "o/proj", ws=tmp_path / "ws")
    assert result.exit_code == 0, result.output
    got = prs(tmp_path / "ws")
    assert sorted(got) == [1, 2, 3, 4, 5]  # the bad bytes hide nothing, older or newer
    two, three, four = got[2], got[3], got[4]
    assert two.encoding == "latin-1" and two.raw("title") == b"Caf\xe9 cr\xe8me" and two.title == "Café crème"
    assert two.raw("body") == b"Na\xefve body\n\nFixes #7" and [i.number for i in two.issues] == [7]
    assert three.encoding == "latin-1"
    shown = git(h.path, "show", "--format=", "--no-color", "-M", latin_file)
    assert three.raw("patch") == shown.lstrip(b"\n") and b"Jos\xe9" in three.raw("patch")
    assert four.encoding == "utf-8" and four.title == "Ünïcödé merge" and "s = 'ü'" in four.patch
    assert got[1].encoding == "utf-8"
    assert two.merge_commit == latin_msg and three.merge_commit == latin_file

    again = mine(str(h.path), "--repo-name", "o/proj", ws=tmp_path / "ws")
    assert again.exit_code == 0 and prs(tmp_path / "ws") == got  # a rerun changes nothing


def test_latin1_pr_analysis_carries_the_encoding(tmp_path):
    from skillforge.stages import analyze as analyze_stage
    from skillforge.stages.config import AnalyzeConfig

    h = History(tmp_path / "proj")
    h.write({"tests/test_mod.py": b"from mod import f\n\n\ndef test_f():\n    assert f() == 1\n"})
    h.commit(b"tests\n")
    h.squash(1, b"Fix f for Jos\xe9", {"mod.py": b"def f():\n    # Jos\xe9\n    return 2\n",
                                       "tests/test_mod.py": b"from mod import f\n\n\ndef test_f():\n    assert f() == 2\n"})
    assert mine(str(h.path), "--repo-name", "o/proj", ws=tmp_path / "ws").exit_code == 0
    ws = Workspace(tmp_path / "ws")
    analyze_stage.run(ws, AnalyzeConfig(drop_trivial=False))
    row = ws.pr("o__proj-1")
    assert row.record.encoding == "latin-1"
    assert row.analysis is not None and row.analysis.encoding == "latin-1", row.outcome
    assert row.analysis.code_patch.encode("latin-1") in row.record.raw("patch")


def test_patch_files_are_written_with_the_declared_encoding():
    from skillforge.execution.spec import RunSpec

    plain = RunSpec("c", ("p",))
    latin = RunSpec("c", ("p",), patch_encoding="latin-1")
    assert plain.key("env") == RunSpec("c", ("p",), patch_encoding="utf-8").key("env")  # old keys stay
    assert latin.key("env") != plain.key("env")


def test_facts_runs_write_the_prs_patches_with_its_encoding():
    from types import SimpleNamespace

    from skillforge.execution.spec import RunResult
    from skillforge.stages.facts import FactsJob, run_facts_job

    specs = []

    class Recorder:
        def attempt(self, attempt):
            return self

        def run(self, env, spec, *, log_name=None):
            specs.append(spec)
            return RunResult("ok", 1 if spec.label == "before" else 0,
                             {"tests/test_a.py::test_a": "failed" if spec.label == "before" else "passed"})

    job = FactsJob("o__p-1", "env", "base", "code \xe9", "test", ("tests/test_a.py",), 1, patch_encoding="latin-1")
    out = run_facts_job(SimpleNamespace(executor=Recorder()), job)
    assert out.status == "executed" and out.facts.FAIL_TO_PASS == ["tests/test_a.py::test_a"]
    assert [s.patch_encoding for s in specs] == ["latin-1", "latin-1"]


def test_lone_surrogates_and_latin1_in_issues_files_are_kept_escaped(tmp_path):
    h = History(tmp_path / "proj")
    h.squash(1, b"First", body=b"fixes #3")
    h.squash(2, b"Second", body=b"fixes #4")
    (tmp_path / "proj.issues.json").write_text(
        '[{"number": 3, "title": "bad \\ud800 title", "body": "x \\udfff", "hints": ["\\ud83d"]}]')
    result = mine(str(h.path), "--repo-name", "o/proj", ws=tmp_path / "ws")
    assert result.exit_code == 0, result.output
    issue = prs(tmp_path / "ws")[1].issues[0]
    assert issue.title == "bad \\ud800 title" and unescape_surrogates(issue.title) == "bad \ud800 title"
    assert issue.hints == ["\\ud83d"] and issue.body == "x \\udfff"

    latin = tmp_path / "latin.issues.json"
    latin.write_bytes(b'[{"number": 4, "title": "Probl\xe8me", "body": "r\xe9sum\xe9"}]')
    ws2 = tmp_path / "ws2"
    assert mine(str(h.path), "--repo-name", "o/proj", "--issues", str(latin), ws=ws2).exit_code == 0
    issue = prs(ws2)[2].issues[0]
    assert issue.encoding == "latin-1" and issue.title.encode("latin-1") == b"Probl\xe8me"


def test_analyze_reads_a_latin1_patch(tmp_path):
    h = History(tmp_path / "proj")
    h.commit(b"legacy\n", {"legacy.py": b"def name():\n    # Jos\xe9\n    return 1\n"})
    patch = tmp_path / "change.patch"
    h.write({"legacy.py": b"def name():\n    # Jos\xe9\n    return 2\n"})
    patch.write_bytes(git(h.path, "diff", "--cached"))
    result = runner.invoke(app, ["analyze", "--repo", str(h.path), "--commit", "HEAD", "--patch", str(patch)])
    assert result.exit_code == 0, result.output
    labels = json.loads(result.stdout)
    assert labels["encoding"] == "latin-1" and labels["files"] == ["legacy.py"]
    assert labels["entities"] == ["legacy.py::name"]


# --------------------------------------------------------------------------- nothing to mine: one error line


def test_an_empty_repository_is_one_error_line(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main", "empty")
    one_error(mine(str(tmp_path / "empty"), ws=tmp_path / "ws"), "empty", "no commits")


def test_a_workspace_path_that_is_a_file_is_one_error_line(tmp_path):
    h = History(tmp_path / "proj")
    h.squash(1)
    (tmp_path / "file").write_text("not a workspace")
    one_error(mine(str(h.path), ws=tmp_path / "file"), "file", "not a workspace directory")
    one_error(mine(str(h.path), ws=tmp_path / "file" / "sub"), "workspace", "cannot be opened")


def test_an_issues_path_that_is_a_directory_is_one_error_line(tmp_path):
    h = History(tmp_path / "proj")
    h.squash(1)
    (tmp_path / "issues").mkdir()
    one_error(mine(str(h.path), "--issues", str(tmp_path / "issues"), ws=tmp_path / "ws"), "is a directory")
    (tmp_path / "proj.issues.json").mkdir()  # the default issues path
    one_error(mine(str(h.path), ws=tmp_path / "ws2"), "proj.issues.json", "is a directory")


@pytest.mark.parametrize(("content", "needle"), [
    ("{not json", "not valid JSON"),
    ('{"number": 1}', "JSON list"),
])
def test_an_unusable_issues_file_is_one_error_line(tmp_path, content, needle):
    h = History(tmp_path / "proj")
    h.squash(1)
    (tmp_path / "proj.issues.json").write_text(content)
    one_error(mine(str(h.path), ws=tmp_path / "ws"), "proj.issues.json", needle)


def test_a_mistyped_local_path_never_goes_to_github(tmp_path, monkeypatch):
    import skillforge.mine.github as github
    import skillforge.mine.github_api as github_api

    def refuse(*args, **kwargs):
        raise AssertionError("a request to GitHub")

    monkeypatch.setattr(github, "mine_github", refuse)
    monkeypatch.setattr(github_api.GithubApi, "__init__", refuse)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_notUsed")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repos").mkdir()
    one_error(mine("repos/typo", ws=tmp_path / "ws"), "repos/typo")


# --------------------------------------------------------------------------- one PR dropped: one warning line


def test_huge_pr_numbers_are_dropped_with_a_reason_and_the_rest_mined(tmp_path):
    h = History(tmp_path / "proj")
    h.squash(1)
    h.squash(2**63 - 1, b"Largest that fits")
    too_big = h.squash(2**63, b"One too many")
    h.merge(99999999999999999999999, b"Far too many")
    h.squash(3)
    result = mine(str(h.path), "--repo-name", "o/proj", ws=tmp_path / "ws")
    assert result.exit_code == 0, result.output
    assert sorted(prs(tmp_path / "ws")) == [1, 3, 2**63 - 1]
    warnings = lines(result.stderr, "warning:")
    assert len(warnings) == 2, result.stderr
    assert f"PR #{2**63} (commit {too_big[:12]}) not mined" in warnings[1] and "64-bit" in warnings[1]
    assert "PR #99999999999999999999999" in warnings[0]
    assert "dropped: PR number too large 2" in result.stderr
    state = Workspace(tmp_path / "ws").repo_state("o/proj")
    assert state["dropped"][too_big]["number"] == 2**63


def test_a_pr_merged_twice_keeps_the_newest_and_says_so(tmp_path):
    h = History(tmp_path / "proj")
    h.squash(1)
    old = h.merge(5, b"First try", {"mod.py": b"def f():\n    return 5\n"})
    h.commit(b"Revert first try\n", {"mod.py": b"def f():\n    return 1\n"})
    new = h.merge(5, b"Second try", {"mod.py": b"def f():\n    return 55\n"})
    h.squash(6)
    result = mine(str(h.path), "--repo-name", "o/proj", ws=tmp_path / "ws")
    assert result.exit_code == 0, result.output
    got = prs(tmp_path / "ws")
    assert sorted(got) == [1, 5, 6] and got[5].merge_commit == new and got[5].title == "Second try"
    (warning,) = lines(result.stderr, "warning:")
    assert f"PR #5 (commit {old[:12]}) not mined" in warning and f"merged again later, by {new[:12]}" in warning
    assert Workspace(tmp_path / "ws").repo_state("o/proj")["dropped"][old]["number"] == 5


def test_the_pr_at_a_shallow_clones_boundary_is_named(tmp_path):
    h = History(tmp_path / "origin")
    for n in (1, 2):
        h.squash(n)
    h.merge(3)
    boundary = h.squash(4)
    h.merge(5)
    h.squash(6)
    clone = tmp_path / "shallow"
    # depth 3: #6, the merge of #5, then #4 and #5's own commit, whose parents the clone lacks
    subprocess.run(["git", "clone", "-q", "--depth", "3", f"file://{h.path}", str(clone)], check=True,
                   env=GIT_ENV, capture_output=True)
    shallow = set((clone / ".git" / "shallow").read_text().split())
    assert boundary in shallow
    result = mine(str(clone), "--repo-name", "o/proj", ws=tmp_path / "ws")
    assert result.exit_code == 0, result.output
    assert sorted(prs(tmp_path / "ws")) == [5, 6]
    (warning,) = lines(result.stderr, "warning:")
    assert f"PR #4 (commit {boundary[:12]}) not mined" in warning and "base commit is not in the clone" in warning


def test_limit_zero_mines_none(tmp_path):
    h = History(tmp_path / "proj")
    h.squash(1)
    h.squash(2)
    result = mine(str(h.path), "--limit", "0", ws=tmp_path / "ws")
    assert result.exit_code == 0, result.output
    assert prs(tmp_path / "ws") == {}
    result = mine(str(h.path), "--limit", "1", ws=tmp_path / "ws")
    assert sorted(prs(tmp_path / "ws")) == [2]


BAD_ITEMS = [
    (5, "not an issue object (int)"),
    ("text", "not an issue object (str)"),
    (None, "not an issue object (NoneType)"),
    ([1, 2], "not an issue object (list)"),
    ({"title": "no number"}, "no issue number"),
    ({"number": "abc"}, "is not an integer"),
    ({"number": True}, "not an integer"),
    ({"number": 1.5}, "is not an integer"),
    ({"number": 20, "title": 123}, "title is int, not text"),
    ({"number": 21, "hints": 7}, "hints is int"),
    ({"number": 22, "hints": [{"body": 3}]}, "hints[0].body is int"),
]


def test_bad_issues_items_are_skipped_by_name_and_the_rest_kept(tmp_path):
    h = History(tmp_path / "proj")
    h.squash(1, body=b"fixes #10")
    h.squash(2, body=b"fixes #11")
    h.squash(3, body=b"fixes #12")
    h.squash(4, body=b"fixes #13")
    good = [{"number": 10, "title": "hints null", "hints": None},
            {"number": 11, "title": "hints text", "hints": "one hint, not characters"},
            {"number": 12, "title": "hints comments", "hints": [{"body": "a"}, "b", {"body": None}]},
            {"number": 13, "title": "deep body follows"}]
    deep = '{"number": 14, "body": ' + "[" * 100_000 + "]" * 100_000 + "}"
    items = [json.dumps(i) for i in good[:2]] + [json.dumps(b) for b, _ in BAD_ITEMS] + [deep] + \
        [json.dumps(i) for i in good[2:]]
    path = tmp_path / "proj.issues.json"
    path.write_text("[" + ",\n".join(items) + "]")
    result = mine(str(h.path), "--repo-name", "o/proj", ws=tmp_path / "ws")
    assert result.exit_code == 0, result.output
    got = prs(tmp_path / "ws")
    assert sorted(got) == [1, 2, 3, 4]
    assert got[1].issues[0].hints == [] and got[2].issues[0].hints == ["one hint, not characters"]
    assert got[3].issues[0].hints == ["a", "b", ""] and got[4].issues[0].title == "deep body follows"
    warnings = lines(result.stderr, "warning:")
    expected = [f"{path}:{2 + k}: skipped: " for k in range(len(BAD_ITEMS) + 1)]
    assert len(warnings) == len(expected), result.stderr
    for warning, prefix, (_, why) in zip(warnings, expected, [*BAD_ITEMS, (None, "nested too deeply")]):
        assert warning.startswith(f"warning: {prefix}") and why in warning, (warning, why)


def test_a_deeply_nested_issues_document_is_a_warning(tmp_path):
    h = History(tmp_path / "proj")
    h.squash(1)
    path = tmp_path / "proj.issues.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    result = mine(str(h.path), ws=tmp_path / "ws")
    assert result.exit_code == 0, result.output
    assert lines(result.stderr, "warning:") == [f"warning: {path}:0: skipped: nested too deeply to read"]
    assert sorted(prs(tmp_path / "ws")) == [1]


def test_a_root_commit_named_like_a_pr_is_named(tmp_path):
    repo = tmp_path / "proj"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Import (#1)")
    (repo / "a.txt").write_text("b\n")
    git(repo, "commit", "-qam", "Change (#2)")
    result = mine(str(repo), ws=tmp_path / "ws")
    assert result.exit_code == 0 and sorted(prs(tmp_path / "ws")) == [2]
    (warning,) = lines(result.stderr, "warning:")
    assert "PR #1" in warning and "root commit" in warning


# --------------------------------------------------------------------------- kill -9 at random points


def fast_history(path: Path, n: int) -> None:
    """``n`` PRs in one ``git fast-import``: squashes and merge commits, some latin-1 bytes, a PR
    number merged twice, one too large to store, an issues file beside it."""
    git(path.parent, "init", "-q", "-b", "main", path.name)
    out: list[bytes] = []
    mark = 0

    def commit(message: bytes, parent: str | None, files: dict[str, bytes], merge: str | None = None,
               ref: str = "refs/heads/main") -> str:
        nonlocal mark
        mark += 1
        stamp = T0 + mark * 60
        out.append(f"commit {ref}\nmark :{mark}\nauthor A <a@x> {stamp} +0000\n"
                   f"committer A <a@x> {stamp} +0000\ndata {len(message)}\n".encode() + message + b"\n")
        if parent:
            out.append(f"from {parent}\n".encode())
        if merge:
            out.append(f"merge {merge}\n".encode())
        for name, data in files.items():
            out.append(f"M 100644 inline {name}\ndata {len(data)}\n".encode() + data + b"\n")
        out.append(b"\n")
        return f":{mark}"

    tip = commit(b"initial\n", None, {"mod0.py": b"x = 0\n"})
    for k in range(1, n + 1):
        number = 7 if k == n - 3 else 2**64 if k == n // 2 else k  # #7 merged twice; one number too large
        body = b"caf\xe9 fixes #1" if k % 17 == 0 else b"fixes #2"
        content = f"x = {k}\n".encode() + (b"# Jos\xe9\n" if k % 13 == 0 else b"")
        files = {f"mod{k % 25}.py": content}
        if k % 3 == 0:
            side = commit(b"side work\n", tip, files, ref=f"refs/heads/side{k}")
            tip = commit(f"Merge pull request #{number} from bob/side{k}\n\nMerge {k}\n\n".encode() + body, tip,
                         files, merge=side)
        else:
            tip = commit(f"Change {k} (#{number})\n\n".encode() + body, tip, files)
    git(path, "fast-import", "--quiet", input=b"".join(out))
    git(path, "checkout", "-q", "-f", "main")
    (path.parent / f"{path.name}.issues.json").write_text(json.dumps(
        [{"number": 1, "title": "one", "hints": "a hint"}, {"number": 2, "title": "two \ud800"}, 5]))


def snapshot(ws_dir: Path) -> dict:
    """Everything mining leaves in a workspace, minus the time it ran."""
    with sqlite3.connect(ws_dir / "skillforge.db") as con:
        prs_ = sorted(con.execute("SELECT pr_id, repo, number, record, stage FROM prs").fetchall())
        repos = con.execute("SELECT repo, location, state FROM repos").fetchall()
    states = []
    for repo, location, state in repos:
        state = json.loads(state)
        state.pop("last_mined_at", None)
        states.append((repo, location, state))
    return {"prs": prs_, "repos": sorted(states, key=str)}


def test_kill_9_at_random_points_then_rerun_gives_the_uninterrupted_workspace(tmp_path):
    repo = tmp_path / "big"
    fast_history(repo, 1200)
    command = [sys.executable, "-m", "skillforge.cli.main", "mine", str(repo), "--repo-name", "o/big"]
    env = {**os.environ, "COLUMNS": "200"}

    started = time.monotonic()
    clean = subprocess.run([*command, "--workspace", str(tmp_path / "clean")], env=env, capture_output=True,
                           text=True)
    took = time.monotonic() - started
    assert clean.returncode == 0, clean.stderr
    reference = snapshot(tmp_path / "clean")
    assert len(reference["prs"]) == 1200 - 2  # #7 merged twice, one number too large
    assert len(lines(clean.stderr, "warning:")) == 3  # those two, and the issues item that is no object
    kept = {p[2]: json.loads(p[3]) for p in reference["prs"]}
    assert kept[13]["encoding"] == "latin-1" and kept[1]["encoding"] == "utf-8"

    # where to kill: after a random delay (anywhere: start-up, the history scan, storing, the end),
    # or once a random number of PRs is stored (surely in the middle of storing)
    rng = random.Random(1234)
    points = [("after", rng.uniform(0.1, 1.0) * took) for _ in range(3)] + \
        [("stored", rng.randint(1, len(reference["prs"]) - 200)) for _ in range(4)]
    interrupted = 0
    for seed, (kind, point) in enumerate(points):
        ws_dir = tmp_path / f"killed{seed}"
        proc = subprocess.Popen([*command, "--workspace", str(ws_dir)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if kind == "after":
            time.sleep(point)
        else:
            while proc.poll() is None and stored(ws_dir) < point:
                time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        partial = snapshot(ws_dir) if (ws_dir / "skillforge.db").exists() else {"prs": [], "repos": []}
        if partial["prs"]:  # a PR stored before the kill can always be read: its repository has a location
            assert partial["repos"] and partial["repos"][0][1] == str(repo.resolve())
            interrupted += len(partial["prs"]) < len(reference["prs"])
        rerun = subprocess.run([*command, "--workspace", str(ws_dir)], env=env, capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stderr
        assert snapshot(ws_dir) == reference, f"killed {kind} {point}"
        assert lines(rerun.stderr, "warning:") == lines(clean.stderr, "warning:")
    assert interrupted >= 1, "no kill landed while PRs were being stored"


def stored(ws_dir: Path) -> int:
    try:
        with sqlite3.connect(f"file:{ws_dir / 'skillforge.db'}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM prs").fetchone()[0]
    except sqlite3.Error:
        return 0


# --------------------------------------------------------------------------- the GitHub miner's location


def test_github_miner_records_the_clone_before_its_first_pr(tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import github_replay as gr

    from skillforge.mine.github import RetryPolicy, mine_github

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    builder, repos = gr.build_world(tmp_path / "remote", n_prs=6)

    class Killed(BaseException):
        pass

    def progress(event, info):
        if event == "record":
            raise Killed  # the process dies right after its first PR is stored

    ws = Workspace(tmp_path / "ws")
    with gr.ReplayServer(repos, tokens=["ghp_replayToken1"]) as srv, pytest.raises(Killed):
        mine_github(ws, ["acme/widgets"], api_url=srv.url, tokens=["ghp_replayToken1"], repos_dir=tmp_path / "repos",
                    retry=RetryPolicy(pacing=None), progress=progress)
    assert len(ws.prs()) == 1
    assert ws.repo_location("acme/widgets") == str((tmp_path / "repos" / "acme__widgets").resolve())


# --------------------------------------------------------------------------- latin-1 patches, applied byte-exactly


@pytest.mark.docker
def test_a_latin1_patch_is_applied_byte_exactly_in_the_sandbox(docker_client, settings, tiny_env, tiny_repo,
                                                             tmp_path):
    from skillforge.execution import RunSpec
    from skillforge.execution.sandbox import DockerExecutor, git_tree_tar

    env, _log, _seconds = tiny_env
    source = b"# Jos\xe9\nNAME = 'Jos\xe9'\n"
    changed = b"# Jos\xe9\nNAME = 'Jos\xe9 \xc0'\n"
    add = (b"diff --git a/src/tinypkg/legacy.py b/src/tinypkg/legacy.py\nnew file mode 100644\n"
           b"--- /dev/null\n+++ b/src/tinypkg/legacy.py\n@@ -0,0 +1,2 @@\n"
           + b"".join(b"+" + line + b"\n" for line in source.splitlines()))
    edit = (b"diff --git a/src/tinypkg/legacy.py b/src/tinypkg/legacy.py\n--- a/src/tinypkg/legacy.py\n"
            b"+++ b/src/tinypkg/legacy.py\n@@ -1,2 +1,2 @@\n # Jos\xe9\n-NAME = 'Jos\xe9'\n+NAME = 'Jos\xe9 \xc0'\n")
    test = ("diff --git a/tests/test_legacy.py b/tests/test_legacy.py\nnew file mode 100644\n--- /dev/null\n"
            "+++ b/tests/test_legacy.py\n@@ -0,0 +1,5 @@\n+from pathlib import Path\n+\n+\n+def test_bytes():\n"
            f"+    assert (Path(__file__).parents[1] / 'src/tinypkg/legacy.py').read_bytes() == {changed!r}\n")
    executor = DockerExecutor(docker_client, settings, {"example__tinypkg": env},
                              lambda repo, commit: git_tree_tar(tiny_repo.path, commit), log_dir=tmp_path / "logs")
    # the patches as a latin-1 PR's record holds them: decoded as latin-1, written back as latin-1
    patches = (add.decode("latin-1"), edit.decode("latin-1"), test)
    spec = RunSpec(tiny_repo.c1, patches, ("tests/test_legacy.py",), patch_encoding="latin-1")
    result = executor.run("example__tinypkg", spec, log_name="latin1/exact")
    assert result.status == "ok" and result.tests == {"tests/test_legacy.py::test_bytes": "passed"}, result.output
    # written as UTF-8 instead, the same text is other bytes: the file is not what the PR made
    wrong = executor.run("example__tinypkg", RunSpec(tiny_repo.c1, patches[:2] + (test,), ("tests/test_legacy.py",)),
                         log_name="latin1/utf8")
    assert wrong.status != "ok" or wrong.tests != {"tests/test_legacy.py::test_bytes": "passed"}

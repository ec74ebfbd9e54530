import json
import subprocess

import git
import pytest

from skillforge.mine.local import MineError, mine_local
from skillforge.workspace import Workspace

ENV = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "A",
       "GIT_COMMITTER_EMAIL": "a@example.com"}


def sh(repo, *args, date="2024-01-01T00:00:00+00:00"):
    env = {**ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date, "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def history(tmp_path):
    repo = tmp_path / "proj"
    repo.mkdir()
    sh(repo, "init", "-q", "-b", "main")
    (repo / "mod.py").write_text("def f():\n    return 1\n")
    sh(repo, "add", ".")
    sh(repo, "commit", "-qm", "initial")
    # PR #2, merged with a merge commit
    sh(repo, "checkout", "-qb", "fix")
    (repo / "mod.py").write_text("def f():\n    return 2\n")
    sh(repo, "commit", "-qam", "fix f", date="2024-02-01T00:00:00+00:00")
    sh(repo, "checkout", "-q", "main")
    (repo / "README").write_text("readme\n")
    sh(repo, "add", ".")
    sh(repo, "commit", "-qm", "docs: readme", date="2024-02-02T00:00:00+00:00")
    sh(repo, "merge", "--no-ff", "-q", "fix", "-m", "Merge pull request #2 from bob/fix\n\nMake f return 2\n\nFixes #1",
       date="2024-02-03T00:00:00+00:00")
    # PR #4, squash-merged
    (repo / "mod.py").write_text("def f():\n    return 2\n\n\ndef g():\n    return 3\n")
    sh(repo, "commit", "-qam", "Add g (#4)\n\nresolves other/repo#9", date="2024-03-01T00:00:00+00:00")
    issues = [{"number": 1, "title": "f returns 1", "body": "It should return 2.", "state": "closed",
               "html_url": "https://github.com/o/proj/issues/1", "user": {"login": "carol"}},
              {"number": 2, "title": "PR", "pull_request": {}}]
    (tmp_path / "proj.issues.json").write_text(json.dumps(issues))
    return repo


def test_mines_merge_and_squash_prs_with_first_parent_diffs(history, tmp_path):
    ws = Workspace(tmp_path / "ws")
    summary = mine_local(ws, history, repo_name="o/proj")
    assert (summary.prs_found, summary.prs_new) == (2, 2)
    assert summary.dropped == {"cross-repository issue reference": 1}
    merged = ws.get_pr("o__proj-2")
    repo = git.Repo(history)
    assert merged.merge_style == "merge" and merged.title == "Make f return 2"
    assert merged.base_commit == repo.commit(merged.merge_commit).parents[0].hexsha
    assert "-    return 1\n+    return 2" in merged.patch and "README" not in merged.patch
    assert [i.number for i in merged.issues] == [1] and merged.problem_statement.startswith("f returns 1")
    squash = ws.get_pr("o__proj-4")
    assert squash.merge_style == "squash" and squash.issues == []
    assert "+def g():" in squash.patch and squash.problem_statement.startswith("Add g")
    assert ws.repo_location("o/proj") == str(history.resolve())


def test_mining_twice_adds_nothing_and_limit_takes_newest(history, tmp_path):
    ws = Workspace(tmp_path / "ws")
    first = mine_local(ws, history, repo_name="o/proj", limit=1)
    assert first.prs_new == 1 and ws.has_pr("o__proj-4")
    second = mine_local(ws, history, repo_name="o/proj")
    assert (second.prs_new, second.prs_existing) == (1, 1)
    third = mine_local(ws, history, repo_name="o/proj")
    assert third.prs_new == 0 and len(ws.prs()) == 2


def test_since_filters_by_merge_date(history, tmp_path):
    from datetime import datetime

    ws = Workspace(tmp_path / "ws")
    summary = mine_local(ws, history, repo_name="o/proj", since=datetime.fromisoformat("2024-02-15T00:00:00+00:00"))
    assert summary.prs_new == 1 and ws.has_pr("o__proj-4")


def test_not_a_repository_is_a_clear_error(tmp_path):
    with pytest.raises(MineError, match="not a git repository"):
        mine_local(Workspace(tmp_path / "ws"), tmp_path)


def test_since_as_text_and_last_is_refused(history, tmp_path):
    ws = Workspace(tmp_path / "ws")
    assert mine_local(ws, history, repo_name="o/proj", since="2024-02-15").prs_new == 1
    with pytest.raises(ValueError, match="GitHub"):
        mine_local(ws, history, repo_name="o/proj", since="last")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        mine_local(ws, history, repo_name="o/proj", since="soon")


def test_origin_remote_names_the_repository_and_a_bad_ref_is_a_mine_error(history, tmp_path):
    sh(history, "remote", "add", "origin", "git@github.com:octo/proj.git")
    ws = Workspace(tmp_path / "ws")
    assert mine_local(ws, history).repo == "octo/proj"
    with pytest.raises(MineError, match="no-such-branch"):
        mine_local(ws, history, ref="no-such-branch")

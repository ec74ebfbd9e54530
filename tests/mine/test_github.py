"""The GitHub miner end to end, against a loopback GitHub replaying a real git history."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import github_replay as gr  # noqa: E402

from skillforge.mine.github import GraphQLLimits, MineFilters, RetryPolicy, mine_github  # noqa: E402
from skillforge.mine.local import mine_local  # noqa: E402
from skillforge.workspace import Workspace  # noqa: E402

TOKEN = "ghp_replayTokenAAAA1111"
FAST = RetryPolicy(attempts=4, backoff=0.05, max_backoff=0.2, secondary_wait=1.0, pacing=None, timeout=10,
                   reset_margin=0.1)
REPO = "acme/widgets"
SHARED = ("number", "title", "base_commit", "merge_commit", "patch", "merge_style")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One 120-PR history shared by the tests that do not change it."""
    return gr.build_world(tmp_path_factory.mktemp("remote"))


@pytest.fixture
def server(world):
    with gr.ReplayServer(world[1], tokens=[TOKEN]) as srv:
        yield srv


def mine(ws, srv, tmp_path, **kw):
    kw.setdefault("tokens", [TOKEN])
    kw.setdefault("retry", FAST)
    return mine_github(ws, kw.pop("repos", [REPO]), api_url=srv.url, repos_dir=tmp_path / "repos", **kw)


def records(ws):
    return {row.pr_id: row.record.model_dump(mode="json") for row in ws.prs()}


def pr_by_slot(repo: gr.FakeRepo, k: int) -> gr.FakePR:
    return [p for p in repo.prs.values() if p.merged and p.title.startswith(f"Add feature {k} ")][0]


# ---------------------------------------------------------------------------------
def test_same_records_as_local_miner_plus_github_data_within_budget(world, server, tmp_path):
    builder, _ = world
    local_ws, gh_ws = Workspace(tmp_path / "local"), Workspace(tmp_path / "gh")
    mine_local(local_ws, builder.bare, repo_name=REPO)
    summary = mine(gh_ws, server, tmp_path)

    local, github = records(local_ws), records(gh_ws)
    merged = builder.repo.merged_prs()
    assert len(merged) >= 100
    shared = set(local) & set(github)
    assert len(shared) >= 100
    for pr_id in shared:
        assert {k: github[pr_id][k] for k in SHARED} == {k: local[pr_id][k] for k in SHARED}, pr_id
        assert github[pr_id]["source"] == "github"
    # what differs is explained: rebase merges are invisible to the local miner; the bot PR is filtered
    extra = {github[i]["number"] for i in set(github) - set(local)}
    assert extra == {p.number for p in merged if p.style == "rebase"}
    missing = {local[i]["number"] for i in set(local) - set(github)}
    assert missing == {p.number for p in merged if p.author_type == "Bot"}
    assert summary.dropped["bot author"] == 1

    # plus what only GitHub knows
    with_issues = [r for r in github.values() if r["issues"]]
    assert len(with_issues) >= 90
    assert sum(1 for r in with_issues if any(i["hints"] for i in r["issues"])) >= 90
    assert sum(1 for r in github.values() if r["review_comments"]) >= 25

    # the budget: the server saw exactly what the summary reports, far under 2 per candidate PR
    assert summary.requests.total == server.count()
    assert summary.candidates == len(merged)
    assert summary.requests.total <= 2 * summary.candidates
    assert summary.requests_per_candidate < 0.1
    assert server.count("graphql:pulls") == math.ceil(len(merged) / 50)
    assert server.count("repo") == 1 and server.count("pull") == 0 and server.count("issue") == 0
    assert summary.repos[REPO].complete
    assert "requests per kept PR" in summary.report()


def test_records_carry_issues_hints_reviews_and_git_facts(world, server, tmp_path):
    builder, _ = world
    repo = builder.repo
    ws = Workspace(tmp_path / "ws")
    summary = mine(ws, server, tmp_path)
    rs = summary.repos[REPO]
    get = lambda k: ws.get_pr(f"acme__widgets-{pr_by_slot(repo, k).number}")  # noqa: E731

    # linked by GitHub: issue, hints = comments before the first commit only
    r0, p0 = get(0), pr_by_slot(repo, 0)
    assert [i.number for i in r0.issues] == [n for _, n in p0.closing]
    assert r0.issues[0].hints == [repo.issues[r0.issues[0].number].comments[0].body]
    assert r0.labels == ["bug"] and r0.author_association == "MEMBER" and r0.author == "dev0"
    # review comments with diff hunks; the first review was on an earlier commit than the head
    assert len(r0.review_comments) == 3 and all(c.diff_hunk.startswith("@@") for c in r0.review_comments)
    assert r0.head_commit == p0.head_sha and r0.pre_review_commit == p0.commit_shas[0]

    # reference only in a commit message (fallback through the clone's history)
    r3 = get(3)
    assert pr_by_slot(repo, 3).closing == [] and [i.number for i in r3.issues] == [r3.number - 1]
    # "Fixes #N" in the body that GitHub did not link (fallback through the body)
    assert pr_by_slot(repo, 7).closing == [] and len(get(7).issues) == 1
    # cross-repository: resolved (GitHub linked it) ...
    assert [(i.repo, i.number, i.hints) for i in get(10).issues] == [("other/lib", 7, ["Seen in widgets too (hint)"])]
    # ... or dropped with a reason
    assert rs.issue_refs_dropped["cross-repository issue not accessible"] == 1
    assert rs.issue_refs_dropped["reference is a pull request"] == 1
    assert rs.issue_refs_dropped["issue not found"] == 1

    # squash merge: base = parent of the squash commit, head fetched from refs/pull/N/head
    r2, p2 = get(2), pr_by_slot(repo, 2)
    assert r2.merge_style == "squash" and r2.head_commit == p2.head_sha
    clone = tmp_path / "repos" / "acme__widgets"
    parent = subprocess.run(["git", "-C", str(clone), "rev-parse", f"{p2.merge_sha}^"], capture_output=True,
                            text=True).stdout.strip()
    assert r2.base_commit == parent != p2.base_sha
    assert subprocess.run(["git", "-C", str(clone), "rev-parse", "--verify", f"refs/pull/{p2.number}/head"],
                          capture_output=True).returncode == 0
    # merge commit: base = first parent (not REST's base.sha, the tip when the PR was opened)
    r1, p1 = get(1), pr_by_slot(repo, 1)
    assert r1.merge_style == "merge" and r1.base_commit != p1.base_sha and r1.head_commit == p1.head_sha
    # rebase merge of two commits: base = two commits below, patch = both commits
    r5, p5 = get(5), pr_by_slot(repo, 5)
    base = subprocess.run(["git", "-C", str(clone), "rev-parse", f"{p5.merge_sha}~2"], capture_output=True,
                          text=True).stdout.strip()
    assert (r5.merge_style, r5.base_commit) == ("rebase", base)
    assert "def feature_5" in r5.patch and "def test_feature_5" in r5.patch
    assert ws.repo_location(REPO) == str(clone)


def test_since_last_is_incremental_and_makes_no_duplicates(tmp_path):
    builder, repos = gr.build_world(tmp_path / "remote", n_prs=60)
    with gr.ReplayServer(repos, tokens=[TOKEN]) as srv:
        ws = Workspace(tmp_path / "ws")
        first = mine(ws, srv, tmp_path, since="last")
        stored = len(ws.prs())
        assert stored == first.stored == 59

        srv.reset_log()
        again = mine(ws, srv, tmp_path, since="last")
        assert again.stored == 0 and len(ws.prs()) == stored
        assert srv.count() == 2 and srv.count("repo", status=304) == 1 and srv.count("graphql:pulls") == 1
        assert again.requests.not_modified == 1

        new = builder.add_prs(6)  # six more merges on the remote
        srv.reset_log()
        third = mine(ws, srv, tmp_path, since="last")
        assert {r.number for r in ws.prs() if r.number in {p.number for p in new}} == {p.number for p in new}
        assert third.stored == 6 and len(ws.prs()) == stored + 6
        state = ws.repo_state(REPO)["github"]
        assert state["last_merged_pr"] == new[-1].number and state["last_merged_at"] == new[-1].merged_at
        assert "sweep" not in state and state["high_water"] == max(p.updated_at for p in builder.repo.merged_prs())
        assert srv.count("graphql:pulls") == 1 and srv.count() <= 4

        srv.reset_log()
        full = mine(ws, srv, tmp_path)  # a full sweep re-reads the pages but decides nothing twice
        assert full.stored == 0 and full.candidates == 0 and len(ws.prs()) == stored + 6
        assert srv.count("graphql:issues") == 0
        ids = [r.pr_id for r in ws.prs()]
        assert len(ids) == len(set(ids))


def test_since_datetime_and_limit_then_resume(world, server, tmp_path):
    builder, _ = world
    merged = builder.repo.merged_prs()
    cut = sorted(p.merged_at for p in merged)[len(merged) // 2]
    ws = Workspace(tmp_path / "ws")
    summary = mine(ws, server, tmp_path, since=datetime.fromisoformat(cut.replace("Z", "+00:00")))
    expected = {p.number for p in merged if p.merged_at >= cut and p.author_type != "Bot"}
    assert {r.number for r in ws.prs()} == expected
    assert summary.repos[REPO].complete

    ws2 = Workspace(tmp_path / "ws2")
    server.reset_log()
    part = mine(ws2, server, tmp_path, limit=30, limits=GraphQLLimits(page=20))
    assert part.stored == 30 and not part.repos[REPO].complete
    pages_first = server.count("graphql:pulls")
    server.reset_log()
    rest = mine(ws2, server, tmp_path, limits=GraphQLLimits(page=20))
    assert rest.repos[REPO].resumed and rest.repos[REPO].complete
    assert len(ws2.prs()) == len(merged) - 1
    # the resumed sweep starts at the page where the limit stopped, not at the top
    assert server.count("graphql:pulls") == math.ceil(len(merged) / 20) - pages_first + 1


def test_killed_run_loses_nothing_and_rerequests_only_unstored_pages(world, tmp_path):
    builder, repos = world
    page = 10
    with gr.ReplayServer(repos, tokens=[TOKEN], graphql_delay=0.25) as srv:
        ws_dir = tmp_path / "killed"
        script = textwrap.dedent(f"""
            from pathlib import Path
            from skillforge.workspace import Workspace
            from skillforge.mine.github import mine_github, GraphQLLimits, RetryPolicy
            mine_github(Workspace({str(ws_dir)!r}), [{REPO!r}], api_url={srv.url!r}, repos_dir=Path({str(tmp_path / 'repos1')!r}),
                        limits=GraphQLLimits(page={page}), retry=RetryPolicy(pacing=None))
        """)
        env = {**os.environ, "GITHUB_TOKEN": TOKEN, "NO_PROXY": "127.0.0.1"}
        proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        db = ws_dir / "skillforge.db"
        deadline = time.time() + 30
        stored = 0
        while time.time() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    with sqlite3.connect(db, timeout=1) as con:
                        stored = con.execute("SELECT COUNT(*) FROM prs").fetchone()[0]
                except sqlite3.Error:
                    stored = 0
                if stored >= 25:
                    break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

        ws = Workspace(ws_dir)
        before = {r.pr_id for r in ws.prs()}
        cursor = ws.repo_state(REPO)["github"]["sweep"]["cursor"]
        done = srv.position(REPO, cursor)
        assert 20 <= done < len(builder.repo.merged_prs())
        srv.graphql_delay = 0
        time.sleep(0.6)  # let the dead process's last request (still being served) finish before counting
        srv.reset_log()
        summary = mine_github(ws, [REPO], api_url=srv.url, tokens=[TOKEN], repos_dir=tmp_path / "repos1",
                              limits=GraphQLLimits(page=page), retry=FAST)
        assert summary.repos[REPO].resumed and summary.repos[REPO].complete
        # only the pages not yet stored were requested again, starting at the saved cursor
        remaining = len(builder.repo.merged_prs()) - done
        assert srv.count("graphql:pulls") == math.ceil(remaining / page)
        assert srv.log[[r.kind for r in srv.log].index("graphql:pulls")].cursor == cursor
        # what was stored before the kill is not redone: at most the page cut short is read again
        assert summary.repos[REPO].already_seen <= page
        assert summary.stored + len(before) == len(ws.prs()) == len(builder.repo.merged_prs()) - 1

        # nothing lost: the same records as a run that was never interrupted
        srv.reset_log()
        clean = Workspace(tmp_path / "clean")
        mine_github(clean, [REPO], api_url=srv.url, tokens=[TOKEN], repos_dir=tmp_path / "repos2",
                    limits=GraphQLLimits(page=page), retry=FAST)
        assert records(ws) == records(clean)


def test_filters_are_counted_with_reasons(world, server, tmp_path):
    builder, _ = world
    ws = Workspace(tmp_path / "ws")
    summary = mine(ws, server, tmp_path, repos=[REPO, "acme/gpl-thing"],
                   filters=MineFilters(require_issue=True, max_files=10))
    rs = summary.repos[REPO]
    assert rs.dropped["bot author"] == 1
    assert rs.dropped["too large"] == 1
    assert rs.dropped["not merged"] == sum(1 for p in builder.repo.prs.values() if not p.merged)
    assert rs.dropped["no linked issue"] >= 15
    assert summary.repos["acme/gpl-thing"].skipped == "non-permissive license (GPL-3.0)"
    kept = ws.prs(repo=REPO)
    assert kept and all(r.record.issues for r in kept)
    reasons = {reason for _, reason in ws.github_seen(status="dropped").values()}
    assert "bot author (dependabot)" in reasons and "too large (14 files > 10)" in reasons
    # a rerun decides nothing again and asks for no issue
    server.reset_log()
    again = mine(ws, server, tmp_path, repos=[REPO], filters=MineFilters(require_issue=True, max_files=10))
    assert again.candidates == 0 and server.count("graphql:issues") == 0
    assert not (tmp_path / "repos" / "acme__gpl-thing").exists()  # never cloned


def test_search_mines_the_repositories_it_finds(world, server, tmp_path):
    ws = Workspace(tmp_path / "ws")
    summary = mine(ws, server, tmp_path, repos=None, search="language:python stars:>500", limit=5)
    assert list(summary.repos) == [REPO, "acme/gpl-thing"]
    assert summary.repos[REPO].stored == 5
    assert summary.repos["acme/gpl-thing"].skipped.startswith("non-permissive license")
    assert server.count("search") == 1 and server.count("repo") == 0  # search items carry the repository


def test_truncated_lists_are_completed_over_rest(world, server, tmp_path):
    builder, _ = world
    ws = Workspace(tmp_path / "ws")
    mine(ws, server, tmp_path, limits=GraphQLLimits(threads=2))
    assert server.count("review_comments") == 1  # the PR with three review threads
    assert server.count("issue_comments") == 1   # the issue with 62 comments, 60 before the first commit
    r8 = ws.get_pr(f"acme__widgets-{pr_by_slot(builder.repo, 8).number}")
    assert len(r8.review_comments) == 4
    r18 = ws.get_pr(f"acme__widgets-{pr_by_slot(builder.repo, 18).number}")
    assert len(r18.issues[0].hints) == 61


def test_bench_prints_requests_per_kept_pr():
    bench = Path(__file__).resolve().parents[2] / "bench" / "github_requests.py"
    proc = subprocess.run([sys.executable, str(bench), "--prs", "30", "--page", "20"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "NO_PROXY": "127.0.0.1"})
    assert proc.returncode == 0, proc.stderr
    assert "per kept PR" in proc.stdout and "ours / SWE-bench collector" in proc.stdout
    ours = [line for line in proc.stdout.splitlines() if line.startswith("ours, SWE-bench rule")][0]
    assert float(ours.split()[-1]) < 2  # requests per kept PR

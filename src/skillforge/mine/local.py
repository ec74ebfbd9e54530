"""Mining merged pull requests from a local git repository's history.

The unit is a pull request merged into the default branch: merge commits
(``Merge pull request #N ...``, diffed against the first parent) and squash
merges (``... (#N)``). Issues come from an optional issues file beside the
repository (``<repo>.issues.json``, a list of issues in GitHub's REST shape),
so the GitHub miner's records and these have the same shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from skillforge import gitio
from skillforge.schema import Issue, PullRecord, pr_instance_id
from skillforge.workspace import Workspace
from skillforge.mine.refs import PRCommit, closing_references, recognise_pr
from skillforge.mine.since import parse_since

_GITHUB_URL = re.compile(r"github\.com[:/](?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)(?:\.git)?/?$")


class MineError(RuntimeError):
    pass


@dataclass
class MineSummary:
    repo: str
    commits_seen: int = 0
    prs_found: int = 0
    prs_new: int = 0
    prs_existing: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


@dataclass
class _Commit:
    sha: str
    parents: list[str]
    author_date: str
    commit_date: str
    author: str
    message: str
    pr: PRCommit


def repo_name_for(path: Path) -> str:
    """``owner/name`` from the origin remote when it is a GitHub URL, else ``local/<dir>``."""
    m = _GITHUB_URL.search(gitio.remote_url(path) or "")
    if m:
        return f"{m['owner']}/{m['name']}"
    return f"local/{path.resolve().name}"


def default_issues_file(path: Path) -> Path:
    path = path.resolve()
    return path.parent / f"{path.name}.issues.json"


def load_issues(issues_file: Path | None, repo: str) -> dict[int, Issue]:
    if not issues_file or not issues_file.exists():
        return {}
    try:
        raw = json.loads(issues_file.read_text())
    except json.JSONDecodeError as e:
        raise MineError(f"issues file {issues_file} is not valid JSON: {e}") from e
    if not isinstance(raw, list):
        raise MineError(f"issues file {issues_file} must hold a JSON list of issues (GitHub REST shape)")
    issues: dict[int, Issue] = {}
    for item in raw:
        if "pull_request" in item:
            continue  # the REST issues endpoint lists PRs too
        issues[int(item["number"])] = Issue(
            number=int(item["number"]), title=item.get("title") or "", body=item.get("body") or "",
            url=item.get("html_url") or "", repo=repo, created_at=item.get("created_at"),
            hints=[c.get("body", "") if isinstance(c, dict) else str(c) for c in item.get("hints", [])],
        )
    return issues


def _parse_date(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def iter_pr_commits(path: str | Path, ref: str = "HEAD", since: datetime | None = None,
                    stop_at: str | None = None) -> Iterator[_Commit]:
    """First-parent history of ``ref``, newest first, keeping commits that merged a PR."""
    for c in gitio.history(path, ref, since=since):
        if stop_at and c.sha == stop_at:
            return
        pr = recognise_pr(c.message, len(c.parents))
        if pr is not None:
            yield _Commit(c.sha, c.parents, c.author_date, c.commit_date, c.author, c.message, pr)


def mine_local(
    ws: Workspace,
    path: str | Path,
    *,
    repo_name: str | None = None,
    limit: int | None = None,
    since: datetime | str | None = None,
    issues_file: str | Path | None = None,
    ref: str = "HEAD",
    on_record: Callable[[PullRecord, bool], None] | None = None,
) -> MineSummary:
    """Store every merged PR of the repository at ``path`` in the workspace.

    Records already in the workspace are left alone, so mining twice makes no
    duplicates; ``limit`` counts new records, newest first. ``since`` is a
    datetime (a naive one is UTC) or text :func:`~skillforge.mine.since.parse_since`
    reads; ``'last'`` is for GitHub sources and a ``ValueError`` here.
    """
    path = Path(path)
    since = _local_since(since)
    try:
        gitio.open_repo(path).close()
    except gitio.RepoError as e:
        raise MineError(str(e)) from e
    name = repo_name or repo_name_for(path)
    issues = load_issues(Path(issues_file) if issues_file else default_issues_file(path), name)
    summary = MineSummary(repo=name)

    pending: list[_Commit] = []
    try:
        for commit in iter_pr_commits(path, ref, since=since):
            summary.prs_found += 1
            if ws.has_pr(pr_instance_id(name, commit.pr.number)):
                summary.prs_existing += 1
                continue
            pending.append(commit)
            if limit is not None and len(pending) >= limit:
                break
        patches = gitio.first_parent_patches(path, [c.sha for c in pending])
    except gitio.GitError as e:
        raise MineError(f"{path}: {e}") from e
    for commit in pending:
        pr = commit.pr
        text = f"{pr.title}\n{pr.body}"
        linked: list[Issue] = []
        for ref_ in closing_references(text):
            if ref_.repo not in (None, name):
                summary.dropped["cross-repository issue reference"] = summary.dropped.get("cross-repository issue reference", 0) + 1
                continue
            if ref_.number in issues:
                linked.append(issues[ref_.number])
        record = PullRecord(
            repo=name, number=pr.number, title=pr.title, body=pr.body,
            base_commit=commit.parents[0], merge_commit=commit.sha,
            head_commit=commit.parents[1] if len(commit.parents) > 1 else None,
            merged_at=commit.commit_date, created_at=commit.author_date, author=pr.head.split("/")[0] or commit.author,
            issues=linked, patch=patches.get(commit.sha, ""), merge_style=pr.style, source="local",
        )
        new = ws.add_pr(record)
        summary.prs_new += int(new)
        if on_record:
            on_record(record, new)
    state = ws.repo_state(name)
    head = gitio.resolve_commit(path, ref)
    state.update({"last_commit": head, "last_mined_at": datetime.now(timezone.utc).isoformat()})
    ws.set_repo_state(name, state, location=str(path.resolve()))
    return summary


def _local_since(since: datetime | str | None) -> datetime | None:
    if isinstance(since, str):
        since = parse_since(since)
    if since == "last":
        raise ValueError("--since last is for GitHub sources; use a date for local histories")
    return since

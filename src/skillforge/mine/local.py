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

import git

from skillforge.schema import Issue, PullRecord, pr_instance_id
from skillforge.workspace import Workspace
from skillforge.mine.refs import PRCommit, closing_references, recognise_pr

_SEP = "\x00\x01SFCOMMIT\x01"
_SEP_FMT = "%x00%x01SFCOMMIT%x01"  # how git's --format writes _SEP
_FIELDS = "%H%x00%P%x00%aI%x00%cI%x00%an%x00%B"
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


def repo_name_for(repo: git.Repo, path: Path) -> str:
    """``owner/name`` from the origin remote when it is a GitHub URL, else ``local/<dir>``."""
    try:
        url = repo.remotes.origin.url
    except (AttributeError, ValueError):
        url = ""
    m = _GITHUB_URL.search(url or "")
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


def iter_pr_commits(repo: git.Repo, ref: str = "HEAD", since: datetime | None = None,
                    stop_at: str | None = None) -> Iterator[_Commit]:
    """First-parent history of ``ref``, newest first, keeping commits that merged a PR."""
    args = ["--first-parent", f"--format={_SEP_FMT}{_FIELDS}", ref]
    if since:
        args.insert(0, f"--since={since.isoformat()}")
    out = repo.git.log(*args)
    for chunk in out.split(_SEP):
        if not chunk.strip():
            continue
        sha, parents, adate, cdate, author, message = chunk.split("\x00", 5)
        if stop_at and sha == stop_at:
            return
        parent_list = parents.split()
        pr = recognise_pr(message, len(parent_list))
        if pr is not None:
            yield _Commit(sha, parent_list, adate, cdate, author, message.strip(), pr)


def diffs_for(repo: git.Repo, shas: list[str], batch: int = 256) -> dict[str, str]:
    """First-parent patches of many commits with one ``git show`` per batch."""
    patches: dict[str, str] = {}
    for i in range(0, len(shas), batch):
        chunk = shas[i:i + batch]
        out = repo.git.show(
            "--diff-merges=first-parent", "-M", "--no-color", "--no-ext-diff", "--format=" + _SEP_FMT + "%H",
            *chunk, strip_newline_in_stdout=False,
        )
        for part in out.split(_SEP):
            if not part:
                continue
            sha, _, patch = part.partition("\n")
            patch = patch.lstrip("\n")
            patches[sha.strip()] = patch
    return patches


def mine_local(
    ws: Workspace,
    path: str | Path,
    *,
    repo_name: str | None = None,
    limit: int | None = None,
    since: datetime | None = None,
    issues_file: str | Path | None = None,
    ref: str = "HEAD",
    on_record: Callable[[PullRecord, bool], None] | None = None,
) -> MineSummary:
    """Store every merged PR of the repository at ``path`` in the workspace.

    Records already in the workspace are left alone, so mining twice makes no
    duplicates; ``limit`` counts new records, newest first.
    """
    path = Path(path)
    try:
        repo = git.Repo(path)
    except (git.NoSuchPathError, git.InvalidGitRepositoryError) as e:
        raise MineError(f"{path} is not a git repository") from e
    name = repo_name or repo_name_for(repo, path)
    issues = load_issues(Path(issues_file) if issues_file else default_issues_file(path), name)
    summary = MineSummary(repo=name)

    pending: list[_Commit] = []
    for commit in iter_pr_commits(repo, ref, since=since):
        summary.prs_found += 1
        if ws.has_pr(pr_instance_id(name, commit.pr.number)):
            summary.prs_existing += 1
            continue
        pending.append(commit)
        if limit is not None and len(pending) >= limit:
            break

    patches = diffs_for(repo, [c.sha for c in pending])
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
    head = repo.commit(ref).hexsha
    state.update({"last_commit": head, "last_mined_at": datetime.now(timezone.utc).isoformat()})
    ws.set_repo_state(name, state, location=str(path.resolve()))
    return summary

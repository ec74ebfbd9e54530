"""Mining merged pull requests from GitHub, economically and incrementally.

``mine_github(ws, ["owner/name"], repos_dir=...)`` turns repositories (or the
results of a repository search) into :class:`~skillforge.schema.PullRecord` s:
the merged PR, the issues it resolves with their pre-work comments (hints), and
its review comments with their diff hunks.

Economy. One GraphQL query per page of merged PRs (50 by default) returns every
PR with its closing issues (and their comments) and its review threads; the
repository itself is one conditional REST request (a 304 when unchanged costs no
rate limit). Diffs and commit messages come from a bare clone kept under
``repos_dir``, never from the API. What the page query cannot hold is fetched
only when needed: issues named by ``fixes #N`` in bodies and commit messages when
GitHub links none (one aliased GraphQL query per page for all of them), and
REST follow-ups for truncated comment lists.

Incremental. Pages are swept newest-updated first. After each page the PRs are
stored and the sweep's cursor saved in the workspace (``repos.state["github"]``),
so a run killed at any point resumes at the first page not yet stored. A
completed sweep records its high-water mark (the newest ``updatedAt`` seen):
``since="last"`` stops at it, so a rerun with nothing new costs one GraphQL
request (and a free 304). Every PR decided -- stored or dropped, with its reason --
is kept in the ``github_seen`` table, so nothing is requested or decided twice.

The ``progress`` callback receives ``(event, info)``: ``repo``, ``page``,
``record``, ``dropped``, ``rate_limit_wait``, ``retry``, ``repo_done``.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from skillforge.gitio import CommitRecord, GitCache, RepoError, decode_text, redact
from skillforge.schema import Issue, PullRecord, ReviewComment, escape_surrogates, pr_instance_id
from skillforge.workspace import Workspace
from skillforge.mine.github_api import DEFAULT_API_URL, ApiError, GithubApi, RequestStats, RetryPolicy
from skillforge.mine.http_cache import HttpCache
from skillforge.mine.local import MAX_PR_NUMBER, TOO_LARGE, MineError
from skillforge.mine.refs import closing_references, recognise_pr
from skillforge.mine.since import parse_since
from skillforge.mine.tokens import resolve_tokens

log = logging.getLogger(__name__)

__all__ = [
    "GithubMineSummary", "GraphQLLimits", "MineFilters", "PERMISSIVE_LICENSES", "RepoSummary", "RetryPolicy",
    "mine_github", "resolve_tokens", "search_repositories",
]

PERMISSIVE_LICENSES: frozenset[str] = frozenset({
    "MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0", "ISC", "PSF-2.0", "Python-2.0", "MPL-2.0",
    "Unlicense", "0BSD", "Zlib",
})

_ISSUE_FIELDS = """
fragment IssueFields on Issue {
  number title body url createdAt
  repository { nameWithOwner }
  comments(first: $comments) { totalCount nodes { body createdAt author { login } } }
}
"""

PULLS_QUERY = """
query SkillforgePulls($owner: String!, $name: String!, $first: Int!, $after: String, $labels: Int!,
                      $issues: Int!, $comments: Int!, $threads: Int!, $threadComments: Int!, $withClosed: Boolean!) {
  rateLimit { cost remaining resetAt }
  repository(owner: $owner, name: $name) {
    closed: pullRequests(states: CLOSED) @include(if: $withClosed) { totalCount }
    pullRequests(states: MERGED, first: $first, after: $after, orderBy: {field: UPDATED_AT, direction: DESC}) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        number title body url
        author { login __typename }
        authorAssociation
        labels(first: $labels) { nodes { name } }
        createdAt updatedAt mergedAt
        baseRefName baseRefOid headRefName headRefOid
        mergeCommit { oid }
        changedFiles additions deletions
        commits(first: 1) { totalCount nodes { commit { oid committedDate authoredDate } } }
        closingIssuesReferences(first: $issues) { totalCount nodes { ...IssueFields } }
        reviewThreads(first: $threads) {
          totalCount
          pageInfo { hasNextPage }
          nodes {
            comments(first: $threadComments) {
              totalCount
              nodes { path body diffHunk createdAt author { login } commit { oid } originalCommit { oid } }
            }
          }
        }
      }
    }
  }
}
""" + _ISSUE_FIELDS


def issues_query(count: int) -> str:
    """One aliased query resolving ``count`` (owner, name, number) references at once."""
    params = ", ".join(f"$o{i}: String!, $n{i}: String!, $i{i}: Int!" for i in range(count))
    body = "\n".join(
        f"  r{i}: repository(owner: $o{i}, name: $n{i}) {{ issueOrPullRequest(number: $i{i}) {{ __typename ...IssueFields }} }}"
        for i in range(count))
    return f"query SkillforgeIssues({params}, $comments: Int!) {{\n  rateLimit {{ cost remaining resetAt }}\n{body}\n}}\n" + _ISSUE_FIELDS


@dataclass
class MineFilters:
    """API-side filters. The diff-based ones (no test change, no code change,
    binary-only) belong to the analysis stage, which sees every miner's PRs."""

    require_issue: bool = False          # drop PRs that resolve no issue (counted either way)
    exclude_bots: bool = True            # ``[bot]`` logins and Bot accounts
    bot_logins: frozenset[str] = frozenset()
    licenses: frozenset[str] | None = PERMISSIVE_LICENSES  # SPDX allowlist; None accepts any license
    max_files: int | None = 50           # changed files (GraphQL changedFiles)
    max_lines: int | None = 5000         # additions + deletions
    cross_repo_issues: bool = True       # resolve issues in other repositories, else drop them with a reason


@dataclass
class GraphQLLimits:
    """Page and nested-list sizes of the PR query; truncated lists are completed over REST."""

    page: int = 50
    labels: int = 20
    issues: int = 10
    comments: int = 50
    threads: int = 50
    thread_comments: int = 10
    issue_batch: int = 50


@dataclass
class RepoSummary:
    repo: str
    candidates: int = 0          # merged PRs examined for the first time this run
    stored: int = 0              # records added to the workspace
    already_seen: int = 0        # decided in an earlier run (stored or dropped): no request, no work
    dropped: Counter = field(default_factory=Counter)
    no_linked_issue: int = 0     # kept records without an issue (dropped instead when require_issue)
    issue_refs_dropped: Counter = field(default_factory=Counter)
    pages: int = 0
    resumed: bool = False        # an interrupted sweep was resumed
    complete: bool = False       # the sweep reached its end (or the since bound)
    skipped: str | None = None   # the whole repository was left out, and why
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "repo": self.repo, "candidates": self.candidates, "stored": self.stored, "already_seen": self.already_seen,
            "dropped": dict(self.dropped), "no_linked_issue": self.no_linked_issue,
            "issue_refs_dropped": dict(self.issue_refs_dropped), "pages": self.pages, "resumed": self.resumed,
            "complete": self.complete, "skipped": self.skipped, "error": self.error,
        }


@dataclass
class GithubMineSummary:
    repos: dict[str, RepoSummary] = field(default_factory=dict)
    requests: RequestStats = field(default_factory=RequestStats)
    git_fetches: int = 0
    elapsed: float = 0.0

    @property
    def stored(self) -> int:
        return sum(r.stored for r in self.repos.values())

    @property
    def candidates(self) -> int:
        return sum(r.candidates for r in self.repos.values())

    @property
    def dropped(self) -> Counter:
        total: Counter = Counter()
        for r in self.repos.values():
            total.update(r.dropped)
        return total

    @property
    def requests_per_kept_pr(self) -> float | None:
        return self.requests.total / self.stored if self.stored else None

    @property
    def requests_per_candidate(self) -> float | None:
        return self.requests.total / self.candidates if self.candidates else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "repos": {k: v.as_dict() for k, v in self.repos.items()}, "stored": self.stored,
            "candidates": self.candidates, "dropped": dict(self.dropped), "requests": self.requests.as_dict(),
            "requests_per_kept_pr": self.requests_per_kept_pr, "requests_per_candidate": self.requests_per_candidate,
            "git_fetches": self.git_fetches, "elapsed": round(self.elapsed, 2),
        }

    def report(self) -> str:
        """The budget report printed at the end of a run."""
        lines = []
        for r in self.repos.values():
            state = r.skipped and f"skipped: {r.skipped}" or r.error and f"error: {r.error}" or \
                ("complete" if r.complete else "partial (rerun resumes)")
            lines.append(f"{r.repo}: {r.stored} stored, {r.candidates} candidates, {r.already_seen} already seen, "
                         f"{r.pages} pages - {state}")
            if r.dropped:
                lines.append("  dropped: " + ", ".join(f"{k} {v}" for k, v in sorted(r.dropped.items())))
            if r.no_linked_issue:
                lines.append(f"  kept without a linked issue: {r.no_linked_issue}")
            if r.issue_refs_dropped:
                lines.append("  issue references dropped: " + ", ".join(f"{k} {v}" for k, v in sorted(r.issue_refs_dropped.items())))
        s = self.requests
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(s.by_kind.items()))
        lines.append(f"requests: {s.total} ({s.not_modified} not modified, {s.retries} retries; {kinds}); "
                     f"GraphQL points {s.graphql_points}")
        per_kept = f"{self.requests_per_kept_pr:.3f}" if self.requests_per_kept_pr is not None else "-"
        per_cand = f"{self.requests_per_candidate:.3f}" if self.requests_per_candidate is not None else "-"
        lines.append(f"requests per kept PR: {per_kept}; per candidate PR: {per_cand}")
        if s.rate_limit_waits or s.backoff_waits:
            lines.append(f"rate-limit waits: {s.rate_limit_waits} ({s.rate_limit_wait_seconds:.0f}s); "
                         f"backoffs: {s.backoff_waits} ({s.backoff_seconds:.0f}s)")
        return "\n".join(lines)


# -- helpers ---------------------------------------------------------------------
_REPO_RE = re.compile(r"^(?:https?://[^/]+/|git@[^:]+:)?(?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)(?:\.git)?/?$")


def normalise_repo(value: str) -> str:
    m = _REPO_RE.match(value.strip())
    if not m:
        raise MineError(f"not a repository: {value!r} (expected owner/name)")
    return f"{m['owner']}/{m['name']}"


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _dt(value: str | None) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _iso(dt: datetime) -> str:
    dt = dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _login(node: dict | None) -> str:
    return (node or {}).get("login") or "ghost"


def search_repositories(api: GithubApi, query: str, max_repos: int | None = None) -> list[dict]:
    """Repository JSON (full, license included) for a search such as ``language:python stars:>500``."""
    items: list[dict] = []
    for response in api.pages("/search/repositories", kind="rest:search", params={"q": query, "per_page": 100}):
        for item in (response.data or {}).get("items", []):
            items.append(item)
            if max_repos is not None and len(items) >= max_repos:
                return items
    return items


# drop reasons that a later full sweep may see differently (the clone may get the commit)
_TRANSIENT = frozenset({"merge commit not in clone"})


@dataclass
class _Plan:
    node: dict
    merge: str
    style: str = "merge"
    base: str = ""
    head: str | None = None
    parent: str = ""
    info: CommitRecord | None = None
    reason: str = ""


class _RepoMiner:
    def __init__(self, ws: Workspace, api: GithubApi, git_cache: GitCache, name: str, info: dict | None, *,
                 summary: RepoSummary, limit: int | None, since: datetime | str | None, filters: MineFilters,
                 limits: GraphQLLimits, progress: Callable[[str, dict], None] | None, clone_url_template: str | None):
        self.ws, self.api, self.git, self.name, self.info = ws, api, git_cache, name, info
        self.rs, self.limit, self.since, self.filters, self.limits = summary, limit, since, filters, limits
        self.progress, self.clone_url_template = progress, clone_url_template
        self.owner, self.short = name.split("/", 1)
        self.new = 0
        self.newest: tuple[str, int] | None = None  # (mergedAt, number) of the newest PR stored this run
        self.issue_cache: dict[tuple[str, int], dict | str] = {}

    def emit(self, event: str, **info: Any) -> None:
        if self.progress:
            self.progress(event, {"repo": self.name, **info})

    # -- bookkeeping ---------------------------------------------------------------
    def drop(self, number: int, reason: str, detail: str = "") -> None:
        self.rs.dropped[reason] += 1
        if reason not in _TRANSIENT:  # decided for good: never requested or examined again
            self.ws.mark_github_seen(self.name, number, "dropped", detail or reason)
            self.seen.add(number)
        self.emit("dropped", number=number, reason=reason)

    def keep(self, record: PullRecord) -> None:
        new = self.ws.add_pr(record)
        self.ws.mark_github_seen(self.name, record.number, "stored")
        self.seen.add(record.number)
        if record.merged_at and (self.newest is None or _dt(record.merged_at) > _dt(self.newest[0])):
            self.newest = (record.merged_at, record.number)
        self.rs.stored += int(new)
        self.new += 1
        self.emit("record", number=record.number, new=new)

    def save_state(self, gh: dict) -> None:
        if self.newest is not None and (_dt(self.newest[0]) or _EPOCH) > (_dt(gh.get("last_merged_at")) or _EPOCH):
            gh["last_merged_at"], gh["last_merged_pr"] = self.newest
        state = self.ws.repo_state(self.name)
        state["github"] = gh
        self.ws.set_repo_state(self.name, state, location=str(self.git.path(self.name)))

    # -- the run -------------------------------------------------------------------
    def run(self) -> None:
        if self.limit is not None and self.limit <= 0:  # --limit 0 mines none: not even a request
            self.emit("repo_done", stored=0, complete=False)
            return
        info = self.info or self.api.get(f"/repos/{self.name}", kind="rest:repo", repo=self.name).data
        spdx = (info.get("license") or {}).get("spdx_id") or None
        if self.filters.licenses is not None and spdx not in self.filters.licenses:
            self.rs.skipped = f"non-permissive license ({spdx or 'none detected'})"
            self.emit("repo_done", skipped=self.rs.skipped)
            return
        if self.clone_url_template:
            url = self.clone_url_template.format(owner=self.owner, name=self.short, repo=self.name,
                                                 slug=self.name.replace("/", "__"))
        else:
            url = info.get("clone_url") or f"https://github.com/{self.name}.git"
        self.emit("repo", status="syncing clone")
        self.git.sync(self.name, url, info.get("default_branch"))
        # the clone's location before any PR of it: a run killed from here on leaves PRs later stages can read
        self.ws.set_repo_state(self.name, self.ws.repo_state(self.name), location=str(self.git.path(self.name)))
        self.seen = {number for _, number in self.ws.github_seen(self.name)}

        gh = dict(self.ws.repo_state(self.name).get("github") or {})
        gh.update({"default_branch": info.get("default_branch"), "license": spdx})
        explicit: datetime | None = None
        if self.since == "last":
            lower = _dt(gh.get("high_water"))
        elif isinstance(self.since, datetime):
            explicit = lower = self.since if self.since.tzinfo else self.since.replace(tzinfo=timezone.utc)
        else:
            lower = None
        key = _iso(lower) if lower else ""
        sweep = gh.get("sweep") or {}
        if sweep and sweep.get("since", "") == key:
            cursor, high_water = sweep.get("cursor"), sweep.get("high_water")
            self.rs.resumed = cursor is not None
        else:
            cursor, high_water = None, None

        first_request = True
        while True:
            variables = {
                "owner": self.owner, "name": self.short, "first": self.limits.page, "after": cursor,
                "labels": self.limits.labels, "issues": self.limits.issues, "comments": self.limits.comments,
                "threads": self.limits.threads, "threadComments": self.limits.thread_comments,
                "withClosed": first_request,
            }
            data, errors = self.api.graphql(PULLS_QUERY, variables, kind="graphql:pulls", repo=self.name,
                                            shrink=_halve_page)
            repo_data = data.get("repository")
            if not repo_data:
                detail = "; ".join(str(e.get("message")) for e in errors) or "no data"
                raise ApiError(f"{self.name}: GraphQL returned no repository ({detail})", repo=self.name, path="/graphql")
            if first_request and repo_data.get("closed") is not None:
                closed = int(repo_data["closed"].get("totalCount") or 0)
                delta = closed - int(gh.get("closed_total", 0))
                if delta > 0:
                    self.rs.dropped["not merged"] += delta
                gh["closed_total"] = closed
            first_request = False
            conn = repo_data["pullRequests"]
            nodes = conn.get("nodes") or []
            if high_water is None:
                newest = max((n["updatedAt"] for n in nodes if n and n.get("updatedAt")), key=_dt, default=None)
                high_water = newest or (_iso(lower) if lower else None)
            stop, page_done = self.process_page(nodes, lower, explicit)
            self.rs.pages += 1
            self.emit("page", page=self.rs.pages, stored=self.rs.stored, candidates=self.rs.candidates)
            if not page_done:  # the limit was reached mid-page: the rest of the page is for next time
                gh["sweep"] = {"since": key, "cursor": cursor, "high_water": high_water}
                self.save_state(gh)
                break
            cursor = conn["pageInfo"].get("endCursor") or cursor
            if stop or not conn["pageInfo"].get("hasNextPage"):
                old = _dt(gh.get("high_water"))
                new = _dt(high_water)
                if new and (not old or new > old):
                    gh["high_water"] = high_water
                gh.pop("sweep", None)
                gh["last_complete_sweep_at"] = _iso(datetime.now(timezone.utc))
                self.save_state(gh)
                self.rs.complete = True
                break
            gh["sweep"] = {"since": key, "cursor": cursor, "high_water": high_water}
            self.save_state(gh)
            if self.limit is not None and self.new >= self.limit:
                break
        self.emit("repo_done", stored=self.rs.stored, complete=self.rs.complete)

    # -- one page ------------------------------------------------------------------
    def api_filter(self, node: dict) -> tuple[str, str] | None:
        f = self.filters
        if not node.get("mergedAt"):
            return "not merged", "not merged"
        author = node.get("author") or {}
        login = author.get("login") or ""
        if f.exclude_bots and (author.get("__typename") == "Bot" or login.endswith("[bot]") or login in f.bot_logins):
            return "bot author", f"bot author ({login})"
        files, lines = int(node.get("changedFiles") or 0), int(node.get("additions") or 0) + int(node.get("deletions") or 0)
        if f.max_files is not None and files > f.max_files:
            return "too large", f"too large ({files} files > {f.max_files})"
        if f.max_lines is not None and lines > f.max_lines:
            return "too large", f"too large ({lines} lines > {f.max_lines})"
        if not (node.get("mergeCommit") or {}).get("oid"):
            return "no merge commit", "no merge commit"
        return None

    def process_page(self, nodes: list[dict], lower: datetime | None, explicit: datetime | None) -> tuple[bool, bool]:
        """Store what the page holds. Returns (reached the since bound, page fully processed)."""
        stop = False
        candidates: list[dict] = []
        for node in nodes:
            if not node:
                continue
            if lower is not None and _dt(node["updatedAt"]) < lower:
                stop = True
                break
            if explicit is not None and (_dt(node.get("mergedAt")) or explicit) < explicit:
                continue
            number = int(node["number"])
            if number > MAX_PR_NUMBER:  # cannot be stored, nor marked seen: counted each time it is met
                self.rs.candidates += 1
                self.rs.dropped[TOO_LARGE] += 1
                log.warning("%s: PR #%d not mined: the PR number does not fit in the workspace's 64-bit integers",
                            self.name, number)
                self.emit("dropped", number=number, reason=TOO_LARGE)
                continue
            if number in self.seen or self.ws.has_pr(pr_instance_id(self.name, number)):
                self.rs.already_seen += 1
                continue
            self.rs.candidates += 1
            rejected = self.api_filter(node)
            if rejected:
                self.drop(number, *rejected)
                continue
            candidates.append(node)
        for plan, record in self.build(candidates):
            if self.limit is not None and self.new >= self.limit:
                return stop, False
            number = int(plan.node["number"])
            if record is None:
                self.drop(number, plan.reason)
                continue
            if not record.issues:
                if self.filters.require_issue:
                    self.drop(number, "no linked issue")
                    continue
                self.rs.no_linked_issue += 1
            self.keep(record)
        return stop, True

    def plan(self, nodes: list[dict]) -> list[_Plan]:
        """Merge style, base and head of each PR, from the clone."""
        plans = [_Plan(n, n["mergeCommit"]["oid"]) for n in nodes]
        missing = self.git.missing(self.name, [p.merge for p in plans])
        if missing:  # merged after our fetch, or on a branch we do not mirror
            self.git.refresh(self.name)
            missing = self.git.missing(self.name, list(missing))
        if missing:
            self.git.fetch_commits(self.name, sorted(missing))
            missing = self.git.missing(self.name, list(missing))
        infos = self.git.commits(self.name, [p.merge for p in plans if p.merge not in missing])
        # squash and rebase merges leave the PR's own commits off every branch: fetch refs/pull/N/head
        single = [p for p in plans if p.merge in infos and len(infos[p.merge].parents) == 1 and p.node.get("headRefOid")]
        heads_missing = self.git.missing(self.name, [p.node["headRefOid"] for p in single])
        if heads_missing:
            self.git.fetch_pull_heads(self.name, [int(p.node["number"]) for p in single
                                                  if p.node["headRefOid"] in heads_missing])
            heads_missing = self.git.missing(self.name, list(heads_missing))
        head_infos = self.git.commits(self.name, [p.node["headRefOid"] for p in single
                                                  if p.node["headRefOid"] not in heads_missing])
        for p in plans:
            p.info = info = infos.get(p.merge)
            if info is None:
                p.reason = "merge commit not in clone"
                continue
            if not info.parents:
                p.reason = "merge commit has no parent"
                continue
            p.parent = info.parents[0]
            number = int(p.node["number"])
            if len(info.parents) >= 2:
                p.style, p.base, p.head = "merge", info.parents[0], info.parents[1]
                continue
            head = p.node.get("headRefOid")
            hinfo = head_infos.get(head or "")
            p.head = head if hinfo is not None else None
            commits = int(((p.node.get("commits") or {}).get("totalCount")) or 1)
            marker = recognise_pr(info.message, 1)
            # a rebase merge replays the PR's commits: the last keeps the head's message and author date
            rebased = hinfo is not None and hinfo.message == info.message and hinfo.author_date == info.author_date \
                and not (marker and marker.number == number)
            if rebased:
                base = self.git.first_parent_ancestor(self.name, p.merge, commits) if commits > 1 else None
                p.style, p.base = "rebase", base or info.parents[0]
            else:
                p.style, p.base = "squash", info.parents[0]
        return plans

    def build(self, nodes: list[dict]) -> list[tuple[_Plan, PullRecord | None]]:
        if not nodes:
            return []
        plans = self.plan(nodes)
        ok = [p for p in plans if not p.reason]
        issues = self.linked_issues(ok)
        # base..merge is the merge commit's first-parent diff except for multi-commit rebase merges
        patches = self.git.patch_bytes(self.name, [p.merge for p in ok if p.base == p.parent])
        out: list[tuple[_Plan, PullRecord | None]] = []
        for p in plans:
            if p.reason:
                out.append((p, None))
                continue
            node = p.node
            raw_patch = patches.get(p.merge)
            if raw_patch is None:
                raw_patch = self.git.diff_bytes(self.name, p.base, p.merge)
            patch, encoding = decode_text(raw_patch)  # not UTF-8: latin-1, byte for byte
            reviews = self.review_comments(node)
            pre_review = None
            if reviews:
                first = min(reviews, key=lambda c: c.created_at or "")
                if first.commit_id and p.head and first.commit_id != p.head:
                    pre_review = first.commit_id
            record = PullRecord(
                repo=self.name, number=int(node["number"]), title=node.get("title") or "", body=node.get("body") or "",
                base_commit=p.base, merge_commit=p.merge, head_commit=p.head, pre_review_commit=pre_review,
                merged_at=node.get("mergedAt"), created_at=node.get("createdAt"), author=_login(node.get("author")),
                author_association=node.get("authorAssociation") or "",
                labels=[lbl["name"] for lbl in (node.get("labels") or {}).get("nodes") or [] if lbl],
                issues=issues.get(int(node["number"]), []), review_comments=reviews, patch=patch,
                merge_style=p.style, source="github", encoding=encoding,
            )
            out.append((p, record))
        return out

    # -- issues ----------------------------------------------------------------------
    def linked_issues(self, plans: list[_Plan]) -> dict[int, list[Issue]]:
        """Issues each PR resolves: GitHub's closing references, else ``fixes #N`` in its texts."""
        result: dict[int, list[Issue]] = {}
        wanted: dict[int, list[tuple[str, int]]] = {}
        for p in plans:
            node, number = p.node, int(p.node["number"])
            cutoff = self.first_commit_date(node)
            raw_linked = (node.get("closingIssuesReferences") or {}).get("nodes") or []
            linked = [n for n in raw_linked if n]
            if len(linked) < len(raw_linked):  # GitHub nulls what the token may not read (private repositories)
                self.rs.issue_refs_dropped["cross-repository issue not accessible"] += len(raw_linked) - len(linked)
            if linked:
                issues = []
                for raw in linked:
                    repo = ((raw.get("repository") or {}).get("nameWithOwner")) or self.name
                    if repo.lower() != self.name.lower() and not self.filters.cross_repo_issues:
                        self.rs.issue_refs_dropped["cross-repository (disabled)"] += 1
                        continue
                    self.issue_cache.setdefault((repo.lower(), int(raw["number"])), raw)
                    issues.append(self.make_issue(raw, repo, cutoff))
                result[number] = issues
                continue
            texts = [node.get("title") or "", node.get("body") or ""]
            if p.info is not None:
                texts.append(p.info.message)
            if p.head and p.base:
                texts += self.git.messages(self.name, p.base, p.head)
            refs = []
            for ref in closing_references("\n".join(texts)):
                repo = ref.repo or self.name
                if repo.lower() != self.name.lower() and not self.filters.cross_repo_issues:
                    self.rs.issue_refs_dropped["cross-repository (disabled)"] += 1
                    continue
                refs.append((repo, ref.number))
            wanted[number] = refs
        self.resolve([r for refs in wanted.values() for r in refs])
        for p in plans:
            number = int(p.node["number"])
            if number not in wanted:
                continue
            cutoff = self.first_commit_date(p.node)
            issues = []
            for repo, n in wanted[number]:
                if (repo.lower(), n) == (self.name.lower(), number):
                    continue  # a PR naming itself
                raw = self.issue_cache.get((repo.lower(), n))
                if isinstance(raw, dict):
                    issues.append(self.make_issue(raw, repo, cutoff))
                else:
                    self.rs.issue_refs_dropped[raw or "unresolved"] += 1
            result[number] = issues
        return result

    def resolve(self, refs: list[tuple[str, int]]) -> None:
        """Fetch the issues behind text references, many per GraphQL request."""
        todo = list(dict.fromkeys((r.lower(), n) for r, n in refs if (r.lower(), n) not in self.issue_cache))
        original = {(r.lower(), n): r for r, n in refs}
        for start in range(0, len(todo), self.limits.issue_batch):
            chunk = todo[start:start + self.limits.issue_batch]
            variables: dict[str, Any] = {"comments": self.limits.comments}
            for i, key in enumerate(chunk):
                owner, _, short = original[key].partition("/")
                variables.update({f"o{i}": owner, f"n{i}": short, f"i{i}": key[1]})
            data, errors = self.api.graphql(issues_query(len(chunk)), variables, kind="graphql:issues", repo=self.name)
            for i, key in enumerate(chunk):
                cross = key[0] != self.name.lower()
                repo_node = data.get(f"r{i}")
                if repo_node is None:
                    self.issue_cache[key] = "cross-repository issue not accessible" if cross else "issue not found"
                    continue
                item = repo_node.get("issueOrPullRequest")
                if item is None:
                    self.issue_cache[key] = "cross-repository issue not found" if cross else "issue not found"
                elif item.get("__typename") == "PullRequest":
                    self.issue_cache[key] = "reference is a pull request"
                else:
                    self.issue_cache[key] = item

    def first_commit_date(self, node: dict) -> datetime | None:
        commits = ((node.get("commits") or {}).get("nodes")) or []
        commit = (commits[0] or {}).get("commit") if commits else None
        return _dt((commit or {}).get("committedDate")) or _dt(node.get("createdAt"))

    def make_issue(self, raw: dict, repo: str, cutoff: datetime | None) -> Issue:
        comments = self.issue_comments(raw, repo, cutoff)
        hints = [c.get("body") or "" for c in comments
                 if cutoff is None or (_dt(c.get("createdAt")) or cutoff) < cutoff]
        return Issue(number=int(raw["number"]), title=raw.get("title") or "", body=raw.get("body") or "",
                     url=raw.get("url") or "", repo=repo, created_at=raw.get("createdAt"), hints=hints)

    def issue_comments(self, raw: dict, repo: str, cutoff: datetime | None) -> list[dict]:
        conn = raw.get("comments") or {}
        nodes = [c for c in conn.get("nodes") or [] if c]
        if int(conn.get("totalCount") or 0) <= len(nodes):
            return nodes
        last = _dt(nodes[-1].get("createdAt")) if nodes else None
        if cutoff is not None and last is not None and last >= cutoff:
            return nodes  # the hints all fit in what GraphQL gave
        if "_all_comments" not in raw:  # the REST follow-up, once per issue per run
            comments: list[dict] = []
            for response in self.api.pages(f"/repos/{repo}/issues/{raw['number']}/comments", kind="rest:issue_comments",
                                           repo=self.name, params={"per_page": 100}):
                for c in response.data or []:
                    comments.append({"body": c.get("body") or "", "createdAt": c.get("created_at"),
                                     "author": {"login": _login(c.get("user"))}})
                if cutoff is not None and comments and (_dt(comments[-1]["createdAt"]) or cutoff) >= cutoff:
                    break
            raw["_all_comments"] = comments
        return raw["_all_comments"]

    # -- reviews ---------------------------------------------------------------------
    def review_comments(self, node: dict) -> list[ReviewComment]:
        threads = node.get("reviewThreads") or {}
        truncated = bool((threads.get("pageInfo") or {}).get("hasNextPage"))
        comments: list[ReviewComment] = []
        for thread in threads.get("nodes") or []:
            conn = (thread or {}).get("comments") or {}
            items = [c for c in conn.get("nodes") or [] if c]
            truncated |= int(conn.get("totalCount") or 0) > len(items)
            for c in items:
                comments.append(_review_comment(
                    path=c.get("path") or "", body=c.get("body") or "", diff_hunk=c.get("diffHunk") or "",
                    commit_id=((c.get("originalCommit") or c.get("commit") or {}).get("oid")) or "",
                    author=_login(c.get("author")), created_at=c.get("createdAt")))
        if truncated:
            comments = []
            for response in self.api.pages(f"/repos/{self.name}/pulls/{node['number']}/comments",
                                           kind="rest:review_comments", repo=self.name, params={"per_page": 100}):
                for c in response.data or []:
                    comments.append(_review_comment(
                        path=c.get("path") or "", body=c.get("body") or "", diff_hunk=c.get("diff_hunk") or "",
                        commit_id=c.get("original_commit_id") or c.get("commit_id") or "",
                        author=_login(c.get("user")), created_at=c.get("created_at")))
        comments.sort(key=lambda c: c.created_at or "")
        return comments


def _review_comment(**fields: Any) -> ReviewComment:
    """A review comment whose texts can be stored (lone surrogates of the API's JSON kept escaped)."""
    return ReviewComment(**{k: escape_surrogates(v) if isinstance(v, str) else v for k, v in fields.items()})


def _halve_page(variables: dict) -> dict:
    """On a 502/504 GraphQL timeout, ask for half as many PRs (GitHub times out on heavy pages)."""
    return {**variables, "first": max(10, int(variables.get("first", 50)) // 2)}


# -- entry point -------------------------------------------------------------------
def mine_github(
    ws: Workspace,
    repos: list[str] | None = None,
    *,
    search: str | None = None,
    api_url: str = DEFAULT_API_URL,
    tokens: list[str] | None = None,
    repos_dir: Path,
    limit: int | None = None,
    since: datetime | Literal["last"] | str | None = None,
    filters: MineFilters | None = None,
    progress: Callable[[str, dict], None] | None = None,
    max_repos: int | None = None,
    clone_url_template: str | None = None,
    retry: RetryPolicy | None = None,
    limits: GraphQLLimits | None = None,
    console: Console | None = None,
) -> GithubMineSummary:
    """Mine merged PRs of ``repos`` (``owner/name``) and/or the repositories a ``search`` finds.

    ``tokens`` default to :func:`resolve_tokens` (``GITHUB_TOKEN``/``GH_TOKEN``, or
    the gh CLI's config); several rotate. ``limit`` caps new records per
    repository. ``since`` is a datetime (PRs merged since), ``"last"`` (what is
    new since the last completed run), text :func:`~skillforge.mine.since.parse_since`
    reads, or None (the whole history; PRs already decided are skipped without
    requests). ``clone_url_template`` (``{owner}``,
    ``{name}``, ``{repo}``, ``{slug}``) overrides the clone URL GitHub reports.

    Raises :class:`MineError` (with ``.summary``) after trying every repository
    when any of them failed; what was mined before the failure is stored.
    """
    if not repos and not search:
        raise MineError("nothing to mine: name owner/name repositories or give a search")
    if isinstance(since, str) and since != "last":
        since = parse_since(since)
    filters = filters or MineFilters()
    limits = limits or GraphQLLimits()
    tokens = resolve_tokens(api_url) if tokens is None else [t for t in tokens if t]
    if not tokens:
        raise MineError("no GitHub token: the GraphQL API the miner relies on needs one. Set GITHUB_TOKEN or "
                        "GH_TOKEN (several, comma-separated, take turns) or log in with `gh auth login`")
    secrets = list(tokens)
    api = GithubApi(api_url, tokens, cache=HttpCache(ws.root / "http-cache"), policy=retry, progress=progress,
                    console=console)
    git_cache = GitCache(repos_dir)
    summary = GithubMineSummary(requests=api.stats)
    started = time.monotonic()
    try:
        targets: list[tuple[str, dict | None]] = [(normalise_repo(r), None) for r in repos or []]
        if search:
            try:
                targets += [(item["full_name"], item) for item in search_repositories(api, search, max_repos)]
            except MineError as e:
                raise MineError(redact(f"repository search {search!r} failed: {e}", secrets)) from None
        done: set[str] = set()
        for name, info in targets:
            if name.lower() in done:
                continue
            done.add(name.lower())
            rs = summary.repos[name] = RepoSummary(name)
            miner = _RepoMiner(ws, api, git_cache, name, info, summary=rs, limit=limit, since=since, filters=filters,
                               limits=limits, progress=progress, clone_url_template=clone_url_template)
            try:
                miner.run()
            except (MineError, RepoError) as e:  # RepoError: a git command on the clone failed
                rs.error = redact(str(e), secrets)
                log.error("%s", rs.error)
                if progress:
                    progress("repo_done", {"repo": name, "error": rs.error})
    finally:
        summary.elapsed = time.monotonic() - started
        summary.git_fetches = git_cache.fetches
        api.close()
    failed = [r for r in summary.repos.values() if r.error]
    if failed:
        lines = "\n".join(f"  {r.repo}: {r.error}" for r in failed)
        err = MineError(f"GitHub mining failed for {len(failed)} of {len(summary.repos)} repositories "
                        f"(what was stored is kept; rerun to resume):\n{lines}")
        err.summary = summary  # type: ignore[attr-defined]
        raise err
    return summary

"""Mining merged pull requests from a local git repository's history.

The unit is a pull request merged into the default branch: merge commits
(``Merge pull request #N ...``, diffed against the first parent) and squash
merges (``... (#N)``). Issues come from an optional issues file beside the
repository (``<repo>.issues.json``, a list of issues in GitHub's REST shape),
so the GitHub miner's records and these have the same shape.

Hostile input never stops a run and nothing is lost silently: every PR the
history names is stored, found already stored, or dropped with a reason
(a warning naming it, and an entry under ``dropped`` in the repository's
workspace state); a bad issues-file item is skipped with a warning naming it
(``file:index``). Git's bytes are data: a PR whose message or patch is not valid
UTF-8 is decoded as latin-1, losslessly (``PullRecord.encoding``, ``PullRecord.raw``).
Only what cannot be mined at all (not a repository, no commits, an issues path
that is a directory or not a JSON list) is a :class:`MineError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from skillforge import gitio
from skillforge.schema import Issue, PullRecord, pr_instance_id
from skillforge.workspace import Workspace
from skillforge.mine.refs import PRCommit, closing_references, recognise_pr
from skillforge.mine.since import parse_since

_GITHUB_URL = re.compile(r"github\.com[:/](?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)(?:\.git)?/?$")

#: The largest PR number the workspace can store (SQLite's INTEGER is a signed 64-bit integer).
MAX_PR_NUMBER = 2**63 - 1

# why a PR the history names is not stored (the keys of MineSummary.dropped)
TOO_LARGE = "PR number too large"
MERGED_AGAIN = "merged again later"
SHALLOW = "base commit not in the clone"
ROOT = "root commit"
UNREADABLE = "unreadable record"


ISSUES_ITEM = "issues-file item"


class MineError(RuntimeError):
    pass


@dataclass(frozen=True)
class MineWarning:
    """Something of a source that was not mined (a PR dropped, an issues-file item skipped), as data."""

    reason: str  # a key of MineSummary.dropped, or ISSUES_ITEM
    message: str  # the details of this case
    pr: int | None = None
    commit: str | None = None
    where: str | None = None  # ``file:index`` of an issues-file item, or the file

    def render(self) -> str:
        """One line naming the PR (and its merge commit) or the issues-file item."""
        if self.pr is not None:
            commit = f" (commit {self.commit[:12]})" if self.commit else ""
            return f"PR #{self.pr}{commit} not mined: {self.message}"
        return f"{self.where}: {self.message}"


@dataclass
class MineSummary:
    repo: str
    commits_seen: int = 0
    prs_found: int = 0
    prs_new: int = 0
    prs_existing: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: list[MineWarning] = field(default_factory=list)  # each names the PR or the issues-file item

    def drop(self, reason: str, warning: MineWarning | None = None) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        if warning is not None:
            self.warnings.append(warning)


@dataclass
class _Commit:
    sha: str
    parents: list[str]
    author_date: str
    commit_date: str
    author: str
    message: str
    pr: PRCommit
    encoding: str = "utf-8"  # of message and author (gitio.CommitRecord.encoding)


def repo_name_for(path: Path) -> str:
    """``owner/name`` from the origin remote when it is a GitHub URL, else ``local/<dir>``."""
    m = _GITHUB_URL.search(gitio.remote_url(path) or "")
    if m:
        return f"{m['owner']}/{m['name']}"
    return f"local/{path.resolve().name}"


def default_issues_file(path: Path) -> Path:
    path = path.resolve()
    return path.parent / f"{path.name}.issues.json"


# --------------------------------------------------------------------------- issues files


class _TooDeep:
    """An issues-file item nested deeper than the JSON parser follows."""


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _skip_value(text: str, i: int) -> int:
    """The end of the JSON array or object starting at ``text[i]`` (brackets balanced, strings skipped)."""
    depth, in_string, escaped = 0, False, False
    for j in range(i, len(text)):
        c = text[j]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return j + 1
    raise json.JSONDecodeError("unbalanced brackets", text, i)


def _json_list_items(text: str) -> list[Any]:
    """The items of a top-level JSON list, one by one: an item nested too deeply to parse
    becomes :class:`_TooDeep` and the others are kept. Raises ``JSONDecodeError``, or
    ``TypeError`` when the document is not a list."""
    decoder = json.JSONDecoder()
    i = _skip_ws(text, 0)
    if not text.startswith("[", i):
        raise TypeError("not a list")
    items: list[Any] = []
    i = _skip_ws(text, i + 1)
    if text.startswith("]", i):
        return items
    while True:
        try:
            value, end = decoder.raw_decode(text, i)
        except RecursionError:
            value, end = _TooDeep(), _skip_value(text, i)
        items.append(value)
        i = _skip_ws(text, end)
        if text.startswith(",", i):
            i = _skip_ws(text, i + 1)
        elif text.startswith("]", i):
            if _skip_ws(text, i + 1) != len(text):
                raise json.JSONDecodeError("extra data", text, i + 1)
            return items
        else:
            raise json.JSONDecodeError("expecting ',' or ']'", text, i)


def _text(item: dict, key: str) -> str:
    value = item.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{key} is {type(value).__name__}, not text")
    return value


def _hints(value: Any) -> list[str]:
    """``hints``: a list of comments (objects with a ``body``, or texts); one text is one hint; null is none."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(f"hints is {type(value).__name__}, not a list of comments")
    hints = []
    for k, c in enumerate(value):
        if isinstance(c, dict):
            body = c.get("body")
            if body is not None and not isinstance(body, str):
                raise ValueError(f"hints[{k}].body is {type(body).__name__}, not text")
            hints.append(body or "")
        elif isinstance(c, str):
            hints.append(c)
        elif c is None:
            continue
        elif isinstance(c, (int, float)) and not isinstance(c, bool):
            hints.append(str(c))
        else:
            raise ValueError(f"hints[{k}] is {type(c).__name__}, not a comment")
    return hints


def _issue_number(value: Any) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError("no issue number" if value is None else "number is not an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ValueError(f"number {value!r} is not an integer")
    if number < 0:
        raise ValueError(f"number {number} is negative")
    return number


def load_issues(issues_file: Path | None, repo: str, *, explicit: bool = False,
                warnings: list[MineWarning] | None = None) -> dict[int, Issue]:
    """The issues of an issues file (GitHub REST shape), by number.

    Checked item by item: an item that is not an issue (not an object, no ``number``,
    a field of the wrong type, nested too deeply) is skipped with a warning
    naming it (``file:index``) appended to ``warnings``; the others are kept. Text that is not
    valid UTF-8 is decoded as latin-1 (``Issue.encoding``); lone surrogates (``"\\ud800"``)
    are kept escaped. Raises :class:`MineError` when the file as a whole cannot be read
    (a directory, not JSON, not a list). A missing file is no issues (a warning when
    ``explicit``: the user named it)."""
    warnings = warnings if warnings is not None else []
    if not issues_file:
        return {}
    if issues_file.is_dir():
        raise MineError(f"issues file {issues_file} is a directory, not a JSON file")
    if not issues_file.exists():
        if explicit:
            warnings.append(MineWarning(ISSUES_ITEM, "no such issues file; no issues are linked",
                                        where=str(issues_file)))
        return {}
    try:
        data = issues_file.read_bytes()
    except OSError as e:
        raise MineError(f"issues file {issues_file} cannot be read: {e.strerror or e}") from e
    text, encoding = gitio.decode_text(data)
    if text.startswith("\ufeff"):  # a UTF-8 byte order mark
        text = text[1:]
    try:
        raw = json.loads(text)
    except RecursionError:
        try:
            raw = _json_list_items(text)
        except (json.JSONDecodeError, TypeError, RecursionError):
            raise MineError(f"issues file {issues_file} is nested too deeply to read") from None
    except json.JSONDecodeError as e:
        raise MineError(f"issues file {issues_file} is not valid JSON: {e}") from e
    if not isinstance(raw, list):
        raise MineError(f"issues file {issues_file} must hold a JSON list of issues (GitHub REST shape)")
    issues: dict[int, Issue] = {}
    where: dict[int, int] = {}
    for index, item in enumerate(raw):
        at = f"{issues_file}:{index}"
        if isinstance(item, _TooDeep):
            warnings.append(MineWarning(ISSUES_ITEM, "skipped: nested too deeply to read", where=at))
            continue
        if not isinstance(item, dict):
            warnings.append(MineWarning(ISSUES_ITEM, f"skipped: not an issue object ({type(item).__name__})",
                                        where=at))
            continue
        if "pull_request" in item:
            continue  # the REST issues endpoint lists PRs too
        try:
            number = _issue_number(item.get("number"))
            issue = Issue(number=number, title=_text(item, "title"), body=_text(item, "body"),
                          url=_text(item, "html_url"), repo=repo, created_at=_text(item, "created_at") or None,
                          hints=_hints(item.get("hints")), encoding=encoding)
        except (ValueError, RecursionError) as e:
            why = (str(e).splitlines() or [""])[0] if isinstance(e, ValueError) else "nested too deeply"
            warnings.append(MineWarning(ISSUES_ITEM, f"skipped: {why}", where=at))
            continue
        if number in issues:
            warnings.append(MineWarning(ISSUES_ITEM, f"issue #{number} is listed again (first at item "
                                        f"{where[number]}); the later one is kept", where=at))
        issues[number], where[number] = issue, index
    return issues


# --------------------------------------------------------------------------- history


def _parse_date(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _pr_like(message: str) -> PRCommit | None:
    """The PR a commit's message names, whatever its parents (for commits without any)."""
    return recognise_pr(message, 2) or recognise_pr(message, 1)


def iter_pr_commits(path: str | Path, ref: str = "HEAD", since: datetime | None = None,
                    stop_at: str | None = None,
                    on_parentless: Callable[[gitio.CommitRecord, PRCommit], None] | None = None) -> Iterator[_Commit]:
    """First-parent history of ``ref``, newest first, keeping commits that merged a PR.
    A commit without parents whose message names a PR (a root commit, or a shallow
    clone's boundary) has no base to diff against: it goes to ``on_parentless``."""
    for c in gitio.history(path, ref, since=since):
        if stop_at and c.sha == stop_at:
            return
        if not c.parents:
            pr = _pr_like(c.message) if on_parentless else None
            if pr is not None:
                on_parentless(c, pr)
            continue
        pr = recognise_pr(c.message, len(c.parents))
        if pr is not None:
            yield _Commit(c.sha, c.parents, c.author_date, c.commit_date, c.author, c.message, pr, c.encoding)


def _record(name: str, commit: _Commit, patch: bytes, linked: list[Issue]) -> PullRecord:
    """The PR record of a merge commit. Its git texts (title, body, author, patch) are decoded with
    one codec: UTF-8 when all of them are valid UTF-8, else latin-1 (lossless either way)."""
    pr = commit.pr
    author = pr.head.split("/")[0] or commit.author
    (title, body, author, patch_text), encoding = gitio.decode_texts(
        pr.title.encode(commit.encoding), pr.body.encode(commit.encoding), author.encode(commit.encoding), patch)
    return PullRecord(
        repo=name, number=pr.number, title=title, body=body,
        base_commit=commit.parents[0], merge_commit=commit.sha,
        head_commit=commit.parents[1] if len(commit.parents) > 1 else None,
        merged_at=commit.commit_date, created_at=commit.author_date, author=author,
        issues=linked, patch=patch_text, merge_style=pr.style, source="local", encoding=encoding,
    )


def _short(sha: str) -> str:
    return sha[:12]


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
    duplicates; ``limit`` counts new records, newest first (0 mines none). ``since``
    is a datetime (a naive one is UTC) or text :func:`~skillforge.mine.since.parse_since`
    reads; ``'last'`` is for GitHub sources and a ``ValueError`` here.

    The repository's location is recorded before its first PR is stored, so a run
    killed at any point leaves PRs that later stages can read, and a rerun converges
    to what an uninterrupted run stores. A PR that cannot be stored is dropped with a
    warning naming it (``summary.warnings``) and recorded in the repository's state
    (``dropped``: merge commit -> number and reason); a PR number merged twice keeps
    the newest merge.
    """
    path = Path(path)
    since = _local_since(since)
    try:
        gitio.open_repo(path).close()
    except gitio.RepoError as e:
        raise MineError(str(e)) from e
    name = repo_name or repo_name_for(path)
    try:
        head = gitio.resolve_commit(path, ref)
        if head is None:
            if ref == "HEAD" and not gitio.run_git(path, "rev-list", "-n1", "--all").stdout.strip():
                raise MineError(f"{path}: the repository has no commits (an empty repository: nothing to mine)")
            raise MineError(f"{path}: {ref!r} names no commit (no such branch, tag or commit)")
        shallow = gitio.shallow_commits(path)
    except gitio.GitError as e:
        raise MineError(f"{path}: {e}") from e
    summary = MineSummary(repo=name)
    issues = load_issues(Path(issues_file) if issues_file else default_issues_file(path), name,
                         explicit=issues_file is not None, warnings=summary.warnings)
    # the location first: every PR stored from here on can be read by the later stages
    location = str(path.resolve())
    ws.set_repo_state(name, ws.repo_state(name), location=location)

    dropped: dict[str, dict[str, Any]] = {}  # merge commit -> {"number", "reason"}

    def drop(sha: str, number: int, reason: str, why: str) -> None:
        dropped[sha] = {"number": number, "reason": f"{reason}: {why}"}
        summary.drop(reason, MineWarning(reason, why, pr=number, commit=sha))

    def parentless(c: gitio.CommitRecord, pr: PRCommit) -> None:
        summary.prs_found += 1
        if c.sha in shallow:
            drop(c.sha, pr.number, SHALLOW, "its base commit is not in the clone (the commit is at a shallow "
                 "clone's boundary; `git fetch --deepen=N` or `--unshallow` brings it)")
        else:
            drop(c.sha, pr.number, ROOT, "it is a root commit (no parent to diff against)")

    newest: dict[int, str] = {}  # PR number -> the newest commit that merged it
    pending: list[_Commit] = []
    try:
        for commit in iter_pr_commits(path, ref, since=since, on_parentless=parentless):
            number = commit.pr.number
            summary.prs_found += 1
            if number in newest:
                drop(commit.sha, number, MERGED_AGAIN,
                     f"merged again later, by {_short(newest[number])}; the newest merge is kept")
                continue
            newest[number] = commit.sha
            if number > MAX_PR_NUMBER:
                drop(commit.sha, number, TOO_LARGE, "the PR number does not fit in the workspace's 64-bit integers")
                continue
            if ws.has_pr(pr_instance_id(name, number)):
                summary.prs_existing += 1
                continue
            if limit is not None and len(pending) >= limit:
                continue  # counted, not stored: --limit
            pending.append(commit)
        patches = gitio.first_parent_patch_bytes(path, [c.sha for c in pending])
    except gitio.GitError as e:
        raise MineError(f"{path}: {e}") from e
    for commit in pending:
        pr = commit.pr
        linked: list[Issue] = []
        for ref_ in closing_references(f"{pr.title}\n{pr.body}"):
            if ref_.repo not in (None, name):
                summary.drop("cross-repository issue reference")
                continue
            if ref_.number in issues:
                linked.append(issues[ref_.number])
        try:
            record = _record(name, commit, patches.get(commit.sha, b""), linked)
            new = ws.add_pr(record)  # one transaction: a record that cannot be stored leaves nothing behind
        except (ValueError, UnicodeError, OverflowError) as e:
            detail = (str(e).splitlines() or [""])[0]
            drop(commit.sha, pr.number, UNREADABLE, f"it cannot be stored ({type(e).__name__}: {detail})")
            continue
        summary.prs_new += int(new)
        if on_record:
            on_record(record, new)
    state = ws.repo_state(name)
    if dropped or state.get("dropped"):
        state["dropped"] = {**state.get("dropped", {}), **dropped}
    state.update({"last_commit": head, "last_mined_at": datetime.now(timezone.utc).isoformat()})
    ws.set_repo_state(name, state, location=location)
    return summary


def _local_since(since: datetime | str | None) -> datetime | None:
    if isinstance(since, str):
        since = parse_since(since)
    if since == "last":
        raise ValueError("--since last is for GitHub sources; use a date for local histories")
    return since

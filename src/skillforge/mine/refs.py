"""Recognising merged pull requests and the issues they resolve, from text.

GitHub writes merge commits as ``Merge pull request #N from user/branch`` with
the PR title as the next paragraph, and squash merges as ``Title (#N)``.
Closing references follow GitHub's keywords (``fixes #1``, ``closes owner/repo#2``,
``resolves https://github.com/owner/repo/issues/3``). :data:`CLOSING_RE` is the
one closing-keyword pattern of the project (the sample generator and the editing
skill use it too), so this module imports nothing but the standard library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MERGE_RE = re.compile(r"^Merge pull request #(?P<number>\d+) from (?P<head>\S+)")
SQUASH_RE = re.compile(r"^(?P<title>.*\S)\s+\(#(?P<number>\d+)\)\s*$")

#: GitHub's closing keywords (close, closes, closed, fix, fixes, fixed, resolve, resolves, resolved).
CLOSING_KEYWORDS = r"(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)"
#: A closing reference: ``fixes #1``, ``Closes: owner/repo#2``, ``resolves https://host/owner/repo/issues/3``
#: (groups ``number`` with optional ``owner``/``name``, or ``unumber`` with ``uowner``/``uname``).
CLOSING_RE = re.compile(
    rf"\b{CLOSING_KEYWORDS}\s*:?\s+(?:(?P<owner>[\w.-]+)/(?P<name>[\w.-]+))?#(?P<number>\d+)\b"
    rf"|\b{CLOSING_KEYWORDS}\s*:?\s+https?://[^/\s]+/(?P<uowner>[\w.-]+)/(?P<uname>[\w.-]+)/issues/(?P<unumber>\d+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PRCommit:
    number: int
    style: str  # merge | squash
    title: str
    body: str
    head: str = ""


def recognise_pr(message: str, n_parents: int) -> PRCommit | None:
    """Return the PR a first-parent commit merged, or None."""
    subject, _, rest = message.strip().partition("\n")
    rest = rest.strip()
    if n_parents >= 2:
        m = MERGE_RE.match(subject)
        if m:
            title, _, body = rest.partition("\n")
            return PRCommit(int(m["number"]), "merge", title.strip(), body.strip(), m["head"])
        # GitHub's "pull request title" merge message: a merge commit whose subject is "Title (#N)"
        m = SQUASH_RE.match(subject)
        if m and not subject.startswith("Merge branch"):
            return PRCommit(int(m["number"]), "merge", m["title"], rest)
        return None
    if n_parents == 1:
        m = SQUASH_RE.match(subject)
        if m:
            return PRCommit(int(m["number"]), "squash", m["title"], rest)
    return None


@dataclass(frozen=True)
class IssueRef:
    repo: str | None  # None = same repository
    number: int


def closing_references(text: str) -> list[IssueRef]:
    """Issue references GitHub would close from this text, in order, without duplicates."""
    seen: dict[tuple[str | None, int], IssueRef] = {}
    for m in CLOSING_RE.finditer(text or ""):
        if m["number"]:
            repo = f"{m['owner']}/{m['name']}" if m["owner"] else None
            ref = IssueRef(repo, int(m["number"]))
        else:
            ref = IssueRef(f"{m['uowner']}/{m['uname']}", int(m["unumber"]))
        seen.setdefault((ref.repo, ref.number), ref)
    return list(seen.values())


def closing_issue_numbers(text: str) -> list[int]:
    """Numbers of the same-repository issues ``text`` closes (``fixes #1``), in order, without duplicates."""
    return [ref.number for ref in closing_references(text) if ref.repo is None]

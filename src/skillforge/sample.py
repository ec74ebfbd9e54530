"""The bundled sample source: a small library with a replayable pull-request history.

``samples/minicalc`` holds plain fixture files and a manifest,
``history.yaml``, that describes a sequence of events: the initial import,
direct commits on ``main``, pull-request branches, and their merges (GitHub
"merge commit" and "squash and merge" styles). :func:`generate_sample_repo`
replays that manifest into a real git repository and writes the issues the
pull requests close, in GitHub's REST shape, to a sibling JSON file.

Everything that goes into a commit is fixed (names, e-mails, dates with their
time zones, messages, file contents with LF line endings), and git runs with
the user's global and system configuration shut out, so the commit SHAs are
the same on every machine and every run.

Manifest format (``history.yaml``)::

    repository: {full_name, default_branch, url}
    people:     {key: {name, email, login}}      # "github" is the web-flow committer
    issues:     issues.yaml                      # a list of issues (see below)
    pulls:      [{number, title, user, branch, style: merge|squash, body, labels, ...}]
    events:
      - {type: initial, author, date, message, tree}
      - {type: commit, author, date, message, tree?, delete?}          # direct push to main
      - {type: branch, pr, commits: [{author?, date, message, tree?, delete?}]}
      - {type: merge, pr, by, date}                                    # "Merge pull request #N from ..."
      - {type: squash, pr, date, tree?, delete?}                       # "Title (#N)"

``tree`` names a fixture directory whose files are written, path for path,
over the working tree (whole file contents); ``delete`` lists paths to remove.
Extra keys on a pull (``kind``, ``fail_to_pass``, ...) are ground truth for
the tests and are ignored here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from skillforge.gitio import GitError, history as git_history, run_git
from skillforge.mine.refs import closing_issue_numbers
from skillforge.resources import resource_dir

__all__ = [
    "DEFAULT_FIXTURES",
    "SAMPLE_REPO",
    "SampleError",
    "closing_references",
    "fixtures_fingerprint",
    "generate_sample_repo",
    "issues_path",
    "load_history",
]

#: Bump when the replay logic changes in a way that changes the generated repository.
GENERATOR_VERSION = "1"
DEFAULT_FIXTURES = resource_dir("samples") / "minicalc"
SAMPLE_REPO = "skillforge-samples/minicalc"
MARKER = "skillforge-sample"  # file under .git/ holding the fixtures' fingerprint

_JUNK_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_JUNK_SUFFIXES = (".pyc", ".pyo")


class SampleError(RuntimeError):
    """The fixtures are inconsistent, or the destination cannot be used."""


# --------------------------------------------------------------------------- public API


def issues_path(dest: str | Path) -> Path:
    """The issues file that goes with a generated repository: ``/x/minicalc`` -> ``/x/minicalc.issues.json``."""
    dest = Path(dest)
    return dest.with_name(dest.name + ".issues.json")


def load_history(fixtures: str | Path | None = None) -> dict[str, Any]:
    """The parsed, checked manifest, with ``issues`` loaded into a list."""
    root = Path(fixtures) if fixtures is not None else DEFAULT_FIXTURES
    manifest = root / "history.yaml"
    if not manifest.is_file():
        raise SampleError(f"no history.yaml in {root}")
    history = yaml.safe_load(_read_text(manifest))
    issues = history.get("issues") or []
    if isinstance(issues, str):
        issues = yaml.safe_load(_read_text(root / issues)) or []
    history["issues"] = issues
    _check(history, root)
    return history


def closing_references(text: str) -> list[int]:
    """Issue numbers a pull-request body closes with GitHub's keywords (``Fixes #1``, ``closes #4``...)."""
    return closing_issue_numbers(text)


def fixtures_fingerprint(fixtures: str | Path | None = None) -> str:
    """Hash of every fixture file (LF-normalised) and the generator version."""
    root = Path(fixtures) if fixtures is not None else DEFAULT_FIXTURES
    digest = hashlib.sha256(f"skillforge-sample/{GENERATOR_VERSION}\n".encode())
    for path in _fixture_files(root):
        rel = path.relative_to(root).as_posix()
        data = _read_bytes(path)
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def generate_sample_repo(dest: str | Path, fixtures: str | Path | None = None, *, force: bool = False) -> Path:
    """Create the sample git repository at ``dest`` by replaying ``history.yaml``,
    and write ``<dest>.issues.json`` beside it. Returns ``dest`` (resolved).

    Idempotent: when ``dest`` already holds a repository generated from the same
    fixtures it is returned untouched (the issues file is rewritten only if it is
    missing). A sample generated from other fixtures is replaced. Any other
    existing, non-empty ``dest`` is an error unless ``force`` is given, which
    always regenerates.
    """
    root = Path(fixtures).resolve() if fixtures is not None else DEFAULT_FIXTURES
    dest = Path(dest).resolve()
    fingerprint = fixtures_fingerprint(root)
    marker = dest / ".git" / MARKER

    if not force and marker.is_file() and marker.read_text().strip() == fingerprint:
        if not issues_path(dest).is_file():
            history = load_history(root)
            _write_issues(dest, history, _merge_dates(dest, history))
        return dest
    if dest.exists() and not force:
        if dest.is_file() or (any(dest.iterdir()) and not marker.is_file()):
            raise SampleError(f"{dest} exists and is not a generated sample; pass force=True to replace it")

    history = load_history(root)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Build next to dest, then swap it in: a crash never leaves half a repository
    # behind, and concurrent generators do not see each other's work in progress.
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        os.chmod(work, 0o755)  # mkdtemp makes it private
        merged = _replay(work, root, history)
        (work / ".git" / MARKER).write_text(fingerprint + "\n")
        if dest.exists() or dest.is_symlink():
            _remove(dest)
        try:
            os.replace(work, dest)
        except OSError:
            # another process put an up-to-date sample there in the meantime
            if not (marker.is_file() and marker.read_text().strip() == fingerprint):
                raise
            _remove(work)
    except BaseException:
        _remove(work)
        raise
    _write_issues(dest, history, merged)
    return dest


# --------------------------------------------------------------------------- replay


class _Git:
    """git in ``work``, shut off from the user's configuration and environment."""

    def __init__(self, work: Path, scratch: Path):
        self.work = work
        self.scratch = scratch
        home = scratch / "home"
        templates = scratch / "templates"
        home.mkdir()
        templates.mkdir()
        self.env = dict(
            # a stray GIT_DIR / GIT_INDEX_FILE (tests run from a hook, say) must not leak in
            GIT_DIR=str(work / ".git"),
            GIT_WORK_TREE=str(work),
            GIT_INDEX_FILE=str(work / ".git" / "index"),
            GIT_OBJECT_DIRECTORY=str(work / ".git" / "objects"),
            GIT_ALTERNATE_OBJECT_DIRECTORIES="",
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_TEMPLATE_DIR=str(templates),
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            GIT_TERMINAL_PROMPT="0",
            GIT_EDITOR="true",
            GIT_MERGE_AUTOEDIT="no",
            LC_ALL="C",
            TZ="UTC",
        )

    def __call__(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        """git's output, without its final newline."""
        out = run_git(self.work, *args, env={**self.env, **(env or {})}, check=check).stdout
        return out[:-1] if out.endswith("\n") else out

    def commit(self, message: str, author: dict[str, str], committer: dict[str, str], date: str) -> None:
        msg = self.scratch / "message"
        msg.write_text(_clean_message(message), encoding="utf-8")
        env = {
            "GIT_AUTHOR_NAME": author["name"],
            "GIT_AUTHOR_EMAIL": author["email"],
            "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": committer["name"],
            "GIT_COMMITTER_EMAIL": committer["email"],
            "GIT_COMMITTER_DATE": date,
        }
        self("-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "--cleanup=verbatim", "-F", str(msg), env=env)


def _replay(work: Path, root: Path, history: dict[str, Any]) -> dict[int, tuple[str, str]]:
    """Replay the events into ``work``; returns {pr number: (merge commit, date)}."""
    people = history["people"]
    repo_info = history["repository"]
    main = repo_info.get("default_branch", "main")
    pulls = {p["number"]: p for p in history["pulls"]}
    web = people.get("github", {"name": "GitHub", "email": "noreply@github.com"})
    merged: dict[int, tuple[str, str]] = {}

    with tempfile.TemporaryDirectory(prefix="skillforge-sample-") as tmp:
        g = _Git(work, Path(tmp))
        g("init", "-q")
        g("symbolic-ref", "HEAD", f"refs/heads/{main}")
        owner = people[history["events"][0]["author"]]
        g("config", "--unset-all", "core.worktree", check=False)  # the repository must stay movable
        for key, value in (("core.autocrlf", "false"), ("core.safecrlf", "false"), ("commit.gpgsign", "false"),
                           ("tag.gpgsign", "false"), ("user.name", owner["name"]), ("user.email", owner["email"]),
                           ("remote.origin.url", f"{repo_info['url']}.git"),
                           ("remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*")):
            g("config", key, value)

        for event in history["events"]:
            kind = event["type"]
            date = _git_date(event["date"]) if kind != "branch" else ""
            if kind in ("initial", "commit"):
                person = people[event["author"]]
                _apply(work, root, event)
                g("add", "-A")
                g.commit(event["message"], person, person, date)
            elif kind == "branch":
                pr = pulls[event["pr"]]
                g("checkout", "-q", "-b", pr["branch"], main)
                for commit in event["commits"]:
                    person = people[commit.get("author", pr["user"])]
                    _apply(work, root, commit)
                    g("add", "-A")
                    g.commit(commit["message"], person, person, _git_date(commit["date"]))
                g("checkout", "-q", main)
            elif kind == "merge":
                pr = pulls[event["pr"]]
                try:
                    g("merge", "-q", "--no-ff", "--no-commit", pr["branch"])
                except GitError as exc:
                    raise SampleError(f"merging PR #{pr['number']} ({pr['branch']}) conflicts: {exc.stderr or exc}") from exc
                login = people[pr["user"]]["login"]
                message = f"Merge pull request #{pr['number']} from {login}/{pr['branch']}\n\n{pr['title']}"
                if (pr.get("body") or "").strip():
                    message += "\n\n" + pr["body"]
                g.commit(message, people[event["by"]], web, date)
                g("branch", "-q", "-D", pr["branch"])
                merged[pr["number"]] = (g("rev-parse", "HEAD"), event["date"])
            elif kind == "squash":
                pr = pulls[event["pr"]]
                _apply(work, root, event)
                g("add", "-A")
                message = f"{pr['title']} (#{pr['number']})"
                if (pr.get("body") or "").strip():
                    message += "\n\n" + pr["body"]
                g.commit(message, people[pr["user"]], web, date)
                merged[pr["number"]] = (g("rev-parse", "HEAD"), event["date"])
            else:  # pragma: no cover - _check rejects these
                raise SampleError(f"unknown event type {kind!r}")

        status = g("status", "--porcelain")
        if status.strip():
            raise SampleError(f"working tree not clean after replay:\n{status}")
    return merged


def _apply(work: Path, root: Path, step: dict[str, Any]) -> None:
    """Write the step's fixture tree over the working tree and remove its deletions."""
    for rel in step.get("delete") or []:
        target = work / rel
        if not target.exists():
            raise SampleError(f"cannot delete {rel}: not in the tree")
        _remove(target)
    tree = step.get("tree")
    if not tree:
        return
    source = root / tree
    if not source.is_dir():
        raise SampleError(f"fixture directory {source} is missing")
    for path in _fixture_files(source):
        target = work / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_read_bytes(path))


# --------------------------------------------------------------------------- issues


def _merge_dates(dest: Path, history: dict[str, Any]) -> dict[int, tuple[str, str]]:
    """{pr: (sha, date)} read back from an existing sample (for rewriting the issues file)."""
    found: dict[int, tuple[str, str]] = {}
    pattern = re.compile(r"^Merge pull request #(\d+) |\(#(\d+)\)$")
    for commit in git_history(dest, history["repository"].get("default_branch", "main")):
        match = pattern.search(commit.message.partition("\n")[0])
        if match:
            number = int(match.group(1) or match.group(2))
            found[number] = (commit.sha, commit.commit_date)
    return found


def _build_issues(history: dict[str, Any], merged: dict[int, tuple[str, str]]) -> list[dict[str, Any]]:
    base = history["repository"]["url"]
    api = "https://api.github.com/repos/" + history["repository"]["full_name"]
    people = history["people"]
    closed_by: dict[int, str] = {}
    for pr in history["pulls"]:
        if pr["number"] in merged:
            for number in closing_references(pr.get("body") or ""):
                closed_by.setdefault(number, _utc(merged[pr["number"]][1]))
    issues = []
    for item in sorted(history["issues"], key=lambda i: i["number"]):
        number = item["number"]
        created = _utc(item["created_at"])
        closed = closed_by.get(number) or (_utc(item["closed_at"]) if item.get("closed_at") else None)
        state = "closed" if closed else item.get("state", "open")
        login = people[item["user"]]["login"] if item["user"] in people else item["user"]
        issues.append(
            {
                "url": f"{api}/issues/{number}",
                "html_url": f"{base}/issues/{number}",
                "number": number,
                "title": item["title"],
                "user": {"login": login, "type": "User"},
                "labels": [{"name": name} for name in item.get("labels") or []],
                "state": state,
                "state_reason": item.get("state_reason", "completed") if state == "closed" else None,
                "locked": False,
                "comments": int(item.get("comments", 0)),
                "created_at": created,
                "updated_at": closed or _utc(item.get("updated_at") or item["created_at"]),
                "closed_at": closed,
                "author_association": item.get("author_association", "NONE"),
                "body": item["body"].strip("\n"),
            }
        )
    return issues


def _write_issues(dest: Path, history: dict[str, Any], merged: dict[int, tuple[str, str]]) -> Path:
    path = issues_path(dest)
    text = json.dumps(_build_issues(history, merged), indent=2, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- helpers


def _check(history: dict[str, Any], root: Path) -> None:
    """Catch manifest mistakes before any git command runs."""
    for key in ("repository", "people", "pulls", "events"):
        if key not in history:
            raise SampleError(f"history.yaml has no {key!r}")
    people = history["people"]
    pulls = {}
    for pr in history["pulls"]:
        if pr["number"] in pulls:
            raise SampleError(f"PR #{pr['number']} is listed twice")
        if pr.get("style") not in ("merge", "squash"):
            raise SampleError(f"PR #{pr['number']}: style must be merge or squash")
        if pr["user"] not in people:
            raise SampleError(f"PR #{pr['number']}: unknown user {pr['user']!r}")
        pulls[pr["number"]] = pr
    issue_numbers = {i["number"] for i in history["issues"]}
    if issue_numbers & set(pulls):
        raise SampleError(f"issue and PR numbers overlap: {sorted(issue_numbers & set(pulls))}")
    events = history["events"]
    if not events or events[0]["type"] != "initial" or any(e["type"] == "initial" for e in events[1:]):
        raise SampleError("the first event, and only it, must be of type 'initial'")
    opened: set[int] = set()
    done: set[int] = set()
    for event in events:
        kind = event["type"]
        if kind not in ("initial", "commit", "branch", "merge", "squash"):
            raise SampleError(f"unknown event type {kind!r}")
        for person in (event.get("author"), event.get("by")):
            if person is not None and person not in people:
                raise SampleError(f"unknown person {person!r}")
        for step in [event, *(event.get("commits") or [])]:
            if step.get("tree") and not (root / step["tree"]).is_dir():
                raise SampleError(f"fixture directory {step['tree']!r} is missing")
        if kind in ("branch", "merge", "squash"):
            number = event["pr"]
            if number not in pulls:
                raise SampleError(f"event refers to unknown PR #{number}")
            style = {"branch": "merge", "merge": "merge", "squash": "squash"}[kind]
            if pulls[number]["style"] != style:
                raise SampleError(f"PR #{number} is {pulls[number]['style']}-style but has a {kind} event")
            if kind == "branch":
                opened.add(number)
            elif kind == "merge" and number not in opened:
                raise SampleError(f"PR #{number} is merged before its branch is opened")
            if kind in ("merge", "squash"):
                if number in done:
                    raise SampleError(f"PR #{number} is merged twice")
                done.add(number)
    if set(pulls) - done:
        raise SampleError(f"PRs never merged: {sorted(set(pulls) - done)}")


def _fixture_files(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _JUNK_DIRS)
        for name in sorted(filenames):
            if not name.endswith(_JUNK_SUFFIXES):
                files.append(Path(dirpath) / name)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _read_bytes(path: Path) -> bytes:
    """File contents with LF line endings, whatever the checkout did to them."""
    return path.read_bytes().replace(b"\r\n", b"\n")


def _read_text(path: Path) -> str:
    return _read_bytes(path).decode("utf-8")


def _clean_message(message: str) -> str:
    lines = [line.rstrip() for line in message.strip("\n").splitlines()]
    return "\n".join(lines).strip("\n") + "\n"


def _parse_date(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise SampleError(f"date {value!r} has no time zone")
    return moment


def _git_date(value: Any) -> str:
    """``2024-01-08T10:12:00+01:00`` -> ``1704705120 +0100`` (git's internal format)."""
    moment = _parse_date(value)
    offset = moment.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{int(moment.timestamp())} {sign}{hours:02d}{mins:02d}"


def _utc(value: Any) -> str:
    return _parse_date(value).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=_force_remove)
        else:
            shutil.rmtree(path, onerror=_force_remove)


def _force_remove(func: Any, path: str, _exc: Any) -> None:
    # git marks object files read-only; Windows refuses to delete those
    os.chmod(path, 0o700)
    func(path)

"""Bare clones of mined repositories, kept under ``--repos-dir`` and fetched incrementally.

``<repos-dir>/<owner>__<name>`` is a bare repository whose ``refs/heads/*``
mirror the remote's branches; PR heads that are not on any branch (squash and
rebase merges) are fetched on demand into ``refs/pull/N/head``. Diffs are
computed from the clone, never over the API. Clone URLs are taken as given
(``file://`` in tests); credentials are never put in them, and git never
prompts (``GIT_TERMINAL_PROMPT=0``).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import git

from skillforge.schema import repo_slug
from skillforge.mine.local import MineError

_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"}
_REC = "\x00\x01SFREC\x01"
_REC_FMT = "%x00%x01SFREC%x01"  # the same, as git format escapes (arguments cannot hold NUL)


def _safe_url(url: str) -> str:
    return re.sub(r"//[^/@]+@", "//***@", url)


@dataclass
class CommitInfo:
    sha: str
    parents: list[str]
    message: str
    author_date: str = ""


class GitCache:
    def __init__(self, repos_dir: str | Path):
        self.root = Path(repos_dir).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.fetches = 0  # git network operations, for the report

    def path(self, repo: str) -> Path:
        return self.root / repo_slug(repo)

    def _git(self, path: Path, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, **_ENV}
        proc = subprocess.run(["git", "-C", str(path), *args], input=input, capture_output=True, text=True,
                              env=env, errors="replace")
        if check and proc.returncode != 0:
            cmd = " ".join(_safe_url(a) for a in args[:4])
            raise MineError(f"git {cmd} failed in {path}: {_safe_url(proc.stderr.strip())[-500:]}")
        return proc

    def sync(self, repo: str, url: str, default_branch: str | None = None) -> git.Repo:
        """Clone (first time) or fetch (later) ``url`` into the cache; returns the bare repository."""
        path = self.path(repo)
        if not (path / "HEAD").exists():
            path.mkdir(parents=True, exist_ok=True)
            self._git(path, "init", "--bare", "--quiet")
            self._git(path, "remote", "add", "origin", url)
            self._git(path, "config", "remote.origin.fetch", "+refs/heads/*:refs/heads/*")
            self._git(path, "config", "--add", "remote.origin.fetch", "+refs/tags/*:refs/tags/*")
        else:
            current = self._git(path, "remote", "get-url", "origin").stdout.strip()
            if current != url:
                self._git(path, "remote", "set-url", "origin", url)
        self.fetches += 1
        self._git(path, "fetch", "--quiet", "--no-write-fetch-head", "origin")
        if default_branch:
            self._git(path, "symbolic-ref", "HEAD", f"refs/heads/{default_branch}")
        return git.Repo(path)

    def refresh(self, repo: str) -> None:
        self.fetches += 1
        self._git(self.path(repo), "fetch", "--quiet", "--no-write-fetch-head", "origin")

    def missing(self, repo: str, shas: list[str]) -> set[str]:
        """The commits among ``shas`` the clone does not have."""
        shas = [s for s in dict.fromkeys(shas) if s]
        if not shas:
            return set()
        out = self._git(self.path(repo), "cat-file", "--batch-check=%(objectname) %(objecttype)",
                        input="".join(f"{s}\n" for s in shas)).stdout
        present = {line.split()[0] for line in out.splitlines() if line.endswith(" commit")}
        return {s for s in shas if s not in present}

    def fetch_pull_heads(self, repo: str, numbers: list[int]) -> None:
        """``refs/pull/N/head`` for each PR, in one fetch; refs the remote lacks are skipped."""
        if not numbers:
            return
        self.fetches += 1
        specs = [f"+refs/pull/{n}/head:refs/pull/{n}/head" for n in sorted(set(numbers))]
        proc = self._git(self.path(repo), "fetch", "--quiet", "--no-write-fetch-head", "origin", *specs, check=False)
        if proc.returncode != 0:  # one missing ref fails the whole fetch: fall back to one by one
            for spec in specs:
                self._git(self.path(repo), "fetch", "--quiet", "--no-write-fetch-head", "origin", spec, check=False)

    def fetch_commits(self, repo: str, shas: list[str]) -> None:
        """Fetch commits by id (GitHub serves any reachable commit; other remotes may refuse)."""
        if shas:
            self.fetches += 1
            self._git(self.path(repo), "fetch", "--quiet", "--no-write-fetch-head", "origin", *shas, check=False)

    def commits(self, repo: str, shas: list[str]) -> dict[str, CommitInfo]:
        shas = [s for s in dict.fromkeys(shas) if s]
        if not shas:
            return {}
        out = self._git(self.path(repo), "log", "--no-walk=unsorted", f"--format={_REC_FMT}%H%x00%P%x00%aI%x00%B", *shas).stdout
        info: dict[str, CommitInfo] = {}
        for chunk in out.split(_REC):
            if not chunk.strip():
                continue
            sha, parents, adate, message = chunk.split("\x00", 3)
            info[sha] = CommitInfo(sha, parents.split(), message.strip(), adate)
        return info

    def messages(self, repo: str, base: str, head: str, max_count: int = 250) -> list[str]:
        """Messages of the commits in ``base..head`` (a PR's own commits)."""
        proc = self._git(self.path(repo), "log", f"--max-count={max_count}", f"--format={_REC_FMT}%B", f"{base}..{head}",
                         check=False)
        return [m.strip() for m in proc.stdout.split(_REC) if m.strip()]

    def first_parent_ancestor(self, repo: str, sha: str, depth: int) -> str | None:
        """``sha~depth`` along first parents, or None when history is shorter."""
        proc = self._git(self.path(repo), "rev-parse", "--verify", "--quiet", f"{sha}~{depth}^{{commit}}", check=False)
        return proc.stdout.strip() or None

    def diff(self, repo: str, base: str, head: str) -> str:
        """``base..head`` as the local miner's ``git show`` prints it (for rebase merges of several commits)."""
        return self._git(self.path(repo), "diff", "-M", "--no-color", "--no-ext-diff", base, head).stdout

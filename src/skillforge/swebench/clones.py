"""Clones of SWE-bench-format rows' repositories: ``repos_dir/owner__name``.

A missing clone is cloned from ``SKILLFORGE_CLONE_URL_TEMPLATE`` (``{repo}``,
``{owner}``, ``{name}``, ``{slug}``; default ``https://github.com/{repo}.git``);
commits a clone lacks are fetched once from its ``origin``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path

from skillforge.execution import InfraError
from skillforge.gitio import RepoError, RepoHandle
from skillforge.schema import repo_slug
from skillforge.settings import Settings

CLONE_URL_ENV = "SKILLFORGE_CLONE_URL_TEMPLATE"
DEFAULT_CLONE_URL = "https://github.com/{repo}.git"
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"}


class CloneHandle(RepoHandle):
    """A clone under ``--repos-dir``. Source trees for containers ignore
    ``.gitattributes`` (``export-ignore`` on tests would hide them)."""

    def archive(self, commit: str) -> bytes:
        from skillforge.execution.sandbox import git_tree_tar

        try:
            return git_tree_tar(self.path, commit)
        except InfraError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. an object the clone lacks
            raise InfraError(f"cannot read the tree of {self.name}@{commit} in {self.path} (is the clone "
                             f"complete? git fsck): {type(exc).__name__}: {exc}", triage="source") from exc


def _safe_url(text: str) -> str:
    return re.sub(r"//[^/@\s]+@", "//***@", text)


class Clones:
    """``repos_dir/owner__name`` clones: an existing one is used as it is (a
    bare or a working clone); a missing one is cloned (bare) from the URL
    template; commits a clone lacks are fetched once from its ``origin``."""

    def __init__(self, repos_dir: str | Path, url_template: str | None = None, settings: Settings | None = None):
        self.root = Path(repos_dir).resolve()
        self.url_template = url_template or os.environ.get(CLONE_URL_ENV) or DEFAULT_CLONE_URL
        self._secrets = (settings or Settings.from_env()).secret_values()
        self._handles: dict[str, CloneHandle] = {}
        self._failed: dict[str, str] = {}
        self._lock = threading.Lock()

    def path(self, repo: str) -> Path:
        return self.root / repo_slug(repo)

    def url(self, repo: str) -> str:
        owner, _, name = repo.partition("/")
        return self.url_template.format(repo=repo, owner=owner, name=name, slug=repo_slug(repo))

    def _redact(self, text: str) -> str:
        text = _safe_url(text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _git(self, cwd: Path | None, *args: str, input: str | None = None, timeout: float = 3600
             ) -> subprocess.CompletedProcess:
        cmd = ["git", *(["-C", str(cwd)] if cwd else []), *args]
        try:
            return subprocess.run(cmd, input=input, capture_output=True, text=True, errors="replace",
                                  env={**os.environ, **_GIT_ENV}, timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(cmd, 124, "", f"timed out after {timeout:.0f}s")

    def get(self, repo: str) -> CloneHandle:
        """The clone of ``repo``, cloned first when missing; raises ``RepoError``
        (naming the repository, the directory and the URL) when it cannot be had."""
        with self._lock:
            if repo in self._handles:
                return self._handles[repo]
            if repo in self._failed:
                raise RepoError(self._failed[repo])
            path = self.path(repo)
            try:
                if not path.exists():
                    self._clone(repo, path)
                handle = CloneHandle(repo, path)
            except RepoError as exc:
                self._failed[repo] = str(exc)
                raise
            self._handles[repo] = handle
            return handle

    __getitem__ = get

    def _clone(self, repo: str, path: Path) -> None:
        url = self.url(repo)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.cloning-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        proc = self._git(None, "clone", "--bare", "--quiet", url, str(tmp))
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RepoError(f"repository {repo}: no clone at {path}, and cloning {self._redact(url)} failed: "
                            f"{self._redact(proc.stderr.strip())[-500:] or f'git exit {proc.returncode}'}")
        os.replace(tmp, path)

    def missing(self, repo: str, commits: Iterable[str]) -> set[str]:
        """Commits among ``commits`` that the clone lacks, after one fetch from ``origin`` if some were."""
        handle = self.get(repo)
        wanted = [c for c in dict.fromkeys(commits) if c]

        def absent() -> set[str]:
            out = self._git(handle.path, "cat-file", "--batch-check=%(objectname) %(objecttype)",
                            input="".join(f"{c}^{{commit}}\n" for c in wanted)).stdout.splitlines()
            return {c for c, line in zip(wanted, out) if not line.endswith(" commit")}

        gone = absent() if wanted else set()
        if gone and self._git(handle.path, "remote", "get-url", "origin").returncode == 0:
            self._git(handle.path, "fetch", "--quiet", "--no-write-fetch-head", "origin",
                      "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
            gone = absent()
            if gone:
                self._git(handle.path, "fetch", "--quiet", "--no-write-fetch-head", "origin", *sorted(gone))
                gone = absent()
        return gone

    def newest(self, repo: str, commits: Iterable[str]) -> str:
        """The commit with the newest committer date."""
        commits = list(dict.fromkeys(commits))
        if len(commits) == 1:
            return commits[0]
        proc = self._git(self.get(repo).path, "show", "-s", "--format=%H %ct", *commits)
        dates = {}
        for line in proc.stdout.splitlines():
            sha, _, ct = line.partition(" ")
            if ct.strip().isdigit():
                dates[sha] = int(ct)
        full = {c: next((s for s in dates if s.startswith(c)), c) for c in commits}
        return max(commits, key=lambda c: (dates.get(full[c], 0), c))

"""Clones of SWE-bench-format rows' repositories: ``repos_dir/owner__name``.

An existing clone is used as it is (bare or with a work tree); a missing one is
cloned (bare) from ``SKILLFORGE_CLONE_URL_TEMPLATE`` (``{repo}``, ``{owner}``,
``{name}``, ``{slug}``; default ``https://github.com/{repo}.git``); commits a
clone lacks are fetched once from its ``origin``. All git work goes through
``gitio``; credentials in URLs never reach a message.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path

from skillforge.execution import InfraError
from skillforge.gitio import (
    GitError, RepoError, RepoHandle, missing_commits, newest_commit, redact, remote_url, run_git, tree_tar,
)
from skillforge.schema import repo_slug
from skillforge.settings import Settings

CLONE_URL_ENV = "SKILLFORGE_CLONE_URL_TEMPLATE"
DEFAULT_CLONE_URL = "https://github.com/{repo}.git"


class CloneHandle(RepoHandle):
    """A clone under ``--repos-dir``. Source trees for containers ignore
    ``.gitattributes`` (``export-ignore`` on tests would hide them)."""

    def archive(self, commit: str) -> bytes:
        try:
            return tree_tar(self.path, commit)
        except GitError as exc:  # e.g. an object the clone lacks
            raise InfraError(f"cannot read the tree of {self.name}@{commit} in {self.path} (is the clone "
                             f"complete? git fsck): {exc}", triage="source") from exc


class Clones:
    """``repos_dir/owner__name`` clones (see the module docstring)."""

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
        proc = run_git(None, "clone", "--bare", "--quiet", url, str(tmp), check=False, timeout=3600)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            why = redact(proc.stderr.strip(), self._secrets)[-500:] or f"git exit {proc.returncode}"
            raise RepoError(f"repository {repo}: no clone at {path}, and cloning {redact(url, self._secrets)} "
                            f"failed: {why}")
        os.replace(tmp, path)

    def missing(self, repo: str, commits: Iterable[str]) -> set[str]:
        """Commits among ``commits`` that the clone lacks, after one fetch from ``origin`` if some were."""
        handle = self.get(repo)
        wanted = [c for c in dict.fromkeys(commits) if c]
        gone = missing_commits(handle.path, wanted) if wanted else set()
        if gone and remote_url(handle.path) is not None:
            run_git(handle.path, "fetch", "--quiet", "--no-write-fetch-head", "origin",
                    "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*", check=False, timeout=3600)
            gone = missing_commits(handle.path, wanted)
            if gone:
                run_git(handle.path, "fetch", "--quiet", "--no-write-fetch-head", "origin", *sorted(gone),
                        check=False, timeout=3600)
                gone = missing_commits(handle.path, wanted)
        return gone

    def newest(self, repo: str, commits: Iterable[str]) -> str:
        """The commit with the newest committer date."""
        return newest_commit(self.get(repo).path, list(dict.fromkeys(commits)))

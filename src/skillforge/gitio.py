"""Access to the repositories a workspace mined: file reads at a commit, tree
listings and ``git archive`` tars, through one GitPython handle per repository
(GitPython keeps a persistent ``git cat-file --batch`` process per handle)."""

from __future__ import annotations

import io
import threading
from functools import lru_cache
from pathlib import Path

import git

from skillforge.workspace import Workspace


class RepoError(RuntimeError):
    pass


class RepoHandle:
    def __init__(self, name: str, path: str | Path):
        self.name = name
        self.path = Path(path)
        try:
            self.git = git.Repo(self.path)
        except (git.NoSuchPathError, git.InvalidGitRepositoryError) as e:
            raise RepoError(f"repository {name}: {self.path} is not a git repository") from e
        self._lock = threading.Lock()

    def read(self, commit: str, path: str) -> bytes | None:
        with self._lock:
            try:
                return (self.git.commit(commit).tree / path).data_stream.read()
            except KeyError:
                return None

    def reader(self, commit: str):
        return lambda path: self.read(commit, path)

    @lru_cache(maxsize=64)  # noqa: B019 - handles live as long as the process
    def files(self, commit: str) -> tuple[str, ...]:
        with self._lock:
            out = self.git.git.ls_tree("-r", "--name-only", "-z", commit)
        return tuple(p for p in out.split("\0") if p)

    def archive(self, commit: str) -> bytes:
        """The tree at ``commit`` as a tar (the sandbox keeps recent ones in memory)."""
        buf = io.BytesIO()
        with self._lock:
            self.git.archive(buf, commit, format="tar")
        return buf.getvalue()


class RepoSet:
    """Handles for every repository of a workspace, opened on first use."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self._handles: dict[str, RepoHandle] = {}
        self._lock = threading.Lock()

    def __getitem__(self, repo: str) -> RepoHandle:
        with self._lock:
            if repo not in self._handles:
                location = self.ws.repo_location(repo)
                if not location:
                    raise RepoError(f"repository {repo} has no local clone recorded in the workspace; mine it first")
                self._handles[repo] = RepoHandle(repo, location)
            return self._handles[repo]

"""Docker execution for instances, shared by validation, evaluation and training.

A ``Backend`` knows the environments (name -> repository, recipe, reference
commit), builds their images on first use, reads source trees from local
clones, and hands scorers a ``ScoreContext`` over one (cached) executor.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from skillforge.settings import Settings
from skillforge.execution import Executor, InfraError
from skillforge.gitio import RepoHandle
from skillforge.schema import repo_slug
from skillforge.skills import ScoreContext
from skillforge.workspace import Workspace
from skillforge.execution.cache import CachedExecutor

ENVIRONMENTS_FILE = "environments.json"


@dataclass
class Environment:
    name: str
    repo: str
    recipe: dict
    reference_commit: str


def environment_name(repo: str, recipe) -> str:
    return f"{repo_slug(repo)}-{recipe.key()}"


class Backend:
    def __init__(self, settings: Settings, repos: Callable[[str], RepoHandle], *, logs_dir: Path,
                 ws: Workspace | None = None, client=None, executor_factory: Callable[..., Executor] | None = None):
        self.settings = settings
        self.repos = repos
        self.logs_dir = Path(logs_dir)
        self.ws = ws
        self._client = client
        self._factory = executor_factory
        self.environments: dict[str, Environment] = {}
        self._infos: dict = {}  # name -> sandbox.EnvInfo, once the image exists
        self._lock = threading.Lock()
        self._executor: CachedExecutor | None = None

    @property
    def client(self):
        if self._client is None:
            from skillforge.execution.client import docker_client

            self._client = docker_client()
        return self._client

    def add(self, env: Environment) -> None:
        self.environments[env.name] = env

    def define(self, repo: str, recipe, reference_commit: str) -> str:
        name = environment_name(repo, recipe)
        self.add(Environment(name, repo, recipe.model_dump(), reference_commit))
        return name

    def ensure(self, name: str, progress: Callable[[str], None] | None = None):
        """The environment's image, built on first use (base image included)."""
        from skillforge.execution.images import ensure_env_image
        from skillforge.environments.recipes import EnvRecipe
        from skillforge.execution.sandbox import EnvInfo

        with self._lock:
            if name in self._infos:
                return self._infos[name]
        env = self.environments.get(name)
        if env is None:
            raise InfraError(f"unknown environment {name!r}: not in this workspace or dataset", triage="environment")
        recipe = EnvRecipe.model_validate(env.recipe)
        log_path = self.logs_dir / "environments" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        image = ensure_env_image(self.client, self.settings, env.repo, recipe,
                                 lambda: self.repos(env.repo).archive(env.reference_commit),
                                 log_path=log_path, progress=progress)
        info = EnvInfo(image=image, repo=env.repo, recipe=recipe)
        with self._lock:
            self._infos[name] = info
        if self.ws is not None:
            self.ws.set_environment(name, env.repo, env.recipe, image, "ready", reference_commit=env.reference_commit)
        return info

    @property
    def executor(self) -> CachedExecutor:
        with self._lock:
            if self._executor is None:
                if self._factory is not None:
                    inner = self._factory(self)
                else:
                    from skillforge.execution.sandbox import DockerExecutor

                    inner = DockerExecutor(self.client, self.settings, self.ensure,
                                           lambda repo, commit: self.repos(repo).archive(commit), log_dir=self.logs_dir)
                self._executor = CachedExecutor(inner, self.ws)
            return self._executor

    def context(self, environment: str, log_prefix: str, attempt: int = 0) -> ScoreContext:
        ex = self.executor if attempt == 0 else self.executor.attempt(attempt)
        return ScoreContext(ex, environment, log_prefix=log_prefix)

    def load(self, path: Path) -> None:
        """Environments listed beside an exported dataset (``environments.json``)."""
        for name, e in json.loads(path.read_text()).items():
            self.add(Environment(name, e["repo"], e["recipe"], e["reference_commit"]))


def workspace_environments(ws: Workspace) -> list[Environment]:
    return [Environment(r["name"], r["repo"], json.loads(r["recipe"]), r["reference_commit"])
            for r in ws.query("SELECT * FROM environments")]

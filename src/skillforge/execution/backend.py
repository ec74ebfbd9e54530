"""Docker execution for instances, shared by validation, evaluation and training.

A ``Backend`` knows the environments (name -> repository, recipe, reference
commit), builds their images on first use, reads source trees through a
repository lookup, and runs everything through one (cached) executor: the
ephemeral sealed sandbox, or a warm container pool (``use_pool``).

It knows nothing of workspaces or skills: a run store (``RunStore``, e.g. the
workspace) remembers finished runs, and ``on_ready`` hears of every image built.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from typing import TYPE_CHECKING

from skillforge.execution.cache import CachedExecutor, RunStore
from skillforge.execution.spec import Executor, InfraError
from skillforge.schema import EnvRecipe, repo_slug
from skillforge.settings import Settings

if TYPE_CHECKING:
    from skillforge.execution.session import Session

ENVIRONMENTS_FILE = "environments.json"


class SourceTrees(Protocol):
    def archive(self, commit: str) -> bytes: ...


@dataclass
class Environment:
    """What an environment name stands for: a repository, a recipe and the commit its image is built at."""

    name: str
    repo: str
    recipe: EnvRecipe
    reference_commit: str
    url: str | None = None  # where the repository can be cloned from (recorded in an export's environments.json)

    def to_json(self) -> dict[str, Any]:
        data = {"repo": self.repo, "recipe": self.recipe.model_dump(), "reference_commit": self.reference_commit}
        return {**data, "url": self.url} if self.url else data

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> "Environment":
        return cls(name, data["repo"], EnvRecipe.model_validate(data["recipe"]), data["reference_commit"],
                   data.get("url") or None)


def environment_name(repo: str, recipe: EnvRecipe) -> str:
    return f"{repo_slug(repo)}-{recipe.key()}"


def write_environments(environments: list[Environment], path: Path) -> None:
    """``environments.json`` beside an export: what each ``environment`` of its rows stands for."""
    data = {e.name: e.to_json() for e in sorted(environments, key=lambda e: e.name)}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_environments(path: Path) -> list[Environment]:
    return [Environment.from_json(name, e) for name, e in json.loads(Path(path).read_text()).items()]


class Backend:
    def __init__(self, settings: Settings, repos: Callable[[str], SourceTrees], *, logs_dir: Path,
                 run_store: RunStore | None = None, on_ready: Callable[[Environment, str], None] | None = None,
                 client=None, executor_factory: Callable[["Backend"], Executor] | None = None):
        self.settings = settings
        self.repos = repos
        self.logs_dir = Path(logs_dir)
        self.run_store = run_store
        self.on_ready = on_ready
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

    def define(self, repo: str, recipe: EnvRecipe, reference_commit: str) -> str:
        name = environment_name(repo, recipe)
        self.add(Environment(name, repo, recipe, reference_commit))
        return name

    def load(self, path: Path) -> None:
        """Environments listed beside an exported dataset (``environments.json``); the ones known already stay."""
        for env in read_environments(path):
            self.environments.setdefault(env.name, env)

    def ensure(self, name: str, progress: Callable[[str], None] | None = None):
        """The environment's image, built on first use (base image included)."""
        from skillforge.execution.images import ensure_env_image
        from skillforge.execution.sandbox import EnvInfo

        with self._lock:
            if name in self._infos:
                return self._infos[name]
        env = self.environments.get(name)
        if env is None:
            raise InfraError(f"unknown environment {name!r}: not in this workspace or dataset", triage="image_build")
        log_path = self.logs_dir / "environments" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        image = ensure_env_image(self.client, self.settings, env.repo, env.recipe,
                                 lambda: self.repos(env.repo).archive(env.reference_commit),
                                 log_path=log_path, progress=progress)
        info = EnvInfo(image=image, repo=env.repo, recipe=env.recipe)
        with self._lock:
            self._infos[name] = info
        if self.on_ready is not None:
            self.on_ready(env, image)
        return info

    # -- the executor -----------------------------------------------------
    def use_pool(self, size: int, **options: Any) -> None:
        """Run everything through a warm container pool of ``size`` containers per
        environment (``execution.pool.WarmPool``); call before the first run."""
        from skillforge.execution.pool import pool_factory

        with self._lock:
            if self._executor is not None:
                raise RuntimeError("use_pool must be called before the backend runs anything")
            self._factory = pool_factory(size, **options)

    @property
    def started(self) -> bool:
        """Whether the executor exists (something ran, or was asked to)."""
        return self._executor is not None

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
                self._executor = CachedExecutor(inner, self.run_store)
            return self._executor

    def executor_for(self, attempt: int = 0) -> CachedExecutor:
        """The executor as seen by rerun ``attempt`` (each attempt really executes; see ``CachedExecutor``)."""
        return self.executor if attempt == 0 else self.executor.attempt(attempt)

    def metrics(self) -> dict[str, float]:
        """What the executor reports about itself: cache hit rate, and a warm pool's utilisation and timings."""
        if self._executor is None:
            return {}
        ex = self._executor
        total = ex.hits + ex.misses
        out = {"pool/cache_hit_rate": ex.hits / total if total else 0.0}
        inner = ex.inner
        for name in ("utilization", "stats"):
            fn = getattr(inner, name, None)
            if not callable(fn):
                continue
            try:
                value = fn()
            except Exception:  # noqa: BLE001 - a metric must never break a caller
                continue
            if isinstance(value, (int, float)):
                out["pool/container_utilization"] = float(value)
            elif isinstance(value, dict):
                out.update({f"pool/{k}": float(v) for k, v in value.items() if isinstance(v, (int, float))})
        return out

    def close(self) -> None:
        """Release what the executor holds (a warm pool's containers) now rather than at exit."""
        with self._lock:
            ex = self._executor
        close = getattr(getattr(ex, "inner", None), "close", None)
        if callable(close):
            close()

    # -- interactive sessions ---------------------------------------------
    def open_session(self, environment: str, commit: str, *, label: str = "") -> "Session":
        """A checkout of ``environment``'s repository at ``commit`` to act in
        (``execution.session.Session``: run a command, read and write files, diff,
        close), in a sealed container of its own: network off, unprivileged, limited,
        labelled ``skillforge.kind=session`` with ``label``. The executor's own
        ``open_session(environment, commit)`` when it offers one (a warm pool).
        The caller closes it; an unknown environment or an unreadable commit is an
        ``InfraError``."""
        from skillforge.execution.sandbox import DockerExecutor
        from skillforge.execution.session import DockerSession

        inner = self.executor.inner
        opener = getattr(inner, "open_session", None)
        if callable(opener):
            return opener(environment, commit)
        info = self.ensure(environment)
        if isinstance(inner, DockerExecutor):
            source = inner.source(info.repo, commit)  # the executor's cache of source trees
        else:
            try:
                source = self.repos(info.repo).archive(commit)
            except InfraError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the repository lookup
                raise InfraError(f"no source tree for {info.repo}@{commit}: {exc}", triage="source") from exc
        return DockerSession(self.client, self.settings, info.image, source, environment=environment, label=label)
